"""Frames -> the inputs of the frame-wise ResNet extractor: torchvision's ImageNet classification preset on PIL
images, as v-iashin/video_features applies it (`ToPILImage()` -> `ResNet50_Weights.IMAGENET1K_V1.transforms()`).

`crop_size=None` keeps the whole resized frame (aspect ratio kept, the network's global average pool covers it):
the 2-D ResNet-152 features of HowTo100M (antoine77340/video_feature_extractor, which AVLnet and Everything at
Once read) resize the shorter side to 224 and do not crop (docs/feature_extractors.md, "Retrieval models")."""

import torch
from transformers import BatchFeature

from .processing_expert_features import ExpertFeaturesProcessor, as_frames, pil_frame_pixels

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResNetFramesProcessor(ExpertFeaturesProcessor):
    r"""
    `(T, 3, H, W)` uint8 RGB frames -> `pixel_values` `(T, 3, crop_size, crop_size)` (`(T, 3, h, w)` without crop).

    Each frame: PIL bilinear resize of the uint8 image so the shorter side is `resize_size` (the long side
    truncated, the result rounded to uint8 by PIL), centre crop `crop_size` with torchvision's offsets (round half
    to even; no crop when `crop_size` is None), / 255, ImageNet mean / std. A float-tensor resize instead of PIL
    changes the features by about 1000x the parity tolerance (see the fixture's README), so the PIL path is kept.

    Args:
        resize_size (`int`, defaults to 256), crop_size (`int` or None, defaults to 224), image_mean / image_std:
            the preset.
        extraction_fps (`float`, *optional*): the sampling rate (the processor's `load_video`).
    """

    def __init__(
        self,
        resize_size: int = 256,
        crop_size: int | None = 224,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        extraction_fps: float | None = None,
        **kwargs,
    ):
        kwargs.pop("stack_size", None), kwargs.pop("step_size", None)
        super().__init__(extraction_fps=extraction_fps, **kwargs)
        self.resize_size = int(resize_size)
        self.crop_size = None if crop_size is None else int(crop_size)
        if self.resize_size < 1 or (self.crop_size is not None and not 1 <= self.crop_size <= self.resize_size):
            raise ValueError(
                f"resize_size must be positive, crop_size None or between 1 and resize_size; got {resize_size}, "
                f"{crop_size}"
            )
        self.image_mean = [float(v) for v in image_mean]
        self.image_std = [float(v) for v in image_std]

    def transform(self, frame: torch.Tensor) -> torch.Tensor:
        """One `(3, H, W)` uint8 frame -> `(3, crop, crop)` float32 (`(3, h, w)` without crop)."""
        return pil_frame_pixels(frame, self.resize_size, self.crop_size, self.image_mean, self.image_std)

    def __call__(self, frames, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        frames = as_frames(frames)
        pixel_values = torch.stack([self.transform(frame) for frame in frames])
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)


__all__ = ["ResNetFramesProcessor"]
