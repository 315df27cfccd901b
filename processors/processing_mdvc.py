"""Processor for MDVC: caption vocabulary and ASR subtitle (speech) vocabulary, both word level with the reference
tokenisation, and audio / video features truncated to their common length with one shared mask.

Loading: the subtitle vocabulary lives in the `speech_tokenizer/` subfolder of a saved processor. transformers'
generic loader reads it with `AutoTokenizer`, which also looks for a `config.json` in that subfolder; offline (from
the cache of a normal download, or after `snapshot_download`) that look-up fails, and transformers then falls back
to the root tokenizer with only a warning, so subtitles would be encoded with the caption vocabulary. This processor
loads `speech_tokenizer/tokenizer.json` itself, with the tokenizer class it always saves, and raises when it cannot.
"""

from collections.abc import Iterable, Sequence

import numpy as np
from transformers import BatchFeature, PreTrainedTokenizerFast
from transformers.utils import cached_file

from .feature_extraction_bmt import BMTFeatureExtractor
from .processing_bmt import BMTProcessor, build_caption_vocab, split_caption, word_tokenizer
from .validation import require_text

# Arguments of `from_pretrained` that say where and how to fetch files (the rest are processor settings).
_DOWNLOAD_KWARGS = ("cache_dir", "force_download", "proxies", "token", "revision", "local_files_only")


class MDVCProcessor(BMTProcessor):
    r"""
    Inputs of [`MDVCForConditionalGeneration`].

    Args:
        feature_extractor ([`BMTFeatureExtractor`]): sums rgb + flow and pads (value 1.0, the reference sentinel).
        tokenizer ([`PreTrainedTokenizerFast`]): caption vocabulary built from the training captions.
        speech_tokenizer ([`PreTrainedTokenizerFast`]): subtitle vocabulary built from the training events'
            subtitles (MDVC's `subs` column), same tokenisation and the same four specials (PAD = 1 in both).
        max_caption_tokens (`int`, defaults to 52): caption length cap, BOS and EOS included.
        max_speech_tokens (`int`, optional): subtitle length cap (the reference has none; the model accepts up to
            `max_position_embeddings`).

    Unknown words (captions or subtitles) are encoded as UNK (id 0); an event without speech is `[BOS, EOS]`.
    """

    def __init__(
        self,
        feature_extractor=None,
        tokenizer=None,
        speech_tokenizer=None,
        max_caption_tokens: int = 52,
        max_speech_tokens: int | None = None,
        **kwargs,
    ):
        self.max_speech_tokens = max_speech_tokens
        self.max_caption_tokens = max_caption_tokens
        super(BMTProcessor, self).__init__(feature_extractor, tokenizer, speech_tokenizer, **kwargs)

    @classmethod
    def _load_tokenizer_from_pretrained(
        cls, sub_processor_type, pretrained_model_name_or_path, subfolder="", **kwargs
    ):
        """The caption tokenizer as transformers loads it; the subtitle tokenizer exactly from its subfolder, or an
        error (never the root tokenizer in its place)."""
        if sub_processor_type == "tokenizer":
            return super()._load_tokenizer_from_pretrained(
                sub_processor_type, pretrained_model_name_or_path, subfolder=subfolder, **kwargs
            )
        folder = f"{subfolder}/{sub_processor_type}" if subfolder else sub_processor_type
        download = {key: kwargs[key] for key in _DOWNLOAD_KWARGS if key in kwargs}
        found = cached_file(
            pretrained_model_name_or_path,
            "tokenizer.json",
            subfolder=folder,
            _raise_exceptions_for_missing_entries=False,
            **download,
        )
        if found is None:
            raise OSError(
                f"{pretrained_model_name_or_path}: the {cls.__name__} needs `{folder}/tokenizer.json` (its "
                f"`{sub_processor_type}`), which is neither in the folder or cache nor downloadable; refusing to "
                "encode subtitles with the caption vocabulary"
            )
        return PreTrainedTokenizerFast.from_pretrained(pretrained_model_name_or_path, subfolder=folder, **download)

    @classmethod
    def from_captions(
        cls, captions: Iterable[str], speech: Iterable[str] = (), min_freq: int = 1, **feature_kwargs
    ) -> "MDVCProcessor":
        """Both vocabularies from the training events: `captions` and their subtitle strings `speech`."""
        return cls(
            BMTFeatureExtractor(**feature_kwargs),
            word_tokenizer(build_caption_vocab(captions, min_freq)),
            word_tokenizer(build_caption_vocab(speech, min_freq)),
        )

    def __call__(
        self, text=None, audio=None, rgb=None, flow=None, speech=None, return_tensors: str = "pt", **kwargs
    ) -> BatchFeature:
        """Captions -> `decoder_input_ids` / `decoder_attention_mask`; subtitles (`speech`, one string per event,
        may be empty) -> `speech_input_ids` / `speech_attention_mask`; per-event features (`audio`, `rgb`,
        `flow`) -> `audio_features`, `video_features` (rgb + flow) truncated to their common length, and the
        shared `feature_attention_mask`."""
        if text is None and audio is None and speech is None:
            raise ValueError(
                "give captions (`text`), subtitles (`speech`), features (`audio`, `rgb`, `flow`), or some"
            )
        data = {}
        if text is not None:
            data.update(BMTProcessor.__call__(self, text=text, return_tensors=return_tensors))
        if speech is not None:
            texts = require_text("speech", speech)  # "" is an event without speech; None is refused
            enc = self.speech_tokenizer(
                texts,
                padding=True,
                truncation=self.max_speech_tokens is not None,
                max_length=self.max_speech_tokens,
                return_tensors=return_tensors,
                return_token_type_ids=False,
            )
            data["speech_input_ids"] = enc["input_ids"]
            data["speech_attention_mask"] = enc["attention_mask"].bool()
        if audio is not None:
            if rgb is None:
                raise ValueError("video features (`rgb`, optionally `flow`) are missing")
            if len(audio) != len(rgb) or (flow is not None and len(flow) != len(rgb)):
                raise ValueError("audio, rgb and flow must hold the same number of samples")
            lengths = [min(len(a), len(r)) for a, r in zip(audio, rgb)]
            audio = [np.asarray(a)[:n] for a, n in zip(audio, lengths)]
            rgb = [np.asarray(r)[:n] for r, n in zip(rgb, lengths)]
            flow = None if flow is None else [np.asarray(f)[:n] for f, n in zip(flow, lengths)]
            features = self.feature_extractor(audio, rgb, flow, return_tensors=return_tensors)
            data["audio_features"] = features["audio_features"]
            data["video_features"] = features["video_features"]
            data["feature_attention_mask"] = features["video_attention_mask"]
        return BatchFeature(data)

    def unknown_speech_words(self, texts: str | Sequence[str]) -> list[list[str]]:
        """The subtitle words of each text that are not in the speech vocabulary (encoded as UNK)."""
        texts = require_text("texts", texts)
        vocab = self.speech_tokenizer.get_vocab()
        return [[w for w in split_caption(t) if w not in vocab] for t in texts]


__all__ = ["MDVCProcessor"]
