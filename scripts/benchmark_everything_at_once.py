"""Benchmark Everything-at-Once training; prints its figures.

    python scripts/benchmark_everything_at_once.py                             # CPU
    python scripts/benchmark_everything_at_once.py --device cuda --dtype bf16 --batch_size 224

One step (forward with all six embeddings + combinatorial loss, backward, Adam) at the paper configuration (width
4096, 64 heads, ResDAVEnet v2 up to 4096 channels, 20 words, 12 video tokens, 768 audio frames) and at the tiny
synthetic one: clips/s, peak memory, and the FLOP rate as a fraction of a plain matrix multiply in the same run.
"""

import argparse

import torch

import videozoo  # noqa: F401
from videozoo.benchmarking import benchmark_training_step, matmul_rate
from videozoo.configuration import EverythingAtOnceConfig
from videozoo.modeling import EverythingAtOnceModel


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    reference = matmul_rate(device, dtype)
    tiny = EverythingAtOnceConfig(
        text_feature_size=32,
        video_feature_size=64,
        audio_stage_depths=[1] * 6,
        audio_stage_widths=[16, 16, 32, 32, 64, 64, 64],
        hidden_size=128,
        num_attention_heads=4,
        projection_dim=128,
    )
    for name, config in (("paper", EverythingAtOnceConfig()), ("tiny", tiny)):
        torch.manual_seed(0)
        model = EverythingAtOnceModel(config).to(device).train()
        batch = args.batch_size
        inputs = {
            "text_features": torch.randn(batch, 20, config.text_feature_size, device=device),
            "video_features": torch.randn(batch, 12, config.video_feature_size, device=device),
            "input_features": -40 + 10 * torch.randn(batch, config.num_mel_bins, 768, device=device),
        }
        benchmark_training_step(
            name,
            model,
            lambda model=model, inputs=inputs: model(**inputs, return_loss=True).loss,
            batch,
            device,
            dtype,
            args.repeats,
            reference,
            learning_rate=5e-5,
        )
        del model


if __name__ == "__main__":
    main()
