"""Benchmark modality-masking pre-training at the paper's configuration; prints its figures.

    python scripts/benchmark_mmt_modality_masking.py                # CPU
    python scripts/benchmark_mmt_modality_masking.py --device cuda --dtype bf16 --batch_size 150

One training step (forward + backward + Adam) per masked modality at the paper's sizes (Psi: MMT 4x4, 512 wide,
over RGB 30 + audio 30 + ASR 128 tokens; Phi_text: BERT-base over 30 ASR wordpieces; Phi_av: MMT 4x4): samples/s,
peak memory, and the FLOP rate as a fraction of a plain matrix multiply measured in the same run. The paper's batch
is 1,200 clips over 8 GPUs (150 per GPU).
"""

import argparse
import resource

import torch
from torch.utils.flop_counter import FlopCounterMode

import videozoo  # noqa: F401
from videozoo.configuration import MMTModalityMaskingConfig
from videozoo.modeling import MMTForModalityMaskingPretraining
from videozoo.scripts.benchmark_mmt import matmul_rate, timed

BUDGETS = {"s3d": 30, "vggish": 30, "asr": 128}


def make_batch(config: MMTModalityMaskingConfig, batch: int, device) -> dict:
    video = config.video_config
    inputs = {"expert_features": {}, "expert_times": {}, "expert_attention_mask": {}, "expert_pooled": {}}
    for name in video.expert_names:
        size, tokens = video.expert_feature_sizes[name], BUDGETS[name]
        inputs["expert_features"][name] = torch.randn(batch, tokens, size, device=device)
        inputs["expert_times"][name] = (torch.arange(tokens, device=device).float() * 30 / tokens + 2).expand(batch, -1)
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
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = make_batch(config, args.batch_size, device)
    reference = matmul_rate(device, dtype)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters; {args.dtype} {reference / 1e12:.3f} TFLOP/s "
          f"for a 4096^3 matmul on {device.type}")
    for masked in ("asr", "s3d", "vggish"):
        def step():
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = model(**inputs, masked_modality=masked, return_loss=True).loss
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
        print(f"[masked {masked}] batch {args.batch_size}: {seconds * 1e3:.0f} ms/step, {args.batch_size / seconds:.1f} clips/s, "
              f"peak memory {peak:.2f} GiB{'' if device.type == 'cuda' else ' (process max RSS)'}, "
              f"{counter.get_total_flops() / 1e9:.0f} GFLOP/step, {100 * rate / reference:.0f}% of the matmul rate")


if __name__ == "__main__":
    main()
