"""S3D clip features, as v-iashin/video_features' S3D extractor computes them (`models/s3d/extract_s3d.py` with
kylemin's S3D port, `S3D(x, features=True)`).

The trunk is the one SparseSync already uses (`modeling_sparsesync.build_s3d_trunk`: torchvision's S3D building
blocks, module for module the same network as the port: separable convolutions = spatial (1, k, k) conv + BN + ReLU
then temporal (k, 1, 1) conv + BN + ReLU, max-pools padded with -inf, branches concatenated 0, 1, 2, 3; BatchNorm
eps 1e-3). The parity fixture confirms the equivalence. Features: `avg_pool3d` over windows of two time steps and
the whole space on Mixed_5c, then the mean over the windows (so the first and last time steps weigh half); the
classifier is not built.

Input: `pixel_values` `(batch, 3, T, 224, 224)` in [0, 1] without mean/std normalisation (the processor's
transforms); a stack needs at least 13 frames (Mixed_5c must keep two time steps).
"""

import torch
from torch.nn import functional as F

from ..configuration.configuration_s3d import S3DConfig
from ..processors.validation import check_float_features
from .modeling_expert_features import ExpertFeaturesOutput, ExpertFeaturesPreTrainedModel
from .modeling_sparsesync import build_s3d_trunk


def pool_time_windows(hidden: torch.Tensor) -> torch.Tensor:
    """`(B, C, t, h, w)` -> `(B, C)`: average over windows of two time steps and the whole space (stride 1), then
    the mean over the windows, as the I3D / S3D feature heads of the references do."""
    if hidden.shape[2] < 2:
        raise ValueError(
            f"the feature map keeps {hidden.shape[2]} time step(s), the head needs 2: the stack is too short"
        )
    pooled = F.avg_pool3d(hidden, (2, hidden.shape[3], hidden.shape[4]), stride=1)
    return pooled.flatten(2).mean(dim=2)


class S3DModel(ExpertFeaturesPreTrainedModel):
    config_class = S3DConfig

    def __init__(self, config: S3DConfig):
        super().__init__(config)
        self.trunk = build_s3d_trunk(config.width_divisor, config.batch_norm_eps, config.batch_norm_momentum)
        self.post_init()

    def forward(
        self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None, return_dict: bool | None = None
    ) -> ExpertFeaturesOutput | tuple:
        check_float_features("pixel_values", pixel_values, model_dtype=self.dtype)
        if pixel_values.dim() != 5 or pixel_values.shape[1] != 3:
            raise ValueError(f"pixel_values must be (batch, 3, T, H, W), got {tuple(pixel_values.shape)}")
        if pixel_values.shape[2] < 13:
            raise ValueError(f"S3D needs stacks of at least 13 frames, got {pixel_values.shape[2]}")
        hidden = self.trunk(pixel_values)
        output = ExpertFeaturesOutput(
            features=pool_time_windows(hidden), hidden_states=hidden if output_hidden_states else None
        )
        return output if return_dict is not False else output.to_tuple()


__all__ = ["S3DModel", "pool_time_windows"]
