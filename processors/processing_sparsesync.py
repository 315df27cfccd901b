"""Processor for SparseSync: decoded clips (25 fps frames + 16 kHz mono audio) -> model inputs and offset labels.

One clip goes through the authors' test/train chain (`configs/sparse_sync.yaml`, `dataset/transforms.py`):
equalise the two streams from the right (at most `clip_max_length_sec`), choose the crops (a fixed
(offset, visual start) pair, or the training sampler below), slice `clip_length_sec` of frames and of audio,
crop 224 x 224 (centre; random in training), optional augmentation, `/ 255` and ImageNet normalisation, and the
standardised log spectrogram of the audio crop.

The offset sampler (the reference's `TemporalCropAndOffsetRandomFeasible`) never pads: the offset is drawn uniformly
from the grid, the visual start uniformly among the starts that keep *both* crops inside the clip, snapped down to
the frame grid, and the audio starts `offset` seconds after the visual start (positive offset: audio early).
Integer positions are truncations in float64, as the reference (so fixed test tables reproduce its crops).
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from transformers import BatchFeature, ProcessorMixin

from ..configuration.configuration_sparsesync import offset_grid
from .audio_effects import pitch_shift, sox_reverb
from .feature_extraction_sparsesync import SparseSyncFeatureExtractor
from .validation import waveform_list
from .video_io import DecodedClip, load_clip

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ClipTooShortError(ValueError):
    """A clip cannot hold the crop at the asked offset without padding."""


@dataclass
class CropPlan:
    """Where the two crops of one example start, and its label."""

    offset_sec: float  # the requested offset, rounded to 2 decimals
    video_start_sec: float  # visual start on the frame grid
    video_start_frame: int
    audio_start_sample: int
    label: int  # nearest grid class
    audio_jitter: int = 0  # samples added to the audio start (training only; the label is unchanged)


def _to_index(seconds: float, rate: float) -> int:
    return int(seconds * rate)  # the reference's sec2frames: truncation


def nearest_class(grid: list[float], offset_sec: float) -> int:
    """Index of the grid value nearest to `offset_sec` (first one on ties, as argmin)."""
    return int(torch.argmin((torch.tensor(grid, dtype=torch.float32) - offset_sec).abs()))


def equalize_lengths(
    num_frames: int, num_samples: int, fps: float, sampling_rate: int, max_seconds: float | None = 10.0
) -> tuple[int, int]:
    """The reference's `EqualifyFromRight`: keep floor(fps * d) frames and (sampling_rate // fps) samples per kept
    frame, d = min(max_seconds, audio seconds, video seconds); trims from the end."""
    seconds = min(num_samples / sampling_rate, num_frames / fps)
    if max_seconds is not None:
        seconds = min(seconds, max_seconds)
    frames = int(fps * seconds)
    return frames, int(sampling_rate // fps) * frames


def _check_room(
    name: str,
    plan: CropPlan,
    crop_frames: int,
    crop_samples: int,
    num_frames: int,
    num_samples: int,
    fps: float,
    sampling_rate: int,
):
    if plan.audio_start_sample < 0 and -plan.audio_start_sample <= sampling_rate / fps:  # rounding, <= one frame
        plan.audio_start_sample = 0
    if (
        plan.video_start_frame < 0
        or plan.audio_start_sample < 0
        or plan.video_start_frame + crop_frames > num_frames
        or plan.audio_start_sample + crop_samples > num_samples
    ):
        raise ClipTooShortError(
            f"{name}: a {crop_frames / fps:g} s crop at offset {plan.offset_sec:+.2f} s and visual start "
            f"{plan.video_start_sec:.2f} s does not fit in {num_frames / fps:.2f} s of video and "
            f"{num_samples / sampling_rate:.2f} s of audio (SparseSync never pads)"
        )


def fixed_crop(
    num_frames: int,
    num_samples: int,
    grid: list[float],
    crop_sec: float,
    fps: float,
    sampling_rate: int,
    offset_sec: float,
    video_start_sec: float,
    name: str = "clip",
) -> CropPlan:
    """Crops at a given (offset, visual start), as the fixed evaluation tables: frame int(start * fps), audio sample
    int((start + offset) * sampling_rate), both from the *given* start."""
    offset = round(float(offset_sec), 2)
    plan = CropPlan(
        offset,
        float(video_start_sec),
        _to_index(video_start_sec, fps),
        _to_index(video_start_sec + offset, sampling_rate),
        nearest_class(grid, offset),
    )
    _check_room(
        name,
        plan,
        _to_index(crop_sec, fps),
        _to_index(crop_sec, sampling_rate),
        num_frames,
        num_samples,
        fps,
        sampling_rate,
    )
    return plan


def sample_crop(
    num_frames: int,
    num_samples: int,
    grid: list[float],
    crop_sec: float,
    fps: float,
    sampling_rate: int,
    rng: np.random.Generator,
    jitter_sec: float = 0.0,
    name: str = "clip",
) -> CropPlan:
    """The training sampler (the reference's `TemporalCropAndOffsetRandomFeasible`): offset uniform over the grid,
    visual start uniform over the feasible starts (both crops inside the clip), snapped down to a frame; optional audio
    jitter of up to `jitter_sec` that stays inside the clip and leaves the label unchanged. Raises `ClipTooShortError`
    when the drawn offset does not fit (a clip must last crop + max |offset|)."""
    crop_frames, crop_samples = _to_index(crop_sec, fps), _to_index(crop_sec, sampling_rate)
    offset = round(float(grid[int(rng.integers(len(grid)))]), 2)
    start_max = (num_frames - crop_frames) / fps
    low, high = max(0.0, -offset), min(start_max, start_max - offset)
    if low > high:
        raise ClipTooShortError(
            f"{name}: {num_frames / fps:.2f} s is too short for a {crop_sec:g} s crop at offset {offset:+.2f} s "
            f"(needs {crop_sec + abs(offset):.2f} s; SparseSync never pads)"
        )
    start_frame = _to_index(rng.uniform(low, high), fps)
    start_sec = start_frame / fps
    plan = CropPlan(
        offset, start_sec, start_frame, _to_index(start_sec + offset, sampling_rate), nearest_class(grid, offset)
    )
    _check_room(name, plan, crop_frames, crop_samples, num_frames, num_samples, fps, sampling_rate)
    if jitter_sec > 0:
        limit = _to_index(jitter_sec, sampling_rate)
        left = min(plan.audio_start_sample, limit)
        right = min(num_samples - crop_samples - plan.audio_start_sample, limit)
        plan.audio_jitter = int(rng.integers(-left, right + 1))
        plan.audio_start_sample += plan.audio_jitter
    return plan


def _as_frames(video, name: str) -> torch.Tensor:
    frames = video.frames if isinstance(video, DecodedClip) else video
    frames = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
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


class SparseSyncProcessor(ProcessorMixin):
    r"""
    Frames and audio of [`SparseSyncForOffsetClassification`], with the offset crops and labels.

    Args:
        feature_extractor ([`SparseSyncFeatureExtractor`]): the spectrogram front end (16 kHz).
        video_fps (`float`, defaults to 25), clip_length_sec (`float`, defaults to 5.0): the crops.
        crop_size (`int`, defaults to 224): square spatial crop (centre at evaluation, random in training).
        resize_shorter_side (`int`, defaults to 256): what `load_clip` resizes to (the offline re-encoding); 0 keeps
            the decoded size.
        image_mean / image_std (`list[float]`): ImageNet statistics.
        num_offset_classes (`int`, 21), max_offset_sec (`float`, 2.0), offset_grid_type (`"linspace"`): the grid.
        clip_max_length_sec (`float`, defaults to 10.0): streams are first cut to at most this (the reference code).
        audio_jitter_sec (`float`, defaults to 0.05): training-time shift of the audio crop (label unchanged).
        horizontal_flip_p (`float`, defaults to 0.5): training-time flip of the whole clip.
        upscale_p, color_jitter_p, grayscale_p, reverb_p, volume_p, pitch_shift_p, lowpass_p, gaussian_noise_p,
            freq_mask_p, time_mask_p (`float`, default 0): the fine-tuning augmentations (0.5 for upscale, 0.2 for the
            others in the reference's VGGSound-Sparse fine-tuning). The reference ran reverb and pitch shift through
            `torchaudio.sox_effects`, gone from torchaudio 2.11: reverb is `audio_effects.sox_reverb` (sox's
            `reverb -w`, channels averaged; equal to the sox binary to float rounding), the pitch shift
            (`pitch_shift_cents`, 1000) is torchaudio's phase-vocoder `pitch_shift`, not sox's WSOLA.
    """

    def __init__(
        self,
        feature_extractor=None,
        video_fps: float = 25.0,
        clip_length_sec: float = 5.0,
        crop_size: int = 224,
        resize_shorter_side: int = 256,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        num_offset_classes: int = 21,
        max_offset_sec: float = 2.0,
        offset_grid_type: str = "linspace",
        clip_max_length_sec: float = 10.0,
        audio_jitter_sec: float = 0.05,
        horizontal_flip_p: float = 0.5,
        upscale_p: float = 0.0,
        upscale_crop_size: int = 192,
        color_jitter_p: float = 0.0,
        grayscale_p: float = 0.0,
        volume_p: float = 0.0,
        lowpass_p: float = 0.0,
        reverb_p: float = 0.0,
        pitch_shift_p: float = 0.0,
        pitch_shift_cents: float = 1000.0,
        gaussian_noise_p: float = 0.0,
        freq_mask_p: float = 0.0,
        time_mask_p: float = 0.0,
        **kwargs,
    ):
        if feature_extractor is None:
            feature_extractor = SparseSyncFeatureExtractor()
        self.video_fps = float(video_fps)
        self.clip_length_sec = float(clip_length_sec)
        self.crop_size = int(crop_size)
        self.resize_shorter_side = int(resize_shorter_side)
        self.image_mean = [float(v) for v in image_mean]
        self.image_std = [float(v) for v in image_std]
        self.num_offset_classes = int(num_offset_classes)
        self.max_offset_sec = float(max_offset_sec)
        self.offset_grid_type = offset_grid_type
        self.clip_max_length_sec = float(clip_max_length_sec)
        self.audio_jitter_sec = float(audio_jitter_sec)
        self.horizontal_flip_p = float(horizontal_flip_p)
        self.upscale_p = float(upscale_p)
        self.upscale_crop_size = int(upscale_crop_size)
        self.color_jitter_p = float(color_jitter_p)
        self.grayscale_p = float(grayscale_p)
        self.volume_p = float(volume_p)
        self.lowpass_p = float(lowpass_p)
        self.reverb_p = float(reverb_p)
        self.pitch_shift_p = float(pitch_shift_p)
        self.pitch_shift_cents = float(pitch_shift_cents)
        self.gaussian_noise_p = float(gaussian_noise_p)
        self.freq_mask_p = float(freq_mask_p)
        self.time_mask_p = float(time_mask_p)
        grid = self.offset_grid()
        if len(grid) > 1 and self.audio_jitter_sec > (grid[1] - grid[0]) / 2 + 1e-9:
            raise ValueError(
                f"audio_jitter_sec {self.audio_jitter_sec} exceeds half a grid step "
                f"({(grid[1] - grid[0]) / 2:.3f} s): it would change labels"
            )
        super().__init__(feature_extractor, **kwargs)

    @classmethod
    def default(cls, config=None, **kwargs) -> "SparseSyncProcessor":
        """The processor matching a model config (offset grid); 5 s clips of 224 px."""
        if config is not None:
            kwargs = {
                "num_offset_classes": config.num_offset_classes,
                "max_offset_sec": config.max_offset_sec,
                "offset_grid_type": config.offset_grid_type,
                **kwargs,
            }
        return cls(SparseSyncFeatureExtractor(), **kwargs)

    # ------------------------------------------------------------------ offsets
    def offset_grid(self) -> list[float]:
        return offset_grid(self.num_offset_classes, self.max_offset_sec, self.offset_grid_type)

    def offset_to_label(self, offset_sec: float) -> int:
        return nearest_class(self.offset_grid(), round(float(offset_sec), 2))

    @property
    def crop_frames(self) -> int:
        return _to_index(self.clip_length_sec, self.video_fps)

    @property
    def crop_samples(self) -> int:
        return _to_index(self.clip_length_sec, self.feature_extractor.sampling_rate)

    def post_process(self, logits: torch.Tensor) -> list[dict]:
        """Logits `(B, classes)` -> per clip {"offset_sec", "label", "score"} (positive offset: audio early)."""
        if logits.dim() != 2 or logits.shape[1] != self.num_offset_classes:
            raise ValueError(f"logits must be (batch, {self.num_offset_classes}), got {tuple(logits.shape)}")
        grid, probabilities = self.offset_grid(), logits.float().softmax(dim=-1)
        scores, labels = probabilities.max(dim=-1)
        return [{"offset_sec": grid[int(i)], "label": int(i), "score": float(s)} for s, i in zip(scores, labels)]

    # ------------------------------------------------------------------ media
    def load_clip(self, path) -> DecodedClip:
        """Decode a file at `video_fps` / 16 kHz mono, frames resized to `resize_shorter_side` (see `load_clip`)."""
        return load_clip(
            path,
            fps=self.video_fps,
            sampling_rate=self.feature_extractor.sampling_rate,
            shorter_side=self.resize_shorter_side or None,
            max_duration_sec=self.clip_max_length_sec + 1.0,
        )

    # ------------------------------------------------------------------ frames
    def _spatial_crop(
        self, frames: torch.Tensor, size: int, rng: np.random.Generator | None, name: str
    ) -> torch.Tensor:
        height, width = frames.shape[-2:]
        if height < size or width < size:
            raise ValueError(
                f"{name}: frames of {height}x{width} are smaller than the {size} px crop (decode with load_clip, "
                f"which resizes the shorter side to {self.resize_shorter_side})"
            )
        if rng is None:  # the reference's centre crop: Python round (half to even)
            top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
        else:
            top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
        return frames[..., top : top + size, left : left + size]

    def transform_frames(self, frames, rng: np.random.Generator | None = None, name: str = "clip") -> torch.Tensor:
        """uint8 frames `(T, 3, H, W)` -> normalised float `(T, 3, crop, crop)`; `rng` switches on the training
        transforms (random crop, the enabled augmentations, flip)."""
        frames = _as_frames(frames, name)
        training = rng is not None
        if training and self.upscale_p > 0 and rng.random() < self.upscale_p:
            small = self._spatial_crop(frames, self.upscale_crop_size, rng, name)
            frames = F.interpolate(
                small.float(),
                size=(self.crop_size, self.crop_size),
                mode="bilinear",
                align_corners=False,
                antialias=False,
            )
            frames = frames.round().clamp(0, 255).to(torch.uint8)
        else:
            frames = self._spatial_crop(frames, self.crop_size, rng, name)
        if training and (self.color_jitter_p > 0 or self.grayscale_p > 0):
            from torchvision.transforms import v2

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**31)))
                if rng.random() < self.color_jitter_p:  # SimCLR strengths, one draw for the whole clip
                    frames = v2.ColorJitter(0.8, 0.8, 0.8, 0.2)(frames)
                if rng.random() < self.grayscale_p:
                    frames = v2.Grayscale(num_output_channels=3)(frames)
        if training and rng.random() < self.horizontal_flip_p:
            frames = frames.flip(-1)
        mean = torch.tensor(self.image_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std).view(1, 3, 1, 1)
        return (frames.to(torch.float32).div(255) - mean) / std

    # ------------------------------------------------------------------ audio
    def _augment_waveform(self, wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        rate = self.feature_extractor.sampling_rate
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

    def _spectrogram(self, wave: torch.Tensor, rng: np.random.Generator | None) -> torch.Tensor:
        extractor = self.feature_extractor
        if rng is None or (self.freq_mask_p == 0 and self.time_mask_p == 0):
            return extractor.log_spectrogram(wave)
        steps = extractor.spectrogram_steps(wave)
        log = steps["log"].clone()
        for p, width, axis in ((self.freq_mask_p, 64, 0), (self.time_mask_p, 200, 1)):
            if rng.random() < p:  # torchaudio Frequency/TimeMasking: width U[0, param), start U[0, size - width)
                size = log.shape[axis]
                span = int(rng.uniform(0, min(width, size)))
                start = int(rng.uniform(0, size - span))
                if axis == 0:
                    log[start : start + span] = 0.0  # torchaudio's mask_value
                else:
                    log[:, start : start + span] = 0.0
        mean, std = log.mean(dim=1, keepdim=True), log.std(dim=1, keepdim=True)
        return (log - mean) / (std + extractor.norm_eps)

    # ------------------------------------------------------------------ everything
    def __call__(
        self,
        videos=None,
        audios=None,
        sampling_rate: int | None = None,
        video_fps: float | None = None,
        offsets=None,
        video_starts=None,
        training: bool = False,
        random_offsets: bool | None = None,
        seeds=None,
        names=None,
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            videos: per clip, uint8 frames `(T, 3, H, W)` or `(T, H, W, 3)` at `video_fps`, or `DecodedClip`s (then
                `audios` may be omitted).
            audios: per clip, a mono float waveform `(N,)` (or `(channels, N)`, averaged) at `sampling_rate`.
            offsets / video_starts: per clip, fixed offsets and visual starts in seconds (evaluation tables). Without
                them, evaluation uses offset 0 at start 0 unless `random_offsets`; training samples them.
            training: random crops, audio jitter, flip and the enabled augmentations.
            random_offsets: draw (offset, start) with the sampler (defaults to `training`).
            seeds: per clip an int seed for every random draw (reproducible epochs; `fit` gives `sample_seed`).
            names: per clip a name (e.g. the file) used in error messages.
        Returns:
            `pixel_values` (B, T, 3, crop, crop), `input_features` (B, F, frames), `labels` (B,), `offset_sec` (B,)
            the grid value of the label, `video_start_sec`, `video_start_frame`, `audio_start_sample`, `audio_jitter`.
        """
        if videos is None:
            raise ValueError("SparseSync needs videos (frames) and audios (waveforms)")
        if isinstance(videos, (DecodedClip, torch.Tensor, np.ndarray)) and (
            not isinstance(videos, (torch.Tensor, np.ndarray)) or np.ndim(videos) == 4
        ):
            videos = [videos]
            audios = None if audios is None else [audios]
        if audios is None:
            if not all(isinstance(v, DecodedClip) for v in videos):
                raise ValueError("audios are missing: give a waveform per clip (or DecodedClip videos)")
            audios = [v.waveform for v in videos]
            sampling_rate = sampling_rate or videos[0].sampling_rate
            video_fps = video_fps or videos[0].fps
        if isinstance(audios, (np.ndarray, torch.Tensor)):
            audios = waveform_list("audios", audios)
        if len(audios) != len(videos):
            raise ValueError(f"{len(videos)} videos but {len(audios)} audios")
        if not videos:
            raise ValueError("no clip given")
        sampling_rate = sampling_rate if sampling_rate is not None else self.feature_extractor.sampling_rate
        video_fps = float(video_fps if video_fps is not None else self.video_fps)
        if sampling_rate != self.feature_extractor.sampling_rate:
            raise ValueError(
                f"audio at {sampling_rate} Hz; SparseSync needs {self.feature_extractor.sampling_rate} Hz "
                "(decode with load_clip)"
            )
        if abs(video_fps - self.video_fps) > 1e-6:
            raise ValueError(
                f"frames at {video_fps:g} fps; SparseSync needs {self.video_fps:g} fps (decode with load_clip)"
            )
        count = len(videos)
        names = (
            list(names) if names is not None else [getattr(v, "path", "") or f"clip {i}" for i, v in enumerate(videos)]
        )
        random_offsets = training if random_offsets is None else random_offsets
        if (offsets is None) != (video_starts is None):
            raise ValueError("give both offsets and video_starts (fixed evaluation crops) or neither")
        if offsets is not None and (len(offsets) != count or len(video_starts) != count):
            raise ValueError(f"offsets and video_starts need one value per clip ({count})")
        if (random_offsets or training) and seeds is None:
            seeds = [int(s) for s in np.random.SeedSequence().generate_state(count)]
        grid = self.offset_grid()
        crop_frames, crop_samples = self.crop_frames, self.crop_samples
        pixel_values, features, plans = [], [], []
        for index in range(count):
            name = names[index]
            frames = _as_frames(videos[index], name)
            try:
                wave = self.feature_extractor._waveform(audios[index])
            except ValueError as error:
                raise ValueError(f"{name}: audios[{index}]: {error}") from error
            num_frames, num_samples = equalize_lengths(
                len(frames), len(wave), video_fps, sampling_rate, self.clip_max_length_sec
            )
            rng = np.random.default_rng(int(seeds[index])) if seeds is not None else None
            if offsets is not None:
                plan = fixed_crop(
                    num_frames,
                    num_samples,
                    grid,
                    self.clip_length_sec,
                    video_fps,
                    sampling_rate,
                    offsets[index],
                    video_starts[index],
                    name,
                )
            elif random_offsets:
                plan = sample_crop(
                    num_frames,
                    num_samples,
                    grid,
                    self.clip_length_sec,
                    video_fps,
                    sampling_rate,
                    rng,
                    self.audio_jitter_sec if training else 0.0,
                    name,
                )
            else:
                plan = fixed_crop(
                    num_frames, num_samples, grid, self.clip_length_sec, video_fps, sampling_rate, 0.0, 0.0, name
                )
            clip_frames = frames[plan.video_start_frame : plan.video_start_frame + crop_frames]
            clip_wave = wave[plan.audio_start_sample : plan.audio_start_sample + crop_samples]
            if len(clip_frames) != crop_frames or len(clip_wave) != crop_samples:
                raise ValueError(
                    f"{name}: wrong crop length ({len(clip_frames)} frames, {len(clip_wave)} samples; "
                    f"expected {crop_frames} and {crop_samples})"
                )
            pixel_values.append(self.transform_frames(clip_frames, rng if training else None, name))
            if training:
                clip_wave = self._augment_waveform(clip_wave, rng)
            features.append(self._spectrogram(clip_wave, rng if training else None))
            plans.append(plan)
        return BatchFeature(
            {
                "pixel_values": torch.stack(pixel_values),
                "input_features": torch.stack(features),
                "labels": torch.tensor([p.label for p in plans], dtype=torch.long),
                "offset_sec": torch.tensor([grid[p.label] for p in plans], dtype=torch.float32),
                "video_start_sec": torch.tensor([p.video_start_sec for p in plans], dtype=torch.float64),
                "video_start_frame": torch.tensor([p.video_start_frame for p in plans], dtype=torch.long),
                "audio_start_sample": torch.tensor([p.audio_start_sample for p in plans], dtype=torch.long),
                "audio_jitter": torch.tensor([p.audio_jitter for p in plans], dtype=torch.long),
            }
        )


__all__ = [
    "ClipTooShortError",
    "CropPlan",
    "SparseSyncProcessor",
    "equalize_lengths",
    "fixed_crop",
    "nearest_class",
    "sample_crop",
]
