"""Datasets for dense video captioning (BMT, MDVC): ActivityNet Captions with the authors' feature layouts, and an
embedded synthetic task, in one Arrow schema (spec §7.5), one row per video:

    video_id        string
    duration        float64            seconds
    event_starts    list of float64    ground-truth events (seconds), in annotation order
    event_ends      list of float64
    sentences       list of string     one caption per event (normalised as the reference meta tables)
    speech_starts   list of float64    ASR subtitle lines (MDVC; empty lists when there is no speech)
    speech_ends     list of float64
    speech_texts    list of string
    audio           Array2D((None, 128), float32)    VGGish, 0.96 s steps           } inline in the synthetic set
    rgb, flow       Array2D((None, 1024), float32)   I3D, 2.56 s (BMT) / 0.96 s (MDVC) } and in materialised tables

For the real data the feature columns are absent by default: a `NpyFeatures` (BMT layout) or `HDF5Features`
(MDVC layout) reader gives the arrays of a video when a batch is made, so 10k videos are never copied.

Two views sit over a video table (features stored once):
- `caption_view`: one row per event (`video_index`, `event_index`, `start`, `end`, `sentence`, `speech` = the
  subtitle lines overlapping the event, joined), batched by `DenseCaptioningCollator`, which crops each event with
  the reference rule (`crop_segment`: `i0 = int(S * start / duration)`, `i1 = int(S * end / duration)`, widened by
  one step when equal, an empty crop or a missing video becomes one zero vector) per modality for BMT; MDVC first
  truncates audio and video of the whole video to their common length, then crops both with the same indices.
- `proposal_view`: one row per video with events and features, batched by `ProposalCollator` (whole videos padded
  to the fixed lengths of the config, targets `[batch index, centre_s, length_s, event index]`).

Annotation problems are handled when a table is built, never deep in a batch (`on_invalid_event`):
- an event that starts before 0 or at/after the end of the video, or whose start is after its end, or with an
  empty caption: `"drop"` (default: the event is left out and counted in the warning) or `"error"`;
- an event that ends after the video (ActivityNet has 35 by <= 0.01 s): its end is clipped to the duration;
- zero-length events (start == end, 4 in train.json) are kept for captioning (the crop gives one step, as the
  reference) and excluded from the proposal targets (the reference drops such videos; here only the event).
"""

import logging
import math
import re
from pathlib import Path

import datasets
import numpy as np
import torch

from ..processors.feature_extraction_bmt import crop_segment
from .files import check_feature_array, open_hdf5, read_hdf5_dataset, read_json, read_npy

logger = logging.getLogger(__name__)

TIME_COLUMNS = ("event_starts", "event_ends", "speech_starts", "speech_ends")


def video_table_features(
    audio_feature_size: int | None = 128, video_feature_size: int | None = 1024
) -> datasets.Features:
    """Schema of a video table; without feature sizes, the table holds no feature columns (features read lazily)."""
    columns = {
        "video_id": datasets.Value("string"),
        "duration": datasets.Value("float64"),
        "event_starts": datasets.List(datasets.Value("float64")),
        "event_ends": datasets.List(datasets.Value("float64")),
        "sentences": datasets.List(datasets.Value("string")),
        "speech_starts": datasets.List(datasets.Value("float64")),
        "speech_ends": datasets.List(datasets.Value("float64")),
        "speech_texts": datasets.List(datasets.Value("string")),
    }
    if audio_feature_size is not None:
        columns["audio"] = datasets.Array2D((None, audio_feature_size), "float32")
        columns["rgb"] = datasets.Array2D((None, video_feature_size), "float32")
        columns["flow"] = datasets.Array2D((None, video_feature_size), "float32")
    return datasets.Features(columns)


# ----------------------------------------------------------------------------- annotations (spec §7.1, §7.2)
def normalize_caption(text: str) -> str:
    """The reference meta-table rules: curly apostrophe -> `'`, every `.` not followed by a digit removed,
    newlines -> spaces, runs of whitespace collapsed, stripped."""
    text = text.replace("\u2019", "'")
    text = re.sub(r"\.(?!\d)", "", text)
    text = text.replace("\n", " ")
    return re.sub(r"\s{2,}", " ", text).strip()


def _check_events(video_id: str, duration: float, spans, sentences, on_invalid_event: str, problems: list) -> list:
    if on_invalid_event not in ("drop", "error"):
        raise ValueError(f"on_invalid_event must be 'drop' or 'error', got {on_invalid_event!r}")
    if len(spans) != len(sentences):
        raise ValueError(f"{video_id}: {len(spans)} timestamps but {len(sentences)} sentences")
    kept = []
    for index, ((start, end), sentence) in enumerate(zip(spans, sentences)):
        start, end = float(start), float(end)
        problem = None
        if not (math.isfinite(start) and math.isfinite(end)):
            problem = f"non-finite timestamps [{start}, {end}]"
        elif start < 0 or start >= duration:
            problem = f"starts at {start} s, outside the video [0, {duration}) s"
        elif start > end:
            problem = f"starts after it ends ([{start}, {end}] s)"
        elif not sentence.strip():
            problem = "has an empty caption"
        if problem is not None:
            message = f"{video_id} event {index} {problem}"
            if on_invalid_event == "error":
                raise ValueError(message + " (pass on_invalid_event='drop' to leave such events out)")
            problems.append(message)
            continue
        kept.append((start, min(end, duration), sentence))
    return kept


def read_annotations(
    path: str | Path,
    available_ids=None,
    normalize: bool = True,
    on_invalid_event: str = "drop",
    subtitles: dict | None = None,
) -> list[dict]:
    """ActivityNet Captions JSON (`{video_id: {"duration", "timestamps", "sentences"}}`) -> video rows (no features).

    `available_ids`: keep only these videos (the reference's `available_mp4.txt`: BMT's tables hold the ~91% of
    videos still downloadable). `subtitles`: `{video_id: [(start, end, text), ...]}` from `read_subtitles`."""
    path = Path(path)
    data = read_json(path, "annotation file")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{video_id: annotation}}")
    available = set(available_ids) if available_ids is not None else None
    rows, problems = [], []
    for video_id, info in data.items():
        if available is not None and video_id not in available:
            continue
        try:
            duration = float(info["duration"])
            spans, sentences = info["timestamps"], info["sentences"]
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path}: {video_id} lacks 'duration', 'timestamps' or 'sentences'") from error
        if not duration > 0:
            raise ValueError(f"{path}: {video_id} has a non-positive duration {duration}")
        for index, sentence in enumerate(sentences):
            if not isinstance(sentence, str):  # a null caption is never kept as the word "None"
                raise ValueError(f"{path}: {video_id} sentence {index} is {sentence!r}, not a string")
        sentences = [normalize_caption(s) if normalize else s for s in sentences]
        events = _check_events(video_id, duration, spans, sentences, on_invalid_event, problems)
        lines = sorted(subtitles.get(video_id, [])) if subtitles else []
        rows.append(
            {
                "video_id": video_id,
                "duration": duration,
                "event_starts": [e[0] for e in events],
                "event_ends": [e[1] for e in events],
                "sentences": [e[2] for e in events],
                "speech_starts": [float(s) for s, _, _ in lines],
                "speech_ends": [float(e) for _, e, _ in lines],
                "speech_texts": [str(t) for _, _, t in lines],
            }
        )
    if problems:
        logger.warning(
            "%s: %d events left out: %s%s",
            path.name,
            len(problems),
            "; ".join(problems[:5]),
            " ..." if len(problems) > 5 else "",
        )
    if not rows:
        raise ValueError(f"{path}: no video left (available_ids filtered everything out?)")
    return rows


def read_available_ids(path: str | Path) -> list[str]:
    """The reference's `available_mp4.txt`: one video id per line."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def read_subtitles(path: str | Path) -> dict[str, list[tuple[float, float, str]]]:
    """MDVC's `asr_en.csv` (TSV with `video_id`, `sub`, `start`, `end` and the adjusted end `end_adj` when present)
    -> `{video_id: [(start, end, text), ...]}`. Lines with empty text are dropped, as in the reference."""
    import csv

    lines: dict[str, list] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = {"video_id", "sub", "start", "end"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: subtitle table lacks the columns {sorted(missing)}")
        for record in reader:
            text = (record["sub"] or "").strip()
            if not text:
                continue
            end = record.get("end_adj") or record["end"]
            lines.setdefault(record["video_id"], []).append((float(record["start"]), float(end), text))
    return lines


def speech_for_event(starts, ends, texts, start: float, end: float) -> str:
    """The subtitle lines that overlap `[start, end]`, joined with spaces (MDVC's per-event `subs`)."""
    return " ".join(str(t) for s, e, t in zip(starts, ends, texts) if s < end and e > start)


# ----------------------------------------------------------------------------- feature files (spec §7.3)
def _check_array(array: np.ndarray, width: int, where: str) -> np.ndarray:
    return check_feature_array(array, where, width)


class NpyFeatures:
    """BMT's layout: `<video_dir>/<id>_rgb.npy`, `<id>_flow.npy` (I3D, (T_v, 1024) each) and `<audio_dir>/<id>.npy`
    (VGGish, (T_a, 128)). The name patterns can be changed (the shipped sample uses `<id>_vggish.npy`).
    `load` returns None when a file of the video is missing (the reference then feeds a zero vector to the
    captioner and leaves the video out of proposal training)."""

    def __init__(
        self,
        audio_dir,
        video_dir,
        audio_pattern: str = "{video_id}.npy",
        rgb_pattern: str = "{video_id}_rgb.npy",
        flow_pattern: str = "{video_id}_flow.npy",
        audio_feature_size: int = 128,
        video_feature_size: int = 1024,
    ):
        self.audio_dir, self.video_dir = Path(audio_dir), Path(video_dir)
        for name, folder in (("audio_dir", self.audio_dir), ("video_dir", self.video_dir)):
            if not folder.is_dir():
                raise FileNotFoundError(f"{name} {folder} is not a folder")
        self.patterns = {"audio": audio_pattern, "rgb": rgb_pattern, "flow": flow_pattern}
        self.sizes = {"audio": audio_feature_size, "rgb": video_feature_size, "flow": video_feature_size}

    def _path(self, video_id: str, stream: str) -> Path:
        return (self.audio_dir if stream == "audio" else self.video_dir) / self.patterns[stream].format(
            video_id=video_id
        )

    def exists(self, video_id: str) -> bool:
        return all(self._path(video_id, s).is_file() for s in self.patterns)

    def load(self, video_id: str) -> dict[str, np.ndarray] | None:
        if not self.exists(video_id):
            return None
        out = {}
        for stream in self.patterns:
            path = self._path(video_id, stream)
            out[stream] = _check_array(read_npy(path, f"{stream} feature file"), self.sizes[stream], str(path))
        if out["rgb"].shape != out["flow"].shape:
            raise ValueError(
                f"{video_id}: rgb {out['rgb'].shape} and flow {out['flow'].shape} must have the same shape"
            )
        return out


class HDF5Features:
    """MDVC's layout: one HDF5 file with `<id>/i3d_features/rgb` and `.../flow` (I3D on 24-frame stacks, 0.96 s),
    one with `<id>/vggish_features`. Files are opened lazily (once per process)."""

    def __init__(self, video_hdf5, audio_hdf5, audio_feature_size: int = 128, video_feature_size: int = 1024):
        self.paths = {"video": Path(video_hdf5), "audio": Path(audio_hdf5)}
        for path in self.paths.values():
            if not path.is_file():
                raise FileNotFoundError(f"HDF5 feature file not found: {path}")
        self.sizes = {"audio": audio_feature_size, "rgb": video_feature_size, "flow": video_feature_size}
        self._files = None

    def __getstate__(self):
        return {**self.__dict__, "_files": None}

    def _open(self):
        if self._files is None:
            self._files = {k: open_hdf5(p, f"{k} HDF5 feature file") for k, p in self.paths.items()}
        return self._files

    def exists(self, video_id: str) -> bool:
        files = self._open()
        return f"{video_id}/i3d_features/rgb" in files["video"] and f"{video_id}/vggish_features" in files["audio"]

    def load(self, video_id: str) -> dict[str, np.ndarray] | None:
        if not self.exists(video_id):
            return None
        files = self._open()
        out = {
            "rgb": read_hdf5_dataset(files["video"], f"{video_id}/i3d_features/rgb", self.paths["video"]),
            "flow": read_hdf5_dataset(files["video"], f"{video_id}/i3d_features/flow", self.paths["video"]),
            "audio": read_hdf5_dataset(files["audio"], f"{video_id}/vggish_features", self.paths["audio"]),
        }
        out = {
            k: _check_array(v, self.sizes[k], f"{self.paths['audio' if k == 'audio' else 'video']}:{video_id}/{k}")
            for k, v in out.items()
        }
        if out["rgb"].shape != out["flow"].shape:
            raise ValueError(
                f"{video_id}: rgb {out['rgb'].shape} and flow {out['flow'].shape} must have the same shape"
            )
        return out


def load_activitynet_captions(
    annotation_files: dict[str, str | Path],
    available_ids=None,
    subtitles_file=None,
    on_invalid_event: str = "drop",
    features=None,
) -> datasets.DatasetDict:
    """ActivityNet Captions as video tables, e.g. `{"train": ".../train.json", "val_1": ".../val_1.json"}`.

    Without `features` the tables hold no arrays (give the reader to the collators); with a `NpyFeatures` /
    `HDF5Features` reader every available video's arrays are copied into the table (`Dataset.from_generator`,
    written to the datasets cache in batches) and videos without features are left out."""
    available = read_available_ids(available_ids) if isinstance(available_ids, (str, Path)) else available_ids
    subtitles = read_subtitles(subtitles_file) if subtitles_file else None
    splits = {}
    for split, path in annotation_files.items():
        rows = read_annotations(path, available, on_invalid_event=on_invalid_event, subtitles=subtitles)
        if features is None:
            splits[split] = datasets.Dataset.from_list(rows, features=video_table_features(None))
        else:
            splits[split] = materialize_features(rows, features)
    return datasets.DatasetDict(splits)


def materialize_features(rows: list[dict], features) -> datasets.Dataset:
    """Video rows + a feature reader -> a video table with the arrays inline (videos without features dropped)."""
    schema = video_table_features(features.sizes["audio"], features.sizes["rgb"])

    def generate(rows):
        for row in rows:
            arrays = features.load(row["video_id"])
            if arrays is not None:
                yield {**row, **arrays}

    return datasets.Dataset.from_generator(generate, gen_kwargs={"rows": rows}, features=schema)


# ----------------------------------------------------------------------------- synthetic task (spec §11)
SYNTHETIC_OBJECTS = ("dog", "cat")
SYNTHETIC_SOUNDS = ("barking", "purring")
SYNTHETIC_LOUDNESS = (("loudly", 1.5), ("quietly", 0.7))
SYNTHETIC_FILLERS = ("so", "um", "okay", "right", "yeah", "well", "now", "then", "look", "here")


def _overlap(length: int, stride: float, start: float, end: float) -> np.ndarray:
    """Fraction of each feature step `[i * stride, (i + 1) * stride)` covered by `[start, end]`."""
    left = np.arange(length) * stride
    return np.clip(np.minimum(left + stride, end) - np.maximum(left, start), 0, None) / stride


def synthetic_dense_captioning_dataset(
    num_train_videos: int = 2048,
    num_test_videos: int = 256,
    audio_feature_size: int = 32,
    video_feature_size: int = 48,
    duration_range: tuple[float, float] = (30.0, 90.0),
    events_per_video: tuple[int, int] = (1, 2),
    event_length_range: tuple[float, float] = (5.0, 25.0),
    audio_stride: float = 0.96,
    video_stride: float = 2.56,
    seed: int = 0,
) -> datasets.DatasetDict:
    """Bi-modal dense captioning task of spec §11 (same schema as the real tables, features inline).

    Each video has 1-2 non-overlapping events on a background of U(0, 0.3) noise. Over an event's span the video
    stream gets the fixed positive prototype of its object (dog / cat) and the audio stream the prototype of its
    sound (barking / purring) scaled by 1.5 (loudly) or 0.7 (quietly), each step weighted by the share of the step
    the event covers. Object and sound are drawn independently, so the caption `a {object} is {sound} {loudly |
    quietly}` needs both streams, and the events can be found in either. Each video also has 0-3 subtitle lines of
    filler words unrelated to the events (MDVC's speech input). `video_stride=0.96` gives MDVC's common grid."""
    rng = np.random.default_rng(seed)
    objects = rng.uniform(0.2, 1.0, (len(SYNTHETIC_OBJECTS), video_feature_size)).astype(np.float32)
    sounds = rng.uniform(0.2, 1.0, (len(SYNTHETIC_SOUNDS), audio_feature_size)).astype(np.float32)

    def video(split_rng, index: int, prefix: str) -> dict:
        duration = float(np.round(split_rng.uniform(*duration_range), 2))
        t_audio, t_video = max(1, int(duration / audio_stride)), max(1, math.ceil(duration / video_stride))
        audio = split_rng.uniform(0, 0.3, (t_audio, audio_feature_size)).astype(np.float32)
        rgb = split_rng.uniform(0, 0.3, (t_video, video_feature_size)).astype(np.float32)
        flow = np.zeros_like(rgb)
        count = int(split_rng.integers(events_per_video[0], events_per_video[1] + 1))
        slot = duration / count
        starts, ends, sentences = [], [], []
        for k in range(count):
            length = min(split_rng.uniform(*event_length_range), 0.9 * slot)
            start = float(np.round(split_rng.uniform(k * slot, (k + 1) * slot - length), 2))
            end = float(np.round(start + length, 2))
            obj, sound, loud = (int(split_rng.integers(n)) for n in (2, 2, 2))
            rgb += _overlap(t_video, video_stride, start, end)[:, None] * objects[obj]
            audio += _overlap(t_audio, audio_stride, start, end)[:, None] * SYNTHETIC_LOUDNESS[loud][1] * sounds[sound]
            starts.append(start)
            ends.append(end)
            sentences.append(f"a {SYNTHETIC_OBJECTS[obj]} is {SYNTHETIC_SOUNDS[sound]} {SYNTHETIC_LOUDNESS[loud][0]}")
        lines = sorted(split_rng.uniform(0, duration, int(split_rng.integers(0, 4))).round(2).tolist())
        return {
            "video_id": f"{prefix}{index:05d}",
            "duration": duration,
            "event_starts": starts,
            "event_ends": ends,
            "sentences": sentences,
            "speech_starts": lines,
            "speech_ends": [min(duration, s + 4.0) for s in lines],
            "speech_texts": [
                " ".join(split_rng.choice(SYNTHETIC_FILLERS, int(split_rng.integers(2, 6)))) for _ in lines
            ],
            "audio": audio,
            "rgb": rgb,
            "flow": flow,
        }

    schema = video_table_features(audio_feature_size, video_feature_size)
    splits = {}
    for split, count, stream in (("train", num_train_videos, 1), ("test", num_test_videos, 2)):
        split_rng = np.random.default_rng([seed, stream])
        rows = [video(split_rng, i, split) for i in range(count)]
        splits[split] = datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in schema}, features=schema)
    return datasets.DatasetDict(splits)


# ----------------------------------------------------------------------------- views
def caption_view(videos: datasets.Dataset) -> datasets.Dataset:
    """One row per event of a video table: `video_index`, `event_index`, `video_id`, `start`, `end`, `duration`,
    `sentence`, `speech` (overlapping subtitle lines) and `row_index` (the row's own position)."""
    meta = videos.select_columns([c for c in videos.column_names if c not in ("audio", "rgb", "flow")])
    rows = {
        k: [] for k in ("video_index", "event_index", "video_id", "start", "end", "duration", "sentence", "speech")
    }
    for index, video in enumerate(meta):
        for event, (start, end, sentence) in enumerate(
            zip(video["event_starts"], video["event_ends"], video["sentences"])
        ):
            for key, value in (
                ("video_index", index),
                ("event_index", event),
                ("video_id", video["video_id"]),
                ("start", start),
                ("end", end),
                ("duration", video["duration"]),
                ("sentence", sentence),
                (
                    "speech",
                    speech_for_event(video["speech_starts"], video["speech_ends"], video["speech_texts"], start, end),
                ),
            ):
                rows[key].append(value)
    if not rows["video_index"]:
        raise ValueError("the video table holds no event")
    rows["row_index"] = list(range(len(rows["video_index"])))
    return datasets.Dataset.from_dict(rows)


def proposal_view(videos: datasets.Dataset, features=None) -> datasets.Dataset:
    """The videos usable for proposal training / evaluation: with at least one event of positive length and (when a
    feature reader is given) with feature files. Adds `video_index` (row in `videos`) and `row_index`."""
    meta = videos.select_columns([c for c in videos.column_names if c not in ("audio", "rgb", "flow")])
    keep = []
    for index, video in enumerate(meta):
        if not any(e > s for s, e in zip(video["event_starts"], video["event_ends"])):
            continue
        if features is not None and not features.exists(video["video_id"]):
            continue
        keep.append(index)
    if not keep:
        raise ValueError("no video has events of positive length (and features)")
    if len(keep) < len(meta):
        logger.warning(
            "proposal view: %d of %d videos left out (no valid event or no features)", len(meta) - len(keep), len(meta)
        )
    return meta.select(keep).add_column("video_index", keep).add_column("row_index", list(range(len(keep))))


def annotations_of(videos: datasets.Dataset) -> dict:
    """A video table's events as an ActivityNet annotation dict (references for the metric module)."""
    meta = videos.select_columns(["video_id", "duration", "event_starts", "event_ends", "sentences"])
    return {
        v["video_id"]: {
            "duration": v["duration"],
            "timestamps": [[s, e] for s, e in zip(v["event_starts"], v["event_ends"])],
            "sentences": list(v["sentences"]),
        }
        for v in meta
    }


def event_lengths(videos: datasets.Dataset) -> np.ndarray:
    """Lengths (seconds) of every event of positive length of a video table."""
    meta = videos.select_columns(["event_starts", "event_ends"])
    lengths = [e - s for v in meta for s, e in zip(v["event_starts"], v["event_ends"])]
    return np.asarray([x for x in lengths if x > 0], dtype=np.float64)


def kmeans_anchors(lengths, k: int, seed: int = 13, max_iterations: int = 300) -> list[float]:
    """Anchor lengths as the reference derives them: 1-D K-means over the training event lengths (Lloyd's
    algorithm, `k` distinct samples drawn at random as the initial centres, one initialisation), sorted ascending.
    Not bit-identical to scikit-learn's KMeans; converted checkpoints carry their own anchors."""
    x = np.asarray(lengths, dtype=np.float64).reshape(-1)
    x = x[x > 0]
    if len(np.unique(x)) < k:
        raise ValueError(f"{k} anchors need at least {k} distinct positive event lengths, got {len(np.unique(x))}")
    rng = np.random.default_rng(seed)
    centres = rng.choice(np.unique(x), size=k, replace=False)
    for _ in range(max_iterations):
        centres = np.sort(centres)
        assign = np.searchsorted((centres[1:] + centres[:-1]) / 2, x)  # nearest centre in 1-D
        counts = np.bincount(assign, minlength=k)
        new = np.where(counts > 0, np.bincount(assign, weights=x, minlength=k) / np.maximum(counts, 1), centres)
        for j in np.flatnonzero(counts == 0):  # empty cluster: move it to the sample farthest from its centre
            new[j] = x[np.abs(x - centres[assign]).argmax()]
        if np.allclose(new, centres):
            break
        centres = new
    return sorted(float(c) for c in centres)


# ----------------------------------------------------------------------------- batching
def _video_arrays(videos, index: int, features) -> dict | None:
    if features is not None:
        return features.load(videos[int(index)]["video_id"])
    row = videos[int(index)]
    if "audio" not in row:
        raise ValueError(
            "this video table holds no features: give the collator a feature reader (NpyFeatures / HDF5Features)"
        )
    return {k: np.asarray(row[k], dtype=np.float32) for k in ("audio", "rgb", "flow")}


class DenseCaptioningCollator:
    """Caption-view rows -> captioner inputs for BMT (`model_type="bmt"`) or MDVC (`"mdvc"`).

    BMT: each modality is cropped with its own length; MDVC: audio and video are truncated to their common length
    first and cropped with the same indices (both must be on the same 0.96 s grid: MDVC's HDF5 features). Missing
    videos and empty crops become one step of zeros (BMT) or of U(0, 1) noise drawn from the row's seed (MDVC,
    `fill="random"`, as the reference). The batch also carries `row_index` (position in the caption view)."""

    def __init__(
        self, videos: datasets.Dataset, processor, model_type: str = "bmt", features=None, fill: str | None = None
    ):
        if model_type not in ("bmt", "mdvc"):
            raise ValueError(f"model_type must be 'bmt' or 'mdvc', got {model_type!r}")
        self.videos = videos.with_format("numpy")
        self.processor = processor
        self.model_type = model_type
        self.features = features
        self.fill = fill or ("random" if model_type == "mdvc" else "zero")
        if self.fill not in ("zero", "random"):
            raise ValueError(f"fill must be 'zero' or 'random', got {self.fill!r}")

    def _fillers(self, rng) -> list[np.ndarray]:
        sizes = (
            self.processor.feature_extractor.audio_feature_size,
            self.processor.feature_extractor.video_feature_size,
        )
        widths = (sizes[0], sizes[1], sizes[1])
        if self.fill == "random":
            return [rng.random((1, w), dtype=np.float32) for w in widths]
        return [np.zeros((1, w), np.float32) for w in widths]

    def __call__(self, rows) -> dict:
        audio, rgb, flow = [], [], []
        for i, row in enumerate(rows):
            rng = np.random.default_rng(int(row.get("sample_seed", row.get("row_index", i))))
            arrays = _video_arrays(self.videos, int(row["video_index"]), self.features)
            start, end, duration = float(row["start"]), float(row["end"]), float(row["duration"])
            if arrays is None:
                crops = self._fillers(rng)
            elif self.model_type == "mdvc":
                length = min(len(arrays["audio"]), len(arrays["rgb"]))
                if 3 * length < 2 * max(len(arrays["audio"]), len(arrays["rgb"])):
                    raise ValueError(
                        f"{row['video_id']}: audio ({len(arrays['audio'])} steps) and video "
                        f"({len(arrays['rgb'])} steps) are not on the same grid; MDVC needs I3D features on 0.96 s "
                        "stacks (its HDF5 layout)"
                    )
                crops = [
                    crop_segment(arrays[k][:length], start, end, duration, empty=None)
                    for k in ("audio", "rgb", "flow")
                ]
                if crops[0] is None:
                    crops = self._fillers(rng)
            else:
                crops = [crop_segment(arrays[k], start, end, duration) for k in ("audio", "rgb", "flow")]
            audio.append(crops[0])
            rgb.append(crops[1])
            flow.append(crops[2])
        sentences = [str(row["sentence"]) for row in rows]
        if self.model_type == "mdvc":
            batch = self.processor(
                text=sentences, audio=audio, rgb=rgb, flow=flow, speech=[str(r["speech"]) for r in rows]
            )
        else:
            batch = self.processor(text=sentences, audio=audio, rgb=rgb, flow=flow)
        batch = dict(batch)
        ids, mask = batch.pop("decoder_input_ids"), batch.pop("decoder_attention_mask")
        batch["decoder_input_ids"], batch["decoder_attention_mask"] = ids[:, :-1], mask[:, :-1]
        batch["labels"] = ids[:, 1:].masked_fill(mask[:, 1:] == 0, self.processor.tokenizer.pad_token_id)
        batch["row_index"] = torch.tensor([int(r.get("row_index", i)) for i, r in enumerate(rows)])
        return batch


class ProposalCollator:
    """Proposal-view rows -> `BMTForEventProposal` inputs: whole videos padded to the fixed lengths
    (`max_audio_length` / `max_video_length` of the config), `event_targets` `[batch index, centre_s, length_s,
    event index]` over the events of positive length, `durations` and `row_index`."""

    def __init__(
        self, videos: datasets.Dataset, processor, max_audio_length: int, max_video_length: int, features=None
    ):
        self.videos = videos.with_format("numpy")
        self.processor = processor
        self.lengths = (max_audio_length, max_video_length)
        self.features = features

    def __call__(self, rows) -> dict:
        audio, rgb, flow, targets = [], [], [], []
        for b, row in enumerate(rows):
            arrays = _video_arrays(self.videos, int(row["video_index"]), self.features)
            if arrays is None:
                raise ValueError(
                    f"{row['video_id']}: no features (build the view with proposal_view(videos, features))"
                )
            audio.append(arrays["audio"])
            rgb.append(arrays["rgb"])
            flow.append(arrays["flow"])
            for event, (start, end) in enumerate(zip(row["event_starts"], row["event_ends"])):
                if end > start:
                    targets.append([b, (start + end) / 2, end - start, event])
        batch = dict(
            self.processor.feature_extractor(
                audio, rgb, flow, pad_to_audio_length=self.lengths[0], pad_to_video_length=self.lengths[1]
            )
        )
        batch["event_targets"] = torch.tensor(targets, dtype=torch.float32).reshape(-1, 4)
        batch["durations"] = torch.tensor([float(r["duration"]) for r in rows], dtype=torch.float64)
        batch["row_index"] = torch.tensor([int(r.get("row_index", i)) for i, r in enumerate(rows)])
        return batch


__all__ = [
    "DenseCaptioningCollator",
    "HDF5Features",
    "NpyFeatures",
    "ProposalCollator",
    "annotations_of",
    "caption_view",
    "event_lengths",
    "kmeans_anchors",
    "load_activitynet_captions",
    "materialize_features",
    "normalize_caption",
    "proposal_view",
    "read_annotations",
    "read_available_ids",
    "read_subtitles",
    "speech_for_event",
    "synthetic_dense_captioning_dataset",
    "video_table_features",
]
