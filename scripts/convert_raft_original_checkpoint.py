"""Convert a RAFT checkpoint of princeton-vl's code (what v-iashin/video_features loads: `raft-sintel.pth`,
`raft-kitti.pth`, saved from `DataParallel`) into `RAFTModel`, or prove the conversion on the parity fixture.

    python scripts/convert_raft_original_checkpoint.py --checkpoint raft-sintel.safetensors --output_dir raft-sintel
    python scripts/convert_raft_original_checkpoint.py --fixture ../shared/parity/video_features_raft

The checkpoint is given as safetensors (`.safetensors.xz` too) or as the released `.pth`, read with
`torch.load(weights_only=True)`. As the reference's loader (`dp_state_to_normal`) the `module.` prefix is stripped
and keys without it are dropped. The residual blocks' `norm3` is the same module as
`downsample.1` in the reference (both names are saved); it is checked equal and dropped. The rest is a renaming to
torchvision's RAFT modules (`_RULES`).
"""

import argparse
import re
import sys

import torch

from videozoo.configuration.configuration_raft import RAFTConfig
from videozoo.conversion import (
    FixtureCheck,
    add_conversion_arguments,
    check_conversion_arguments,
    load_original_weights,
    save_converted,
)
from videozoo.modeling.modeling_raft import RAFTModel, input_padding
from videozoo.modeling.renaming import rename_key
from videozoo.processors.processing_raft import RAFTProcessor

_RULES = [
    (r"^fnet\.", "raft.feature_encoder."),
    (r"^cnet\.", "raft.context_encoder."),
    (r"(encoder)\.conv1\.", r"\1.convnormrelu.0."),
    (r"(encoder)\.norm1\.", r"\1.convnormrelu.1."),
    (r"(encoder)\.conv2\.", r"\1.conv."),
    (r"(layer\d\.\d)\.conv([12])\.", r"\1.convnormrelu\2.0."),
    (r"(layer\d\.\d)\.norm([12])\.", r"\1.convnormrelu\2.1."),
    (r"^update_block\.encoder\.convc([12])\.", r"raft.update_block.motion_encoder.convcorr\1.0."),
    (r"^update_block\.encoder\.convf([12])\.", r"raft.update_block.motion_encoder.convflow\1.0."),
    (r"^update_block\.encoder\.conv\.", r"raft.update_block.motion_encoder.conv.0."),
    (r"^update_block\.gru\.conv([zrq])([12])\.", r"raft.update_block.recurrent_block.convgru\2.conv\1."),
    (r"^update_block\.flow_head\.", r"raft.update_block.flow_head."),
    (r"^update_block\.mask\.0\.", r"raft.mask_predictor.convrelu.0."),
    (r"^update_block\.mask\.2\.", r"raft.mask_predictor.conv."),
]


def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sd = {k.removeprefix("module."): v for k, v in state_dict.items() if k.startswith("module")}
    if not sd:
        raise ValueError("no key starts with 'module.': not a RAFT checkpoint saved from DataParallel")
    converted = {}
    for key, tensor in sd.items():
        if re.search(r"layer\d\.\d\.norm3\.", key):  # an alias of downsample.1
            twin = sd.get(key.replace("norm3", "downsample.1"))
            if twin is None or not torch.equal(twin, tensor):
                raise ValueError(f"{key} differs from its downsample.1 twin: unexpected checkpoint")
            continue
        converted[rename_key(key, _RULES)] = tensor
    return converted


def convert(state_dict: dict[str, torch.Tensor], **overrides) -> RAFTModel:
    converted = convert_state_dict(state_dict)
    model = RAFTModel(RAFTConfig(**overrides))
    model.load_state_dict(converted, strict=True)
    return model.eval()


def check_fixture(fixture) -> int:
    check = FixtureCheck(fixture)
    forward = check.config["RAFT"]["forward"]
    model = convert(check.weights(), num_flow_updates=forward["iters"], pad_mode=check.config["InputPadder"]["mode"])
    processor = RAFTProcessor(side_size=check.config["side_size"])
    frames = processor(check.inputs["frames"])["pixel_values"]
    first, second = RAFTProcessor.pairs(frames, check.config["batch_size"])[0]
    with torch.no_grad():
        output = model(first, second)
        # intermediates of the first pair, on the padded and normalised frames
        padding = input_padding(*frames.shape[-2:], model.config.pad_mode)
        padded = 2 * (torch.nn.functional.pad(frames[:2], padding, mode="replicate") / 255.0) - 1
        fmaps = model.raft.feature_encoder(padded)
        context = model.raft.context_encoder(padded[:1])
        corr = model.raft.corr_block
        corr.build_pyramid(fmaps[:1], fmaps[1:])
        h, w = fmaps.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        coords = torch.stack([xs, ys]).float()[None]
        lookup = corr.index_pyramid(coords)
    # tolerances and float32-vs-float64 gaps from the fixture's README
    check.compare("flow", output.flow, 5e-4)  # gap 2.1e-5
    check.exact("debug.padding", output.padding)
    check.compare("debug.pair0.fmap1", fmaps[:1], 1e-4)  # gap 7e-6
    check.compare("debug.pair0.fmap2", fmaps[1:], 1e-4)  # gap 6.9e-6
    check.compare("debug.pair0.cnet", context, 5e-4)  # gap 3.2e-5
    check.compare("debug.pair0.corr_lookup_iter0", lookup, 5e-4)  # gap 1.5e-5
    return check.result()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "RAFT weights (.safetensors, .safetensors.xz, or the released .pt/.pth)")
    parser.add_argument("--pad_mode", default="sintel", choices=["sintel", "kitti"])
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args)
    if args.fixture:
        return check_fixture(args.fixture)
    model = convert(load_original_weights(args.checkpoint), pad_mode=args.pad_mode)
    save_converted(args.output_dir, model, RAFTProcessor.from_model_config(model.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
