"""Frames and flow -> the inputs of the two I3D streams, as v-iashin/video_features prepares them
(`models/i3d/extract_i3d.py`, transforms of `models/transforms.py`).

- Every decoded frame: PIL bilinear resize, shorter side 256 (`ResizeImproved(256)`), kept as float with integer
  values 0...255.
- A stack holds `stack_size + 1` frames (the extra one gives the last flow); the next stack starts `step_size`
  frames later; only full stacks are used.
- RGB stream: the stack without its last frame, centre crop 224 with floor offsets (`TensorCenterCrop`), 2 x / 255 - 1.
- Flow stream: RAFT between consecutive frames of the stack, on frames padded to multiples of 8 (the flow is not
  cropped back: the reference never unpads it, so its window is shifted by the padder's left/top pad), centre crop
  224 (floor) of the padded flow, clamp to [-20, 20], `round(128 + 255 / 40 * f)` with round half to even (levels
  0...256, not a uint8 cast), then 2 q / 255 - 1.
- `last_stack="cycle"` reproduces the older extraction behind the features BMT and MDVC distribute
  (v-iashin/video_features commit 662ec51, `form_iter_list`): the frames after the last full stack form one more
  stack, repeated cyclically (`np.resize`) to full length, when there are at least `0.2 x (stack_size + 1)` of them
  (the remainder is counted as `num_frames % (stack_size + 1)`, as there). The default "drop" is the current
  extractor's (full stacks only).
"""

import numpy as np
import torch
from transformers import BatchFeature

from .processing_expert_features import (
    ExpertFeaturesProcessor,
    VideoTooShortError,
    as_frames,
    center_crop_offsets,
    resize_shorter_pil,
)


class I3DProcessor(ExpertFeaturesProcessor):
    r"""
    `(T, 3, H, W)` uint8 RGB frames -> `pixel_values` `(T, 3, h, w)` float (resized, 0...255); `rgb_inputs` and
    `flow_inputs` turn one stack into each stream's network input.

    Args:
        resize_size (`int`, defaults to 256), crop_size (`int`, defaults to 224), flow_clamp (`float`, defaults to 20).
        extraction_fps (`float`, *optional*), stack_size (`int`, defaults to 64), step_size (`int`, defaults to 64).
    """

    def __init__(
        self,
        resize_size: int = 256,
        crop_size: int = 224,
        flow_clamp: float = 20.0,
        last_stack: str = "drop",
        extraction_fps: float | None = None,
        stack_size: int | None = 64,
        step_size: int | None = 64,
        **kwargs,
    ):
        super().__init__(extraction_fps=extraction_fps, stack_size=stack_size, step_size=step_size, **kwargs)
        self.resize_size = int(resize_size)
        self.crop_size = int(crop_size)
        self.flow_clamp = float(flow_clamp)
        if last_stack not in ("drop", "cycle"):
            raise ValueError(f"last_stack must be 'drop' or 'cycle', got {last_stack!r}")
        self.last_stack = last_stack

    def __call__(self, frames, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        frames = as_frames(frames)
        resized = np.stack([resize_shorter_pil(frame, self.resize_size) for frame in frames])
        pixel_values = torch.from_numpy(resized).permute(0, 3, 1, 2).to(torch.float32)
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)

    def stack_indices(self, num_frames: int, source: str = "the video") -> list[np.ndarray]:
        """Frame indices of every stack of `stack_size + 1` frames (the last frame only feeds the last flow)."""
        length = self.stack_size + 1
        if self.last_stack == "drop" or num_frames >= length:
            stacks = [np.arange(start, end + 1) for start, end in self.slices(num_frames - 1, source)]
        else:
            stacks = []
        if self.last_stack == "cycle" and num_frames % length >= 0.2 * length:
            rest = np.arange(len(stacks) * self.step_size, num_frames)
            if num_frames < length:
                rest = np.arange(num_frames)
            stacks.append(np.resize(rest, length))
        if not stacks:
            raise VideoTooShortError(
                f"{source}: {num_frames} frames at the extraction rate, fewer than one stack of {self.stack_size} + 1"
            )
        return stacks

    def _crop(self, tensor: torch.Tensor) -> torch.Tensor:
        top, left = center_crop_offsets(*tensor.shape[-2:], self.crop_size, self.crop_size, "floor")
        return tensor[..., top : top + self.crop_size, left : left + self.crop_size]

    def rgb_inputs(self, stack: torch.Tensor) -> torch.Tensor:
        """`(stack_size + 1, 3, h, w)` resized frames -> `(1, 3, stack_size, crop, crop)` in [-1, 1]."""
        crop = self._crop(stack[:-1])
        return (2 * crop / 255 - 1).permute(1, 0, 2, 3).unsqueeze(0)

    def flow_inputs(self, flow: torch.Tensor) -> torch.Tensor:
        """`(stack_size, 2, H', W')` padded raw flow (pixels) -> `(1, 2, stack_size, crop, crop)`."""
        levels = torch.round(
            128 + 255 / (2 * self.flow_clamp) * self._crop(flow).clamp(-self.flow_clamp, self.flow_clamp)
        )
        return (2 * levels / 255 - 1).permute(1, 0, 2, 3).unsqueeze(0)


__all__ = ["I3DProcessor"]
