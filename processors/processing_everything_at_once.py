"""Processor for Everything at Once: word vectors, padded video features and log-mel audio, each with its mask."""

from pathlib import Path

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .feature_extraction_avlnet import AVLnetFeatureExtractor
from .word_vectors import embed_words, load_word_vectors


class EverythingAtOnceProcessor(ProcessorMixin):
    r"""
    Inputs of [`EverythingAtOnceModel`] for any combination of modalities.

    The audio front end is AVLnet's ([`AVLnetFeatureExtractor`], spec §3.3), padded with 0 dB to `max_frames`, which
    must be a multiple of 64 (one audio token per 64 frames; the reference lengths are 768 for 8-s training clips,
    3072 for MSR-VTT and 4608 for YouCook2: padding is not neutral for the CNN, so keep them to reproduce numbers).
    Video features `(steps, dim)` are padded with zero rows; text goes through local word vectors
    (`load_word_vectors`).

    Args:
        feature_extractor ([`AVLnetFeatureExtractor`]): the log-mel front end.
        max_words (`int`, defaults to 20), max_video_steps (`int`, defaults to 12), word_embedding_size (300).
    """

    def __init__(self, feature_extractor=None, max_words: int = 20, max_video_steps: int = 12, word_embedding_size: int = 300, **kwargs):
        self.max_words = max_words
        self.max_video_steps = max_video_steps
        self.word_embedding_size = word_embedding_size
        self.word_vectors = None
        super().__init__(feature_extractor, **kwargs)
        if self.feature_extractor.max_frames % 64:
            raise ValueError(f"max_frames must be a multiple of 64 (one audio token per 64 frames), got {self.feature_extractor.max_frames}")

    @classmethod
    def default(cls, max_frames: int = 768, **kwargs) -> "EverythingAtOnceProcessor":
        return cls(AVLnetFeatureExtractor(max_frames=max_frames), **kwargs)

    def to_dict(self, *args, **kwargs):
        output = super().to_dict(*args, **kwargs)
        output.pop("word_vectors", None)
        return output

    def load_word_vectors(self, path: str | Path) -> "EverythingAtOnceProcessor":
        self.word_vectors = load_word_vectors(path)
        return self

    def __call__(self, text=None, video=None, audio=None, sampling_rate: int | None = None, **kwargs) -> BatchFeature:
        if text is None and video is None and audio is None:
            raise ValueError("give text, video or audio")
        data = {}
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            data["text_features"], data["text_attention_mask"] = embed_words(texts, self.word_vectors, self.max_words, self.word_embedding_size)
        if video is not None:
            arrays = [torch.as_tensor(np.asarray(v), dtype=torch.float32) for v in video]
            if any(a.dim() != 2 for a in arrays) or len({a.shape[1] for a in arrays}) != 1:
                raise ValueError("video features must be (steps, dim) arrays of one width")
            features = torch.zeros(len(arrays), self.max_video_steps, arrays[0].shape[1])
            mask = torch.zeros(len(arrays), self.max_video_steps, dtype=torch.long)
            for row, array in enumerate(arrays):
                steps = min(len(array), self.max_video_steps)
                features[row, :steps], mask[row, :steps] = array[:steps], 1
            data["video_features"], data["video_attention_mask"] = features, mask
        if audio is not None:
            out = self.feature_extractor(audio, sampling_rate=sampling_rate, **kwargs)
            frames = out["input_features"].shape[2]
            data["input_features"] = out["input_features"]
            data["audio_attention_mask"] = (torch.arange(frames)[None] < out["audio_lengths"][:, None]).long()
        return BatchFeature(data)


__all__ = ["EverythingAtOnceProcessor"]
