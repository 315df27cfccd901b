"""Datasets for Everything at Once: an embedded synthetic tri-modal task, in the schema of the reference feature
layouts (spec §6.5), one row per clip:

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
    return datasets.Features({
        "id": datasets.Value("string"),
        "text": datasets.Array2D((None, text_dim), "float32"),
        "video": datasets.Array2D((None, video_dim), "float32"),
        "audio": datasets.Array2D((None, num_mel_bins), "float32"),
    })


def synthetic_eao_dataset(num_train: int = 8192, num_test: int = 512, frames_per_token: int = 64, seed: int = 0) -> datasets.DatasetDict:
    """Two latent concepts per clip, c1 ("seen") and c2 ("heard") in 16 x 16 (spec §10.1). Text: 2-8 word vectors
    (32-d), word 0 names c1, word 1 names c2, the others one of the two. Video: 4-12 tokens E_v[c1] + noise (64-d).
    Audio: 2-6 x `frames_per_token` frames of E_a[c2] + noise (40 bins). Text identifies (c1, c2); video only c1,
    audio only c2: text -> video+audio has an R@1 ceiling near 43% on 512 test clips, text -> video or audio near 3%."""
    rng = np.random.default_rng(seed)
    text_1, text_2 = rng.standard_normal((16, 32)), rng.standard_normal((16, 32))
    video_table, audio_table = rng.standard_normal((16, 64)), rng.standard_normal((16, 40))

    def clip(split_rng, index: int, prefix: str) -> dict:
        c1, c2 = int(split_rng.integers(16)), int(split_rng.integers(16))
        words = [text_1[c1], text_2[c2]] + [text_1[c1] if split_rng.random() < 0.5 else text_2[c2] for _ in range(split_rng.integers(0, 7))]
        text = np.stack(words) + 0.5 * split_rng.standard_normal((len(words), 32))
        video = video_table[c1] + split_rng.standard_normal((int(split_rng.integers(4, 13)), 64))
        video = video / np.linalg.norm(video, axis=1, keepdims=True)
        audio = audio_table[c2] + split_rng.standard_normal((int(split_rng.integers(2, 7)) * frames_per_token, 40))
        return {"id": f"{prefix}{index:05d}", "text": text.astype(np.float32), "video": video.astype(np.float32), "audio": audio.astype(np.float32)}

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
        for key, feature_key, mask_key in (("text", "text_features", "text_attention_mask"), ("video", "video_features", "video_attention_mask")):
            arrays = [np.asarray(row[key]) for row in rows]
            width = next((a.shape[-1] for a in arrays if a.ndim == 2 and a.size), None)
            if width is None:
                continue
            batch[feature_key], batch[mask_key] = self._pad(arrays, max(1, max(len(a) for a in arrays)), width)
        audio = [np.asarray(row["audio"]) for row in rows]
        mel = next((a.shape[-1] for a in audio if a.ndim == 2 and a.size), None)
        if mel is not None:
            longest = max(len(a) for a in audio)
            frames = self.max_frames or max(self.frames_per_token, -(-longest // self.frames_per_token) * self.frames_per_token)
            spectrogram, mask = self._pad(audio, frames, mel)
            batch["input_features"], batch["audio_attention_mask"] = spectrogram.transpose(1, 2), mask
        return batch


__all__ = ["EverythingAtOnceCollator", "eao_features", "load_eao_clip_pickle", "synthetic_eao_dataset"]


def _l2(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def load_eao_clip_pickle(path, word_vectors: dict | None = None, max_words: int = 20) -> datasets.Dataset:
    """The EAO release's YouCook2 / MSR-VTT pickles (`2d_full`/`3d_full` or `2d`/`3d` per-step features, `audio`
    (40, frames), `caption` / `eval_caption`): video tokens = the 2D rows nearest-resampled onto the 3D rows, each
    stream L2-normalised per row, concatenated; text = word vectors of the caption when `word_vectors` are given."""
    from ..processors.word_vectors import embed_words
    from .pickles import load_data_pickle

    records = load_data_pickle(path)
    rows = []
    for index, record in enumerate(records):
        features_2d = np.asarray(record.get("2d_full", record.get("2d")), np.float32).reshape(-1, 2048)
        features_3d = np.asarray(record.get("3d_full", record.get("3d")), np.float32).reshape(-1, 2048)
        nearest = np.minimum((np.arange(len(features_3d)) * len(features_2d) / max(1, len(features_3d))).astype(int), len(features_2d) - 1)
        video = np.concatenate([_l2(features_2d[nearest]), _l2(features_3d)], axis=1) if len(features_2d) else np.zeros((0, 4096), np.float32)
        caption = record.get("eval_caption", record.get("caption", ""))
        caption = caption[0] if isinstance(caption, (list, tuple)) and caption else caption
        text = np.zeros((0, 300), np.float32)
        if word_vectors is not None:
            vectors, mask = embed_words([str(caption)], word_vectors, max_words, len(next(iter(word_vectors.values()))))
            text = vectors[0][mask[0].bool()].numpy()
        rows.append({"id": str(record.get("id", index)), "text": text, "video": video.astype(np.float32),
                     "audio": np.asarray(record["audio"], np.float32).T})
    if not rows:
        raise ValueError(f"{path} holds no clip")
    features = eao_features(rows[0]["text"].shape[1], 4096, rows[0]["audio"].shape[1])
    return datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)
