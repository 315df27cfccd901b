"""SparseSync's frames: `SparseSyncVideoProcessor`, a transformers `BaseVideoProcessor` (registered with
`AutoVideoProcessor`).

The test-time frame chain of the reference (`configs/sparse_sync.yaml`, `dataset/transforms.py`): the frames of one
temporal crop (already decoded at 25 fps with the shorter side resized, `video_io.load_clip`), a centre crop of
`crop_size` (the top-left corner rounded half to even, as Python's `round` in the reference), `/ 255`, ImageNet
normalisation. Choosing the temporal crop (offset and visual start) is `SparseSyncProcessor`'s job; the training
transforms (random / upscaled crops, colour jitter, grey-scale, flip) are
`videozoo.data.sparsesync_augmentation.SparseSyncAugmentation`, which reuses `crop_at` and `normalize_frames`.
"""

import numpy as np
import torch
from transformers import BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoMetadata


def as_uint8_frames(video, name: str = "clip") -> torch.Tensor:
    """uint8 RGB frames `(T, 3, H, W)` or `(T, H, W, 3)` (or anything with `.frames`, e.g. a `DecodedClip`) ->
    `(T, 3, H, W)`; raises on anything else."""
    frames = getattr(video, "frames", video)
    frames = frames if isinstance(frames, torch.Tensor) else torch.as_tensor(np.asarray(frames))
    if frames.dim() == 4 and frames.shape[1] != 3 and frames.shape[-1] == 3:
        frames = frames.permute(0, 3, 1, 2)  # (T, H, W, 3) -> (T, 3, H, W)
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(
            f"{name}: frames must be (frames, 3, height, width) or (frames, height, width, 3) RGB, "
            f"got {tuple(frames.shape)}"
        )
    if frames.dtype != torch.uint8:
        raise ValueError(f"{name}: frames must be uint8 RGB (0-255), got {frames.dtype}")
    if frames.shape[0] == 0:
        raise ValueError(f"{name}: the video has no frame")
    return frames


class SparseSyncVideoProcessor(BaseVideoProcessor):
    r"""
    Clips of uint8 frames -> `pixel_values` `(batch, T, 3, crop, crop)`: centre crop, `/ 255`, ImageNet
    normalisation (module docstring). Frames are not resized here: `video_io.load_clip` resized their shorter side
    when decoding (`SparseSyncProcessor.resize_shorter_side`), as the reference's offline re-encoding.

    Args:
        crop_size (`int` or `{"height": n, "width": n}`, defaults to 224): the square crop.
        image_mean / image_std (ImageNet's).
    """

    crop_size = {"height": 224, "width": 224}
    image_mean = list(IMAGENET_DEFAULT_MEAN)
    image_std = list(IMAGENET_DEFAULT_STD)
    do_resize = False
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = False
    do_sample_frames = False
    model_input_names = ["pixel_values"]

    def __init__(self, **kwargs):
        crop = kwargs.get("crop_size")
        if crop is not None:
            sides = [crop] if isinstance(crop, int) else list(crop.values() if isinstance(crop, dict) else crop)
            if len(sides) == 2 and sides[0] != sides[1]:
                raise ValueError(f"crop_size must be square for SparseSync, got {crop!r}")
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sides):
                raise ValueError(f"crop_size must be a positive int, got {crop!r}")
        super().__init__(**kwargs)

    @property
    def crop_side(self) -> int:
        return int(self.crop_size.height)

    # ------------------------------------------------------------------ the steps (also used by the augmentation)
    def crop_at(self, frames: torch.Tensor, size: int, top: int | None = None, left: int | None = None, name="clip"):
        """`(T, 3, H, W)` -> the `size` x `size` window at (top, left); the centre (rounded half to even) when not
        given."""
        height, width = frames.shape[-2:]
        if height < size or width < size:
            raise ValueError(
                f"{name}: frames of {height}x{width} are smaller than the {size} px crop (decode with load_clip, "
                "which resizes the shorter side)"
            )
        if top is None or left is None:  # the reference's centre crop: Python round (half to even)
            top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
        return frames[..., top : top + size, left : left + size]

    def normalize_frames(self, frames: torch.Tensor, image_mean=None, image_std=None) -> torch.Tensor:
        """uint8 `(T, 3, h, w)` -> float `(T, 3, h, w)`: `/ 255` then `(x - mean) / std`."""
        mean = torch.tensor(list(image_mean or self.image_mean), dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(list(image_std or self.image_std), dtype=torch.float32).view(1, 3, 1, 1)
        return (frames.to(torch.float32).div(255) - mean) / std

    def transform(self, frames, name: str = "clip") -> torch.Tensor:
        """One clip's uint8 frames -> normalised float `(T, 3, crop, crop)` (the evaluation chain)."""
        return self.normalize_frames(self.crop_at(as_uint8_frames(frames, name), self.crop_side, name=name))

    # ------------------------------------------------------------------ BaseVideoProcessor hooks
    def _decode_and_sample_videos(self, videos, video_metadata=None, do_sample_frames=None, sample_indices_fn=None):
        single = getattr(videos, "ndim", 0) == 4 or hasattr(videos, "frames")
        videos = [videos] if single else list(videos)
        if not videos:
            raise ValueError("videos is empty")
        if any(isinstance(video, str) or hasattr(video, "__fspath__") for video in videos):
            raise ValueError(
                "SparseSyncVideoProcessor takes decoded frames; decode files with SparseSyncProcessor.load_clip"
            )
        frames = [as_uint8_frames(video, f"videos[{index}]") for index, video in enumerate(videos)]
        return frames, [VideoMetadata(total_num_frames=len(clip)) for clip in frames]

    def _prepare_input_videos(self, videos, do_convert_rgb=None, input_data_format=None, device=None):
        return [video if device is None else video.to(device) for video in videos]  # already (T, 3, H, W) RGB

    def _preprocess(self, videos, crop_size, image_mean, image_std, return_tensors=None, **kwargs) -> BatchFeature:
        pixels = [
            self.normalize_frames(
                self.crop_at(video, int(crop_size.height), name=f"videos[{index}]"), image_mean, image_std
            )
            for index, video in enumerate(videos)
        ]
        return BatchFeature({"pixel_values": torch.stack(pixels)}, tensor_type=return_tensors)


__all__ = ["SparseSyncVideoProcessor", "as_uint8_frames"]
