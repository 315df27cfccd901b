"""Datasets for Everything at Once: an embedded synthetic tri-modal task, in the schema of the reference feature
layouts, one row per clip:

    id            string
    text          Array2D((None, text_dim), float32)    word vectors (0 rows: no text)
    video         Array2D((None, video_dim), float32)   one row per time step (0 rows: no video)
    audio         Array2D((None, num_mel_bins), float32) log-mel frames, time-major (0 rows: no audio)

`EverythingAtOnceCollator` pads each modality (audio to a multiple of 64 frames with 0 dB) and builds the masks.
"""

import datasets
import numpy as np
import torch


def eao_features(text_dim: int, video_dim: int, num_mel_bins: int) -> datasets.Features:
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Array2D((None, text_dim), "float32"),
            "video": datasets.Array2D((None, video_dim), "float32"),
            "audio": datasets.Array2D((None, num_mel_bins), "float32"),
        }
    )


def synthetic_eao_dataset(
    num_train: int = 8192, num_test: int = 512, frames_per_token: int = 64, seed: int = 0
) -> datasets.DatasetDict:
    """Two latent concepts per clip, c1 ("seen") and c2 ("heard") in 16 x 16. Text: 2-8 word vectors
    (32-d), word 0 names c1, word 1 names c2, the others one of the two. Video: 4-12 tokens E_v[c1] + noise (64-d).
    Audio: 2-6 x `frames_per_token` frames of E_a[c2] + noise (40 bins). Text identifies (c1, c2); video only c1,
    audio only c2: text -> video+audio has an R@1 ceiling near 43% on 512 test clips, text -> video or audio near
    3%."""
    rng = np.random.default_rng(seed)
    text_1, text_2 = rng.standard_normal((16, 32)), rng.standard_normal((16, 32))
    video_table, audio_table = rng.standard_normal((16, 64)), rng.standard_normal((16, 40))

    def clip(split_rng, index: int, prefix: str) -> dict:
        c1, c2 = int(split_rng.integers(16)), int(split_rng.integers(16))
        words = [text_1[c1], text_2[c2]] + [
            text_1[c1] if split_rng.random() < 0.5 else text_2[c2] for _ in range(split_rng.integers(0, 7))
        ]
        text = np.stack(words) + 0.5 * split_rng.standard_normal((len(words), 32))
        video = video_table[c1] + split_rng.standard_normal((int(split_rng.integers(4, 13)), 64))
        video = video / np.linalg.norm(video, axis=1, keepdims=True)
        audio = audio_table[c2] + split_rng.standard_normal((int(split_rng.integers(2, 7)) * frames_per_token, 40))
        return {
            "id": f"{prefix}{index:05d}",
            "text": text.astype(np.float32),
            "video": video.astype(np.float32),
            "audio": audio.astype(np.float32),
        }

    features = eao_features(32, 64, 40)

    def split(count: int, prefix: str, stream: int) -> datasets.Dataset:
        split_rng = np.random.default_rng([seed, stream])
        rows = [clip(split_rng, i, prefix) for i in range(count)]
        return datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)

    return datasets.DatasetDict(train=split(num_train, "train", 1), test=split(num_test, "test", 2))


class EverythingAtOnceCollator:
    """Rows -> model inputs: each modality zero-padded to the longest in the batch (audio: to `max_frames` or the
    next multiple of `frames_per_token`, with 0 dB) and masked; empty modalities get all-zero masks."""

    def __init__(self, max_frames: int | None = None, frames_per_token: int = 64):
        self.max_frames = max_frames
        self.frames_per_token = frames_per_token

    @staticmethod
    def _pad(arrays: list[np.ndarray], length: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        values, mask = torch.zeros(len(arrays), length, width), torch.zeros(len(arrays), length, dtype=torch.long)
        for row, array in enumerate(arrays):
            array = np.asarray(array, np.float32).reshape(-1, width)[:length]
            values[row, : len(array)], mask[row, : len(array)] = torch.from_numpy(array), 1
        return values, mask

    def __call__(self, rows) -> dict:
        batch = {}
        for key, feature_key, mask_key in (
            ("text", "text_features", "text_attention_mask"),
            ("video", "video_features", "video_attention_mask"),
        ):
            arrays = [np.asarray(row[key]) for row in rows]
            width = next((a.shape[-1] for a in arrays if a.ndim == 2 and a.size), None)
            if width is None:
                continue
            batch[feature_key], batch[mask_key] = self._pad(arrays, max(1, max(len(a) for a in arrays)), width)
        audio = [np.asarray(row["audio"]) for row in rows]
        mel = next((a.shape[-1] for a in audio if a.ndim == 2 and a.size), None)
        if mel is not None:
            longest = max(len(a) for a in audio)
            frames = self.max_frames or max(
                self.frames_per_token, -(-longest // self.frames_per_token) * self.frames_per_token
            )
            spectrogram, mask = self._pad(audio, frames, mel)
            batch["input_features"], batch["audio_attention_mask"] = spectrogram.transpose(1, 2), mask
        return batch


def _l2(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _steps(record: dict, keys: tuple[str, ...], width: int, where: str) -> np.ndarray:
    """Per-step features `(T, width)` of a clip (an empty entry is `(0, width)`); another layout is an error, never
    reshaped to fit."""
    from .files import check_feature_array

    key = next((k for k in keys if record.get(k) is not None), None)
    if key is None:
        raise ValueError(f"{where} has none of the feature keys {list(keys)}")
    values = np.asarray(record[key], np.float32)
    return (
        np.zeros((0, width), np.float32)
        if values.size == 0
        else check_feature_array(values, f"{where} '{key}'", width)
    )


def load_eao_clip_pickle(path, word_vectors: dict | None = None, max_words: int = 20) -> datasets.Dataset:
    """The EAO release's YouCook2 / MSR-VTT pickles (`2d_full`/`3d_full` or `2d`/`3d` per-step features, `audio`
    (40, frames), `caption` / `eval_caption`): video tokens = the 2D rows nearest-resampled onto the 3D rows, each
    stream L2-normalised per row, concatenated; text = word vectors of the caption when `word_vectors` are given."""
    from ..processors.word_vectors import embed_words
    from .pickles import load_data_pickle

    records = load_data_pickle(path)
    rows = []
    for index, record in enumerate(records):
        features_2d, features_3d = (
            _steps(record, (f"{kind}_full", kind), 2048, f"{path}: clip {index}") for kind in ("2d", "3d")
        )
        nearest = np.minimum(
            (np.arange(len(features_3d)) * len(features_2d) / max(1, len(features_3d))).astype(int),
            len(features_2d) - 1,
        )
        video = (
            np.concatenate([_l2(features_2d[nearest]), _l2(features_3d)], axis=1)
            if len(features_2d)
            else np.zeros((0, 4096), np.float32)
        )
        caption = record.get("eval_caption", record.get("caption", ""))
        caption = caption[0] if isinstance(caption, (list, tuple)) and caption else caption
        text = np.zeros((0, 300), np.float32)
        if word_vectors is not None:
            vectors, mask = embed_words(
                [str(caption)], word_vectors, max_words, len(next(iter(word_vectors.values())))
            )
            text = vectors[0][mask[0].bool()].numpy()
        rows.append(
            {
                "id": str(record.get("id", index)),
                "text": text,
                "video": video.astype(np.float32),
                "audio": np.asarray(record["audio"], np.float32).T,
            }
        )
    if not rows:
        raise ValueError(f"{path} holds no clip")
    features = eao_features(rows[0]["text"].shape[1], 4096, rows[0]["audio"].shape[1])
    return datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)


# ----------------------------------------------------------------------------- HowTo100M (paper §4.1 "Data sampling")
def _frame(seconds: float) -> int:
    return max(0, int(np.floor((np.floor(16000 * seconds) - 200) / 160)))


def howto100m_eao_clips(
    spectrogram: np.ndarray,
    features_2d: np.ndarray,
    features_3d: np.ndarray,
    captions: dict | None,
    num_clips: int,
    rng: np.random.Generator,
    word_vectors: dict | None = None,
    min_time: float = 8.0,
    audio_frames: int = 768,
    max_video_steps: int = 12,
    max_words: int = 20,
    audio_shift_mode: str = "forward",
) -> list[dict]:
    """Everything at Once's pre-training clips of one video (the reference's `HowTo_Dataset`): a random 8-s window,
    grown to whole narration captions around it; the audio window shifted 4 s forward (the code's behaviour;
    `"random_sign"` follows the paper's "shifted randomly by 4 s"); 2D rows nearest-resampled onto the 3D rows,
    each stream L2-normalised, at most 12 steps; words looked up case-sensitively (at most 20)."""
    from ..processors.word_vectors import embed_words

    duration = int((160 * spectrogram.shape[1] + 200) / 16000)
    starts = np.asarray(captions["start"], float) if captions else np.zeros(0)
    ends = np.asarray(captions["end"], float) if captions else np.zeros(0)
    texts = [str(t) for t in captions["text"]] if captions else []
    order = np.argsort(starts, kind="stable")
    starts, ends, texts = starts[order], ends[order], [texts[i] for i in order]
    clips = []
    for _ in range(num_clips):
        s = float(rng.uniform(0, max(0.0, duration - min_time)))
        e = s + min_time
        chosen = None
        for t in (s, e):
            before = np.nonzero(starts < t)[0]
            index = int(before[-1]) if len(before) else 0
            if len(starts) and starts[index] <= t <= ends[index]:
                chosen = index
                break
        words: list[str] = []
        if chosen is None:  # no narration
            start, end, audio_start = s, e, s
        else:
            first = last = chosen
            words.append(texts[chosen])
            while ends[last] - starts[first] < min_time and (first > 0 or last < len(starts) - 1):
                previous = ends[last] - starts[first - 1] if first > 0 else np.inf
                following = ends[last + 1] - starts[first] if last < len(starts) - 1 else np.inf
                if previous <= following:
                    first -= 1
                    words.append(texts[first])
                else:
                    last += 1
                    words.append(texts[last])
            start, end = float(starts[first]), float(ends[last])
            shift = 4.0 if audio_shift_mode == "forward" or rng.random() < 0.5 else -4.0
            audio_start = max(0.0, start + shift)
        audio = spectrogram[:, _frame(audio_start) : _frame(audio_start + min_time)][:, :audio_frames]
        rows_2d = features_2d[int(start) : int(end) + 1]
        rows_3d = features_3d[int(start * 1.5) : int(end * 1.5) + 1]
        if len(rows_2d) and len(rows_3d):
            nearest = np.minimum((np.arange(len(rows_3d)) * len(rows_2d) / len(rows_3d)).astype(int), len(rows_2d) - 1)
            video = np.concatenate([_l2(rows_2d[nearest]), _l2(rows_3d)], axis=1)[:max_video_steps]
        else:
            video = np.zeros((0, features_2d.shape[1] + features_3d.shape[1]), np.float32)
        text = np.zeros((0, 300), np.float32)
        if word_vectors is not None and words:
            vectors, mask = embed_words(
                [" ".join(words)], word_vectors, max_words, len(next(iter(word_vectors.values()))), lowercase=False
            )
            text = vectors[0][mask[0].bool()].numpy()
        clips.append(
            {"text": text.astype(np.float32), "video": video.astype(np.float32), "audio": audio.T.astype(np.float32)}
        )
    return clips


class HowTo100MEAOCollator:
    """Index rows of `videozoo.data.avlnet.howto100m_index` (plus a caption pickle) -> `num_clips` clips per video,
    flattened into the batch, audio padded to `audio_frames`."""

    def __init__(
        self, captions_pickle=None, word_vectors: dict | None = None, num_clips: int = 10, audio_frames: int = 768
    ):
        from .pickles import load_data_pickle

        self.captions = load_data_pickle(captions_pickle) if captions_pickle else {}
        self.word_vectors = word_vectors
        self.num_clips = num_clips
        self.audio_frames = audio_frames
        self.batch = EverythingAtOnceCollator(max_frames=audio_frames)

    def __call__(self, rows) -> dict:
        from .avlnet import read_howto100m_video

        clips = []
        for index, row in enumerate(rows):
            rng = np.random.default_rng(row.get("sample_seed", index))
            clips += howto100m_eao_clips(
                *read_howto100m_video(row),
                self.captions.get(str(row["id"])),
                self.num_clips,
                rng,
                self.word_vectors,
                audio_frames=self.audio_frames,
            )
        return self.batch(clips)


__all__ = [
    "EverythingAtOnceCollator",
    "HowTo100MEAOCollator",
    "eao_features",
    "howto100m_eao_clips",
    "load_eao_clip_pickle",
    "synthetic_eao_dataset",
]
