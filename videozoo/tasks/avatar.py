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


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the paper configuration (271.6 M parameters: a 12-layer ViT-B MBT encoder
    over 2 frames of 224 x 224 and 2,500 log-mel frames, an 8-layer decoder, 30,522 wordpieces; Gabeur et al. 2022
    Sec. 4), 64-token targets, the label-smoothed loss of training. Generation: greedy `generate()` with the cache
    against `use_cache=False` (the prefix and the memory projections recomputed at every step)."""
    from ..benchmarking import Workload
    from ..configuration import AvatarConfig
    from ..modeling import AvatarForConditionalGeneration

    paper = config is None
    config = config or AvatarConfig()
    target_tokens = 64 if paper else 12

    def make_inputs(batch, generator):
        return {
            "input_features": torch.randn(batch, config.max_audio_frames, config.num_mel_bins, generator=generator),
            "pixel_values": torch.rand(batch, 3, config.num_frames, *config.frame_size, generator=generator) * 2 - 1,
            "labels": torch.randint(4, config.vocab_size, (batch, target_tokens), generator=generator),
        }

    def generation(model, inputs, new_tokens):
        encoder_inputs = {k: inputs[k] for k in ("input_features", "pixel_values")}
        memory = model.get_encoder()(**encoder_inputs)
        common = dict(
            encoder_outputs=memory,
            do_sample=False,
            num_beams=1,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            eos_token_id=None,
        )
        return {
            "generate, key/value cache": lambda: model.generate(
                input_features=inputs["input_features"], use_cache=True, **common
            )[:, -new_tokens:],
            "generate, no cache": lambda: model.generate(
                input_features=inputs["input_features"], use_cache=False, **common
            )[:, -new_tokens:],
        }

    return Workload(
        description=f"{config.num_frames} frames of {config.frame_size}, {config.max_audio_frames} log-mel frames, "
        f"{target_tokens}-token targets",
        build_model=lambda: AvatarForConditionalGeneration(config),
        make_inputs=make_inputs,
        loss=lambda model, inputs: label_smoothed_loss(model(**inputs).logits, inputs["labels"], 0.1, pad_token_id=0),
        paper_batch_size=32,
        cpu_batch_size=2,
        learning_rate=1e-4,
        generate=generation,
    )
