"""Dense video captioning tasks for `videozoo.training.fit`: the BMT / MDVC captioner on ground-truth events, and
the BMT event proposal generator.

Both losses are the models' own (the reference label-smoothed KL per caption token; the YOLO-style proposal loss
summed over the heads), averaged per process and, by DDP, over processes, as the reference's DataParallel runs.
"""

import re

import torch
from accelerate import Accelerator

from ..metrics.dense_video_captioning.dense_video_captioning import captioning_scores, proposal_scores
from ..processors.processing_bmt import post_process_proposals, split_caption

CAPTIONER_INPUTS = {
    "bmt": ("audio_features", "video_features", "audio_attention_mask", "video_attention_mask"),
    "mdvc": (
        "video_features",
        "audio_features",
        "feature_attention_mask",
        "speech_input_ids",
        "speech_attention_mask",
    ),
}
TEACHER_FORCING_INPUTS = ("decoder_input_ids", "decoder_attention_mask", "labels")
PROPOSAL_INPUTS = ("audio_features", "video_features", "audio_attention_mask", "video_attention_mask", "event_targets")


def normalize_sentence(text: str) -> str:
    """Lower-cased tokens joined by single spaces (how generated captions are written), for exact match."""
    return " ".join(split_caption(re.sub(r"\s+", " ", str(text))))


class DenseCaptioningTask:
    """The captioner on ground-truth events (BMT or MDVC).

    Evaluation, over the caption view given to `fit`: the teacher-forced loss and token accuracy, then `generate()`
    (greedy, or beam search with `num_beams > 1`) for every event, scored by
    - `exact_match`: share of events whose generated caption equals the reference (tokens, lower case);
    - `BLEU@3`, `BLEU@4` (and `METEOR` with `meteor` = "auto" / "coco" / "nltk") of the dense-captioning metric
      module in the ground-truth-proposal setting (every event is a prediction, tIoU thresholds `tious`);
    `predictions` (after `evaluate`) holds `{video_id: [{"sentence", "timestamp"}]}` for a submission file."""

    def __init__(
        self,
        processor,
        eval_rows,
        references: dict | None = None,
        model_type: str = "bmt",
        max_new_tokens: int = 30,
        num_beams: int = 1,
        tious=(0.5,),
        meteor: str | None = None,
    ):
        if model_type not in CAPTIONER_INPUTS:
            raise ValueError(f"model_type must be one of {sorted(CAPTIONER_INPUTS)}, got {model_type!r}")
        self.processor = processor
        self.eval_rows = eval_rows  # the caption view evaluated (row_index -> video, segment, reference)
        self.references = references
        self.model_type = model_type
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.tious = tuple(tious)
        self.meteor = meteor
        self.predictions: dict = {}

    def _inputs(self, batch: dict, names) -> dict:
        return {k: batch[k] for k in names if k in batch}

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        return model(**self._inputs(batch, CAPTIONER_INPUTS[self.model_type] + TEACHER_FORCING_INPUTS)).loss

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        generator = accelerator.unwrap_model(model)
        pad = self.processor.tokenizer.pad_token_id
        sums = torch.zeros(3, dtype=torch.float64, device=accelerator.device)  # loss x tokens, correct, tokens
        records = []
        for batch in dataloader:
            encoder_inputs = self._inputs(batch, CAPTIONER_INPUTS[self.model_type])
            out = model(**encoder_inputs, **self._inputs(batch, TEACHER_FORCING_INPUTS))
            valid = batch["labels"] != pad
            tokens = valid.sum()
            sums += torch.stack(
                [
                    out.loss.double() * tokens,
                    ((out.logits.argmax(-1) == batch["labels"]) & valid).sum().double(),
                    tokens.double(),
                ]
            )
            generated = generator.generate(
                **encoder_inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False
            )
            texts = self.processor.decode(generated)
            records += [(int(i), t) for i, t in zip(batch["row_index"].tolist(), texts)]
        sums = accelerator.reduce(sums, "sum")
        records = accelerator.gather_for_metrics(records, use_gather_object=True)
        by_row = dict(records)  # duplicates from uneven shards collapse
        rows = self.eval_rows.select_columns(["video_id", "start", "end", "sentence"])
        predictions, matches = {}, 0
        for index, caption in sorted(by_row.items()):
            row = rows[index]
            matches += normalize_sentence(caption) == normalize_sentence(row["sentence"])
            predictions.setdefault(row["video_id"], []).append(
                {"sentence": caption, "timestamp": [row["start"], row["end"]]}
            )
        self.predictions = predictions
        metrics = {
            "loss": (sums[0] / sums[2].clamp_min(1)).item(),
            "token_accuracy": 100 * (sums[1] / sums[2].clamp_min(1)).item(),
            "exact_match": 100 * matches / max(1, len(by_row)),
        }
        if self.references is not None:
            scores = captioning_scores(
                predictions, [self.references], tious=self.tious, max_proposals=1000, meteor=self.meteor
            )
            metrics.update({k: v for k, v in scores.items() if k in ("BLEU@3", "BLEU@4", "METEOR")})
        return metrics


class EventProposalTask:
    """The BMT event proposal generator: the model's proposal loss (`event_targets` from the batch).

    Evaluation: every video's proposals are post-processed (`post_process_proposals`, validation order: top
    `max_proposals`, clipping, optional NMS, segments <= 0.2 s dropped) and scored against the video table's events
    by the metric module: `precision`, `recall`, `f1` (percent) averaged over `tious`; `predictions` keeps them."""

    def __init__(
        self,
        eval_rows,
        references: dict,
        max_proposals: int = 100,
        tious=(0.3, 0.5, 0.7, 0.9),
        nms_threshold: float | None = None,
    ):
        self.eval_rows = eval_rows
        self.references = references
        self.max_proposals = max_proposals
        self.tious = tuple(tious)
        self.nms_threshold = nms_threshold
        self.predictions: dict = {}

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        return model(**{k: batch[k] for k in PROPOSAL_INPUTS}).loss

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        sums = torch.zeros(2, dtype=torch.float64, device=accelerator.device)
        records = []
        for batch in dataloader:
            out = model(**{k: batch[k] for k in PROPOSAL_INPUTS})
            sums += torch.stack([out.loss.double(), torch.ones((), dtype=torch.float64, device=sums.device)])
            kept = post_process_proposals(
                out.proposals, batch["durations"], max_proposals=self.max_proposals, nms_threshold=self.nms_threshold
            )
            records += list(zip(batch["row_index"].tolist(), kept))
        sums = accelerator.reduce(sums, "sum")
        by_row = dict(accelerator.gather_for_metrics(records, use_gather_object=True))
        ids = self.eval_rows["video_id"]
        self.predictions = {ids[i]: proposals for i, proposals in sorted(by_row.items())}
        references = {v: self.references[v] for v in self.predictions}
        scores = proposal_scores(self.predictions, [references], tious=self.tious, max_proposals=self.max_proposals)
        return {"loss": (sums[0] / sums[1].clamp_min(1)).item(), **scores}


__all__ = ["DenseCaptioningTask", "EventProposalTask", "normalize_sentence"]
