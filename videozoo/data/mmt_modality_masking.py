"""Datasets for modality-masking pre-training: unlabelled clips with RGB, audio and ASR.

The schema is MMT's (`videozoo.data.mmt`, one row per video) with the experts `s3d` (RGB), `vggish` (audio) and
`asr` (wordpiece features of the transcript), plus:

    asr_text   string   the transcript, tokenised into the ASR query of Phi_text
    concept    int32    synthetic data only: the latent concept of the clip (for concept@1 evaluation)

Real data in the HowTo100M-style HDF5 layout is read by `videozoo.data.mmt.load_mmt_features` with
`features.asr` / `features_t.asr` present; its first caption is the transcript (`asr_text_from_captions`).
"""

import datasets
import numpy as np
import torch

from ..processors.processing_mmt import MMTProcessor
from .mmt import _to_dataset, _word, mmt_features
from .mmt_augmentation import random_feature_selections

SYNTHETIC_MASKING_EXPERTS = {"s3d": 48, "vggish": 24, "asr": 32}


def masking_features(expert_feature_sizes: dict[str, int]) -> datasets.Features:
    features = mmt_features(expert_feature_sizes)
    features["asr_text"] = datasets.Value("string")
    features["concept"] = datasets.Value("int32")
    return features


def synthetic_masking_dataset(
    num_train_clips: int = 3000,
    num_test_clips_per_concept: int = 4,
    num_labelled_per_concept: int = 2,
    num_concepts: int = 60,
    noise: float = 1.5,
    missing_asr_rate: float = 0.1,
    seed: int = 0,
) -> datasets.DatasetDict:
    """Clips whose three modalities share one latent concept.

    RGB (48-d, one feature per second) is `U_c + N(0, noise^2)`, audio (24-d) `W_c + N(0, noise^2)`; the ASR is 4-9
    filler words with the concept's word inserted, and its "wordpiece features" (32-d) are frozen random vectors
    of those words (a stand-in for frozen BERT outputs). `missing_asr_rate` of the clips have no speech.
    Splits: `train` (unlabelled), `test` (4 clips per concept: gallery and queries), and a small labelled set for
    fine-tuning, `finetune_train` / `finetune_validation` / `finetune_test`, whose captions name the concept with
    other filler words.
    """
    rng = np.random.default_rng(seed)
    rgb = rng.standard_normal((num_concepts, SYNTHETIC_MASKING_EXPERTS["s3d"])).astype(np.float32)
    audio = rng.standard_normal((num_concepts, SYNTHETIC_MASKING_EXPERTS["vggish"])).astype(np.float32)
    concept_words = [_word(i + 600) for i in range(num_concepts)]
    fillers = [_word(i + 900, 1) for i in range(40)]
    vocabulary = concept_words + fillers
    word_vectors = {
        w: v
        for w, v in zip(
            vocabulary, rng.standard_normal((len(vocabulary), SYNTHETIC_MASKING_EXPERTS["asr"])).astype(np.float32)
        )
    }

    def clip(split_rng, video_id: str, concept: int, speech: bool) -> dict:
        seconds = int(split_rng.integers(10, 21))
        times = np.stack([np.arange(seconds), np.arange(seconds) + 1], axis=1).astype(np.float32)
        row = {
            "video_id": video_id,
            "concept": concept,
            "duration": float(seconds),
            "s3d__features": (rgb[concept] + noise * split_rng.standard_normal((seconds, rgb.shape[1]))).astype(
                np.float32
            ),
            "s3d__times": times,
            "vggish__features": (audio[concept] + noise * split_rng.standard_normal((seconds, audio.shape[1]))).astype(
                np.float32
            ),
            "vggish__times": times,
        }
        if speech:
            words = [fillers[i] for i in split_rng.integers(0, len(fillers) // 2, split_rng.integers(4, 10))]
            words.insert(int(split_rng.integers(0, len(words) + 1)), concept_words[concept])
            starts = np.sort(split_rng.uniform(0, seconds - 0.5, len(words))).astype(np.float32)
            row["asr_text"] = " ".join(words)
            row["asr__features"] = np.stack([word_vectors[w] for w in words]).astype(np.float32)
            row["asr__times"] = np.stack([starts, starts + 0.5], axis=1)
        else:
            row["asr_text"] = ""
            row["asr__features"] = np.zeros((0, SYNTHETIC_MASKING_EXPERTS["asr"]), np.float32)
            row["asr__times"] = np.zeros((0, 2), np.float32)
        caption = [fillers[i] for i in split_rng.integers(len(fillers) // 2, len(fillers), 3)]
        caption.insert(int(split_rng.integers(0, 4)), concept_words[concept])
        row["captions"] = [" ".join(caption)]
        return row

    def split(name: str, concepts: list[int], offset: int) -> datasets.Dataset:
        split_rng = np.random.default_rng([seed, offset])
        rows = [
            clip(split_rng, f"{name}{i:05d}", c, split_rng.random() >= missing_asr_rate)
            for i, c in enumerate(concepts)
        ]
        return _to_dataset(rows, masking_features(SYNTHETIC_MASKING_EXPERTS))

    per_concept = lambda n: [c for c in range(num_concepts) for _ in range(n)]  # noqa: E731
    return datasets.DatasetDict(
        {
            "train": split("train", list(rng.integers(0, num_concepts, num_train_clips)), 1),
            "test": split("test", per_concept(num_test_clips_per_concept), 2),
            "finetune_train": split("ft_train", per_concept(num_labelled_per_concept), 3),
            "finetune_validation": split("ft_validation", per_concept(1), 4),
            "finetune_test": split("ft_test", per_concept(1), 5),
        }
    )


def asr_text_from_captions(dataset: datasets.Dataset) -> datasets.Dataset:
    """For the HDF5 layout: the transcript is the first caption; adds `asr_text` (and `concept` = -1)."""
    return dataset.map(
        lambda row: {"asr_text": row["captions"][0] if len(row["captions"]) else "", "concept": -1},
        features=masking_features(
            {k[: -len("__features")]: v.shape[1] for k, v in dataset.features.items() if k.endswith("__features")}
        ),
    )


class ModalityMaskingCollator:
    """Rows -> inputs of `MMTForModalityMaskingPretraining`.

    Features of every modality go through the MMT feature extractor (per-expert budgets there); with
    `clip_duration`, a window of that many seconds is cropped first (random in training, from the start at
    evaluation) and time codes are relative to it. The ASR query is `asr_query_tokens` consecutive wordpieces of
    the transcript (a random window in training, the first ones at evaluation) between [CLS] and [SEP]; a clip
    without speech gets an all-zero mask.
    """

    def __init__(
        self, processor: MMTProcessor, training: bool, asr_query_tokens: int = 30, clip_duration: float | None = None
    ):
        self.processor = processor
        self.training = training
        self.asr_query_tokens = asr_query_tokens
        self.clip_duration = clip_duration

    def _crop(self, row: dict, rng: np.random.Generator, names: list[str]) -> tuple[dict, dict, float]:
        features = {name: np.asarray(row[f"{name}__features"], np.float32) for name in names}
        stamps = {name: np.asarray(row[f"{name}__times"], np.float32) for name in names}
        duration = float(row.get("duration") or 0.0)
        if not self.clip_duration or duration <= self.clip_duration:
            return features, stamps, 0.0
        start = float(rng.uniform(0, duration - self.clip_duration)) if self.training else 0.0
        for name in names:
            if len(features[name]) and len(stamps[name]):
                centres = stamps[name].reshape(-1, 2).mean(axis=1)
                keep = (centres >= start) & (centres < start + self.clip_duration)
                features[name], stamps[name] = features[name][keep], stamps[name].reshape(-1, 2)[keep]
        return features, stamps, start

    def _asr_query(self, texts: list[str], rngs: list[np.random.Generator]) -> dict:
        tokenizer = self.processor.tokenizer
        length = self.asr_query_tokens + 2
        ids = torch.full((len(texts), length), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(texts), length), dtype=torch.long)
        for index, (text, rng) in enumerate(zip(texts, rngs)):
            pieces = tokenizer(str(text), add_special_tokens=False)["input_ids"] if str(text).strip() else []
            if not pieces:
                continue
            start = (
                int(rng.integers(0, len(pieces) - self.asr_query_tokens + 1))
                if self.training and len(pieces) > self.asr_query_tokens
                else 0
            )
            window = (
                [tokenizer.cls_token_id] + pieces[start : start + self.asr_query_tokens] + [tokenizer.sep_token_id]
            )
            ids[index, : len(window)] = torch.tensor(window)
            mask[index, : len(window)] = 1
        return {"asr_query_ids": ids, "asr_query_attention_mask": mask}

    def __call__(self, rows) -> dict:
        names = list(self.processor.feature_extractor.expert_names)
        rngs = [np.random.default_rng(row.get("sample_seed", index)) for index, row in enumerate(rows)]
        cropped = [self._crop(row, rng, names) for row, rng in zip(rows, rngs)]
        extractor = self.processor.feature_extractor
        features = [c[0] for c in cropped]
        batch = dict(
            extractor(
                features,
                expert_timestamps=[c[1] for c in cropped],
                window_starts=[c[2] for c in cropped],
                selections=random_feature_selections(extractor, features, rngs) if self.training else None,
            )
        )
        batch.update(self._asr_query([row["asr_text"] for row in rows], rngs))
        if "concept" in rows[0]:
            batch["concept"] = torch.tensor([int(row["concept"]) for row in rows])
        return batch


__all__ = ["ModalityMaskingCollator", "asr_text_from_captions", "masking_features", "synthetic_masking_dataset"]
