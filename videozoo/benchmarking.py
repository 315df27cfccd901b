"""Measurements for `scripts/benchmark.py`, the one benchmark driver over the registry (docs/benchmarks.md).

What a benchmark needs to know about one architecture (its paper configuration, a synthetic batch, the training
loss, what to time in generation) is a `Workload`, built by the function the architecture's registry row names
(`Architecture.benchmark` in `videozoo/auto.py`, e.g. `videozoo.tasks.mmt:benchmark_workload`). Everything else
lives here: the training step with and without each speed lever, its wall time, model FLOPs
(`torch.utils.flop_counter`), the fraction of a plain matrix multiply measured in the same run, and peak memory.

A *lever* is one change to the plain training step (eager, `torch.optim.Adam` with the per-parameter loop, fp32):
a foreach or fused optimizer, bf16 autocast, channels-last convolutions, `torch.compile`. The *default* step is
what `videozoo.training.fit` runs with its default arguments (fused AdamW), plus the levers asked for on the
command line (they are `TrainerArguments` options of the same names).
"""

import importlib
import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

from .training import to_channels_last

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass
class Workload:
    """One architecture's benchmark: everything `scripts/benchmark.py` needs to know about it.

    Args:
        description: the configuration and input sizes, printed with the figures.
        build_model: a fresh model in training mode on the CPU (seeded by the caller).
        make_inputs: `(batch_size, generator) -> dict` of CPU tensors, a synthetic batch of the configuration.
        loss: `(model, inputs) -> scalar` the training loss of one batch (the model's or the task's).
        paper_batch_size: the per-device batch of the paper's recipe; `cpu_batch_size`: the reduced default on a CPU.
        learning_rate: the recipe's learning rate (the optimizer's cost does not depend on it; the loss after N
            steps does).
        generate: optional `(model, inputs, new_tokens) -> {variant: fn}` for `--mode generate`; every `fn()`
            returns the generated tensor (ids or samples), compared across variants over their common length.
        generated_unit / generated_per_call: what a generated amount is called ("tokens", "indices", "audio s") and
            how much one output holds (default: its number of elements).
        extra: notes for readers of the workload, e.g. `variants`, the names its function accepts as `variant`
            (the first is the default; a workload function raises a `ValueError` naming `--variant` otherwise).
    """

    description: str
    build_model: Callable[[], torch.nn.Module]
    make_inputs: Callable[[int, torch.Generator], dict]
    loss: Callable[[torch.nn.Module, dict], torch.Tensor]
    paper_batch_size: int
    cpu_batch_size: int
    learning_rate: float = 1e-4
    generate: Callable[[torch.nn.Module, dict, int], dict[str, Callable[[], torch.Tensor]]] | None = None
    generated_unit: str = "tokens"
    generated_per_call: Callable[[torch.Tensor], float] | None = None
    extra: dict = field(default_factory=dict)


def workload_for(model_type: str, config=None, variant: str | None = None) -> Workload:
    """The `Workload` of a registered `model_type` (its registry row's `benchmark` function), for `config` (None:
    the paper configuration)."""
    from .auto import ARCHITECTURES_BY_TYPE

    arch = ARCHITECTURES_BY_TYPE.get(model_type)
    if arch is None:
        raise ValueError(f"--model_type {model_type!r} is not registered (known: {sorted(ARCHITECTURES_BY_TYPE)})")
    if arch.benchmark is None:
        raise ValueError(f"--model_type {model_type!r} has no benchmark workload (known: {benchmarked_types()})")
    module, function = arch.benchmark.split(":")
    return getattr(importlib.import_module(module), function)(config=config, variant=variant)


def benchmarked_types() -> list[str]:
    from .auto import ARCHITECTURES

    return [arch.model_type for arch in ARCHITECTURES if arch.benchmark is not None]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds per call of `fn` over `repeats` calls, after one warm-up call (the median: a shared machine
    slows single calls down at random)."""
    fn()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def matmul_size(device: torch.device, dtype: torch.dtype) -> int:
    """4096 on a GPU; on a CPU 2048 in fp32 and 512 in bf16 (a CPU without bf16 instructions, like the 2-core AMD
    EPYC of docs/benchmarks.md, multiplies bf16 matrices ~50x slower than fp32 ones: 4096^3 would take minutes)."""
    if device.type == "cuda":
        return 4096
    return 2048 if dtype == torch.float32 else 512


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int | None = None) -> float:
    """FLOP/s of a `size`^3 matrix multiply in `dtype` (median of 3 on a CPU, 10 on a GPU)."""
    return matmul_rates(device, dtype, size)[0]


def matmul_rates(device: torch.device, dtype: torch.dtype, size: int | None = None) -> tuple[float, float]:
    """FLOP per second of wall time, and per second of this process's CPU time, of a `size`^3 matrix multiply in
    `dtype` (medians of 3 on a CPU, 10 on a GPU). On a shared CPU the second is the steadier reference: other jobs
    take wall time from both the model and the matmul, but not CPU time."""
    size = size or matmul_size(device, dtype)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    wall, cpu = [], []
    for _ in range(10 if device.type == "cuda" else 3):
        synchronize(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        a @ b
        synchronize(device)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    flops = 2 * size**3
    return flops / statistics.median(wall), flops / max(statistics.median(cpu), 1e-9)


class PeakMemory:
    """Peak memory of the code in a `with` block, above what was held when it started: on a GPU
    `torch.cuda.max_memory_allocated`; on a CPU the process's resident set size, sampled every 2 ms by a thread
    (`/proc/self/statm`; the process's lifetime maximum RSS would hide every peak but the first)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_bytes = 0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return self
        self._start = self._peak = self._rss()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(0.002):
                self._peak = max(self._peak, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        else:
            self._stop.set()
            self._thread.join()
            self.peak_bytes = max(self._peak, self._rss()) - self._start
        return False


@dataclass(frozen=True)
class Lever:
    """One training-step setting: the optimizer implementation, autocast dtype, channels-last, torch.compile."""

    name: str
    optimizer: str = "loop"  # "loop" (torch's single-tensor Adam), "foreach", "fused"
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False


def plain_and_levers(
    device_type: str,
    dtype: str,
    channels_last: bool,
    torch_compile: bool,
    has_convolutions: bool,
    only: list[str] | None = None,
) -> list[Lever]:
    """The plain step, each lever alone, and the zoo's default step (fit's fused AdamW plus the levers asked for);
    `only`: the subset of `LEVER_KEYS` to run. bf16 on a CPU is measured only when asked for (`dtype` or `only`):
    on a CPU without bf16 instructions it is ~50x slower than fp32."""
    extras = [
        name
        for name, on in (
            ("bf16", dtype == "bf16"),
            ("channels-last", channels_last and has_convolutions),
            ("compile", torch_compile),
        )
        if on
    ]
    levers = {
        "plain": Lever("plain (eager, Adam loop, fp32)"),
        "foreach": Lever("foreach Adam", optimizer="foreach"),
        "fused": Lever("fused Adam", optimizer="fused"),
        "bf16": Lever("bf16 autocast", dtype="bf16"),
        "channels_last": Lever("channels-last", channels_last=True),
        "compile": Lever("torch.compile", compile=True),
        "default": Lever(
            "zoo default" + "".join(f" + {name}" for name in extras),
            optimizer="fused",
            dtype=dtype,
            channels_last=channels_last and has_convolutions,
            compile=torch_compile,
        ),
    }
    if only:
        return [levers[key] for key in only]
    skip = {"channels_last"} if not has_convolutions else set()
    if not torch_compile:
        skip.add("compile")
    if device_type == "cpu" and dtype != "bf16":
        skip.add("bf16")
    return [lever for key, lever in levers.items() if key not in skip]


LEVER_KEYS = ("plain", "foreach", "fused", "bf16", "channels_last", "compile", "default")


def has_convolutions(model: torch.nn.Module) -> bool:
    return any(isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)) for m in model.modules())


def make_optimizer(model: torch.nn.Module, kind: str, learning_rate: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if kind == "fused":  # what videozoo.training.fit builds by default (AdamW with weight decay 0 is Adam)
        return torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0, fused=True)
    return torch.optim.Adam(params, lr=learning_rate, foreach=kind == "foreach")


@dataclass
class StepFigures:
    lever: Lever
    seconds: float
    cpu_seconds: float
    first_step_seconds: float
    peak_bytes: int
    loss_after: float
    steps: int


def run_training_lever(
    workload: Workload,
    lever: Lever,
    inputs: dict,
    device: torch.device,
    steps: int,
    seed: int = 0,
) -> StepFigures:
    """`steps` + 1 training steps (forward, backward, optimizer step) of a fresh, seeded model on one batch; the
    first is the warm-up (and, with torch.compile, the compilation). Returns the median time of the others, the
    peak memory over them and the loss of the last step."""
    torch.manual_seed(seed)
    model = workload.build_model().to(device).train()
    if lever.channels_last:
        model = to_channels_last(model)
    optimizer = make_optimizer(model, lever.optimizer, workload.learning_rate)
    if lever.compile:
        model.compile()  # as fit's --torch_compile
    dtype = DTYPES[lever.dtype]
    losses = []

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = workload.loss(model, inputs)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())

    torch.manual_seed(seed + 1)  # the same dropout masks for every lever
    synchronize(device)
    start = time.perf_counter()
    step()
    synchronize(device)
    first = time.perf_counter() - start
    times, cpu_times = [], []
    with PeakMemory(device) as memory:
        for _ in range(steps):
            synchronize(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            step()
            synchronize(device)
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - start_cpu)
    return StepFigures(
        lever,
        statistics.median(times),
        statistics.median(cpu_times),
        first,
        memory.peak_bytes,
        float(losses[-1]),
        steps,
    )


def count_flops(workload: Workload, inputs: dict, device: torch.device) -> int:
    """FLOPs of one training step (forward + backward; the optimizer's elementwise work is not counted), with
    `FlopCounterMode` (matrix products and convolutions: the model FLOPs of MFU figures)."""
    torch.manual_seed(0)
    model = workload.build_model().to(device).train()
    with FlopCounterMode(display=False) as counter:
        workload.loss(model, inputs).backward()
    return counter.get_total_flops()


def format_bytes(value: int) -> str:
    return f"{value / 2**30:.2f} GiB" if abs(value) >= 2**30 else f"{value / 2**20:.0f} MiB"


def training_table(
    figures: list[StepFigures],
    flops: int,
    batch_size: int,
    rates: dict[str, tuple[float, float]],
    device: torch.device,
) -> str:
    """The figures of every lever as a Markdown table: the plain step first, speed-ups against it. `rates`: the
    matmul's (wall, CPU-time) FLOP rates per dtype; on a CPU the % of matmul is also given per CPU second."""
    plain = figures[0].seconds
    cpu = device.type == "cpu"
    header = (
        "| step | ms/step | samples/s | speed-up | CPU s/step | GFLOP/step | % of matmul"
        + (" (wall / CPU time)" if cpu else "")
        + " | peak memory | first step s | loss after | vs plain |"
    )
    rows = [header, "|" + "---|" * 11]
    reference_loss = figures[0].loss_after
    memory = "GPU allocated" if device.type == "cuda" else "RSS"
    for f in figures:
        wall_rate, cpu_rate = rates[f.lever.dtype]
        fraction = f"{100 * flops / f.seconds / wall_rate:.0f}%"
        if cpu:
            fraction += f" / {100 * flops / max(f.cpu_seconds, 1e-9) / cpu_rate:.0f}%"
        rows.append(
            f"| {f.lever.name} | {1e3 * f.seconds:.0f} | {batch_size / f.seconds:.2f} | {plain / f.seconds:.2f}x "
            f"| {f.cpu_seconds:.2f} | {flops / 1e9:.4g} | {fraction} ({f.lever.dtype}) "
            f"| {format_bytes(f.peak_bytes)} {memory} | {f.first_step_seconds:.1f} | {f.loss_after:.5g} "
            f"| {f.loss_after - reference_loss:+.2g} |"
        )
    return "\n".join(rows)


def run_generation(
    workload: Workload, model: torch.nn.Module, inputs: dict, new_tokens: int, device, dtype, repeats: int
) -> str:
    """Time each generation variant of the workload (median of `repeats` after a warm-up), check they agree, and
    return a Markdown table."""
    variants = workload.generate(model, inputs, new_tokens)
    outputs, seconds = {}, {}
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        for name, fn in variants.items():
            outputs[name] = fn()
            seconds[name] = timed(fn, device, repeats)
    first = next(iter(outputs))
    amounts = {
        name: workload.generated_per_call(output) if workload.generated_per_call else output.numel()
        for name, output in outputs.items()
    }
    rates = {name: amounts[name] / seconds[name] for name in outputs}
    unit = workload.generated_unit
    rows = [f"| variant | {unit}/call | s/call | {unit}/s | speed-up | against {first} |", "|---|---|---|---|---|---|"]
    for name, output in outputs.items():
        length = min(output.shape[-1], outputs[first].shape[-1])  # a variant may generate a prefix only
        ours, theirs = output[..., :length], outputs[first][..., :length]
        if output.is_floating_point():
            same = f"max abs diff {float((ours.float() - theirs.float()).abs().max()):.2g}"
        else:
            same = "identical" if torch.equal(ours, theirs) else "DIFFERENT"
        rows.append(
            f"| {name} | {amounts[name]:.4g} | {seconds[name]:.3f} | {rates[name]:.1f} "
            f"| {rates[name] / min(rates.values()):.1f}x | {same} |"
        )
    return "\n".join(rows)
