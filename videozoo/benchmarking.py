"""Shared measurements for the `scripts/benchmark_*.py` scripts: wall time, peak memory and FLOP rate of a
training step, against a plain matrix multiply measured in the same run."""

import resource
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Mean seconds per call of `fn`, after one warm-up call."""
    fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int = 4096) -> float:
    """FLOP/s of a `size`^3 matrix multiply."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    return 2 * size**3 / timed(lambda: a @ b, device, repeats=10 if device.type == "cuda" else 3)


def benchmark_training_step(
    label: str,
    model: torch.nn.Module,
    loss_fn: Callable[[], torch.Tensor],
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
    repeats: int = 2,
    reference_rate: float | None = None,
    learning_rate: float = 1e-4,
) -> dict[str, float]:
    """Time forward (`loss_fn`, under autocast for bf16) + backward + Adam step; print and return the figures."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, fused=True)  # as videozoo.training.fit

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = loss_fn()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = timed(step, device, repeats)
    if device.type == "cuda":
        peak, peak_kind = torch.cuda.max_memory_allocated(device) / 2**30, ""
    else:
        peak, peak_kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, " (process max RSS)"
    reference_rate = reference_rate or matmul_rate(device, dtype)
    figures = {
        "parameters_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "ms_per_step": seconds * 1e3,
        "samples_per_s": batch_size / seconds,
        "peak_gib": peak,
        "gflop_per_step": flops / 1e9,
        "fraction_of_matmul": flops / seconds / reference_rate,
    }
    name = {torch.float32: "fp32", torch.bfloat16: "bf16"}.get(dtype, str(dtype))
    print(
        f"[{label}] {figures['parameters_m']:.1f}M params, batch {batch_size}, {name} on {device.type}: "
        f"{figures['ms_per_step']:.0f} ms/step, {figures['samples_per_s']:.1f} samples/s, "
        f"peak memory {peak:.2f} GiB{peak_kind}, {figures['gflop_per_step']:.1f} GFLOP/step, "
        f"{100 * figures['fraction_of_matmul']:.0f}% of a {name} 4096^3 matmul ({reference_rate / 1e12:.3f} TFLOP/s)"
    )
    return figures
