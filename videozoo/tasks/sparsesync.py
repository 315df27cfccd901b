"""The SparseSync offset-classification task for `videozoo.training.fit`, with the corrupted-validation probes.

Training: cross-entropy over the offset classes (no smoothing, no tolerance in the loss), per process; DDP averages
the gradients, which is the gradient of the global mean loss for equal per-process batches.

Evaluation: logits and labels gathered over processes, scored by the metric module `videozoo/metrics/offset_accuracy`
(`accuracy_1`, `accuracy_1_tol1`, `accuracy_5`, `accuracy_5_tol1`) plus the mean loss. With `probes`, the same set
is scored again with corrupted inputs (the reference's `valid_rand_aud`, `valid_rand_rgb`, `valid_perm_batch`,
against the codec-artefact leak of the thesis §5.3 and paper §4): a model that learnt synchronisation, and nothing that
leaks the offset, falls to chance on each.

This module is also SparseSync's recipe of the synchronisation family (`scripts/run_synchronisation.py`):

    # the embedded flash-and-click task (mp4 files written to --data_dir on first use), a small model, in two stages
    # (a warm-up on event-aware crops, then the leak-free sampler): scripts/reproduce_sparsesync_synthetic.sh
    accelerate launch scripts/run_synchronisation.py train --model_type sparsesync --dataset_name synthetic \
        --data_dir data/flash_and_click --clip_length_sec 4.2 --synthetic_period_sec 4.2 --crop_policy event_aware \
        --max_steps 600 ... --output_dir runs/warmup

    # LRS3 "no face crop" pre-training at the paper configuration (`configs/sparse_sync.yaml` of the
    # reference; 8 GPUs: lr 5e-6 x 8):
    accelerate launch scripts/run_synchronisation.py train --model_type sparsesync --dataset_name lrs3 \
        --data_dir data/lrs3/h264_uncropped_25fps_256side_16000hz_aac --splits_dir data --model_size paper \
        --per_device_train_batch_size 10 --learning_rate 5e-6 --scale_learning_rate \
        --adam_epsilon 1e-7 --mixed_precision bf16 --warmup_steps 1000 --max_grad_norm 1.0 --num_train_epochs 10000 \
        --select_best_metric accuracy_1 --eval_steps 1000 --output_dir runs/sparsesync-lrs3

    # fine-tuning on VGGSound-Sparse from that checkpoint, with the fine-tuning augmentations:
    accelerate launch scripts/run_synchronisation.py train --model_name_or_path runs/sparsesync-lrs3 \
        --dataset_name vggsound --data_dir data/vggsound/h264_video_25fps_256side_16000hz_aac --splits_dir data \
        --vggsound_meta data/vggsound.csv --sparse_classes data/picked_sparse_classes.csv --augmentations finetune ...

Clips are decoded and cropped when batches are made; the offset sampler never pads. Evaluation uses the fixed
offset tables (`<splits_dir>/fixed_offsets_<layout>/<split>_size..._crop..._min..._max....csv`, the reference's
files; the synthetic task writes its own), or random offsets when no table exists. `--probes` also scores the
corrupted-validation probes (random audio, random RGB, RGB permuted in the batch), which must stay at chance.
The reference trains with Adam (AdamW with weight decay 0 here), a linear warm-up then a constant rate, gradient
clipping 1.0 and keeps the checkpoint of the best validation top-1 accuracy.

Evaluation: top-1 and +-1-class accuracy (the `offset_accuracy` metric module), optionally the probes, and a
confusion-matrix plot; writes metrics.json and confusion_matrix.png (default folder `<model>/eval`).

    python scripts/run_synchronisation.py evaluate --model_name_or_path runs/sparsesync-synthetic \
        --dataset_name synthetic --data_dir data/flash_and_click --eval_split test --probes

With a fixed-offset table for the split (`<splits_dir>/fixed_offsets_<layout>/...`) every clip is scored once at
its fixed (offset, start); without one (or with `--random_offsets`), offsets and starts are drawn by the sampler,
`--iter_times` passes with different draws (the reference README's protocol for the small VGGSound-Sparse test
set: 25-50 passes).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModel, AutoProcessor, set_seed

from ..arguments import (
    checkpoint_problem,
    file_problem,
    folder_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from ..configuration.configuration_sparsesync import SparseSyncConfig
from ..data.sparsesync import (
    SparseSyncCollator,
    fixed_offsets_name,
    sparsesync_clip_dataset,
    write_flash_and_click_dataset,
)
from ..data.sparsesync_augmentation import SparseSyncAugmentation
from ..metrics import load_metric
from ..metrics.offset_accuracy.offset_accuracy import confusion_matrix, offset_accuracy
from ..modeling.modeling_sparsesync import resnet_output_grid, s3d_output_grid, spectrogram_frames
from ..processors.feature_extraction_sparsesync import SparseSyncFeatureExtractor
from ..processors.processing_sparsesync import SparseSyncProcessor
from ..recipes import Recipe, save_evaluation
from ..training import TrainerArguments, fit

PROBES = ("rand_audio", "rand_rgb", "perm_rgb")


def corrupt_batch(batch: dict, probe: str, generator: torch.Generator) -> dict:
    """The reference's corrupted-validation inputs: `rand_audio` replaces the spectrograms by uniform noise over the
    batch's value range, `rand_rgb` the frames likewise, `perm_rgb` permutes the frames within the batch (each clip
    gets another clip's video).

    `perm_rgb` draws a random cyclic permutation, so that no clip keeps its own video (a batch of one clip cannot be
    permuted). The reference's `torch.randperm` leaves one clip per batch in place on average (6.4 % of a 200-clip
    test set in batches of 16, measured), and those clips are scored at the model's real accuracy: at 44 % top-1
    that lifts the probe from 1/21 = 4.8 % to about 7.3 %, next to the 2/21 bound the synthetic test had
    (docs/sparsesync_probes.md)."""
    batch = dict(batch)
    if probe == "rand_audio":
        audio = batch["input_features"]
        noise = torch.rand(audio.shape, generator=generator).to(audio.device, audio.dtype)
        batch["input_features"] = (audio.max() - audio.min()) * noise + audio.min()
    elif probe == "rand_rgb":
        video = batch["pixel_values"]
        noise = torch.rand(video.shape, generator=generator).to(video.device, video.dtype)
        batch["pixel_values"] = (video.max() - video.min()) * noise + video.min()
    elif probe == "perm_rgb":
        cycle = torch.randperm(batch["pixel_values"].shape[0], generator=generator)
        order = torch.empty_like(cycle)
        order[cycle] = cycle.roll(1)  # clip cycle[i] gets the video of cycle[i - 1]: one cycle, no fixed point
        batch["pixel_values"] = batch["pixel_values"][order.to(batch["pixel_values"].device)]
    else:
        raise ValueError(f"unknown probe {probe!r} (use one of {PROBES})")
    return batch


class SparseSyncOffsetTask:
    """Offset classification. `probes`: names from `PROBES` to evaluate as well (prefixed `<probe>/`)."""

    def __init__(self, probes: tuple[str, ...] = (), seed: int = 0):
        unknown = set(probes) - set(PROBES)
        if unknown:
            raise ValueError(f"unknown probes {sorted(unknown)} (use {PROBES})")
        self.probes = tuple(probes)
        self.seed = seed

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        return model(
            pixel_values=batch["pixel_values"], input_features=batch["input_features"], labels=batch["labels"]
        ).loss

    def predict(
        self, model, dataloader, accelerator: Accelerator, probe: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, labels) over the whole set, gathered; `probe` corrupts every batch first."""
        generator = torch.Generator().manual_seed(self.seed + accelerator.process_index)
        logits, labels = [], []
        for batch in dataloader:
            if probe is not None:
                batch = corrupt_batch(batch, probe, generator)
            out = model(pixel_values=batch["pixel_values"], input_features=batch["input_features"])
            gathered = accelerator.gather_for_metrics({"logits": out.logits.float(), "labels": batch["labels"]})
            logits.append(gathered["logits"].cpu())
            labels.append(gathered["labels"].cpu())
        return torch.cat(logits), torch.cat(labels)

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        metrics = {}
        for probe in (None, *self.probes):
            logits, labels = self.predict(model, dataloader, accelerator, probe)
            scores = offset_accuracy(logits, labels)
            scores["loss"] = torch.nn.functional.cross_entropy(logits, labels).item()
            prefix = "" if probe is None else f"{probe}/"
            metrics.update({f"{prefix}{k}": v for k, v in scores.items() if k != "num_examples" or probe is None})
        return metrics


__all__ = ["PROBES", "SparseSyncOffsetTask", "corrupt_batch"]


# ---- the recipe: training ----


@dataclass
class SparseSyncArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "videozoo SparseSync checkpoint to fine-tune."}
    )
    model_size: Literal["small", "paper"] = field(
        default="small", metadata={"help": "'paper': the released model's sizes."}
    )
    dataset_name: Literal["synthetic", "lrs3", "vggsound"] = "synthetic"
    data_dir: str = field(
        default="data/flash_and_click", metadata={"help": "The clip folder (synthetic: written if empty)."}
    )
    splits_dir: str | None = field(
        default=None, metadata={"help": "Split files and fixed_offsets_* tables (default data_dir)."}
    )
    vggsound_meta: str | None = None
    sparse_classes: str | None = None
    eval_split: str = "valid"
    num_train_clips: int = 1000
    num_eval_clips: int = 200
    synthetic_size: int = 32
    synthetic_events_per_sec: float = 1.5
    synthetic_period_sec: float | None = field(
        default=None, metadata={"help": "Periodic events (period = crop: one per crop)."}
    )
    crop_policy: Literal["sampler", "event_aware"] = field(
        default="sampler",
        metadata={"help": "'event_aware': warm-up crops around known events (leaky; synthetic warm-up stage only)."},
    )
    clip_length_sec: float | None = field(
        default=None, metadata={"help": "Crop length (default 5 s; 3 s for synthetic)."}
    )
    crop_size: int | None = field(
        default=None, metadata={"help": "Spatial crop (default 224; synthetic_size for synthetic)."}
    )
    num_offset_classes: int = 21
    max_offset_sec: float = 2.0
    s3d_batch_norm_momentum: float | None = field(
        default=None, metadata={"help": "Override (0.1 for from-scratch training)."}
    )
    initializer_range: float | None = field(default=None, metadata={"help": "Head init std (reference 0.02)."})
    position_initializer_range: float | None = field(default=None, metadata={"help": "Positional tables' init std."})
    augmentations: Literal["pretrain", "finetune"] = field(
        default="pretrain", metadata={"help": "'finetune': + A4.4's."}
    )
    scale_learning_rate: bool = field(
        default=False, metadata={"help": "Multiply the learning rate by the process count."}
    )
    probes: bool = field(default=False, metadata={"help": f"Also evaluate the corrupted-validation probes {PROBES}."})
    cache_decoded: bool = field(default=False, metadata={"help": "Keep decoded clips in memory (small sets)."})
    decoded_cache_dir: str | None = field(
        default=None,
        metadata={"help": "Keep decoded clips on disk here, so epochs do not decode again (docs/data_throughput.md)."},
    )
    decoder: str = field(
        default="pyav",
        metadata={"help": "pyav (CPU), torchcodec-cuda (GPU, untested), or auto (the GPU one where CUDA is present)."},
    )


def argument_problems(args: SparseSyncArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded (or any synthetic clip written)."""
    synthetic = args.dataset_name == "synthetic"
    found = [
        folder_problem("--data_dir", None if synthetic else args.data_dir, required=not synthetic),
        folder_problem("--splits_dir", args.splits_dir),
        file_problem("--vggsound_meta", args.vggsound_meta),
        file_problem("--sparse_classes", args.sparse_classes),
        positive_problem("--num_train_clips", args.num_train_clips),
        positive_problem("--num_eval_clips", args.num_eval_clips),
        positive_problem("--synthetic_size", args.synthetic_size),
        positive_problem("--synthetic_events_per_sec", args.synthetic_events_per_sec),
        positive_problem("--synthetic_period_sec", args.synthetic_period_sec),
        positive_problem("--clip_length_sec", args.clip_length_sec),
        positive_problem("--crop_size", args.crop_size),
        positive_problem("--max_offset_sec", args.max_offset_sec),
    ]
    if args.num_offset_classes < 2:
        found.append(f"--num_offset_classes must be >= 2 (got {args.num_offset_classes})")
    if args.crop_policy == "event_aware" and not synthetic:
        found.append("--crop_policy event_aware needs the synthetic task's known events (--dataset_name synthetic)")
    if synthetic and Path(args.data_dir).exists() and not Path(args.data_dir).is_dir():
        found.append(f"--data_dir: {args.data_dir} is a file, not a folder")
    return found


def small_config(args: SparseSyncArguments, clip_sec: float, crop: int, **overrides) -> SparseSyncConfig:
    """The scaled-down model of the synthetic task: width 64, one layer per stack, S3D at 1/8 width."""
    frames, samples = round(clip_sec * 25), round(clip_sec * 16000)
    return SparseSyncConfig(
        num_offset_classes=args.num_offset_classes,
        max_offset_sec=args.max_offset_sec,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        num_selector_layers=1,
        num_sync_layers=1,
        num_visual_selectors=8,
        num_audio_selectors=8,
        visual_grid=list(s3d_output_grid(frames, crop, crop)),
        audio_grid=list(resnet_output_grid(257, spectrogram_frames(samples))),
        s3d_width_divisor=8,
        audio_backbone_widths=[8, 16, 32, 64],
        audio_backbone_depths=[1, 1, 1, 1],
        **overrides,
    )


def build_datasets(args: SparseSyncArguments, processor: SparseSyncProcessor):
    data_dir = Path(args.data_dir)
    splits_dir = Path(args.splits_dir or data_dir)
    layout = "vggsound" if args.dataset_name == "vggsound" else "lrs3"
    if args.dataset_name == "synthetic" and not (splits_dir / "lrs3_train.txt").is_file():
        write_flash_and_click_dataset(
            data_dir,
            {"train": args.num_train_clips, "valid": args.num_eval_clips, "test": args.num_eval_clips},
            duration_sec=processor.clip_length_sec + 2 * args.max_offset_sec + 0.4,
            size=args.synthetic_size,
            num_offset_classes=args.num_offset_classes,
            max_offset_sec=args.max_offset_sec,
            crop_sec=processor.clip_length_sec,
            events_per_sec=args.synthetic_events_per_sec,
            period_sec=args.synthetic_period_sec,
        )
    table = splits_dir / f"fixed_offsets_{layout}" / fixed_offsets_name(args.eval_split, processor)
    events = data_dir / "events.csv"
    common = dict(
        layout=layout,
        splits_dir=splits_dir,
        vggsound_meta=args.vggsound_meta,
        sparse_classes=args.sparse_classes,
        events=events if events.is_file() else None,
    )
    train = sparsesync_clip_dataset(data_dir, "train", **common)
    evaluation = sparsesync_clip_dataset(
        data_dir, args.eval_split, fixed_offsets=table if table.is_file() else None, **common
    )
    return train, evaluation


def train(args: SparseSyncArguments, training_args: TrainerArguments) -> dict[str, float]:
    """Train (or fine-tune) SparseSync; every argument is checked before anything is loaded or written."""
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    synthetic = args.dataset_name == "synthetic"
    if args.model_name_or_path:
        model = AutoModel.from_pretrained(args.model_name_or_path)
        if model.config.model_type != "sparsesync":
            raise ValueError(f"{args.model_name_or_path} is not a SparseSync checkpoint ({model.config.model_type!r})")
        processor = AutoProcessor.from_pretrained(args.model_name_or_path)
    else:
        clip_sec = args.clip_length_sec or (3.0 if synthetic else 5.0)
        crop = args.crop_size or (args.synthetic_size if synthetic else 224)
        overrides = {
            name: getattr(args, name)
            for name in ("s3d_batch_norm_momentum", "initializer_range", "position_initializer_range")
            if getattr(args, name) is not None
        }
        if args.model_size == "paper":
            frames = round(clip_sec * 25)
            config = SparseSyncConfig(
                num_offset_classes=args.num_offset_classes,
                max_offset_sec=args.max_offset_sec,
                visual_grid=list(s3d_output_grid(frames, crop, crop)),
                audio_grid=list(resnet_output_grid(257, spectrogram_frames(round(clip_sec * 16000)))),
                **overrides,
            )
        else:
            config = small_config(args, clip_sec, crop, **overrides)
        model = AutoModel.from_config(config)
        processor = SparseSyncProcessor(
            SparseSyncFeatureExtractor(),
            clip_length_sec=clip_sec,
            crop_size=crop,
            resize_shorter_side=0 if synthetic else 256,
            num_offset_classes=config.num_offset_classes,
            max_offset_sec=config.max_offset_sec,
        )
    augmentation = SparseSyncAugmentation.finetune() if args.augmentations == "finetune" else SparseSyncAugmentation()
    if args.scale_learning_rate:
        from accelerate import PartialState

        training_args.learning_rate *= PartialState().num_processes
    train, evaluation = build_datasets(args, processor)
    task = SparseSyncOffsetTask(PROBES if args.probes else ())
    train_collator = SparseSyncCollator(
        processor,
        augmentation,
        seed=training_args.seed,
        event_aware=args.crop_policy == "event_aware",
        cache_decoded=args.cache_decoded,
        decoded_cache_dir=args.decoded_cache_dir,
        decoder=args.decoder,
    )
    return fit(
        model,
        task,
        train,
        training_args,
        collate_fn=train_collator,
        eval_dataset=evaluation,
        eval_collate_fn=SparseSyncCollator(
            processor,
            seed=training_args.seed + 1,
            cache_decoded=args.cache_decoded,
            decoded_cache_dir=args.decoded_cache_dir,
            decoder=args.decoder,
        ),
        processor=processor,
        hparams=vars(args),
    )


# ---- the recipe: evaluation ----


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


def evaluate(args: SparseSyncArguments, eval_args: EvaluationArguments) -> dict[str, float]:
    """Score a SparseSync checkpoint on `--eval_split`; writes metrics.json and confusion_matrix.png."""
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
        output_dir = save_evaluation(metrics, eval_args.output_dir, args.model_name_or_path)
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


RECIPE = Recipe(
    train_arguments=(SparseSyncArguments,),
    train=train,
    evaluate_arguments=(SparseSyncArguments, EvaluationArguments),
    evaluate=evaluate,
)


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the released configuration (54.3 M parameters; 5 s clips: 125 frames of
    224 x 224 and a 257 x 626 spectrogram; 21 offset classes; Iashin et al. 2022 Sec. 4), cross-entropy over the
    offset classes."""
    from ..benchmarking import Workload
    from ..configuration import SparseSyncConfig
    from ..modeling import SparseSyncForOffsetClassification

    paper = config is None
    config = config or SparseSyncConfig()
    frames, height, width, spectrogram_frames = (125, 224, 224, 626) if paper else (16, 32, 64, 81)

    def make_inputs(batch, generator):
        return {
            "pixel_values": torch.randn(batch, frames, 3, height, width, generator=generator),
            "input_features": torch.randn(batch, config.num_frequency_bins, spectrogram_frames, generator=generator),
            "labels": torch.randint(0, config.num_offset_classes, (batch,), generator=generator),
        }

    return Workload(
        description=f"{frames} frames of {height} x {width}, a {config.num_frequency_bins} x {spectrogram_frames} "
        "spectrogram",
        build_model=lambda: SparseSyncForOffsetClassification(config),
        make_inputs=make_inputs,
        loss=SparseSyncOffsetTask().training_loss,
        paper_batch_size=10,
        cpu_batch_size=1,
        learning_rate=5e-6,
    )
