"""Zero-shot (or fine-tuned) text -> video retrieval with Everything at Once, as paper §4.2: text -> fused
video+audio (`t2va`), -> video (`t2v`), -> audio (`t2a`), -> late fusion (`t2v+a`); writes metrics.json.

    python scripts/evaluate_everything_at_once.py --model_name_or_path everything-at-once \
        --dataset_name pickle --eval_pickle msrvtt/resnet/msrvtt_jsfusion_test.pkl --word_vectors GoogleNews.bin \
        --max_frames 3072 --num_missing_clips 32
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModel, HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import (
    checkpoint_problem,
    dataset_problem,
    file_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from videozoo.data.everything_at_once import EverythingAtOnceCollator, load_eao_clip_pickle, synthetic_eao_dataset
from videozoo.processors.word_vectors import load_word_vectors
from videozoo.tasks.everything_at_once import EverythingAtOnceTask


@dataclass
class EAOEvaluationArguments:
    model_name_or_path: str = field(metadata={"help": "an Everything-at-Once checkpoint"})
    dataset_name: str = field(default="synthetic", metadata={"help": "'synthetic', 'pickle' or a save_to_disk folder"})
    eval_pickle: str | None = None
    word_vectors: str | None = None
    max_frames: int | None = None
    num_missing_clips: int = 0
    batch_size: int = 64
    output_dir: str = ""


def main(argv: list[str] | None = None) -> dict[str, float]:
    (args,) = HfArgumentParser(EAOEvaluationArguments).parse_args_into_dataclasses(argv)
    raise_if_any(
        [
            checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("everything_at_once",)),
            dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "pickle")),
            file_problem("--eval_pickle", args.eval_pickle, required=args.dataset_name == "pickle"),
            file_problem("--word_vectors", args.word_vectors),
            positive_problem("--max_frames", args.max_frames),
            positive_problem("--num_missing_clips", args.num_missing_clips, allow_zero=True),
            positive_problem("--batch_size", args.batch_size),
            output_folder_problem("--output_dir", args.output_dir) if args.output_dir else None,
        ]
    )
    model = AutoModel.from_pretrained(args.model_name_or_path).eval()
    if model.config.model_type != "everything_at_once":
        raise ValueError(
            f"{args.model_name_or_path} is not an Everything-at-Once checkpoint ({model.config.model_type!r})"
        )
    if args.dataset_name == "synthetic":
        split = synthetic_eao_dataset(num_train=0)["test"]
    elif args.dataset_name == "pickle":
        split = load_eao_clip_pickle(
            args.eval_pickle, load_word_vectors(args.word_vectors) if args.word_vectors else None
        )
    else:
        split = datasets.load_from_disk(args.dataset_name)["test"]
    accelerator = Accelerator()
    collator = EverythingAtOnceCollator(args.max_frames, 2 ** len(model.config.audio_stage_depths))
    loader = accelerator.prepare(
        DataLoader(split.with_format("numpy"), batch_size=args.batch_size, collate_fn=collator)
    )
    model = accelerator.prepare(model)
    with torch.no_grad():
        metrics = EverythingAtOnceTask(model.config.loss_weights, missing_clips=args.num_missing_clips).evaluate(
            model, loader, accelerator
        )
    if accelerator.is_main_process:
        output_dir = Path(args.output_dir or Path(args.model_name_or_path) / "eval")
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        for name in ("t2va", "t2v", "t2a", "t2v+a"):
            print(
                f"{name:6s} R@1 {metrics[f'{name}_R1']:.1f}  R@5 {metrics[f'{name}_R5']:.1f}  "
                f"R@10 {metrics[f'{name}_R10']:.1f}  MedR {metrics[f'{name}_MedR']:.1f}"
            )
    return metrics


if __name__ == "__main__":
    main()
