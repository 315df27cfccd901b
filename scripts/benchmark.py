"""Benchmark any registered architecture: the training step with the zoo's defaults against the plain one, or
generation. One driver for every model: what differs between models (paper configuration, synthetic batch, loss,
generation variants) is the `Workload` their registry row names (`videozoo.benchmarking`, docs/benchmarks.md).

    python scripts/benchmark.py --model_type mmt                                 # paper configuration, CPU
    python scripts/benchmark.py --model_type bmt --variant proposals --steps 2
    python scripts/benchmark.py --model_type avatar --mode generate --new_tokens 16
    python scripts/benchmark.py --model_type sparsesync --config small --torch_compile --channels_last
    python scripts/benchmark.py --model_type everything_at_once --device cuda --dtype bf16

`--mode train` prints one table: the plain step (eager, torch's single-tensor Adam loop, fp32), each lever alone
(foreach Adam, fused Adam, bf16 autocast, channels-last for models with 2-d/3-d convolutions, torch.compile with
`--torch_compile`), and the zoo's default step (`videozoo.training.fit`'s fused AdamW, plus bf16 with
`--dtype bf16`, channels-last with `--channels_last`, compile with `--torch_compile`: the `TrainerArguments`
of the same names). For each: median wall time of `--steps` steps after a warm-up, samples/s, this process's CPU
time per step (the steadier figure on a shared machine), model FLOPs per step (FlopCounterMode), their rate as a
fraction of a square matmul timed in the same run and dtype, peak memory, the first step's time (compilation),
and the loss after `--steps` + 1 steps on one batch against the plain step's. Every lever starts from the same
seeded weights. docs/benchmarks.md explains each column.

`--mode generate` times the workload's generation variants (e.g. `generate()` with and without the key/value
cache and the reference's decoding loop) and checks that they produce the same tokens.

`--config small` is the tiny test configuration (tests/tiny_configs.py): seconds, for checking the driver.
"""

import argparse
import gc
import sys
import time

import torch

import videozoo  # noqa: F401
from videozoo.arguments import exit_if_any, positive_problem
from videozoo.benchmarking import (
    DTYPES,
    LEVER_KEYS,
    count_flops,
    has_convolutions,
    matmul_rates,
    matmul_size,
    plain_and_levers,
    run_generation,
    run_training_lever,
    training_table,
    workload_for,
)
from videozoo.benchmarking import benchmarked_types as registered


def parse_arguments(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_type", required=True, help=f"a registered model type: {', '.join(registered())}")
    parser.add_argument("--variant", help="a head of the family (bmt: captioner, proposals; masking: the modality)")
    parser.add_argument("--mode", choices=["train", "generate"], default="train")
    parser.add_argument("--config", choices=["paper", "small"], default="paper")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="the default step's autocast dtype")
    parser.add_argument("--batch_size", type=int, help="default: the paper's per-device batch on a GPU, less on a CPU")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per lever, after one warm-up step")
    parser.add_argument("--levers", help=f"comma-separated subset of {','.join(LEVER_KEYS)} (default: all)")
    parser.add_argument("--torch_compile", action="store_true", help="measure torch.compile, and use it by default")
    parser.add_argument("--channels_last", action="store_true", help="channels-last convolutions in the default step")
    parser.add_argument("--profile", action="store_true", help="torch.profiler table of the default step")
    parser.add_argument("--new_tokens", type=int, default=30, help="--mode generate: positions generated per call")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    levers = [k.strip() for k in args.levers.split(",")] if args.levers else None
    exit_if_any(
        parser,
        [
            None
            if args.model_type in registered()
            else f"--model_type {args.model_type!r} has no benchmark (registered: {', '.join(registered())})",
            positive_problem("--batch_size", args.batch_size),
            positive_problem("--steps", args.steps),
            positive_problem("--new_tokens", args.new_tokens),
            positive_problem("--threads", args.threads),
            "--device cuda: no CUDA device is available"
            if args.device == "cuda" and not torch.cuda.is_available()
            else None,
            f"--levers: unknown {sorted(set(levers) - set(LEVER_KEYS))} (known: {', '.join(LEVER_KEYS)})"
            if levers and set(levers) - set(LEVER_KEYS)
            else None,
        ],
    )
    args.levers = levers
    try:  # the workload checks --variant before any model is built
        config = None
        if args.config == "small":
            config = small_config(args.model_type)
        args.workload = workload_for(args.model_type, config, args.variant)
    except ValueError as error:
        parser.error(str(error))
    if args.mode == "generate" and args.workload.generate is None:
        parser.error(f"--mode generate: {args.model_type} has no generation benchmark (use --mode train)")
    return args


def small_config(model_type: str):
    """The tiny test configuration of `model_type`, from the repository's tests/tiny_configs.py (the one place
    those live); `--config small` needs a checkout of the repository."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tests" / "tiny_configs.py"
    if not path.is_file():
        raise ValueError(f"--config small reads {path}, which this installation lacks (use a checkout)")
    spec = importlib.util.spec_from_file_location("videozoo_tiny_configs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_config(model_type)


def to_device(value, device):
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value.to(device) if isinstance(value, torch.Tensor) else value


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    workload, device = args.workload, torch.device(args.device)
    batch = args.batch_size or (workload.paper_batch_size if device.type == "cuda" else workload.cpu_batch_size)
    inputs = to_device(workload.make_inputs(batch, torch.Generator().manual_seed(0)), device)
    torch.manual_seed(0)
    probe = workload.build_model()
    parameters = sum(p.numel() for p in probe.parameters())
    trainable = sum(p.numel() for p in probe.parameters() if p.requires_grad)
    convolutional = has_convolutions(probe)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"# {args.model_type}{f' ({args.variant})' if args.variant else ''}, {args.config} configuration: "
        f"{workload.description}\n# {parameters / 1e6:.3g} M parameters ({trainable / 1e6:.3g} M trained), batch "
        f"{batch} (paper: {workload.paper_batch_size} per device), {where}, torch {torch.__version__}"
    )
    if args.mode == "generate":
        del probe
        torch.manual_seed(0)
        model = workload.build_model().to(device).eval()
        print(run_generation(workload, model, inputs, args.new_tokens, device, DTYPES[args.dtype], args.steps))
        return 0
    del probe

    levers = plain_and_levers(
        device.type, args.dtype, args.channels_last, args.torch_compile, convolutional, args.levers
    )
    if not levers:
        print("no lever applies to this model (see --levers)", file=sys.stderr)
        return 2
    flops = count_flops(workload, inputs, device)
    used = sorted({lever.dtype for lever in levers})
    rates = {name: matmul_rates(device, DTYPES[name]) for name in used}
    matmuls = ", ".join(
        f"{name} {matmul_size(device, DTYPES[name])}^3 {rates[name][0] / 1e9:.1f} GFLOP/s"
        + (f" ({rates[name][1] / 1e9:.1f} per CPU second)" if device.type == "cpu" else "")
        for name in used
    )
    print(f"# matmul rate in this run: {matmuls}; {args.steps} timed steps per row after one warm-up")
    figures = []
    for lever in levers:
        start = time.perf_counter()
        figures.append(run_training_lever(workload, lever, inputs, device, args.steps))
        gc.collect()  # the lever's model, gradients and optimizer state go before the next one is built
        print(f"#   {lever.name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(training_table(figures, flops, batch, rates, device))

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        from videozoo.benchmarking import make_optimizer

        default = levers[-1]
        torch.manual_seed(0)
        model = workload.build_model().to(device).train()
        optimizer = make_optimizer(model, default.optimizer, workload.learning_rate)
        dtype = DTYPES[default.dtype]
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])

        def step():
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = workload.loss(model, inputs)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        step()
        with profile(activities=activities) as profiler:
            step()
        sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        print(f"\n# profile of one step ({default.name}, eager), by self time:")
        print(profiler.key_averages().table(sort_by=sort, row_limit=15))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
