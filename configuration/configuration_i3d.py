"""Configuration of the I3D clip feature extractor (Carreira & Zisserman, CVPR 2017; Kinetics-400), one stream
(RGB or optical flow) per model: 1024-d per stack of frames."""

from typing import Literal

from huggingface_hub.dataclasses import strict

from .configuration_common import config_value_errors
from .configuration_expert_features import ExpertFeaturesConfig


@config_value_errors
@strict
class I3DConfig(ExpertFeaturesConfig):
    r"""
    Configuration of [`I3DModel`]. Sampling defaults are v-iashin/video_features' `configs/i3d.yml` (the file's
    own frame rate, stacks of 64 frames every 64; each stack reads one more frame for the last flow).

    Args:
        modality (`"rgb"` or `"flow"`, defaults to `"rgb"`): 3 input channels (RGB in [-1, 1]) or 2 ((dx, dy) flow
            quantised as the reference, in [-1, 1.0078]).
        width_divisor (`int`, defaults to 1): divides every width (1, 2, 4 or 8); 1 is the released network.
        batch_norm_eps (`float`, defaults to 1e-5): PyTorch's default, as the port (the TF original used 1e-3).
        extraction_fps (`float`, *optional*), stack_size (`int`, defaults to 64), step_size (`int`, defaults to 64).
    """

    model_type = "i3d"

    modality: Literal["rgb", "flow"] = "rgb"
    width_divisor: int = 1
    batch_norm_eps: float = 1e-5
    stack_size: int | None = 64
    step_size: int | None = 64

    def validate_width(self):
        if self.width_divisor not in (1, 2, 4, 8):
            raise ValueError(f"width_divisor must be 1, 2, 4 or 8, got {self.width_divisor}")

    @property
    def num_channels(self) -> int:
        return 3 if self.modality == "rgb" else 2

    @property
    def feature_size(self) -> int:
        return 1024 // self.width_divisor


__all__ = ["I3DConfig"]
