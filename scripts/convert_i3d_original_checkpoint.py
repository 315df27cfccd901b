"""Convert the I3D checkpoints v-iashin/video_features loads (hassony2's port: `i3d_rgb.pt`, `i3d_flow.pt`) into
two `I3DModel`s, or prove the conversion on the parity fixture.

    python scripts/convert_i3d_original_checkpoint.py --checkpoint i3d_rgb.safetensors --output_dir i3d-rgb
    python scripts/convert_i3d_original_checkpoint.py --checkpoint i3d_flow.safetensors --output_dir i3d-flow
    python scripts/convert_i3d_original_checkpoint.py --fixture ../shared/parity/video_features_i3d

The checkpoints are given as safetensors (`.safetensors.xz` too) or as the released `.pt` files (read with
`torch.load(weights_only=True)`). Names are the port's and ours; the 400-way
logits unit `conv3d_0c_1x1` is dropped; the released files have no `num_batches_tracked` (accepted with or
without); BatchNorm scales are loaded (1 in the released files). The modality is read from the first kernel's
input channels. The fixture run checks both streams with the processor's transforms (the RAFT step of the flow
stream is checked by the RAFT fixture; here the recorded raw flow is given).
"""

import argparse
import sys

import torch

from videozoo.arguments import positive_problem
from videozoo.configuration.configuration_i3d import I3DConfig
from videozoo.conversion import (
    FixtureCheck,
    add_conversion_arguments,
    check_conversion_arguments,
    load_original_weights,
    load_strictly,
    save_converted,
)
from videozoo.modeling.modeling_i3d import I3DModel
from videozoo.processors.processing_i3d import I3DProcessor


def convert(state_dict: dict[str, torch.Tensor], **overrides) -> I3DModel:
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    sd = {k: v for k, v in sd.items() if not k.startswith("conv3d_0c_1x1.")}
    first = sd["conv3d_1a_7x7.conv3d.weight"]
    modality = {3: "rgb", 2: "flow"}.get(first.shape[1])
    if modality is None:
        raise ValueError(f"the first kernel has {first.shape[1]} input channels: neither RGB (3) nor flow (2)")
    model = I3DModel(I3DConfig(modality=modality, width_divisor=64 // first.shape[0], **overrides))
    return load_strictly(model, sd)


def check_fixture(fixture) -> int:
    check = FixtureCheck(fixture)
    processor = I3DProcessor()
    # tolerances and float32-vs-float64 gaps from the fixture's README
    rgb = convert(check.weights("original_weights.safetensors.xz"))
    inputs = processor.rgb_inputs(check.inputs["rgb.frames"].float())
    check.compare("debug.rgb.pixel_values_frame0_topleft", inputs[0, :, 0, :16, :16], 1e-5)  # gap 4.7e-8
    check.exact("debug.rgb.input_shape", torch.tensor(inputs.shape))
    with torch.no_grad():
        output = rgb(inputs, output_hidden_states=True)
    check.compare("rgb.features", output.features, 2e-4)  # gap 1.9e-5
    check.compare("debug.rgb.mixed_5c_spatial_mean", output.hidden_states.mean(dim=(3, 4))[0], 5e-4)  # 2.3e-5

    flow = convert(check.weights("original_weights_flow.safetensors.xz"))
    inputs = processor.flow_inputs(check.inputs["flow.raw_flow"].float())
    levels = (inputs[0, :, :2].permute(1, 0, 2, 3) + 1) * 255 / 2
    check.exact("debug.flow.levels_frames01", levels.round())
    check.exact("debug.flow.input_shape", torch.tensor(inputs.shape))
    with torch.no_grad():
        output = flow(inputs, output_hidden_states=True)
    check.compare("flow.features", output.features, 2e-4)  # gap 1.9e-5
    check.compare("debug.flow.mixed_5c_spatial_mean", output.hidden_states.mean(dim=(3, 4))[0], 2e-4)  # gap 2e-5
    return check.result()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "I3D weights of one stream (.safetensors, .safetensors.xz, .pt, .pth)")
    parser.add_argument("--stack_size", type=int, default=64)
    parser.add_argument("--step_size", type=int, default=64)
    parser.add_argument("--extraction_fps", type=float, default=None)
    args = parser.parse_args(argv)
    check_conversion_arguments(
        parser,
        args,
        positive_problem("--stack_size", args.stack_size),
        positive_problem("--step_size", args.step_size),
        positive_problem("--extraction_fps", args.extraction_fps),
    )
    if args.fixture:
        return check_fixture(args.fixture)
    sampling = {"stack_size": args.stack_size, "step_size": args.step_size, "extraction_fps": args.extraction_fps}
    model = convert(load_original_weights(args.checkpoint), **sampling)
    save_converted(args.output_dir, model, I3DProcessor.from_model_config(model.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
