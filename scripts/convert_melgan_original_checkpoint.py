"""Convert the MelGAN vocoder of the authors' code (v-iashin/SpecVQGAN, `vocoder.modules.Generator`) into
`MelGANVocoder`.

    python scripts/convert_melgan_original_checkpoint.py --checkpoint vocoder/logs/vggsound/best_netG.pt \
        --output_dir melgan-vggsound

    # prove the conversion on the parity fixture (authors' weights + input + recorded outputs):
    python scripts/convert_melgan_original_checkpoint.py --fixture ../shared/parity/specvqgan_melgan

`best_netG.pt` is a plain `Generator.state_dict()` (keys `model.{i}.…`, `i` the position in the reference's
`nn.Sequential`, with weight norm's `weight_g` / `weight_v`); it is read with `torch.load(weights_only=True)`, so
no code from the file runs. The sizes (mel bands, `ngf`, residual units, number of upsampling stages) are read from
the weights; the upsampling ratios come from the transposed-convolution kernels (kernel = 2 x ratio). With
`--fold_weight_norm` the saved model holds plain weights (`remove_weight_norm()`).
"""

import argparse
import json
import re
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from videozoo.configuration import MelGANConfig
from videozoo.conversion import (
    add_conversion_arguments,
    check_conversion_arguments,
    load_original_weights,
    report_differences,
    save_converted,
)
from videozoo.modeling import MelGANVocoder

_PARAMETER = {
    "bias": "bias",
    "weight_g": "parametrizations.weight.original0",
    "weight_v": "parametrizations.weight.original1",
}
_UNIT = {"block.2": "conv_dilated", "block.4": "conv_pointwise", "shortcut": "shortcut"}


def _sequential_layout(num_stages: int, num_residual_layers: int) -> dict[int, str]:
    """Index in the reference's `Generator.model` -> our module name, for its weighted layers. The Sequential is
    [pad, conv_in] + per stage [LeakyReLU, transposed conv, residual units...] + [LeakyReLU, pad, conv_out, tanh]."""
    layout = {1: "conv_in"}
    index = 2
    for stage in range(num_stages):
        layout[index + 1] = f"stages.{stage}.upsample"
        for unit in range(num_residual_layers):
            layout[index + 2 + unit] = f"stages.{stage}.residual_units.{unit}"
        index += 2 + num_residual_layers
    layout[index + 2] = "conv_out"
    return layout


def config_from_weights(state_dict: dict[str, torch.Tensor]) -> MelGANConfig:
    """Sizes from the reference's weights (its checkpoints carry no config)."""
    conv_in = state_dict["model.1.weight_v"]  # (2 ** stages * ngf, mels, 7)
    # layers with their own weight: conv_in (index 1), the transposed convs, conv_out (the last); the residual units
    # hold theirs under `model.{i}.block` / `model.{i}.shortcut`
    direct = sorted(int(m.group(1)) for k in state_dict if (m := re.match(r"^model\.(\d+)\.weight_v$", k)))
    units = {int(m.group(1)) for k in state_dict if (m := re.match(r"^model\.(\d+)\.(?:block|shortcut)\.", k))}
    if len(direct) < 3 or direct[0] != 1:
        raise ValueError("not a SpecVQGAN MelGAN generator state dict (model.1 conv, transposed convs, output conv)")
    stage_starts, conv_out = direct[1:-1], direct[-1]
    ends = stage_starts[1:] + [conv_out - 2]  # each stage: LeakyReLU, transposed conv, units; before conv_out: 2
    num_residual_layers = sum(1 for i in units if stage_starts[0] < i < ends[0])
    ratios = [state_dict[f"model.{i}.weight_v"].shape[2] // 2 for i in stage_starts]  # kernel = 2 x ratio
    return MelGANConfig(
        num_mel_bins=conv_in.shape[1],
        generator_width=conv_in.shape[0] // 2 ** len(stage_starts),
        num_residual_layers=num_residual_layers,
        upsample_ratios=ratios,
    )


def convert_state_dict(state_dict: dict[str, torch.Tensor], config: MelGANConfig) -> dict[str, torch.Tensor]:
    layout = _sequential_layout(len(config.upsample_ratios), config.num_residual_layers)
    converted = {}
    for key, tensor in state_dict.items():
        match = re.match(r"^model\.(\d+)\.(?:(block\.[24]|shortcut)\.)?(bias|weight_g|weight_v)$", key)
        if match is None or int(match.group(1)) not in layout:
            raise KeyError(f"no conversion rule for original parameter {key!r}")
        index, unit, parameter = int(match.group(1)), match.group(2), match.group(3)
        module = layout[index] + (f".{_UNIT[unit]}" if unit else "")
        converted[f"{module}.{_PARAMETER[parameter]}"] = tensor
    return converted


def load_model(state_dict: dict[str, torch.Tensor], config: MelGANConfig | None = None) -> MelGANVocoder:
    config = config or config_from_weights(state_dict)
    model = MelGANVocoder(config)
    model.load_state_dict(convert_state_dict(state_dict, config), strict=True)
    return model.eval()


def check_fixture(fixture: Path) -> dict[str, tuple[float, float]]:
    """{name: (max abs difference, tolerance)} for the waveform and the recorded intermediate outputs."""
    original = json.loads((fixture / "original_config.json").read_text())["args"]
    weights = load_file(fixture / "original_weights.safetensors")
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    config = config_from_weights(weights)
    found = (config.num_mel_bins, config.generator_width, config.num_residual_layers, list(config.upsample_ratios))
    wanted = (original["n_mel_channels"], original["ngf"], original["n_residual_layers"], list(original["ratios"]))
    if found != wanted:
        raise ValueError(f"sizes read from the weights {found} disagree with the fixture's config {wanted}")
    model = load_model(weights, config)
    layout = _sequential_layout(len(config.upsample_ratios), config.num_residual_layers)
    modules = dict(model.named_modules())
    captured: dict[str, torch.Tensor] = {}
    hooks = []
    for name in expected:
        if name.startswith("debug.model."):
            module = modules[layout[int(name.rsplit(".", 1)[1])]]
            hooks.append(module.register_forward_hook(lambda m, a, out, name=name: captured.__setitem__(name, out)))
    with torch.no_grad():
        captured["waveform"] = model(inputs["mel"]).waveform.unsqueeze(1)  # the reference keeps a channel axis
    for hook in hooks:
        hook.remove()
    if set(captured) != set(expected):
        raise RuntimeError(f"fixture outputs not compared: {sorted(set(expected) - set(captured))}")
    results = {}
    for name, theirs in expected.items():
        ours = captured[name]
        if ours.shape != theirs.shape:
            raise ValueError(f"{name}: shape {tuple(ours.shape)} vs the fixture's {tuple(theirs.shape)}")
        # tolerance of the fixture's README: max |diff| <= 1e-5 (measured with folded weights: <= 7.5e-7)
        results[name] = ((ours.double() - theirs.double()).abs().max().item(), 1e-5)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "the authors' best_netG.pt (or a .safetensors of it)")
    parser.add_argument("--fold_weight_norm", action="store_true", help="save plain weights (no weight norm)")
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args)  # before anything is read or written

    if args.fixture is not None:
        return report_differences(check_fixture(args.fixture))

    model = load_model(load_original_weights(args.checkpoint))
    if args.fold_weight_norm:
        model.remove_weight_norm()
    save_converted(args.output_dir, model)
    print(
        f"saved MelGANVocoder ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
        f"ngf {model.config.generator_width}, hop {model.config.hop_length}) to {args.output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
