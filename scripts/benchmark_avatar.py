"""Benchmark AVATAR at the paper's configuration (271.6M parameters: 2 x 12-layer ViT-B MBT encoder over 2 frames
of 224 x 224 and 2,500 log-mel frames = 978 tokens, 8-layer decoder, 30,522 wordpieces); prints its figures.

    python scripts/benchmark_avatar.py                                   # CPU
    python scripts/benchmark_avatar.py --device cuda --dtype bf16 --batch_size 32

1. Encoder throughput: clips/s of the encoder forward (inference), and one training step of the whole model
   (forward + backward + Adam, 64-token targets) with the shared measurement helper.
2. Decoding: `generate()` tokens/s over `--new_tokens` (64) greedy steps from the same encoder memory, with the
   cache (decoder self-attention keys/values kept, cross-attention keys/values of the memory computed once) against
   uncached decoding (`use_cache=False`: the whole prefix and the memory projections recomputed at every step), and
   the reference beam search (4 beams) with the cache.
"""

import argparse
import time

import torch

import videozoo  # noqa: F401
from videozoo.benchmarking import benchmark_training_step, synchronize, timed
from videozoo.configuration import AvatarConfig
from videozoo.modeling import AvatarForConditionalGeneration
from videozoo.modeling.modeling_avatar import avatar_beam_search


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--new_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip_training", action="store_true", help="Skip the training-step measurement.")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    config = AvatarConfig()
    model = AvatarForConditionalGeneration(config).to(device)
    b = args.batch_size
    features = torch.randn(b, config.max_audio_frames, config.num_mel_bins, device=device)
    pixels = torch.rand(b, 3, config.num_frames, *config.frame_size, device=device) * 2 - 1
    labels = torch.randint(1000, config.vocab_size, (b, 64), device=device)
    figures = {}

    model.eval()
    autocast = lambda: torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)  # noqa: E731
    with torch.no_grad(), autocast():
        seconds = timed(lambda: model.encoder(input_features=features, pixel_values=pixels), device, args.repeats)
        memory = model.encoder(input_features=features, pixel_values=pixels)
    figures["encoder_clips_per_s"] = b / seconds
    print(
        f"[encoder, paper config] {memory.last_hidden_state.shape[1]} tokens, batch {b}, "
        f"{args.dtype} on {device.type}: {1e3 * seconds:.0f} ms/batch, {figures['encoder_clips_per_s']:.2f} clips/s"
    )

    if not args.skip_training:
        model.train()
        benchmark_training_step(
            "AVATAR paper config: training step",
            model,
            lambda: model(input_features=features, pixel_values=pixels, labels=labels).loss,
            b,
            device,
            dtype,
            args.repeats,
        )
        model.eval()

    n = args.new_tokens
    common = dict(
        encoder_outputs=memory, do_sample=False, num_beams=1, max_new_tokens=n, min_new_tokens=n, eos_token_id=None
    )

    def decode(use_cache: bool):
        with torch.no_grad(), autocast():
            return model.generate(input_features=features, use_cache=use_cache, **common)

    results = {}
    for use_cache in (True, False):
        decode(use_cache)  # warm-up
        synchronize(device)
        start = time.perf_counter()
        ids = decode(use_cache)
        synchronize(device)
        results[use_cache] = (ids, time.perf_counter() - start)
    assert torch.equal(results[True][0], results[False][0]), "cached and uncached greedy decoding disagree"
    cached, uncached = b * n / results[True][1], b * n / results[False][1]
    figures.update(cached_tokens_per_s=cached, uncached_tokens_per_s=uncached, cache_speedup=cached / uncached)
    print(
        f"[generate, greedy, {n} tokens, batch {b}] with cache {cached:.1f} tokens/s, "
        f"without {uncached:.1f} tokens/s: {cached / uncached:.1f}x (identical tokens)"
    )

    with torch.no_grad(), autocast():
        start = time.perf_counter()
        model.generate(
            input_features=features,
            encoder_outputs=memory,
            num_beams=4,
            length_penalty=0.6,
            max_new_tokens=n,
            min_new_tokens=n,
            eos_token_id=None,
            custom_generate=avatar_beam_search,
        )
        synchronize(device)
        beam_seconds = time.perf_counter() - start
    figures["beam_tokens_per_s"] = b * n / beam_seconds
    print(
        f"[generate, reference beam search, 4 beams, {n} steps, batch {b}] "
        f"{figures['beam_tokens_per_s']:.1f} tokens/s (per clip; x4 beam hypotheses)"
    )
    return figures


if __name__ == "__main__":
    main()
