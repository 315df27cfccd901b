"""The "start-time probe" of SparseSync (thesis §5.3, paper §4): can a single stream tell *where* in its
file a crop starts? If it can (codec artefacts tied to absolute time: MPEG-4 Part 2 key frames, AAC at 44.1 kHz),
the offset sampler's link between crop position and offset leaks the label, and the synchronisation model can
cheat. A clean dataset keeps the probe at chance.

    python scripts/probe_sparsesync_start_time.py --clips_dir data/vggsound/h264_video_25fps_256side_16000hz_aac \
        --stream audio --crop_sec 5 --steps 3000
    # a self-contained check of the codecs: 10 s of Gaussian noise encoded as AAC at 44.1 kHz vs 16 kHz
    python scripts/probe_sparsesync_start_time.py --make_noise_clips 64 --audio_rate 44100 --stream audio

A classifier (the SparseSync audio trunk or a 1/8-width S3D, global average pooling, a linear layer) learns the
start of random crops quantised to `--step_sec` (0.1 s) on part of the clips and is scored on held-out clips:
top-1 and top-5 accuracy against chance. The audio crops use SparseSync's spectrogram (per-clip standardised);
the frames the processor's normalisation.
"""

import argparse
import glob
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import videozoo  # noqa: F401
from videozoo.modeling.modeling_sparsesync import SparseSyncAudioEncoder, build_s3d_trunk
from videozoo.processors import MediaDecodingError, SparseSyncFeatureExtractor, SparseSyncProcessor


class StartTimeClassifier(nn.Module):
    def __init__(self, stream: str, num_classes: int):
        super().__init__()
        self.stream = stream
        if stream == "audio":
            self.trunk, width = SparseSyncAudioEncoder((16, 32, 64, 128), (1, 1, 1, 1)), 128
        else:
            self.trunk, width = build_s3d_trunk(divisor=8, momentum=0.1), 128
        self.head = nn.Linear(width, num_classes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.stream == "audio":
            features = self.trunk(inputs[:, None]).mean(dim=(2, 3))
        else:
            features = self.trunk(inputs.transpose(1, 2)).mean(dim=(2, 3, 4))
        return self.head(features)


def noise_clips(directory: Path, count: int, audio_rate: int, seconds: float = 10.0, seed: int = 0) -> list[str]:
    """`count` clips of Gaussian-noise audio (AAC at `audio_rate`) over a static grey 32x32 video."""
    import av

    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = directory / f"noise{index:04d}.mp4"
        with av.open(str(path), "w") as container:
            video = container.add_stream("libx264", rate=25)
            video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
            audio = container.add_stream("aac", rate=audio_rate)
            audio.layout = "mono"
            for _ in range(int(seconds * 25)):
                for packet in video.encode(
                    av.VideoFrame.from_ndarray(np.full((32, 32, 3), 128, np.uint8), format="rgb24")
                ):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
            wave = np.clip(rng.normal(0, 0.1, int(seconds * audio_rate)), -1, 1).astype(np.float32)
            for start in range(0, len(wave), 1024):
                frame = av.AudioFrame.from_ndarray(wave[None, start : start + 1024], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = audio_rate, start
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
        paths.append(str(path))
    return paths


def run_probe(
    paths: list[str],
    stream: str = "audio",
    crop_sec: float = 5.0,
    step_sec: float = 0.1,
    steps: int = 500,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    held_out: float = 0.25,
    crop_size: int = 32,
    seed: int = 0,
    log=print,
) -> dict:
    processor = SparseSyncProcessor(clip_length_sec=crop_sec, crop_size=crop_size, resize_shorter_side=crop_size)
    extractor = SparseSyncFeatureExtractor()
    clips, skipped = [], []
    for path in paths:
        try:
            clips.append(processor.load_clip(path))
        except MediaDecodingError as error:
            skipped.append(str(error))
    duration = min(c.duration for c in clips)
    classes = int(np.floor((min(duration, processor.clip_max_length_sec) - crop_sec) / step_sec + 1e-6)) + 1
    if classes < 2 or len(clips) < 4:
        raise ValueError(f"need >= 4 clips longer than the crop ({len(clips)} clips, shortest {duration:.2f} s)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(clips))
    cut = max(1, int(round(held_out * len(clips))))
    test, train = [clips[i] for i in order[:cut]], [clips[i] for i in order[cut:]]

    def batch(pool, generator, size):
        inputs, labels = [], []
        for _ in range(size):
            clip, label = pool[int(generator.integers(len(pool)))], int(generator.integers(classes))
            start = label * step_sec
            if stream == "audio":
                first = int(round(start * 16000))
                inputs.append(extractor.log_spectrogram(clip.waveform[first : first + int(crop_sec * 16000)]))
            else:
                first = int(round(start * 25))
                inputs.append(processor.video_processor.transform(clip.frames[first : first + int(crop_sec * 25)]))
            labels.append(label)
        return torch.stack(inputs), torch.tensor(labels)

    torch.manual_seed(seed)
    model = StartTimeClassifier(stream, classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    for step in range(1, steps + 1):
        inputs, labels = batch(train, rng, batch_size)
        loss = nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            log(f"step {step}: loss {loss.item():.3f} (chance {np.log(classes):.3f})")
    model.eval()
    evaluation = np.random.default_rng(seed + 1)
    hits1 = hits5 = total = 0
    with torch.no_grad():
        for _ in range(max(1, 512 // batch_size)):
            inputs, labels = batch(test, evaluation, batch_size)
            top = model(inputs).topk(min(5, classes), dim=1).indices
            hits1 += (top[:, 0] == labels).sum().item()
            hits5 += (top == labels[:, None]).any(dim=1).sum().item()
            total += len(labels)
    return {
        "stream": stream,
        "classes": classes,
        "top1": hits1 / total,
        "top5": hits5 / total,
        "chance_top1": 1 / classes,
        "chance_top5": min(5, classes) / classes,
        "train_clips": len(train),
        "test_clips": len(test),
        "skipped": skipped,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips_dir", type=Path, help="folder of mp4 clips (searched recursively)")
    parser.add_argument(
        "--make_noise_clips", type=int, default=0, help="probe this many generated noise clips instead"
    )
    parser.add_argument("--audio_rate", type=int, default=44100, help="AAC sample rate of the generated clips")
    parser.add_argument("--noise_seconds", type=float, default=10.0, help="length of the generated clips")
    parser.add_argument("--stream", choices=["audio", "video"], default="audio")
    parser.add_argument("--crop_sec", type=float, default=5.0)
    parser.add_argument("--step_sec", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--output", type=Path, help="write the result as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        if args.make_noise_clips:
            paths = noise_clips(Path(work), args.make_noise_clips, args.audio_rate, args.noise_seconds)
        elif args.clips_dir is not None:
            paths = sorted(glob.glob(str(args.clips_dir / "**" / "*.mp4"), recursive=True))
        else:
            parser.error("give --clips_dir or --make_noise_clips")
        result = run_probe(
            paths, args.stream, args.crop_sec, args.step_sec, args.steps, args.batch_size, args.learning_rate
        )
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
