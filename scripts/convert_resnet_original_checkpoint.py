"""Convert torchvision's ResNet ImageNet checkpoint (what v-iashin/video_features' ResNet extractor loads) into
`ResNetFramesModel`, or prove the conversion on the parity fixture.

    python scripts/convert_resnet_original_checkpoint.py --checkpoint resnet50.safetensors --output_dir resnet50-frames
    python scripts/convert_resnet_original_checkpoint.py --fixture ../shared/parity/video_features_resnet

The checkpoint is a safetensors file of torchvision's `resnet50` / `resnet152` state dict (`.safetensors.xz` too);
`fc.*` is dropped (the extractor replaces the classifier by the identity) and `num_batches_tracked` is accepted
with or without. Depth comes from the weights. The fixture run converts the fixture's weights, runs the processor
on the recorded frames and on the recorded mp4 (decoded by the zoo at 5 fps), and compares features, model inputs
and timestamps with the reference's at the fixture's tolerances.
"""

import argparse
import re
import sys

import torch

from videozoo.arguments import positive_problem
from videozoo.configuration.configuration_resnet_frames import ResNetFramesConfig
from videozoo.conversion import (
    FixtureCheck,
    add_conversion_arguments,
    check_conversion_arguments,
    load_original_weights,
    load_strictly,
    save_converted,
)
from videozoo.modeling.modeling_resnet_frames import ResNetFramesModel
from videozoo.processors.processing_resnet_frames import ResNetFramesProcessor


def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision names are ours; the classifier goes."""
    return {
        k.removeprefix("module."): v for k, v in state_dict.items() if not k.removeprefix("module.").startswith("fc.")
    }


def config_from_weights(state_dict: dict[str, torch.Tensor], **overrides) -> ResNetFramesConfig:
    depths = []
    for stage in range(1, 5):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(rf"^layer{stage}\.(\d+)\.", k))}
        if not blocks:
            raise ValueError(f"the checkpoint has no layer{stage}: not a torchvision bottleneck ResNet")
        depths.append(max(blocks) + 1)
    widths = [state_dict[f"layer{stage}.0.conv1.weight"].shape[0] for stage in range(1, 5)]
    if "layer1.0.conv3.weight" not in state_dict:
        raise ValueError("the checkpoint has basic blocks (ResNet-18/34); the extractor supports bottleneck ResNets")
    return ResNetFramesConfig(depths=depths, widths=widths, **overrides)


def convert(state_dict: dict[str, torch.Tensor], **overrides) -> ResNetFramesModel:
    converted = convert_state_dict(state_dict)
    model = ResNetFramesModel(config_from_weights(converted, **overrides))
    return load_strictly(model, converted)


def check_fixture(fixture) -> int:
    check = FixtureCheck(fixture)
    fps = check.config["extraction_fps"]
    model = convert(check.weights(), extraction_fps=fps)
    processor = ResNetFramesProcessor.from_model_config(model.config)
    frames = check.inputs["frames"]  # (N, H, W, 3) as the reference's loader hands them over
    pixel_values = processor(frames)["pixel_values"]
    check.compare("debug.pixel_values_frame0", pixel_values[0], 5e-5)  # measured float64 gap 0 (fixture README)
    with torch.no_grad():
        features = model(pixel_values).features
    check.compare("features", features, 5e-4)  # float32 vs float64 gap 4.7e-5 (fixture README)

    # end to end: the recorded mp4 decoded by the zoo at the extraction rate (lossy re-encode in the reference:
    # only the count, the chosen source frames and the time grid are exact; pixels within a few grey levels)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        clip.write_bytes(check.inputs["video_mp4"].numpy().tobytes())
        decoded = processor.load_video(clip)
        source = ResNetFramesProcessor().load_video(clip).frames
    chosen = [
        int(((decoded.frames[i].float() - source.float()) ** 2).mean(dim=(1, 2, 3)).argmin())
        for i in range(len(decoded.frames))
    ]
    check.exact("debug.source_frame_index", torch.tensor(chosen))
    check.exact("timestamps_ms", torch.from_numpy(decoded.timestamps_sec * 1000.0))
    check.exact("fps", torch.tensor(decoded.fps, dtype=torch.float64))
    grey = (decoded.frames.permute(0, 2, 3, 1).float() - frames.float()).abs().mean().item()
    print(f"decoded frames vs the reference's: mean |diff| {grey:.2f} grey levels (lossy re-encode there)")
    if grey > 3.0:
        check.failures.append(f"decoded frames differ by {grey:.2f} grey levels on average")
    return check.result()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "torchvision ResNet weights (.safetensors, .safetensors.xz, .pt, .pth)")
    parser.add_argument("--extraction_fps", type=float, default=None, help="e.g. 21.5 for SpecVQGAN's features")
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args, positive_problem("--extraction_fps", args.extraction_fps))
    if args.fixture:
        return check_fixture(args.fixture)
    model = convert(load_original_weights(args.checkpoint), extraction_fps=args.extraction_fps)
    save_converted(args.output_dir, model, ResNetFramesProcessor.from_model_config(model.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
