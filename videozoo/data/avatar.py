"""Datasets for AVATAR: the How2 and VisSpeech layouts and an embedded synthetic audio-visual speech
recognition task where vision disambiguates words that corrupted audio hides, in one Arrow schema, one
row per clip:

    id             string
    text           string    the transcript (raw; the processor normalises it)
    media_path     string    a media file with the clip's audio and video ("" when the row carries arrays)
    clip_start     float32   seconds in the media file where the clip starts (NaN: the file is the clip)
    clip_end       float32   seconds where it ends (NaN: the end of the file)
    words          list of string   word alignment (may be empty): the words ...
    word_start_ms  list of float32  ... their start and end, in ms from the clip start
    word_end_ms    list of float32
    audio          list of float32  the waveform, for rows that carry arrays (synthetic); empty otherwise
    sampling_rate  int32
    video          Array4D((frames, H, W, 3), uint8), for rows that carry arrays; absent for media datasets
    video_fps      float32   (NaN: consecutive frames are used)

`AvatarCollator` turns rows into model inputs: it reads the clip's audio and frames (media file, decoded by
`processors/video_io.py`, or arrays), then either runs `AvatarProcessor` (evaluation, optionally after one corruption:
noise at an SNR, burst loss, masked words, shuffled / zeroed frames) or, given an `AvatarAugmentation` (training),
runs the processor on the augmented waveforms and the augmentation's random frame crops
(`videozoo.data.avatar_augmentation`).

Layouts read (the files the datasets are distributed with, plus the media):
- How2 (Kaldi-style data folders of the 300 h release): `<root>/<split>/text` ("<utt_id> <transcript>") and
  `<root>/<split>/segments` ("<utt_id> <video_id> <start_s> <end_s>"); media `<video_dir>/<video_id>.<ext>`;
  optional word alignment of a forced aligner as CTM, `<root>/<split>/alignment.ctm`
  ("<utt_id> <channel> <start_s> <duration_s> <word>", times relative to the segment).
- VisSpeech (a CSV of HowTo100M segments): columns `video_id`, `start_time`, `end_time`, `transcript` (other names
  can be given); media `<video_dir>/<video_id>.<ext>`. Test only.
Training splits drop clips of 25 s or more (the reference); test rows are de-duplicated by clip id.
"""

import csv
import math
from pathlib import Path

import datasets
import numpy as np
import torch

from ..processors.augmentation_avatar import (
    add_environment_noise,
    burst_loss,
    content_word_candidates,
    mask_word_spans,
    snr_from_db,
)
from ..processors.processing_avatar import AvatarProcessor
from ..processors.video_io import load_audio, load_video
from .avatar_augmentation import AvatarAugmentation, computed_frames

MEDIA_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".wav", ".flac")
MAX_TRAIN_SECONDS = 25.0


def avatar_features(num_frames: int | None = None, frame_size: int | None = None) -> datasets.Features:
    columns = {
        "id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "media_path": datasets.Value("string"),
        "clip_start": datasets.Value("float32"),
        "clip_end": datasets.Value("float32"),
        "words": datasets.Sequence(datasets.Value("string")),
        "word_start_ms": datasets.Sequence(datasets.Value("float32")),
        "word_end_ms": datasets.Sequence(datasets.Value("float32")),
        "audio": datasets.Sequence(datasets.Value("float32")),
        "sampling_rate": datasets.Value("int32"),
        "video_fps": datasets.Value("float32"),
    }
    if num_frames is not None:
        columns["video"] = datasets.Array4D((num_frames, frame_size, frame_size, 3), "uint8")
    return datasets.Features(columns)


def _to_dataset(rows: list[dict], features: datasets.Features) -> datasets.Dataset:
    return datasets.Dataset.from_dict({key: [row[key] for row in rows] for key in features}, features=features)


def _media_row(clip_id, text, path, start, end, alignment=None) -> dict:
    words, starts, ends = alignment if alignment else ([], [], [])
    return {
        "id": clip_id,
        "text": text,
        "media_path": str(path),
        "clip_start": float(start),
        "clip_end": float(end),
        "words": list(words),
        "word_start_ms": list(starts),
        "word_end_ms": list(ends),
        "audio": [],
        "sampling_rate": 0,
        "video_fps": float("nan"),
    }


def _find_media(video_dir: Path, video_id: str) -> Path:
    for extension in MEDIA_EXTENSIONS:
        candidate = video_dir / f"{video_id}{extension}"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no media file for video {video_id!r} in {video_dir} (looked for {', '.join(MEDIA_EXTENSIONS)})"
    )


def _finish(rows: list[dict], training: bool, source: str) -> datasets.Dataset:
    if not rows:
        raise ValueError(f"{source} lists no clip")
    if training:
        rows = [
            r for r in rows if not (r["clip_end"] - r["clip_start"] >= MAX_TRAIN_SECONDS)
        ]  # the reference's filter
    else:
        seen, unique = set(), []
        for row in rows:
            if row["id"] not in seen:
                seen.add(row["id"])
                unique.append(row)
        rows = unique
    return _to_dataset(rows, avatar_features())


def read_ctm(path: str | Path) -> dict[str, tuple[list[str], list[float], list[float]]]:
    """A CTM word alignment -> `{utt_id: (words, start_ms, end_ms)}` in file order."""
    alignments: dict[str, tuple[list, list, list]] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith(";;"):
            continue
        parts = line.split()
        if len(parts) < 5:
            raise ValueError(
                f"{path}:{number}: a CTM line needs '<utt> <channel> <start> <duration> <word>', got {line!r}"
            )
        utt, start, duration, word = parts[0], float(parts[2]), float(parts[3]), parts[4]
        words, starts, ends = alignments.setdefault(utt, ([], [], []))
        words.append(word)
        starts.append(1000.0 * start)
        ends.append(1000.0 * (start + duration))
    return alignments


def load_how2_split(
    root: str | Path, split: str, video_dir: str | Path, training: bool = False, alignment: str | Path | None = None
) -> datasets.Dataset:
    """One split of the How2 layout (see the module docstring) -> rows that point into the media files."""
    folder = Path(root) / split
    text_path = next((folder / n for n in ("text", "text.en") if (folder / n).is_file()), None)
    if text_path is None or not (folder / "segments").is_file():
        raise FileNotFoundError(f"{folder} must hold 'text' (or 'text.en') and 'segments'")
    texts = {}
    for line in text_path.read_text().splitlines():
        if line.strip():
            utt, _, text = line.partition(" ")
            texts[utt] = text.strip()
    ctm = folder / "alignment.ctm" if alignment is None else Path(alignment)
    alignments = read_ctm(ctm) if ctm.is_file() else {}
    rows = []
    for number, line in enumerate((folder / "segments").read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(
                f"{folder / 'segments'}:{number}: expected '<utt_id> <video_id> <start> <end>', got {line!r}"
            )
        utt, video_id, start, end = parts[0], parts[1], float(parts[2]), float(parts[3])
        if utt not in texts:
            raise ValueError(f"{text_path} has no transcript for segment {utt!r}")
        rows.append(
            _media_row(utt, texts[utt], _find_media(Path(video_dir), video_id), start, end, alignments.get(utt))
        )
    return _finish(rows, training, str(folder / "segments"))


def load_visspeech(
    csv_path: str | Path,
    video_dir: str | Path,
    video_column: str = "video_id",
    start_column: str = "start_time",
    end_column: str = "end_time",
    text_column: str = "transcript",
) -> datasets.Dataset:
    """The VisSpeech test set: a CSV of segments of HowTo100M videos (see the module docstring)."""
    rows = []
    with open(csv_path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {video_column, start_column, end_column, text_column} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path} lacks the column(s) {sorted(missing)} (has {reader.fieldnames})")
        for record in reader:
            start, end = float(record[start_column]), float(record[end_column])
            clip_id = f"{record[video_column]}_{start:.2f}_{end:.2f}"
            rows.append(
                _media_row(
                    clip_id, record[text_column], _find_media(Path(video_dir), record[video_column]), start, end
                )
            )
    return _finish(rows, False, str(csv_path))


# ----------------------------------------------------------------------------- synthetic task (SynthAV-ASR)
SYNTHETIC_STOP_WORDS = ("the", "a", "and", "then", "with", "of", "to", "in")
SYNTHETIC_CONTENT_WORDS = (
    "apple",
    "bread",
    "carrot",
    "dough",
    "egg",
    "fish",
    "garlic",
    "honey",
    "knife",
    "lemon",
    "melon",
    "noodle",
    "onion",
    "pepper",
    "rice",
    "salt",
)
# one colour per content word (16 hues of a colour wheel, alternately bright and dark)
SYNTHETIC_COLOURS = (
    np.array(
        [
            [
                255 * max(0.0, min(1.0, abs((h * 6 + shift) % 6 - 3) - 1)) * (1.0 if k % 2 == 0 else 0.55)
                for shift in (0, 4, 2)
            ]
            for k, h in enumerate(np.arange(16) / 16)
        ]
    )
    .round()
    .astype(np.uint8)
)
SYNTHETIC_WORD_SECONDS = 0.16  # 16 log-mel frames per word, 4 words = 64 frames
SYNTHETIC_RATE = 16000


def _word_templates(seed: int) -> np.ndarray:
    """One fixed chord per vocabulary word: 3 tones of distinct frequencies from 24 mel-spaced ones (150-6500 Hz)."""
    rng = np.random.default_rng([seed, 7])
    mel = np.linspace(1127 * np.log1p(150 / 700), 1127 * np.log1p(6500 / 700), 24)
    frequencies = 700 * np.expm1(mel / 1127)
    vocabulary = len(SYNTHETIC_STOP_WORDS) + len(SYNTHETIC_CONTENT_WORDS)
    chords, seen = [], set()
    while len(chords) < vocabulary:
        chord = tuple(sorted(rng.choice(24, 3, replace=False)))
        if chord not in seen:
            seen.add(chord)
            chords.append(frequencies[list(chord)])
    return np.array(chords)


def _render_clip(
    word_ids: list[int], content: int, templates: np.ndarray, rng: np.random.Generator, frame_size: int = 32
):
    """Waveform (words as tone chords with a Hann envelope, random level and pitch jitter, on background noise)
    and 2 frames (noise + an 8x8 cell of the content word's colour at grid position (content // 4, content % 4))."""
    n = int(SYNTHETIC_WORD_SECONDS * SYNTHETIC_RATE)
    t = np.arange(n) / SYNTHETIC_RATE
    pieces = []
    for word in word_ids:
        jitter = rng.uniform(0.97, 1.03)
        phases = rng.uniform(0, 2 * np.pi, 3)
        chord = sum(np.sin(2 * np.pi * f * jitter * t + p) for f, p in zip(templates[word], phases))
        pieces.append(rng.uniform(0.3, 1.0) * np.hanning(n) * chord / 3)
    wave = np.concatenate(pieces) + 0.01 * rng.standard_normal(n * len(word_ids))
    cell = frame_size // 4
    frame = np.clip(128 + 12.75 * rng.standard_normal((frame_size, frame_size, 3)), 0, 255)
    row, column = divmod(content, 4)
    frame[row * cell : (row + 1) * cell, column * cell : (column + 1) * cell] = SYNTHETIC_COLOURS[content]
    video = np.repeat(frame[None].astype(np.uint8), 2, axis=0)
    return wave.astype(np.float32), video


def synthetic_avatar_dataset(
    num_train_clips: int = 4096, num_test_clips: int = 512, seed: int = 0
) -> datasets.DatasetDict:
    """SynthAV-ASR (rendered as audio so that the real front end and corruptions apply): a sentence is 3
    random stop words and 1 content word at a random position ("the then onion with"); each word is 0.16 s of its
    own tone chord (so the 64 log-mel frames of a clip show 16 frames per word) with a word alignment; the 2 video
    frames show *which* content word is present (a cell of the word's own colour at the word's place in a 4 x 4 grid)
    but not where it is in the sentence.
    Hiding the content word's audio (word masking, burst loss, noise) leaves the video as the only way to recover it;
    the stop words and the order need the audio. Train and test clips are drawn with different seeds."""
    templates = _word_templates(seed)
    features = avatar_features(num_frames=2, frame_size=32)
    vocabulary = SYNTHETIC_STOP_WORDS + SYNTHETIC_CONTENT_WORDS
    step = 1000.0 * SYNTHETIC_WORD_SECONDS

    def clips(count: int, split_seed: int, prefix: str) -> datasets.Dataset:
        rng = np.random.default_rng([seed, split_seed])
        rows = []
        for index in range(count):
            stops = rng.integers(0, len(SYNTHETIC_STOP_WORDS), 3).tolist()
            content = int(rng.integers(0, len(SYNTHETIC_CONTENT_WORDS)))
            position = int(rng.integers(0, 4))
            ids = stops[:position] + [len(SYNTHETIC_STOP_WORDS) + content] + stops[position:]
            wave, video = _render_clip(ids, content, templates, rng)
            words = [vocabulary[i] for i in ids]
            rows.append(
                {
                    "id": f"{prefix}{index:05d}",
                    "text": " ".join(words),
                    "media_path": "",
                    "clip_start": float("nan"),
                    "clip_end": float("nan"),
                    "words": words,
                    "word_start_ms": [step * j for j in range(4)],
                    "word_end_ms": [step * (j + 1) - 1000.0 / SYNTHETIC_RATE for j in range(4)],
                    "audio": wave,
                    "sampling_rate": SYNTHETIC_RATE,
                    "video_fps": float("nan"),
                    "video": video,
                }
            )
        return _to_dataset(rows, features)

    return datasets.DatasetDict(train=clips(num_train_clips, 1, "train"), test=clips(num_test_clips, 2, "test"))


def synthetic_noise_bank(num_clips: int = 16, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """`[num_clips, samples]` "environment" noise for the synthetic task: babble of random tones (random frequencies
    in 150-6500 Hz, a new set every 80 ms) over pink-ish noise, at 16 kHz."""
    rng = np.random.default_rng([seed, 11])
    n = int(seconds * SYNTHETIC_RATE)
    chunk = int(0.08 * SYNTHETIC_RATE)
    t = np.arange(chunk) / SYNTHETIC_RATE
    bank = np.zeros((num_clips, n), np.float32)
    for c in range(num_clips):
        parts = [
            sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) for f in rng.uniform(150, 6500, 3)) * np.hanning(chunk)
            for _ in range(math.ceil(n / chunk))
        ]
        babble = np.concatenate(parts)[:n]
        pink = np.cumsum(rng.standard_normal(n)) * 0.02
        pink -= np.convolve(pink, np.ones(200) / 200, mode="same")
        bank[c] = babble / 3 + pink
    return bank


# ----------------------------------------------------------------------------- corruptions and batching
CONDITION_KINDS = (
    "clean",
    "noise",
    "burst",
    "mixed",
    "masked_words",
    "masked_shuffled_frames",
    "masked_zeroed_frames",
    "shuffled_frames",
    "zeroed_frames",
)


def parse_condition(name: str) -> dict:
    """Evaluation condition names: `clean`; `noise@<snr_db>dB` (environment noise at that SNR; needs a noise bank);
    `burst@<max_rate>`; `mixed@<snr_db>dB,<max_rate>`; `masked_words` (every content word of the alignment silenced);
    `masked_shuffled_frames` / `masked_zeroed_frames` (masked words and the frames of another clip of the batch /
    all-zero frames); `shuffled_frames` / `zeroed_frames`."""
    kind, _, value = name.partition("@")
    if kind not in CONDITION_KINDS:
        raise ValueError(f"unknown condition {name!r}; kinds: {CONDITION_KINDS}")
    condition = {"name": name, "kind": kind}
    try:
        if kind == "noise":
            condition["snr"] = snr_from_db(float(value.removesuffix("dB")))
        elif kind == "burst":
            condition["max_rate"] = float(value)
        elif kind == "mixed":
            snr, rate = value.split(",")
            condition["snr"], condition["max_rate"] = snr_from_db(float(snr.removesuffix("dB"))), float(rate)
        elif value:
            raise ValueError
    except ValueError as error:
        raise ValueError(f"malformed condition {name!r} (e.g. noise@0dB, burst@0.1, mixed@-3dB,0.2)") from error
    return condition


class AvatarCollator:
    """Rows -> `input_features`, `pixel_values`, `labels` (+ `references`, the raw transcripts, at evaluation).

    Args:
        processor: the [`AvatarProcessor`].
        augmentation: an [`AvatarAugmentation`] makes this a training collator (random frame windows, crops and
            flips, word masking, SpecAugment...; draws from `row["sample_seed"]`, else the row's batch position);
            None (evaluation) runs the processor alone.
        condition: an evaluation corruption (`parse_condition`); `noise_bank` `[n_clips, samples]` for noise.
        use_video: False for an audio-only model (no `pixel_values`).
        max_target_tokens: label length (64 in training, 128 at evaluation, as the reference).
    """

    def __init__(
        self,
        processor: AvatarProcessor,
        augmentation: AvatarAugmentation | None = None,
        condition: str | dict = "clean",
        noise_bank=None,
        use_video: bool = True,
        max_target_tokens: int | None = None,
    ):
        self.processor = processor
        self.augmentation = augmentation
        self.training = augmentation is not None
        self.condition = parse_condition(condition) if isinstance(condition, str) else condition
        self.noise_bank = noise_bank
        self.use_video = use_video
        self.max_target_tokens = max_target_tokens or (64 if self.training else 128)
        if self.condition["kind"] in ("noise", "mixed") and noise_bank is None:
            raise ValueError(f"condition {self.condition['name']!r} needs a noise bank")
        if self.training and self.condition["kind"] != "clean":
            raise ValueError("evaluation conditions apply to evaluation collators (augmentation=None)")

    @staticmethod
    def _window(row) -> tuple[float | None, float | None]:
        start = None if math.isnan(row["clip_start"]) else float(row["clip_start"])
        end = None if math.isnan(row["clip_end"]) else float(row["clip_end"])
        return start, end

    def _waveform(self, row) -> torch.Tensor:
        extractor = self.processor.feature_extractor
        if len(row["audio"]):
            return extractor.to_mono_16k(np.asarray(row["audio"], np.float32), int(row["sampling_rate"])).float()
        start, end = self._window(row)
        samples, rate = load_audio(row["media_path"], start, end)
        return extractor.to_mono_16k(samples, rate).float()

    def _frames(self, row) -> tuple[np.ndarray | torch.Tensor, float | None]:
        """The clip's frames `(T, H, W, 3)` and their rate (None: unknown)."""
        if "video" in row:
            return np.asarray(row["video"]), None if math.isnan(row["video_fps"]) else float(row["video_fps"])
        start, end = self._window(row)
        decoded = load_video(row["media_path"], start_sec=start, end_sec=end)
        return decoded.frames.permute(0, 2, 3, 1), decoded.fps

    def _corrupt(self, wave: torch.Tensor, row) -> torch.Tensor:
        rate = self.processor.feature_extractor.sampling_rate
        kind = self.condition["kind"]
        if kind.startswith("masked"):
            if not len(row["words"]):
                raise ValueError(f"clip {row['id']}: the masked-words condition needs a word alignment")
            chosen = content_word_candidates(row["words"])
            wave = mask_word_spans(wave, row["word_start_ms"], row["word_end_ms"], chosen, rate)
        if kind in ("noise", "mixed"):
            wave = add_environment_noise(wave, self.noise_bank, self.condition["snr"])
        if kind in ("burst", "mixed"):
            wave = burst_loss(wave, self.condition["max_rate"])
        return wave

    def __call__(self, rows) -> dict:
        extractor = self.processor.feature_extractor
        texts = [row["text"] for row in rows]
        waves = [self._waveform(row) for row in rows]
        videos = [self._frames(row) for row in rows] if self.use_video else None
        if not self.training:
            waves = [self._corrupt(wave, row) for wave, row in zip(waves, rows)]
            batch = dict(
                self.processor(
                    audio=waves,
                    sampling_rate=extractor.sampling_rate,
                    video=None if videos is None else [frames for frames, _ in videos],
                    video_fps=None if videos is None else [fps for _, fps in videos],
                    text=texts,
                    truncation=True,
                    allow_silent=True,
                    max_target_tokens=self.max_target_tokens,
                )
            )
            kind = self.condition["kind"]
            if self.use_video and kind.endswith("shuffled_frames"):
                batch["pixel_values"] = batch["pixel_values"].roll(1, dims=0)  # every clip gets another clip's frames
            if self.use_video and kind.endswith("zeroed_frames"):
                batch["pixel_values"] = torch.zeros_like(batch["pixel_values"])
            batch["references"] = [self.processor.normalize_text(text) for text in texts]
            return batch
        augmentation = self.augmentation
        rngs = [np.random.default_rng(row.get("sample_seed", index)) for index, row in enumerate(rows)]
        waves = [augmentation.waveform(w, row, rng, extractor.sampling_rate) for w, row, rng in zip(waves, rows, rngs)]
        batch = dict(
            self.processor(
                audio=waves,
                sampling_rate=extractor.sampling_rate,
                text=texts,
                truncation=True,
                max_target_tokens=self.max_target_tokens,
            )
        )
        features = batch["input_features"]
        valid = [computed_frames(len(w), extractor.hop_length, features.shape[1]) for w in waves]
        batch["input_features"] = torch.stack(
            [augmentation.features(f, n, r) for f, n, r in zip(features, valid, rngs)]
        )
        if self.use_video:
            self.processor.check_durations(
                [len(w) / extractor.sampling_rate for w in waves],
                [len(frames) / fps if fps else None for frames, fps in videos],
            )
            video_processor = self.processor.video_processor
            batch["pixel_values"] = torch.stack(
                [augmentation.pixels(video_processor, frames, fps, rng) for (frames, fps), rng in zip(videos, rngs)]
            )
        return batch


__all__ = [
    "AvatarAugmentation",
    "AvatarCollator",
    "CONDITION_KINDS",
    "SYNTHETIC_CONTENT_WORDS",
    "SYNTHETIC_STOP_WORDS",
    "avatar_features",
    "load_how2_split",
    "load_visspeech",
    "parse_condition",
    "read_ctm",
    "synthetic_avatar_dataset",
    "synthetic_noise_bank",
]
