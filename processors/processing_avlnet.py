"""Processor for AVLnet: log-mel audio, pooled video features, and word vectors for the text variants."""

from pathlib import Path

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .feature_extraction_avlnet import AVLnetFeatureExtractor, pool_video_features
from .validation import require_text
from .word_vectors import embed_words, load_word_vectors


class AVLnetProcessor(ProcessorMixin):
    r"""
    Audio, video and text inputs of [`AVLnetModel`].

    Args:
        feature_extractor ([`AVLnetFeatureExtractor`]): the log-mel front end.
        max_words (`int`, defaults to 20): word slots of the text variants (zero rows when a caption is shorter).
        word_embedding_size (`int`, defaults to 300): size of the word vectors.
    Word vectors come from a local file given to `load_word_vectors` (never saved with the processor).
    """

    def __init__(self, feature_extractor=None, max_words: int = 20, word_embedding_size: int = 300, **kwargs):
        self.max_words = max_words
        self.word_embedding_size = word_embedding_size
        self.word_vectors: dict[str, np.ndarray] | None = None
        super().__init__(feature_extractor, **kwargs)

    @classmethod
    def default(cls, config=None, **kwargs) -> "AVLnetProcessor":
        mel = getattr(config, "num_mel_bins", 40)
        words = getattr(config, "word_embedding_size", 300)
        return cls(AVLnetFeatureExtractor(num_mel_bins=mel, **kwargs), word_embedding_size=words)

    def to_dict(self, *args, **kwargs):
        output = super().to_dict(*args, **kwargs)
        output.pop("word_vectors", None)
        return output

    def load_word_vectors(self, path: str | Path) -> "AVLnetProcessor":
        vectors = load_word_vectors(path)
        size = len(next(iter(vectors.values())))
        if size != self.word_embedding_size:
            raise ValueError(f"{path} has {size}-d vectors; this processor expects {self.word_embedding_size}")
        self.word_vectors = vectors
        return self

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        """Captions -> `(batch, max_words, word_embedding_size)`: lower-cased words found in the vocabulary, in
        order."""
        return embed_words(texts, self.word_vectors, self.max_words, self.word_embedding_size)[0]

    def __call__(self, audio=None, sampling_rate: int | None = None, video=None, text=None, **kwargs) -> BatchFeature:
        """`audio`: waveforms (with `sampling_rate`); `video`: per clip a list of feature streams `(time, dim)`;
        `text`: captions. Returns `input_features`, `audio_lengths`, `video_features`, `text_features`."""
        if audio is None and video is None and text is None:
            raise ValueError("give audio, video or text")
        data = {}
        if audio is not None:
            data.update(self.feature_extractor(audio, sampling_rate=sampling_rate, **kwargs))
        if video is not None:
            data["video_features"] = torch.stack([pool_video_features(streams) for streams in video])
        if text is not None:
            data["text_features"] = self.embed_text(require_text("text", text))
        return BatchFeature(data)


__all__ = ["AVLnetProcessor"]
