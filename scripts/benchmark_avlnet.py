"""Benchmark AVLnet training at the paper's configuration; prints its figures.

    python scripts/benchmark_avlnet.py                                   # CPU
    python scripts/benchmark_avlnet.py --device cuda --dtype bf16 --batch_size 256

One step (forward + backward + Adam) of the audio-video model (ResDAVEnet 128..1024 over 1,000-frame log-mel
clips, D = 4096, 4096-d video features) with the MMS loss: clips/s, peak memory, and the FLOP rate as a fraction
of a plain matrix multiply measured in the same run.
"""

import argparse
import resource

import torch
from torch.utils.flop_counter import FlopCounterMode

import videozoo  # noqa: F401
from videozoo.configuration import AVLnetConfig
from videozoo.modeling import AVLnetModel
from videozoo.scripts.benchmark_mmt import matmul_rate, timed


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
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        inputs = {
            "input_features": -80 * torch.rand(args.batch_size, 40, args.frames, device=device),
            "audio_lengths": torch.full((args.batch_size,), args.frames, device=device),
            "video_features": torch.rand(args.batch_size, config.video_feature_size, device=device),
        }

        def step():
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = model(**inputs, return_loss=True).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        step()
        with FlopCounterMode(display=False) as counter:
            step()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds = timed(step, device, args.repeats)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        rate, reference = counter.get_total_flops() / seconds, matmul_rate(device, dtype)
        print(f"[{name}] {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, batch {args.batch_size} x {args.frames} frames, "
              f"{args.dtype} on {device.type}: {seconds * 1e3:.0f} ms/step, {args.batch_size / seconds:.1f} clips/s, peak memory "
              f"{peak:.2f} GiB{'' if device.type == 'cuda' else ' (process max RSS)'}, {100 * rate / reference:.0f}% of a 4096^3 matmul "
              f"({reference / 1e12:.3f} TFLOP/s)")


if __name__ == "__main__":
    main()
