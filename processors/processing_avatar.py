"""Processor for AVATAR: log-mel audio (`AvatarFeatureExtractor`), a few full RGB frames per clip, and the BERT-uncased
WordPiece targets with the reference's text normalisation and detokenisation."""

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BatchFeature, BertTokenizerFast, ProcessorMixin

from .augmentation_avatar import (
    SPEC_AUGMENT_POLICIES,
    colour_augment,
    scale_jitter_size,
)
from .augmentation_avatar import (
    spec_augment as apply_spec_augment,
)
from .feature_extraction_avatar import AvatarFeatureExtractor
from .validation import as_mono_waveform, require_sampling_rate, require_text, waveform_list
from .video_io import MediaDecodingError, load_audio, open_media

# The reference's `custom_standardization`: lower-case, then delete these characters (the apostrophe is kept).
PUNCTUATION = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'
_PUNCTUATION_RE = re.compile("[" + re.escape(PUNCTUATION) + "]")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def normalize_text(text: str) -> str:
    """Reference normalisation of a transcript: lower-case, punctuation except the apostrophe removed, whitespace
    collapsed ("Don't stop, OK?" -> "don't stop ok")."""
    return " ".join(_PUNCTUATION_RE.sub("", text.lower()).split())


def detokenize(tokens: list[str]) -> str:
    """Reference detokenisation of wordpieces: join with spaces, glue `##` pieces, `" ' "` -> `"'"`, collapse
    spaces."""
    text = " ".join(tokens).replace(" ##", "")
    return " ".join(text.replace(" ' ", "'").split())


def write_vocab(words, path: str | Path) -> Path:
    """A WordPiece `vocab.txt` made of the BERT special tokens then `words` (whole words, for small offline
    vocabularies)."""
    path = Path(path)
    entries = list(SPECIAL_TOKENS) + [w for w in dict.fromkeys(words) if w not in SPECIAL_TOKENS]
    path.write_text("\n".join(entries) + "\n")
    return path


# ----------------------------------------------------------------------------- media decoding (PyAV)
def _open_stream(path: str | Path, kind: str):
    """(container, first stream of `kind`) of a media file, opened by the zoo's one media module (`video_io`)."""
    container = open_media(Path(path))
    streams = getattr(container.streams, kind)
    if not streams:
        container.close()
        raise MediaDecodingError(f"{path} has no {kind} stream")
    return container, streams[0]


def decode_audio(
    path: str | Path, start: float | None = None, end: float | None = None
) -> tuple[np.ndarray, int, float]:
    """Audio of a media file (optionally the [start, end] seconds) -> (`(channels, samples)` float32, rate,
    seconds), decoded by `video_io.load_audio`."""
    samples, rate = load_audio(path)
    first = 0 if start is None else int(round(start * rate))
    last = samples.shape[1] if end is None else int(round(end * rate))
    samples = samples[:, first:last].numpy()
    return samples, rate, samples.shape[1] / rate


def decode_video(
    path: str | Path, start: float | None = None, end: float | None = None
) -> tuple[np.ndarray, float, float]:
    """RGB frames of a media file within [start, end] seconds -> (`(T, H, W, 3)` uint8, fps, seconds covered)."""
    import av

    container, stream = _open_stream(path, "video")
    with container:
        fps = float(stream.average_rate or stream.guessed_rate or 0) or None
        frames = []
        try:
            for frame in container.decode(stream):
                time = float(frame.pts * stream.time_base) if frame.pts is not None else None
                if start is not None and time is not None and time < start:
                    continue
                if end is not None and time is not None and time >= end:
                    break
                frames.append(frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as error:
            raise ValueError(f"corrupt video in {path}: {error}") from error
    if not frames:
        raise ValueError(f"{path}: no video frame in the requested window ({start}, {end})")
    if fps is None:
        raise ValueError(f"{path}: unknown frame rate")
    return np.stack(frames), fps, len(frames) / fps


# ----------------------------------------------------------------------------- frames
def sample_frame_indices(
    num_available: int, num_frames: int, stride: float, training: bool = False, rng: np.random.Generator | None = None
) -> np.ndarray:
    """`num_frames` indices `stride` stored frames apart: a central window at evaluation, a random one in training;
    clips too short for the window repeat their frames (the window is clamped to the clip), as the reference."""
    if num_available < 1:
        raise ValueError("the video has no frame")
    span = (num_frames - 1) * stride
    if training and span < num_available - 1:
        rng = rng if rng is not None else np.random.default_rng()
        offset = rng.uniform(0.0, num_available - 1 - span)
    else:
        offset = (num_available - 1 - span) / 2.0
    positions = offset + stride * np.arange(num_frames)
    return np.clip(np.round(positions), 0, num_available - 1).astype(np.int64)


def _crop_shape(crop_size: int | Sequence[int]) -> tuple[int, int]:
    """`crop_size` (one side, or `(height, width)`) as `(height, width)`; raises on anything else."""
    size = [crop_size] if isinstance(crop_size, int) else list(crop_size)
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise ValueError(f"crop_size must be a positive int or (height, width), got {crop_size!r}")
    return size[0], size[1]


def resize_and_crop(
    frames: torch.Tensor,
    shortest_edge: int,
    crop_size: int | Sequence[int],
    training: bool = False,
    rng: np.random.Generator | None = None,
    random_flip: bool = True,
    scale_jitter: tuple[float, float] | None = None,
) -> torch.Tensor:
    """`(T, H, W, 3)` 0..255 -> `(3, T, crop_h, crop_w)` in [-1, 1]: bilinear resize of the short side to
    `shortest_edge` (never below the crop), central crop of `crop_size` (one side, or `(height, width)`; in
    training: scale jitter of height and width by independent `U(scale_jitter)` factors when given, random crop and
    horizontal flip), then `x * 2 / 255 - 1`."""
    crop_h, crop_w = _crop_shape(crop_size)
    video = frames.permute(0, 3, 1, 2).float()  # (T, 3, H, W)
    height, width = video.shape[-2:]
    if min(height, width) != shortest_edge:
        scale = shortest_edge / min(height, width)
        size = (max(crop_h, round(height * scale)), max(crop_w, round(width * scale)))
        video = F.interpolate(video, size=size, mode="bilinear", align_corners=False, antialias=False)
    height, width = video.shape[-2:]
    if height < crop_h or width < crop_w:
        raise ValueError(f"frames of {height}x{width} are smaller than the {crop_h}x{crop_w} crop")
    if training:
        rng = rng if rng is not None else np.random.default_rng()
        if scale_jitter is not None:
            jittered = scale_jitter_size(height, width, rng, scale_jitter)
            size = (max(crop_h, jittered[0]), max(crop_w, jittered[1]))  # never below the crop
            if size != (height, width):
                video = F.interpolate(video, size=size, mode="bilinear", align_corners=False, antialias=False)
                height, width = size
        top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
    else:
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
    video = video[:, :, top : top + crop_h, left : left + crop_w]
    if training and random_flip and rng.random() < 0.5:
        video = video.flip(-1)
    return (video * (2.0 / 255.0) - 1.0).permute(1, 0, 2, 3).contiguous()


class AvatarProcessor(ProcessorMixin):
    r"""
    Inputs and targets of [`AvatarForConditionalGeneration`].

    - audio -> `input_features` `(batch, max_frames, 80)` through [`AvatarFeatureExtractor`] (waveforms with their
      `sampling_rate`, or media file paths);
    - video -> `pixel_values` `(batch, 3, num_frames, crop_h, crop_w)` in [-1, 1]: `num_frames` full frames
      `1 / frames_per_second` seconds apart around the clip centre (random window, random crop and flip with
      `training=True`), short side resized to `shortest_edge`, central crop. Videos are `(T, H, W, 3)` arrays
      (uint8 or 0..255 floats; give `video_fps` to sample in time, otherwise consecutive array frames are used) or
      media file paths;
    - text -> `labels` `(batch, L)`: `normalize_text`, BERT-uncased WordPiece, `[SEP]` appended, then cut to
      `max_target_tokens` (so an over-long transcript loses its `[SEP]`, as in the reference), right-padded with 0.
    `batch_decode` turns generated ids (without the decoder start token) back into text the reference's way.

    When a clip has both audio and video of known duration, they must agree within `max_duration_mismatch` seconds
    (the reference takes audio from the clip start and video around the centre, so very different durations mean
    mismatched inputs): otherwise a `ValueError` names both durations.

    Args:
        feature_extractor ([`AvatarFeatureExtractor`]), tokenizer ([`BertTokenizerFast`], uncased, from a local
        vocabulary), num_frames (2), frames_per_second (2.5: the paper's 2 frames at 2.5 fps), shortest_edge (256),
        crop_size (224; one side, or `[height, width]` to match the model's `image_size`), max_target_tokens (128: the
        evaluation length; training uses 64), max_duration_mismatch (1.0),
        random_flip (`True`: horizontal flips in training; off where left and right carry meaning),
        scale_jitter / prob_color_augment / prob_color_drop (training only; off by default: `None`, 0, 0; the
        reference's training values are `augmentation_avatar.REFERENCE_VIDEO_AUGMENTATION`, (0.9, 1.33), 0.8, 0.1),
        spec_augment_policy ("reference": 2 frequency masks, the reference code; "park": time warp + 2 frequency and 2
        time masks, the paper's citation), used by `spec_augment=True`.
    """

    def __init__(
        self,
        feature_extractor=None,
        tokenizer=None,
        num_frames: int = 2,
        frames_per_second: float = 2.5,
        shortest_edge: int = 256,
        crop_size: int | list[int] | tuple[int, int] = 224,
        max_target_tokens: int = 128,
        max_duration_mismatch: float = 1.0,
        random_flip: bool = True,
        scale_jitter: tuple[float, float] | list[float] | None = None,
        prob_color_augment: float = 0.0,
        prob_color_drop: float = 0.0,
        spec_augment_policy: str = "reference",
        **kwargs,
    ):
        if spec_augment_policy not in SPEC_AUGMENT_POLICIES:
            raise ValueError(
                f"spec_augment_policy must be one of {SPEC_AUGMENT_POLICIES}, got {spec_augment_policy!r}"
            )
        for name, value in (("prob_color_augment", prob_color_augment), ("prob_color_drop", prob_color_drop)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if scale_jitter is not None and not (len(scale_jitter) == 2 and 0 < scale_jitter[0] <= scale_jitter[1]):
            raise ValueError(f"scale_jitter must be (low, high) with 0 < low <= high, got {scale_jitter}")
        self.random_flip = random_flip
        self.scale_jitter = None if scale_jitter is None else [float(v) for v in scale_jitter]
        self.prob_color_augment = float(prob_color_augment)
        self.prob_color_drop = float(prob_color_drop)
        self.spec_augment_policy = spec_augment_policy
        self.num_frames = num_frames
        self.frames_per_second = frames_per_second
        self.shortest_edge = shortest_edge
        _crop_shape(crop_size)  # validated before anything is stored
        self.crop_size = crop_size if isinstance(crop_size, int) else [int(v) for v in crop_size]
        self.max_target_tokens = max_target_tokens
        self.max_duration_mismatch = max_duration_mismatch
        super().__init__(feature_extractor, tokenizer, **kwargs)

    @classmethod
    def from_vocab_file(
        cls, vocab_file: str | Path, feature_extractor: AvatarFeatureExtractor | None = None, **kwargs
    ) -> "AvatarProcessor":
        """Build from a local BERT-uncased `vocab.txt` (no download)."""
        path = Path(vocab_file)
        if not path.is_file():
            raise FileNotFoundError(f"no WordPiece vocabulary at {path}")
        tokenizer = BertTokenizerFast(vocab=str(path), do_lower_case=True, strip_accents=None)
        return cls(feature_extractor or AvatarFeatureExtractor(), tokenizer, **kwargs)

    # ------------------------------------------------------------------ text
    normalize_text = staticmethod(normalize_text)

    def encode_targets(
        self, texts, max_target_tokens: int | None = None, pad_to_max_length: bool = False
    ) -> torch.Tensor:
        """Transcripts -> `labels` `(batch, L)` (PAD = 0; `[SEP]` after the last wordpiece, cut with the caption)."""
        limit = max_target_tokens or self.max_target_tokens
        tokenizer = self.tokenizer
        if tokenizer.pad_token_id != 0:
            raise ValueError(
                f"the vocabulary must have [PAD] at id 0 (the model's start and pad id), got {tokenizer.pad_token_id}"
            )
        texts = require_text("text", texts)
        ids = [
            (tokenizer(normalize_text(t), add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id])[:limit]
            for t in texts
        ]
        width = limit if pad_to_max_length else max(len(i) for i in ids)
        labels = torch.zeros(len(ids), width, dtype=torch.long)
        for row, values in enumerate(ids):
            labels[row, : len(values)] = torch.tensor(values)
        return labels

    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """Generated ids (start token removed) -> transcripts: cut at the first `[SEP]` or `[PAD]`, wordpieces joined
        the reference's way (`play ##ing` -> "playing", `don ' t` -> "don't")."""
        stop = {self.tokenizer.sep_token_id, self.tokenizer.pad_token_id}
        texts = []
        for row in sequences.tolist() if isinstance(sequences, torch.Tensor) else sequences:
            row = list(row)
            cut = next((i for i, t in enumerate(row) if t in stop), len(row))
            texts.append(detokenize(self.tokenizer.convert_ids_to_tokens(row[:cut])))
        return texts

    def decode(self, sequence, **kwargs) -> str:
        return self.batch_decode([sequence])[0]

    # ------------------------------------------------------------------ video
    def video_to_pixels(self, video, video_fps: float | None = None, training: bool = False, rng=None) -> torch.Tensor:
        """One clip's frames `(T, H, W, 3)` -> `(3, num_frames, crop_h, crop_w)`."""
        frames = torch.as_tensor(np.asarray(video))
        if frames.dim() != 4 or frames.shape[-1] != 3:
            raise ValueError(f"a video must be (frames, height, width, 3) RGB, got shape {tuple(frames.shape)}")
        if frames.shape[0] == 0:
            raise ValueError("the video has no frame")
        if frames.is_floating_point():
            if not torch.isfinite(frames).all():
                raise ValueError("the video contains NaN or inf")
            if frames.min() < 0 or frames.max() > 255:
                raise ValueError("float video frames must be in 0..255 (uint8 scale)")
        stride = 1.0 if video_fps is None else video_fps / self.frames_per_second
        indices = sample_frame_indices(frames.shape[0], self.num_frames, stride, training, rng)
        pixels = resize_and_crop(
            frames[torch.from_numpy(indices)],
            self.shortest_edge,
            self.crop_size,
            training,
            rng,
            self.random_flip,
            self.scale_jitter if training else None,
        )
        if training and (self.prob_color_augment > 0 or self.prob_color_drop > 0):
            pixels = colour_augment(
                pixels,
                rng if rng is not None else np.random.default_rng(),
                self.prob_color_augment,
                self.prob_color_drop,
            )
        return pixels

    # ------------------------------------------------------------------ everything
    def __call__(
        self,
        audio=None,
        sampling_rate: int | None = None,
        video=None,
        video_fps=None,
        text=None,
        clip_start=None,
        clip_end=None,
        training: bool = False,
        rngs=None,
        spec_augment: bool = False,
        truncation: bool = False,
        allow_silent: bool = False,
        max_target_tokens: int | None = None,
        return_tensors: str = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            audio: waveforms (with `sampling_rate`) or media file paths, one per clip (a 2-D array is a batch of
                mono clips; give `(channels, samples)` clips inside a list).
            video: `(T, H, W, 3)` arrays (with `video_fps`, a number or one per clip) or media file paths.
            text: transcripts -> `labels`.
            clip_start / clip_end: seconds, per clip, of the segment to read from media files.
            training: random frame window, crop and flip, the optional scale jitter and colour augmentation (draws
                from `rngs`, one `numpy` generator per clip), and SpecAugment when `spec_augment` is set (`True`: the
                processor's `spec_augment_policy`; or a policy name).
            truncation / allow_silent: see [`AvatarFeatureExtractor`].
        """
        if audio is None and video is None and text is None:
            raise ValueError("give audio, video or text")

        def single(x) -> bool:  # one clip (a path, a waveform or a (T, H, W, C) video) rather than a list
            return isinstance(x, (str, Path)) or (isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim in (1, 4))

        if isinstance(audio, (np.ndarray, torch.Tensor)) and audio.ndim != 1:
            audio = waveform_list("audio", audio)  # refuses the (samples, channels) layout
        audio = [audio] if audio is not None and single(audio) else audio
        video = [video] if video is not None and single(video) else video
        text = require_text("text", text) if text is not None else None
        count = len(audio if audio is not None else video if video is not None else text)
        for name, items in (("audio", audio), ("video", video), ("text", text)):
            if items is not None and len(items) != count:
                raise ValueError(f"{name} has {len(items)} clips, the other inputs {count}")
        per_clip = lambda value: list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * count  # noqa: E731
        starts, ends, fps = per_clip(clip_start), per_clip(clip_end), per_clip(video_fps)
        rngs = (
            rngs
            if rngs is not None
            else [np.random.default_rng() for _ in range(count)]
            if training
            else [None] * count
        )
        data = {}
        audio_seconds = [None] * count
        if audio is not None:
            waves, rates = [], []
            for i, item in enumerate(audio):
                if isinstance(item, (str, Path)):
                    wave, rate, audio_seconds[i] = decode_audio(item, starts[i], ends[i])
                else:
                    rate = require_sampling_rate("sampling_rate", sampling_rate, self.feature_extractor.sampling_rate)
                    wave = as_mono_waveform(f"audio[{i}]", item)
                    audio_seconds[i] = np.shape(item)[-1] / sampling_rate
                waves.append(wave)
                rates.append(rate)
            policy = (
                spec_augment if isinstance(spec_augment, str) else self.spec_augment_policy if spec_augment else None
            )
            if policy is not None and policy not in SPEC_AUGMENT_POLICIES:
                raise ValueError(
                    f"spec_augment must be a bool or one of {SPEC_AUGMENT_POLICIES}, got {spec_augment!r}"
                )
            features, computed = [], []
            for i, (wave, rate) in enumerate(zip(waves, rates)):
                try:
                    out = self.feature_extractor(
                        wave,
                        sampling_rate=rate,
                        truncation=truncation,
                        allow_silent=allow_silent,
                        return_frame_mask=True,
                    )
                except ValueError as error:
                    raise ValueError(f"clip {i}: {error}") from error
                features.append(out["input_features"][0])
                computed.append(int(out["audio_frame_mask"][0].sum()))
            features = torch.stack(features)
            if training and policy is not None:
                features = torch.stack(
                    [apply_spec_augment(f, rngs[i], policy, computed[i]) for i, f in enumerate(features)]
                )
            data["input_features"] = features
        if video is not None:
            pixels = []
            for i, item in enumerate(video):
                rate = fps[i]
                if isinstance(item, (str, Path)):
                    item, rate, seconds = decode_video(item, starts[i], ends[i])
                else:
                    seconds = np.shape(item)[0] / rate if rate else None
                if audio_seconds[i] is not None and seconds is not None:
                    if abs(audio_seconds[i] - seconds) > self.max_duration_mismatch:
                        raise ValueError(
                            f"clip {i}: the audio lasts {audio_seconds[i]:.2f} s but the video {seconds:.2f} s "
                            f"(more than max_duration_mismatch = {self.max_duration_mismatch} s apart)"
                        )
                pixels.append(self.video_to_pixels(item, rate, training, rngs[i]))
            data["pixel_values"] = torch.stack(pixels)
        if text is not None:
            data["labels"] = self.encode_targets(text, max_target_tokens)
        return BatchFeature(data, tensor_type=return_tensors)


__all__ = [
    "AvatarProcessor",
    "decode_audio",
    "decode_video",
    "detokenize",
    "normalize_text",
    "resize_and_crop",
    "sample_frame_indices",
    "write_vocab",
]
