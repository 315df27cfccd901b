"""Convert a BMT captioner checkpoint of the authors' code (v-iashin/BMT, `BiModalTransformer`) into
`BMTForConditionalGeneration`.

    python scripts/convert_bmt_original_checkpoint.py --checkpoint best_cap_model.pt --output_dir bmt-captioner

    # prove the conversion on a parity fixture (authors' random weights + inputs + recorded outputs):
    python scripts/convert_bmt_original_checkpoint.py --fixture ../shared/parity/bmt

The authors' checkpoints pickle a `Config` object next to the weights. They are read with
`torch.load(weights_only=True)`; the `Config` classes are allow-listed through stand-in classes that only hold
attributes, so no code from the checkpoint is executed and the reference repository need not be importable.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from videozoo.configuration.configuration_bmt import BMTConfig
from videozoo.conversion import add_conversion_arguments, check_conversion_arguments, save_converted
from videozoo.modeling.modeling_bmt import BMTForConditionalGeneration, BMTForEventProposal, label_smoothed_kl
from videozoo.modeling.renaming import rename_key

# Applied in order, every matching rule rewrites the key (after the DataParallel `module.` prefix is stripped).
RENAME_RULES: list[tuple[str, str]] = [
    (r"^emb_C\.embedder\.weight$", "word_embeddings.weight"),
    (r"^generator\.linear\.", "lm_head."),
    (r"^encoder\.encoder_AV\.layers\.(\d+)\.", r"encoder.layers.\1."),
    (r"\.self_att_M1\.", ".audio_self_attn."),
    (r"\.self_att_M2\.", ".video_self_attn."),
    (r"\.bi_modal_att_M1\.", ".audio_cross_attn."),
    (r"\.bi_modal_att_M2\.", ".video_cross_attn."),
    (r"\.feed_forward_M1\.", ".audio_ffn."),
    (r"\.feed_forward_M2\.", ".video_ffn."),
    (r"\.res_layers_M1\.(\d)\.norm\.", r".audio_norms.\1."),
    (r"\.res_layers_M2\.(\d)\.norm\.", r".video_norms.\1."),
    (r"^decoder\.decoder\.layers\.(\d+)\.", r"decoder_layers.\1."),
    (r"\.res_layer_self_att\.norm\.", ".self_attn_norm."),
    (r"\.self_att\.", ".self_attn."),
    (r"\.res_layer_enc_att_A\.norm\.", ".audio_cross_norm."),
    (r"\.res_layer_enc_att_V\.norm\.", ".video_cross_norm."),
    (r"\.enc_att_A\.", ".audio_cross_attn."),
    (r"\.enc_att_V\.", ".video_cross_attn."),
    (r"\.bridge\.norm\.", ".bridge_norm."),
    (r"\.bridge\.linear\.", ".bridge_proj."),
    (r"\.res_layer_ff\.norm\.", ".ffn_norm."),
    (r"\.feed_forward\.", ".ffn."),
    (r"\.linear_Q2d\.", ".q_proj."),
    (r"\.linear_K2d\.", ".k_proj."),
    (r"\.linear_V2d\.", ".v_proj."),
    (r"\.linear_d2Q\.", ".out_proj."),
    (r"^detection_layers_A\.", "audio_heads."),
    (r"^detection_layers_V\.", "video_heads."),
    (r"\.conv_layers\.(\d+)\.", r".net.\1."),
]


def rename(key: str) -> str:
    return rename_key(key.removeprefix("module."), RENAME_RULES)


def convert_state_dict(original: dict[str, torch.Tensor], head_dropout: bool = True) -> dict[str, torch.Tensor]:
    converted = {}
    for key, value in original.items():
        new = rename(key)
        if not head_dropout and (m := re.search(r"_heads\.\d+\.net\.(\d+)\.", new)):
            # without dropout the reference Sequential is (Conv, ReLU)*, ours always keeps (Conv, Dropout, ReLU)*
            new = new[: m.start(1)] + str(int(m.group(1)) // 2 * 3) + new[m.end(1) :]
        if new in converted:
            raise KeyError(f"two original parameters map to {new!r}")
        converted[new] = value
    return converted


def config_from_original(cfg: dict, vocab_size: int) -> BMTConfig:
    if cfg.get("modality", "audio_video") != "audio_video":
        raise ValueError(f"only the bi-modal captioner is supported, got modality {cfg.get('modality')!r}")
    if cfg.get("use_linear_embedder", False):
        raise ValueError("checkpoints trained with --use_linear_embedder are not supported")
    return BMTConfig(
        vocab_size=int(vocab_size),
        audio_feature_size=int(cfg["d_aud"]),
        video_feature_size=int(cfg["d_vid"]),
        attention_hidden_size=int(cfg["d_model"]),
        decoder_hidden_size=int(cfg["d_model_caps"]),
        num_attention_heads=int(cfg["H"]),
        num_encoder_layers=int(cfg["N"]),
        num_decoder_layers=int(cfg["N"]),
        audio_intermediate_size=int(cfg["d_ff_audio"]),
        video_intermediate_size=int(cfg["d_ff_video"]),
        decoder_intermediate_size=int(cfg["d_ff_caps"]),
        hidden_dropout_prob=float(cfg["dout_p"]),
        attention_dropout=float(cfg["dout_p"]),
        freeze_word_embeddings=not bool(cfg.get("unfreeze_word_emb", False)),
        label_smoothing=float(cfg.get("smoothing", 0.7)),
        max_caption_length=int(cfg.get("max_len", 30)),
        pad_token_id=int(cfg.get("pad_idx", 1)),
        bos_token_id=int(cfg.get("start_idx", 2)),
        eos_token_id=int(cfg.get("end_idx", 3)),
        decoder_start_token_id=int(cfg.get("start_idx", 2)),
        unk_token_id=int(cfg.get("unk_idx", 0)),
    )


def proposal_config_from_original(cfg: dict, anchors: dict) -> BMTConfig:
    if cfg.get("layer_norm", False):
        raise ValueError("proposal heads with --layer_norm are not supported")
    base = config_from_original({**cfg, "d_model_caps": 300, "d_ff_caps": 1200}, vocab_size=10)
    strides = cfg.get("strides", {})
    pad = cfg.get("pad_feats_up_to", {})
    kernels = cfg.get("kernel_sizes", {})
    encoder_fields = [
        "audio_feature_size",
        "video_feature_size",
        "attention_hidden_size",
        "num_attention_heads",
        "num_encoder_layers",
        "audio_intermediate_size",
        "video_intermediate_size",
        "hidden_dropout_prob",
        "attention_dropout",
    ]
    return BMTConfig(
        **{k: getattr(base, k) for k in encoder_fields},
        audio_anchor_lengths=[float(a) for a in anchors["audio"]],
        video_anchor_lengths=[float(a) for a in anchors["video"]],
        audio_kernel_sizes=[int(k) for k in kernels.get("audio", cfg.get("kernel_sizes_audio", []))],
        video_kernel_sizes=[int(k) for k in kernels.get("video", cfg.get("kernel_sizes_video", []))],
        audio_proposal_hidden_sizes=[int(k) for k in cfg["conv_layers_audio"]],
        video_proposal_hidden_sizes=[int(k) for k in cfg["conv_layers_video"]],
        audio_feature_stride=float(strides.get("audio", cfg.get("audio_feature_timespan", 0.96))),
        video_feature_stride=float(strides.get("video", cfg["feature_timespan_in_fps"] / cfg["fps_at_extraction"])),
        max_audio_length=int(pad.get("audio", cfg.get("pad_audio_feats_up_to", 800))),
        max_video_length=int(pad.get("video", cfg.get("pad_video_feats_up_to", 300))),
        object_loss_weight=float(cfg.get("obj_coeff", 1)),
        no_object_loss_weight=float(cfg.get("noobj_coeff", 100)),
    )


def build_proposal_model(cfg: dict, anchors: dict, original_weights: dict[str, torch.Tensor]) -> BMTForEventProposal:
    model = BMTForEventProposal(proposal_config_from_original(cfg, anchors))
    converted = convert_state_dict(original_weights, head_dropout=float(cfg["dout_p"]) > 0)
    result = model.load_state_dict(converted, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(f"conversion mismatch: missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return model.eval()


def build_model(cfg: dict, vocab_size: int, original_weights: dict[str, torch.Tensor]) -> BMTForConditionalGeneration:
    model = BMTForConditionalGeneration(config_from_original(cfg, vocab_size))
    converted = convert_state_dict(original_weights)
    result = model.load_state_dict(converted, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(f"conversion mismatch: missing {result.missing_keys}, unexpected {result.unexpected_keys}")
    return model.eval()


# --- reading the authors' pickled checkpoints without executing code ------------------------------------------


class _OriginalConfig:
    """Attribute holder standing in for the authors' pickled `Config` classes."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {})


def _stand_in(module: str) -> type:
    return type("Config", (_OriginalConfig,), {"__module__": module, "__qualname__": "Config"})


STAND_INS = [_stand_in(m) for m in ("utilities.config_constructor", "__main__", "main")]


def load_original_checkpoint(path: str | Path) -> dict:
    """`torch.load(weights_only=True)` with the `Config` classes allow-listed as plain attribute holders."""
    with torch.serialization.safe_globals(STAND_INS):
        return torch.load(path, map_location="cpu", weights_only=True)


# --- fixture check --------------------------------------------------------------------------------------------


def check_proposal_fixture(folder: Path, cfg: dict) -> int:
    model = build_proposal_model(cfg, cfg["anchors"], load_file(folder / "original_weights.safetensors"))
    inputs = load_file(folder / "inputs.safetensors")
    expected = load_file(folder / "outputs.safetensors")
    with torch.no_grad():
        out = model(
            inputs["audio"],
            inputs["rgb"] + inputs["flow"],
            inputs["audio_mask"],
            inputs["video_mask"],
            event_targets=inputs["targets"],
        )
    failures = []

    def report(name, got, ref, atol, rtol, scaled=False):
        diff = (got - ref).abs()
        bound = atol * ref.abs().clamp_min(1) if scaled else atol + rtol * ref.abs()
        ok = bool((diff <= bound).all())
        ratio = (diff / bound).max().item()
        print(f"{name:>28}: max abs diff {diff.max().item():.3e} ({ratio:.2f} of tolerance)  {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(name)

    for i, raw in enumerate(out.audio_head_logits):
        report(f"raw_audio_heads.{i}", raw, expected[f"raw_audio_heads.{i}"], 1e-5, 0)
    for i, raw in enumerate(out.video_head_logits):
        report(f"raw_video_heads.{i}", raw, expected[f"raw_video_heads.{i}"], 1e-5, 0)
    # Measured on an AMD EPYC (1 and 2 threads) against the fixture (Intel) / a float64 run against the fixture:
    # raw heads 8.3e-7 / 9.3e-7; encoder outputs (values to 11.5) 2.9e-6 / 4.2e-6, which the fixture README's 1e-5
    # covers only 2.4x: 3e-5 there; predictions 1.5e-5 / 8.9e-6 absolute at values to 40.5; loss terms <= 2.4e-7 /
    # 6.9e-7.
    report("encoder_audio_out", out.encoder_audio_hidden_state, expected["encoder_audio_out"], 3e-5, 0)
    report("encoder_video_out", out.encoder_video_hidden_state, expected["encoder_video_out"], 3e-5, 0)
    ref = expected["predictions"]
    # seconds pass through exp(): |diff| <= 1e-5 * max(1, |reference|)
    report("predictions (centre, length)", out.proposals[..., :2], ref[..., :2], 1e-5, 0, scaled=True)
    report("predictions (confidence)", out.proposals[..., 2], ref[..., 2], 1e-5, 0)
    report("loss", out.loss, expected["loss"], 1e-5, 1e-6)
    names = ["loss_x", "loss_w", "loss_conf_obj", "loss_conf_noobj"]
    for modality, terms in (("audio", out.audio_loss_terms), ("video", out.video_loss_terms)):
        for i, name in enumerate(names):
            report(f"loss_{modality}.{name}", terms[i], expected[f"loss_{modality}.{name}"], 1e-5, 1e-6)
    return 1 if failures else 0


def check_fixture(folder: Path, tolerance: float = 2e-5) -> int:
    """Captioning fixture. Measured on an AMD EPYC (1 and 2 threads) against the fixture (Intel) / a float64 run
    against the fixture: log_probs 2.9e-6 / 1.9e-6 (values to 8.1), encoder outputs 2.4e-6 / 2.4e-6, loss 2.4e-7 /
    3.3e-8. The fixture README's 1e-5 is 3.5x the worst, hence 2e-5 (7x); the README's mistake that moves the
    outputs by about 5e-5 stays above it."""
    cfg = json.loads((folder / "original_config.json").read_text())
    if "kernel_sizes" in cfg or "anchors" in cfg:
        return check_proposal_fixture(folder, cfg)
    model = build_model(cfg, cfg["trg_voc_size"], load_file(folder / "original_weights.safetensors"))
    inputs = load_file(folder / "inputs.safetensors")
    expected = load_file(folder / "outputs.safetensors")
    audio, video = inputs["audio"], inputs["rgb"] + inputs["flow"]
    am, vm, caption = inputs["audio_mask"], inputs["video_mask"], inputs["caption"]
    failures = []

    def report(name, diff, ok):
        print(f"{name:>20}: max abs diff {diff:.3e}  {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(name)

    with torch.no_grad():
        out = model(audio, video, am, vm, decoder_input_ids=caption[:, :-1])
        enc = model.get_encoder()(audio, video, am, vm)
        loss = label_smoothed_kl(out.logits, caption[:, 1:], cfg["smoothing"], cfg["pad_idx"])
        for name, got in (("log_probs", out.logits), ("loss", loss)):
            diff = (got - expected[name]).abs().max().item()
            report(name, diff, diff <= tolerance)
        for name, got, mask in (
            ("encoder_audio_out", enc.last_hidden_state, am),
            ("encoder_video_out", enc.video_hidden_state, vm),
        ):
            diff = (got - expected[name])[mask].abs().max().item()
            report(name, diff, diff <= tolerance)
        generated = model.generate(
            audio_features=audio,
            video_features=video,
            audio_attention_mask=am,
            video_attention_mask=vm,
            max_new_tokens=cfg["max_len"],
            do_sample=False,
            num_beams=1,
        )
    # The reference keeps extending rows that already emitted EOS; compare up to each row's first EOS.
    reference = expected["greedy_tokens"]
    mismatches = 0
    for row_ref, row_got in zip(reference.tolist(), generated.tolist()):
        stop = row_ref.index(cfg["end_idx"]) + 1 if cfg["end_idx"] in row_ref else len(row_ref)
        mismatches += row_ref[:stop] != row_got[:stop]
    report("greedy_tokens", float(mismatches), mismatches == 0)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "the authors' best_cap_model.pt or best_prop_model.pt")
    args = parser.parse_args(argv)
    check_conversion_arguments(parser, args)
    if args.fixture:
        return check_fixture(args.fixture)
    checkpoint = load_original_checkpoint(args.checkpoint)
    cfg = vars(checkpoint["config"])
    state = checkpoint["model_state_dict"]
    if "anchors" in checkpoint:  # best_prop_model.pt
        model = build_proposal_model(cfg, checkpoint["anchors"], state)
    else:
        model = build_model(cfg, checkpoint["trg_voc_size"], state)
    save_converted(args.output_dir, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
