"""Processor for BMT: word-level caption vocabulary (reference tokenisation) + `BMTFeatureExtractor`."""

from collections import Counter
from collections.abc import Iterable, Sequence

from transformers import BatchFeature, PreTrainedTokenizerFast, ProcessorMixin

from .feature_extraction_bmt import BMTFeatureExtractor

SPECIAL_TOKENS = [" UNK ", "<blank>", "<s>", "</s>"]  # ids 0 UNK, 1 PAD, 2 BOS, 3 EOS (torchtext order)
# Approximation of spaCy's English tokenizer (the reference's): contractions and punctuation split off words.
TOKEN_PATTERN = r"n't|'s|'re|'ve|'ll|'d|'m|[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*|[^\sA-Za-z0-9_]"


def _pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(TOKEN_PATTERN), behavior="isolated")]
    )


def split_caption(caption: str) -> list[str]:
    """Lower-cased word tokens of a caption, as the vocabulary and tokenizer see them."""
    return [piece for piece, _ in _pre_tokenizer().pre_tokenize_str(caption.lower()) if piece.strip()]


def build_caption_vocab(captions: Iterable[str], min_freq: int = 1) -> list[str]:
    """`itos` as the reference builds it from the training captions: the four specials, then every token with
    frequency >= `min_freq`, by frequency descending, ties alphabetical."""
    counts = Counter(token for caption in captions for token in split_caption(caption))
    words = sorted((w for w, c in counts.items() if c >= min_freq and w not in SPECIAL_TOKENS),
                   key=lambda w: (-counts[w], w))
    return SPECIAL_TOKENS + words


def word_tokenizer(itos: Sequence[str]) -> PreTrainedTokenizerFast:
    """A fast word-level tokenizer over `itos` that adds BOS / EOS, lower-cases and maps unknown words to UNK."""
    from tokenizers import Tokenizer, models, normalizers, processors

    if list(itos[:4]) != SPECIAL_TOKENS:
        raise ValueError(f"the vocabulary must start with the specials {SPECIAL_TOKENS}")
    if len(set(itos)) != len(itos):
        raise ValueError("the vocabulary holds duplicate tokens")
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(itos)}, unk_token=SPECIAL_TOKENS[0]))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = _pre_tokenizer()
    core.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 2), ("</s>", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token=SPECIAL_TOKENS[0], pad_token="<blank>",
                                   bos_token="<s>", eos_token="</s>")


class BMTProcessor(ProcessorMixin):
    r"""
    Captions and pre-extracted features for [`BMTForConditionalGeneration`] / [`BMTForEventProposal`] (and MDVC).

    Args:
        feature_extractor ([`BMTFeatureExtractor`]): sums rgb + flow, pads, returns masks.
        tokenizer ([`PreTrainedTokenizerFast`]): word-level vocabulary built offline from the training captions
            (`build_caption_vocab`), saved with the processor.
        max_caption_tokens (`int`, defaults to 32): caption length cap, BOS and EOS included.
    """

    def __init__(self, feature_extractor=None, tokenizer=None, max_caption_tokens: int = 32, **kwargs):
        self.max_caption_tokens = max_caption_tokens
        super().__init__(feature_extractor, tokenizer, **kwargs)

    @classmethod
    def from_captions(cls, captions: Iterable[str], min_freq: int = 1, **feature_kwargs) -> "BMTProcessor":
        return cls(BMTFeatureExtractor(**feature_kwargs), word_tokenizer(build_caption_vocab(captions, min_freq)))

    def __call__(self, text=None, audio=None, rgb=None, flow=None, return_tensors: str = "pt", **kwargs) -> BatchFeature:
        """Tokenise captions into `labels` (BOS ... EOS, PAD after) and/or pad features with masks."""
        if text is None and audio is None:
            raise ValueError("give captions (`text`), features (`audio`, `rgb`, `flow`), or both")
        data = {}
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_caption_tokens,
                                 return_tensors=return_tensors, return_token_type_ids=False)
            data["decoder_input_ids"] = enc["input_ids"]
            data["decoder_attention_mask"] = enc["attention_mask"]
        if audio is not None:
            if rgb is None:
                raise ValueError("video features (`rgb`, optionally `flow`) are missing")
            data.update(self.feature_extractor(audio, rgb, flow, return_tensors=return_tensors))
        return BatchFeature(data)

    def decode(self, ids, **kwargs) -> list[str]:
        """Generated ids -> captions (specials dropped)."""
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True, **kwargs)


__all__ = ["BMTProcessor", "build_caption_vocab", "word_tokenizer", "split_caption"]
