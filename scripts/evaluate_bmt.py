"""Evaluate dense video captioning (BMT or MDVC) with the dense-captioning metric module; writes the ActivityNet
submission file and metrics.json, and prints the metrics.

    # captions of the ground-truth events (BMT tables: tIoU 0.5 only; a BMT or an MDVC captioner):
    python scripts/evaluate_bmt.py --mode captioning --model_name_or_path runs/bmt-cap --dataset_name synthetic
    # proposals alone (precision / recall / F1 over tIoU 0.3, 0.5, 0.7, 0.9, 100 per video):
    python scripts/evaluate_bmt.py --mode proposals --proposal_model_name_or_path runs/bmt-prop \
        --dataset_name synthetic
    # the full system: the captioner describes the generator's proposals:
    python scripts/evaluate_bmt.py --mode learned --model_name_or_path runs/bmt-cap \
        --proposal_model_name_or_path runs/bmt-prop --dataset_name synthetic
    # score an existing submission (e.g. the authors' released result files) against annotation files:
    python scripts/evaluate_bmt.py --mode captioning --predictions_file captioning_results_val_1_e26.json \
        --reference_files val_1_no_missings.json --meteor coco

On ActivityNet give the data arguments of `scripts/train_bmt.py` (`--dataset_name activitynet --annotations_dir
... --eval_file val_1.json` and the feature folders) and, for the papers' protocol, `--reference_files` (BMT:
`val_1_no_missings.json` and `val_2_no_missings.json`, scored one by one for captioning, together for learned
proposals and proposals) and `--meteor coco` (METEOR 1.5 and the PTB tokenizer: pycocoevalcap + Java).
MDVC has no proposal generator: `--proposals_file` captions the proposals of a submission file instead (e.g.
BMT's, a labelled deviation from the paper's Bi-SST proposals).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModel, AutoProcessor, HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import (
    checkpoint_problem,
    file_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from videozoo.data.dense_captioning import (
    DenseCaptioningCollator,
    ProposalCollator,
    annotations_of,
    caption_view,
    proposal_view,
    speech_for_event,
)
from videozoo.metrics import load_metric
from videozoo.modeling import BMTForEventProposal
from videozoo.processors.processing_bmt import post_process_proposals
from videozoo.scripts.train_bmt import DenseCaptioningDataArguments, float_list, load_dense_captioning_data
from videozoo.tasks.dense_captioning import CAPTIONER_INPUTS, PROPOSAL_INPUTS


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


def argument_problems(data_args: DenseCaptioningDataArguments, args: EvaluationArguments) -> list[str | None]:
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
    try:
        if any(not 0 < t <= 1 for t in float_list(args.tious)):
            found.append(f"--tious: {args.tious!r} needs values in (0, 1]")
    except ValueError:
        found.append(f"--tious: {args.tious!r} is not a comma-separated list of numbers")
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


def main(argv: list[str] | None = None) -> dict:
    data_args, args = HfArgumentParser(
        (DenseCaptioningDataArguments, EvaluationArguments)
    ).parse_args_into_dataclasses(argv)
    raise_if_any(argument_problems(data_args, args))
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
        output_dir = Path(args.output_dir or source / "eval")
        output_dir.mkdir(parents=True, exist_ok=True)
        if not args.predictions_file:
            (output_dir / f"{args.mode}_results.json").write_text(json.dumps(submission(results)))
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
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


if __name__ == "__main__":
    main()
