"""What the expert feature extractors' processors share: decoding at the extraction rate, cutting stacks, and
the image operations of the reference transforms (v-iashin/video_features `models/transforms.py`), each kept to
its exact rounding because the features depend on it.

- `form_slices(T, stack, step)`: full windows only, starts 0, step, 2 step, ... (`utils/utils.py::form_slices`).
- `resize_shorter_pil`: PIL bilinear resize of a uint8 frame so the shorter side is `size`, long side
  `int(size * long / short)` (truncated), result rounded to uint8 by PIL (`ResizeImproved`, torchvision's preset).
- `center_crop_offsets(..., rounding)`: "floor" is `TensorCenterCrop` ((H - h) // 2), "round" is torchvision's and
  the reference's `center_crop` (`int(round((H - h) / 2))`, round half to even).
"""

from pathlib import Path

import numpy as np
import torch
from transformers import FeatureExtractionMixin

from .video_io import DecodedVideo, MediaDecodingError, load_video


class VideoTooShortError(MediaDecodingError):
    """The video has fewer frames than one stack of the extractor."""


def form_slices(num_frames: int, stack_size: int, step_size: int) -> list[tuple[int, int]]:
    """`(start, end)` of every full stack of `stack_size` frames, `step_size` apart; trailing frames are dropped."""
    if num_frames < stack_size:
        return []
    return [(start, start + stack_size) for start in range(0, num_frames - stack_size + 1, step_size)]


def center_crop_offsets(height: int, width: int, crop_height: int, crop_width: int, rounding: str = "round"):
    """Top and left offsets of a centre crop ("floor": `(H - h) // 2`; "round": round half to even)."""
    if height < crop_height or width < crop_width:
        raise ValueError(f"cannot crop {crop_height}x{crop_width} out of a {height}x{width} frame")
    if rounding == "floor":
        return (height - crop_height) // 2, (width - crop_width) // 2
    if rounding == "round":
        return int(round((height - crop_height) / 2)), int(round((width - crop_width) / 2))
    raise ValueError(f"rounding must be 'floor' or 'round', got {rounding!r}")


def resize_shorter_pil(frame: torch.Tensor | np.ndarray, size: int, resample: str = "bilinear") -> np.ndarray:
    """One `(3, H, W)` (or `(H, W, 3)` numpy) uint8 RGB frame -> `(h, w, 3)` uint8 with min(h, w) = `size`, PIL
    bilinear (or `resample="bicubic"`, CLIP's) with PIL's antialiasing on downscale; unchanged when the shorter side
    already is `size`."""
    from PIL import Image

    if resample not in ("bilinear", "bicubic"):
        raise ValueError(f"resample must be 'bilinear' or 'bicubic', got {resample!r}")

    array = frame.permute(1, 2, 0).numpy() if isinstance(frame, torch.Tensor) else np.asarray(frame)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB frame, got {array.dtype} of shape {array.shape}")
    height, width = array.shape[:2]
    if min(height, width) == size:
        return np.ascontiguousarray(array)
    if width < height:
        new_w, new_h = size, int(size * height / width)
    else:
        new_h, new_w = size, int(size * width / height)
    method = Image.BILINEAR if resample == "bilinear" else Image.BICUBIC
    return np.asarray(Image.fromarray(np.ascontiguousarray(array)).resize((new_w, new_h), method))


def pil_frame_pixels(
    frame: torch.Tensor,
    resize_size: int,
    crop_size: int | None,
    image_mean,
    image_std,
    resample: str = "bilinear",
) -> torch.Tensor:
    """The torchvision-on-PIL image preset the 2-D frame extractors share: one `(3, H, W)` uint8 frame, PIL-resized
    so its shorter side is `resize_size` (`resize_shorter_pil`), centre crop `crop_size` with torchvision's offsets
    (none when None), / 255, then `(x - mean) / std` -> `(3, h, w)` float32."""
    crop = resize_shorter_pil(frame, resize_size, resample=resample)
    if crop_size is not None:
        top, left = center_crop_offsets(crop.shape[0], crop.shape[1], crop_size, crop_size, "round")
        crop = crop[top : top + crop_size, left : left + crop_size]
    pixels = torch.from_numpy(np.require(crop, requirements=["C", "W"])).permute(2, 0, 1).to(torch.float32) / 255.0
    return (pixels - torch.tensor(image_mean).view(3, 1, 1)) / torch.tensor(image_std).view(3, 1, 1)


def as_frames(frames, name: str = "frames") -> torch.Tensor:
    """`(T, 3, H, W)` uint8 RGB from a tensor or array in that layout or `(T, H, W, 3)`."""
    frames = torch.as_tensor(np.asarray(frames)) if not isinstance(frames, torch.Tensor) else frames
    if frames.dim() != 4:
        raise ValueError(f"{name} must be (T, 3, H, W) or (T, H, W, 3), got shape {tuple(frames.shape)}")
    if frames.shape[1] != 3 and frames.shape[-1] == 3:
        frames = frames.permute(0, 3, 1, 2)
    if frames.shape[1] != 3:
        raise ValueError(f"{name} must have 3 RGB channels, got shape {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        raise ValueError(f"{name} must be uint8 RGB (0...255), got {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError(f"{name} holds no frame")
    return frames


class ExpertFeaturesProcessor(FeatureExtractionMixin):
    r"""
    Base of the expert extractors' processors: decodes a file at `extraction_fps` and says where the features sit.

    Args:
        extraction_fps (`float`, *optional*): rate the video is brought to (None: the file's own rate).
        stack_size / step_size (`int`, *optional*): clip extractors' windows (None for frame-wise extractors).
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        extraction_fps: float | None = None,
        stack_size: int | None = None,
        step_size: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.extraction_fps = None if extraction_fps is None else float(extraction_fps)
        self.stack_size = None if stack_size is None else int(stack_size)
        self.step_size = None if step_size is None else int(step_size)

    @classmethod
    def from_model_config(cls, config, **kwargs):
        """The processor with the sampling of a model config (`extraction_fps`, `stack_size`, `step_size`)."""
        sampling = {name: getattr(config, name) for name in ("extraction_fps", "stack_size", "step_size")}
        return cls(**{**sampling, **kwargs})

    def load_video(self, path: str | Path, max_duration_sec: float | None = None) -> DecodedVideo:
        return load_video(path, fps=self.extraction_fps, max_duration_sec=max_duration_sec)

    def slices(self, num_frames: int, source: str = "the video") -> list[tuple[int, int]]:
        """Full stacks of the clip extractor; a clear error when not even one fits."""
        if self.stack_size is None:
            return [(index, index + 1) for index in range(num_frames)]
        found = form_slices(num_frames, self.stack_size, self.step_size)
        if not found:
            raise VideoTooShortError(
                f"{source}: {num_frames} frames at the extraction rate, fewer than one stack of {self.stack_size}"
            )
        return found


__all__ = [
    "ExpertFeaturesProcessor",
    "VideoTooShortError",
    "as_frames",
    "center_crop_offsets",
    "form_slices",
    "pil_frame_pixels",
    "resize_shorter_pil",
]
