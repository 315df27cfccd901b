"""Convert an Everything-at-Once checkpoint of the authors' code (ninatu/everything_at_once) into
`EverythingAtOnceModel`.

    python scripts/convert_everything_at_once_original_checkpoint.py --checkpoint everything_at_once_tva.pth \
        --config_json configs/pretraining/everything_at_once_tva.json --output_dir everything-at-once

    # prove the conversion on the parity fixture (authors' config + weights + recorded outputs):
    python scripts/convert_everything_at_once_original_checkpoint.py --fixture ../shared/parity/everything_at_once

The authors' checkpoints are PyTorch-Lightning-style dicts holding `state_dict` (and their parsed config); they are
read with `torch.load(weights_only=True)`; non-tensor entries the allow-list does not know are refused, so give the
model section of the config with `--config_json` (their YAML `arch.args`, as JSON) when the file holds more.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from videozoo.arguments import file_problem
from videozoo.configuration import EverythingAtOnceConfig
from videozoo.conversion import (
    add_conversion_arguments,
    check_conversion_arguments,
    load_original_weights,
    report_differences,
    save_converted,
)
from videozoo.modeling import EverythingAtOnceModel
from videozoo.modeling.renaming import rename_key

RENAME_RULES = [(r"^davenet\.", "audio_encoder.")]  # every other name is the reference's
V2_DAVENET = {
    "feat_dim": 40,
    "layers": [2, 2, 1, 1, 1, 1],
    "layer_widths": [128, 128, 256, 512, 1024, 2048, 4096],
    "convsize": 9,
}
OUTPUTS = {  # reference output name -> ours
    "text_embed": "text_embeds",
    "video_embed": "video_embeds",
    "audio_embed": "audio_embeds",
    "tv_embed": "text_video_embeds",
    "ta_embed": "text_audio_embeds",
    "va_embed": "video_audio_embeds",
    "t+v_embed": "text_plus_video_embeds",
    "t+a_embed": "text_plus_audio_embeds",
    "v+a_embed": "video_plus_audio_embeds",
    "text_nonempty_input_mask": "text_nonempty_mask",
    "video_nonempty_input_mask": "video_nonempty_mask",
    "audio_nonempty_input_mask": "audio_nonempty_mask",
    "loss": "loss",
}


def convert_config(original: dict) -> EverythingAtOnceConfig:
    args = original["arch"]["args"] if "arch" in original else original
    for key, supported in (
        ("use_positional_emb", False),
        ("strategy_audio_pooling", "none"),
        ("token_projection", "gated"),
        ("projection", "gated"),
        ("individual_projections", True),
    ):
        if args.get(key, supported) != supported:
            raise ValueError(f"unsupported {key}={args[key]!r} (supported: {supported!r})")
    if args.get("fusion_params", {}).get("use_cls_token", False):
        raise ValueError("the [cls]-token variant is not supported")
    davenet = original.get("davenet_args") or (
        V2_DAVENET
        if args.get("davenet_v2", True)
        else {"feat_dim": 40, "layers": [2, 2, 2, 2], "layer_widths": [128, 128, 256, 512, 1024], "convsize": 9}
    )
    fusion = args.get("fusion_params", {})
    weights = {
        k[: -len("_weight")]: float(v)
        for k, v in original.get("loss", {}).get("args", {}).items()
        if k.endswith("_weight")
    }
    return EverythingAtOnceConfig(
        video_feature_size=args.get("video_embed_dim", 4096),
        text_feature_size=args.get("text_embed_dim", 300),
        num_mel_bins=davenet["feat_dim"],
        audio_stage_depths=davenet["layers"],
        audio_stage_widths=davenet["layer_widths"],
        audio_kernel_width=davenet["convsize"],
        hidden_size=fusion.get("embed_dim", 4096),
        num_hidden_layers=fusion.get("depth", 1),
        num_attention_heads=fusion.get("num_heads", 64),
        mlp_ratio=float(fusion.get("mlp_ratio", 1.0)),
        projection_dim=args.get("projection_dim", 6144),
        compute_fused_embeddings=args.get("cross_modal", True),
        loss_weights=weights or None,
    )


def load_model(state_dict: dict[str, torch.Tensor], config: EverythingAtOnceConfig) -> EverythingAtOnceModel:
    model = EverythingAtOnceModel(config)
    renamed = {}
    for key, value in state_dict.items():
        renamed[rename_key(key.removeprefix("module."), RENAME_RULES)] = value
    model.load_state_dict(renamed, strict=True)
    return model.eval()


# Tolerances of the fixture check, measured on an AMD EPYC (1 and 2 threads) against the fixture (recorded on Intel)
# and for a float64 run of the same weights: every output within 1.9e-6 (float64: 2.4e-6, video_embed), so the
# fixture README's 1e-5 holds at 4x; audio_embed (values to 4.5, a 6-stage CNN) 1.6e-5, and the fixture itself is
# 1.4e-5 from float64: below its README's 1e-5, hence 1e-4 there.
OUTPUT_TOLERANCES = {"audio_embed": 1e-4}


def check_fixture(fixture: Path) -> dict[str, float]:
    original = json.loads((fixture / "original_config.json").read_text())
    model = load_model(load_file(fixture / "original_weights.safetensors"), convert_config(original))
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    with torch.no_grad():
        out = model(
            text_features=inputs["text"],
            video_features=inputs["video"],
            input_features=inputs["audio"],
            text_attention_mask=inputs["text_mask"],
            video_attention_mask=inputs["video_mask"],
            audio_attention_mask=inputs["audio_mask"],
            return_loss=True,
        )
    differences = {}
    for theirs, ours in OUTPUTS.items():
        value = getattr(out, ours)
        if expected[theirs].dtype == torch.bool:
            differences[theirs] = 0.0 if torch.equal(value, expected[theirs]) else float("inf")
        else:
            differences[theirs] = (value - expected[theirs]).abs().max().item()
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(
        parser,
        "the authors' checkpoint (.pth with a 'state_dict')",
        tolerance=1e-5,
        tolerance_help="max |difference| of float outputs (audio_embed: 1e-4)",
    )
    parser.add_argument("--config_json", type=Path, help="the authors' JSON config")
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args, file_problem("--config_json", args.config_json, required=True))
    if args.fixture is not None:
        differences = check_fixture(args.fixture)
        tolerances = {name: OUTPUT_TOLERANCES.get(name, args.tolerance) for name in differences}
        return report_differences({name: (d, tolerances[name]) for name, d in differences.items()})
    model = load_model(
        load_original_weights(args.checkpoint), convert_config(json.loads(args.config_json.read_text()))
    )
    from videozoo.processors import EverythingAtOnceProcessor

    processor = EverythingAtOnceProcessor.default(word_embedding_size=model.config.text_feature_size)
    save_converted(args.output_dir, model, processor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
