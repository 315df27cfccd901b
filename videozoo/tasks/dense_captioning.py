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


def _caption_batch(config, batch: int, generator: torch.Generator, steps: tuple[int, int], tokens: int, mdvc: bool):
    ids = torch.randint(4, config.vocab_size, (batch, tokens), generator=generator)
    ids[:, 0] = config.bos_token_id
    audio_steps, video_steps = steps
    if mdvc:
        inputs = {
            "video_features": torch.rand(batch, audio_steps, config.video_hidden_size, generator=generator),
            "audio_features": torch.rand(batch, audio_steps, config.audio_hidden_size, generator=generator),
            "feature_attention_mask": torch.ones(batch, audio_steps, dtype=torch.bool),
            "speech_input_ids": torch.randint(4, config.speech_vocab_size, (batch, 3 * tokens), generator=generator),
        }
    else:
        inputs = {
            "audio_features": torch.rand(batch, audio_steps, config.audio_feature_size, generator=generator),
            "video_features": torch.rand(batch, video_steps, config.video_feature_size, generator=generator),
            "audio_attention_mask": torch.ones(batch, audio_steps, dtype=torch.bool),
            "video_attention_mask": torch.ones(batch, video_steps, dtype=torch.bool),
        }
    inputs["labels"] = torch.cat([ids[:, 1:], torch.full((batch, 1), config.eos_token_id)], 1)
    inputs["decoder_input_ids"] = ids
    return inputs


def full_prefix_decoding(model, encoder_inputs: dict, new_tokens: int) -> torch.Tensor:
    """The reference captioners' greedy loop: the whole model (encoder included) on the growing prefix at every
    step, EOS suppressed (v-iashin/BMT `greedy_decoder`): the baseline `generate()` is measured against."""
    config = model.config
    batch = next(iter(encoder_inputs.values())).shape[0]
    ids = torch.full((batch, 1), config.bos_token_id, device=next(model.parameters()).device)
    for _ in range(new_tokens):
        logits = model(**encoder_inputs, decoder_input_ids=ids).logits[:, -1]
        logits[:, config.eos_token_id] = float("-inf")
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], 1)
    return ids


def _caption_generation(model, inputs: dict, new_tokens: int) -> dict:
    encoder_inputs = {k: v for k, v in inputs.items() if k not in TEACHER_FORCING_INPUTS}
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, num_beams=1)
    return {
        "generate, key/value cache": lambda: model.generate(**encoder_inputs, **kwargs)[:, -new_tokens:],
        "generate, no cache": lambda: model.generate(**encoder_inputs, use_cache=False, **kwargs)[:, -new_tokens:],
        "reference loop (encoder per token)": lambda: full_prefix_decoding(model, encoder_inputs, new_tokens)[
            :, -new_tokens:
        ],
    }


def bmt_benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload of BMT (Iashin & Rahtu 2020, Sec. 4): `--variant captioner` (V = 10,172,
    events of 38 x 0.96 s audio and 14 x 2.56 s video, ~36 s, the mean ActivityNet event; 16-token captions; batch
    32) or `proposals` (whole videos padded to 800 / 300 steps, 48 + 128 anchors, the encoder frozen as in stage 2;
    batch 16)."""
    from ..benchmarking import Workload
    from ..configuration import BMTConfig
    from ..modeling import BMTForConditionalGeneration, BMTForEventProposal

    paper = config is None
    variant = variant or "captioner"
    if variant not in ("captioner", "proposals"):
        raise ValueError(f"--variant for bmt must be 'captioner' or 'proposals' (got {variant!r})")
    if variant == "proposals":
        anchors = {
            "audio_anchor_lengths": torch.linspace(1, 200, 48).tolist(),
            "video_anchor_lengths": torch.linspace(1, 300, 128).tolist(),
        }
        if not paper:  # the test configuration has no anchors: a few short ones
            anchors = {"audio_anchor_lengths": [2.0, 5.0, 9.0], "video_anchor_lengths": [2.0, 4.0, 7.0]}
            config = BMTConfig(**{**config.to_dict(), **anchors})
        else:
            config = BMTConfig(vocab_size=10172, **anchors)
        audio_steps, video_steps = (800, 300) if paper else (40, 30)
        valid = (120, 45) if paper else (20, 15)

        def build_model():
            model = BMTForEventProposal(config)
            model.encoder.requires_grad_(False)  # stage 2: the captioner's encoder, frozen
            return model

        def make_inputs(batch, generator):
            return {
                "audio_features": torch.rand(batch, audio_steps, config.audio_feature_size, generator=generator),
                "video_features": torch.rand(batch, video_steps, config.video_feature_size, generator=generator),
                "audio_attention_mask": (torch.arange(audio_steps)[None] < valid[0]).expand(batch, -1),
                "video_attention_mask": (torch.arange(video_steps)[None] < valid[1]).expand(batch, -1),
                "event_targets": torch.tensor(
                    [[i, 30.0, 20.0, 0] for i in range(batch)] + [[i, 80.0, 40.0, 1] for i in range(batch)]
                ),
            }

        return Workload(
            description=f"proposal generator, {audio_steps} audio / {video_steps} video steps, encoder frozen",
            build_model=build_model,
            make_inputs=make_inputs,
            loss=lambda model, inputs: model(**inputs).loss,
            paper_batch_size=16,
            cpu_batch_size=4,
            learning_rate=5e-5,
            extra={"variants": ("captioner", "proposals")},
        )
    config = config or BMTConfig(vocab_size=10172)
    steps, tokens = ((38, 14), 16) if paper else ((7, 5), 6)
    return Workload(
        description=f"captioner, V = {config.vocab_size}, {steps[0]} audio / {steps[1]} video steps, {tokens} tokens",
        build_model=lambda: BMTForConditionalGeneration(config),
        make_inputs=lambda batch, generator: _caption_batch(config, batch, generator, steps, tokens, mdvc=False),
        loss=lambda model, inputs: model(**inputs).loss,
        paper_batch_size=32,
        cpu_batch_size=32,
        learning_rate=5e-5,
        generate=_caption_generation,
        extra={"variants": ("captioner", "proposals")},
    )


def mdvc_benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload of MDVC (Iashin & Rahtu 2020, Sec. 4): V = 10,172 caption words, 22,500
    subtitle words, 38 feature steps, 16-token captions with 48 subtitle tokens, batch 28."""
    from ..benchmarking import Workload
    from ..configuration import MDVCConfig
    from ..modeling import MDVCForConditionalGeneration

    paper = config is None
    config = config or MDVCConfig()
    steps, tokens = ((38, 38), 16) if paper else ((7, 7), 6)
    return Workload(
        description=f"V = {config.vocab_size}, {steps[0]} feature steps, {tokens} + {3 * tokens} subtitle tokens",
        build_model=lambda: MDVCForConditionalGeneration(config),
        make_inputs=lambda batch, generator: _caption_batch(config, batch, generator, steps, tokens, mdvc=True),
        loss=lambda model, inputs: model(**inputs).loss,
        paper_batch_size=28,
        cpu_batch_size=28,
        learning_rate=5e-5,
        generate=_caption_generation,
    )
