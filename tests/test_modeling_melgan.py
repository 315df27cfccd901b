import importlib.util

import pytest
import torch

from videozoo.configuration import MelGANConfig
from videozoo.modeling import MelGANDiscriminator, MelGANVocoder
from videozoo.modeling.modeling_melgan import melgan_discriminator_loss, melgan_generator_loss

from .conftest import REPO_ROOT, parity_fixture
from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config


def melgan_inputs(config, batch_size: int, frames: int = 9, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"input_features": torch.rand(batch_size, config.num_mel_bins, frames, generator=generator)}


def load_converter():
    spec = importlib.util.spec_from_file_location(
        "convert_melgan", REPO_ROOT / "scripts" / "convert_melgan_original_checkpoint.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestMelGANVocoder(ModelTesterMixin):
    model_type = "melgan"
    test_attention_implementations = False  # no attention in a convolutional vocoder

    def prepare_inputs(self, config, batch_size):
        return melgan_inputs(config, batch_size)

    def comparable_outputs(self, output):
        return {"waveform": output.waveform}

    def test_every_parameter_gets_a_gradient(self):
        """The vocoder has no loss of its own: its training loss is the adversarial + feature-matching loss of the
        discriminator. Every generator parameter must get a finite, non-zero gradient from it."""
        config = self.get_config()
        model = self.build().train()
        discriminator = MelGANDiscriminator(config)
        inputs = melgan_inputs(config, 2)
        real = torch.rand(2, 9 * config.hop_length) * 2 - 1
        fake = model(**inputs).waveform
        loss = melgan_generator_loss(discriminator(fake), discriminator(real), config)["loss"]
        loss.backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing, f"parameters without gradient: {missing}"
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())

    def test_output_length_is_frames_times_hop(self):
        model = self.build()
        for frames in (4, 9, 17):
            out = model(**melgan_inputs(model.config, 2, frames=frames))
            assert out.waveform.shape == (2, frames * model.config.hop_length)  # hop 12 (ratios 3, 2, 2)
            assert out.waveform.abs().max() <= 1


def test_released_sizes():
    """The VGGSound vocoder of the reference (ngf 32, 3 residual units): 4.27 M generator values, 16.9 M for the
    discriminator, hop 256 (v-iashin/SpecVQGAN `vocoder/modules.py` with `vocoder/logs/vggsound/args.yml`)."""
    config = MelGANConfig()
    assert config.hop_length == 256
    generator, discriminator = MelGANVocoder(config), MelGANDiscriminator(config)
    assert sum(p.numel() for p in generator.parameters()) == 4_266_050
    assert round(sum(p.numel() for p in discriminator.parameters()) / 1e6, 1) == 16.9
    widths = [stage.upsample.parametrizations.weight.original1.shape[:2] for stage in generator.stages]
    assert widths == [(512, 256), (256, 128), (128, 64), (64, 32)]
    # per scale: 16 -> 64 -> 256 -> 1024 -> 1024 (grouped, in / 4 groups), 1024, 1
    convs = discriminator.scales[0].layers
    assert [conv.out_channels for conv in convs] == [16, 64, 256, 1024, 1024, 1024, 1]
    assert [conv.groups for conv in convs] == [1, 4, 16, 64, 256, 1, 1]


def test_weight_norm_is_per_output_channel_for_convs_and_per_input_channel_for_transposed_convs():
    model = MelGANVocoder(tiny_config("melgan"))
    with torch.no_grad():
        for module in (model.conv_in, model.stages[0].upsample, model.stages[1].residual_units[1].shortcut):
            weight = module.parametrizations.weight
            g, v = weight.original0, weight.original1
            g.mul_(torch.rand_like(g) + 0.5)  # move the magnitudes away from |v|
            assert g.shape == (v.shape[0], 1, 1)  # dim 0 of the stored layout (in-channels for ConvTranspose1d)
            expected = g * v / torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True)
            torch.testing.assert_close(module.weight, expected, rtol=1e-6, atol=0)


def test_fresh_weights_start_with_magnitude_equal_to_the_direction_norm():
    """What a fresh reference model computes (its N(0, 0.02) init is overwritten by weight norm): weight = v."""
    model = MelGANVocoder(tiny_config("melgan"))
    for module in model.modules():
        if hasattr(module, "parametrizations"):
            torch.testing.assert_close(module.weight, module.parametrizations.weight.original1, rtol=1e-6, atol=0)


def test_remove_weight_norm_keeps_the_function():
    config = tiny_config("melgan")
    model = MelGANVocoder(config).eval()
    inputs = melgan_inputs(config, 2)
    with torch.no_grad():
        expected = model(**inputs).waveform
        folded = model.remove_weight_norm()(**inputs).waveform
    assert not any("parametrizations" in name for name, _ in model.named_parameters())
    # folding changes only the float32 rounding of the weights: measured 0 here (the float64 model differs from
    # float32 by 1.9e-8); 1e-6 is above the 5.5e-7 the fixture README measured for folding at a larger size
    torch.testing.assert_close(folded, expected, atol=1e-6, rtol=0)


def test_discriminator_outputs_one_feature_list_per_scale():
    config = tiny_config("melgan")
    discriminator = MelGANDiscriminator(config)
    outputs = discriminator(torch.rand(3, 1, 240) * 2 - 1)
    assert len(outputs) == config.num_discriminators
    # tiny config: width 8, 2 strided layers of stride 2, cap 24 -> 8, 16, 24 channels, then 24, then 1 score
    assert [tuple(t.shape) for t in outputs[0]] == [(3, 8, 240), (3, 16, 120), (3, 24, 60), (3, 24, 60), (3, 1, 60)]
    assert [tuple(t.shape) for t in outputs[1]] == [(3, 8, 120), (3, 16, 60), (3, 24, 30), (3, 24, 30), (3, 1, 30)]
    with pytest.raises(ValueError, match="waveform must be"):
        discriminator(torch.rand(3, 2, 240))


def test_loss_formulas_on_hand_made_outputs():
    config = MelGANConfig(num_discriminators=2, discriminator_layers=1, feature_matching_weight=10.0)
    real = [[torch.tensor([[1.0, 3.0]]), torch.tensor([0.5, -2.0])], [torch.tensor([[0.0]]), torch.tensor([2.0])]]
    fake = [[torch.tensor([[2.0, 3.0]]), torch.tensor([-0.5, 1.0])], [torch.tensor([[-1.0]]), torch.tensor([0.0])]]
    # hinge: scale 0 real mean(relu(1 - [0.5, -2])) = mean(0.5, 3) = 1.75, scale 1: relu(1 - 2) = 0;
    # fake: scale 0 mean(relu(1 + [-0.5, 1])) = mean(0.5, 2) = 1.25, scale 1: relu(1 + 0) = 1
    assert melgan_discriminator_loss(real, fake).item() == pytest.approx(1.75 + 0 + 1.25 + 1)
    losses = melgan_generator_loss(fake, real, config)
    # adversarial: -(mean(-0.5, 1) + 0) = -0.25; feature matching: w = (4 / 2) / 2 = 1, L1 = 0.5 + 1.0
    assert losses["adversarial"].item() == pytest.approx(-0.25)
    assert losses["feature_matching"].item() == pytest.approx(1.5)
    assert losses["loss"].item() == pytest.approx(-0.25 + 10 * 1.5)


def test_one_adversarial_step_updates_both_networks():
    """One training step as the reference's loop: D on a detached fake, then G against the updated D."""
    torch.manual_seed(0)
    config = tiny_config("melgan")
    generator, discriminator = MelGANVocoder(config).train(), MelGANDiscriminator(config)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    mel, real = torch.rand(2, config.num_mel_bins, 8), torch.rand(2, 8 * config.hop_length) * 2 - 1
    before_g = [p.detach().clone() for p in generator.parameters()]
    before_d = [p.detach().clone() for p in discriminator.parameters()]
    fake = generator(mel).waveform
    real_outputs = discriminator(real)
    loss_d = melgan_discriminator_loss(real_outputs, discriminator(fake.detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in generator.parameters())  # fake was detached
    loss_g = melgan_generator_loss(discriminator(fake), real_outputs, config)["loss"]
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    assert all(not torch.equal(a, b) for a, b in zip(before_g, generator.parameters()))
    # the bias of each final score conv gets exactly zero gradient while every hinge is active (d/db = -1 + 1)
    last = f"layers.{len(discriminator.scales[0].layers) - 1}.bias"
    unchanged = [
        name
        for (name, p), b in zip(discriminator.named_parameters(), before_d)
        if torch.equal(p, b) and not name.endswith(last)
    ]
    assert not unchanged, unchanged


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: torch.rand(2, 11, 9), r"\(batch, 12 mel bins, frames\)"),
        (lambda: torch.rand(12, 9), r"\(batch, 12 mel bins, frames\)"),
        (lambda: torch.rand(2, 12, 3), "at least 4"),
        (lambda: torch.zeros(2, 12, 9, dtype=torch.long), "must hold float features"),
        (lambda: torch.rand(2, 12, 9).index_fill_(2, torch.tensor([4]), float("nan")), "non-finite"),
        (lambda: torch.rand(2, 12, 9).index_fill_(2, torch.tensor([0]), float("inf")), "non-finite"),
    ],
)
def test_bad_input_is_named(make, message):
    model = MelGANVocoder(tiny_config("melgan")).eval()
    with pytest.raises(ValueError, match=message):
        model(input_features=make())


def test_config_validation():
    with pytest.raises(Exception, match="upsample_ratios"):
        MelGANConfig(upsample_ratios=[8, 0])
    with pytest.raises(Exception, match="multiple of 4"):
        MelGANConfig(discriminator_width=6)


# ----------------------------------------------------------------------------- conversion
def test_conversion_reproduces_the_authors_waveform(capsys):
    fixture = parity_fixture("specvqgan_melgan")
    assert load_converter().main(["--fixture", str(fixture)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_conversion_fails_loudly_on_a_wrong_mapping(tmp_path):
    """Swapping the shortcut and the 1x1 conv of one residual unit (same shapes) must fail the fixture."""
    fixture = parity_fixture("specvqgan_melgan")
    from safetensors.torch import load_file, save_file

    for file in ("inputs.safetensors", "outputs.safetensors", "original_config.json"):
        (tmp_path / file).write_bytes((fixture / file).read_bytes())
    weights = load_file(fixture / "original_weights.safetensors")
    for suffix in ("bias", "weight_g", "weight_v"):
        a, b = f"model.4.shortcut.{suffix}", f"model.4.block.4.{suffix}"
        weights[a], weights[b] = weights[b], weights[a]
    save_file(weights, tmp_path / "original_weights.safetensors")
    assert load_converter().main(["--fixture", str(tmp_path)]) == 1


def _reference_state_dict(model: MelGANVocoder, convert) -> dict[str, torch.Tensor]:
    """Our weights under the reference's `model.{i}` names (the inverse of the conversion's table)."""
    layout = convert._sequential_layout(len(model.config.upsample_ratios), model.config.num_residual_layers)
    ours_to_index = {name: index for index, name in layout.items()}
    unit_names = {v: k for k, v in convert._UNIT.items()}
    parameter_names = {v: k for k, v in convert._PARAMETER.items()}
    state = {}
    for key, tensor in model.state_dict().items():
        parameter = next(p for p in parameter_names if key.endswith("." + p))
        module, original = key[: -len(parameter) - 1], parameter_names[parameter]
        head, _, last = module.rpartition(".")
        if last in unit_names:
            state[f"model.{ours_to_index[head]}.{unit_names[last]}.{original}"] = tensor
        else:
            state[f"model.{ours_to_index[module]}.{original}"] = tensor
    return state


@pytest.mark.parametrize(
    "fields",
    [dict(), dict(generator_width=8, num_residual_layers=2), dict(upsample_ratios=[5, 4, 3], num_mel_bins=64)],
    ids=["released", "ngf8_2units", "odd_ratios"],
)
def test_sizes_are_read_from_reference_shaped_weights(fields):
    """The released layout (`model.24` is the output conv for ngf 32, 3 units, 4 stages) and other sizes round-trip
    through the reference naming, and the converted model computes the same waveform."""
    convert = load_converter()
    torch.manual_seed(0)
    model = MelGANVocoder(MelGANConfig(**fields)).eval()
    state = _reference_state_dict(model, convert)
    if not fields:
        assert "model.24.weight_v" in state and state["model.3.weight_g"].shape == (512, 1, 1)
    config = convert.config_from_weights(state)
    for name in ("num_mel_bins", "generator_width", "num_residual_layers"):
        assert getattr(config, name) == getattr(model.config, name)
    assert list(config.upsample_ratios) == list(model.config.upsample_ratios)
    converted = convert.load_model(state)
    mel = torch.rand(1, model.config.num_mel_bins, 5)
    with torch.no_grad():
        assert torch.equal(converted(mel).waveform, model(mel).waveform)
    with pytest.raises(KeyError, match="no conversion rule"):
        convert.convert_state_dict({**state, "model.2.weight": torch.zeros(1)}, config)


def test_vocoder_training_alternates_two_optimizers_and_resumes_exactly(tmp_path):
    """`scripts/run_generation.py train --model_type melgan` (synthetic tones): the discriminator (own Adam) steps
    before the generator on every batch; a run stopped at a checkpoint and resumed ends bit-identical to an
    uninterrupted one, the generator and the discriminator alike."""
    from safetensors.torch import load_file

    from videozoo.recipes import run_family

    def train_melgan(args: list[str]) -> dict:
        return run_family("generation", ["train", "--model_type", "melgan", *args])

    common = ["--generator_width", "4", "--discriminator_width", "4", "--discriminator_max_channels", "64"]
    common += ["--per_device_train_batch_size", "4", "--cpu", "--disable_tqdm", "--report_to", "none"]
    common += ["--learning_rate", "1e-3", "--adam_beta1", "0.5", "--adam_beta2", "0.9", "--checkpointing_steps", "2"]
    metrics = train_melgan(common + ["--max_steps", "4", "--output_dir", str(tmp_path / "whole")])
    train_melgan(common + ["--max_steps", "2", "--output_dir", str(tmp_path / "split")])
    train_melgan(
        common + ["--max_steps", "4", "--output_dir", str(tmp_path / "split"), "--resume_from_checkpoint", "latest"]
    )
    assert 0 < metrics["mel_l1"] < 1
    for name in ("model.safetensors", "checkpoints/step_4/model_1.safetensors"):
        whole, split = (load_file(tmp_path / run / name) for run in ("whole", "split"))
        assert whole.keys() == split.keys() and all(torch.equal(whole[k], split[k]) for k in whole), name
    first, last = (load_file(tmp_path / "whole" / f"checkpoints/step_{s}/model_1.safetensors") for s in (2, 4))
    assert not all(torch.equal(first[k], last[k]) for k in first)  # the discriminator trains
