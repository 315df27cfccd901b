"""Train or evaluate an audio-visual speech recognition model (AVATAR): see videozoo/recipes.py."""

from videozoo.recipes import run_family

if __name__ == "__main__":
    run_family("speech_recognition")
