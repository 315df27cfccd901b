"""Benchmark AVLnet training at the paper's configuration; prints its figures.

    python scripts/benchmark_avlnet.py                                   # CPU
    python scripts/benchmark_avlnet.py --device cuda --dtype bf16 --batch_size 256

One step (forward + backward + Adam) of the audio-video model (ResDAVEnet 128..1024 over 1,000-frame log-mel
clips, D = 4096, 4096-d video features) with the MMS loss: clips/s, peak memory, and the FLOP rate as a fraction
of a plain matrix multiply measured in the same run. Then the spectrogram front end: clips/s of decoding a 10-s
H.264/AAC mp4 (44.1 kHz stereo, written by PyAV) to a waveform alone, and of decoding + the log-mel front end.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import videozoo  # noqa: F401
from videozoo.benchmarking import benchmark_training_step
from videozoo.configuration import AVLnetConfig
from videozoo.modeling import AVLnetModel
from videozoo.processors import AVLnetFeatureExtractor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--front_end_clips", type=int, default=20)
    parser.add_argument("--skip_training", action="store_true")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    benchmark_front_end(args.front_end_clips)
    if args.skip_training:
        return
    for name, config in (
        ("paper", AVLnetConfig()),
        ("tiny", AVLnetConfig(embed_dim=256, audio_stage_widths=[16, 16, 32, 32, 64])),
    ):
        model = AVLnetModel(config).to(device).train()
        inputs = {
            "input_features": -80 * torch.rand(args.batch_size, 40, args.frames, device=device),
            "audio_lengths": torch.full((args.batch_size,), args.frames, device=device),
            "video_features": torch.rand(args.batch_size, config.video_feature_size, device=device),
        }
        benchmark_training_step(
            f"{name}: {args.frames} frames",
            model,
            lambda model=model, inputs=inputs: model(**inputs, return_loss=True).loss,
            args.batch_size,
            device,
            dtype,
            args.repeats,
            learning_rate=1e-3,
        )


def write_clip(path: Path, seconds: float = 10.0, rate: int = 44100) -> None:
    """A small H.264 video with a stereo AAC track of tones and noise."""
    import av

    time_axis = np.arange(int(seconds * rate)) / rate
    wave = np.stack([np.sin(2 * np.pi * 440 * time_axis), np.sin(2 * np.pi * 660 * time_axis)]) * 0.3
    wave = (wave + 0.05 * np.random.default_rng(0).standard_normal(wave.shape)).astype(np.float32)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "stereo"
        for index in range(int(seconds * 25)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index % 256, np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, wave.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(wave[:, start : start + 1024]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode())


def benchmark_front_end(clips: int) -> None:
    from torchcodec.decoders import AudioDecoder

    extractor = AVLnetFeatureExtractor()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.mp4"
        write_clip(path)

        def decode():
            samples = AudioDecoder(str(path)).get_all_samples()
            return samples.data, samples.sample_rate

        def decode_and_front_end():
            waveform, rate = decode()
            return extractor([waveform.numpy()], sampling_rate=rate)

        decode_and_front_end()
        for label, fn in (("decoding alone", decode), ("decoding + log-mel front end", decode_and_front_end)):
            start = time.perf_counter()
            for _ in range(clips):
                fn()
            rate = clips / (time.perf_counter() - start)
            print(
                f"front end: {label}: {rate:.1f} clips/s "
                f"(10-s 44.1 kHz stereo AAC clips, {torch.get_num_threads()} threads)"
            )


if __name__ == "__main__":
    main()
