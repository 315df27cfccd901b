"""Evaluate a SparseSync checkpoint: top-1 and +-1-class accuracy (the `offset_accuracy` metric module), optionally
the corrupted-validation probes, and a confusion-matrix plot; writes metrics.json and confusion_matrix.png.

    python scripts/evaluate_sparsesync.py --model_name_or_path runs/sparsesync-synthetic --dataset_name synthetic \
        --data_dir data/flash_and_click --eval_split test --probes

With a fixed-offset table for the split (`<splits_dir>/fixed_offsets_<layout>/...`) every clip is scored once at
its fixed (offset, start); without one (or with `--random_offsets`), offsets and starts are drawn by the sampler,
`--iter_times` passes with different draws (the reference README's protocol for the small VGGSound-Sparse test
set: 25-50 passes).
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
from videozoo.data.sparsesync import SparseSyncCollator, fixed_offsets_name, sparsesync_clip_dataset
from videozoo.metrics import load_metric
from videozoo.metrics.offset_accuracy.offset_accuracy import confusion_matrix, offset_accuracy
from videozoo.scripts.train_sparsesync import SparseSyncArguments, argument_problems
from videozoo.tasks.sparsesync import PROBES, SparseSyncOffsetTask


@dataclass
class EvaluationArguments:
    output_dir: str = field(
        default="", metadata={"help": "Where metrics.json and the plot go (default <model>/eval)."}
    )
    batch_size: int = 16
    random_offsets: bool = field(default=False, metadata={"help": "Ignore the fixed-offset table; draw offsets."})
    iter_times: int = field(default=1, metadata={"help": "Passes over the set with random offsets."})
    seed: int = 0


def plot_confusion(matrix, grid: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 6))
    image = axis.imshow(matrix, cmap="viridis")
    ticks = range(len(grid))
    labels = [f"{v:+.1f}" for v in grid]
    axis.set_xticks(ticks, labels, rotation=90, fontsize=7)
    axis.set_yticks(ticks, labels, fontsize=7)
    axis.set_xlabel("predicted offset (s)")
    axis.set_ylabel("true offset (s)")
    axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axis, label="clips")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, eval_args = HfArgumentParser((SparseSyncArguments, EvaluationArguments)).parse_args_into_dataclasses(argv)
    raise_if_any(
        [
            checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("sparsesync",)),
            output_folder_problem("--output_dir", eval_args.output_dir) if eval_args.output_dir else None,
            positive_problem("--batch_size", eval_args.batch_size),
            positive_problem("--iter_times", eval_args.iter_times),
            *argument_problems(args),
        ]
    )
    model = AutoModel.from_pretrained(args.model_name_or_path).eval()
    processor = AutoProcessor.from_pretrained(args.model_name_or_path)
    if model.config.model_type != "sparsesync":
        raise ValueError(f"{args.model_name_or_path} is not a SparseSync checkpoint ({model.config.model_type!r})")
    layout = "vggsound" if args.dataset_name == "vggsound" else "lrs3"
    splits_dir = Path(args.splits_dir or args.data_dir)
    table = splits_dir / f"fixed_offsets_{layout}" / fixed_offsets_name(args.eval_split, processor)
    fixed = table.is_file() and not eval_args.random_offsets
    dataset = sparsesync_clip_dataset(
        args.data_dir,
        args.eval_split,
        layout=layout,
        splits_dir=splits_dir,
        fixed_offsets=table if fixed else None,
        vggsound_meta=args.vggsound_meta,
        sparse_classes=args.sparse_classes,
    )
    accelerator = Accelerator()
    model = accelerator.prepare(model)
    task = SparseSyncOffsetTask(PROBES if args.probes else (), seed=eval_args.seed)
    metric = load_metric("offset_accuracy")
    passes = 1 if fixed else eval_args.iter_times
    all_logits, all_labels, probe_scores = [], [], {}
    with torch.no_grad():
        for index in range(passes):
            collator = SparseSyncCollator(processor, seed=eval_args.seed + index)
            loader = accelerator.prepare(DataLoader(dataset, batch_size=eval_args.batch_size, collate_fn=collator))
            logits, labels = task.predict(model, loader, accelerator)
            all_logits.append(logits)
            all_labels.append(labels)
            for probe in task.probes:
                probe_logits, probe_labels = task.predict(model, loader, accelerator, probe)
                probe_scores.setdefault(probe, []).append((probe_logits, probe_labels))
    logits, labels = torch.cat(all_logits), torch.cat(all_labels)
    metric.add_batch(predictions=logits.tolist(), references=labels.tolist())
    metrics = dict(metric.compute())
    metrics["protocol"] = f"fixed offsets ({table.name})" if fixed else f"random offsets, {passes} pass(es)"
    metrics["chance_accuracy_1"] = 1 / model.config.num_offset_classes
    for probe, parts in probe_scores.items():
        scores = offset_accuracy(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        metrics.update({f"{probe}/{k}": v for k, v in scores.items() if k != "num_examples"})
    if accelerator.is_main_process:
        output_dir = Path(eval_args.output_dir or Path(args.model_name_or_path) / "eval")
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        grid = model.config.offset_grid() if hasattr(model.config, "offset_grid") else processor.offset_grid()
        plot_confusion(
            confusion_matrix(logits, labels, len(grid)),
            grid,
            output_dir / "confusion_matrix.png",
            f"{args.eval_split}: top-1 {100 * metrics['accuracy_1']:.1f}%, "
            f"+-1 class {100 * metrics['accuracy_1_tol1']:.1f}%",
        )
        for key, value in metrics.items():
            print(f"{key:32s} {value:.4f}" if isinstance(value, float) else f"{key:32s} {value}")
    return metrics


if __name__ == "__main__":
    main()
