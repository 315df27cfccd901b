"""Pre-train SparseSync's two trunks for the synthetic flash-and-click task (the analogue of the reference's
pre-trained extractors, the first two training stages of the paper: S3D on Kinetics, the audio ResNet-18 on VGGSound):
each trunk learns, on its own stream, which of its output time steps holds an event (a flash for S3D, a click for the
audio trunk), from the known event times of the generated clips. The result is a SparseSync checkpoint whose trunks are
trained and whose head keeps its initialisation; the synchronisation stages start from it (`--model_name_or_path`).

    python scripts/pretrain_sparsesync_extractors.py --data_dir data/flash_and_click --output_dir runs/extractors \
        --clip_length_sec 4.2 --max_steps 400

Random-initialised trunks give features that a LayerNorm reduces to nearly the same direction with and without an
event (a flash mostly scales the activations), so a head on top of them cannot tell when things happen; from there
the full model sits on a long plateau (measured: 600 warm-up + 1,200 steps at chance).
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

import videozoo  # noqa: F401
from videozoo.arguments import exit_if_any, output_folder_problem, positive_problem
from videozoo.data.sparsesync import SparseSyncCollator, sparsesync_clip_dataset
from videozoo.data.sparsesync_augmentation import SparseSyncAugmentation
from videozoo.modeling import SparseSyncForOffsetClassification
from videozoo.outputs import staged_output
from videozoo.processors import SparseSyncFeatureExtractor, SparseSyncProcessor
from videozoo.tasks.sparsesync import SparseSyncArguments, build_datasets, small_config


def event_targets(event_times, starts, length_sec: float, steps: int) -> torch.Tensor:
    """`(B, steps)` 1 where an event falls in an output time step of a crop starting at `starts` (seconds)."""
    targets = torch.zeros(len(starts), steps)
    for row, (events, start) in enumerate(zip(event_times, starts)):
        for event in events:
            position = (float(event) - float(start)) / length_sec
            if 0 <= position < 1:
                targets[row, int(position * steps)] = 1.0
    return targets


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", type=Path, required=True)
    parser.add_argument("--output_dir", type=Path, required=True)
    parser.add_argument("--clip_length_sec", type=float, default=4.2)
    parser.add_argument("--crop_size", type=int, default=32)
    parser.add_argument("--max_steps", type=int, default=400)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--position_initializer_range", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_train_clips", type=int, default=800, help="when the clips are written here")
    parser.add_argument("--num_eval_clips", type=int, default=200)
    parser.add_argument("--synthetic_period_sec", type=float, default=4.2)
    args = parser.parse_args(argv)
    exit_if_any(
        parser,
        [
            output_folder_problem("--data_dir", args.data_dir),
            output_folder_problem("--output_dir", args.output_dir),
            positive_problem("--clip_length_sec", args.clip_length_sec),
            positive_problem("--crop_size", args.crop_size),
            positive_problem("--max_steps", args.max_steps),
            positive_problem("--batch_size", args.batch_size),
            positive_problem("--learning_rate", args.learning_rate),
            positive_problem("--position_initializer_range", args.position_initializer_range),
            positive_problem("--num_train_clips", args.num_train_clips),
            positive_problem("--num_eval_clips", args.num_eval_clips),
            positive_problem("--synthetic_period_sec", args.synthetic_period_sec),
        ],
    )
    torch.manual_seed(args.seed)
    processor = SparseSyncProcessor(
        SparseSyncFeatureExtractor(),
        clip_length_sec=args.clip_length_sec,
        crop_size=args.crop_size,
        resize_shorter_side=0,
    )
    config = small_config(
        SparseSyncArguments(),
        args.clip_length_sec,
        args.crop_size,
        s3d_batch_norm_momentum=0.1,
        position_initializer_range=args.position_initializer_range,
    )
    model = SparseSyncForOffsetClassification(config)
    heads = nn.ModuleDict(
        {"visual": nn.Linear(config.visual_feature_size, 1), "audio": nn.Linear(config.hidden_size, 1)}
    )
    if not (args.data_dir / "lrs3_train.txt").is_file():  # write the task's clips (as the training script would)
        build_datasets(
            SparseSyncArguments(
                data_dir=str(args.data_dir),
                num_train_clips=args.num_train_clips,
                num_eval_clips=args.num_eval_clips,
                synthetic_size=args.crop_size,
                synthetic_period_sec=args.synthetic_period_sec,
            ),
            processor,
        )
    events = args.data_dir / "events.csv"
    train = sparsesync_clip_dataset(args.data_dir, "train", events=events)
    collator = SparseSyncCollator(processor, SparseSyncAugmentation(), seed=args.seed, cache_decoded=True)
    parameters = (
        list(model.visual_encoder.parameters()) + list(model.audio_encoder.parameters()) + list(heads.parameters())
    )
    optimizer = torch.optim.Adam(parameters, lr=args.learning_rate)
    rng = np.random.default_rng(args.seed)
    model.train()
    log = []
    for step in range(1, args.max_steps + 1):
        indices = rng.integers(0, len(train), args.batch_size)
        rows = [{**train[int(i)], "offset_sec": 0.0, "vstart_sec": float(rng.uniform(0, 4.0))} for i in indices]
        for row in rows:  # a start on the frame grid that keeps the crop inside the clip
            row["vstart_sec"] = int(row["vstart_sec"] * 25) / 25
            row["sample_seed"] = int(rng.integers(2**31))
        batch = collator(rows)
        visual = model.get_visual_features(batch["pixel_values"]).mean(dim=(3, 4))  # (B, t, C)
        audio = model.get_audio_features(batch["input_features"]).mean(dim=2).transpose(1, 2)  # (B, t, C)
        starts = [row["vstart_sec"] for row in rows]
        times = [row["event_times"] for row in rows]
        loss = sum(
            nn.functional.binary_cross_entropy_with_logits(
                heads[name](features)[..., 0], event_targets(times, starts, args.clip_length_sec, features.shape[1])
            )
            for name, features in (("visual", visual), ("audio", audio))
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0:
            log.append({"step": step, "loss": loss.item()})
            print(f"step {step}: event-detection loss {loss.item():.4f}", flush=True)
    with staged_output(args.output_dir) as staging:  # the output folder keeps an earlier model until this is done
        model.save_pretrained(staging)
        processor.save_pretrained(staging)
        (staging / "extractor_pretraining.json").write_text(json.dumps(log, indent=2))
    return log[-1] if log else {}


if __name__ == "__main__":
    main()
