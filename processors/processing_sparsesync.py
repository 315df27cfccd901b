"""Processor for SparseSync: decoded clips (25 fps frames + 16 kHz mono audio) -> model inputs and offset labels.

It composes the spectrogram front end (`SparseSyncFeatureExtractor`) and the frame processor
(`SparseSyncVideoProcessor`, a transformers video processor), and owns what defines the task: one clip goes through
the authors' test chain (`configs/sparse_sync.yaml`, `dataset/transforms.py`): equalise the two streams from the
right (at most `clip_max_length_sec`), choose the crops (a fixed (offset, visual start) pair, or the offset sampler
below), slice `clip_length_sec` of frames and of audio, then the video processor (centre crop 224, `/ 255`, ImageNet
normalisation) and the standardised log spectrogram of the audio crop.

The offset sampler (the reference's `TemporalCropAndOffsetRandomFeasible`) never pads: the offset is drawn uniformly
from the grid, the visual start uniformly among the starts that keep *both* crops inside the clip, snapped down to
the frame grid, and the audio starts `offset` seconds after the visual start (positive offset: audio early).
Integer positions are truncations in float64, as the reference (so fixed test tables reproduce its crops).

Training-time augmentation (audio jitter of the crop, random / upscaled spatial crops, colour jitter, grey-scale,
flip, waveform effects, spectrogram masking) is `videozoo.data.sparsesync_augmentation.SparseSyncAugmentation`,
applied by the training collator on `crop_clips`' output: the processor has no training switch.
"""

from dataclasses import dataclass

import numpy as np
import torch
from transformers import AutoFeatureExtractor, BatchFeature, ProcessorMixin

from ..configuration.configuration_sparsesync import offset_grid
from .feature_extraction_sparsesync import SparseSyncFeatureExtractor
from .validation import waveform_list
from .video_io import DecodedClip, load_clip
from .video_processing_sparsesync import SparseSyncVideoProcessor, as_uint8_frames


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


class SparseSyncProcessor(ProcessorMixin):
    r"""
    Frames and audio of [`SparseSyncForOffsetClassification`], with the offset crops and labels.

    Args:
        feature_extractor ([`SparseSyncFeatureExtractor`]): the spectrogram front end (16 kHz).
        video_processor ([`SparseSyncVideoProcessor`]): centre crop and ImageNet normalisation of the frames.
        video_fps (`float`, defaults to 25), clip_length_sec (`float`, defaults to 5.0): the crops.
        resize_shorter_side (`int`, defaults to 256): what `load_clip` resizes to (the offline re-encoding); 0 keeps
            the decoded size.
        num_offset_classes (`int`, 21), max_offset_sec (`float`, 2.0), offset_grid_type (`"linspace"`): the grid.
        clip_max_length_sec (`float`, defaults to 10.0): streams are first cut to at most this (the reference code).
        crop_size (`int`, optional): a shortcut for `video_processor=SparseSyncVideoProcessor(crop_size=...)` (it is
            the video processor's setting, saved with it).
    """

    def __init__(
        self,
        feature_extractor=None,
        video_processor=None,
        video_fps: float = 25.0,
        clip_length_sec: float = 5.0,
        resize_shorter_side: int = 256,
        num_offset_classes: int = 21,
        max_offset_sec: float = 2.0,
        offset_grid_type: str = "linspace",
        clip_max_length_sec: float = 10.0,
        crop_size: int | None = None,
        **kwargs,
    ):
        if feature_extractor is None:
            feature_extractor = SparseSyncFeatureExtractor()
        if video_processor is None:
            video_processor = SparseSyncVideoProcessor(**({} if crop_size is None else {"crop_size": crop_size}))
        elif crop_size is not None and int(crop_size) != video_processor.crop_side:
            raise ValueError(f"crop_size {crop_size} contradicts the video processor's {video_processor.crop_side}")
        self.video_fps = float(video_fps)
        self.clip_length_sec = float(clip_length_sec)
        self.resize_shorter_side = int(resize_shorter_side)
        self.num_offset_classes = int(num_offset_classes)
        self.max_offset_sec = float(max_offset_sec)
        self.offset_grid_type = offset_grid_type
        self.clip_max_length_sec = float(clip_max_length_sec)
        self.offset_grid()  # a bad grid raises here
        super().__init__(feature_extractor, video_processor, **kwargs)

    @property
    def crop_size(self) -> int:
        return self.video_processor.crop_side

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

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        """Also loads a processor saved before the video processor existed (`crop_size`, `image_mean`, `image_std`
        at the top level of `processor_config.json`); its old training-augmentation keys are ignored (augmentation
        is `videozoo.data.sparsesync_augmentation` now)."""
        legacy = processor_dict or {}
        if "video_processor" in legacy or "crop_size" not in legacy:
            return super()._get_arguments_from_pretrained(pretrained_model_name_or_path, processor_dict, **kwargs)
        kwargs.pop("subfolder", None)
        frames = {key: legacy[key] for key in ("crop_size", "image_mean", "image_std") if key in legacy}
        return [
            AutoFeatureExtractor.from_pretrained(pretrained_model_name_or_path, **kwargs),
            SparseSyncVideoProcessor(**frames),
        ]

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

    # ------------------------------------------------------------------ crops
    def check_audio_jitter(self, audio_jitter_sec: float) -> None:
        """A jitter of the audio crop must stay within half a grid step, or it would change labels."""
        grid = self.offset_grid()
        if len(grid) > 1 and audio_jitter_sec > (grid[1] - grid[0]) / 2 + 1e-9:
            raise ValueError(
                f"audio_jitter_sec {audio_jitter_sec} exceeds half a grid step ({(grid[1] - grid[0]) / 2:.3f} s): "
                "it would change labels"
            )

    def crop_clips(
        self,
        videos,
        audios=None,
        sampling_rate: int | None = None,
        video_fps: float | None = None,
        offsets=None,
        video_starts=None,
        rngs=None,
        audio_jitter_sec: float = 0.0,
        names=None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[CropPlan]]:
        """The temporal crops of each clip -> (uint8 frames `(crop_frames, 3, H, W)`, waveforms `(crop_samples,)`,
        `CropPlan`s). Fixed crops at `offsets` / `video_starts` (or offset 0 at start 0); with `rngs` (one
        `numpy.random.Generator` per clip), the offset sampler, plus an audio jitter of up to `audio_jitter_sec`
        (training). Arguments as `__call__`."""
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
        self.check_audio_jitter(audio_jitter_sec)
        count = len(videos)
        names = (
            list(names) if names is not None else [getattr(v, "path", "") or f"clip {i}" for i, v in enumerate(videos)]
        )
        if (offsets is None) != (video_starts is None):
            raise ValueError("give both offsets and video_starts (fixed evaluation crops) or neither")
        if offsets is not None and (len(offsets) != count or len(video_starts) != count):
            raise ValueError(f"offsets and video_starts need one value per clip ({count})")
        if rngs is not None and len(rngs) != count:
            raise ValueError(f"rngs needs one generator per clip ({count})")
        grid = self.offset_grid()
        crop_frames, crop_samples = self.crop_frames, self.crop_samples
        all_frames, all_waves, plans = [], [], []
        for index in range(count):
            name = names[index]
            frames = as_uint8_frames(videos[index], name)
            try:
                wave = self.feature_extractor._waveform(audios[index])
            except ValueError as error:
                raise ValueError(f"{name}: audios[{index}]: {error}") from error
            num_frames, num_samples = equalize_lengths(
                len(frames), len(wave), video_fps, sampling_rate, self.clip_max_length_sec
            )
            shape = (num_frames, num_samples, grid, self.clip_length_sec, video_fps, sampling_rate)
            if offsets is not None:
                plan = fixed_crop(*shape, offsets[index], video_starts[index], name)
            elif rngs is not None:
                plan = sample_crop(*shape, rngs[index], audio_jitter_sec, name)
            else:
                plan = fixed_crop(*shape, 0.0, 0.0, name)
            clip_frames = frames[plan.video_start_frame : plan.video_start_frame + crop_frames]
            clip_wave = wave[plan.audio_start_sample : plan.audio_start_sample + crop_samples]
            if len(clip_frames) != crop_frames or len(clip_wave) != crop_samples:
                raise ValueError(
                    f"{name}: wrong crop length ({len(clip_frames)} frames, {len(clip_wave)} samples; "
                    f"expected {crop_frames} and {crop_samples})"
                )
            all_frames.append(clip_frames)
            all_waves.append(clip_wave)
            plans.append(plan)
        return all_frames, all_waves, plans

    def pack(self, pixel_values: torch.Tensor, input_features: torch.Tensor, plans: list[CropPlan]) -> BatchFeature:
        """Model inputs and the crops' labels as one `BatchFeature` (see `__call__`)."""
        grid = self.offset_grid()
        return BatchFeature(
            {
                "pixel_values": pixel_values,
                "input_features": input_features,
                "labels": torch.tensor([p.label for p in plans], dtype=torch.long),
                "offset_sec": torch.tensor([grid[p.label] for p in plans], dtype=torch.float32),
                "video_start_sec": torch.tensor([p.video_start_sec for p in plans], dtype=torch.float64),
                "video_start_frame": torch.tensor([p.video_start_frame for p in plans], dtype=torch.long),
                "audio_start_sample": torch.tensor([p.audio_start_sample for p in plans], dtype=torch.long),
                "audio_jitter": torch.tensor([p.audio_jitter for p in plans], dtype=torch.long),
            }
        )

    # ------------------------------------------------------------------ everything
    def __call__(
        self,
        videos=None,
        audios=None,
        sampling_rate: int | None = None,
        video_fps: float | None = None,
        offsets=None,
        video_starts=None,
        random_offsets: bool = False,
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
                them: offset 0 at start 0, or with `random_offsets` the sampler.
            random_offsets: draw (offset, start) with the sampler, from `seeds` (per clip an int; `fit` gives
                `sample_seed`; fresh entropy when None).
            names: per clip a name (e.g. the file) used in error messages.
        Returns:
            `pixel_values` (B, T, 3, crop, crop), `input_features` (B, F, frames), `labels` (B,), `offset_sec` (B,)
            the grid value of the label, `video_start_sec`, `video_start_frame`, `audio_start_sample`, `audio_jitter`.
        """
        if kwargs:
            raise TypeError(
                f"SparseSyncProcessor got unexpected arguments {sorted(kwargs)}; training transforms are "
                "videozoo.data.sparsesync_augmentation.SparseSyncAugmentation (given to SparseSyncCollator)"
            )
        rngs = None
        if random_offsets:
            single = isinstance(videos, DecodedClip) or (
                isinstance(videos, (torch.Tensor, np.ndarray)) and np.ndim(videos) == 4
            )
            count = 1 if single else len(videos)
            seeds = seeds if seeds is not None else [int(s) for s in np.random.SeedSequence().generate_state(count)]
            rngs = [np.random.default_rng(int(seed)) for seed in seeds]
        frames, waves, plans = self.crop_clips(
            videos, audios, sampling_rate, video_fps, offsets, video_starts, rngs, names=names
        )
        pixel_values = self.video_processor(frames)["pixel_values"]
        features = torch.stack([self.feature_extractor.log_spectrogram(wave) for wave in waves])
        return self.pack(pixel_values, features, plans)


__all__ = [
    "ClipTooShortError",
    "CropPlan",
    "SparseSyncProcessor",
    "equalize_lengths",
    "fixed_crop",
    "nearest_class",
    "sample_crop",
]
