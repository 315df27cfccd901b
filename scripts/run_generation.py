"""Train or evaluate a sound generation model (SpecVQGAN's codebook and sampler, the MelGAN vocoder): see
videozoo/recipes.py. Sampling from a trained sampler is scripts/generate_specvqgan.py."""

from videozoo.recipes import run_family

if __name__ == "__main__":
    run_family("generation")
