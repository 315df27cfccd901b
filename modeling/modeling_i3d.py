"""I3D clip features (J. Carreira, A. Zisserman, "Quo Vadis, Action Recognition? A New Model and the Kinetics
Dataset", CVPR 2017), as v-iashin/video_features computes them (hassony2's PyTorch port of DeepMind's I3D,
`models/i3d/i3d_src/i3d_net.py`, `I3D(x, features=True)`), one stream per model.

Layout and names follow the port so that its checkpoints load by name: units `conv3d` + `batch3d` + ReLU
(`conv3d_1a_7x7`, `conv3d_2b_1x1`, `conv3d_2c_3x3`), nine `Mixed` blocks with `branch_0`, `branch_1.{0,1}`,
`branch_2.{0,1}`, `branch_3.{0: max-pool, 1}` (the Inception widths SparseSync's S3D uses too), and the port's
"SAME" padding: for every conv and pool `pad = max(k - s, 0)` per axis, split (pad // 2 before, the rest after),
zeros, independent of the input size (so it is TF's SAME only for sizes divisible by the stride); max-pools use
`ceil_mode=True` after that padding. BatchNorm eps 1e-5 (the port's PyTorch default).

Features: `AvgPool3d((2, 7, 7), stride 1)` on Mixed_5c, then the mean over the windows
(`modeling_s3d.pool_time_windows`, which pools the whole spatial map: the same for the 7 x 7 map of 224 px crops).
The 400-way logits unit is not built. Stacks need at least 10 frames (the reference's check).
"""

import torch
from torch import nn
from torch.nn import functional as F

from ..configuration.configuration_i3d import I3DConfig
from ..configuration.configuration_sparsesync import S3D_INCEPTION_WIDTHS
from ..processors.validation import check_float_features
from .modeling_expert_features import ExpertFeaturesOutput, ExpertFeaturesPreTrainedModel
from .modeling_s3d import pool_time_windows


def same_padding(kernel_size, stride) -> tuple[int, ...]:
    """`F.pad` order (W before/after, H before/after, T before/after) of the port's SAME padding."""
    pads = []
    for k, s in zip(reversed(kernel_size), reversed(stride)):
        total = max(k - s, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class Unit3D(nn.Module):
    """Conv3d (SAME padding, no bias) + BatchNorm3d + ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size=(1, 1, 1), stride=(1, 1, 1), eps=1e-5):
        super().__init__()
        self.padding = same_padding(kernel_size, stride)
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, bias=False)
        self.batch3d = nn.BatchNorm3d(out_channels, eps=eps)

    def forward(self, hidden):
        return F.relu(self.batch3d(self.conv3d(F.pad(hidden, self.padding))))


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel_size, stride):
        super().__init__()
        self.padding = same_padding(kernel_size, stride)
        self.pool = nn.MaxPool3d(kernel_size, stride, ceil_mode=True)

    def forward(self, hidden):
        return self.pool(F.pad(hidden, self.padding))


class Mixed(nn.Module):
    def __init__(self, in_channels, widths, eps):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        self.branch_0 = Unit3D(in_channels, b0, eps=eps)
        self.branch_1 = nn.Sequential(Unit3D(in_channels, b1a, eps=eps), Unit3D(b1a, b1b, (3, 3, 3), eps=eps))
        self.branch_2 = nn.Sequential(Unit3D(in_channels, b2a, eps=eps), Unit3D(b2a, b2b, (3, 3, 3), eps=eps))
        self.branch_3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(in_channels, b3, eps=eps))

    def forward(self, hidden):
        return torch.cat(
            [self.branch_0(hidden), self.branch_1(hidden), self.branch_2(hidden), self.branch_3(hidden)], 1
        )


_MIXED_NAMES = ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")
# the max-pools before Mixed_3b, Mixed_4b and Mixed_5b, under the port's names (they hold no weights)
_POOL_BEFORE = {
    "3b": ("maxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    "4b": ("maxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    "5b": ("maxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
}


class I3DModel(ExpertFeaturesPreTrainedModel):
    config_class = I3DConfig

    def __init__(self, config: I3DConfig):
        super().__init__(config)
        d, eps = config.width_divisor, config.batch_norm_eps
        self.conv3d_1a_7x7 = Unit3D(config.num_channels, 64 // d, (7, 7, 7), (2, 2, 2), eps)
        self.maxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.conv3d_2b_1x1 = Unit3D(64 // d, 64 // d, eps=eps)
        self.conv3d_2c_3x3 = Unit3D(64 // d, 192 // d, (3, 3, 3), eps=eps)
        for name, (in_width, *widths) in zip(_MIXED_NAMES, S3D_INCEPTION_WIDTHS):
            if name in _POOL_BEFORE:
                pool_name, kernel, stride = _POOL_BEFORE[name]
                setattr(self, pool_name, MaxPool3dSame(kernel, stride))
            setattr(self, f"mixed_{name}", Mixed(in_width // d, [w // d for w in widths], eps))
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None, return_dict: bool | None = None
    ) -> ExpertFeaturesOutput | tuple:
        check_float_features("pixel_values", pixel_values, model_dtype=self.dtype)
        channels = self.config.num_channels
        if pixel_values.dim() != 5 or pixel_values.shape[1] != channels:
            raise ValueError(
                f"pixel_values must be (batch, {channels}, T, H, W) for the {self.config.modality} stream, "
                f"got {tuple(pixel_values.shape)}"
            )
        if pixel_values.shape[2] < 10:
            raise ValueError(f"I3D needs stacks of at least 10 frames, got {pixel_values.shape[2]}")
        hidden = self.conv3d_1a_7x7(pixel_values)
        hidden = self.conv3d_2c_3x3(self.conv3d_2b_1x1(self.maxPool3d_2a_3x3(hidden)))
        for name in _MIXED_NAMES:
            if name in _POOL_BEFORE:
                hidden = getattr(self, _POOL_BEFORE[name][0])(hidden)
            hidden = getattr(self, f"mixed_{name}")(hidden)
        output = ExpertFeaturesOutput(
            features=pool_time_windows(hidden), hidden_states=hidden if output_hidden_states else None
        )
        return output if return_dict is not False else output.to_tuple()


__all__ = ["I3DModel"]
