"""Train SparseSync (offset classification from frames and audio).

    # the embedded flash-and-click task (mp4 files written to --data_dir on first use), a small model, in two stages
    # (a warm-up on event-aware crops, then the leak-free sampler): scripts/reproduce_sparsesync_synthetic.sh
    accelerate launch scripts/train_sparsesync.py --dataset_name synthetic --data_dir data/flash_and_click \
        --clip_length_sec 4.2 --synthetic_period_sec 4.2 --crop_policy event_aware --max_steps 600 ... \
        --output_dir runs/warmup

    # LRS3 "no face crop" pre-training at the paper configuration (`configs/sparse_sync.yaml` of the
    # reference; 8 GPUs: lr 5e-6 x 8):
    accelerate launch scripts/train_sparsesync.py --dataset_name lrs3 \
        --data_dir data/lrs3/h264_uncropped_25fps_256side_16000hz_aac --splits_dir data --model_size paper \
        --per_device_train_batch_size 10 --learning_rate 5e-6 --scale_learning_rate \
        --adam_epsilon 1e-7 --mixed_precision bf16 --warmup_steps 1000 --max_grad_norm 1.0 --num_train_epochs 10000 \
        --select_best_metric accuracy_1 --eval_steps 1000 --output_dir runs/sparsesync-lrs3

    # fine-tuning on VGGSound-Sparse from that checkpoint, with the fine-tuning augmentations:
    accelerate launch scripts/train_sparsesync.py --model_name_or_path runs/sparsesync-lrs3 --dataset_name vggsound \
        --data_dir data/vggsound/h264_video_25fps_256side_16000hz_aac --splits_dir data \
        --vggsound_meta data/vggsound.csv --sparse_classes data/picked_sparse_classes.csv --augmentations finetune ...

Clips are decoded and cropped when batches are made; the offset sampler never pads. Evaluation uses the fixed
offset tables (`<splits_dir>/fixed_offsets_<layout>/<split>_size..._crop..._min..._max....csv`, the reference's
files; the synthetic task writes its own), or random offsets when no table exists. `--probes` also scores the
corrupted-validation probes (random audio, random RGB, RGB permuted in the batch), which must stay at chance.
The reference trains with Adam (AdamW with weight decay 0 here), a linear warm-up then a constant rate, gradient
clipping 1.0 and keeps the checkpoint of the best validation top-1 accuracy.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from transformers import AutoModel, AutoProcessor, HfArgumentParser, set_seed

import videozoo  # noqa: F401
from videozoo.arguments import file_problem, folder_problem, positive_problem, raise_if_any
from videozoo.configuration import SparseSyncConfig
from videozoo.data.sparsesync import (
    SparseSyncCollator,
    fixed_offsets_name,
    sparsesync_clip_dataset,
    write_flash_and_click_dataset,
)
from videozoo.modeling.modeling_sparsesync import resnet_output_grid, s3d_output_grid, spectrogram_frames
from videozoo.processors import SparseSyncFeatureExtractor, SparseSyncProcessor
from videozoo.tasks.sparsesync import PROBES, SparseSyncOffsetTask
from videozoo.training import TrainerArguments, fit

FINETUNE_AUGMENTATIONS = dict(
    upscale_p=0.5,
    color_jitter_p=0.2,
    grayscale_p=0.2,
    reverb_p=0.2,
    volume_p=0.2,
    pitch_shift_p=0.2,
    lowpass_p=0.2,
    gaussian_noise_p=0.2,
    freq_mask_p=0.2,
    time_mask_p=0.2,
)


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


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, training_args = HfArgumentParser((SparseSyncArguments, TrainerArguments)).parse_args_into_dataclasses(argv)
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
    if args.augmentations == "finetune":
        for name, value in FINETUNE_AUGMENTATIONS.items():
            setattr(processor, name, value)
    if args.scale_learning_rate:
        from accelerate import PartialState

        training_args.learning_rate *= PartialState().num_processes
    train, evaluation = build_datasets(args, processor)
    task = SparseSyncOffsetTask(PROBES if args.probes else ())
    train_collator = SparseSyncCollator(
        processor,
        training=True,
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
            training=False,
            seed=training_args.seed + 1,
            cache_decoded=args.cache_decoded,
            decoded_cache_dir=args.decoded_cache_dir,
            decoder=args.decoder,
        ),
        processor=processor,
        hparams=vars(args),
    )


if __name__ == "__main__":
    main()
