"""MelGAN vocoder of SpecVQGAN: log-mel spectrogram -> waveform, with its multi-scale discriminator.

Papers: V. Iashin, E. Rahtu, "Taming Visually Guided Sound Generation", BMVC 2021 (arXiv 2110.08791), which trains
MelGAN (K. Kumar et al., "MelGAN: Generative Adversarial Networks for Conditional Waveform Synthesis", NeurIPS 2019)
on VGGSound to turn its generated spectrograms into sound. Reference code: https://github.com/v-iashin/SpecVQGAN
(`vocoder/modules.py` `Generator`, `ResnetBlock`, `Discriminator`, `NLayerDiscriminator`;
`vocoder/scripts/train.py` for the losses; `vocoder/logs/vggsound/args.yml` for the released sizes).

Decisions (the reference's `vocoder/modules.py` and the parity fixture's notes), kept from the reference so that
converted checkpoints give the authors' waveforms:
- Input `input_features` (batch, 80, frames): the SpecVQGAN log-mel scaled to [0, 1] ((dB + 80) / 100, row 0 the
  lowest band). A Stage-I output in [-1, 1] must be mapped with (x + 1) / 2 first
  (`SpecVQGAN`'s spectrogram front end does both). Values are not clipped (a slightly out-of-range Stage-I output
  is vocoded as it is, as in the reference). Output `waveform` (batch, frames * 256) in [-1, 1] at 22 050 Hz
  (the reference's (batch, 1, samples) without the channel axis).
- Every convolution is weight-normalised as in the reference, with
  `torch.nn.utils.parametrizations.weight_norm` (dim 0 of the stored weight: per output channel for `Conv1d`,
  per *input* channel for `ConvTranspose1d`). `remove_weight_norm()` folds the weights for faster inference.
  Conversion maps the reference's `weight_g` / `weight_v` to `parametrizations.weight.original0` / `original1`.
- Readable module names instead of the reference's `nn.Sequential` indices (`model.{i}`); the conversion script
  maps one onto the other.
- Initialisation: the reference's `weights_init` writes N(0, 0.02) into each convolution's *computed* weight,
  which weight norm recomputes at the next forward, so it has no effect. What a fresh reference model really starts
  from is PyTorch's default convolution init for the direction `v` and the bias, with `g = |v|` (the weight equals
  `v` at first). `_init_weights` reproduces that, for the generator and the discriminator alike.
- Discriminator: the reference feeds its last stage a convolution with `nf_prev` input channels, which only runs
  when the channels have saturated at 1024 (as in every released setting); here that convolution takes the
  channels the previous layer really produces (the same shapes where the reference runs).
- Losses as `vocoder/scripts/train.py`: hinge loss for the discriminator; for the generator, minus the mean score
  of every scale plus `feature_matching_weight` x the L1 feature matching over every intermediate map (not the
  final scores), each term weighted (4 / (discriminator_layers + 1)) / num_discriminators. Real feature maps are
  detached. The training recipe (Adam 1e-4, betas (0.5, 0.9), 8192-sample segments) is documented in
  docs/specvqgan_vocoder_and_metrics.md; no training script ships with the vocoder.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrizations, parametrize
from transformers import PreTrainedModel
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_melgan import MelGANConfig
from ..processors.validation import check_finite, check_float_features
from .loading import CheckedLoadingMixin


@dataclass
class MelGANOutput(ModelOutput):
    """
    Args:
        waveform (`torch.FloatTensor` of shape `(batch, frames * hop_length)`): audio in [-1, 1] at
            `config.sampling_rate`.
    """

    waveform: torch.FloatTensor | None = None


def _weight_normed(module: nn.Module) -> nn.Module:
    return parametrizations.weight_norm(module, name="weight", dim=0)


class MelGANResidualUnit(nn.Module):
    """`shortcut(x) + conv_pointwise(lrelu(conv_dilated(pad(lrelu(x)))))` (the reference's `ResnetBlock`): a 3-tap
    convolution of dilation d after reflection padding d, a 1x1 convolution, and a weight-normed 1x1 shortcut."""

    def __init__(self, channels: int, dilation: int, slope: float):
        super().__init__()
        self.dilation, self.slope = dilation, slope
        self.conv_dilated = _weight_normed(nn.Conv1d(channels, channels, kernel_size=3, dilation=dilation))
        self.conv_pointwise = _weight_normed(nn.Conv1d(channels, channels, kernel_size=1))
        self.shortcut = _weight_normed(nn.Conv1d(channels, channels, kernel_size=1))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        residual = F.pad(F.leaky_relu(hidden, self.slope), (self.dilation, self.dilation), mode="reflect")
        residual = self.conv_pointwise(F.leaky_relu(self.conv_dilated(residual), self.slope))
        return self.shortcut(hidden) + residual


class MelGANUpsampleStage(nn.Module):
    """LeakyReLU, a transposed convolution that multiplies the length by `ratio` exactly and halves the channels
    (kernel 2r, padding r // 2 + r % 2, output padding r % 2), then the residual units."""

    def __init__(self, channels: int, ratio: int, num_residual_layers: int, slope: float):
        super().__init__()
        self.slope = slope
        self.upsample = _weight_normed(
            nn.ConvTranspose1d(
                channels,
                channels // 2,
                kernel_size=2 * ratio,
                stride=ratio,
                padding=ratio // 2 + ratio % 2,
                output_padding=ratio % 2,
            )
        )
        self.residual_units = nn.ModuleList(
            MelGANResidualUnit(channels // 2, 3**j, slope) for j in range(num_residual_layers)
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.upsample(F.leaky_relu(hidden, self.slope))
        for unit in self.residual_units:
            hidden = unit(hidden)
        return hidden


class MelGANScaleDiscriminator(nn.Module):
    """One scale of the discriminator (the reference's `NLayerDiscriminator`): reflection pad 7 + 15-tap conv to
    `width`, `num_layers` grouped strided convs (kernel 10s + 1, stride s, groups in / 4), a 5-tap conv, a 3-tap conv
    to one score channel; LeakyReLU after all but the last. Returns every layer's output (features, then scores)."""

    def __init__(self, config: MelGANConfig):
        super().__init__()
        self.slope = config.leaky_relu_slope
        stride, width, cap = (
            config.discriminator_downsampling,
            config.discriminator_width,
            config.discriminator_max_channels,
        )
        layers = [_weight_normed(nn.Conv1d(1, width, kernel_size=15))]
        channels = width
        for _ in range(config.discriminator_layers):
            out = min(channels * stride, cap)
            layers.append(
                _weight_normed(
                    nn.Conv1d(
                        channels,
                        out,
                        kernel_size=10 * stride + 1,
                        stride=stride,
                        padding=5 * stride,
                        groups=channels // 4,
                    )
                )
            )
            channels = out
        out = min(channels * 2, cap)
        layers.append(_weight_normed(nn.Conv1d(channels, out, kernel_size=5, padding=2)))
        layers.append(_weight_normed(nn.Conv1d(out, 1, kernel_size=3, padding=1)))
        self.layers = nn.ModuleList(layers)

    def forward(self, waveform: torch.Tensor) -> list[torch.Tensor]:
        hidden = F.pad(waveform, (7, 7), mode="reflect")
        outputs = []
        for index, layer in enumerate(self.layers):
            hidden = layer(hidden)
            if index < len(self.layers) - 1:
                hidden = F.leaky_relu(hidden, self.slope)
            outputs.append(hidden)
        return outputs


class MelGANPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config: MelGANConfig
    base_model_prefix = "melgan"
    main_input_name = "input_features"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        """PyTorch's default convolution init for the direction and the bias, magnitude = |direction| (what a fresh
        reference model computes; see the module docstring)."""
        from transformers import initialization as init

        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)) and parametrize.is_parametrized(module, "weight"):
            weight = module.parametrizations.weight
            direction, magnitude = weight.original1, weight.original0
            init.kaiming_uniform_(direction, a=5**0.5)  # nn.Conv1d.reset_parameters
            # fan-in as torch computes it for the stored layout: dim 1 x kernel ((in / groups) for Conv1d, out for
            # ConvTranspose1d)
            fan_in = direction.shape[1] * direction.shape[2]
            if module.bias is not None:
                bound = 1 / fan_in**0.5
                init.uniform_(module.bias, -bound, bound)
            init.copy_(magnitude, torch.linalg.vector_norm(direction, dim=(1, 2), keepdim=True))
        else:
            super()._init_weights(module)


class MelGANVocoder(MelGANPreTrainedModel):
    """The MelGAN generator: `input_features` (batch, num_mel_bins, frames) -> `waveform` (batch, frames * hop).

    Reflection pad 3 + 7-tap conv to `2 ** stages * generator_width` channels, one `MelGANUpsampleStage` per
    upsampling ratio, then LeakyReLU, reflection pad 3, 7-tap conv to one channel and tanh.
    """

    def __init__(self, config: MelGANConfig):
        super().__init__(config)
        channels = 2 ** len(config.upsample_ratios) * config.generator_width
        slope = config.leaky_relu_slope
        self.conv_in = _weight_normed(nn.Conv1d(config.num_mel_bins, channels, kernel_size=7))
        stages = []
        for ratio in config.upsample_ratios:
            stages.append(MelGANUpsampleStage(channels, ratio, config.num_residual_layers, slope))
            channels //= 2
        self.stages = nn.ModuleList(stages)
        self.conv_out = _weight_normed(nn.Conv1d(channels, 1, kernel_size=7))
        self.post_init()

    def _check_input(self, input_features: torch.Tensor) -> None:
        check_float_features("input_features", input_features, check_values=False, model_dtype=self.dtype)
        if input_features.dim() != 3 or input_features.shape[1] != self.config.num_mel_bins:
            raise ValueError(
                f"input_features must be (batch, {self.config.num_mel_bins} mel bins, frames), "
                f"got shape {tuple(input_features.shape)}"
            )
        if input_features.shape[2] < 4:
            raise ValueError(
                f"input_features has {input_features.shape[2]} frames; the vocoder needs at least 4 (reflection "
                "padding of 3 at the first convolution)"
            )
        check_finite("input_features", input_features)

    @can_return_tuple
    def forward(self, input_features: torch.Tensor, return_dict: bool | None = None, **kwargs) -> MelGANOutput:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, num_mel_bins, frames)`):
            log-mel spectrogram scaled to [0, 1] (the SpecVQGAN layout; map a Stage-I output x with (x + 1) / 2).
        """
        self._check_input(input_features)
        hidden = self.conv_in(F.pad(input_features, (3, 3), mode="reflect"))
        for stage in self.stages:
            hidden = stage(hidden)
        hidden = F.pad(F.leaky_relu(hidden, self.config.leaky_relu_slope), (3, 3), mode="reflect")
        waveform = torch.tanh(self.conv_out(hidden)).squeeze(1)
        return MelGANOutput(waveform=waveform)

    def remove_weight_norm(self) -> "MelGANVocoder":
        """Fold every weight-norm parametrisation into a plain weight (the same function, faster inference; the
        model then saves plain `weight` tensors). Returns the model."""
        for module in self.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self


class MelGANDiscriminator(nn.Module):
    """The multi-scale discriminator (training only): `num_discriminators` copies of `MelGANScaleDiscriminator`,
    the waveform average-pooled (kernel 4, stride 2, padding 1, padding left out of the mean) between scales.
    `forward(waveform (batch, samples) or (batch, 1, samples))` -> one list of layer outputs per scale."""

    def __init__(self, config: MelGANConfig):
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList(MelGANScaleDiscriminator(config) for _ in range(config.num_discriminators))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                weight = module.parametrizations.weight
                nn.init.kaiming_uniform_(weight.original1, a=5**0.5)
                bound = 1 / (weight.original1.shape[1] * weight.original1.shape[2]) ** 0.5
                nn.init.uniform_(module.bias, -bound, bound)
                weight.original0.copy_(torch.linalg.vector_norm(weight.original1, dim=(1, 2), keepdim=True))

    def forward(self, waveform: torch.Tensor) -> list[list[torch.Tensor]]:
        if waveform.dim() == 2:
            waveform = waveform.unsqueeze(1)
        if waveform.dim() != 3 or waveform.shape[1] != 1:
            raise ValueError(f"waveform must be (batch, samples) or (batch, 1, samples), got {tuple(waveform.shape)}")
        outputs = []
        for index, scale in enumerate(self.scales):
            if index:
                waveform = F.avg_pool1d(waveform, kernel_size=4, stride=2, padding=1, count_include_pad=False)
            outputs.append(scale(waveform))
        return outputs


def melgan_discriminator_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Hinge loss summed over the scales: mean(relu(1 - D(real))) + mean(relu(1 + D(fake))) on the final scores
    (pass the discriminator's outputs on a *detached* generated waveform)."""
    loss = sum(F.relu(1 - scale[-1]).mean() for scale in real)
    return loss + sum(F.relu(1 + scale[-1]).mean() for scale in fake)


def melgan_generator_loss(
    fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]], config: MelGANConfig
) -> dict[str, torch.Tensor]:
    """`{"loss", "adversarial", "feature_matching"}`: adversarial = -sum over scales of mean D(fake);
    feature matching = sum over scales and intermediate maps of w * L1(fake map, detached real map), with
    w = (4 / (discriminator_layers + 1)) / num_discriminators; loss = adversarial + feature_matching_weight * fm."""
    adversarial = sum(-scale[-1].mean() for scale in fake)
    weight = (4.0 / (config.discriminator_layers + 1)) / config.num_discriminators
    matching = sum(
        weight * F.l1_loss(fake_map, real_map.detach())
        for fake_scale, real_scale in zip(fake, real)
        for fake_map, real_map in zip(fake_scale[:-1], real_scale[:-1])
    )
    return {
        "loss": adversarial + config.feature_matching_weight * matching,
        "adversarial": adversarial,
        "feature_matching": matching,
    }


__all__ = [
    "MelGANDiscriminator",
    "MelGANOutput",
    "MelGANPreTrainedModel",
    "MelGANVocoder",
    "melgan_discriminator_loss",
    "melgan_generator_loss",
]
