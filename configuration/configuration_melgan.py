"""Configuration of the MelGAN vocoder of SpecVQGAN (Iashin and Rahtu, BMVC 2021; MelGAN: Kumar et al., 2019)."""

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors


@config_value_errors
@strict
class MelGANConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`MelGANVocoder`] (the generator) and of [`MelGANDiscriminator`] (its multi-scale
    discriminator, used only to train it). Defaults are the VGGSound vocoder released with SpecVQGAN (the
    reference's `vocoder/logs/vggsound/args.yml`): 80 mel bands in, 22 050 Hz audio out, 256 samples per frame.

    Args:
        num_mel_bins (`int`, defaults to 80): mel bands of the input spectrogram (the reference's `n_mel_channels`).
        generator_width (`int`, defaults to 32): the reference's `ngf`. The first convolution has
            `2 ** len(upsample_ratios) * generator_width` channels and every upsampling stage halves them, so the
            last stage has `generator_width`.
        num_residual_layers (`int`, defaults to 3): dilated residual units after each upsampling (dilations
            1, 3, 9, ...).
        upsample_ratios (`list[int]`, defaults to `[8, 8, 2, 2]`): stride of each transposed convolution; their
            product is the hop length (256 samples per spectrogram frame). A constant in the reference.
        leaky_relu_slope (`float`, defaults to 0.2): negative slope of every LeakyReLU (generator and
            discriminator).
        sampling_rate (`int`, defaults to 22050): sampling rate of the produced waveform (metadata).
        num_discriminators (`int`, defaults to 3): scales of the discriminator (`num_D`); each next scale sees the
            waveform average-pooled by 2.
        discriminator_width (`int`, defaults to 16): channels of each scale's first convolution (`ndf`).
        discriminator_layers (`int`, defaults to 4): strided grouped convolutions per scale (`n_layers_D`).
        discriminator_downsampling (`int`, defaults to 4): their stride and channel growth (`downsamp_factor`).
        discriminator_max_channels (`int`, defaults to 1024): cap on the discriminator's channels.
        feature_matching_weight (`float`, defaults to 10.0): weight of the feature-matching term in the generator
            loss (`lambda_feat`).

    Example:

    ```python
    >>> from videozoo import MelGANConfig, MelGANVocoder
    >>> vocoder = MelGANVocoder(MelGANConfig())
    ```
    """

    model_type = "melgan"

    num_mel_bins: int = 80
    generator_width: int = 32
    num_residual_layers: int = 3
    upsample_ratios: list[int] | tuple[int, ...] = (8, 8, 2, 2)
    leaky_relu_slope: float = 0.2
    sampling_rate: int = 22050
    num_discriminators: int = 3
    discriminator_width: int = 16
    discriminator_layers: int = 4
    discriminator_downsampling: int = 4
    discriminator_max_channels: int = 1024
    feature_matching_weight: float = 10.0

    def validate_sizes(self):
        if self.num_mel_bins < 1 or self.generator_width < 1 or self.num_residual_layers < 0:
            raise ValueError("num_mel_bins and generator_width must be positive, num_residual_layers >= 0")
        if not self.upsample_ratios or min(self.upsample_ratios) < 1:
            raise ValueError(f"upsample_ratios must be positive integers, got {list(self.upsample_ratios)}")
        if min(self.num_discriminators, self.discriminator_layers, self.discriminator_downsampling) < 1:
            raise ValueError("num_discriminators, discriminator_layers and discriminator_downsampling must be >= 1")
        if self.discriminator_width % 4 or self.discriminator_width < 4:
            raise ValueError(
                f"discriminator_width ({self.discriminator_width}) must be a multiple of 4: the strided "
                "discriminator convolutions have in_channels / 4 groups"
            )

    @property
    def hop_length(self) -> int:
        """Waveform samples per spectrogram frame (the product of `upsample_ratios`)."""
        return math.prod(self.upsample_ratios)


__all__ = ["MelGANConfig"]
