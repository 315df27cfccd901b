"""Views over a video table (one row per event for captioning, one row per usable video for proposals), the
ground truth as an ActivityNet annotation dict, and the K-means anchor lengths of the proposal generator."""

import logging

import datasets
import numpy as np

from .annotations import speech_for_event

logger = logging.getLogger(__name__)


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
