import importlib.util
import sys
import types

import pytest
import torch
import torchvision

from videozoo.configuration import SparseSyncConfig
from videozoo.modeling import SparseSyncForOffsetClassification
from videozoo.modeling.modeling_sparsesync import (
    build_s3d_trunk,
    resnet_output_grid,
    s3d_output_grid,
    spectrogram_frames,
)

from .conftest import REPO_ROOT, parity_fixture
from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config


def sparsesync_inputs(config, batch_size: int, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {
        "pixel_values": torch.randn(batch_size, 16, 3, 32, 64, generator=generator),
        "input_features": torch.randn(batch_size, 257, 81, generator=generator),
    }


def load_converter():
    spec = importlib.util.spec_from_file_location(
        "convert_sparsesync", REPO_ROOT / "scripts" / "convert_sparsesync_original_checkpoint.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestSparseSyncModel(ModelTesterMixin):
    model_type = "sparsesync"

    def prepare_inputs(self, config, batch_size):
        return sparsesync_inputs(config, batch_size)

    def loss_inputs(self, inputs):
        return {**inputs, "labels": torch.arange(inputs["pixel_values"].shape[0]) % 5}

    def comparable_outputs(self, output):
        return {"logits": output.logits}

    def test_output_shapes_and_loss(self):
        model = self.build()
        inputs = sparsesync_inputs(model.config, 2)
        out = model(**inputs, labels=torch.tensor([0, 4]))
        assert out.logits.shape == (2, 5)
        torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 4])))


def test_paper_configuration_matches_the_reference_sizes_and_torchvision_layouts():
    model = SparseSyncForOffsetClassification(SparseSyncConfig())
    count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
    assert count(model) == 54_348_652  # the reference model at its default config: 54.35 M
    assert count(model.visual_encoder) == 7_910_048 and count(model.audio_encoder) == 11_170_240
    ours = {k: v.shape for k, v in model.visual_encoder.state_dict().items()}
    assert ours == {k: v.shape for k, v in torchvision.models.video.s3d(weights=None).features.state_dict().items()}
    resnet = {
        k: v.shape
        for k, v in torchvision.models.resnet18(weights=None).state_dict().items()
        if not k.startswith("fc.")
    }
    resnet["conv1.weight"] = torch.Size([64, 1, 7, 7])  # one input channel
    assert resnet == {k: v.shape for k, v in model.audio_encoder.state_dict().items()}
    assert (
        model.config.id2label[0] == "-2.0"
        and model.config.id2label[10] == "0.0"
        and model.config.id2label[17] == "+1.4"
    )
    assert model.visual_encoder[0][0][1].momentum == 0.001 and model.visual_encoder[0][0][1].eps == 1e-3
    assert model.classifier.bias is None and model.visual_proj.bias is not None


@pytest.mark.parametrize(
    "frames, height, width", [(125, 224, 224), (50, 64, 64), (32, 32, 32), (24, 64, 96), (16, 32, 64), (40, 112, 80)]
)
def test_s3d_grid_formula_matches_the_trunk(frames, height, width):
    trunk = build_s3d_trunk(divisor=8).eval()
    with torch.no_grad():
        out = trunk(torch.zeros(1, 3, frames, height, width))
    assert tuple(out.shape[2:]) == s3d_output_grid(frames, height, width)
    assert out.shape[1] == 1024 // 8


@pytest.mark.parametrize("samples", [80_000, 32_000, 20_480, 10_240, 15_360])
def test_audio_grid_formula_matches_the_trunk(samples):
    model = SparseSyncForOffsetClassification(tiny_config("sparsesync")).eval()
    frames = spectrogram_frames(samples)
    with torch.no_grad():
        out = model.audio_encoder(torch.zeros(1, 1, 257, frames))
    assert tuple(out.shape[2:]) == resnet_output_grid(257, frames)
    assert resnet_output_grid(257, spectrogram_frames(80_000)) == (9, 20) and s3d_output_grid(125, 224, 224) == (
        16,
        7,
        7,
    )


def test_positional_channels_are_time_width_height_and_frequency_time():
    config = tiny_config("sparsesync", hidden_size=32)
    model = SparseSyncForOffsetClassification(config)
    positions = model.visual_positions
    with torch.no_grad():
        positions.time.weight.copy_(torch.arange(2.0)[:, None].expand(2, 12))  # 32 // 3 + 32 % 3 = 12 channels
        positions.height.weight.fill_(-7.0)  # one row (h = 1)
        positions.width.weight.copy_(100 + torch.arange(2.0)[:, None].expand(2, 10))
    table = positions()  # (t, h, w, D)
    assert table.shape == (2, 1, 2, 32)
    assert table[1, 0, 0, :12].eq(1).all() and table[0, 0, 1, 12:22].eq(101).all() and table[1, 0, 1, 22:].eq(-7).all()
    audio = model.audio_positions
    with torch.no_grad():
        audio.frequency.weight.copy_(torch.arange(9.0)[:, None].expand(9, 16))
        audio.time.weight.copy_(-torch.arange(3.0)[:, None].expand(3, 16))
    assert audio()[4, 2, :16].eq(4).all() and audio()[4, 2, 16:].eq(-2).all()


def test_both_modalities_reach_the_logits():
    model = SparseSyncForOffsetClassification(tiny_config("sparsesync")).eval()
    inputs = {k: v.requires_grad_() for k, v in sparsesync_inputs(model.config, 2).items()}
    model(**inputs).logits.sum().backward()
    assert inputs["pixel_values"].grad.abs().sum() > 0 and inputs["input_features"].grad.abs().sum() > 0
    with torch.no_grad():  # another clip's audio changes the prediction scores
        base = model(**sparsesync_inputs(model.config, 2)).logits
        swapped = sparsesync_inputs(model.config, 2)
        swapped["input_features"] = swapped["input_features"].flip(0)
        assert not torch.equal(model(**swapped).logits, base)


def test_without_selectors_ablation_runs_and_trains():
    config = tiny_config("sparsesync", use_selectors=False, token_dropout=0.5)
    model = SparseSyncForOffsetClassification(config).train()
    assert not hasattr(model, "visual_selector") and not hasattr(model.fusion, "visual_selector_norm")
    out = model(**sparsesync_inputs(config, 2), labels=torch.tensor([1, 2]))
    out.loss.backward()
    assert model.fusion.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


def test_post_process_gives_seconds():
    model = SparseSyncForOffsetClassification(
        SparseSyncConfig(
            num_offset_classes=21, hidden_size=32, audio_backbone_widths=[8, 16, 16, 32], s3d_width_divisor=8
        )
    )
    logits = torch.zeros(3, 21)
    logits[0, 17], logits[1, 0], logits[2, 10] = 1, 1, 1
    torch.testing.assert_close(model.post_process(logits), torch.tensor([1.4, -2.0, 0.0]))
    assert SparseSyncConfig(num_offset_classes=3, max_offset_sec=1.0).offset_grid() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda i: i.update(pixel_values=i["pixel_values"][:, :12]), r"S3D grid \(2, 1, 2\)|positional tables"),
        (lambda i: i.update(pixel_values=torch.zeros(3, 16, 3, 32, 64, dtype=torch.uint8)), "float"),
        (lambda i: i["pixel_values"].__setitem__((0, 0, 0, 0, 0), float("nan")), "NaN"),
        (lambda i: i.update(input_features=i["input_features"][:, :, :40]), "audio grid"),
        (lambda i: i.update(input_features=i["input_features"][:, :128]), "257 frequency bins"),
        (lambda i: i.update(input_features=i["input_features"][:2]), "batch size"),
        (lambda i: i.update(pixel_values=i["pixel_values"][:, :, 0]), r"\(batch, frames, 3, height, width\)"),
        (lambda i: i.update(labels=torch.tensor([0, 1, 9])), "offset classes"),
    ],
)
def test_bad_input_is_named(mutate, message):
    config = tiny_config("sparsesync")
    inputs = sparsesync_inputs(config, 3)
    mutate(inputs)
    with pytest.raises(ValueError, match=message):
        SparseSyncForOffsetClassification(config).eval()(**inputs)


def test_config_validation():
    with pytest.raises(Exception, match="audio trunk's output width"):
        SparseSyncConfig(hidden_size=256)
    with pytest.raises(Exception, match="s3d_width_divisor"):
        SparseSyncConfig(s3d_width_divisor=3)
    with pytest.raises(Exception, match="divisible"):
        SparseSyncConfig(num_attention_heads=7)


def test_head_memorises_a_fixed_batch():
    """The head can learn (on fresh data it sits on a long plateau at chance, so the CPU check is a fixed batch): on
    synthetic feature maps with an event pattern shifted by the offset class, the head (reference initialisation) fits
    a fixed batch of 16 within 100 Adam steps."""
    torch.manual_seed(0)
    config = SparseSyncConfig(
        hidden_size=128,
        num_attention_heads=4,
        intermediate_size=256,
        num_selector_layers=1,
        num_sync_layers=1,
        num_visual_selectors=8,
        num_audio_selectors=8,
        visual_grid=[16, 2, 2],
        audio_grid=[9, 20],
        s3d_width_divisor=8,
        audio_backbone_widths=[16, 32, 64, 128],
        num_offset_classes=5,
        max_offset_sec=0.4,
    )
    model = SparseSyncForOffsetClassification(config).train()
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(16) % 5
    visual = torch.randn(16, 16, 128, 2, 2, generator=generator)
    audio = torch.randn(16, 128, 9, 20, generator=generator)
    event_v, event_a = 3 * torch.randn(128, generator=generator), 3 * torch.randn(128, generator=generator)
    for i in range(16):
        t = int(torch.randint(4, 12, (1,), generator=generator))
        visual[i, t] += event_v[:, None, None]
        audio[i, :, :, t + int(labels[i]) - 2] += event_a[:, None]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(model.classify_features(visual, audio), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05, loss.item()


# ----------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("name", ["sparsesync", "sparsesync_s3d", "sparsesync_audio_resnet18", "sparsesync_frontend"])
def test_conversion_reproduces_the_authors_outputs(name, capsys):
    fixture = parity_fixture(name)
    assert load_converter().main(["--fixture", str(fixture)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_conversion_fails_loudly_on_a_wrong_mapping(tmp_path):
    """A fixture whose recorded logits are off by 1e-3 must fail (the check is not vacuous)."""
    fixture = parity_fixture("sparsesync")
    from safetensors.torch import load_file, save_file

    for file in ("inputs.safetensors", "original_weights.safetensors", "original_config.json", "README.md"):
        (tmp_path / file).write_bytes((fixture / file).read_bytes())
    outputs = load_file(fixture / "outputs.safetensors")
    outputs["logits"] = outputs["logits"] + 1e-3
    save_file(outputs, tmp_path / "outputs.safetensors")
    assert load_converter().main(["--fixture", str(tmp_path)]) == 1


def test_rename_rules_cover_the_reference_keys():
    convert = load_converter()
    cases = {
        "vfeat_extractor.base.0.conv_s.weight": "visual_encoder.0.0.0.weight",
        "vfeat_extractor.base.3.bn_t.running_var": "visual_encoder.3.1.1.running_var",
        "vfeat_extractor.base.2.bn.bias": "visual_encoder.2.1.bias",
        "vfeat_extractor.base.15.branch0.0.bn.weight": "visual_encoder.15.branch0.1.weight",
        "vfeat_extractor.base.8.branch2.1.conv_t.weight": "visual_encoder.8.branch2.1.1.0.weight",
        "vfeat_extractor.base.5.branch3.1.conv.weight": "visual_encoder.5.branch3.1.0.weight",
        "afeat_extractor.layer3.0.downsample.1.running_mean": "audio_encoder.layer3.0.downsample.1.running_mean",
        "transformer.a_selector.blocks.2.xattn.proj.bias": "audio_selector.layers.2.cross_attn.out_proj.bias",
        "transformer.global_transformer.blocks.0.ln2.weight": "fusion.layers.0.norm2.weight",
        "transformer.blocks.1.mlp.2.weight": "fusion.layers.1.mlp.fc2.weight",  # the no-selector ablation
        "transformer.OFF_tok": "fusion.cls_token",
    }
    for original, ours in cases.items():
        assert convert.rename(original) == ours
    with pytest.raises(KeyError, match="no conversion rule"):
        convert.rename("transformer.unknown.weight")
    # every parameter of a full model has a source key (names round-trip through the rules)
    full = SparseSyncForOffsetClassification(SparseSyncConfig())
    assert len(full.state_dict()) == 810


def _fake_omegaconf():
    """A stand-in `omegaconf` package: its objects pickle under the real module paths."""
    package = types.ModuleType("omegaconf")
    dictconfig = types.ModuleType("omegaconf.dictconfig")
    nodes = types.ModuleType("omegaconf.nodes")

    class DictConfig:
        def __init__(self, content):
            self._content = content
            self._metadata = None

        def __getstate__(self):
            return {"_content": self._content, "_metadata": self._metadata}

    class AnyNode:
        def __init__(self, value):
            self._val = value

    DictConfig.__module__, AnyNode.__module__ = "omegaconf.dictconfig", "omegaconf.nodes"
    DictConfig.__qualname__, AnyNode.__qualname__ = "DictConfig", "AnyNode"
    dictconfig.DictConfig, nodes.AnyNode = DictConfig, AnyNode
    return {"omegaconf": package, "omegaconf.dictconfig": dictconfig, "omegaconf.nodes": nodes}


def test_original_checkpoint_is_read_without_running_code(tmp_path, monkeypatch):
    convert = load_converter()
    model = SparseSyncForOffsetClassification(tiny_config("sparsesync"))
    fake = _fake_omegaconf()
    for name, module in fake.items():
        monkeypatch.setitem(sys.modules, name, module)
    DictConfig, AnyNode = fake["omegaconf.dictconfig"].DictConfig, fake["omegaconf.nodes"].AnyNode
    args = DictConfig(
        {
            "model": DictConfig(
                {"params": DictConfig({"transformer": DictConfig({"params": DictConfig({"n_head": AnyNode(4)})})})}
            ),
            "data": DictConfig({"max_off_sec": AnyNode(0.4)}),
        }
    )
    torch.save(
        {
            "model": {"transformer.off_head.weight": model.classifier.weight.detach()},
            "epoch": 3,
            "args": args,
            "metrics": {"accuracy_1": 0.5},
        },
        tmp_path / "checkpoint.pt",
    )
    for name in fake:
        monkeypatch.delitem(sys.modules, name)  # loading must not need omegaconf
    state_dict, original = convert.load_original_checkpoint(tmp_path / "checkpoint.pt")
    assert list(state_dict) == ["transformer.off_head.weight"]
    assert convert.config_from_original(original) == {"num_attention_heads": 4, "max_offset_sec": 0.4}

    class Exploit:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"model": {}, "args": Exploit()}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"refusing to load builtins\.print"):
        convert.load_original_checkpoint(tmp_path / "bad.pt")


@pytest.mark.slow
def test_paper_size_forward():
    model = SparseSyncForOffsetClassification(SparseSyncConfig()).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 125, 3, 224, 224), torch.randn(1, 257, 626))
    assert out.logits.shape == (1, 21)
