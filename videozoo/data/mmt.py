"""Datasets for MMT: the authors' pre-extracted feature layout, and an embedded synthetic retrieval task.

Both produce the same Arrow schema, one row per video:

    video_id            string
    captions            list of strings (raw captions, several per video)
    <expert>__features  Array2D((None, feature_size), float32); 0 rows = expert missing for this video
    <expert>__times     Array2D((None, 2), float32): start/end seconds per feature; NaN rows = unknown timing
    duration            float32

`MMTCollator` turns rows into model inputs through `MMTProcessor`.
"""

from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np
import torch

from ..processors.processing_mmt import MMTProcessor
from .files import check_feature_array, open_hdf5, read_hdf5_dataset
from .mmt_augmentation import random_feature_selections


def mmt_features(expert_feature_sizes: dict[str, int]) -> datasets.Features:
    columns = {"video_id": datasets.Value("string"), "captions": datasets.Sequence(datasets.Value("string"))}
    for name, size in expert_feature_sizes.items():
        columns[f"{name}__features"] = datasets.Array2D((None, size), "float32")
        columns[f"{name}__times"] = datasets.Array2D((None, 2), "float32")
    columns["duration"] = datasets.Value("float32")
    return datasets.Features(columns)


# ----------------------------------------------------------------------------- synthetic task
SYNTHETIC_EXPERTS = {"s3d": 64, "vggish": 32}
_CONSONANTS, _VOWELS = "bdfgklmnprstvz", "aeiou"


def _word(index: int, syllables: int = 2) -> str:
    letters = []
    for _ in range(syllables):
        letters += [_CONSONANTS[index % len(_CONSONANTS)], _VOWELS[(index // len(_CONSONANTS)) % len(_VOWELS)]]
        index //= len(_CONSONANTS) * len(_VOWELS)
    return "".join(letters)


def synthetic_mmt_dataset(
    num_train_videos: int = 4000,
    num_test_videos: int = 250,
    captions_per_video: int = 3,
    num_visual_concepts: int = 40,
    num_audio_concepts: int = 12,
    missing_audio_rate: float = 0.3,
    seed: int = 0,
) -> datasets.DatasetDict:
    """Videos made of two visual concepts (first and second half) and one sound; captions name them.

    The s3d expert (64-d, one feature per second) shows concept v1 during the first half of the clip and v2
    after; the vggish expert (32-d) shows the sound concept and is missing for `missing_audio_rate` of the videos.
    Each caption is "<v1> then <v2> sound <a>" with 0-2 filler words inserted at random places, so captions are
    a noisy function of the features. The test split pairs every video with its order-swapped twin (v2, v1, a):
    telling twins apart needs temporal order, so R@1 is capped near 50% without it.
    """
    rng = np.random.default_rng(seed)  # concepts; the splits draw from their own streams, so the test set does
    visual = rng.standard_normal((num_visual_concepts, SYNTHETIC_EXPERTS["s3d"])).astype(np.float32)
    audio = rng.standard_normal((num_audio_concepts, SYNTHETIC_EXPERTS["vggish"])).astype(np.float32)
    visual_words = [_word(i) for i in range(num_visual_concepts)]
    audio_words = [_word(i + 200) for i in range(num_audio_concepts)]
    fillers = [_word(i + 400, 1) for i in range(12)]

    # not depend on the training-set size
    def make_video(rng, video_id: str, v1: int, v2: int, sound: int, duration: int, audio_present: bool) -> dict:
        half = duration // 2
        centres = np.arange(duration)
        prototypes = np.where((centres < half)[:, None], visual[v1], visual[v2])
        times = np.stack([centres, centres + 1], axis=1).astype(np.float32)
        row = {
            "video_id": video_id,
            "s3d__features": (prototypes + rng.standard_normal(prototypes.shape)).astype(np.float32),
            "s3d__times": times,
            "duration": float(duration),
        }
        if audio_present:
            row["vggish__features"] = (audio[sound] + rng.standard_normal((duration, audio.shape[1]))).astype(
                np.float32
            )
            row["vggish__times"] = times
        else:
            row["vggish__features"] = np.zeros((0, audio.shape[1]), np.float32)
            row["vggish__times"] = np.zeros((0, 2), np.float32)
        captions = []
        for _ in range(captions_per_video):
            words = [visual_words[v1], "then", visual_words[v2], "sound", audio_words[sound]]
            for _ in range(rng.integers(0, 3)):
                words.insert(int(rng.integers(0, len(words) + 1)), fillers[rng.integers(len(fillers))])
            captions.append(" ".join(words))
        row["captions"] = captions
        return row

    def draw(rng) -> tuple[int, int, int, int, bool]:
        v1, v2 = rng.choice(num_visual_concepts, 2, replace=False)
        return (
            int(v1),
            int(v2),
            int(rng.integers(num_audio_concepts)),
            int(rng.integers(8, 31)),
            rng.random() > missing_audio_rate,
        )

    train_rng, test_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    train = [make_video(train_rng, f"train{i:05d}", *draw(train_rng)) for i in range(num_train_videos)]
    test = []
    for i in range(num_test_videos):
        v1, v2, sound, duration, present = draw(test_rng)
        test.append(make_video(test_rng, f"test{i:05d}", v1, v2, sound, duration, present))
        test.append(make_video(test_rng, f"test{i:05d}_twin", v2, v1, sound, duration, present))
    features = mmt_features(SYNTHETIC_EXPERTS)
    return datasets.DatasetDict({"train": _to_dataset(train, features), "test": _to_dataset(test, features)})


def _to_dataset(rows: list[dict], features: datasets.Features) -> datasets.Dataset:
    return datasets.Dataset.from_dict({key: [row[key] for row in rows] for key in features}, features=features)


# ----------------------------------------------------------------------------- authors' feature layout (gabeur/mmt)
def _decode(values) -> str:
    return values.decode() if isinstance(values, bytes) else str(values)


def read_mmt_h5(path: str | Path, expert_feature_sizes: dict[str, int]) -> dict:
    """One video of the authors' per-video HDF5 files -> a row of the videozoo schema.

    Datasets read: `raw_captions.<i>` (arrays of words), `features.<expert>` (n, D) and `features_t.<expert>`
    (n, 2). An expert that is absent, empty or whose first value is NaN is missing (the reference's rule).
    """
    path = Path(path)
    handle = open_hdf5(path, "MMT feature file")
    with handle:
        caption_keys = sorted(
            (k for k in handle if k.startswith("raw_captions.") and not k.startswith("raw_captions_t")),
            key=lambda k: int(k.split(".")[1]),
        )
        captions = [" ".join(_decode(w) for w in read_hdf5_dataset(handle, k, path)) for k in caption_keys]
        row = {"video_id": path.stem, "captions": captions, "duration": 0.0}
        for name, size in expert_feature_sizes.items():
            key = f"features.{name}"
            features = read_hdf5_dataset(handle, key, path) if key in handle else np.zeros((0, size))
            features = np.asarray(features, np.float32)
            if features.ndim == 1 and features.size == size:  # one vector for the whole video
                features = features[None]
            if not features.size:
                features = np.zeros((0, size), np.float32)
            elif np.isnan(features.flat[0]):  # the reference marks a missing expert by a NaN first value
                features = np.zeros((0, size), np.float32)
            features = check_feature_array(features, f"{path}:{key}", size)  # no reshape to fit
            if f"features_t.{name}" in handle and len(features):
                times = np.asarray(read_hdf5_dataset(handle, f"features_t.{name}", path), np.float32)
                if times.ndim == 1 and times.size == 2:
                    times = times[None]
                if times.ndim != 2 or times.shape[1] != 2:
                    raise ValueError(f"{path}: features_t.{name} must be (n, 2) start/end seconds, got {times.shape}")
                if np.isinf(times).any():
                    raise ValueError(f"{path}: features_t.{name} contains ±inf (NaN rows mark unknown timings)")
                if len(times) != len(features):
                    raise ValueError(f"{path}: features_t.{name} has {len(times)} rows for {len(features)} features")
            else:
                times = np.full((len(features), 2), np.nan, np.float32)
            row[f"{name}__features"], row[f"{name}__times"] = features, times
            finite_ends = times[:, 1][np.isfinite(times[:, 1])]
            if len(finite_ends):
                row["duration"] = max(row["duration"], float(finite_ends.max()))
    return row


def load_mmt_features(
    data_dir: str | Path,
    split_file: str | Path,
    expert_feature_sizes: dict[str, int],
) -> datasets.Dataset:
    """Build a dataset from the authors' layout: `<data_dir>/vid_feat_files/mult_h5/<a>/<b>/<c>/<id>.h5`, with the
    video ids listed one per line in `split_file` (e.g. `symlinked-feats/train_list_jsfusion.txt`)."""
    data_dir, split_file = Path(data_dir), Path(split_file)
    if not split_file.is_file():
        raise FileNotFoundError(f"split list {split_file} not found")
    ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"split list {split_file} is empty")
    root = data_dir / "vid_feat_files" / "mult_h5"

    def rows():
        for video_id in ids:
            path = root / video_id[0] / video_id[1] / video_id[2] / f"{video_id}.h5"
            if not path.is_file():
                raise FileNotFoundError(f"no feature file for video {video_id!r} at {path}")
            yield read_mmt_h5(path, expert_feature_sizes)

    return _to_dataset(list(rows()), mmt_features(expert_feature_sizes))


# ----------------------------------------------------------------------------- batching
class MMTCollator:
    """Rows of the videozoo schema -> `MMTModel` inputs.

    Training: one caption per video, drawn at random (reference `shufk1`), and random feature subsampling, both
    from the row's `sample_seed` so that a resumed run replays them. Evaluation: the first
    `captions_per_video` captions of each video (padded with a placeholder and `caption_mask` 0 when a video has
    fewer), flattened video-major into `input_ids`, and the fixed feature subsample.
    """

    def __init__(self, processor: MMTProcessor, training: bool, captions_per_video: int = 1):
        self.processor = processor
        self.training = training
        self.captions_per_video = captions_per_video

    def __call__(self, rows: Sequence[dict]) -> dict:
        names = self.processor.feature_extractor.expert_names
        rngs = [np.random.default_rng(row.get("sample_seed", index)) for index, row in enumerate(rows)]
        features = [{name: np.asarray(row[f"{name}__features"]) for name in names} for row in rows]
        stamps = [{name: np.asarray(row[f"{name}__times"]) for name in names} for row in rows]
        extractor = self.processor.feature_extractor
        selections = random_feature_selections(extractor, features, rngs) if self.training else None
        batch = dict(extractor(features, expert_timestamps=stamps, selections=selections))
        if self.training:
            captions = []
            for row, rng in zip(rows, rngs):
                if len(row["captions"]) == 0:
                    raise ValueError(f"video {row.get('video_id')!r} has no caption")
                captions.append(row["captions"][rng.integers(len(row["captions"]))])
            batch.update(self.processor.tokenize(captions))
        else:
            captions, mask = [], []
            for row in rows:
                kept = list(row["captions"][: self.captions_per_video])
                mask.append([1] * len(kept) + [0] * (self.captions_per_video - len(kept)))
                captions += kept + ["."] * (self.captions_per_video - len(kept))
            batch.update(self.processor.tokenize(captions))
            batch["caption_mask"] = torch.tensor(mask)
        return batch


__all__ = ["MMTCollator", "load_mmt_features", "mmt_features", "read_mmt_h5", "synthetic_mmt_dataset"]
