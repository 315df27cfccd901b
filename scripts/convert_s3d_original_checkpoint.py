"""Convert the Kinetics-400 S3D checkpoint of v-iashin/video_features (`S3D_kinetics400_torchified.pt`, kylemin's
port) into `S3DModel`, or prove the conversion on the parity fixture.

    python scripts/convert_s3d_original_checkpoint.py --checkpoint S3D_kinetics400.safetensors --output_dir s3d
    python scripts/convert_s3d_original_checkpoint.py --fixture ../shared/parity/video_features_s3d

The checkpoint is given as safetensors (`.safetensors.xz` too) or as the released `.pt`, read with
`torch.load(weights_only=True)`. Names are the port's (`base.N.…`); they are mapped with the same rules as
SparseSync's S3D trunk (`convert_sparsesync_original_checkpoint._S3D_RULES`); `fc.*` is dropped;
`num_batches_tracked` is accepted with or without.
"""

import argparse
import sys

import torch

from videozoo.configuration.configuration_s3d import S3DConfig
from videozoo.conversion import (
    FixtureCheck,
    add_conversion_arguments,
    check_conversion_arguments,
    load_original_weights,
    load_strictly,
    save_converted,
)
from videozoo.modeling.modeling_s3d import S3DModel
from videozoo.modeling.renaming import rename_key
from videozoo.processors.processing_s3d import S3DProcessor
from videozoo.scripts.convert_sparsesync_original_checkpoint import _S3D_RULES

_RULES = [
    (pattern.replace(r"^vfeat_extractor\.base\.", r"^base\."), new.replace("visual_encoder.", "trunk."))
    for pattern, new in _S3D_RULES
]


def rename(key: str) -> str:
    for pattern, replacement in _RULES:
        renamed = rename_key(key, [(pattern, replacement)])
        if renamed != key:
            return renamed
    raise KeyError(f"no conversion rule for original parameter {key!r}")


def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    return {rename(k): v for k, v in sd.items() if not k.startswith("fc.")}


def convert(state_dict: dict[str, torch.Tensor], **overrides) -> S3DModel:
    converted = convert_state_dict(state_dict)
    width = converted["trunk.0.0.0.weight"].shape[0]
    model = S3DModel(S3DConfig(width_divisor=64 // width, **overrides))
    return load_strictly(model, converted)


def check_fixture(fixture) -> int:
    check = FixtureCheck(fixture)
    cfg = check.config
    model = convert(
        check.weights(), extraction_fps=cfg["extraction_fps"], stack_size=cfg["stack_size"], step_size=cfg["step_size"]
    )
    processor = S3DProcessor.from_model_config(model.config)
    pixel_values = processor(check.inputs["video"])["pixel_values"]
    check.exact("debug.pixel_values_shape", torch.tensor(pixel_values.shape[1:]))
    # pixel tolerances: our transform is the reference's float32 operation sequence (no recorded float64 gap)
    check.compare("debug.pixel_values_frame0", pixel_values[0, :, 0], 1e-6)
    check.compare("debug.pixel_values_frame_last_topleft", pixel_values[0, :, -1, :32, :32], 1e-6)
    stacks, slices = processor.stacks(pixel_values)
    with torch.no_grad():
        output = model(stacks, output_hidden_states=True)
    check.compare("features", output.features, 1e-2)  # float32 vs float64 gap 6.9e-4 (fixture README)
    check.compare("debug.mixed_5c_spatial_mean", output.hidden_states.mean(dim=(3, 4)), 1e-2)  # gap 7.3e-4
    return check.result()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "the S3D weights (.safetensors, .safetensors.xz, .pt, .pth)")
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args)
    if args.fixture:
        return check_fixture(args.fixture)
    model = convert(load_original_weights(args.checkpoint))
    save_converted(args.output_dir, model, S3DProcessor.from_model_config(model.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
