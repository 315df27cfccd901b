"""What every expert feature extractor's configuration shares: how the features sit on the video's time axis.

The expert feature extractors (frame-wise ResNet, S3D, I3D with RAFT flow, VGGish) turn raw media into the
feature files the zoo's systems read. Their sampling follows the extraction code of v-iashin/video_features
(`configs/*.yml`): a video is first brought to `extraction_fps` (None keeps the file's own rate), then either every
frame gives one feature (frame-wise extractors) or windows of `stack_size` frames, `step_size` apart, give one
feature each (clip extractors; only full windows are used).
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin


@strict
class ExpertFeaturesConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Base of the expert feature extractors' configurations (not registered itself).

    Args:
        extraction_fps (`float`, *optional*): frame rate the video is brought to before sampling (FFmpeg's `fps`
            filter rule, see `processors/video_io.py`); None keeps the file's rate.
        stack_size (`int`, *optional*): frames per feature for clip extractors; None for frame-wise ones.
        step_size (`int`, *optional*): frames between the starts of consecutive stacks.
    """

    model_type = ""

    extraction_fps: float | int | None = None
    stack_size: int | None = None
    step_size: int | None = None

    def validate_sampling(self):
        if self.extraction_fps is not None and not self.extraction_fps > 0:
            raise ValueError(f"extraction_fps must be positive or None, got {self.extraction_fps}")
        for name in ("stack_size", "step_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive number of frames or None, got {value}")
        if (self.stack_size is None) != (self.step_size is None):
            raise ValueError("stack_size and step_size are given together (clip extractors) or not at all")


__all__ = ["ExpertFeaturesConfig"]
