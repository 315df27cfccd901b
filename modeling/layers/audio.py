"""ResDAVEnet: the residual speech CNN of Harwath et al. (2018) over log-mel spectrograms, as used by AVLnet and
Everything at Once.

Input `(batch, mel_bins, frames)` is viewed as a one-channel image `(batch, 1, mel_bins, frames)`. A stem
convolution spanning every mel bin collapses the frequency axis; then stages of residual blocks of (1 x k)
convolutions, each stage halving time (stride 2), give `(batch, widths[-1], ceil(frames / 2**stages))`. All
convolutions are bias-free `Conv2d`s followed by `BatchNorm2d`, so original checkpoints map by name. The
original's `batchnorm1` is created but never applied; `keep_unused_input_bn` keeps it so those checkpoints load
strictly.
"""

import math

import torch
from torch import nn


class ResDavenetBlock(nn.Module):
    """conv(1 x k, stride s) -> BN -> ReLU -> conv(1 x k) -> BN, plus a (1 x 1 conv + BN) shortcut when the stride
    or width changes, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_width: int, stride: int):
        super().__init__()
        padding = (0, kernel_width // 2)
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, (1, kernel_width), stride=(1, stride), padding=padding, bias=False
        )
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (1, kernel_width), padding=padding, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=(1, stride), bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        shortcut = hidden if self.downsample is None else self.downsample(hidden)
        hidden = self.relu(self.bn1(self.conv1(hidden)))
        return self.relu(self.bn2(self.conv2(hidden)) + shortcut)


class ResDavenet(nn.Module):
    """`(batch, mel_bins, frames)` -> `(batch, widths[-1], ceil(frames / stride**len(depths)))`."""

    def __init__(
        self,
        num_mel_bins: int = 40,
        depths: list[int] | tuple[int, ...] = (2, 2, 2, 2),
        widths: list[int] | tuple[int, ...] = (128, 128, 256, 512, 1024),
        kernel_width: int = 9,
        stride: int = 2,
        keep_unused_input_bn: bool = True,
    ):
        super().__init__()
        if len(widths) != len(depths) + 1:
            raise ValueError(
                f"widths must be the stem width then one per stage ({len(depths) + 1} values), got {list(widths)}"
            )
        self.num_mel_bins = num_mel_bins
        self.stride = stride
        self.num_stages = len(depths)
        self.batchnorm1 = nn.BatchNorm2d(1) if keep_unused_input_bn else None  # never applied (as the original)
        self.conv1 = nn.Conv2d(1, widths[0], (num_mel_bins, 1), bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        for index, depth in enumerate(depths):
            blocks = [ResDavenetBlock(widths[index], widths[index + 1], kernel_width, stride)]
            blocks += [
                ResDavenetBlock(widths[index + 1], widths[index + 1], kernel_width, 1) for _ in range(depth - 1)
            ]
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))

    def output_length(self, frames: int) -> int:
        for _ in range(self.num_stages):
            frames = math.ceil(frames / self.stride)
        return frames

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        if input_features.dim() != 3 or input_features.shape[1] != self.num_mel_bins:
            raise ValueError(
                f"input_features must be (batch, {self.num_mel_bins} mel bins, frames), "
                f"got {tuple(input_features.shape)}"
            )
        hidden = self.relu(self.bn1(self.conv1(input_features[:, None])))  # (batch, C0, 1, frames)
        for index in range(self.num_stages):
            hidden = getattr(self, f"layer{index + 1}")(hidden)
        return hidden.squeeze(2)  # (batch, C, frames')


def init_resdavenet_weights(module: nn.Module) -> None:
    """The original initialisation: conv weights N(0, sqrt(2 / (k_h * k_w * C_out))), BatchNorm 1 / 0."""
    from transformers import initialization as init

    if isinstance(module, nn.Conv2d):
        fan = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan))
    elif isinstance(module, nn.BatchNorm2d):
        init.ones_(module.weight)
        init.zeros_(module.bias)
