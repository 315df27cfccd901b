"""Train or evaluate a dense video captioning model (BMT, its proposal generator, MDVC): see videozoo/recipes.py."""

from videozoo.recipes import run_family

if __name__ == "__main__":
    run_family("dense_captioning")
