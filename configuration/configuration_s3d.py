"""Configuration of the S3D clip feature extractor (S3D trained on Kinetics-400, 1024-d per stack of frames)."""

from huggingface_hub.dataclasses import strict

from .configuration_common import config_value_errors
from .configuration_expert_features import ExpertFeaturesConfig


@config_value_errors
@strict
class S3DConfig(ExpertFeaturesConfig):
    r"""
    Configuration of [`S3DModel`]: the S3D trunk up to Mixed_5c, pooled to one 1024-d vector per stack.
    Sampling defaults are v-iashin/video_features' `configs/s3d.yml` (25 fps, stacks of 64 frames every 64).

    Args:
        width_divisor (`int`, defaults to 1): divides every width of the trunk (1, 2, 4 or 8); 1 is the released
            network. Other values are for tests.
        batch_norm_eps / batch_norm_momentum (`float`, defaults to 1e-3 / 0.001): the TensorFlow-port convention
            of the released weights.
        extraction_fps (`float`, defaults to 25), stack_size (`int`, defaults to 64), step_size (`int`, 64).
    """

    model_type = "s3d"

    width_divisor: int = 1
    batch_norm_eps: float = 1e-3
    batch_norm_momentum: float = 0.001
    extraction_fps: float | int | None = 25.0
    stack_size: int | None = 64
    step_size: int | None = 64

    def validate_width(self):
        if self.width_divisor not in (1, 2, 4, 8):
            raise ValueError(f"width_divisor must be 1, 2, 4 or 8, got {self.width_divisor}")

    @property
    def feature_size(self) -> int:
        return 1024 // self.width_divisor


__all__ = ["S3DConfig"]
