"""AVATAR's training-time augmentation, applied by the training collator (`videozoo.data.avatar.AvatarCollator`
with `augmentation=`), never by the processor: inference and evaluation go through `AvatarProcessor` alone.

`AvatarAugmentation` holds the switches and probabilities; every random draw comes from the per-clip
`numpy.random.Generator` the collator passes (seeded by the row's `sample_seed`), in the reference's order for one
clip: word masking of the waveform, SpecAugment of its log-mel, then the frames (random window, scale jitter, random
crop, flip, colour). The operations themselves are the plain functions of `processors/augmentation_avatar.py`; the
frame geometry (short-side resize, frame spacing, `[-1, 1]` scaling) is the `AvatarVideoProcessor`'s, so training
and evaluation frames differ only by the random draws.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..processors.augmentation_avatar import (
    REFERENCE_VIDEO_AUGMENTATION,
    SPEC_AUGMENT_POLICIES,
    WORD_MASKING_MODES,
    colour_augment,
    mask_words,
    scale_jitter_size,
    spec_augment,
)
from ..processors.video_processing_avatar import AvatarVideoProcessor, as_frames


@dataclass
class AvatarAugmentation:
    """Training-time augmentation of AVATAR clips.

    Args:
        word_masking / word_mask_rate: `mask_words` mode ("none", "random", "content") and rate (None: the mode's
            default, 0.10 / 0.363); needs the row's word alignment.
        spec_augment: SpecAugment policy, None (off), "reference" (2 frequency masks, the reference code) or "park"
            (time warp + 2 frequency and 2 time masks, the paper's citation).
        random_flip: horizontal flips with probability 0.5 (off where left and right carry meaning).
        scale_jitter / prob_color_augment / prob_color_drop: the reference's video augmentation (`reference()` sets
            (0.9, 1.33), 0.8, 0.1); off by default.
    Frames always get a random window and a random crop (the reference's training crops).
    """

    word_masking: str = "none"
    word_mask_rate: float | None = None
    spec_augment: str | None = None
    random_flip: bool = True
    scale_jitter: tuple[float, float] | None = None
    prob_color_augment: float = 0.0
    prob_color_drop: float = 0.0

    def __post_init__(self):
        if self.word_masking not in WORD_MASKING_MODES:
            raise ValueError(f"word_masking must be one of {WORD_MASKING_MODES}, got {self.word_masking!r}")
        if self.word_mask_rate is not None and not 0.0 <= self.word_mask_rate <= 1.0:
            raise ValueError(f"word_mask_rate must be in [0, 1], got {self.word_mask_rate}")
        if self.spec_augment is not None and self.spec_augment not in SPEC_AUGMENT_POLICIES:
            raise ValueError(f"spec_augment must be None or one of {SPEC_AUGMENT_POLICIES}, got {self.spec_augment!r}")
        for name in ("prob_color_augment", "prob_color_drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.scale_jitter is not None:
            if not (len(self.scale_jitter) == 2 and 0 < self.scale_jitter[0] <= self.scale_jitter[1]):
                raise ValueError(f"scale_jitter must be (low, high) with 0 < low <= high, got {self.scale_jitter}")
            self.scale_jitter = (float(self.scale_jitter[0]), float(self.scale_jitter[1]))

    @classmethod
    def reference(cls, **overrides) -> "AvatarAugmentation":
        """The reference's video augmentation (scale jitter, colour, grey-scale), plus `overrides`."""
        return cls(**{**REFERENCE_VIDEO_AUGMENTATION, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    # ------------------------------------------------------------------ audio
    def waveform(self, wave: torch.Tensor, row, rng: np.random.Generator, sampling_rate: int) -> torch.Tensor:
        """Word masking of one mono waveform from the row's alignment (`words`, `word_start_ms`, `word_end_ms`)."""
        if self.word_masking == "none" or not len(row["words"]):
            return wave
        masked, _ = mask_words(
            wave,
            row["words"],
            row["word_start_ms"],
            row["word_end_ms"],
            rng,
            self.word_masking,
            self.word_mask_rate,
            sampling_rate=sampling_rate,
        )
        return masked

    def features(self, features: torch.Tensor, valid_frames: int, rng: np.random.Generator) -> torch.Tensor:
        """SpecAugment of one log-mel `(frames, mel)` whose first `valid_frames` frames were computed."""
        return features if self.spec_augment is None else spec_augment(features, rng, self.spec_augment, valid_frames)

    # ------------------------------------------------------------------ video
    def pixels(
        self, video_processor: AvatarVideoProcessor, video, video_fps: float | None, rng: np.random.Generator
    ) -> torch.Tensor:
        """One clip `(T, H, W, 3)` -> `(3, num_frames, crop_h, crop_w)` in [-1, 1]: the video processor's frames
        with a random window, the optional scale jitter, a random crop, the flip and the colour augmentation."""
        frames = as_frames(video)
        count, stride = len(frames), 1.0 if not video_fps else video_fps / video_processor.fps
        span = (video_processor.num_frames - 1) * stride
        start = rng.uniform(0.0, count - 1 - span) if span < count - 1 else None  # too short: the clamped centre
        frames = frames[torch.from_numpy(video_processor.frame_indices(count, video_fps, start))]
        clip = video_processor.resize_frames(frames)
        crop_h, crop_w = video_processor.crop_size.height, video_processor.crop_size.width
        height, width = clip.shape[-2:]
        if self.scale_jitter is not None:
            jittered = scale_jitter_size(height, width, rng, self.scale_jitter)
            size = (max(crop_h, jittered[0]), max(crop_w, jittered[1]))  # never below the crop
            if size != (height, width):
                clip = torch.nn.functional.interpolate(
                    clip, size=size, mode="bilinear", align_corners=False, antialias=False
                )
                height, width = size
        top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
        clip = clip[..., top : top + crop_h, left : left + crop_w]
        if self.random_flip and rng.random() < 0.5:
            clip = clip.flip(-1)
        pixels = video_processor.to_pixels(clip)
        if self.prob_color_augment > 0 or self.prob_color_drop > 0:
            pixels = colour_augment(pixels, rng, self.prob_color_augment, self.prob_color_drop)
        return pixels


def computed_frames(num_samples: int, hop_length: int, max_frames: int) -> int:
    """Log-mel frames computed from `num_samples` (the rest of the `max_frames` input is padding)."""
    return min(math.ceil(num_samples / hop_length), max_frames)


__all__ = ["AvatarAugmentation", "computed_frames"]
