"""Convert the Melception classifier of the authors' code (v-iashin/SpecVQGAN,
`evaluation.feature_extractors.melception.Melception`) into `MelceptionModel`.

    python scripts/convert_melception_original_checkpoint.py \
        --checkpoint evaluation/logs/21-05-10T09-28-40/melception-21-05-10T09-28-40.pt --output_dir melception

    # prove the conversion on the parity fixture (authors' weights, bit-packed + inputs + recorded outputs; the
    # FID and MKL values recorded there are recomputed with the project's metric module too):
    python scripts/convert_melception_original_checkpoint.py --fixture ../shared/parity/specvqgan_melception

The released file is a `torch.save` dict whose `model` entry is the state dict, under torchvision's `Inception3`
names, which `MelceptionModel` keeps: the conversion is a strict load with the same keys. It is read with
`torch.load(weights_only=True)` (no code from the file runs). The number of classes comes from `fc.weight`; the
standardisation statistics are the VGGSound ones of the config (the released file does not hold them).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from videozoo.configuration import MelceptionConfig
from videozoo.conversion import (
    add_conversion_arguments,
    check_conversion_arguments,
    save_converted,
)
from videozoo.modeling import MelceptionModel


def load_packed_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A safetensors file whose weights with >= 2 axes are stored as sign bits (numpy `packbits`, big-endian, bit 1 =
    +scale) with `{"shape", "scale"}` per key in the metadata entry `sign_packed` (the parity fixture's format);
    other tensors are stored as they are. Returns the float32 state dict."""
    state_dict = {}
    with safe_open(str(path), framework="pt") as handle:
        packed = json.loads((handle.metadata() or {}).get("sign_packed", "{}"))
        for key in handle.keys():
            tensor = handle.get_tensor(key)
            if key in packed:
                shape = packed[key]["shape"]
                scale = np.float32(float(packed[key]["scale"]))
                bits = np.unpackbits(tensor.numpy())[: int(np.prod(shape))].astype(bool)
                tensor = torch.from_numpy(np.where(bits, scale, -scale).astype(np.float32).reshape(shape))
            state_dict[key] = tensor
    return state_dict


def config_from_weights(state_dict: dict[str, torch.Tensor]) -> MelceptionConfig:
    if "fc.weight" not in state_dict or "Conv2d_1a_3x3.conv.weight" not in state_dict:
        raise ValueError("not a Melception state dict (torchvision Inception3 keys with fc and Conv2d_1a_3x3)")
    stem = state_dict["Conv2d_1a_3x3.conv.weight"]
    if stem.shape[1] != 1:
        raise ValueError(f"the stem takes {stem.shape[1]} channels: an RGB Inception-v3, not Melception")
    return MelceptionConfig(
        num_classes=state_dict["fc.weight"].shape[0],
        width_divisor=32 // stem.shape[0],
        aux_logits=any(k.startswith("AuxLogits.") for k in state_dict),
    )


def load_model(state_dict: dict[str, torch.Tensor], config: MelceptionConfig | None = None) -> MelceptionModel:
    state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    model = MelceptionModel(config or config_from_weights(state_dict))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def load_original_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.suffix == ".safetensors":
        return load_packed_state_dict(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path} is not a Melception checkpoint (a dict with a 'model' state dict)")
    return dict(state_dict)


def _global_pool(hidden: torch.Tensor) -> torch.Tensor:
    """The reference's '64' / '192' / '768' taps: adaptive average pool to 1 x 1, flattened."""
    return torch.nn.functional.adaptive_avg_pool2d(hidden, 1).flatten(1)


def check_fixture(fixture: Path) -> dict[str, tuple[float, float, bool]]:
    """{name: (difference, tolerance, relative)} for the standardised input, the features, the logits, the
    intermediate pools, and the FID / MKL values recomputed with the project's metric functions."""
    from videozoo.metrics.melception_fid_mkl.melception_fid_mkl import frechet_distance, mean_kl_divergence

    weights = load_packed_state_dict(fixture / "original_weights.safetensors")
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    model = load_model(weights)
    results: dict[str, tuple[float, float, bool]] = {}

    def absolute(name, ours, theirs, tolerance):
        if ours.shape != theirs.shape:
            raise ValueError(f"{name}: shape {tuple(ours.shape)} vs the fixture's {tuple(theirs.shape)}")
        results[name] = ((ours.double() - theirs.double()).abs().max().item(), tolerance, False)

    for name, stats in (("stats_means", model.config.spectrogram_mean), ("stats_stds", model.config.spectrogram_std)):
        absolute(f"config.{name}", torch.tensor(stats, dtype=torch.float64), inputs[name], 0.0)
    absolute("input_features", model.standardize(inputs["spectrogram"]), inputs["input_features"], 0.0)
    captured = {}
    probes = {
        "debug.pool_64": model.Conv2d_2b_3x3,
        "debug.pool_192": model.Conv2d_4a_3x3,
        "debug.pool_768": model.Mixed_6e,
    }
    hooks = [
        module.register_forward_hook(lambda m, a, out, name=name: captured.__setitem__(name, _global_pool(out)))
        for name, module in probes.items()
    ]
    with torch.no_grad():
        out = model(inputs["spectrogram"])
    for hook in hooks:
        hook.remove()
    # tolerances of the fixture's README: features / logits 1e-4 (the reference in float64 differs from its float32
    # by 7.8e-6 over 94 chained convolutions), intermediate pools 1e-5 (measured <= 1.7e-6)
    absolute("features_2048", out.pooler_output, expected["features_2048"], 1e-4)
    absolute("logits", out.logits, expected["logits"], 1e-4)
    absolute("logits_unbiased", out.logits_unbiased, expected["logits_unbiased"], 1e-4)
    for name, value in captured.items():
        absolute(name, value, expected[name], 1e-5)

    def relative(name, ours, theirs, tolerance):
        results[name] = (abs(ours - theirs) / abs(theirs), tolerance, True)

    for group in ("fid", "fid_singular"):
        value = frechet_distance(inputs[f"{group}.features_1"], inputs[f"{group}.features_2"])
        relative(
            f"{group}.frechet_inception_distance", value, expected[f"{group}.frechet_inception_distance"].item(), 1e-6
        )
    same = frechet_distance(inputs["fid.features_1"], inputs["fid.features_1"])
    results["fid.same_set"] = (abs(same), 1e-6, False)
    kl = mean_kl_divergence(inputs["kl.logits_real"], inputs["kl.logits_fake"], inputs["kl.fake_video_index"])
    results["kl.kullback_leibler_divergence"] = (
        abs(kl - expected["kl.kullback_leibler_divergence"].item()),
        1e-6,
        False,
    )
    missing = set(expected) - set(results)
    if missing:
        raise RuntimeError(f"fixture outputs not compared: {sorted(missing)}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "the authors' melception-*.pt (or a packed .safetensors)")
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args)  # before anything is read or written

    if args.fixture is not None:
        results = check_fixture(args.fixture)
        for name, (difference, tolerance, is_relative) in results.items():
            kind = "relative diff" if is_relative else "max abs diff"
            flag = "" if difference <= tolerance else "   <-- above tolerance"
            print(f"{name:40s} {kind} {difference:.3e} (tolerance {tolerance:.0e}){flag}")
        failed = [name for name, (difference, tolerance, _) in results.items() if difference > tolerance]
        print(
            f"{'FAIL' if failed else 'PASS'}: {len(results)} values compared"
            + (f"; above tolerance: {failed}" if failed else "")
        )
        return 1 if failed else 0

    model = load_model(load_original_checkpoint(args.checkpoint))
    save_converted(args.output_dir, model)
    print(
        f"saved MelceptionModel ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
        f"{model.config.num_classes} classes) to {args.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
