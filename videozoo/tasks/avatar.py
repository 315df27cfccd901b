"""The AVATAR speech recognition task for `videozoo.training.fit`: label-smoothed token cross-entropy, corpus WER."""

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from ..metrics.avatar_wer.avatar_wer import word_error_rate
from ..modeling.modeling_avatar import avatar_beam_search
from ..processors.augmentation_avatar import ENGLISH_STOP_WORDS

MODEL_KEYS = ("input_features", "pixel_values", "labels")


def label_smoothed_loss(
    logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.1, pad_token_id: int = 0
) -> torch.Tensor:
    """The reference loss: cross-entropy with label smoothing (on-value 1 - eps + eps / V, off-value eps / V) over the
    target positions with label != PAD, summed and divided by their number (per device batch)."""
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=pad_token_id,
        label_smoothing=smoothing,
    )


class AvatarSpeechRecognitionTask:
    """Training: `label_smoothed_loss` (smoothing 0.1: the reference code's, the paper does not give it) on the
    teacher-forced logits.

    Evaluation: decode every clip (`decoding="beam"`: the reference beam search, 4 beams, alpha 0.6; `"greedy"`: the
    standard greedy `generate`), detokenise the reference's way and score the corpus WER (metric module
    `videozoo/metrics/avatar_wer`) against the normalised transcripts, with the content / stop word split.
    Returns fractions (`wer`, `deletion_rate`, ...) and `wer_percent`.
    """

    def __init__(
        self,
        processor,
        label_smoothing: float = 0.1,
        decoding: str = "beam",
        num_beams: int = 4,
        length_penalty: float = 0.6,
        max_length: int = 128,
        stop_words=ENGLISH_STOP_WORDS,
    ):
        if decoding not in ("beam", "greedy"):
            raise ValueError(f"decoding must be 'beam' or 'greedy', got {decoding!r}")
        self.processor = processor
        self.label_smoothing = label_smoothing
        self.decoding = decoding
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.max_length = max_length
        self.stop_words = stop_words

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k in MODEL_KEYS}
        logits = model(**inputs).logits
        return label_smoothed_loss(logits, inputs["labels"], self.label_smoothing, pad_token_id=0)

    def transcribe(self, model, batch: dict) -> list[str]:
        """Generated transcripts of one batch (the model may be wrapped by Accelerate)."""
        inputs = {k: batch[k] for k in ("input_features", "pixel_values") if k in batch}
        max_length = min(self.max_length, model.config.max_position_embeddings)
        if self.decoding == "beam":
            ids = model.generate(
                **inputs,
                num_beams=self.num_beams,
                length_penalty=self.length_penalty,
                max_length=max_length,
                custom_generate=avatar_beam_search,
            )
        else:
            ids = model.generate(**inputs, do_sample=False, num_beams=1, max_length=max_length)
        return self.processor.batch_decode(ids[:, 1:])

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        predictions, references = [], []
        for batch in dataloader:
            predictions += accelerator.gather_for_metrics(self.transcribe(unwrapped, batch), use_gather_object=True)
            references += accelerator.gather_for_metrics(list(batch["references"]), use_gather_object=True)
        metrics = word_error_rate(predictions, references, self.stop_words)
        metrics["wer_percent"] = 100.0 * metrics["wer"]
        return metrics


__all__ = ["AvatarSpeechRecognitionTask", "label_smoothed_loss"]
