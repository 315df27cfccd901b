"""Melception: the Inception-v3 spectrogram classifier that SpecVQGAN's FID and MKL are computed with.

Paper: V. Iashin, E. Rahtu, "Taming Visually Guided Sound Generation", BMVC 2021 (arXiv 2110.08791), section on
evaluation metrics. Reference code: https://github.com/v-iashin/SpecVQGAN
(`evaluation/feature_extractors/melception.py` `Melception`, a subclass of torchvision's `Inception3`;
`evaluation/configs/eval_melception_vggsound.yaml`; the standardisation in
`specvqgan/modules/losses/vggishish/transforms.py` `StandardNormalizeAudio`).

Decisions (the reference's `evaluation/feature_extractors/melception.py` and the parity fixture's notes), kept from the
reference so that a converted Melception gives the authors' features:
- The network is built from torchvision's own Inception-v3 blocks (`BasicConv2d`, `InceptionA` ... `InceptionE`,
  `InceptionAux`, BatchNorm eps 1e-3) under torchvision's module names, so a reference checkpoint loads with its
  own keys. The changes are the reference's: a one-channel 3x3 stride-2 stem (`Conv2d_1a_3x3`) and no max-pools
  (the input is only 80 bands tall). No `transform_input`.
- Input `input_features` (batch, 80, frames): the SpecVQGAN log-mel scaled to [0, 1] (generated samples as saved;
  a real item in [-1, 1] must be mapped with (x + 1) / 2 first, as the reference's evaluation does). The model
  standardises it per band with `config.spectrogram_mean` / `spectrogram_std` (VGGSound train statistics by
  default) in float64 and rounds to the input dtype, as the reference's numpy statistics broadcast against the
  float32 tensor do. With both set to `None`, the input is taken as standardised.
- Outputs: `pooler_output` (batch, 2048), the global average pool of Mixed_7c (the reference's '2048', the FID
  features; taken before the training-only dropout, which the reference applies first); `logits_unbiased` =
  pooler_output @ fc.weight^T (its IS input); `logits` = logits_unbiased + fc.bias (the MKL input), computed in
  this order so that the values match the reference's; `loss` = cross-entropy when `labels` are given (the
  reference trains only this head: its auxiliary-logits term is overwritten in its training code, so `AuxLogits`
  is kept for weight loading but never run).
- Initialisation as torchvision's `Inception3(init_weights=True)`: truncated normal (std 0.1, or the block's
  `stddev`) for convolutions and linear weights, BatchNorm 1 / 0; the replaced stem keeps PyTorch's default
  convolution init, as in the reference (it is created after torchvision's init).
- `width_divisor` (tests only) divides every width through the blocks' `conv_block` argument.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.inception import (
    BasicConv2d,
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
)
from transformers import PreTrainedModel
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_melception import MelceptionConfig
from ..processors.validation import check_finite, check_float_features, check_ids
from .loading import CheckedLoadingMixin

# the smallest number of frames (and bands) that survives the stride-2 stem, two valid 3x3 convs and the two
# stride-2 reductions (Mixed_6a, Mixed_7a) without max-pools
MIN_INPUT_SIZE = 23


@dataclass
class MelceptionOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): cross-entropy of `logits` against `labels`.
        logits (`torch.FloatTensor` of shape `(batch, num_classes)`): class scores (the MKL input).
        logits_unbiased (`torch.FloatTensor` of shape `(batch, num_classes)`): the scores without the classifier bias
            (the reference's Inception-score input).
        pooler_output (`torch.FloatTensor` of shape `(batch, 2048 // width_divisor)`): global average pool of the
            last block (the FID features).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    logits_unbiased: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None


def _conv_block(divisor: int):
    """torchvision's `BasicConv2d` with every width divided by `divisor` (the blocks pass full widths)."""
    if divisor == 1:
        return BasicConv2d

    def conv_block(in_channels: int, out_channels: int, **kwargs) -> BasicConv2d:
        return BasicConv2d(in_channels // divisor, out_channels // divisor, **kwargs)

    return conv_block


class MelceptionPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config: MelceptionConfig
    base_model_prefix = "melception"
    main_input_name = "input_features"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = False
    _no_split_modules = ["InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE"]

    @torch.no_grad()
    def _init_weights(self, module):
        from transformers import initialization as init

        stem = getattr(getattr(self, "Conv2d_1a_3x3", None), "conv", None)
        if module is stem:  # created after torchvision's init in the reference: PyTorch's default
            init.kaiming_uniform_(module.weight, a=5**0.5)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            init.trunc_normal_(module.weight, mean=0.0, std=float(getattr(module, "stddev", 0.1)), a=-2, b=2)
            if isinstance(module, nn.Linear) and module.bias is not None:  # torchvision leaves PyTorch's default
                bound = 1 / module.in_features**0.5
                init.uniform_(module.bias, -bound, bound)
        else:
            super()._init_weights(module)  # BatchNorm: 1, 0 and fresh running statistics


class MelceptionModel(MelceptionPreTrainedModel):
    """Melception: `input_features` (batch, num_mel_bins, frames) in [0, 1] -> logits, unbiased logits and the
    2048-d pool features. Shapes for 80 x 848: stem (32, 39, 423) -> (64, 37, 421) -> (192, 35, 419) -> Mixed_5*
    (288, 35, 419) -> Mixed_6* (768, 17, 209) -> Mixed_7* (2048, 8, 104) -> pool (2048)."""

    def __init__(self, config: MelceptionConfig):
        super().__init__(config)
        conv = _conv_block(config.width_divisor)
        width = 2048 // config.width_divisor
        self.Conv2d_1a_3x3 = BasicConv2d(1, 32 // config.width_divisor, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = conv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32, conv_block=conv)
        self.Mixed_5c = InceptionA(256, pool_features=64, conv_block=conv)
        self.Mixed_5d = InceptionA(288, pool_features=64, conv_block=conv)
        self.Mixed_6a = InceptionB(288, conv_block=conv)
        self.Mixed_6b = InceptionC(768, channels_7x7=128, conv_block=conv)
        self.Mixed_6c = InceptionC(768, channels_7x7=160, conv_block=conv)
        self.Mixed_6d = InceptionC(768, channels_7x7=160, conv_block=conv)
        self.Mixed_6e = InceptionC(768, channels_7x7=192, conv_block=conv)
        self.AuxLogits = InceptionAux(768, config.num_classes, conv_block=conv) if config.aux_logits else None
        self.Mixed_7a = InceptionD(768, conv_block=conv)
        self.Mixed_7b = InceptionE(1280, conv_block=conv)
        self.Mixed_7c = InceptionE(2048, conv_block=conv)
        self.dropout = nn.Dropout(config.dropout)
        self.fc = nn.Linear(width, config.num_classes)
        self.post_init()

    def _check_input(self, input_features: torch.Tensor) -> None:
        check_float_features("input_features", input_features, check_values=False, model_dtype=self.dtype)
        bins = self.config.num_mel_bins
        if input_features.dim() != 3 or input_features.shape[1] != bins:
            raise ValueError(
                f"input_features must be (batch, {bins} mel bins, frames), got shape {tuple(input_features.shape)}"
            )
        if input_features.shape[2] < MIN_INPUT_SIZE:
            raise ValueError(
                f"input_features has {input_features.shape[2]} frames; Melception needs at least {MIN_INPUT_SIZE}"
            )
        check_finite("input_features", input_features)

    def standardize(self, input_features: torch.Tensor) -> torch.Tensor:
        """(x - mean) / std per mel band, in float64, rounded back to the input dtype (identity without stats)."""
        if self.config.spectrogram_mean is None:
            return input_features
        mean = torch.tensor(self.config.spectrogram_mean, dtype=torch.float64, device=input_features.device)
        std = torch.tensor(self.config.spectrogram_std, dtype=torch.float64, device=input_features.device)
        return ((input_features.double() - mean[:, None]) / std[:, None]).to(input_features.dtype)

    def get_features(self, input_features: torch.Tensor) -> torch.Tensor:
        """The 2048-d FID features (global average pool of Mixed_7c) of [0, 1] spectrograms."""
        self._check_input(input_features)
        hidden = self.standardize(input_features).unsqueeze(1)
        for block in self.blocks():
            hidden = block(hidden)
        return F.adaptive_avg_pool2d(hidden, 1).flatten(1)

    def blocks(self) -> list[nn.Module]:
        """The trunk in order (stem convs, then the Inception blocks; no max-pools, `AuxLogits` left out)."""
        return [
            self.Conv2d_1a_3x3,
            self.Conv2d_2a_3x3,
            self.Conv2d_2b_3x3,
            self.Conv2d_3b_1x1,
            self.Conv2d_4a_3x3,
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ]

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MelceptionOutput:
        r"""
        input_features (`torch.FloatTensor` of shape `(batch, num_mel_bins, frames)`):
            log-mel spectrograms scaled to [0, 1] (standardised inside; see the module docstring).
        labels (`torch.LongTensor` of shape `(batch,)`, *optional*): class indices for the cross-entropy loss.
        """
        if labels is not None:
            check_ids("labels", labels, self.config.num_classes)
            if labels.shape != (input_features.shape[0],):
                raise ValueError(f"labels must be (batch,) class indices, got shape {tuple(labels.shape)}")
        features = self.get_features(input_features)
        logits_unbiased = self.dropout(features).mm(self.fc.weight.T)
        logits = logits_unbiased + self.fc.bias.unsqueeze(0)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return MelceptionOutput(loss=loss, logits=logits, logits_unbiased=logits_unbiased, pooler_output=features)


__all__ = ["MelceptionModel", "MelceptionOutput", "MelceptionPreTrainedModel"]
