"""Does the data pipeline keep up with the model? Decode + transform throughput against what the model consumes.

    python scripts/benchmark_data.py                                   # every model, 0 and 2 loader workers
    python scripts/benchmark_data.py --models sparsesync,sparsesync_cached --workers 0,1,2 --clips 8

For each raw-media model, the samples a training (or extraction) run builds from media files:
- `sparsesync`: `SparseSyncProcessor.load_clip` (25 fps, shorter side 256, 16 kHz mono) + the training transforms
  (5 s crops at a random offset, augmentation, spectrogram); `sparsesync_cached`: the same from the decoded-clip
  cache (`DecodedClipCache`, filled beforehand: what `prepare_sparsesync_dataset.py --decoded_cache_dir` writes);
- `avatar`: `AvatarProcessor` on the media file (frames and log-mel of the clip, training augmentation);
- `avlnet_audio`: the audio track decoded (`load_audio`) + AVLnet's log-mel front end;
- `vggish`, `resnet_frames`, `s3d`: the feature extractors' decode + transform (`extract_features.prepare_inputs`).
Printed per model:
1. the pipeline's samples/s through a `DataLoader` with each `--workers` count (0: in the main process);
2. what the model consumes: one pass at batch 1 (AVLnet: 2, its loss needs a negative) on this CPU (forward +
   backward for the trained models, forward for the extractors), timed, with its FLOPs counted in the same pass
   (`torch.utils.flop_counter`); and what one GPU would consume: FLOPs per sample / (`--gpu_tflops` x
   `--gpu_utilisation`), by default 989 TFLOP/s (H100 SXM dense bf16) at 40% utilisation;
3. the workers needed to keep each fed (`ceil(consumed / supplied per worker)`).
Media: `--media_dir` (default ../shared/data/media, any mp4 under it) or, without it, synthetic 10 s clips.
The figures of this repository's machine are in docs/data_throughput.md.
"""

import argparse
import glob
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import videozoo  # noqa: F401

MODELS = ("sparsesync", "sparsesync_cached", "avatar", "avlnet_audio", "vggish", "resnet_frames", "s3d")


# ----------------------------------------------------------------------------- pipelines (one sample per file)
class Samples(torch.utils.data.Dataset):
    """Item k: `make(path_k, k)`, the sample a run builds from file k (files repeated to `count` items)."""

    def __init__(self, make, paths: list[str], count: int):
        self.make, self.paths, self.count = make, paths, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        return self.make(self.paths[index % len(self.paths)], index)


def _sparsesync(cache_dir: Path | None):
    from videozoo.data.sparsesync import DecodedClipCache
    from videozoo.data.sparsesync_augmentation import SparseSyncAugmentation
    from videozoo.processors import SparseSyncProcessor

    processor = SparseSyncProcessor()
    load = DecodedClipCache(cache_dir, processor).load if cache_dir is not None else processor.load_clip

    augmentation = SparseSyncAugmentation()  # the training transforms (crop, flip, audio jitter)

    def make(path, index):
        out = augmentation.batch(processor, [load(path)], [index])
        return {"pixel_values": out["pixel_values"], "input_features": out["input_features"], "labels": out["labels"]}

    return make


def _avatar(folder: Path):
    from videozoo.configuration import AvatarConfig
    from videozoo.data.avatar_augmentation import AvatarAugmentation, computed_frames
    from videozoo.processors import AvatarFeatureExtractor, AvatarProcessor, AvatarVideoProcessor
    from videozoo.processors.processing_avatar import write_vocab
    from videozoo.processors.video_io import load_audio, load_video

    config = AvatarConfig()  # the paper configuration's inputs (frames, crop, log-mel frames)
    processor = AvatarProcessor.from_vocab_file(
        write_vocab(["a"], folder / "vocab.txt"),  # the text is not measured: any vocabulary
        AvatarFeatureExtractor(num_mel_bins=config.num_mel_bins, max_frames=config.max_audio_frames),
        AvatarVideoProcessor(num_frames=config.num_frames, crop_size=list(config.frame_size)),
    )
    augmentation = AvatarAugmentation.reference(spec_augment="reference")  # what the training collator applies

    def make(path, index):
        rng = np.random.default_rng(index)
        wave, rate = load_audio(path, end_sec=8.0)
        video = load_video(path, end_sec=8.0)
        features = processor(audio=[wave.mean(0).numpy()], sampling_rate=rate)["input_features"][0]
        valid = computed_frames(wave.shape[-1], processor.feature_extractor.hop_length, features.shape[0])
        frames = video.frames.permute(0, 2, 3, 1)  # (T, H, W, 3), as the collator hands them over
        return {
            "input_features": augmentation.features(features, valid, rng),
            "pixel_values": augmentation.pixels(processor.video_processor, frames, video.fps, rng),
        }

    return make


def _avlnet_audio():
    from videozoo.processors import AVLnetFeatureExtractor
    from videozoo.processors.video_io import load_audio

    extractor = AVLnetFeatureExtractor()

    def make(path, index):
        waveform, rate = load_audio(path)
        return dict(extractor([waveform.mean(0).numpy()], sampling_rate=rate))

    return make


def _extractor(name: str):
    from videozoo.processors import ResNetFramesProcessor, S3DProcessor, VGGishProcessor
    from videozoo.scripts.extract_features import prepare_inputs

    processor = {"vggish": VGGishProcessor, "resnet_frames": ResNetFramesProcessor, "s3d": S3DProcessor}[name]()

    def make(path, index):
        return prepare_inputs(name, processor, [], Path(path))["inputs"]

    return make


# ----------------------------------------------------------------------------- models (one pass at batch 1)
def _model_pass(name: str, sample: dict):
    """(the pass as a function, whether it trains, samples in the pass) on `sample` as the pipeline made it."""
    from videozoo import configuration, modeling

    torch.manual_seed(0)
    if name.startswith("sparsesync"):
        model = modeling.SparseSyncForOffsetClassification(configuration.SparseSyncConfig()).train()
        return lambda: model(**sample).loss, True, 1
    if name == "avatar":
        config = configuration.AvatarConfig()
        model = modeling.AvatarForConditionalGeneration(config).train()
        labels = torch.randint(1000, config.vocab_size, (1, 64))
        return lambda: model(**sample, labels=labels).loss, True, 1
    if name == "avlnet_audio":
        config = configuration.AVLnetConfig()
        model = modeling.AVLnetModel(config).train()
        frames = sample["input_features"].shape[-1]
        inputs = {
            "input_features": sample["input_features"].repeat(2, 1, 1),  # the loss needs a negative: 2 clips
            "audio_lengths": torch.full((2,), frames),
            "video_features": torch.rand(2, config.video_feature_size),
        }
        return lambda: model(**inputs, return_loss=True).loss, True, 2
    classes = {"vggish": "VGGishModel", "resnet_frames": "ResNetFramesModel", "s3d": "S3DModel"}
    model_class = getattr(modeling, classes[name])
    model = model_class(model_class.config_class()).eval()
    (inputs,) = sample.values()
    return lambda: model(inputs), False, 1


def _consumption(name: str, sample: dict) -> tuple[float, float]:
    """(seconds per sample of one pass on this CPU, FLOPs per sample of that pass)."""
    run, trains, samples = _model_pass(name, sample)
    counter = FlopCounterMode(display=False)
    start = time.perf_counter()
    with counter:
        if trains:
            run().backward()
        else:
            with torch.no_grad():
                run()
    return (time.perf_counter() - start) / samples, counter.get_total_flops() / samples


# ----------------------------------------------------------------------------- media
def _write_synthetic(folder: Path, count: int) -> list[str]:
    from videozoo.data.sparsesync import write_clip

    rng = np.random.default_rng(0)
    for index in range(count):
        frames = rng.integers(0, 255, (250, 256, 340, 3), dtype=np.uint8)
        wave = rng.normal(0, 0.1, 160_000).astype(np.float32)
        write_clip(folder / f"clip{index}.mp4", frames, wave, crf=23)
    return sorted(str(p) for p in folder.glob("*.mp4"))


def _long_enough(paths: list[str], seconds: float) -> list[str]:
    from videozoo.processors.video_io import open_media

    kept = []
    for path in paths:
        with open_media(Path(path)) as container:
            if container.duration is not None and container.duration / 1e6 >= seconds:
                kept.append(path)
    return kept


def _throughput(make, paths: list[str], clips: int, workers: int) -> float:
    loader = torch.utils.data.DataLoader(
        Samples(make, paths, clips), batch_size=None, num_workers=workers, persistent_workers=False
    )
    start = time.perf_counter()
    for _ in loader:
        pass
    return clips / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--workers", default="0,2", help="DataLoader worker counts to measure")
    parser.add_argument("--clips", type=int, default=6, help="samples per measurement")
    parser.add_argument(
        "--media_dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "media"
    )
    parser.add_argument("--gpu_tflops", type=float, default=989.0, help="the GPU's dense bf16 TFLOP/s")
    parser.add_argument("--gpu_utilisation", type=float, default=0.4)
    parser.add_argument("--skip_model", action="store_true", help="pipelines only")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    try:
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        workers = [-1]
    problems = [f"--models: unknown {', '.join(unknown)} (choose from {', '.join(MODELS)})"] if unknown else []
    if min(workers) < 0:
        problems.append(f"--workers must be non-negative integers, got {args.workers!r}")
    if args.clips < 1 or args.gpu_tflops <= 0 or not 0 < args.gpu_utilisation <= 1:
        problems.append("--clips must be >= 1, --gpu_tflops > 0 and --gpu_utilisation in (0, 1]")
    if problems:
        parser.error("; ".join(problems))

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        media = args.media_dir
        paths = sorted(glob.glob(str(media / "**" / "*.mp4"), recursive=True)) if media.is_dir() else []
        paths = paths or _write_synthetic(scratch, 4)
        print(f"{len(paths)} media files, {args.clips} samples per measurement, {torch.get_num_threads()} threads")
        gpu_rate = args.gpu_tflops * 1e12 * args.gpu_utilisation
        consumed = {}
        for name in models:
            files = paths
            if name.startswith("sparsesync"):
                files = _long_enough(paths, 7.5)  # a 5 s crop at every offset up to 2 s, as the datasets keep
                if not files:
                    print(f"[{name}] no media file of 7.5 s or more: skipped")
                    continue
            if name == "sparsesync_cached":
                make = _sparsesync(scratch / "cache")
                from videozoo.data.sparsesync import DecodedClipCache
                from videozoo.processors import SparseSyncProcessor

                cache = DecodedClipCache(scratch / "cache", SparseSyncProcessor())
                for path in files:  # filled first, as the preparation script does
                    cache.load(path)
            elif name == "sparsesync":
                make = _sparsesync(None)
            elif name == "avatar":
                make = _avatar(scratch)
            elif name == "avlnet_audio":
                make = _avlnet_audio()
            else:
                make = _extractor(name)
            rates = {w: _throughput(make, files, args.clips, w) for w in workers}
            line = ", ".join(f"{w} workers {r:.2f}/s" for w, r in rates.items())
            print(f"[{name}] pipeline samples/s: {line}", flush=True)
            if args.skip_model:
                continue
            family = name.removesuffix("_cached")  # the same model whatever feeds it
            if family not in consumed:
                consumed[family] = _consumption(name, make(files[0], 0))
            seconds, flops = consumed[family]
            cpu_rate, gpu = 1 / seconds, gpu_rate / max(flops, 1)
            per_worker = rates.get(1) or rates.get(0) or max(rates.values())
            print(
                f"[{name}] model: {flops / 1e9:,.0f} GFLOP/sample -> this CPU {cpu_rate:.3f} samples/s "
                f"({seconds:.1f} s), one GPU ~{gpu:,.1f} samples/s at {args.gpu_tflops:g} TFLOP/s x "
                f"{args.gpu_utilisation:g}; workers to keep up at {per_worker:.2f} samples/s each: this CPU "
                f"{math.ceil(cpu_rate / per_worker)}, the GPU {math.ceil(gpu / per_worker)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
