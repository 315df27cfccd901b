"""Frames -> the inputs of the S3D extractor, as v-iashin/video_features transforms them for S3D
(`ToFloatTensorInZeroOne` -> `Resize(224)` -> `CenterCrop((224, 224))` of `models/transforms.py`)."""

import torch
from torch.nn import functional as F
from transformers import BatchFeature

from .processing_expert_features import ExpertFeaturesProcessor, as_frames, center_crop_offsets


class S3DProcessor(ExpertFeaturesProcessor):
    r"""
    `(T, 3, H, W)` uint8 RGB frames -> `pixel_values` `(1, 3, T, crop, crop)` in [0, 1] (no mean / std).

    Resize: `F.interpolate(scale_factor=size / min(H, W), mode="bilinear", align_corners=False,
    recompute_scale_factor=False)` on the float video, without antialiasing (output sides floor(side * scale));
    centre crop with round-half-to-even offsets. `stacks(pixel_values)` cuts the full stacks of `stack_size`
    frames, `step_size` apart.

    Args:
        resize_size (`int`, defaults to 224), crop_size (`int`, defaults to 224).
        extraction_fps (`float`, defaults to 25), stack_size (`int`, defaults to 64), step_size (`int`, 64).
    """

    def __init__(
        self,
        resize_size: int = 224,
        crop_size: int = 224,
        extraction_fps: float | None = 25.0,
        stack_size: int | None = 64,
        step_size: int | None = 64,
        **kwargs,
    ):
        super().__init__(extraction_fps=extraction_fps, stack_size=stack_size, step_size=step_size, **kwargs)
        self.resize_size = int(resize_size)
        self.crop_size = int(crop_size)

    def __call__(self, frames, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        frames = as_frames(frames)
        video = frames.permute(1, 0, 2, 3).to(torch.float32) / 255.0  # (3, T, H, W)
        scale = self.resize_size / min(video.shape[-2:])
        video = F.interpolate(
            video, scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=False
        )
        top, left = center_crop_offsets(video.shape[-2], video.shape[-1], self.crop_size, self.crop_size, "round")
        video = video[..., top : top + self.crop_size, left : left + self.crop_size]
        return BatchFeature({"pixel_values": video.unsqueeze(0).contiguous()}, tensor_type=return_tensors)

    def stacks(self, pixel_values: torch.Tensor, source: str = "the video") -> tuple[torch.Tensor, list]:
        """`(1, 3, T, h, w)` -> `((S, 3, stack_size, h, w), slices)` of every full stack."""
        slices = self.slices(pixel_values.shape[2], source)
        return torch.cat([pixel_values[:, :, start:end] for start, end in slices]), slices


__all__ = ["S3DProcessor"]
