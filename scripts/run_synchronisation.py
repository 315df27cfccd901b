"""Train or evaluate an audio-visual synchronisation model (SparseSync): see videozoo/recipes.py."""

from videozoo.recipes import run_family

if __name__ == "__main__":
    run_family("synchronisation")
