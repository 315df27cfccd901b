"""Benchmark SparseSync: training at the paper configuration, and the media pipeline against what the model consumes.

    python scripts/benchmark_sparsesync.py                        # CPU: batch 1, one timed step
    python scripts/benchmark_sparsesync.py --device cuda --dtype bf16 --batch_size 10 --repeats 5

1. One training step (forward + backward + Adam) of the released model's configuration (54.3 M parameters,
   5 s clips: 125 frames of 224 x 224 and a 257 x 626 spectrogram, 21 classes): clips/s, peak memory, FLOP rate
   against a plain matrix multiply.
2. The media pipeline of one process: decode real clips (`load_clip`: 25 fps, shorter side 256, 16 kHz mono) and
   run the processor's training transforms (5 s crops, random offset, spectrogram): clips/s, against the model's
   consumption rate from 1, i.e. the number of loader workers a training run needs; once on the original files
   and once on their prepared (re-encoded) versions, which are what training reads. Uses the clips in
   `--media_dir` (default ../shared/data/media) or, without them, 10 s clips written with the synthetic writer.
"""

import argparse
import glob
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import videozoo  # noqa: F401
from videozoo.benchmarking import benchmark_training_step
from videozoo.configuration import SparseSyncConfig
from videozoo.data.sparsesync_augmentation import SparseSyncAugmentation
from videozoo.modeling import SparseSyncForOffsetClassification
from videozoo.processors import SparseSyncProcessor


def media_files(media_dir: Path | None, work: Path) -> list[str]:
    files = (
        sorted(glob.glob(str(media_dir / "**" / "*.mp4"), recursive=True)) if media_dir and media_dir.is_dir() else []
    )
    if files:
        return files
    from videozoo.data.sparsesync import write_clip

    rng = np.random.default_rng(0)
    for index in range(4):
        frames = rng.integers(0, 255, (250, 256, 340, 3), dtype=np.uint8)
        write_clip(work / f"clip{index}.mp4", frames, rng.normal(0, 0.1, 160_000).astype(np.float32), crf=23)
    return sorted(str(p) for p in work.glob("*.mp4"))


def benchmark_pipeline(files: list[str], repeats: int) -> dict[str, float]:
    processor = SparseSyncProcessor()
    decode_seconds, transform_seconds, clips = 0.0, 0.0, 0
    for _ in range(repeats):
        for index, path in enumerate(files):
            start = time.perf_counter()
            clip = processor.load_clip(path)
            middle = time.perf_counter()
            if clip.duration < processor.clip_length_sec + processor.max_offset_sec:
                continue  # too short for every offset: skipped as a dataset build would
            SparseSyncAugmentation().batch(processor, [clip], [index])  # the training transforms
            decode_seconds += middle - start
            transform_seconds += time.perf_counter() - middle
            clips += 1
    total = decode_seconds + transform_seconds
    figures = {
        "clips": clips,
        "clips_per_s": clips / total,
        "decode_ms": 1e3 * decode_seconds / clips,
        "transform_ms": 1e3 * transform_seconds / clips,
    }
    print(
        f"[media pipeline] {clips} clips from {len(files)} files, one process: {figures['clips_per_s']:.2f} clips/s "
        f"(decode + resize {figures['decode_ms']:.0f} ms, crops + transforms + spectrogram "
        f"{figures['transform_ms']:.0f} ms per clip)"
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--media_dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "media"
    )
    parser.add_argument("--pipeline_repeats", type=int, default=1)
    parser.add_argument("--skip_model", action="store_true")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    clips_per_s = None
    if not args.skip_model:
        torch.manual_seed(0)
        model = SparseSyncForOffsetClassification(SparseSyncConfig()).to(device).train()
        inputs = {
            "pixel_values": torch.randn(args.batch_size, 125, 3, 224, 224, device=device),
            "input_features": torch.randn(args.batch_size, 257, 626, device=device),
            "labels": torch.randint(0, 21, (args.batch_size,), device=device),
        }
        figures = benchmark_training_step(
            "paper configuration: 5 s, 224 px",
            model,
            lambda: model(**inputs).loss,
            args.batch_size,
            device,
            dtype,
            args.repeats,
            learning_rate=5e-6,
        )
        clips_per_s = figures["samples_per_s"]
    with tempfile.TemporaryDirectory() as work:
        files = media_files(args.media_dir, Path(work))
        print("original files (any size, rate and codec settings):")
        benchmark_pipeline(files, args.pipeline_repeats)
        from videozoo.data.sparsesync import reencode_clip

        prepared = []
        for index, path in enumerate(files):  # what training reads: the offline re-encoding of the reference
            target = Path(work) / f"prepared{index}.mp4"
            reencode_clip(path, target, max_duration_sec=10.0)
            prepared.append(str(target))
        print("prepared files (25 fps, shorter side 256, H.264 crf 10, AAC 16 kHz mono):")
        pipeline = benchmark_pipeline(prepared, args.pipeline_repeats)
    if clips_per_s is not None:
        ratio = pipeline["clips_per_s"] / clips_per_s
        print(
            f"[balance] the model trains on {clips_per_s:.2f} clips/s; one loader process supplies "
            f"{pipeline['clips_per_s']:.2f} clips/s ({ratio:.1f}x): {max(1, int(np.ceil(1 / ratio)))} loader "
            "process(es) keep it fed"
        )


if __name__ == "__main__":
    main()
