"""Benchmark AVLnet training at the paper's configuration; prints its figures.

    python scripts/benchmark_avlnet.py                                   # CPU
    python scripts/benchmark_avlnet.py --device cuda --dtype bf16 --batch_size 256

One step (forward + backward + Adam) of the audio-video model (ResDAVEnet 128..1024 over 1,000-frame log-mel
clips, D = 4096, 4096-d video features) with the MMS loss: clips/s, peak memory, and the FLOP rate as a fraction
of a plain matrix multiply measured in the same run.
"""

import argparse

import torch

import videozoo  # noqa: F401
from videozoo.configuration import AVLnetConfig
from videozoo.modeling import AVLnetModel
from videozoo.benchmarking import benchmark_training_step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    for name, config in (("paper", AVLnetConfig()), ("tiny", AVLnetConfig(embed_dim=256, audio_stage_widths=[16, 16, 32, 32, 64]))):
        model = AVLnetModel(config).to(device).train()
        inputs = {
            "input_features": -80 * torch.rand(args.batch_size, 40, args.frames, device=device),
            "audio_lengths": torch.full((args.batch_size,), args.frames, device=device),
            "video_features": torch.rand(args.batch_size, config.video_feature_size, device=device),
        }
        benchmark_training_step(f"{name}: {args.frames} frames", model, lambda: model(**inputs, return_loss=True).loss,
                                args.batch_size, device, dtype, args.repeats, learning_rate=1e-3)


if __name__ == "__main__":
    main()
