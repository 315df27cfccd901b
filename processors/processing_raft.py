"""Frames -> the inputs of the RAFT extractor (v-iashin/video_features `base_flow_extractor.py`): RGB as float in
0...255, optionally resized first (`side_size`: PIL bilinear, shorter side, `ResizeImproved`); flow is computed
between consecutive frames."""

import torch
from transformers import BatchFeature

from .processing_expert_features import ExpertFeaturesProcessor, as_frames, resize_shorter_pil


class RAFTProcessor(ExpertFeaturesProcessor):
    r"""
    `(T, 3, H, W)` uint8 RGB frames -> `pixel_values` `(T, 3, h, w)` float32 in 0...255 (the model normalises).

    Args:
        side_size (`int`, *optional*): resize so that the shorter side is this (None keeps the size, the
            reference's default). The reference's `resize_to_smaller_edge=False` variant is not offered.
        extraction_fps (`float`, *optional*): rate the video is brought to.
    """

    def __init__(self, side_size: int | None = None, extraction_fps: float | None = None, **kwargs):
        kwargs.pop("stack_size", None), kwargs.pop("step_size", None)
        super().__init__(extraction_fps=extraction_fps, **kwargs)
        self.side_size = None if side_size is None else int(side_size)

    def __call__(self, frames, return_tensors: str | None = "pt", **kwargs) -> BatchFeature:
        frames = as_frames(frames)
        if self.side_size is not None:
            frames = torch.stack(
                [torch.from_numpy(resize_shorter_pil(f, self.side_size)).permute(2, 0, 1) for f in frames]
            )
        return BatchFeature({"pixel_values": frames.to(torch.float32)}, tensor_type=return_tensors)

    @staticmethod
    def pairs(pixel_values: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive frame pairs in batches of `batch_size` flows (`batch_size + 1` frames, overlap 1)."""
        if pixel_values.shape[0] < 2:
            raise ValueError(f"optical flow needs at least 2 frames, got {pixel_values.shape[0]}")
        count = pixel_values.shape[0] - 1  # flows
        ends = [min(start + batch_size, count) for start in range(0, count, batch_size)]
        return [(pixel_values[s:e], pixel_values[s + 1 : e + 1]) for s, e in zip(range(0, count, batch_size), ends)]


__all__ = ["RAFTProcessor"]
