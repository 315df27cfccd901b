"""Benchmark BMT and MDVC at the paper configurations; prints its figures.

    python scripts/benchmark_bmt.py                                     # CPU, everything
    python scripts/benchmark_bmt.py --device cuda --dtype bf16 --batch_size 32 --proposal_batch_size 16

1. Training throughput (forward + backward + Adam step, `videozoo.benchmarking`): the BMT captioner (V = 10,172,
   GloVe frozen, event clips of `--audio_steps` x 0.96 s audio and `--video_steps` x 2.56 s video, captions of
   `--caption_tokens`), the BMT proposal generator (whole videos padded to 800 / 300 steps, 48 + 128 anchors,
   10 + 10 heads, encoder frozen as in stage 2) and MDVC (V = 10,172 captions, 22,500 subtitle words).
2. `generate()` against the reference's decoding, which re-runs the whole model (encoder included) on the prefix
   for every new token: both produce exactly `--new_tokens` tokens (EOS suppressed), ids compared.
"""

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import videozoo  # noqa: F401
from videozoo.benchmarking import benchmark_training_step, timed
from videozoo.configuration import BMTConfig, MDVCConfig
from videozoo.modeling import BMTForConditionalGeneration, BMTForEventProposal, MDVCForConditionalGeneration


def clip_inputs(
    config, batch: int, audio_steps: int, video_steps: int, tokens: int, device, mdvc: bool = False
) -> dict:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, config.vocab_size, (batch, tokens), generator=g)
    ids[:, 0] = config.bos_token_id
    if mdvc:
        steps = audio_steps
        inputs = {
            "video_features": torch.rand(batch, steps, config.video_hidden_size, generator=g),
            "audio_features": torch.rand(batch, steps, config.audio_hidden_size, generator=g),
            "feature_attention_mask": torch.ones(batch, steps, dtype=torch.bool),
            "speech_input_ids": torch.randint(4, config.speech_vocab_size, (batch, 3 * tokens), generator=g),
        }
    else:
        inputs = {
            "audio_features": torch.rand(batch, audio_steps, config.audio_feature_size, generator=g),
            "video_features": torch.rand(batch, video_steps, config.video_feature_size, generator=g),
            "audio_attention_mask": torch.ones(batch, audio_steps, dtype=torch.bool),
            "video_attention_mask": torch.ones(batch, video_steps, dtype=torch.bool),
        }
    inputs["labels"] = torch.cat([ids[:, 1:], torch.full((batch, 1), config.eos_token_id)], 1)
    inputs["decoder_input_ids"] = ids
    return {k: v.to(device) for k, v in inputs.items()}


def reference_decoding(model, encoder_inputs: dict, new_tokens: int, bos: int, eos: int) -> torch.Tensor:
    """The reference's greedy loop: the full model on the growing prefix at every step (EOS suppressed)."""
    batch = next(iter(encoder_inputs.values())).shape[0]
    ids = torch.full((batch, 1), bos, device=next(model.parameters()).device)
    for _ in range(new_tokens):
        logits = model(**encoder_inputs, decoder_input_ids=ids).logits[:, -1]
        logits[:, eos] = float("-inf")
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], 1)
    return ids


def benchmark_generation(label, model, encoder_inputs, new_tokens, device, dtype, repeats):
    """Seconds (best of `repeats`, the three variants interleaved so that a busy machine affects them alike) and
    FLOPs (counted, independent of the machine) of `generate()` with the cache, without it, and of the reference
    loop."""
    model.eval()
    cfg = model.config
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, num_beams=1)
    variants = {
        "cached": lambda: model.generate(**encoder_inputs, **kwargs),
        "no_cache": lambda: model.generate(**encoder_inputs, use_cache=False, **kwargs),
        "naive": lambda: reference_decoding(model, encoder_inputs, new_tokens, cfg.bos_token_id, cfg.eos_token_id),
    }
    seconds, flops, ids = {k: float("inf") for k in variants}, {}, {}
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        for name, run in variants.items():
            with FlopCounterMode(display=False) as counter:
                ids[name] = run()  # also the warm-up
            flops[name] = counter.get_total_flops()
        for _ in range(repeats):
            for name, run in variants.items():
                seconds[name] = min(seconds[name], timed(run, device, 1))
    same = torch.equal(ids["cached"], ids["naive"]) and torch.equal(ids["cached"], ids["no_cache"])
    batch = next(iter(encoder_inputs.values())).shape[0]
    print(
        f"[{label}] generate {new_tokens} tokens, batch {batch}: {1e3 * seconds['cached']:.0f} ms with the cache "
        f"({flops['cached'] / 1e9:.0f} GFLOP), {1e3 * seconds['no_cache']:.0f} ms without it (encoder once, "
        f"{flops['no_cache'] / 1e9:.0f} GFLOP), {1e3 * seconds['naive']:.0f} ms re-running the encoder for every "
        f"token ({flops['naive'] / 1e9:.0f} GFLOP) -> {seconds['naive'] / seconds['cached']:.1f}x faster, "
        f"{flops['naive'] / flops['cached']:.1f}x fewer FLOPs (ids identical: {same})"
    )
    return {
        "cached_ms": 1e3 * seconds["cached"],
        "no_cache_ms": 1e3 * seconds["no_cache"],
        "naive_ms": 1e3 * seconds["naive"],
        "speedup": seconds["naive"] / seconds["cached"],
        "flop_ratio": flops["naive"] / flops["cached"],
        "identical": same,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=32, help="Caption clips per step (paper: 32 BMT, 28 MDVC).")
    parser.add_argument("--proposal_batch_size", type=int, default=16, help="Videos per proposal step (paper: 16).")
    parser.add_argument("--generation_batch_size", type=int, default=64, help="Reference inference batch: 64.")
    parser.add_argument("--audio_steps", type=int, default=38, help="~36 s, the mean ActivityNet event.")
    parser.add_argument("--video_steps", type=int, default=14)
    parser.add_argument("--caption_tokens", type=int, default=16)
    parser.add_argument("--new_tokens", type=int, default=30)
    parser.add_argument("--vocab_size", type=int, default=10172)
    parser.add_argument("--speech_vocab_size", type=int, default=22500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default="bmt,proposals,mdvc")
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    models = set(args.models.split(","))
    torch.manual_seed(0)
    figures = {}
    if "bmt" in models:
        config = BMTConfig(vocab_size=args.vocab_size)
        model = BMTForConditionalGeneration(config).to(device).train()
        inputs = clip_inputs(config, args.batch_size, args.audio_steps, args.video_steps, args.caption_tokens, device)
        figures["bmt_train"] = benchmark_training_step(
            "BMT captioner", model, lambda: model(**inputs).loss, args.batch_size, device, dtype, args.repeats
        )
        gen = clip_inputs(config, args.generation_batch_size, args.audio_steps, args.video_steps, 1, device)
        gen = {k: v for k, v in gen.items() if k not in ("labels", "decoder_input_ids")}
        figures["bmt_generate"] = benchmark_generation(
            "BMT captioner", model, gen, args.new_tokens, device, dtype, args.repeats
        )
    if "proposals" in models:
        anchors_a = torch.linspace(1, 200, 48).tolist()
        anchors_v = torch.linspace(1, 300, 128).tolist()
        config = BMTConfig(vocab_size=args.vocab_size, audio_anchor_lengths=anchors_a, video_anchor_lengths=anchors_v)
        model = BMTForEventProposal(config).to(device).train()
        model.encoder.requires_grad_(False)  # stage 2: the captioner's encoder, frozen
        b = args.proposal_batch_size
        g = torch.Generator().manual_seed(0)
        inputs = {
            "audio_features": torch.rand(b, 800, 128, generator=g).to(device),
            "video_features": torch.rand(b, 300, 1024, generator=g).to(device),
            "audio_attention_mask": (torch.arange(800)[None] < 120).expand(b, -1).to(device),
            "video_attention_mask": (torch.arange(300)[None] < 45).expand(b, -1).to(device),
            "event_targets": torch.tensor(
                [[i, 30.0, 20.0, 0] for i in range(b)] + [[i, 80.0, 40.0, 1] for i in range(b)]
            ).to(device),
        }
        figures["proposals_train"] = benchmark_training_step(
            "BMT proposal generator (encoder frozen)",
            model,
            lambda: model(**inputs).loss,
            b,
            device,
            dtype,
            args.repeats,
        )
    if "mdvc" in models:
        config = MDVCConfig(vocab_size=args.vocab_size, speech_vocab_size=args.speech_vocab_size)
        model = MDVCForConditionalGeneration(config).to(device).train()
        batch = 28 if args.batch_size == 32 else args.batch_size
        inputs = clip_inputs(config, batch, args.audio_steps, args.audio_steps, args.caption_tokens, device, mdvc=True)
        figures["mdvc_train"] = benchmark_training_step(
            "MDVC", model, lambda: model(**inputs).loss, batch, device, dtype, args.repeats
        )
        gen = clip_inputs(config, args.generation_batch_size, args.audio_steps, args.audio_steps, 1, device, mdvc=True)
        gen = {k: v for k, v in gen.items() if k not in ("labels", "decoder_input_ids")}
        figures["mdvc_generate"] = benchmark_generation(
            "MDVC", model, gen, args.new_tokens, device, dtype, args.repeats
        )
    return figures


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
