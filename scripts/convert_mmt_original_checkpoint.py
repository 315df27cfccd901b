"""Convert an MMT checkpoint of the authors' code (gabeur/mmt, a `.pth` of `CENet`) into `MMTModel`.

    python scripts/convert_mmt_original_checkpoint.py --checkpoint MSRVTT_jsfusion_trainval.pth \
        --vocab_file bert-base-cased/vocab.txt --output_dir mmt-msrvtt

    # prove the conversion on a parity fixture (authors' config + weights + recorded outputs):
    python scripts/convert_mmt_original_checkpoint.py --fixture ../shared/parity/mmt

The authors' `.pth` pickles their `ConfigParser` object next to the state dict. It is read with
`torch.load(weights_only=True)` and an allow-list in which that class (and the paths it holds) are inert
stand-ins, so no code from the file runs; the JSON config is then taken from the stand-in's `_config`.
"""

import argparse
import json
import pathlib
import re
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import BertConfig

from videozoo.arguments import file_problem
from videozoo.configuration import MMTConfig
from videozoo.configuration.configuration_mmt import MMT_EXPERT_TABLE
from videozoo.conversion import (
    add_conversion_arguments,
    check_conversion_arguments,
    report_differences,
    save_converted,
)
from videozoo.modeling import MMTModel

# Ordered rename rules: the first matching pattern wins; a replacement of None drops the tensor.
RENAME_RULES: list[tuple[str, str | None]] = [
    (r"^txt_bert\.embeddings\.position_ids$", None),  # a buffer old transformers saved
    (r"^txt_bert\.pooler\..*", None),  # unused by MMT
    (r"^vid_bert\.pooler\..*", None),  # unused by MMT
    (r"^txt_bert\.(.*)$", r"text_model.\1"),
    (r"^vid_bert\.embeddings\.position_embeddings\.weight$", "video_model.embeddings.temporal_embeddings.weight"),
    (r"^vid_bert\.embeddings\.token_type_embeddings\.weight$", "video_model.embeddings.expert_embeddings.weight"),
    (r"^vid_bert\.embeddings\.layer_norm\.(weight|bias)$", r"video_model.embeddings.LayerNorm.\1"),
    (r"^vid_bert\.encoder\.(.*)\.layer_norm\.(weight|bias)$", r"video_model.encoder.\1.LayerNorm.\2"),
    (r"^vid_bert\.encoder\.(.*)$", r"video_model.encoder.\1"),
    (r"^video_dim_reduce\.(\w+)\.fc\.(weight|bias)$", r"expert_projections.\1.fc.\2"),
    (r"^text_(?:GU|gu)\.(\w+)\.(.*)$", r"text_heads.\1.\2"),  # `text_gu` before the Nov-2020 fix
]
MIXTURE_KEY = re.compile(r"^moe_fc_txt\.(\w+)\.(weight|bias)$")

_TEMPORAL = {"tint": "seconds", "ordr": "order", "type": "unknown", "none": "none"}
_AGG = {"mxp": "max", "mnp": "mean", "sep": "zero"}
_TEXT_PROJECTION = {"gbn": "gated_bn", "gem": "gated", "lin": "linear"}
_TEXT_WEIGHTING = {"emb": "linear_softmax", "none": "uniform"}


def _choice(table: dict[str, str], value: str, field: str) -> str:
    if value not in table:
        raise ValueError(f"unsupported {field}={value!r} in the original config (supported: {sorted(table)})")
    return table[value]


def convert_config(original: dict, text_config: dict | None = None) -> MMTConfig:
    """Authors' JSON config (sections `experts`, `arch`, `loss`) -> `MMTConfig`."""
    args = original["arch"]["args"]
    experts = sorted(original["experts"]["modalities"])  # the reference sorts expert names
    sizes = {name: MMT_EXPERT_TABLE[name][0] for name in experts}
    if "face" in sizes:
        sizes["face"] = original["experts"].get("face_dim", sizes["face"])
    video = args["vid_bert_params"]
    if args.get("vid_cont", "bert") != "bert":
        raise ValueError(f"only vid_cont='bert' (the transformer) is supported, got {args['vid_cont']!r}")
    if args.get("vid_wgh", "none") != "none":
        raise ValueError(f"only vid_wgh='none' (every published config) is supported, got {args['vid_wgh']!r}")
    if args.get("vid_inp", "both") not in ("both", "agg"):
        raise ValueError(f"unsupported vid_inp={args['vid_inp']!r} (supported: 'both', 'agg')")
    if args.get("same_dim", 512) != video["hidden_size"]:
        raise ValueError("same_dim must equal vid_bert_params.hidden_size")
    text_aggregation = args.get("txt_agg", "bertftn")
    if not text_aggregation.startswith("bert"):
        raise ValueError(f"only BERT caption encoders are supported, got txt_agg={text_aggregation!r}")
    pooling = {"mxp": "max", "mnp": "mean"}.get(text_aggregation[-3:], "cls")
    text = dict(text_config) if text_config is not None else {}
    dropout = args.get("txt_bert_params", {})
    text.update({k: dropout[k] for k in ("hidden_dropout_prob", "attention_probs_dropout_prob") if k in dropout})
    return MMTConfig(
        text_config=BertConfig(**text) if text_config is not None else text or None,
        expert_names=experts,
        expert_feature_sizes=sizes,
        expert_type_ids={name: MMT_EXPERT_TABLE[name][1] for name in experts},
        hidden_size=video["hidden_size"],
        num_hidden_layers=video["num_hidden_layers"],
        num_attention_heads=video["num_attention_heads"],
        intermediate_size=video["intermediate_size"],
        hidden_act=video.get("hidden_act", "gelu"),
        hidden_dropout_prob=video["hidden_dropout_prob"],
        attention_probs_dropout_prob=video["attention_probs_dropout_prob"],
        max_temporal_positions=video["max_position_embeddings"],
        type_vocab_size=video["type_vocab_size"],
        layer_norm_eps=video.get("layer_norm_eps", 1e-12),
        initializer_range=video.get("initializer_range", 0.02),
        temporal_encoding=_choice(_TEMPORAL, args.get("pos_enc", "tint"), "pos_enc"),
        agg_init=_choice(_AGG, args.get("out_tok", "mxp"), "out_tok"),
        use_feature_tokens=args.get("vid_inp", "both") == "both",
        text_pooling=pooling,
        text_projection=_choice(_TEXT_PROJECTION, args.get("txt_pro", "gbn"), "txt_pro"),
        text_weighting=_choice(_TEXT_WEIGHTING, args.get("txt_wgh", "emb"), "txt_wgh"),
        renormalize_missing_modalities=not args.get("keep_missing_modalities", True),
        ranking_margin=original.get("loss", {}).get("args", {}).get("margin", 0.05),
    )


def text_config_from_weights(state_dict: dict[str, torch.Tensor]) -> dict:
    """Infer the caption BERT's shape from its weights (the authors' checkpoints embed the full BERT)."""
    word = state_dict["txt_bert.embeddings.word_embeddings.weight"]
    layers = {int(m.group(1)) for k in state_dict if (m := re.match(r"txt_bert\.encoder\.layer\.(\d+)\.", k))}
    hidden = word.shape[1]
    return dict(
        vocab_size=word.shape[0],
        hidden_size=hidden,
        num_hidden_layers=len(layers),
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=state_dict["txt_bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
        max_position_embeddings=state_dict["txt_bert.embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state_dict["txt_bert.embeddings.token_type_embeddings.weight"].shape[0],
    )


def convert_state_dict(state_dict: dict[str, torch.Tensor], config: MMTConfig) -> dict[str, torch.Tensor]:
    converted, mixture = {}, {}
    for key, tensor in state_dict.items():
        if match := MIXTURE_KEY.match(key):
            mixture[(match.group(1), match.group(2))] = tensor
            continue
        for pattern, replacement in RENAME_RULES:
            if re.match(pattern, key):
                if replacement is not None:
                    converted[re.sub(pattern, replacement, key)] = tensor
                break
        else:
            raise KeyError(f"no conversion rule for original parameter {key!r}")
    if mixture:  # one Linear(h -> 1) per expert, stacked in the config's expert order
        for part in ("weight", "bias"):
            rows = [mixture[(name, part)] for name in config.expert_names]
            converted[f"text_mixture.{part}"] = torch.cat(rows, dim=0)
    return converted


def load_model(state_dict: dict[str, torch.Tensor], config: MMTConfig) -> MMTModel:
    model = MMTModel(config)
    converted = convert_state_dict(state_dict, config)
    if config.temporal_encoding == "none":  # the reference keeps an unused temporal table; we build none
        converted.pop("video_model.embeddings.temporal_embeddings.weight", None)
    result = model.load_state_dict(converted, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(f"conversion mismatch: missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return model.eval()


class _InertObject:
    """Stand-in for classes pickled in the authors' checkpoints (their ConfigParser): keeps state, runs nothing."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


def _inert_path(*parts):
    return str(pathlib.PurePosixPath(*parts))


def load_original_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Read the authors' `.pth` safely: (state_dict, JSON config or None)."""
    safe = [
        (_InertObject, "parse_config.ConfigParser"),
        (_inert_path, "pathlib.PosixPath"),
        (_inert_path, "pathlib.WindowsPath"),
        (_inert_path, "pathlib.Path"),
    ]
    with torch.serialization.safe_globals(safe):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = checkpoint["state_dict"] if "state_dict" in checkpoint else checkpoint
    config = checkpoint.get("config")
    config = getattr(config, "__dict__", {}).get("_config", config if isinstance(config, dict) else None)
    return state_dict, (json.loads(json.dumps(config)) if config is not None else None)


def _fixture_inputs(inputs: dict[str, torch.Tensor], config: MMTConfig) -> dict:
    def per_expert(prefix):
        return {name: inputs[f"{prefix}.{name}"] for name in config.expert_names}

    pooled = "features_maxpool" if config.agg_init == "max" else "features_avgpool"
    return dict(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        expert_features=per_expert("features"),
        expert_times=per_expert("features_t"),
        expert_attention_mask=per_expert("features_ind"),
        expert_pooled=per_expert(pooled),
    )


def check_fixture(fixture: Path, tolerance: float | None = None) -> dict[str, float]:
    """Convert a parity fixture, run it, and return the max abs difference per recorded output."""
    original = json.loads((fixture / "original_config.json").read_text())
    state_dict = load_file(fixture / "original_weights.safetensors")
    config = convert_config(original, original.get("txt_bert_config") or text_config_from_weights(state_dict))
    model = load_model(state_dict, config)
    inputs = _fixture_inputs(load_file(fixture / "inputs.safetensors"), config)
    expected = load_file(fixture / "outputs.safetensors")
    with torch.no_grad():
        out = model(**inputs, return_loss=True)
        renormalized = model.compute_similarity(
            out.text_embeds,
            out.text_weights,
            out.video_embeds,
            out.video_availability,
            renormalize_missing_modalities=True,
        )
    ours = {
        "cross_view_conf_matrix": out.logits_per_text,
        "text_embds": out.text_embeds,
        "vid_embds": out.video_embeds,
        "text_weights": out.text_weights,
        "loss": out.loss,
        "cross_view_conf_matrix_renorm": renormalized,
    }
    theirs = {
        **{k: expected[k] for k in ("cross_view_conf_matrix", "vid_embds", "loss")},
        "text_embds": expected["text_embds"][:, :, 0],  # (B, N, C, d) with C = 1
        "text_weights": expected["text_weights"][:, 0],  # (B, C, N)
    }
    if "cross_view_conf_matrix_renorm" in expected:
        theirs["cross_view_conf_matrix_renorm"] = expected["cross_view_conf_matrix_renorm"]
    return {name: (ours[name] - theirs[name]).abs().max().item() for name in theirs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "the authors' .pth file", tolerance=1e-5)
    parser.add_argument("--config_json", type=Path, help="the authors' JSON config, if the .pth lacks it")
    parser.add_argument("--vocab_file", type=Path, help="bert-base-cased vocab.txt, to save a processor too")
    args = parser.parse_args(argv)
    check_conversion_arguments(
        parser, args, file_problem("--config_json", args.config_json), file_problem("--vocab_file", args.vocab_file)
    )

    if args.fixture is not None:
        differences = check_fixture(args.fixture)
        return report_differences({name: (d, args.tolerance) for name, d in differences.items()})

    state_dict, original = load_original_checkpoint(args.checkpoint)
    if args.config_json is not None:
        original = json.loads(args.config_json.read_text())
    if original is None:
        parser.error("the checkpoint holds no config; give --config_json")
    config = convert_config(original, text_config_from_weights(state_dict))
    model = load_model(state_dict, config)
    parts = [model]
    if args.vocab_file is not None:
        from videozoo.processors import MMTProcessor

        parts.append(MMTProcessor.from_vocab_file(args.vocab_file, expert_names=config.expert_names, lowercase=True))
    save_converted(args.output_dir, *parts)
    print(f"{type(model).__name__}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
