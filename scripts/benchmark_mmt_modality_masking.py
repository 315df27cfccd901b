"""Benchmark modality-masking pre-training at the paper's configuration; prints its figures.

    python scripts/benchmark_mmt_modality_masking.py                # CPU
    python scripts/benchmark_mmt_modality_masking.py --device cuda --dtype bf16 --batch_size 150

One training step (forward + backward + Adam) per masked modality at the paper's sizes (Psi: MMT 4x4, 512 wide,
over RGB 30 + audio 30 + ASR 128 tokens; Phi_text: BERT-base over 30 ASR wordpieces; Phi_av: MMT 4x4): samples/s,
peak memory, and the FLOP rate as a fraction of a plain matrix multiply measured in the same run. The paper's batch
is 1,200 clips over 8 GPUs (150 per GPU).
"""

import argparse

import torch

import videozoo  # noqa: F401
from videozoo.benchmarking import benchmark_training_step, matmul_rate
from videozoo.configuration import MMTModalityMaskingConfig
from videozoo.modeling import MMTForModalityMaskingPretraining

BUDGETS = {"s3d": 30, "vggish": 30, "asr": 128}


def make_batch(config: MMTModalityMaskingConfig, batch: int, device) -> dict:
    video = config.video_config
    inputs = {"expert_features": {}, "expert_times": {}, "expert_attention_mask": {}, "expert_pooled": {}}
    for name in video.expert_names:
        size, tokens = video.expert_feature_sizes[name], BUDGETS[name]
        inputs["expert_features"][name] = torch.randn(batch, tokens, size, device=device)
        inputs["expert_times"][name] = (torch.arange(tokens, device=device).float() * 30 / tokens + 2).expand(
            batch, -1
        )
        inputs["expert_attention_mask"][name] = torch.ones(batch, tokens, dtype=torch.long, device=device)
        inputs["expert_pooled"][name] = torch.randn(batch, size, device=device)
    inputs["asr_query_ids"] = torch.randint(1000, video.text_config.vocab_size, (batch, 32), device=device)
    inputs["asr_query_attention_mask"] = torch.ones(batch, 32, dtype=torch.long, device=device)
    return inputs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    config = MMTModalityMaskingConfig()
    model = MMTForModalityMaskingPretraining(config).to(device).train()
    inputs = make_batch(config, args.batch_size, device)
    reference = matmul_rate(device, dtype)
    print(
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters; "
        f"{args.dtype} {reference / 1e12:.3f} TFLOP/s for a 4096^3 matmul on {device.type}"
    )
    for masked in ("asr", "s3d", "vggish"):
        benchmark_training_step(
            f"masked {masked}",
            model,
            lambda m=masked: model(**inputs, masked_modality=m, return_loss=True).loss,
            args.batch_size,
            device,
            dtype,
            args.repeats,
            reference,
            learning_rate=1e-4,
        )


if __name__ == "__main__":
    main()
