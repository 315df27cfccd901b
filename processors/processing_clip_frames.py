"""Frames -> the inputs of the CLIP frame extractor, as v-iashin/video_features' `clip` extractor prepares them
(`models/clip/extract_clip.py`, the transforms of OpenAI's `clip.load`): each frame as a PIL image, resized so its
shorter side is the model's input size with bicubic resampling (the long side truncated, as torchvision's
`Resize(int)`), centre crop of that size (torchvision's offsets, round half to even), to [0, 1], CLIP's mean / std.
Frames are sampled at `extraction_fps` (None: every frame, the reference's default) by the zoo's decoder."""

import torch
from transformers import BatchFeature

from .processing_expert_features import ExpertFeaturesProcessor, as_frames, pil_frame_pixels

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CLIPFramesProcessor(ExpertFeaturesProcessor):
    r"""
    `(T, 3, H, W)` uint8 RGB frames -> `pixel_values` `(T, 3, image_size, image_size)` float32.

    Args:
        image_size (`int`, defaults to 224): the model's input size (`CLIPFramesConfig.image_size`; 336 for
            ViT-L/14@336px): the shorter side is resized to it, then the centre square is cropped.
        image_mean / image_std: CLIP's normalisation.
        extraction_fps (`float`, *optional*): the sampling rate (the processor's `load_video`).
    """

    def __init__(
        self,
        image_size: int = 224,
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
        extraction_fps: float | None = None,
        **kwargs,
    ):
        kwargs.pop("stack_size", None), kwargs.pop("step_size", None)
        super().__init__(extraction_fps=extraction_fps, **kwargs)
        self.image_size = int(image_size)
        if self.image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.image_mean = [float(v) for v in image_mean]
        self.image_std = [float(v) for v in image_std]

    @classmethod
    def from_model_config(cls, config, **kwargs):
        """The processor of a `CLIPFramesConfig`: its frame rate and input size."""
        return cls(**{"extraction_fps": config.extraction_fps, "image_size": config.image_size, **kwargs})

    def transform(self, frame: torch.Tensor) -> torch.Tensor:
        """One `(3, H, W)` uint8 frame -> `(3, image_size, image_size)` float32."""
        size = self.image_size
        return pil_frame_pixels(frame, size, size, self.image_mean, self.image_std, resample="bicubic")

    def __call__(self, frames, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        frames = as_frames(frames)
        pixel_values = torch.stack([self.transform(frame) for frame in frames])
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)


__all__ = ["CLIP_MEAN", "CLIP_STD", "CLIPFramesProcessor"]
