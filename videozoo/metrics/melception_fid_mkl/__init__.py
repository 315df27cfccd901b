"""FID and MKL of SpecVQGAN on Melception outputs (evaluate module)."""
