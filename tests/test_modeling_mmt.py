import copy
import importlib.util

import pytest
import torch

from videozoo.modeling import MMTModel
from videozoo.modeling.losses import max_margin_ranking_loss
from videozoo.modeling.modeling_mmt import temporal_ids

from .conftest import REPO_ROOT, parity_fixture
from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config

TOKENS = {"s3d": 5, "vggish": 4}


def mmt_inputs(config, batch_size: int, seed: int = 0, text_length: int = 7) -> dict:
    generator = torch.Generator().manual_seed(seed)
    inputs = dict(expert_features={}, expert_times={}, expert_attention_mask={}, expert_pooled={})
    for offset, name in enumerate(config.expert_names):
        tokens, size = TOKENS.get(name, 3), config.expert_feature_sizes[name]
        lengths = torch.tensor([(tokens - offset - i) % (tokens + 1) for i in range(batch_size)])
        lengths[0] = tokens  # item 0 always has every expert
        mask = (torch.arange(tokens)[None] < lengths[:, None]).long()
        features = torch.randn(batch_size, tokens, size, generator=generator) * mask[..., None]
        inputs["expert_features"][name] = features
        inputs["expert_times"][name] = torch.where(
            mask.bool(), torch.rand(batch_size, tokens, generator=generator) * 14 + 2, 1.0
        )
        inputs["expert_attention_mask"][name] = mask
        inputs["expert_pooled"][name] = torch.where(mask.any(1, keepdim=True), features.amax(1), 0.0)
    ids = torch.randint(4, config.text_config.vocab_size, (batch_size, text_length), generator=generator)
    mask = (
        torch.arange(text_length)[None] < torch.tensor([text_length - i % 3 for i in range(batch_size)])[:, None]
    ).long()
    inputs["input_ids"], inputs["attention_mask"] = ids * mask, mask
    return inputs


class TestMMTModel(ModelTesterMixin):
    model_type = "mmt"
    attention_output_fields = ("text_attentions", "video_attentions")

    def prepare_inputs(self, config, batch_size):
        return mmt_inputs(config, batch_size)

    def pad_inputs(self, inputs):
        batch = inputs["input_ids"].shape[0]
        for name in list(inputs["expert_features"]):
            extra = 3
            features = inputs["expert_features"][name]
            inputs["expert_features"][name] = torch.cat([features, torch.randn(batch, extra, features.shape[-1])], 1)
            inputs["expert_times"][name] = torch.cat([inputs["expert_times"][name], torch.rand(batch, extra) * 30], 1)
            mask = inputs["expert_attention_mask"][name]
            inputs["expert_attention_mask"][name] = torch.cat([mask, torch.zeros(batch, extra, dtype=mask.dtype)], 1)
        inputs["input_ids"] = torch.cat([inputs["input_ids"], torch.randint(4, 99, (batch, 2))], 1)
        inputs["attention_mask"] = torch.cat([inputs["attention_mask"], torch.zeros(batch, 2, dtype=torch.long)], 1)
        return inputs

    def comparable_outputs(self, output):
        return {
            "text_embeds": output.text_embeds,
            "text_weights": output.text_weights,
            "video_embeds": output.video_embeds,
        }

    def test_output_shapes(self):
        config = self.get_config()
        model = self.build(config)
        with torch.no_grad():
            out = model(**mmt_inputs(config, 3), return_loss=True)
        assert out.logits_per_text.shape == (3, 3) and out.logits_per_video.shape == (3, 3)
        assert out.text_embeds.shape == (3, 2, 32) and out.video_embeds.shape == (3, 2, 32)
        assert out.text_weights.shape == (3, 2) and out.loss.shape == ()
        torch.testing.assert_close(out.text_weights.sum(-1), torch.ones(3))
        torch.testing.assert_close(out.video_embeds.norm(dim=-1), torch.ones(3, 2))
        torch.testing.assert_close(out.text_embeds.norm(dim=-1), torch.ones(3, 2))


def test_similarity_is_weighted_cosine_over_all_experts():
    config = tiny_config("mmt")
    model = MMTModel(config).eval()
    inputs = mmt_inputs(config, 3)
    with torch.no_grad():
        out = model(**inputs)
    cosines = torch.einsum("qnd,vnd->qvn", out.text_embeds, out.video_embeds)
    expected = (out.text_weights[:, None, :] * cosines).sum(-1)
    torch.testing.assert_close(out.logits_per_text, expected)


def test_renormalization_uses_available_experts_only():
    config = tiny_config("mmt", renormalize_missing_modalities=True)
    model = MMTModel(config).eval()
    inputs = mmt_inputs(config, 3)
    for key in ("expert_features", "expert_attention_mask", "expert_pooled"):
        inputs[key]["vggish"] = torch.zeros_like(inputs[key]["vggish"])  # vggish missing for every video
    with torch.no_grad():
        out = model(**inputs)
    s3d_cosine = out.text_embeds[:, 0] @ out.video_embeds[:, 0].T
    torch.testing.assert_close(out.logits_per_text, s3d_cosine)
    # all experts missing: similarity 0, no NaN
    empty = MMTModel.compute_similarity(out.text_embeds, out.text_weights, out.video_embeds, torch.zeros(3, 2), True)
    assert torch.equal(empty, torch.zeros(3, 3))


def test_missing_expert_values_do_not_matter():
    config = tiny_config("mmt")
    model = MMTModel(config).eval()
    inputs = mmt_inputs(config, 3)
    for key in ("expert_features", "expert_attention_mask", "expert_pooled"):
        inputs[key]["vggish"][1] = 0
    changed = copy.deepcopy(inputs)
    changed["expert_features"]["vggish"][1] = torch.randn_like(changed["expert_features"]["vggish"][1])
    changed["expert_times"]["vggish"][1] = torch.rand_like(changed["expert_times"]["vggish"][1]) * 10
    with torch.no_grad():
        a, b = model(**inputs), model(**changed)
    torch.testing.assert_close(a.video_embeds, b.video_embeds, atol=0, rtol=0)
    # its pooled vector only reaches its own [AGG] output, never another expert's
    changed["expert_pooled"]["vggish"][1] = torch.randn(12)
    with torch.no_grad():
        c = model(**changed)
    torch.testing.assert_close(c.video_embeds[:, 0], a.video_embeds[:, 0], atol=0, rtol=0)
    assert not torch.allclose(c.video_embeds[1, 1], a.video_embeds[1, 1])


def test_expert_order_of_the_input_dicts_does_not_matter():
    config = tiny_config("mmt")
    model = MMTModel(config).eval()
    inputs = mmt_inputs(config, 3)
    reordered = {k: dict(reversed(list(v.items()))) if isinstance(v, dict) else v for k, v in inputs.items()}
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits_per_text, model(**reordered).logits_per_text)


def test_temporal_ids_use_seconds_and_clamp():
    config = tiny_config("mmt")
    ids = temporal_ids(torch.tensor([[1.0, 9.4, 2.9, 40.0]]), "seconds", config.max_temporal_positions)
    assert ids.tolist() == [[1, 9, 2, config.max_temporal_positions - 1]]


def test_temporal_order_is_used():
    config = tiny_config("mmt", hidden_dropout_prob=0.0)
    model = MMTModel(config).eval()
    inputs = mmt_inputs(config, 2)
    shifted = copy.deepcopy(inputs)
    shifted["expert_times"]["s3d"] = torch.where(inputs["expert_attention_mask"]["s3d"].bool(), 3.0, 1.0)
    with torch.no_grad():
        assert not torch.allclose(model(**inputs).video_embeds, model(**shifted).video_embeds)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda i: i["expert_features"].pop("vggish"), "missing"),
        (lambda i: i["expert_features"].update(face=torch.zeros(3, 4, 512)), "unknown"),
        (lambda i: i["expert_features"].update(s3d=torch.zeros(3, 5, 21)), r"\(batch, tokens, 20\)"),
        (lambda i: i["expert_features"]["s3d"].__setitem__((0, 0, 0), float("nan")), "NaN"),
        (lambda i: i["expert_attention_mask"].update(s3d=torch.ones(3, 4)), "must match"),
        (lambda i: i["attention_mask"].__setitem__(1, 0), "empty"),
        (lambda i: i["expert_pooled"].update(s3d=torch.zeros(2, 20)), "batch size"),
    ],
)
def test_bad_input_is_named(mutate, message):
    config = tiny_config("mmt")
    model = MMTModel(config).eval()
    inputs = mmt_inputs(config, 3)
    mutate(inputs)
    with pytest.raises(ValueError, match=message):
        model(**inputs)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(expert_names=["s3d", "unknown_expert"]), "no entry"),
        (dict(expert_names=["s3d", "s3d"]), "duplicates"),
        (dict(hidden_size=30), "divisible"),
        (dict(temporal_encoding="sometimes"), "temporal_encoding"),
        (dict(expert_type_ids={"s3d": 0, "vggish": 2}), "outside the expert table"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(Exception, match=message):
        tiny_config("mmt", **overrides)


def test_loading_another_model_type_fails(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(
        BertConfig(vocab_size=99, hidden_size=24, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="'bert' model, not 'mmt'"):
        MMTModel.from_pretrained(tmp_path)


def test_ranking_loss_values():
    margin = 0.05
    assert max_margin_ranking_loss(torch.eye(4), margin).item() == 0.0
    # float32 rounds 0.05 + 0.3 - 0.3 to 0.05 (1 + 2.4e-7), inside approx's 1e-6
    assert max_margin_ranking_loss(torch.full((4, 4), 0.3), margin).item() == pytest.approx(margin)
    s = torch.tensor([[0.5, 0.2, 0.6], [0.1, 0.4, 0.45], [0.0, 0.7, 0.3]])
    terms = []
    for i in range(3):
        for j in range(3):
            if i != j:
                terms += [max(0.0, margin + s[i, j] - s[i, i]), max(0.0, margin + s[j, i] - s[i, i])]
    assert max_margin_ranking_loss(s, margin).item() == pytest.approx(sum(terms) / len(terms))
    assert max_margin_ranking_loss(s, margin).item() == pytest.approx(max_margin_ranking_loss(s.T, margin).item())
    # no violated pair -> no gradient
    easy = (torch.eye(3) + 0.1 * torch.rand(3, 3)).requires_grad_()
    max_margin_ranking_loss(easy * 0 + torch.eye(3), 0.0).backward()


def test_parameter_count_matches_the_paper():
    from videozoo.configuration import MMTConfig

    with torch.device("meta"):
        model = MMTModel(MMTConfig())
    video_side = sum(
        p.numel() for n, p in model.named_parameters() if n.startswith(("video_model", "expert_projections"))
    )
    total = sum(p.numel() for p in model.parameters())
    # THESIS §3.3.4: 133.3M in all, video side 20.4M (its counts include the two unused poolers, 0.85M)
    pooler = 768 * 768 + 768 + 512 * 512 + 512
    assert abs(total + pooler - 133.3e6) < 0.15e6, total
    assert abs(video_side + 512 * 512 + 512 - 20.4e6) < 0.1e6, video_side


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conversion_reproduces_the_authors_outputs(capsys):
    fixture = parity_fixture("mmt")
    convert = _load_script("convert_mmt_original_checkpoint")
    assert convert.main(["--fixture", str(fixture)]) == 0
    assert "PASS" in capsys.readouterr().out
    differences = convert.check_fixture(fixture)
    assert max(differences.values()) < 1e-5, differences  # AMD, 1 or 2 threads: 2.8e-7; float64 run: 2.8e-7


def test_authors_pth_with_pickled_config_loads_without_their_code(tmp_path, monkeypatch):
    """The authors' .pth pickles their ConfigParser (with paths) beside the state dict; it must load safely and
    without their code being importable."""
    import pathlib
    import sys
    import types

    from safetensors.torch import load_file

    fixture = parity_fixture("mmt")
    module = types.ModuleType("parse_config")

    class ConfigParser:
        pass

    ConfigParser.__module__, ConfigParser.__qualname__ = "parse_config", "ConfigParser"
    module.ConfigParser = ConfigParser
    monkeypatch.setitem(sys.modules, "parse_config", module)
    original = __import__("json").loads((fixture / "original_config.json").read_text())
    parser = ConfigParser()
    parser._config = original
    parser._save_dir = pathlib.PosixPath("/nonexistent/models")
    checkpoint = {
        "arch": "CENet",
        "epoch": 3,
        "state_dict": load_file(fixture / "original_weights.safetensors"),
        "config": parser,
    }
    torch.save(checkpoint, tmp_path / "model.pth")
    monkeypatch.delitem(sys.modules, "parse_config")  # the authors' code is not importable when loading

    convert = _load_script("convert_mmt_original_checkpoint")
    state_dict, config = convert.load_original_checkpoint(tmp_path / "model.pth")
    assert config["arch"]["args"]["vid_inp"] == "both" and len(state_dict) == 168
    out = tmp_path / "converted"
    assert convert.main(["--checkpoint", str(tmp_path / "model.pth"), "--output_dir", str(out)]) == 0
    model = MMTModel.from_pretrained(out)
    assert model.config.expert_names == sorted(original["experts"]["modalities"])
