"""Benchmark MMT training and retrieval evaluation; prints its figures.

    python scripts/benchmark_mmt.py                      # CPU, paper and tiny configurations
    python scripts/benchmark_mmt.py --device cuda --dtype bf16 --batch_size 256

1. Training step (forward + backward + Adam step) at the paper configuration (7 experts x 30 features,
   BERT-base captions of 30 tokens, 4-layer video transformer) and at the tiny test configuration: samples/s, peak
   memory, and the achieved FLOP rate (FLOPs counted by `torch.utils.flop_counter`) as a fraction of a plain
   matrix multiply measured in the same run, in the same dtype.
2. Retrieval metrics on a 10,000 x 10,000 similarity matrix against the matrix product that made it
   (10,000 captions x 10,000 videos, 7 experts x 512 dims).
"""

import argparse

import torch

import videozoo  # noqa: F401
from videozoo.benchmarking import benchmark_training_step, timed
from videozoo.configuration import MMTConfig
from videozoo.metrics.video_retrieval.video_retrieval import retrieval_metrics
from videozoo.modeling import MMTModel
from videozoo.modeling.losses import max_margin_ranking_loss


def make_batch(config: MMTConfig, batch: int, tokens: int, text_length: int, device) -> dict:
    inputs = {"expert_features": {}, "expert_times": {}, "expert_attention_mask": {}, "expert_pooled": {}}
    for name in config.expert_names:
        size = config.expert_feature_sizes[name]
        inputs["expert_features"][name] = torch.randn(batch, tokens, size, device=device)
        inputs["expert_times"][name] = torch.arange(tokens, device=device).float().expand(batch, -1) + 2.5
        inputs["expert_attention_mask"][name] = torch.ones(batch, tokens, dtype=torch.long, device=device)
        inputs["expert_pooled"][name] = torch.randn(batch, size, device=device)
    inputs["input_ids"] = torch.randint(1000, config.text_config.vocab_size, (batch, text_length), device=device)
    inputs["attention_mask"] = torch.ones(batch, text_length, dtype=torch.long, device=device)
    return inputs


def benchmark_training(name: str, config: MMTConfig, batch: int, tokens: int, text_length: int, args) -> None:
    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    model = MMTModel(config).to(device).train()
    inputs = make_batch(config, batch, tokens, text_length, device)

    def loss():
        return max_margin_ranking_loss(model(**inputs).logits_per_text.float(), config.ranking_margin)

    detail = f"{name}: {len(config.expert_names)} experts x {tokens} features, {text_length} text tokens"
    benchmark_training_step(detail, model, loss, batch, device, dtype, args.repeats, learning_rate=5e-5)


def benchmark_metrics(args) -> None:
    device = torch.device(args.device)
    count, width = args.gallery, 7 * 512
    torch.manual_seed(0)
    text = torch.nn.functional.normalize(torch.randn(count, width, device=device), dim=-1)
    video = torch.nn.functional.normalize(torch.randn(count, width, device=device), dim=-1)
    product = timed(lambda: text @ video.T, device, repeats=3)
    similarity = text @ video.T
    metrics = timed(lambda: retrieval_metrics(similarity), device, repeats=3)
    print(
        f"[metrics] {count} x {count} similarity matrix on {device.type}: matrix product ({width}-d) "
        f"{product * 1e3:.0f} ms, retrieval metrics (both directions) {metrics * 1e3:.0f} ms "
        f"= {metrics / product:.2f}x"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=32, help="paper configuration batch (MSR-VTT: 32)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gallery", type=int, default=10_000)
    parser.add_argument("--skip", choices=["paper", "tiny", "metrics"], action="append", default=[])
    args = parser.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = args.dtype == "fp32"
    if "paper" not in args.skip:
        benchmark_training("paper", MMTConfig(), args.batch_size, tokens=30, text_length=30, args=args)
    if "tiny" not in args.skip:
        from transformers import BertConfig

        text = BertConfig(
            vocab_size=1100, hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37
        )
        tiny = MMTConfig(
            text_config=text,
            expert_names=["s3d", "vggish"],
            expert_feature_sizes={"s3d": 20, "vggish": 12},
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            max_temporal_positions=13,
        )
        benchmark_training("tiny", tiny, args.batch_size, tokens=5, text_length=9, args=args)
    if "metrics" not in args.skip:
        benchmark_metrics(args)


if __name__ == "__main__":
    main()
