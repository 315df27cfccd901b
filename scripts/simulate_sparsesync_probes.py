"""What the corrupted-validation probes of the flash-and-click task score without any leak
(docs/sparsesync_probes.md).

No media is written: the test split is drawn as `write_flash_and_click_dataset` draws it (events of
`flash_and_click_source` from the split's own random stream, offsets and visual starts from `make_fixed_offsets`,
crops from `fixed_crop`), and for every clip the flash frame inside the visual crop and the click sample inside the
audio crop are found in integers. An oracle synchroniser predicts the grid class nearest to (flash - click) wrapped
to half a period. Printed, per generated test set and summarised over them:

- `oracle`: its top-1 on clean inputs (1.0 when every crop holds exactly one event in each stream);
- `audio_alone_worst` / `video_alone_worst`: the best top-1 a rule that reads one stream only can reach, the other
  stream's event replaced by a fixed guess (every frame of the period tried);
- `constant_worst`: the share of the most frequent label (a model that answers one class);
- `perm_randperm` / `perm_cycle`: the oracle with the frames permuted in batches (`torch.randperm` as the reference,
  and the fixed-point-free cycle of `videozoo.tasks.sparsesync.corrupt_batch`), with the share of fixed points.

`--independence N` also draws N training crops (`sample_crop`) and prints the chi-square of offset class against
the flash position, the click position and the crop starts (21 bins each; z = (chi2 - dof) / sqrt(2 dof)).

    python scripts/simulate_sparsesync_probes.py --num_sets 40 --independence 20000
"""

import argparse

import numpy as np

from videozoo.data.sparsesync import flash_and_click_source, make_fixed_offsets
from videozoo.processors import SparseSyncProcessor
from videozoo.processors.processing_sparsesync import fixed_crop, sample_crop

FPS, RATE = 25, 16000


def nearest_class(seconds, grid: np.ndarray, period: float) -> np.ndarray:
    wrapped = (np.asarray(seconds) + period / 2) % period - period / 2
    return np.abs(wrapped[..., None] - grid).argmin(-1)


def test_split(seed: int, count: int, crop_sec: float, duration_sec: float, period_sec: float, processor):
    """(labels, flash seconds into the visual crop, click seconds into the audio crop) of the test split (index 2)."""
    rng = np.random.default_rng([seed, 2])
    events = [flash_and_click_source(rng, duration_sec, 32, period_sec=period_sec)[2] for _ in range(count)]
    ids = [f"pretrain/test{i:05d}/00000" for i in range(count)]
    length = (int(round(duration_sec * FPS)), int(round(duration_sec * RATE)))
    table = make_fixed_offsets(dict.fromkeys(ids, length), processor, seed=seed + 3)
    crop_frames, crop_samples = int(round(crop_sec * FPS)), int(round(crop_sec * RATE))
    labels, flash, click = [], [], []
    for clip_id, times in zip(ids, events):
        offset, start = table[clip_id]
        plan = fixed_crop(*length, processor.offset_grid(), crop_sec, FPS, RATE, offset, start)
        frames = [int(round(t * FPS)) for t in times]
        seen = [f - plan.video_start_frame for f in frames if 0 <= f - plan.video_start_frame < crop_frames]
        heard = [
            f * RATE // FPS - plan.audio_start_sample
            for f in frames
            if 0 <= f * RATE // FPS - plan.audio_start_sample < crop_samples
        ]
        labels.append(plan.label)
        flash.append(seen[0] / FPS if len(seen) == 1 else np.nan)
        click.append(heard[0] / RATE if len(heard) == 1 else np.nan)
    return np.array(labels), np.array(flash), np.array(click)


def permutation(count: int, batch_size: int, rng: np.random.Generator, cycle: bool) -> np.ndarray:
    order = np.arange(count)
    for first in range(0, count, batch_size):
        size = min(batch_size, count - first)
        drawn = rng.permutation(size)
        if cycle and size > 1:
            inverse = np.empty(size, int)
            inverse[drawn] = np.roll(drawn, 1)
            drawn = inverse
        order[first : first + size] = first + drawn
    return order


def score_set(labels, flash, click, grid, period, rng, batch_size: int, draws: int) -> dict[str, float]:
    guesses = np.arange(0, period, 1 / FPS)
    out = {"oracle": float(np.mean(nearest_class(flash - click, grid, period) == labels))}
    out["audio_alone_worst"] = max(float(np.mean(nearest_class(g - click, grid, period) == labels)) for g in guesses)
    out["video_alone_worst"] = max(float(np.mean(nearest_class(flash - g, grid, period) == labels)) for g in guesses)
    out["constant_worst"] = float(np.bincount(labels).max() / len(labels))
    for name, cycle in (("perm_randperm", False), ("perm_cycle", True)):
        scores, fixed = [], []
        for _ in range(draws):
            order = permutation(len(labels), batch_size, rng, cycle)
            scores.append(np.mean(nearest_class(flash[order] - click, grid, period) == labels))
            fixed.append(np.mean(order == np.arange(len(labels))))
        out[name], out[f"{name}_fixed_points"] = float(np.mean(scores)), float(np.mean(fixed))
    return out


def independence(count: int, crop_sec: float, duration_sec: float, period_sec: float, processor, seed: int = 7):
    rng = np.random.default_rng(seed)
    length = (int(round(duration_sec * FPS)), int(round(duration_sec * RATE)))
    crop_frames, crop_samples = int(round(crop_sec * FPS)), int(round(crop_sec * RATE))
    rows = []
    for _ in range(count):
        times = flash_and_click_source(rng, duration_sec, 2, period_sec=period_sec)[2]
        plan = sample_crop(*length, processor.offset_grid(), crop_sec, FPS, RATE, rng)
        frames = [int(round(t * FPS)) for t in times]
        seen = [f - plan.video_start_frame for f in frames if 0 <= f - plan.video_start_frame < crop_frames]
        heard = [
            f * RATE // FPS - plan.audio_start_sample
            for f in frames
            if 0 <= f * RATE // FPS - plan.audio_start_sample < crop_samples
        ]
        rows.append(
            (
                plan.label,
                seen[0] / crop_frames,
                heard[0] / crop_samples,
                plan.video_start_frame / (length[0] - crop_frames),
                plan.audio_start_sample / (length[1] - crop_samples),
            )
        )
    rows = np.array(rows)
    labels = rows[:, 0].astype(int)
    for column, name in enumerate(
        ("flash in the visual crop", "click in the audio crop", "visual start", "audio start")
    ):
        bins = np.minimum((rows[:, column + 1] * 21).astype(int), 20)
        table = np.zeros((21, 21))
        np.add.at(table, (labels, bins), 1)
        expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
        chi2, dof = float(((table - expected) ** 2 / expected).sum()), 400
        print(f"offset vs {name:26s} chi2 {chi2:8.1f} on {dof} dof, z {(chi2 - dof) / (2 * dof) ** 0.5:+.1f}")


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_sets", type=int, default=40, help="generated test sets (data seeds 0, 1, ...)")
    parser.add_argument("--num_clips", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=16, help="evaluation batch size (the permutation probe)")
    parser.add_argument("--draws", type=int, default=20, help="permutation draws per test set")
    parser.add_argument("--independence", type=int, default=0, help="also test this many training crops")
    parser.add_argument("--clip_length_sec", type=float, default=4.2)
    parser.add_argument("--max_offset_sec", type=float, default=2.0)
    parser.add_argument("--num_offset_classes", type=int, default=21)
    args = parser.parse_args(argv)
    if args.num_sets < 1 or args.num_clips < 1 or args.batch_size < 1 or args.draws < 1:
        parser.error("--num_sets, --num_clips, --batch_size and --draws must be positive")
    crop, period = args.clip_length_sec, args.clip_length_sec  # the slow test's settings: one event per crop
    duration = crop + 2 * args.max_offset_sec + 0.4  # as the SparseSync recipe writes the task
    processor = SparseSyncProcessor(
        clip_length_sec=crop,
        num_offset_classes=args.num_offset_classes,
        max_offset_sec=args.max_offset_sec,
        crop_size=32,
    )
    grid = np.array(processor.offset_grid())
    results: dict[str, list[float]] = {}
    for seed in range(args.num_sets):
        labels, flash, click = test_split(seed, args.num_clips, crop, duration, period, processor)
        scores = score_set(
            labels, flash, click, grid, period, np.random.default_rng(1000 + seed), args.batch_size, args.draws
        )
        print(f"data seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
        for key, value in scores.items():
            results.setdefault(key, []).append(value)
    print(f"over {args.num_sets} test sets of {args.num_clips} clips (mean +- sd, max):")
    for key, values in results.items():
        spread = np.std(values, ddof=min(1, len(values) - 1))
        print(f"  {key:28s} {np.mean(values):.4f} +- {spread:.4f}, {max(values):.3f}")
    if args.independence:
        independence(args.independence, crop, duration, period, processor)
    return results


if __name__ == "__main__":
    main()
