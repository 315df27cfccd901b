"""Evaluate an AVLnet checkpoint: audio->video and video->audio retrieval (text->audio+video for Tri,
audio+text->video for Fused) with the retrieval metric module; writes metrics.json and prints them.

    python scripts/evaluate_avlnet.py --model_name_or_path runs/avlnet-synthetic --dataset_name synthetic
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModel, AutoProcessor, HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import checkpoint_problem, output_folder_problem, positive_problem, raise_if_any
from videozoo.data.avlnet import AVLnetCollator
from videozoo.scripts.train_avlnet import AVLnetArguments, argument_problems, load_splits
from videozoo.tasks.avlnet import AVLnetRetrievalTask


@dataclass
class EvaluationArguments:
    output_dir: str = field(default="", metadata={"help": "Where metrics.json goes (default: <model>/eval)."})
    batch_size: int = 64
    num_missing_clips: int = field(default=0, metadata={"help": "Test clips absent from the data (failures in R@K)."})


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, eval_args = HfArgumentParser((AVLnetArguments, EvaluationArguments)).parse_args_into_dataclasses(argv)
    raise_if_any(
        [
            checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("avlnet",)),
            output_folder_problem("--output_dir", eval_args.output_dir) if eval_args.output_dir else None,
            positive_problem("--batch_size", eval_args.batch_size),
            positive_problem("--num_missing_clips", eval_args.num_missing_clips, allow_zero=True),
            *argument_problems(args),
        ]
    )
    model = AutoModel.from_pretrained(args.model_name_or_path).eval()
    processor = AutoProcessor.from_pretrained(args.model_name_or_path)
    if model.config.model_type != "avlnet":
        raise ValueError(f"{args.model_name_or_path} is not an AVLnet checkpoint ({model.config.model_type!r})")
    with_text = model.config.variant != "av"
    if with_text:
        processor.load_word_vectors(args.word_vectors or "")
    split = load_splits(args)["test"]
    accelerator = Accelerator()
    loader = accelerator.prepare(
        DataLoader(
            split, batch_size=eval_args.batch_size, collate_fn=AVLnetCollator(args.max_frames, processor, with_text)
        )
    )
    model = accelerator.prepare(model)
    with torch.no_grad():
        metrics = AVLnetRetrievalTask(model.config.variant, missing_clips=eval_args.num_missing_clips).evaluate(
            model, loader, accelerator
        )
    if accelerator.is_main_process:
        output_dir = Path(eval_args.output_dir or Path(args.model_name_or_path) / "eval")
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        for key in sorted(k for k in metrics if k.endswith(("_R1", "_R10", "_MedR"))):
            print(f"{key:12s} {metrics[key]:.2f}")
    return metrics


if __name__ == "__main__":
    main()
