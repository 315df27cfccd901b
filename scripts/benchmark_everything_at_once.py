"""Benchmark Everything-at-Once training; prints its figures.

    python scripts/benchmark_everything_at_once.py                             # CPU
    python scripts/benchmark_everything_at_once.py --device cuda --dtype bf16 --batch_size 224

One step (forward with all six embeddings + combinatorial loss, backward, Adam) at the paper configuration (width
4096, 64 heads, ResDAVEnet v2 up to 4096 channels, 20 words, 12 video tokens, 768 audio frames) and at the tiny
synthetic one: clips/s, peak memory, and the FLOP rate as a fraction of a plain matrix multiply in the same run.
"""

import argparse
import resource

import torch
from torch.utils.flop_counter import FlopCounterMode

import videozoo  # noqa: F401
from videozoo.configuration import EverythingAtOnceConfig
from videozoo.modeling import EverythingAtOnceModel
from videozoo.scripts.benchmark_mmt import matmul_rate, timed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    reference = matmul_rate(device, dtype)
    tiny = EverythingAtOnceConfig(text_feature_size=32, video_feature_size=64, audio_stage_depths=[1] * 6,
                                  audio_stage_widths=[16, 16, 32, 32, 64, 64, 64], hidden_size=128, num_attention_heads=4, projection_dim=128)
    for name, config in (("paper", EverythingAtOnceConfig()), ("tiny", tiny)):
        torch.manual_seed(0)
        model = EverythingAtOnceModel(config).to(device).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=5e-5)
        batch = args.batch_size
        inputs = {
            "text_features": torch.randn(batch, 20, config.text_feature_size, device=device),
            "video_features": torch.randn(batch, 12, config.video_feature_size, device=device),
            "input_features": -40 + 10 * torch.randn(batch, config.num_mel_bins, 768, device=device),
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
        rate = counter.get_total_flops() / seconds
        print(f"[{name}] {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, batch {batch}, {args.dtype} on {device.type}: "
              f"{seconds * 1e3:.0f} ms/step, {batch / seconds:.1f} clips/s, peak memory {peak:.2f} GiB"
              f"{'' if device.type == 'cuda' else ' (process max RSS)'}, {counter.get_total_flops() / 1e9:.0f} GFLOP/step, "
              f"{100 * rate / reference:.0f}% of a 4096^3 matmul ({reference / 1e12:.3f} TFLOP/s)")
        del model, optimizer


if __name__ == "__main__":
    main()
