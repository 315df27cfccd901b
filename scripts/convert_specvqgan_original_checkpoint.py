"""Convert a SpecVQGAN checkpoint of the authors' code (v-iashin/SpecVQGAN) into `SpecVQGANModel` (Stage I, a
`VQModel` codebook) or `SpecVQGANForConditionalGeneration` (Stage II, a `Net2NetTransformer` with its Stage I).

    RUN=2021-05-19T22-16-54_vggsound_specs_vqgan
    python scripts/convert_specvqgan_original_checkpoint.py --checkpoint $RUN/checkpoints/epoch_39.ckpt \
        --config $RUN/configs/2021-05-19T22-16-54-project.yaml --output_dir specvqgan-vggsound-codebook

    # prove the conversion on the parity fixtures (authors' weights + inputs + recorded outputs):
    python scripts/convert_specvqgan_original_checkpoint.py --fixture ../shared/parity/specvqgan_codebook
    python scripts/convert_specvqgan_original_checkpoint.py --fixture ../shared/parity/specvqgan_transformer
    python scripts/convert_specvqgan_original_checkpoint.py --fixture ../shared/parity/specvqgan_frontend

The authors' checkpoints are PyTorch Lightning `.ckpt` files (`state_dict` plus training state); they are read by the
restricted unpickler of the SparseSync converter (tensors and plain containers load, any other class becomes an
inert stand-in or is refused, so no code from the file runs). Sizes come from the weights; what the weights do not
hold (where attention goes, the attention heads, the feature count, the latent grid) comes from the authors' config
(`--config`, their `*-project.yaml`, or the `model` block as JSON) or the flags. Dropped keys: the training-loss
modules `loss.*` (discriminator, LPAPS), the attention masks `attn.mask` (rebuilt) and the permuter buffers
(rebuilt from the grid). A fixture prints the max abs difference of every recorded tensor and fails above the
fixture's tolerance.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from videozoo.arguments import file_problem, positive_problem
from videozoo.checkpoints import restricted_pickle
from videozoo.configuration import SpecVQGANConfig, SpecVQGANSamplerConfig
from videozoo.conversion import (
    add_conversion_arguments,
    check_conversion_arguments,
    report_differences,
    save_converted,
)
from videozoo.modeling import SpecVQGANForConditionalGeneration, SpecVQGANModel
from videozoo.modeling.modeling_specvqgan import column_major_order


# ----------------------------------------------------------------------------- state dicts
def convert_first_stage_state_dict(state_dict: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """A `VQModel` state dict (keys under `prefix`) -> `SpecVQGANModel` keys: the same names, `loss.*` dropped."""
    return {
        key[len(prefix) :]: value
        for key, value in state_dict.items()
        if key.startswith(prefix) and not key[len(prefix) :].startswith("loss.")
    }


def convert_sampler_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A `Net2NetTransformer` state dict -> `SpecVQGANForConditionalGeneration` keys."""
    converted = {}
    for key, value in state_dict.items():
        if key.endswith(".attn.mask") or key.startswith(("first_stage_permuter.", "cond_stage_model.")):
            continue  # rebuilt: the causal mask and the column-major permutation
        if key.startswith("first_stage_model.loss."):
            continue
        key = key.replace("transformer.feat_embedder.", "transformer.embedder.")  # GPTFeatsClass's name
        if key == "transformer.embedder.weight" and value.dim() == 3:  # Conv1d kernel 1 -> Linear
            value = value[:, :, 0]
        converted[key] = value
    return converted


def _count(state_dict: dict, prefix: str) -> int:
    indices = {int(k[len(prefix) :].split(".")[0]) for k in state_dict if k.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def first_stage_config_from_weights(
    state_dict: dict[str, torch.Tensor], resolution: int | None = None, attn_resolutions=None, num_mel_bins: int = 80
) -> SpecVQGANConfig:
    """Stage I sizes from a `SpecVQGANModel` state dict; where the attention blocks are comes from the weights
    (`resolution` / `attn_resolutions` of the authors' config are kept when given and consistent)."""
    base = state_dict["encoder.conv_in.weight"].shape[0]
    levels = _count(state_dict, "encoder.down.")
    multipliers = [state_dict[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] // base for i in range(levels)]
    attention = [i for i in range(levels) if f"encoder.down.{i}.attn.0.q.weight" in state_dict]
    if resolution is None or attn_resolutions is None:
        resolution = 2 ** (levels - 1)
        attn_resolutions = [resolution // 2**i for i in attention]
    config = SpecVQGANConfig(
        num_mel_bins=num_mel_bins,
        in_channels=state_dict["encoder.conv_in.weight"].shape[1],
        out_channels=state_dict["decoder.conv_out.weight"].shape[0],
        base_channels=base,
        channel_multipliers=multipliers,
        num_res_blocks=_count(state_dict, "encoder.down.0.block."),
        attn_resolutions=list(attn_resolutions),
        resolution=resolution,
        z_channels=state_dict["encoder.conv_out.weight"].shape[0],
        embed_dim=state_dict["quantize.embedding.weight"].shape[1],
        num_embeddings=state_dict["quantize.embedding.weight"].shape[0],
    )
    from videozoo.configuration.configuration_specvqgan import attention_levels

    configured = attention_levels(config.resolution, levels, config.attn_resolutions)
    if configured != attention:
        raise ValueError(f"the config puts attention at levels {configured}, the weights have it at {attention}")
    return config


def _first_stage_fields(params: dict) -> dict:
    ddconfig = params.get("ddconfig", {})
    fields = {}
    if "resolution" in ddconfig and "attn_resolutions" in ddconfig:
        fields = {"resolution": ddconfig["resolution"], "attn_resolutions": list(ddconfig["attn_resolutions"])}
    return fields


def sampler_config_from_weights(
    state_dict: dict[str, torch.Tensor],
    num_attention_heads: int,
    num_features: int,
    latent_grid: tuple[int, int],
    first_stage_fields: dict | None = None,
    num_mel_bins: int = 80,
) -> SpecVQGANSamplerConfig:
    first_stage = first_stage_config_from_weights(
        convert_first_stage_state_dict(state_dict, "first_stage_model."),
        num_mel_bins=num_mel_bins,
        **(first_stage_fields or {}),
    )
    hidden = state_dict["transformer.tok_emb.weight"].shape[1]
    return SpecVQGANSamplerConfig(
        first_stage_config=first_stage,
        latent_grid=list(latent_grid),
        feature_size=state_dict["transformer.embedder.weight"].shape[1],
        num_features=num_features,
        num_classes=state_dict["transformer.cls_embedder.weight"].shape[0]
        if "transformer.cls_embedder.weight" in state_dict
        else 0,
        hidden_size=hidden,
        num_hidden_layers=_count(state_dict, "transformer.blocks."),
        num_attention_heads=num_attention_heads,
        intermediate_size=state_dict["transformer.blocks.0.mlp.0.weight"].shape[0],
        max_position_embeddings=state_dict["transformer.pos_emb"].shape[1],
    )


def _load(model, state_dict):
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(
            f"conversion mismatch: missing {result.missing_keys[:10]}, unexpected {result.unexpected_keys[:10]}"
        )
    return model.eval()


def load_first_stage(state_dict: dict, original_params: dict | None = None, num_mel_bins: int = 80) -> SpecVQGANModel:
    converted = convert_first_stage_state_dict(state_dict)
    config = first_stage_config_from_weights(
        converted, num_mel_bins=num_mel_bins, **_first_stage_fields(original_params or {})
    )
    return _load(SpecVQGANModel(config), converted)


def load_sampler(
    state_dict: dict,
    original_params: dict | None = None,
    data: dict | None = None,
    num_attention_heads: int | None = None,
    num_features: int | None = None,
) -> SpecVQGANForConditionalGeneration:
    """A `Net2NetTransformer` state dict (+ the authors' `model.params` and `data` blocks) -> the model."""
    params, data = original_params or {}, data or {}
    converted = convert_sampler_state_dict(state_dict)
    gpt = params.get("transformer_config", {}).get("params", {}).get("GPT_config", {})
    heads = num_attention_heads or gpt.get("n_head")
    if heads is None:
        raise ValueError("the checkpoint holds no attention-head count: give --config or --num_attention_heads (16)")
    permuter = params.get("first_stage_permuter_config", {}).get("params", {})
    features = num_features or data.get("feat_sample_size") or data.get("feat_crop_len")
    if features is None:
        raise ValueError("the feature count N is not in the config: give --num_features (212, 5 or 1)")
    block = converted["transformer.pos_emb"].shape[1]
    num_classes = (
        converted["transformer.cls_embedder.weight"].shape[0] if "transformer.cls_embedder.weight" in converted else 0
    )
    if "H" in permuter and "W" in permuter:
        grid = (permuter["H"], permuter["W"])
    else:
        rows = 5
        grid = (rows, (block - features - (1 if num_classes else 0)) // rows)
    permutation = state_dict.get("first_stage_permuter.forward_shuffle_idx")
    if permutation is not None and not torch.equal(permutation.long(), column_major_order(*grid)):
        raise ValueError(f"the checkpoint's permuter is not column-major over {grid}")
    first_stage = params.get("first_stage_config", {}).get("params", {})
    config = sampler_config_from_weights(
        converted, heads, int(features), grid, _first_stage_fields(first_stage), data.get("mel_num", 80)
    )
    return _load(SpecVQGANForConditionalGeneration(config), converted)


def load_original_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The authors' Lightning `.ckpt` (or a `.safetensors` of its state dict) -> the model state dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.suffix == ".safetensors":
        return load_file(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted_pickle)
    except Exception as error:  # noqa: BLE001 - any unpickling refusal is reported with the path
        raise ValueError(f"{path}: {error}") from error
    state_dict = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ValueError(f"{path} is not a SpecVQGAN checkpoint (a dict with a 'state_dict' of tensors)")
    return dict(state_dict)


def read_original_config(path: str | Path | None) -> dict:
    """The authors' `*-project.yaml` (or a JSON with the same `model` / `data` blocks) -> a plain dict."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config at {path}")
    if path.suffix == ".json":
        return json.loads(path.read_text())
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def _data_fields(original: dict) -> dict:
    """`mel_num`, `feat_sample_size`, ... wherever the authors' config keeps them (fixture: flat `data`; a project
    yaml: `data.params` and its nested dataset configs)."""
    data = original.get("data", {})
    flat = {k: v for k, v in data.items() if not isinstance(v, dict)}

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in (
                    "mel_num",
                    "spec_crop_len",
                    "feat_depth",
                    "feat_sample_size",
                    "feat_crop_len",
                ) and not isinstance(value, dict):
                    flat.setdefault(key, value)
                walk(value)

    walk(data.get("params", {}))
    return flat


# ----------------------------------------------------------------------------- fixtures
def _difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    if ours.shape != theirs.shape:
        raise ValueError(f"shape {tuple(ours.shape)} vs the fixture's {tuple(theirs.shape)}")
    if not theirs.is_floating_point():
        return 0.0 if torch.equal(ours.to(theirs.dtype), theirs) else float("inf")
    return (ours.double() - theirs.double()).abs().max().item()


def check_codebook_fixture(fixture: Path) -> dict[str, tuple[float, float]]:
    """Stage I on the recorded spectrograms: {name: (max abs difference, tolerance)}."""
    original = json.loads((fixture / "original_config.json").read_text())
    model = load_first_stage(
        load_file(fixture / "original_weights.safetensors"), original["model"]["params"], original["data"]["mel_num"]
    )
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    spectrogram = inputs["spectrogram"]
    with torch.no_grad():
        encoded = model.encode(spectrogram)
        grid = tuple(encoded.quantized.shape[2:])
        from_indices = model.quantize.get_codebook_entry(encoded.indices, grid)
        ours = {
            "encoder_output": model.encoder(spectrogram),
            "pre_quant": encoded.latents,
            "indices": encoded.indices,
            "z_q": encoded.quantized,
            "codebook_loss": encoded.codebook_loss,
            "x_rec": model(spectrogram).reconstruction,
            "z_q_from_indices": from_indices,
            "x_rec_from_indices": model.decode(encoded.indices, latent_grid=grid)[:, None],
        }
    results = {
        name: (_difference(value, expected[name]), 0.0 if name == "indices" else 1e-5) for name, value in ours.items()
    }
    for name in ("encoder_output", "pre_quant", "x_rec", "x_rec_from_indices"):
        results[name] = (results[name][0], 5e-5)  # 50 chained convolutions (the fixture README's bound)
    perplexity = expected["perplexity"].double()
    results["perplexity (relative)"] = (
        (encoded.perplexity.double() - perplexity).abs().item() / perplexity.item(),
        1e-5,
    )
    if set(expected) - set(ours) - {"perplexity"}:
        raise RuntimeError(f"fixture outputs not compared: {sorted(set(expected) - set(ours) - {'perplexity'})}")
    return results


def check_transformer_fixture(fixture: Path) -> dict[str, tuple[float, float]]:
    """Stage II with its Stage I: indices, teacher-forced logits and loss, greedy / half / seeded top-k sampling
    through `generate` (key/value cache) and the decoded spectrograms."""
    original = json.loads((fixture / "original_config.json").read_text())
    model = load_sampler(
        load_file(fixture / "original_weights.safetensors"), original["model"]["params"], original["data"]
    )
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    spectrogram = inputs["spectrogram"]
    features = inputs["features"].transpose(1, 2)  # the reference's (B, depth, N) -> the model's (B, N, depth)
    sampler = original["sampler"]
    with torch.no_grad():
        encoded = model.first_stage_model.encode(spectrogram)
        output = model(input_features=spectrogram, visual_features=features)
        greedy = model.generate(features, do_sample=False)
        half = model.generate(features, input_features=spectrogram, priming="half", do_sample=False)
        torch.manual_seed(sampler["sample_seed"])
        sampled = model.generate(
            features, do_sample=True, top_k=sampler["top_k"], temperature=sampler["temperature"], decode=False
        )
        ours = {
            "quant_z": encoded.quantized,
            "indices_row_major": encoded.indices,
            "indices": model.encode_to_indices(spectrogram),
            "logits": output.logits,
            "loss": output.loss,
            "greedy_indices": greedy.indices,
            "greedy_indices_row_major": greedy.indices_row_major,
            "greedy_spectrogram": greedy.spectrogram[:, None],
            "half_indices": half.indices,
            "half_spectrogram": half.spectrogram[:, None],
            "sampled_indices": sampled.indices,
            "debug.eval_sampler_greedy_spectrogram": greedy.spectrogram[:, None],
            "debug.eval_sampler_half_spectrogram": half.spectrogram[:, None],
        }
    if set(expected) != set(ours):
        raise RuntimeError(f"fixture outputs not compared: {sorted(set(expected) - set(ours))}")
    tolerances = {"logits": 1e-5, "loss": 1e-5, "quant_z": 1e-5}
    return {
        name: (
            _difference(value, expected[name]),
            0.0 if not expected[name].is_floating_point() else tolerances.get(name, 5e-5),
        )
        for name, value in ours.items()
    }


def check_frontend_fixture(fixture: Path) -> dict[str, tuple[float, float]]:
    """The feature extractor against the authors' `TRANSFORMS` (librosa 0.8, float64)."""
    from videozoo.processors.feature_extraction_specvqgan import SpecVQGANFeatureExtractor

    original = json.loads((fixture / "original_config.json").read_text())
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    rate = original["sample_rate"]
    results = {}
    for index in range(original["n_waves"]):
        wave = inputs[f"waveform_{index}"]
        extractor = SpecVQGANFeatureExtractor()
        ours = extractor.log_mel(wave.double())
        results[f"log_mel_{index}"] = (_difference(ours, expected[f"log_mel_{index}"]), 1e-6)
        ours32 = extractor.log_mel(wave.float())
        results[f"log_mel_{index} (float32 chain)"] = (_difference(ours32, expected[f"log_mel_{index}"]), 1e-3)
    for index in original["padded_10s"]:
        extractor = SpecVQGANFeatureExtractor(crop_frames=None, model_range=False)
        ours = extractor(inputs[f"waveform_{index}"].numpy(), sampling_rate=rate, return_tensors="pt", dtype="float64")
        results[f"log_mel_padded_10s_{index}"] = (
            _difference(ours["input_features"][0], expected[f"log_mel_padded_10s_{index}"]),
            1e-6,
        )
    return results


def check_fixture(fixture: Path) -> dict[str, tuple[float, float]]:
    original = json.loads((fixture / "original_config.json").read_text())
    if "TRANSFORMS" in original:
        return check_frontend_fixture(fixture)
    if original["model"]["target"].endswith("Net2NetTransformer"):
        return check_transformer_fixture(fixture)
    return check_codebook_fixture(fixture)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_conversion_arguments(parser, "the authors' .ckpt (or a .safetensors of its state_dict)")
    parser.add_argument("--config", type=Path, help="the authors' *-project.yaml (or JSON with model / data)")
    parser.add_argument("--num_attention_heads", type=int, help="Stage II heads if no config is given (16)")
    parser.add_argument("--num_features", type=int, help="Stage II feature count N if no config is given")
    args = parser.parse_args(argv)
    check_conversion_arguments(
        parser,
        args,
        file_problem("--config", args.config),
        positive_problem("--num_attention_heads", args.num_attention_heads),
        positive_problem("--num_features", args.num_features),
    )  # before anything is read or written

    if args.fixture is not None:
        return report_differences(check_fixture(args.fixture))

    state_dict = load_original_checkpoint(args.checkpoint)
    original = read_original_config(args.config)
    params, data = original.get("model", {}).get("params", {}), _data_fields(original)
    if any(key.startswith("transformer.") for key in state_dict):
        model = load_sampler(state_dict, params, data, args.num_attention_heads, args.num_features)
    else:
        model = load_first_stage(state_dict, params, data.get("mel_num", 80))
    save_converted(args.output_dir, model)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"saved {type(model).__name__} ({millions:.2f}M parameters) to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
