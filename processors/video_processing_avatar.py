"""AVATAR's frames: `AvatarVideoProcessor`, a transformers `BaseVideoProcessor` (registered with `AutoVideoProcessor`).

Evaluation path of the reference (scenic `avatar` data pipeline, the ViViT-style video preprocessing it reuses):
`num_frames` full RGB frames `1 / fps` seconds apart around the clip centre (clips too short for the window repeat
their frames: the window is clamped to the clip), the short side resized bilinearly (no anti-aliasing, as
`tf.image.resize`) to `size["shortest_edge"]` (never below the crop), a central `crop_size` crop, then
`x * 2 / 255 - 1` (ViViT's offset rescaling: `rescale_factor = 1 / 127.5`, minus 1).

Training-time augmentation (random frame window, scale jitter, random crop, flip, colour) is not done here: it is
`videozoo.data.avatar_augmentation.AvatarAugmentation`, which reuses this processor's geometry (`resize_frames`,
`frame_indices`, `to_pixels`) and only adds the random draws.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BatchFeature
from transformers.image_utils import PILImageResampling
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoMetadata

from .video_io import load_video


def sample_frame_indices(num_available: int, num_frames: int, stride: float, start: float | None = None) -> np.ndarray:
    """`num_frames` indices `stride` stored frames apart from position `start` (default: the central window), rounded
    and clamped to the clip (so clips too short for the window repeat their frames, as the reference)."""
    if num_available < 1:
        raise ValueError("the video has no frame")
    span = (num_frames - 1) * stride
    offset = (num_available - 1 - span) / 2.0 if start is None else start
    positions = offset + stride * np.arange(num_frames)
    return np.clip(np.round(positions), 0, num_available - 1).astype(np.int64)


def as_frames(video, name: str = "video") -> torch.Tensor:
    """A clip `(T, H, W, 3)` RGB (uint8, or floats in 0..255) -> `(T, 3, H, W)` tensor; raises on anything else."""
    frames = torch.as_tensor(np.asarray(video))
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{name} must be (frames, height, width, 3) RGB, got shape {tuple(frames.shape)}")
    if frames.shape[0] == 0:
        raise ValueError(f"{name}: the video has no frame")
    if frames.is_floating_point():
        if not torch.isfinite(frames).all():
            raise ValueError(f"{name} contains NaN or inf")
        if frames.min() < 0 or frames.max() > 255:
            raise ValueError(f"{name}: float video frames must be in 0..255 (uint8 scale)")
    return frames.permute(0, 3, 1, 2)


class AvatarVideoProcessor(BaseVideoProcessor):
    r"""
    Videos -> `pixel_values` `(batch, 3, num_frames, crop_height, crop_width)` in [-1, 1] for
    [`AvatarForConditionalGeneration`] (module docstring for the steps).

    Videos are `(T, H, W, 3)` arrays (uint8 or 0..255 floats; give their frame rate in `video_metadata`, e.g.
    `[{"fps": 25.0}]`, to sample in time, otherwise consecutive array frames are used) or media file paths (decoded
    by `processors/video_io.py`).

    Args:
        num_frames (`int`, defaults to 2), fps (`float`, defaults to 2.5: the paper's 2 frames at 2.5 fps),
        size (`{"shortest_edge": 256}`), crop_size (`{"height": 224, "width": 224}`; an int or `[height, width]`
        is accepted, to match the model's `image_size`).
    """

    resample = PILImageResampling.BILINEAR
    size = {"shortest_edge": 256}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 127.5
    do_normalize = False
    do_convert_rgb = False
    do_sample_frames = True
    num_frames = 2
    fps = 2.5
    model_input_names = ["pixel_values"]

    def __init__(self, **kwargs):
        crop = kwargs.get("crop_size")
        sides = [crop] if isinstance(crop, int) else list(crop.values() if isinstance(crop, dict) else crop or [1])
        if not (len(sides) in (1, 2) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sides)):
            raise ValueError(f"crop_size must be a positive int or (height, width), got {crop!r}")
        super().__init__(**kwargs)
        if self.size is None or not self.size.shortest_edge or self.size.shortest_edge <= 0:
            raise ValueError(
                f"size must give a positive shortest_edge (an int or {{'shortest_edge': n}}), got {self.size}"
            )
        if not (isinstance(self.num_frames, int) and self.num_frames > 0):
            raise ValueError(f"num_frames must be a positive integer, got {self.num_frames!r}")
        if not (isinstance(self.fps, (int, float)) and self.fps > 0):
            raise ValueError(f"fps must be a positive number of frames per second, got {self.fps!r}")

    # ------------------------------------------------------------------ the steps (also used by the augmentation)
    def frame_indices(
        self,
        num_available: int,
        video_fps: float | None,
        start: float | None = None,
        num_frames: int | None = None,
        fps: float | None = None,
    ) -> np.ndarray:
        """Indices of `num_frames` frames `1 / fps` s apart (consecutive frames when the video's rate is unknown);
        `start` (a stored-frame position) replaces the central window."""
        stride = 1.0 if not video_fps else video_fps / (fps or self.fps)
        return sample_frame_indices(num_available, num_frames or self.num_frames, stride, start)

    def resize_frames(self, frames: torch.Tensor, size=None, crop_size=None) -> torch.Tensor:
        """`(T, 3, H, W)` -> float `(T, 3, H', W')` with min(H', W') = shortest_edge (bilinear, no anti-aliasing),
        never smaller than the crop."""
        size, crop_size = size or self.size, crop_size or self.crop_size
        video = frames.float()
        height, width = video.shape[-2:]
        if min(height, width) != size.shortest_edge:
            scale = size.shortest_edge / min(height, width)
            new_size = (max(crop_size.height, round(height * scale)), max(crop_size.width, round(width * scale)))
            video = F.interpolate(video, size=new_size, mode="bilinear", align_corners=False, antialias=False)
        return video

    def to_pixels(self, video: torch.Tensor) -> torch.Tensor:
        """Cropped float frames `(T, 3, h, w)` in 0..255 -> the model's `(3, T, h, w)` in [-1, 1]."""
        return (video * self.rescale_factor - 1.0).permute(1, 0, 2, 3).contiguous()

    # ------------------------------------------------------------------ BaseVideoProcessor hooks
    def sample_frames(self, metadata: VideoMetadata, num_frames=None, fps=None, **kwargs) -> np.ndarray:
        return self.frame_indices(metadata.total_num_frames, metadata.fps, num_frames=num_frames, fps=fps)

    def _decode_and_sample_videos(self, videos, video_metadata=None, do_sample_frames=None, sample_indices_fn=None):
        single = isinstance(videos, (str, Path)) or (hasattr(videos, "ndim") and videos.ndim == 4)
        videos = [videos] if single else list(videos)
        if not videos:
            raise ValueError("videos is empty")
        if video_metadata is None or isinstance(video_metadata, (dict, VideoMetadata)):
            video_metadata = [video_metadata] * len(videos)
        if len(video_metadata) != len(videos):
            raise ValueError(f"video_metadata has {len(video_metadata)} entries for {len(videos)} videos")
        frames, metadata = [], []
        for index, (video, meta) in enumerate(zip(videos, video_metadata)):
            if isinstance(video, (str, Path)):
                decoded = load_video(video)
                clip, rate = decoded.frames, decoded.fps
            else:
                clip = as_frames(video, f"videos[{index}]")
                rate = None if meta is None else meta.get("fps")
            meta = VideoMetadata(total_num_frames=len(clip), fps=rate, height=clip.shape[-2], width=clip.shape[-1])
            if do_sample_frames:
                meta.frames_indices = sample_indices_fn(metadata=meta)
                clip = clip[torch.from_numpy(np.asarray(meta.frames_indices))]
            frames.append(clip)
            metadata.append(meta)
        return frames, metadata

    def _prepare_input_videos(self, videos, do_convert_rgb=None, input_data_format=None, device=None):
        return [video if device is None else video.to(device) for video in videos]  # already (T, 3, H, W) RGB

    def _preprocess(self, videos, size, crop_size, return_tensors=None, **kwargs) -> BatchFeature:
        pixels = []
        for video in videos:
            video = self.resize_frames(video, size, crop_size)
            height, width = video.shape[-2:]
            if height < crop_size.height or width < crop_size.width:
                raise ValueError(
                    f"frames of {height}x{width} are smaller than the {crop_size.height}x{crop_size.width} crop"
                )
            top, left = (height - crop_size.height) // 2, (width - crop_size.width) // 2
            pixels.append(self.to_pixels(video[..., top : top + crop_size.height, left : left + crop_size.width]))
        return BatchFeature({"pixel_values": torch.stack(pixels)}, tensor_type=return_tensors)


__all__ = ["AvatarVideoProcessor", "as_frames", "sample_frame_indices"]
