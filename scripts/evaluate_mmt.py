"""Evaluate an MMT checkpoint on text-video retrieval with the paper's protocol.

    python scripts/evaluate_mmt.py --model_name_or_path runs/mmt-synthetic --dataset_name synthetic \
        --output_dir runs/mmt-synthetic/eval

Loads the model and processor through `AutoModel` / `AutoProcessor`, encodes the test videos and captions
separately, ranks them with the retrieval metric module's computation (`videozoo/metrics/video_retrieval`,
block by block from the embeddings with the per-expert weighted similarity: docs/retrieval_at_scale.md), writes
`metrics.json` and a recall@K plot `recall_at_k.png`, and prints the metrics. Datasets are chosen as in
`scripts/train_mmt.py`.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModel, AutoProcessor, HfArgumentParser

import videozoo  # noqa: F401  (registers the architectures)
from videozoo.arguments import checkpoint_problem, output_folder_problem, positive_problem, raise_if_any
from videozoo.data.mmt import MMTCollator
from videozoo.processors import MMTProcessor
from videozoo.scripts.train_mmt import MMTArguments, argument_problems, load_splits
from videozoo.tasks.mmt import MMTRetrievalTask


@dataclass
class EvaluationArguments:
    output_dir: str = field(
        default="", metadata={"help": "Where metrics.json and the plot go (default: <model>/eval)."}
    )
    batch_size: int = 64
    split: str = "test"


def plot_recall_at_k(metrics: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [1, 5, 10, 50]
    figure, axis = plt.subplots(figsize=(5, 3.5))
    for direction, label in (("t2v", "text → video"), ("v2t", "video → text")):
        axis.plot(ks, [metrics[f"{direction}_R{k}"] for k in ks], marker="o", label=label)
    axis.set(
        xscale="log",
        xticks=ks,
        xticklabels=[str(k) for k in ks],
        xlabel="K",
        ylabel="Recall@K (%)",
        ylim=(0, 100),
        title=title,
    )
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict[str, float]:
    data_args, eval_args = HfArgumentParser((MMTArguments, EvaluationArguments)).parse_args_into_dataclasses(argv)
    raise_if_any(
        [
            checkpoint_problem("--model_name_or_path", data_args.model_name_or_path, ("mmt",)),
            output_folder_problem("--output_dir", eval_args.output_dir) if eval_args.output_dir else None,
            positive_problem("--batch_size", eval_args.batch_size),
            *argument_problems(data_args),
        ]
    )
    model = AutoModel.from_pretrained(data_args.model_name_or_path).eval()  # any videozoo checkpoint; must be MMT
    processor = AutoProcessor.from_pretrained(data_args.model_name_or_path)
    if model.config.model_type != "mmt" or not isinstance(processor, MMTProcessor):
        raise ValueError(
            f"{data_args.model_name_or_path} is not an MMT checkpoint (model type {model.config.model_type!r})"
        )
    split = load_splits(data_args, dict(model.config.expert_feature_sizes))[eval_args.split]
    captions = data_args.eval_captions_per_video or max(len(c) for c in split["captions"])

    accelerator = Accelerator()
    loader = DataLoader(
        split,
        batch_size=eval_args.batch_size,
        collate_fn=MMTCollator(processor, training=False, captions_per_video=captions),
    )
    model, loader = accelerator.prepare(model, loader)
    task = MMTRetrievalTask(model.config.ranking_margin, model.config.renormalize_missing_modalities)
    with torch.no_grad():
        encoded = task.embed(model, loader, accelerator)
    metrics = task.retrieval_metrics(encoded)  # the metric module's computation, block by block

    if accelerator.is_main_process:
        output_dir = Path(eval_args.output_dir or Path(data_args.model_name_or_path) / "eval")
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plot_recall_at_k(metrics, output_dir / "recall_at_k.png", f"MMT, {data_args.dataset_name} {eval_args.split}")
        for direction in ("t2v", "v2t"):
            print(
                f"{direction}: R@1 {metrics[f'{direction}_R1']:.1f}  R@5 {metrics[f'{direction}_R5']:.1f}  "
                f"R@10 {metrics[f'{direction}_R10']:.1f}  MedR {metrics[f'{direction}_MedR']:.1f}  "
                f"MeanR {metrics[f'{direction}_MeanR']:.1f}  ({metrics[f'num_queries_{direction}']} queries)"
            )
        print(f"wrote {output_dir / 'metrics.json'} and {output_dir / 'recall_at_k.png'}")
    return metrics


if __name__ == "__main__":
    main()
