"""Datasets for AVLnet: the authors' clip-level pickles (YouCook2, CrossTask, MSR-VTT) and an embedded synthetic
audio-video task, in one Arrow schema, one row per clip:

    id               string
    video_2d         list of float32   2D CNN features max-pooled over the clip
    video_3d         list of float32   3D CNN features max-pooled over the clip
    audio            Array2D((None, num_mel_bins), float32)   log-mel dB, time-major, unpadded
    audio_num_frames int32             frames of the original spectrogram (may exceed what is kept)
    caption          string            ("" when there is none)

`AVLnetCollator` pads or crops the audio to `max_frames` with 0 dB (the reference's pad value) and L2-normalises
and concatenates the two video streams, as the reference loaders do.
"""

from pathlib import Path

import datasets
import numpy as np
import torch

from ..processors.validation import check_finite
from .files import read_npy, read_npz
from .pickles import load_data_pickle


def avlnet_features(num_mel_bins: int = 40) -> datasets.Features:
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "video_2d": datasets.Sequence(datasets.Value("float32")),
            "video_3d": datasets.Sequence(datasets.Value("float32")),
            "audio": datasets.Array2D((None, num_mel_bins), "float32"),
            "audio_num_frames": datasets.Value("int32"),
            "caption": datasets.Value("string"),
        }
    )


def _to_dataset(rows: list[dict], num_mel_bins: int) -> datasets.Dataset:
    features = avlnet_features(num_mel_bins)
    return datasets.Dataset.from_dict({key: [row[key] for row in rows] for key in features}, features=features)


# ----------------------------------------------------------------------------- synthetic task (tone band x rhythm)
def synthetic_avlnet_dataset(
    num_train_clips: int = 4096, video_dim: int = 2048, frames: int = 256, seed: int = 0
) -> datasets.DatasetDict:
    """ "Tone band x rhythm": latent (b, p) in 8 x 8. The audio (40 mel bins, 100-200 valid frames of a 256-frame
    clip) is -60 dB noise with bins 4b..4b+3 at -10 dB during the "on" half of a square wave of period 6 + 4p frames;
    the video is L2norm(P2[b] + noise) || L2norm(P3[p] + noise). Recognising the clip needs the frequency axis and the
    temporal structure of the audio. The test split holds the 64 latents once (chance R@1 1.6%)."""
    rng = np.random.default_rng(seed)
    prototypes_2d = rng.standard_normal((8, video_dim)).astype(np.float32)
    prototypes_3d = rng.standard_normal((8, video_dim)).astype(np.float32)

    def clip(split_rng, index: int, band: int, rhythm: int, prefix: str) -> dict:
        length = int(split_rng.integers(100, 201))
        audio = -60 + 3 * split_rng.standard_normal((length, 40))
        period, phase = 6 + 4 * rhythm, int(split_rng.integers(0, 6 + 4 * rhythm))
        on = ((np.arange(length) + phase) % period) < period // 2
        audio[np.ix_(on, np.arange(4 * band, 4 * band + 4))] = -10 + 2 * split_rng.standard_normal((on.sum(), 4))
        noise = lambda: 0.5 * split_rng.standard_normal(video_dim) / np.sqrt(video_dim)  # noqa: E731
        return {
            "id": f"{prefix}{index:05d}",
            "video_2d": (prototypes_2d[band] + noise()).astype(np.float32),
            "video_3d": (prototypes_3d[rhythm] + noise()).astype(np.float32),
            "audio": np.clip(audio, -80, 0).astype(np.float32),
            "audio_num_frames": length,
            "caption": "",
        }

    train_rng, test_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    train = [
        clip(train_rng, i, int(train_rng.integers(8)), int(train_rng.integers(8)), "train")
        for i in range(num_train_clips)
    ]
    test = [clip(test_rng, i, i // 8, i % 8, "test") for i in range(64)]
    return datasets.DatasetDict(train=_to_dataset(train, 40), test=_to_dataset(test, 40))


# ----------------------------------------------------------------------------- the authors' pickles (clips, MSR-VTT)
def _pooled_vector(record: dict, keys: tuple[str, ...], path, index: int) -> np.ndarray:
    """A clip's pooled video feature, `(D,)` or `(1, D)`; per-step features `(T, D)` are refused, not flattened."""
    key = next((k for k in keys if record.get(k) is not None), None)
    if key is None:
        raise ValueError(f"{path}: clip {index} has no video feature (keys {list(keys)}); a missing one is not zeros")
    values = np.asarray(record[key], np.float32)
    if values.ndim == 2 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 1:
        raise ValueError(f"{path}: clip {index} '{key}' has shape {values.shape}, expected a pooled (D,) vector")
    check_finite(f"{path}: clip {index} '{key}'", values)
    return values


def load_avlnet_pickle(path: str | Path, caption_key: str | None = None) -> datasets.Dataset:
    """A clip-level pickle of the reference (YouCook2 / CrossTask keys `2d`, `3d`; MSR-VTT `2d_pooled`, `3d_pooled`;
    `audio` a (40, frames) spectrogram; `caption`, a list of captions, or `eval_caption`)."""
    records = load_data_pickle(path)
    rows = []
    for index, record in enumerate(records):
        audio = np.asarray(record["audio"], np.float32)
        if audio.ndim != 2:
            raise ValueError(f"{path}: clip {index} has audio of shape {audio.shape}, expected (mel_bins, frames)")
        caption = record.get(caption_key) if caption_key else record.get("eval_caption", record.get("caption", ""))
        if isinstance(caption, (list, tuple)):
            caption = caption[0] if caption else ""
        rows.append(
            {
                "id": str(record.get("id", index)),
                "video_2d": _pooled_vector(record, ("2d", "2d_pooled"), path, index),
                "video_3d": _pooled_vector(record, ("3d", "3d_pooled"), path, index),
                "audio": audio.T,
                "audio_num_frames": audio.shape[1],
                "caption": caption or "",
            }
        )
    if not rows:
        raise ValueError(f"{path} holds no clip")
    return _to_dataset(rows, rows[0]["audio"].shape[1])


# ----------------------------------------------------------------------------- HowTo100M (as AVLnet's loader reads it)
def _read_array(path: Path, key: str) -> np.ndarray:
    if path.suffix == ".npz":
        return np.asarray(read_npz(path, key), np.float32)
    return read_npy(path).astype(np.float32)  # .npy as written by video_feature_extractor


def howto100m_index(
    csv_path: str | Path, features_path: str | Path, audio_path: str | Path | None = None
) -> datasets.Dataset:
    """One row per video of the HowTo100M CSV (`path` column, `category/video_x/<id>` rows): the file paths of its
    2D/3D features (`<id>_2d.npz|npy`, `<id>_3d.npz|npy`, key `features`) and of its spectrogram
    (`<id>_spec.npz`, key `arr_0`, (40, T)). Files are read when a batch is made (`HowTo100MCollator`)."""
    import csv

    features_path = Path(features_path)
    audio_path = Path(audio_path) if audio_path else features_path
    rows = []
    with open(csv_path, newline="") as handle:
        for record in csv.DictReader(handle):
            relative = record["path"].removeprefix("None/")
            video_id = Path(relative).name

            def find(root: Path, suffix: str, relative=relative, video_id=video_id) -> str:
                for extension in (".npz", ".npy"):
                    candidate = root / relative / f"{video_id}_{suffix}{extension}"
                    if candidate.is_file():
                        return str(candidate)
                raise FileNotFoundError(f"no {suffix} features for {video_id} under {root / relative}")

            rows.append(
                {
                    "id": video_id,
                    "path_2d": find(features_path, "2d"),
                    "path_3d": find(features_path, "3d"),
                    "path_spec": find(audio_path, "spec"),
                }
            )
    if not rows:
        raise ValueError(f"{csv_path} lists no video")
    return datasets.Dataset.from_list(rows)


def howto100m_random_clips(
    spectrogram: np.ndarray,
    features_2d: np.ndarray,
    features_3d: np.ndarray,
    num_clips: int,
    window_frames: int,
    rng: np.random.Generator,
) -> list[dict]:
    """AVLnet's random windows (`random_audio_windows=1`): `num_clips` start seconds drawn with replacement; audio
    frames `[100 s - 2, ... + window_frames)`, video rows of the window max-pooled per stream (2D at 1 fps, 3D at
    1/1.5 fps)."""
    duration = int((spectrogram.shape[1] * 160 + 200) / 16000)
    seconds = int((window_frames * 160 + 200) / 16000)
    starts = rng.integers(0, max(1, duration - seconds - 1), num_clips)
    clips = []
    for start in starts:
        first = max(0, int(np.floor((16000 * start - 200) / 160)))
        audio = spectrogram[:, first : first + window_frames]
        rows_2d = features_2d[int(start) : int(start + seconds) + 1]
        rows_3d = features_3d[int(1.5 * start) : int(1.5 * (start + seconds)) + 1]
        clips.append(
            {
                "audio": audio.T,
                "audio_num_frames": audio.shape[1],
                "video_2d": rows_2d.max(axis=0) if len(rows_2d) else np.zeros(features_2d.shape[1], np.float32),
                "video_3d": rows_3d.max(axis=0) if len(rows_3d) else np.zeros(features_3d.shape[1], np.float32),
                "caption": "",
            }
        )
    return clips


def read_howto100m_video(row: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One HowTo100M index row's arrays: the spectrogram (`path_spec`, .npz "arr_0"), the 2-D and the 3-D video
    features (`path_2d`, `path_3d`, .npz "features"), as the reference's loader reads them."""
    return (
        _read_array(Path(row["path_spec"]), "arr_0"),
        _read_array(Path(row["path_2d"]), "features"),
        _read_array(Path(row["path_3d"]), "features"),
    )


class HowTo100MCollator:
    """Index rows (videos) -> a batch of `num_clips` random windows per video, flattened, as the reference."""

    def __init__(self, num_clips: int = 32, window_frames: int = 1000):
        self.num_clips = num_clips
        self.window_frames = window_frames
        self.clips = AVLnetCollator(window_frames)

    def __call__(self, rows) -> dict:
        clips = []
        for index, row in enumerate(rows):
            rng = np.random.default_rng(row.get("sample_seed", index))
            clips += howto100m_random_clips(
                *read_howto100m_video(row),
                self.num_clips,
                self.window_frames,
                rng,
            )
        return self.clips(clips)


# ----------------------------------------------------------------------------- batching
class AVLnetCollator:
    """Rows -> `AVLnetModel` inputs (with `text_features` when a processor with word vectors is given)."""

    def __init__(self, max_frames: int, processor=None, with_text: bool = False, padding_value: float = 0.0):
        self.max_frames = max_frames
        self.processor = processor
        self.with_text = with_text
        self.padding_value = padding_value

    def __call__(self, rows) -> dict:
        mel = np.asarray(rows[0]["audio"]).shape[1]
        audio = torch.full((len(rows), mel, self.max_frames), self.padding_value)
        for index, row in enumerate(rows):
            spectrogram = torch.as_tensor(np.asarray(row["audio"], np.float32)).T[:, : self.max_frames]
            audio[index, :, : spectrogram.shape[1]] = spectrogram
        video = torch.stack(
            [
                torch.cat(
                    [
                        torch.nn.functional.normalize(torch.as_tensor(np.asarray(row[k], np.float32)), dim=0)
                        for k in ("video_2d", "video_3d")
                    ]
                )
                for row in rows
            ]
        )
        batch = {
            "input_features": audio,
            "audio_lengths": torch.tensor(
                [int(row["audio_num_frames"]) for row in rows]
            ),  # unclipped, as the reference
            "video_features": video,
        }
        if self.with_text:
            batch["text_features"] = self.processor.embed_text([str(row["caption"]) for row in rows])
        return batch


__all__ = [
    "AVLnetCollator",
    "HowTo100MCollator",
    "avlnet_features",
    "howto100m_index",
    "howto100m_random_clips",
    "load_avlnet_pickle",
    "synthetic_avlnet_dataset",
]
