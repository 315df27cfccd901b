"""Benchmark SpecVQGAN: (1) sampling the 265 indices of one 10-s spectrogram with the key/value cache
(`SpecVQGANForConditionalGeneration.generate`) against the reference's sampler, which re-runs the whole prefix
for every index; (2) a Stage I training step against the rate of a plain matrix multiply.

    python scripts/benchmark_specvqgan.py                                     # the paper's sizes (slow on a CPU)
    python scripts/benchmark_specvqgan.py --hidden_size 256 --num_hidden_layers 4 --num_attention_heads 4 \
        --num_features 5 --stage1_base_channels 32 --threads 1
    python scripts/benchmark_specvqgan.py --device cuda --stage1_batch_size 8

Defaults are the released sizes: the transformer of 24 layers, 1024 wide, 16 heads (307 M parameters) on 212
ResNet-50 feature vectors, and the VGGSound Stage I (128 base channels, 71.7 M parameters without its
discriminator) on 80 x 848 spectrograms. Weights are random: the cost does not depend on them. Both samplers run
greedily (the same indices, checked) so the comparison is of the computation alone. The reference's loop costs a
forward pass over the whole prefix per index; `--reference_steps k` times only its first k indices and estimates the
total from the measured cost per prefix token (each step's cost grows with the prefix), printed as an estimate.
The Stage I step is forward + L1/codebook loss + backward + Adam (`videozoo.benchmarking.benchmark_training_step`).
"""

import argparse
import time

import torch

import videozoo  # noqa: F401
from videozoo.arguments import exit_if_any
from videozoo.benchmarking import benchmark_training_step, synchronize
from videozoo.configuration import SpecVQGANConfig, SpecVQGANSamplerConfig
from videozoo.modeling import SpecVQGANForConditionalGeneration, SpecVQGANModel


def reference_sampler(model, features: torch.Tensor, steps: int) -> torch.Tensor:
    """The reference's greedy sampler: a forward pass over [condition, all indices so far] for each new index."""
    bos = torch.full((features.shape[0], 1), model.config.bos_token_id, device=features.device)
    tokens = torch.zeros(features.shape[0], 0, dtype=torch.long, device=features.device)
    for _ in range(steps):
        logits = model(input_ids=torch.cat([bos, tokens], 1), visual_features=features).logits[:, -1]
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
    return tokens


def wall(fn, device) -> tuple[float, object]:
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--hidden_size", type=int, default=1024)
    parser.add_argument("--num_hidden_layers", type=int, default=24)
    parser.add_argument("--num_attention_heads", type=int, default=16)
    parser.add_argument("--num_features", type=int, default=212)
    parser.add_argument("--reference_steps", type=int, help="time the reference loop's first k indices only")
    parser.add_argument("--stage1_base_channels", type=int, default=128)
    parser.add_argument("--stage1_batch_size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timed Stage I steps (after one warm-up)")
    parser.add_argument("--skip_stage1", action="store_true")
    args = parser.parse_args(argv)
    exit_if_any(
        parser,
        [
            f"--{name} must be >= 1 (got {getattr(args, name)})"
            for name in (
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_features",
                "stage1_batch_size",
                "repeats",
            )
            if getattr(args, name) < 1
        ]
        + [
            "--hidden_size must be a multiple of --num_attention_heads"
            if args.num_attention_heads >= 1 and args.hidden_size % args.num_attention_heads
            else None,
            "--reference_steps must be in [1, 265]"
            if args.reference_steps is not None and not 1 <= args.reference_steps <= 265
            else None,
            "--stage1_base_channels must be a positive multiple of 32 (GroupNorm)"
            if args.stage1_base_channels < 32 or args.stage1_base_channels % 32
            else None,
            "--threads must be >= 1" if args.threads is not None and args.threads < 1 else None,
        ],
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    figures = {}
    config = SpecVQGANSamplerConfig(
        first_stage_config=SpecVQGANConfig(num_embeddings=1024),
        num_features=args.num_features,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_hidden_layers,
        num_attention_heads=args.num_attention_heads,
        intermediate_size=4 * args.hidden_size,
    )
    sampler = SpecVQGANForConditionalGeneration(config).eval().to(device)
    transformer = sum(p.numel() for n, p in sampler.named_parameters() if not n.startswith("first_stage_model"))
    features = torch.randn(1, args.num_features, config.feature_size, device=device)
    tokens = config.num_tokens
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(
        f"Stage II transformer {transformer / 1e6:.1f}M parameters ({args.num_hidden_layers} layers, "
        f"{args.hidden_size} wide), {args.num_features} features, {tokens} indices, one sample, "
        f"{device.type}{threads}"
    )
    with torch.inference_mode():
        bos = torch.full((1, 1), config.bos_token_id, device=device)
        sampler(input_ids=bos, visual_features=features)  # warm-up (one pass over the condition)
        cached_s, cached = wall(lambda: sampler.generate(features, do_sample=False, decode=False).indices, device)
        steps = args.reference_steps or tokens
        reference_s, reference = wall(lambda: reference_sampler(sampler, features, steps), device)
    if not torch.equal(cached[:, :steps], reference):
        raise RuntimeError("the cached and the full-prefix samplers disagree (greedy indices differ)")
    figures["cached_s"] = cached_s
    print(f"  key/value cache (generate)  : {cached_s:8.2f} s, {tokens / cached_s:7.1f} indices/s")
    if steps == tokens:
        figures["reference_s"] = reference_s
        print(f"  full-prefix (the reference) : {reference_s:8.2f} s, {tokens / reference_s:7.1f} indices/s")
    else:
        # each step runs over (condition + indices so far) positions: scale by the positions of all 265 steps
        measured = sum(args.num_features + t for t in range(steps))
        total = sum(args.num_features + t for t in range(tokens))
        figures["reference_s_estimated"] = reference_s * total / measured
        print(
            f"  full-prefix (the reference) : {reference_s:8.2f} s for the first {steps} indices; "
            f"estimated {figures['reference_s_estimated']:.1f} s for all {tokens}"
        )
    speedup = figures.get("reference_s", figures.get("reference_s_estimated")) / cached_s
    figures["speedup"] = speedup
    print(f"  speed-up of the cache       : {speedup:.1f}x (same greedy indices)")

    if not args.skip_stage1:
        stage1_config = SpecVQGANConfig(base_channels=args.stage1_base_channels, num_embeddings=1024)
        stage1 = SpecVQGANModel(stage1_config).to(device).train()
        spectrograms = torch.rand(args.stage1_batch_size, 80, 848, device=device) * 2 - 1
        figures["stage1"] = benchmark_training_step(
            "Stage I (L1 + codebook)",
            stage1,
            lambda: stage1(input_features=spectrograms, return_loss=True).loss,
            args.stage1_batch_size,
            device,
            torch.float32,
            repeats=args.repeats,
        )
    return figures


if __name__ == "__main__":
    main()
