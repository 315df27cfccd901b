"""Convert VGGish (the torchvision-style port v-iashin/video_features loads: `vggish-10086976.pth` and the PCA
parameters `vggish_pca_params.npz`) into `VGGishModel`, or prove the conversion on the parity fixture.

    python scripts/convert_vggish_original_checkpoint.py --checkpoint vggish.safetensors \
        --pca_params vggish_pca_params.npz --output_dir vggish
    python scripts/convert_vggish_original_checkpoint.py --fixture ../shared/parity/video_features_vggish

The network weights are given as safetensors (`.safetensors.xz` too); the PCA parameters as the released `.npz`
(read with `allow_pickle=False`) or as tensors `pca_eigen_vectors` / `pca_means` inside the weights file. Names
are the port's (`features.{0,3,6,8,11,13}`, `embeddings.{0,2,4}`), equal to ours; the PCA tensors become float32
buffers. Without PCA parameters the model keeps an identity PCA and says so.
"""

import argparse
import sys

import numpy as np
import torch

from videozoo.arguments import file_problem
from videozoo.configuration.configuration_vggish import VGGishConfig
from videozoo.conversion import (
    FixtureCheck,
    add_conversion_arguments,
    check_conversion_arguments,
    load_original_weights,
    save_converted,
)
from videozoo.modeling.modeling_vggish import VGGishModel
from videozoo.processors.processing_vggish import VGGishProcessor


def convert(state_dict: dict[str, torch.Tensor], pca: dict | None = None) -> VGGishModel:
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    sd = {k.removeprefix("pproc."): v for k, v in sd.items()}
    pca = dict(pca or {})
    for name in ("pca_eigen_vectors", "pca_means"):
        if name in sd:
            pca[name] = sd.pop(name)
    convs = sorted(int(k.split(".")[1]) for k in sd if k.startswith("features.") and k.endswith(".weight"))
    linears = sorted(int(k.split(".")[1]) for k in sd if k.startswith("embeddings.") and k.endswith(".weight"))
    config = VGGishConfig(
        conv_widths=[sd[f"features.{i}.weight"].shape[0] for i in convs],
        hidden_sizes=[sd[f"embeddings.{i}.weight"].shape[0] for i in linears[:-1]],
        embedding_size=sd[f"embeddings.{linears[-1]}.weight"].shape[0],
    )
    model = VGGishModel(config)
    if pca:
        sd["pca_eigen_vectors"] = torch.as_tensor(np.asarray(pca["pca_eigen_vectors"])).to(torch.float32)
        sd["pca_means"] = torch.as_tensor(np.asarray(pca["pca_means"])).to(torch.float32).reshape(-1)
    else:
        print("no PCA parameters given: `postprocess` uses an identity PCA")
        sd.update({k: v for k, v in model.state_dict().items() if k.startswith("pca_")})
    model.load_state_dict(sd, strict=True)
    return model.eval()


def check_fixture(fixture) -> int:
    check = FixtureCheck(fixture)
    model = convert(check.weights())
    processor = VGGishProcessor()
    # tolerances and measured float32-vs-float64 gaps from the fixture's README
    tolerances = {"input_features": 5e-5, "embeddings": 2e-5}  # gaps 1.9e-6, 1.8e-6
    for item, pca_tolerance in (("a", 2e-4), ("b", 1e-3)):  # pca_applied gaps 1.5e-5, 5.8e-5
        # the fixture holds soundfile's int16 (samples, channels); the processor takes floats (channels, samples)
        waveform = check.inputs[f"{item}.waveform"].t().double() / 32768.0
        rate = int(check.inputs[f"{item}.sample_rate"])
        mono = processor.mono_waveform(waveform, rate)
        check.compare(f"debug.{item}.waveform_16k", torch.from_numpy(mono), 5e-6)  # gap <= 1.5e-8
        check.compare(f"debug.{item}.log_mel", torch.from_numpy(processor.log_mel(mono)), 5e-5)  # gap <= 1.9e-6
        features = processor(waveform, rate)["input_features"]
        check.compare(f"{item}.input_features", features, tolerances["input_features"])
        with torch.no_grad():
            output = model(features, postprocess=True)
            pca_applied = model.apply_pca(output.features)
            numpy_style = model.postprocess(output.features, style="numpy")
        check.compare(f"{item}.embeddings", output.features, tolerances["embeddings"])
        check.compare(f"debug.{item}.pca_applied", pca_applied, pca_tolerance)
        # quantised outputs: exact, except entries within 0.02 of a rounding boundary (fixture README)
        reference = check.outputs[f"debug.{item}.pca_applied"].double()
        level = (reference.clamp(-2, 2) + 2) * 63.75
        for name, ours, boundary in (
            (f"{item}.postprocessed", output.postprocessed, level - level.floor() - 0.5),
            (f"{item}.postprocessed_numpy", numpy_style, level - level.round()),
        ):
            near = (boundary.abs() < 0.02) & (reference.abs() < 2)  # in quantisation levels
            diff = (ours.double() - check.outputs[name].double()).abs()
            bad = int(((diff > 0) & ~near).sum()) + int((diff > 1).sum())
            print(f"{name}: {int((diff > 0).sum())} entries differ by one level, {int(near.sum())} near a boundary")
            if bad:
                check.failures.append(f"{name}: {bad} entries differ away from a rounding boundary")
    return check.result()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "VGGish weights (.safetensors, .safetensors.xz, .pt, .pth)")
    parser.add_argument("--pca_params", help="vggish_pca_params.npz (AudioSet's PCA)")
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args, file_problem("--pca_params", args.pca_params))
    if args.fixture:
        return check_fixture(args.fixture)
    pca = None
    if args.pca_params:
        with np.load(args.pca_params, allow_pickle=False) as npz:
            pca = {name: npz[name] for name in ("pca_eigen_vectors", "pca_means")}
    model = convert(load_original_weights(args.checkpoint), pca)
    save_converted(args.output_dir, model, VGGishProcessor())
    return 0


if __name__ == "__main__":
    sys.exit(main())
