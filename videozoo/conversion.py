"""What the `scripts/convert_*_original_checkpoint.py` scripts share.

- `add_conversion_arguments` / `check_conversion_arguments`: the command line every converter has (`--checkpoint`,
  `--output_dir`, or `--fixture`), checked before anything is loaded (docs/training.md, "argument checks");
- `load_original_weights`: the authors' weights as a state dict, read without running code from the file;
- `FixtureCheck` / `report_differences`: a parity fixture (../shared/parity/README.md) compared output by output
  against its tolerances, printed, and turned into the exit status;
- `save_converted`: the converted model and processor written atomically (`videozoo.outputs.staged_output`), so an
  earlier model in `--output_dir` stays until the new one is complete.
Each script keeps its own renaming rules and model building, as transformers' conversion scripts do.
"""

import argparse
import json
import lzma
from pathlib import Path

import torch
from safetensors.torch import load, load_file

from .arguments import exit_if_any, file_problem, folder_problem, output_folder_problem, positive_problem
from .outputs import staged_output


def add_conversion_arguments(
    parser: argparse.ArgumentParser,
    checkpoint_help: str,
    *,
    tolerance: float | None = None,
    tolerance_help: str = "max |difference| of float outputs against the fixture",
    checkpoint_aliases: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    """`--checkpoint` (and its `checkpoint_aliases`), `--output_dir` and `--fixture` (a parity folder to check
    instead of converting), plus `--tolerance` where the script takes one (`tolerance` is its default)."""
    parser.add_argument("--checkpoint", *checkpoint_aliases, dest="checkpoint", type=Path, help=checkpoint_help)
    parser.add_argument("--output_dir", type=Path, help="where the converted model (and processor) are saved")
    parser.add_argument("--fixture", type=Path, help="a parity folder: convert it and compare with its outputs")
    if tolerance is not None:
        parser.add_argument("--tolerance", type=float, default=tolerance, help=tolerance_help)
    return parser


def check_conversion_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, *problems) -> None:
    """Exit through `parser.error` naming every problem: a missing fixture folder (or a tolerance that is not
    positive), or (converting) a missing checkpoint, an unusable output folder and the script's own `problems`
    (None entries are no problem)."""
    if args.fixture is not None:
        tolerance = getattr(args, "tolerance", None)
        exit_if_any(
            parser,
            [
                folder_problem("--fixture", args.fixture),
                None if tolerance is None else positive_problem("--tolerance", tolerance),
            ],
        )
        return
    exit_if_any(
        parser,
        [
            file_problem("--checkpoint", args.checkpoint, required=True),
            output_folder_problem("--output_dir", args.output_dir),
            *problems,
        ],
    )


def load_strictly(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """Load converted weights; any missing or unexpected name is an error (BatchNorm's `num_batches_tracked`
    counters, which many original checkpoints omit, aside). Returns the model in eval mode."""
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"weights do not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


def save_converted(output_dir: str | Path, *parts) -> None:
    """`save_pretrained` of each part (model, processor) into `output_dir`, atomically."""
    with staged_output(output_dir) as staging:
        for part in parts:
            part.save_pretrained(staging)
    print(f"saved {', '.join(type(part).__name__ for part in parts)} to {output_dir}")


def report_differences(results: dict[str, tuple[float, float]]) -> int:
    """Print `{name: (max abs difference, tolerance)}` and return the exit status (1 if any is above)."""
    width = max((len(name) for name in results), default=0) + 2
    for name, (difference, tolerance) in results.items():
        flag = "" if difference <= tolerance else "   <-- above tolerance"
        print(f"{name:{width}s} max abs diff {difference:.3e} (tolerance {tolerance:.0e}){flag}")
    failed = [name for name, (difference, tolerance) in results.items() if difference > tolerance]
    worst = max((d for d, _ in results.values()), default=0.0)
    print(
        f"{'FAIL' if failed else 'PASS'}: max abs difference {worst:.3e} over {len(results)} tensors"
        + (f"; above tolerance: {failed}" if failed else "")
    )
    return 1 if failed else 0


def load_original_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """An authors' checkpoint as `{name: tensor}`: `.safetensors`, `.safetensors.xz` (decompressed in memory), or a
    released `.pt` / `.pth` state dict read with `torch.load(weights_only=True)` (PyTorch's restricted unpickler:
    tensors and plain containers only, no code from the file runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    if path.name.endswith(".safetensors.xz"):
        return load(lzma.decompress(path.read_bytes()))
    if path.suffix == ".safetensors":
        return load_file(path)
    if path.suffix in (".pt", ".pth"):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
        if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            raise ValueError(f"{path}: not a state dict of tensors")
        return dict(checkpoint)
    raise ValueError(f"{path}: give the weights as .safetensors, .safetensors.xz, .pt or .pth")


class FixtureCheck:
    """Collects `max |ours - recorded|` per output and the verdict against each tolerance."""

    def __init__(self, fixture: str | Path):
        self.fixture = Path(fixture)
        if not self.fixture.is_dir():
            raise FileNotFoundError(f"{self.fixture}: no such fixture folder")
        self.inputs = load_file(self.fixture / "inputs.safetensors")
        self.outputs = load_file(self.fixture / "outputs.safetensors")
        self.config = json.loads((self.fixture / "original_config.json").read_text())
        self.failures: list[str] = []

    def weights(self, name: str = "original_weights.safetensors.xz") -> dict[str, torch.Tensor]:
        return load_original_weights(self.fixture / name)

    def compare(self, name: str, actual: torch.Tensor, tolerance: float) -> float:
        expected = self.outputs[name]
        actual = actual.detach()
        if tuple(actual.shape) != tuple(expected.shape):
            self.failures.append(f"{name}: shape {tuple(actual.shape)} != recorded {tuple(expected.shape)}")
            print(f"{name}: SHAPE {tuple(actual.shape)} vs {tuple(expected.shape)}")
            return float("inf")
        diff = (actual.double() - expected.double()).abs().max().item() if expected.numel() else 0.0
        verdict = "ok" if diff <= tolerance else "FAIL"
        print(f"{name}: max |diff| {diff:.3g} (tolerance {tolerance:g}) {verdict}")
        if diff > tolerance:
            self.failures.append(f"{name}: {diff:.3g} > {tolerance:g}")
        return diff

    def exact(self, name: str, actual: torch.Tensor) -> None:
        self.compare(name, actual.to(self.outputs[name].dtype), 0.0)

    def result(self) -> int:
        if self.failures:
            print("FAILED: " + "; ".join(self.failures))
            return 1
        print("all outputs within tolerance")
        return 0
