"""Helpers of the expert extractors' conversion scripts: reading a video_features parity fixture (weights stored
xz-compressed, see ../shared/parity/README.md) and comparing our outputs with the recorded ones."""

import json
import lzma
from pathlib import Path

import torch
from safetensors.torch import load, load_file


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
