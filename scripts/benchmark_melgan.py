"""Benchmark the MelGAN vocoder of SpecVQGAN: real-time factor of vocoding (seconds of audio produced per second of
compute), with weight norm as trained and with the weights folded.

    python scripts/benchmark_melgan.py                                  # CPU, the released size, 10 s clips
    python scripts/benchmark_melgan.py --threads 1 --frames 848 --batch_size 4
    python scripts/benchmark_melgan.py --device cuda --batch_size 32

The model is the released configuration (ngf 32, 3 residual units, 4.27 M parameters) with random weights: the
cost does not depend on the values. The input is SpecVQGAN's 80 x 848 log-mel (a 9.84 s clip at 22 050 Hz,
256 samples per frame) unless `--frames` says otherwise. One warm-up call, then the mean of `--repeats` calls
under `torch.inference_mode()`. On CPU it also prints the factor per second of this process's CPU time, which a
busy shared machine does not distort (the wall-clock factor is the one a user sees on an idle machine).
"""

import argparse
import time

import torch

import videozoo  # noqa: F401
from videozoo.arguments import exit_if_any, positive_problem
from videozoo.benchmarking import synchronize
from videozoo.configuration import MelGANConfig
from videozoo.modeling import MelGANVocoder


def real_time_factor(model: MelGANVocoder, mel: torch.Tensor, repeats: int) -> dict[str, float]:
    """Seconds per call (wall clock and this process's CPU time) and the real-time factors they give."""
    device = mel.device
    with torch.inference_mode():
        model(mel)  # warm-up
        synchronize(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            waveform = model(mel).waveform
        synchronize(device)
    wall = (time.perf_counter() - start) / repeats
    cpu = (time.process_time() - start_cpu) / repeats
    audio_seconds = waveform.numel() / model.config.sampling_rate
    return {"wall_s": wall, "cpu_s": cpu, "rtf_wall": audio_seconds / wall, "rtf_cpu": audio_seconds / cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--frames", type=int, default=848, help="spectrogram frames per clip (848 = 9.84 s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    exit_if_any(
        parser,
        [
            positive_problem("--batch_size", args.batch_size),
            positive_problem("--repeats", args.repeats),
            positive_problem("--threads", args.threads),
            f"--frames must be >= 4 (got {args.frames})" if args.frames < 4 else None,
        ],
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = MelGANVocoder(MelGANConfig()).eval().to(device)
    mel = torch.rand(args.batch_size, model.config.num_mel_bins, args.frames, device=device)
    clip_seconds = args.frames * model.config.hop_length / model.config.sampling_rate
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(
        f"MelGAN vocoder, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, batch {args.batch_size} "
        f"x {args.frames} frames ({clip_seconds:.2f} s of audio each) on {device.type}{threads}"
    )
    for label in ("weight norm (as trained)", "weight norm folded"):
        if label == "weight norm folded":
            model.remove_weight_norm()
        figures = real_time_factor(model, mel, args.repeats)
        cpu = (
            f"; process CPU time {figures['cpu_s'] * 1e3:.0f} ms, real-time factor per CPU second "
            f"{figures['rtf_cpu']:.2f}x"
            if device.type == "cpu"
            else ""
        )
        print(
            f"  {label:26s}: wall {figures['wall_s'] * 1e3:8.1f} ms per call, real-time factor "
            f"{figures['rtf_wall']:.2f}x{cpu}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
