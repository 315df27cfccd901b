"""SparseSync's training-time augmentation, applied by the training collator (`videozoo.data.sparsesync.
SparseSyncCollator` with `augmentation=`), never by the processor: evaluation and the pipeline go through
`SparseSyncProcessor` alone.

`SparseSyncAugmentation` holds the probabilities; every draw comes from the clip's `numpy.random.Generator`, the one
the offset sampler used just before (seeded by the row's `sample_seed`), in the reference's order
(`configs/sparse_sync.yaml` train transforms): the audio jitter of the crop (inside the sampler), the spatial crop
(an upscaled smaller crop with `upscale_p`, else a random one), colour jitter and grey-scale (SimCLR strengths, one
draw for the whole clip), the horizontal flip, then the waveform effects (reverb, volume, pitch shift, low-pass,
Gaussian noise) and the spectrogram masks. The reference ran reverb and pitch shift through
`torchaudio.sox_effects`, gone from torchaudio 2.11: reverb is `processors/audio_effects.sox_reverb` (sox's
`reverb -w`, channels averaged), the pitch shift (`pitch_shift_cents`, 1000) is torchaudio's phase-vocoder
`pitch_shift`, not sox's WSOLA. The fine-tuning values of the reference (VGGSound-Sparse) are `FINETUNE_AUGMENTATIONS`.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..processors.audio_effects import pitch_shift, sox_reverb
from ..processors.feature_extraction_sparsesync import SparseSyncFeatureExtractor
from ..processors.video_processing_sparsesync import SparseSyncVideoProcessor

# the reference's VGGSound-Sparse fine-tuning probabilities (the pre-training uses none of them)
FINETUNE_AUGMENTATIONS = {
    "upscale_p": 0.5,
    "color_jitter_p": 0.2,
    "grayscale_p": 0.2,
    "reverb_p": 0.2,
    "volume_p": 0.2,
    "pitch_shift_p": 0.2,
    "lowpass_p": 0.2,
    "gaussian_noise_p": 0.2,
    "freq_mask_p": 0.2,
    "time_mask_p": 0.2,
}


@dataclass
class SparseSyncAugmentation:
    """Training-time transforms of SparseSync crops (module docstring).

    Args:
        audio_jitter_sec (0.05): shift of the audio crop (label unchanged; at most half a grid step).
        horizontal_flip_p (0.5): flip of the whole clip.
        upscale_p, upscale_crop_size (192), color_jitter_p, grayscale_p, reverb_p, volume_p, pitch_shift_p,
            pitch_shift_cents (1000), lowpass_p, gaussian_noise_p, freq_mask_p, time_mask_p: the fine-tuning
            augmentations (0 by default; `finetune()` sets the reference's values).
    Frames always get a random spatial crop (the reference's training crop).
    """

    audio_jitter_sec: float = 0.05
    horizontal_flip_p: float = 0.5
    upscale_p: float = 0.0
    upscale_crop_size: int = 192
    color_jitter_p: float = 0.0
    grayscale_p: float = 0.0
    volume_p: float = 0.0
    lowpass_p: float = 0.0
    reverb_p: float = 0.0
    pitch_shift_p: float = 0.0
    pitch_shift_cents: float = 1000.0
    gaussian_noise_p: float = 0.0
    freq_mask_p: float = 0.0
    time_mask_p: float = 0.0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name.endswith("_p") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        if self.audio_jitter_sec < 0:
            raise ValueError(f"audio_jitter_sec must be >= 0, got {self.audio_jitter_sec}")
        if self.upscale_crop_size <= 0:
            raise ValueError(f"upscale_crop_size must be positive, got {self.upscale_crop_size}")

    @classmethod
    def finetune(cls, **overrides) -> "SparseSyncAugmentation":
        """The reference's fine-tuning augmentation (`FINETUNE_AUGMENTATIONS`), plus `overrides`."""
        return cls(**{**FINETUNE_AUGMENTATIONS, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    def batch(self, processor, videos, seeds, audios=None, offsets=None, video_starts=None, names=None):
        """Training inputs of clips (`DecodedClip`s, or frames and `audios` as `SparseSyncProcessor.crop_clips`
        takes them): each clip's
        generator (from its seed) draws the offset crop (or takes the fixed one), then this augmentation's
        transforms -> the processor's outputs (`pixel_values`, `input_features`, `labels`, the crops)."""
        rngs = [np.random.default_rng(int(seed)) for seed in seeds]
        frames, waves, plans = processor.crop_clips(
            videos,
            audios,
            offsets=offsets,
            video_starts=video_starts,
            rngs=rngs,
            audio_jitter_sec=self.audio_jitter_sec,
            names=names,
        )
        names = names or [f"clip {i}" for i in range(len(frames))]
        rate = processor.feature_extractor.sampling_rate
        pixels, features = [], []
        for clip_frames, wave, rng, name in zip(frames, waves, rngs, names):
            pixels.append(self.frames(processor.video_processor, clip_frames, rng, name))
            features.append(self.spectrogram(processor.feature_extractor, self.waveform(wave, rate, rng), rng))
        return processor.pack(torch.stack(pixels), torch.stack(features), plans)

    # ------------------------------------------------------------------ frames
    def frames(
        self, video_processor: SparseSyncVideoProcessor, frames: torch.Tensor, rng: np.random.Generator, name="clip"
    ) -> torch.Tensor:
        """One crop's uint8 frames `(T, 3, H, W)` -> normalised float `(T, 3, crop, crop)` with the random crop,
        the enabled colour transforms and the flip."""
        size = video_processor.crop_side

        def random_crop(side: int) -> torch.Tensor:
            height, width = frames.shape[-2:]
            if height < side or width < side:  # the video processor names the problem
                return video_processor.crop_at(frames, side, name=name)
            top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
            return video_processor.crop_at(frames, side, top, left, name)

        if self.upscale_p > 0 and rng.random() < self.upscale_p:
            small = random_crop(self.upscale_crop_size).float()
            clip = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
            clip = clip.round().clamp(0, 255).to(torch.uint8)
        else:
            clip = random_crop(size)
        if self.color_jitter_p > 0 or self.grayscale_p > 0:
            from torchvision.transforms import v2

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**31)))
                if rng.random() < self.color_jitter_p:  # SimCLR strengths, one draw for the whole clip
                    clip = v2.ColorJitter(0.8, 0.8, 0.8, 0.2)(clip)
                if rng.random() < self.grayscale_p:
                    clip = v2.Grayscale(num_output_channels=3)(clip)
        if rng.random() < self.horizontal_flip_p:
            clip = clip.flip(-1)
        return video_processor.normalize_frames(clip)

    # ------------------------------------------------------------------ audio
    def waveform(self, wave: torch.Tensor, rate: int, rng: np.random.Generator) -> torch.Tensor:
        """The waveform effects of one crop `(samples,)`."""
        # (the reverb and pitch draws are only taken when enabled, so older settings keep their random streams)
        if self.reverb_p > 0 and rng.random() < self.reverb_p:
            wave = sox_reverb(wave, rate)
        if rng.random() < self.volume_p:  # torchaudio Vol(gain=2.0, 'amplitude'): scale then clamp
            wave = (wave * 2.0).clamp(-1, 1)
        if self.pitch_shift_p > 0 and rng.random() < self.pitch_shift_p:
            wave = pitch_shift(wave, rate, self.pitch_shift_cents)
        if rng.random() < self.lowpass_p:
            import torchaudio

            wave = torchaudio.functional.lowpass_biquad(wave[None], rate, 100.0, 0.707)[0]
        if rng.random() < self.gaussian_noise_p:
            generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
            wave = wave + 0.01 * torch.randn(wave.shape, generator=generator)
        return wave

    def spectrogram(
        self, feature_extractor: SparseSyncFeatureExtractor, wave: torch.Tensor, rng: np.random.Generator
    ) -> torch.Tensor:
        """The standardised log spectrogram of one crop, with the frequency / time masks (torchaudio's
        FrequencyMasking(64) / TimeMasking(200) semantics, mask value 0) applied before the standardisation."""
        if self.freq_mask_p == 0 and self.time_mask_p == 0:
            return feature_extractor.log_spectrogram(wave)
        log = feature_extractor.spectrogram_steps(wave)["log"].clone()
        for p, width, axis in ((self.freq_mask_p, 64, 0), (self.time_mask_p, 200, 1)):
            if rng.random() < p:  # width U[0, param), start U[0, size - width)
                size = log.shape[axis]
                span = int(rng.uniform(0, min(width, size)))
                start = int(rng.uniform(0, size - span))
                if axis == 0:
                    log[start : start + span] = 0.0
                else:
                    log[:, start : start + span] = 0.0
        mean, std = log.mean(dim=1, keepdim=True), log.std(dim=1, keepdim=True)
        return (log - mean) / (std + feature_extractor.norm_eps)


__all__ = ["FINETUNE_AUGMENTATIONS", "SparseSyncAugmentation"]
