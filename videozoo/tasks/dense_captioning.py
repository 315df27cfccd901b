"""The dense video captioning family (BMT, MDVC): its data arguments and loading, its tasks for
`videozoo.training.fit`, and its one evaluation (`scripts/run_dense_captioning.py evaluate`, any captioner of the
family, BMT's proposal generator, or a submission file).

Tasks: the BMT / MDVC captioner on ground-truth events, and the BMT event proposal generator. Both losses are the
models' own (the reference label-smoothed KL per caption token; the YOLO-style proposal loss summed over the heads),
averaged per process and, by DDP, over processes, as the reference's DataParallel runs.

Evaluation modes (`--mode`):

    # captions of the ground-truth events (BMT tables: tIoU 0.5 only; a BMT or an MDVC captioner):
    python scripts/run_dense_captioning.py evaluate --mode captioning --model_name_or_path runs/bmt-cap \
        --dataset_name synthetic
    # proposals alone (precision / recall / F1 over tIoU 0.3, 0.5, 0.7, 0.9, 100 per video):
    python scripts/run_dense_captioning.py evaluate --model_type bmt --mode proposals \
        --proposal_model_name_or_path runs/bmt-prop --dataset_name synthetic
    # the full system: the captioner describes the generator's proposals:
    python scripts/run_dense_captioning.py evaluate --mode learned --model_name_or_path runs/bmt-cap \
        --proposal_model_name_or_path runs/bmt-prop --dataset_name synthetic
    # score an existing submission (e.g. the authors' released result files) against annotation files:
    python scripts/run_dense_captioning.py evaluate --model_type bmt --mode captioning \
        --predictions_file captioning_results_val_1_e26.json --reference_files val_1_no_missings.json --meteor coco

On ActivityNet give the data arguments of training (`--dataset_name activitynet --annotations_dir ... --eval_file
val_1.json` and the feature folders) and, for the papers' protocol, `--reference_files` (BMT: `val_1_no_missings.json`
and `val_2_no_missings.json`, scored one by one for captioning, together for learned proposals and proposals) and
`--meteor coco` (METEOR 1.5 and the PTB tokenizer: pycocoevalcap + Java). MDVC has no proposal generator:
`--proposals_file` captions the proposals of a submission file instead (e.g. BMT's, a labelled deviation from the
paper's Bi-SST proposals). Without `--model_name_or_path` (proposals alone, or a submission file) the entry point
needs `--model_type bmt`.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModel, AutoProcessor

from ..arguments import (
    checkpoint_problem,
    dataset_problem,
    file_problem,
    folder_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from ..data.dense_captioning import (
    DenseCaptioningCollator,
    HDF5Features,
    NpyFeatures,
    ProposalCollator,
    annotations_of,
    caption_view,
    load_activitynet_captions,
    proposal_view,
    speech_for_event,
    synthetic_dense_captioning_dataset,
)
from ..metrics import load_metric
from ..metrics.dense_video_captioning.dense_video_captioning import captioning_scores, proposal_scores
from ..modeling.modeling_bmt import BMTForEventProposal
from ..processors.processing_bmt import post_process_proposals, split_caption
from ..recipes import save_evaluation
from ..training import fit

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


# ---- data (shared by training and evaluation) ----


@dataclass
class DenseCaptioningDataArguments:
    dataset_name: str = field(
        default="synthetic", metadata={"help": "'synthetic', 'activitynet', or a save_to_disk folder."}
    )
    num_train_videos: int = 2048
    num_test_videos: int = 256
    synthetic_seed: int = 0
    annotations_dir: str | None = field(default=None, metadata={"help": "ActivityNet Captions JSON folder."})
    train_file: str = "train.json"
    eval_file: str = field(default="val_1.json", metadata={"help": "Annotation file of the evaluation split."})
    available_ids_file: str | None = field(
        default=None, metadata={"help": "available_mp4.txt: keep only these videos."}
    )
    audio_features_dir: str | None = field(default=None, metadata={"help": "BMT layout: VGGish <id>.npy files."})
    video_features_dir: str | None = field(
        default=None, metadata={"help": "BMT layout: I3D <id>_rgb.npy / <id>_flow.npy."}
    )
    audio_pattern: str = "{video_id}.npy"
    rgb_pattern: str = "{video_id}_rgb.npy"
    flow_pattern: str = "{video_id}_flow.npy"
    video_hdf5: str | None = field(default=None, metadata={"help": "MDVC layout: I3D HDF5 file."})
    audio_hdf5: str | None = field(default=None, metadata={"help": "MDVC layout: VGGish HDF5 file."})
    subtitles_file: str | None = field(default=None, metadata={"help": "MDVC's asr_en.csv (speech input)."})
    on_invalid_event: Literal["drop", "error"] = "drop"
    max_train_videos: int | None = None
    max_eval_videos: int | None = None

    def problems(self) -> list[str | None]:
        """What is wrong with these data arguments, found before anything is loaded."""
        found = [
            dataset_problem("--dataset_name", self.dataset_name, ("synthetic", "activitynet")),
            positive_problem("--num_train_videos", self.num_train_videos),
            positive_problem("--num_test_videos", self.num_test_videos),
            positive_problem("--max_train_videos", self.max_train_videos),
            positive_problem("--max_eval_videos", self.max_eval_videos),
        ]
        if self.dataset_name != "activitynet":
            return found
        found += [
            folder_problem("--annotations_dir", self.annotations_dir, required=True),
            file_problem("--available_ids_file", self.available_ids_file),
            file_problem("--subtitles_file", self.subtitles_file),
        ]
        if self.annotations_dir and Path(self.annotations_dir).is_dir():
            root = Path(self.annotations_dir)
            found += [
                file_problem("--train_file", root / self.train_file),
                file_problem("--eval_file", root / self.eval_file),
            ]
        if self.video_hdf5 or self.audio_hdf5:
            found += [file_problem("--video_hdf5", self.video_hdf5), file_problem("--audio_hdf5", self.audio_hdf5)]
        elif self.audio_features_dir and self.video_features_dir:
            found += [
                folder_problem("--audio_features_dir", self.audio_features_dir),
                folder_problem("--video_features_dir", self.video_features_dir),
            ]
        else:
            found.append(
                "--dataset_name activitynet needs --audio_features_dir and --video_features_dir (BMT .npy "
                "layout) or --video_hdf5 and --audio_hdf5 (MDVC layout)"
            )
        return found


def load_dense_captioning_data(args: DenseCaptioningDataArguments, video_stride: float = 2.56):
    """-> (`DatasetDict` with `train` and `test` video tables, feature reader or None when features are inline)."""
    reader = None
    if args.dataset_name == "synthetic":
        splits = synthetic_dense_captioning_dataset(
            args.num_train_videos, args.num_test_videos, seed=args.synthetic_seed, video_stride=video_stride
        )
    elif args.dataset_name == "activitynet":
        if not args.annotations_dir:
            raise ValueError("--dataset_name activitynet needs --annotations_dir")
        if args.video_hdf5 or args.audio_hdf5:
            reader = HDF5Features(args.video_hdf5, args.audio_hdf5)
        elif args.audio_features_dir and args.video_features_dir:
            reader = NpyFeatures(
                args.audio_features_dir,
                args.video_features_dir,
                args.audio_pattern,
                args.rgb_pattern,
                args.flow_pattern,
            )
        else:
            raise ValueError(
                "--dataset_name activitynet needs --audio_features_dir and --video_features_dir (BMT .npy "
                "layout) or --video_hdf5 and --audio_hdf5 (MDVC layout)"
            )
        root = Path(args.annotations_dir)
        splits = load_activitynet_captions(
            {"train": root / args.train_file, "test": root / args.eval_file},
            args.available_ids_file,
            args.subtitles_file,
            args.on_invalid_event,
        )
    else:
        splits = datasets.load_from_disk(args.dataset_name)
        if not {"train", "test"} <= set(splits):
            raise ValueError(f"{args.dataset_name} must hold 'train' and 'test' splits, found {sorted(splits)}")
    for split, limit in (("train", args.max_train_videos), ("test", args.max_eval_videos)):
        if limit is not None:
            splits[split] = splits[split].select(range(min(limit, len(splits[split]))))
    return splits, reader


def feature_sizes(videos, reader) -> tuple[int, int]:
    if reader is not None:
        return reader.sizes["audio"], reader.sizes["rgb"]
    if "audio" not in videos.features:
        raise ValueError(
            "this video table holds no features: use --dataset_name activitynet with the feature folders "
            "(or HDF5 files), or a table with audio / rgb / flow columns"
        )
    return videos.features["audio"].shape[1], videos.features["rgb"].shape[1]


def max_feature_lengths(splits, reader) -> tuple[int, int]:
    if reader is not None:
        raise ValueError("give --max_audio_length / --max_video_length for features read from files")
    lengths = [0, 0]
    for split in splits.values():
        for row in split.select_columns(["audio", "rgb"]).with_format("numpy"):
            lengths = [max(lengths[0], len(row["audio"])), max(lengths[1], len(row["rgb"]))]
    return lengths[0], lengths[1]


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def float_list(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def tious_problem(flag: str, text: str, required: bool = False) -> str | None:
    """What is wrong with a comma list of tIoU thresholds (each in (0, 1]; empty means the default unless
    `required`)."""
    try:
        tious = float_list(text)
    except ValueError:
        return f"{flag}: {text!r} is not a comma-separated list of numbers"
    if (required and not tious) or any(not 0 < t <= 1 for t in tious):
        return f"{flag}: {text!r} needs values in (0, 1]"
    return None


@dataclass
class CaptionerArguments:
    """The arguments every captioner of the family (BMT, MDVC) has; a model's own dataclass extends them."""

    model_size: Literal["small", "paper"] = "small"
    label_smoothing: float | None = field(
        default=None,
        metadata={
            "help": "Default 0.7 (reference) for 'paper', 0.1 for 'small': on a tiny vocabulary 0.7 "
            "leaves almost no margin between the gold word and the rest (measured on the synthetic task)."
        },
    )
    generation_max_new_tokens: int = 30
    generation_num_beams: int = 1
    eval_meteor: Literal["none", "auto", "coco", "nltk"] = "none"

    def captioner_problems(self) -> list[str | None]:
        return [
            positive_problem("--label_smoothing", self.label_smoothing, allow_zero=True),
            positive_problem("--generation_max_new_tokens", self.generation_max_new_tokens),
            positive_problem("--generation_num_beams", self.generation_num_beams),
        ]


def label_smoothing(value: float | None, model_size: str) -> float:
    """The captioners' label smoothing: 0.7 (the reference) for the paper size, 0.1 for the small models, where
    0.7 on a tiny vocabulary leaves almost no margin between the gold word and the rest (measured on the
    synthetic task); `value` when given."""
    return value if value is not None else (0.1 if model_size == "small" else 0.7)


def train_captioner(
    model,
    processor,
    splits,
    reader,
    training_args,
    hparams: dict,
    max_new_tokens: int,
    num_beams: int,
    tious,
    meteor: str,
    fill: str | None = None,
) -> dict[str, float]:
    """`fit` a captioner (BMT or MDVC, `model.config.model_type`) on the ground-truth events of `splits["train"]`,
    evaluated on those of `splits["test"]` (`DenseCaptioningTask`); `meteor` "none" leaves METEOR out."""
    model_type = model.config.model_type
    train_rows, test_rows = caption_view(splits["train"]), caption_view(splits["test"])
    task = DenseCaptioningTask(
        processor,
        test_rows,
        annotations_of(splits["test"]),
        model_type,
        max_new_tokens,
        num_beams,
        tuple(tious),
        None if meteor == "none" else meteor,
    )
    return fit(
        model,
        task,
        train_rows,
        training_args,
        collate_fn=DenseCaptioningCollator(splits["train"], processor, model_type, reader, fill),
        eval_dataset=test_rows,
        eval_collate_fn=DenseCaptioningCollator(splits["test"], processor, model_type, reader, fill),
        processor=processor,
        hparams=hparams,
    )


# ---- evaluation ----


@dataclass
class EvaluationArguments:
    mode: Literal["captioning", "proposals", "learned"] = "captioning"
    model_name_or_path: str | None = field(default=None, metadata={"help": "Captioner (BMT or MDVC)."})
    proposal_model_name_or_path: str | None = field(default=None, metadata={"help": "BMT proposal generator."})
    proposals_file: str | None = field(
        default=None, metadata={"help": "learned mode without a generator: an ANet JSON."}
    )
    predictions_file: str | None = field(
        default=None, metadata={"help": "Score this submission instead of running models."}
    )
    reference_files: str | None = field(
        default=None, metadata={"help": "Comma list of annotation JSON files (default: the evaluated split's events)."}
    )
    tious: str = field(
        default="", metadata={"help": "Default 0.5 (captioning) or 0.3,0.5,0.7,0.9 (proposals, learned)."}
    )
    max_proposals: int = 100
    nms_threshold: float | None = None
    meteor: Literal["none", "auto", "coco", "nltk"] = "auto"
    num_beams: int = 1
    max_new_tokens: int | None = None
    batch_size: int = 64
    output_dir: str = field(
        default="", metadata={"help": "Where the submission and metrics.json go (default: <model>/eval)."}
    )


def evaluation_problems(data_args: DenseCaptioningDataArguments, args: EvaluationArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [
        checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("bmt", "mdvc"), required=False),
        checkpoint_problem("--proposal_model_name_or_path", args.proposal_model_name_or_path, ("bmt",), False),
        file_problem("--proposals_file", args.proposals_file),
        file_problem("--predictions_file", args.predictions_file),
        *[file_problem("--reference_files", f) for f in (args.reference_files or "").split(",") if f],
        positive_problem("--max_proposals", args.max_proposals),
        positive_problem("--num_beams", args.num_beams),
        positive_problem("--max_new_tokens", args.max_new_tokens),
        positive_problem("--batch_size", args.batch_size),
        output_folder_problem("--output_dir", args.output_dir) if args.output_dir else None,
    ]
    found.append(tious_problem("--tious", args.tious))
    if args.predictions_file:
        if not args.reference_files:
            found.append("--predictions_file needs --reference_files")
        return found
    found += data_args.problems()
    if args.mode != "captioning" and not args.proposal_model_name_or_path:
        if not (args.mode == "learned" and args.proposals_file):
            found.append(f"--mode {args.mode} needs --proposal_model_name_or_path (or --proposals_file for learned)")
    if args.mode in ("captioning", "learned") and not args.model_name_or_path:
        found.append(f"--mode {args.mode} needs --model_name_or_path (a BMT or MDVC captioner)")
    return found


def submission(results: dict) -> dict:
    return {"version": "VERSION 1.0", "external_data": {"used": True, "details": ""}, "results": results}


def score(results: dict, references: list[dict], mode: str, tious, max_proposals: int, meteor: str | None) -> dict:
    """The metric module over `{video_id: [{"sentence", "timestamp"}]}` and annotation dicts."""
    metric = load_metric("dense_video_captioning")
    videos = sorted(set().union(*[set(r) for r in references]))
    return metric.compute(
        video_ids=videos,
        predictions=[json.dumps(results.get(v, [])) for v in videos],
        references=[json.dumps([r.get(v) for r in references]) for v in videos],
        mode=mode,
        tious=list(tious),
        max_proposals=max_proposals,
        meteor=meteor,
    )


def generate_captions(model, processor, videos, rows, reader, args: EvaluationArguments, accelerator) -> list[str]:
    """A caption for every row (`video_index`, `start`, `end`, `duration`, `speech`) of a caption view."""
    model_type = model.config.model_type
    collator = DenseCaptioningCollator(videos, processor, model_type, reader)
    loader = accelerator.prepare(DataLoader(rows, batch_size=args.batch_size, collate_fn=collator))
    captions = {}
    max_new = args.max_new_tokens or model.config.max_caption_length
    for batch in loader:
        with torch.no_grad():
            ids = accelerator.unwrap_model(model).generate(
                **{k: batch[k] for k in CAPTIONER_INPUTS[model_type]},
                max_new_tokens=max_new,
                num_beams=args.num_beams,
                do_sample=False,
            )
        for index, text in zip(batch["row_index"].tolist(), processor.decode(ids)):
            captions[int(index)] = text
    return [captions[i] for i in range(len(rows))]


def generate_proposals(model, processor, videos, reader, args: EvaluationArguments, accelerator) -> dict:
    rows = proposal_view(videos, reader)
    collator = ProposalCollator(
        videos, processor, model.config.max_audio_length, model.config.max_video_length, reader
    )
    loader = accelerator.prepare(DataLoader(rows, batch_size=args.batch_size, collate_fn=collator))
    ids, results = rows["video_id"], {}
    for batch in loader:
        with torch.no_grad():
            out = model(**{k: batch[k] for k in PROPOSAL_INPUTS if k != "event_targets"})
        kept = post_process_proposals(
            out.proposals, batch["durations"], max_proposals=args.max_proposals, nms_threshold=args.nms_threshold
        )
        for index, proposals in zip(batch["row_index"].tolist(), kept):
            results[ids[int(index)]] = proposals
    return results


def proposal_rows(videos, proposals: dict) -> datasets.Dataset:
    """A caption view over proposals `{video_id: [{"timestamp": [s, e]}]}` of the videos of `videos`."""
    meta = videos.select_columns(["video_id", "duration", "speech_starts", "speech_ends", "speech_texts"])
    rows = {k: [] for k in ("video_index", "video_id", "start", "end", "duration", "sentence", "speech", "row_index")}
    for index, video in enumerate(meta):
        for proposal in proposals.get(video["video_id"], []):
            start, end = (float(x) for x in proposal["timestamp"])
            start = min(max(start, 0.0), video["duration"])
            values = (
                index,
                video["video_id"],
                start,
                max(end, start),
                video["duration"],
                "",
                speech_for_event(video["speech_starts"], video["speech_ends"], video["speech_texts"], start, end),
                len(rows["row_index"]),
            )
            for key, value in zip(rows, values):
                rows[key].append(value)
    if not rows["row_index"]:
        raise ValueError("no proposal falls on an evaluated video")
    return datasets.Dataset.from_dict(rows)


def evaluate(data_args: DenseCaptioningDataArguments, args: EvaluationArguments) -> dict:
    """Score captions (of ground-truth events or of proposals), proposals, or a submission file; writes the
    submission and metrics.json into `--output_dir` (default `<model>/eval`) and returns the metrics."""
    raise_if_any(evaluation_problems(data_args, args))
    meteor = None if args.meteor == "none" else args.meteor
    default_tious = (0.5,) if args.mode == "captioning" else (0.3, 0.5, 0.7, 0.9)
    tious = tuple(float_list(args.tious)) if args.tious else default_tious
    if args.reference_files:
        references = [json.loads(Path(p).read_text()) for p in args.reference_files.split(",")]
    else:
        references = None

    accelerator = Accelerator()
    if args.predictions_file:
        loaded = json.loads(Path(args.predictions_file).read_text())
        results = loaded.get("results", loaded)
        source = Path(args.predictions_file).parent
    else:
        splits, reader = load_dense_captioning_data(data_args, video_stride=2.56)
        videos = splits["test"]
        if references is None:
            references = [annotations_of(videos)]
        results = {}
        if args.mode in ("proposals", "learned") and args.proposal_model_name_or_path:
            generator = BMTForEventProposal.from_pretrained(args.proposal_model_name_or_path).eval()
            processor = AutoProcessor.from_pretrained(args.proposal_model_name_or_path)
            results = generate_proposals(accelerator.prepare(generator), processor, videos, reader, args, accelerator)
        elif args.mode == "learned" and args.proposals_file:
            loaded = json.loads(Path(args.proposals_file).read_text())
            results = loaded.get("results", loaded)
        elif args.mode != "captioning":
            raise ValueError(
                f"--mode {args.mode} needs --proposal_model_name_or_path (or --proposals_file for learned)"
            )
        if args.mode in ("captioning", "learned"):
            if not args.model_name_or_path:
                raise ValueError(f"--mode {args.mode} needs --model_name_or_path (a BMT or MDVC captioner)")
            model = AutoModel.from_pretrained(args.model_name_or_path).eval()
            processor = AutoProcessor.from_pretrained(args.model_name_or_path)
            if model.config.model_type == "mdvc" and data_args.dataset_name == "synthetic":
                splits, reader = load_dense_captioning_data(data_args, video_stride=0.96)
                videos = splits["test"]
            rows = caption_view(videos) if args.mode == "captioning" else proposal_rows(videos, results)
            captions = generate_captions(
                accelerator.prepare(model), processor, videos, rows, reader, args, accelerator
            )
            results = {}
            for row, caption in zip(rows.select_columns(["video_id", "start", "end"]), captions):
                results.setdefault(row["video_id"], []).append(
                    {"sentence": caption, "timestamp": [row["start"], row["end"]]}
                )
        source = Path(args.model_name_or_path or args.proposal_model_name_or_path)
    if references is None:
        raise ValueError("--predictions_file needs --reference_files")

    metric_mode = "proposals" if args.mode == "proposals" else "captioning"
    if metric_mode == "captioning" and args.mode == "captioning":
        # ground-truth proposals: every reference file is scored alone and the scores are averaged (BMT/MDVC tables)
        per_file = [score(results, [ref], "captioning", tious, args.max_proposals, meteor) for ref in references]
        metrics = {
            k: sum(s[k] for s in per_file) / len(per_file) for k in per_file[0] if isinstance(per_file[0][k], float)
        }
        metrics.update({k: per_file[0][k] for k in ("tokenizer", "meteor_backend")})
        metrics["per_reference_file"] = per_file
    else:
        metrics = score(results, references, metric_mode, tious, args.max_proposals, meteor)
    metrics["mode"], metrics["tious"] = args.mode, list(tious)
    if accelerator.is_main_process:
        output_dir = save_evaluation(metrics, args.output_dir, source)
        if not args.predictions_file:
            (output_dir / f"{args.mode}_results.json").write_text(json.dumps(submission(results)))
        for key in ("BLEU@3", "BLEU@4", "METEOR", "precision", "recall", "f1"):
            if isinstance(metrics.get(key), float):
                print(f"{key:8s} {metrics[key]:.4f}")
        if metrics.get("tokenizer") == "python":
            print(
                "(PTB tokenizer approximated in Python: BLEU close to (not identical with) the reference evaluator; "
                "pycocoevalcap==1.2 and Java give the exact tokenizer and METEOR 1.5)"
            )
        if metrics.get("meteor_backend") == "nltk":
            print("(METEOR from NLTK: not comparable with the papers' METEOR 1.5)")
    return metrics


__all__ = [
    "CaptionerArguments",
    "DenseCaptioningDataArguments",
    "DenseCaptioningTask",
    "EvaluationArguments",
    "EventProposalTask",
    "evaluate",
    "load_dense_captioning_data",
    "normalize_sentence",
    "train_captioner",
]
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
