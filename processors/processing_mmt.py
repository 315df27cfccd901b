"""Processor for MMT: a BERT WordPiece tokenizer for captions plus `MMTFeatureExtractor` for expert features."""

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from transformers import BatchFeature, BertTokenizer, ProcessorMixin

from .feature_extraction_mmt import MMTFeatureExtractor
from .validation import require_text


def normalize_caption(caption: str | Sequence[str], capitalize: bool = True) -> str:
    """The reference's caption normalisation (gabeur/mmt `tokenize_caption`): join words, strip, end with a full
    stop unless already punctuated, then `str.capitalize()` (which also lower-cases the rest)."""
    text = caption if isinstance(caption, str) else " ".join(require_text("caption words", caption))
    text = text.strip()
    if not text:
        raise ValueError("empty caption")
    if text[-1] not in ".?!":
        text += "."
    return text.capitalize() if capitalize else text


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece_vocab(captions: Iterable[str], vocab_size: int = 1000, lowercase: bool = True) -> list[str]:
    """Learn a BERT WordPiece vocabulary offline from captions, deterministically.

    Words come from BERT's own normaliser and pre-tokeniser (`tokenizers`). The vocabulary starts with the special
    tokens and every character (as a word start `c` and as a continuation `##c`), then grows by merging the most
    frequent adjacent pair of pieces (counted over word occurrences) until `vocab_size` tokens or whole words,
    like the WordPiece trainer of `tokenizers` does. Unlike that trainer, whose ties (and token numbering) follow a
    hash order that changes from process to process, ties go to the lexicographically first pair, so the same
    captions give the same vocabulary, with the same ids, in every run.
    """
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for caption in captions:
        counts.update(word for word, _ in splitter.pre_tokenize_str(normalizer.normalize_str(str(caption))))
    words = sorted(counts)
    pieces = [[word[0]] + ["##" + char for char in word[1:]] for word in words]
    characters = {char for word in words for char in word}
    vocab = SPECIAL_TOKENS + sorted(({*characters, *("##" + char for char in characters)}) - set(SPECIAL_TOKENS))
    known = set(vocab)

    pair_counts: Counter[tuple[str, str]] = Counter()
    pair_words: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, word in enumerate(pieces):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += counts[words[index]]
            pair_words[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative or negative == 0:
            continue  # stale entry: the count changed after it was pushed
        merged = pair[0] + pair[1][2:]
        if merged not in known:
            vocab.append(merged)
            known.add(merged)
        changed: set[tuple[str, str]] = set()
        for index in sorted(pair_words.pop(pair)):
            word, frequency = pieces[index], counts[words[index]]
            for old in zip(word, word[1:]):
                pair_counts[old] -= frequency
                changed.add(old)
            position, joined = 0, []
            while position < len(word):
                if position + 1 < len(word) and (word[position], word[position + 1]) == pair:
                    joined.append(merged)
                    position += 2
                else:
                    joined.append(word[position])
                    position += 1
            pieces[index] = joined
            for new in zip(joined, joined[1:]):
                pair_counts[new] += frequency
                pair_words[new].add(index)
                changed.add(new)
        for key in changed:
            if pair_counts[key] > 0:
                heapq.heappush(heap, (-pair_counts[key], key))
            else:
                pair_counts.pop(key, None)
    return vocab


class MMTProcessor(ProcessorMixin):
    r"""
    Captions and expert features for [`MMTModel`].

    Captions are normalised as the reference does (`normalize_caption`) and tokenised with a BERT WordPiece
    tokenizer (the reference: bert-base-cased's vocabulary with `do_lower_case=True`) into `[CLS] ... [SEP]`,
    cut to `max_text_tokens` with `[SEP]` kept last. Features go through [`MMTFeatureExtractor`].

    Args:
        feature_extractor ([`MMTFeatureExtractor`]): pads and masks expert features.
        tokenizer ([`BertTokenizer`]): WordPiece tokenizer from a local vocabulary.
        max_text_tokens (`int`, defaults to 30): caption length in tokens, [CLS] and [SEP] included.
        capitalize_captions (`bool`, defaults to `True`): apply `str.capitalize()` as the reference does.
    """

    def __init__(
        self,
        feature_extractor=None,
        tokenizer=None,
        max_text_tokens: int = 30,
        capitalize_captions: bool = True,
        **kwargs,
    ):
        self.max_text_tokens = max_text_tokens
        self.capitalize_captions = capitalize_captions
        super().__init__(feature_extractor, tokenizer, **kwargs)

    @classmethod
    def from_vocab_file(
        cls,
        vocab_file: str | Path,
        expert_names: Sequence[str],
        expert_feature_sizes: dict[str, int] | None = None,
        lowercase: bool = True,
        **kwargs,
    ) -> "MMTProcessor":
        """Build from a local `vocab.txt` (e.g. bert-base-cased's); `kwargs` go to the feature extractor."""
        from ..configuration.configuration_mmt import MMT_EXPERT_TABLE

        path = Path(vocab_file)
        if not path.is_file():
            raise FileNotFoundError(f"no WordPiece vocabulary at {path}")
        sizes = expert_feature_sizes or {name: MMT_EXPERT_TABLE[name][0] for name in expert_names}
        processor_kwargs = {k: kwargs.pop(k) for k in ("max_text_tokens", "capitalize_captions") if k in kwargs}
        tokenizer = BertTokenizer(vocab=str(path), do_lower_case=lowercase)  # `vocab_file=` is silently ignored in v5
        extractor = MMTFeatureExtractor(expert_names=expert_names, expert_feature_sizes=sizes, **kwargs)
        return cls(feature_extractor=extractor, tokenizer=tokenizer, **processor_kwargs)

    def tokenize(self, captions: Sequence[str | Sequence[str]], return_tensors: str = "pt") -> BatchFeature:
        texts = [normalize_caption(c, self.capitalize_captions) for c in captions]
        return self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_text_tokens,
            return_token_type_ids=False,
            return_tensors=return_tensors,
        )

    def __call__(self, text=None, expert_features=None, return_tensors: str = "pt", **kwargs) -> BatchFeature:
        """Tokenise `text` (a list of captions) and/or pad `expert_features` (see `MMTFeatureExtractor.__call__`)."""
        if text is None and expert_features is None:
            raise ValueError("give captions (`text`), expert features, or both")
        data = {}
        if text is not None:
            if isinstance(text, str):
                text = [text]
            elif text is None or not isinstance(text, (list, tuple)) or not text:
                raise ValueError(f"text must be a caption or a non-empty list of captions, got {type(text).__name__}")
            for index, caption in enumerate(text):  # a caption may also be a list of words
                if not isinstance(caption, str):
                    require_text(f"text[{index}]", caption)
            data.update(self.tokenize(text, return_tensors=return_tensors))
        if expert_features is not None:
            data.update(self.feature_extractor(expert_features, return_tensors=return_tensors, **kwargs))
        return BatchFeature(data)


__all__ = ["MMTProcessor", "normalize_caption", "train_wordpiece_vocab"]
