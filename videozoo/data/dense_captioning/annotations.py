"""ActivityNet Captions annotations (the `{video_id: {"duration", "timestamps", "sentences"}}` JSON, caption
normalisation as the reference meta tables, `available_mp4.txt`) and MDVC's ASR subtitles (`asr_en.csv`) -> video
rows and video tables."""

import logging
import math
import re
from pathlib import Path

import datasets

from ..files import read_json
from .features import materialize_features
from .schema import video_table_features

logger = logging.getLogger(__name__)


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
