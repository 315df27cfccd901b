"""Processor for BMT: word-level caption vocabulary (reference tokenisation) + `BMTFeatureExtractor`, GloVe rows for
the caption embedding, and the post-processing of the proposal generator's output."""

from collections import Counter
from collections.abc import Iterable, Sequence

import torch
from transformers import BatchFeature, PreTrainedTokenizerFast, ProcessorMixin

from .feature_extraction_bmt import BMTFeatureExtractor
from .validation import require_text
from .word_vectors import word_vector_matrix

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
    words = sorted(
        (w for w, c in counts.items() if c >= min_freq and w not in SPECIAL_TOKENS), key=lambda w: (-counts[w], w)
    )
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
    return PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token=SPECIAL_TOKENS[0], pad_token="<blank>", bos_token="<s>", eos_token="</s>"
    )


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

    def __call__(
        self, text=None, audio=None, rgb=None, flow=None, return_tensors: str = "pt", **kwargs
    ) -> BatchFeature:
        """Tokenise captions into `labels` (BOS ... EOS, PAD after) and/or pad features with masks."""
        if text is None and audio is None:
            raise ValueError("give captions (`text`), features (`audio`, `rgb`, `flow`), or both")
        data = {}
        if text is not None:
            texts = require_text("text", text)
            enc = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=self.max_caption_tokens,
                return_tensors=return_tensors,
                return_token_type_ids=False,
            )
            data["decoder_input_ids"] = enc["input_ids"]
            data["decoder_attention_mask"] = enc["attention_mask"]
        if audio is not None:
            if rgb is None:
                raise ValueError("video features (`rgb`, optionally `flow`) are missing")
            data.update(self.feature_extractor(audio, rgb, flow, return_tensors=return_tensors))
        return BatchFeature(data)

    def decode(self, ids, **kwargs) -> list[str]:
        """Generated ids -> captions: words joined by single spaces, cut at the first EOS; BOS, PAD and EOS dropped.
        A generated UNK (id 0) is dropped too (`skip_special_tokens`); the reference writes `UNK` into the text."""
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True, **kwargs)

    def unknown_words(self, texts: str | Sequence[str]) -> list[list[str]]:
        """The words of each text that are not in the vocabulary (they are encoded as UNK, id 0)."""
        texts = require_text("texts", texts)
        vocab = self.tokenizer.get_vocab()
        return [[w for w in split_caption(t) if w not in vocab] for t in texts]

    def word_vectors(self, path: str, dim: int = 300) -> torch.Tensor:
        """`(vocab_size, dim)` rows of a local GloVe text file (e.g. `glove.840B.300d.txt`) for the caption vocabulary,
        as torchtext fills them: a word is looked up with surrounding spaces stripped (so the UNK string ` UNK `
        takes GloVe's `UNK` row when there is one), words absent from the file get zeros. Copy it into
        `BMTForConditionalGeneration.word_embeddings` before training (the embedding is frozen by default)."""
        itos = [w for w, _ in sorted(self.tokenizer.get_vocab().items(), key=lambda item: item[1])]
        return torch.from_numpy(word_vector_matrix(path, itos, dim))

    def post_process_proposals(self, proposals, durations, **kwargs) -> list[list[dict]]:
        """See `post_process_proposals`."""
        return post_process_proposals(proposals, durations, **kwargs)


def _tiou_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """tIoU of segments `a (N, 2)` against `b (M, 2)` given as (start, end)."""
    inter = (torch.minimum(a[:, None, 1], b[None, :, 1]) - torch.maximum(a[:, None, 0], b[None, :, 0])).clamp_min(0)
    union = (a[:, None, 1] - a[:, None, 0]) + (b[None, :, 1] - b[None, :, 0]) - inter
    union = torch.minimum(
        torch.maximum(a[:, None, 1], b[None, :, 1]) - torch.minimum(a[:, None, 0], b[None, :, 0]), union
    )
    return inter / (union + 1e-8)


def _nms(segments: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS over rows sorted by confidence: drop every later row whose tIoU with a kept one is >= threshold."""
    kept = []
    while len(segments):
        kept.append(segments[0])
        if len(segments) == 1:
            break
        overlap = _tiou_matrix(segments[:1, :2], segments[1:, :2])[0]
        segments = segments[1:][overlap < threshold]
    return torch.stack(kept) if kept else segments


def post_process_proposals(
    proposals: torch.Tensor,
    durations,
    max_proposals: int = 100,
    min_length: float = 0.2,
    nms_threshold: float | None = None,
    order: str = "validation",
) -> list[list[dict]]:
    """`BMTForEventProposal` output `(B, N, 3)` `(centre_s, length_s, confidence)` -> per video a list of
    `{"sentence": "", "proposal_score": conf, "timestamp": [start, end]}`, best first.

    `order="validation"` (the reference validation loop, which gave the paper's numbers): top `max_proposals` by
    confidence -> (start, end) = centre -/+ length / 2 -> start clipped to [0, duration], end to <= duration ->
    optional NMS -> rounded to 5 decimals, segments of `end - start <= min_length` dropped (so fewer than
    `max_proposals` may remain). `order="demo"` (the reference single-video script): corners -> clipping -> short
    segments dropped -> top `max_proposals` -> optional NMS."""
    if order not in ("validation", "demo"):
        raise ValueError(f"order must be 'validation' or 'demo', got {order!r}")
    proposals = torch.as_tensor(proposals).detach().float().cpu()
    if proposals.dim() != 3 or proposals.shape[-1] != 3:
        raise ValueError(f"proposals must have shape (batch, N, 3), got {tuple(proposals.shape)}")
    durations = torch.as_tensor(durations, dtype=torch.float32).reshape(-1)
    if len(durations) != proposals.shape[0]:
        raise ValueError(f"{len(durations)} durations for {proposals.shape[0]} videos")
    results = []
    for video, duration in zip(proposals, durations):
        segments = torch.stack([video[:, 0] - video[:, 1] / 2, video[:, 0] + video[:, 1] / 2, video[:, 2]], dim=1)
        if order == "validation":
            segments = segments[segments[:, 2].argsort(descending=True, stable=True)[:max_proposals]]
        segments[:, 0] = segments[:, 0].clamp(min=0).clamp(max=float(duration))
        segments[:, 1] = segments[:, 1].clamp(max=float(duration))
        if order == "demo":
            segments = segments[segments[:, 1] - segments[:, 0] > min_length]
            segments = segments[segments[:, 2].argsort(descending=True, stable=True)[:max_proposals]]
        if nms_threshold is not None and len(segments):
            segments = _nms(segments, nms_threshold)
        kept = []
        for start, end, conf in segments.tolist():
            start, end = round(start, 5), round(end, 5)
            if end - start > min_length:
                kept.append({"sentence": "", "proposal_score": round(conf, 5), "timestamp": [start, end]})
        results.append(kept)
    return results


__all__ = ["BMTProcessor", "build_caption_vocab", "post_process_proposals", "word_tokenizer", "split_caption"]
