import importlib.util

import pytest
import torch
from torch.nn import functional as F

from videozoo.configuration import SpecVQGANConfig, SpecVQGANSamplerConfig
from videozoo.modeling import SpecVQGANForConditionalGeneration, SpecVQGANModel
from videozoo.modeling.modeling_specvqgan import (
    SpecVQGANLPAPS,
    SpecVQGANPatchDiscriminator,
    SpecVQGANTrainingLoss,
    column_major_order,
    hinge_discriminator_loss,
)

from .conftest import REPO_ROOT, parity_fixture
from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config


def spectrograms(batch_size: int, seed: int = 0, bins: int = 16, frames: int = 10) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(batch_size, bins, frames, generator=generator))


def sampler_inputs(config, batch_size: int, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, config.codebook_size, (batch_size, config.num_tokens - 1), generator=generator)
    bos = torch.full((batch_size, 1), config.bos_token_id)
    return {
        "visual_features": torch.randn(batch_size, config.num_features, config.feature_size, generator=generator),
        "input_ids": torch.cat([bos, tokens], dim=1),
    }


def load_converter():
    spec = importlib.util.spec_from_file_location(
        "convert_specvqgan", REPO_ROOT / "scripts" / "convert_specvqgan_original_checkpoint.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- Stage I
class TestSpecVQGANModel(ModelTesterMixin):
    model_type = "specvqgan"

    def prepare_inputs(self, config, batch_size):
        return {"input_features": spectrograms(batch_size)}

    def comparable_outputs(self, output):
        return {"reconstruction": output.reconstruction, "indices": output.indices}

    def test_shapes_and_encode_decode_paths_agree(self):
        model = self.build()
        x = spectrograms(2)
        with torch.no_grad():
            out = model(x, return_loss=True)
            encoded = model.encode(x)
            from_indices = model.decode(encoded.indices, latent_grid=(8, 5))
            from_grid = model.decode(encoded.indices.view(2, 8, 5))
            from_latents = model.decode(quantized=encoded.quantized)
        assert out.reconstruction.shape == (2, 16, 10) and out.indices.shape == (2, 40)
        assert model.config.latent_size(10) == (8, 5)
        torch.testing.assert_close(from_indices, from_grid, atol=0, rtol=0)
        # the straight-through latents equal the codebook rows up to float rounding (fixture: <= 1.2e-7)
        torch.testing.assert_close(from_latents, out.reconstruction, atol=1e-5, rtol=0)
        torch.testing.assert_close(from_indices, out.reconstruction, atol=1e-5, rtol=0)
        expected = (x - out.reconstruction).abs().mean() + out.codebook_loss
        torch.testing.assert_close(out.loss, expected)

    def test_codebook_loss_is_the_reference_weighting_and_indices_are_nearest(self):
        model = self.build()
        x = spectrograms(2, seed=3)
        with torch.no_grad():
            encoded = model.encode(x)
        latents = encoded.latents.permute(0, 2, 3, 1).reshape(-1, model.config.embed_dim).double()
        codebook = model.quantize.embedding.weight.double()
        nearest = torch.cdist(latents, codebook).argmin(dim=1)
        assert torch.equal(nearest.view(2, -1), encoded.indices)
        chosen = codebook[nearest]
        expected = 1.25 * ((chosen - latents) ** 2).mean()  # (1 + beta) * MSE in value, beta = 0.25
        torch.testing.assert_close(encoded.codebook_loss.double(), expected, atol=1e-6, rtol=1e-5)

    def test_straight_through_gradient_reaches_the_encoder(self):
        model = self.build(tiny_config("specvqgan", codebook_weight=0.0)).train()
        out = model(spectrograms(2), return_loss=True)
        out.loss.backward()  # only the L1 term: the encoder learns through the straight-through estimator alone
        assert model.encoder.conv_in.weight.grad.abs().sum() > 0
        assert model.quantize.embedding.weight.grad is None or model.quantize.embedding.weight.grad.abs().sum() == 0

    def test_attention_placement_follows_the_reference_bookkeeping(self):
        model = self.build()
        assert len(model.encoder.down[1].attn) == 1 and len(model.encoder.down[0].attn) == 0
        assert len(model.decoder.up[1].attn) == 2 and len(model.decoder.up[0].attn) == 0
        assert hasattr(model.encoder.down[0], "downsample") and not hasattr(model.encoder.down[1], "downsample")
        assert hasattr(model.decoder.up[1], "upsample") and not hasattr(model.decoder.up[0], "upsample")

    @pytest.mark.parametrize(
        "bad, match",
        [
            (torch.zeros(2, 15, 10), "mel bins"),
            (torch.zeros(2, 2, 16, 10), r"\(B, 16, frames\)"),
            (torch.full((2, 16, 10), 3.0), r"\[-1, 1\]"),
            (torch.full((2, 16, 10), float("nan")), "NaN"),
            (torch.zeros(2, 16, 10, dtype=torch.long), "must hold float features"),
            (torch.zeros(2, 16, 1), "downsampling factor"),
        ],
    )
    def test_bad_spectrograms_are_refused(self, bad, match):
        model = self.build()
        with pytest.raises(ValueError, match=match):
            model(bad)

    def test_bad_indices_are_refused(self):
        model = self.build()
        with pytest.raises(ValueError, match=r"indices must lie in \[0, 19\)"):
            model.decode(torch.full((1, 8, 5), 19))
        with pytest.raises(ValueError, match="indices must hold integer ids"):
            model.decode(torch.zeros(1, 8, 5))
        with pytest.raises(ValueError, match="do not fit"):
            model.decode(torch.zeros(1, 40, dtype=torch.long), latent_grid=(8, 4))
        with pytest.raises(ValueError, match="exactly one"):
            model.decode()

    def test_released_sizes(self):
        config = SpecVQGANConfig()
        assert config.latent_size(848) == (5, 53)
        with torch.device("meta"):
            model = SpecVQGANModel(config)
        count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        # the reference `VQModel` (VGGSound config): encoder 29.3 M, decoder 42.4 M, codebook 0.26 M
        assert round(count(model.encoder) / 1e6, 1) == 29.3 and round(count(model.decoder) / 1e6, 1) == 42.4
        assert count(model.quantize) == 262_144
        assert len(model.encoder.down[4].attn) == 2 and len(model.decoder.up[4].attn) == 3


def test_overfitting_one_spectrogram():
    """A cheap learnability check: L1 on a single spectrogram falls by more than half in 100 Adam steps."""
    torch.manual_seed(0)
    model = SpecVQGANModel(tiny_config("specvqgan")).train()
    x = spectrograms(1, seed=5)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(100):
        out = model(x, return_loss=True)
        l1 = (out.reconstruction - x).abs().mean().item()
        first = l1 if first is None else first
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert l1 < 0.5 * first, (first, l1)


# ----------------------------------------------------------------------------- Stage I training parts
def test_hinge_loss_and_adaptive_weight_clamp():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.5])
    # real: relu(1 - x) = 0, 0.5, 2 -> 2.5/3 ; fake: relu(1 + x) = 0, 1, 2.5 -> 3.5/3
    torch.testing.assert_close(hinge_discriminator_loss(real, fake), torch.tensor(0.5 * (2.5 / 3 + 3.5 / 3)))
    config = tiny_config("specvqgan", min_adapt_weight=0.5, max_adapt_weight=2.0, disc_weight=0.8)
    loss = SpecVQGANTrainingLoss(config, require_pretrained=False)
    layer = torch.ones(3, requires_grad=True)
    weight = loss.adaptive_weight((layer * 100).sum(), (layer * 1).sum(), layer)  # ratio ~100 -> clamped to 2
    torch.testing.assert_close(weight, torch.tensor(1.6))
    weight = loss.adaptive_weight((layer * 1).sum(), (layer * 1000).sum(), layer)  # ratio ~1e-3 -> clamped to 0.5
    torch.testing.assert_close(weight, torch.tensor(0.4))


def test_training_loss_steps_and_lpaps_erratum_guard():
    torch.manual_seed(0)
    config = tiny_config("specvqgan", disc_start=0, disc_num_layers=2)
    model = SpecVQGANModel(config).train()
    x = spectrograms(2, frames=32)
    out = model(x)
    strict = SpecVQGANTrainingLoss(config)
    with pytest.raises(RuntimeError, match="no VGGish-ish weights"):
        strict(out.codebook_loss, x, out.reconstruction, 0, 10, model.get_last_layer())
    lpaps = strict.perceptual_loss
    state = {k: torch.randn_like(v) * 0.1 for k, v in lpaps.state_dict().items() if k.startswith("features.")}
    lpaps.load_vggishish(state)
    loss, logs = strict(out.codebook_loss, x, out.reconstruction, 0, 10, model.get_last_layer())
    assert torch.isfinite(loss) and logs["p_loss"] > 0 and logs["d_weight"] == pytest.approx(0.8)
    loss.backward()
    assert model.decoder.conv_out.weight.grad is not None
    d_loss, _ = strict(out.codebook_loss, x, out.reconstruction.detach(), 1, 10)
    assert d_loss > 0
    before_start, _ = SpecVQGANTrainingLoss(
        tiny_config("specvqgan", disc_start=100, disc_num_layers=2), require_pretrained=False
    )(out.codebook_loss, x, out.reconstruction.detach(), 1, 10)
    assert before_start == 0
    with pytest.raises(ValueError, match="lacks"):
        lpaps.load_vggishish({})


def test_lpaps_is_zero_for_identical_inputs_and_discriminator_map_shape():
    lpaps = SpecVQGANLPAPS((8, 12, 16, 16, 16), num_mel_bins=80)
    x = torch.rand(2, 1, 80, 96) * 2 - 1
    assert lpaps(x, x).abs().max() == 0 and lpaps(x, x.flip(-1)).min() > 0
    assert all(w.min() > 0 for w in (lin.weight for lin in lpaps.lins))  # non-negative 1/C start
    discriminator = SpecVQGANPatchDiscriminator(1, 64, 3)
    assert discriminator(torch.zeros(1, 1, 80, 848)).shape == (1, 1, 8, 104)  # as the reference's patch discriminator
    assert round(sum(p.numel() for p in discriminator.parameters()) / 1e6, 2) == 2.76


# ----------------------------------------------------------------------------- Stage II
class TestSpecVQGANSampler(ModelTesterMixin):
    model_type = "specvqgan_sampler"

    def prepare_inputs(self, config, batch_size):
        return sampler_inputs(config, batch_size)

    def loss_inputs(self, inputs):
        generator = torch.Generator().manual_seed(7)
        return {**inputs, "labels": torch.randint(0, 19, inputs["input_ids"].shape, generator=generator)}

    def comparable_outputs(self, output):
        return {"logits": output.logits}

    def test_teacher_forcing_from_a_spectrogram(self):
        model = self.build()
        x, features = spectrograms(2), torch.randn(2, 3, 20)
        with torch.no_grad():
            out = model(input_features=x, visual_features=features)
            target = model.encode_to_indices(x)
        assert out.logits.shape == (2, 40, 19)
        row_major = model.first_stage_model.encode(x).indices
        assert torch.equal(target, row_major[:, column_major_order(8, 5)])
        torch.testing.assert_close(out.loss, F.cross_entropy(out.logits.reshape(-1, 19), target.reshape(-1)))

    def test_teacher_forcing_and_generation_survive_save_and_load(self, tmp_path):
        from transformers import AutoModel

        model = self.build()
        x, features = spectrograms(2), torch.randn(2, 3, 20)
        model.save_pretrained(tmp_path)
        reloaded = AutoModel.from_pretrained(tmp_path).eval()
        with torch.no_grad():
            for name in ("encode_to_indices",):
                assert torch.equal(getattr(reloaded, name)(x), getattr(model, name)(x))
            torch.testing.assert_close(
                reloaded(input_features=x, visual_features=features).loss,
                model(input_features=x, visual_features=features).loss,
                atol=0,
                rtol=0,
            )
            half = dict(input_features=x, priming="half", do_sample=False)
            assert torch.equal(reloaded.generate(features, **half).indices, model.generate(features, **half).indices)

    def test_causality_including_the_condition_prefix(self):
        model = self.build()
        inputs = sampler_inputs(model.config, 2)
        changed = {k: v.clone() for k, v in inputs.items()}
        changed["input_ids"][:, 20] = (changed["input_ids"][:, 20] + 1) % 19
        with torch.no_grad():
            a, b = model(**inputs).logits, model(**changed).logits
        torch.testing.assert_close(a[:, :20], b[:, :20], atol=0, rtol=0)
        assert (a[:, 20] - b[:, 20]).abs().max() > 1e-3
        # the last feature vector sees the earlier ones, not the other way round: changing it leaves no trace on
        # positions that precede it (the prefix itself is not scored), but changes every score
        changed = {k: v.clone() for k, v in inputs.items()}
        changed["visual_features"][:, 0] += 1.0
        with torch.no_grad():
            assert (model(**changed).logits - a).abs().max() > 1e-3

    def test_kv_cache_gives_the_full_forward_logits(self):
        model = self.build()
        inputs = sampler_inputs(model.config, 2)
        with torch.no_grad():
            full = model(**inputs).logits
            first = model(
                input_ids=inputs["input_ids"][:, :7], visual_features=inputs["visual_features"], use_cache=True
            )
            steps, cache = [first.logits], first.past_key_values
            for position in range(7, inputs["input_ids"].shape[1]):
                out = model(
                    input_ids=inputs["input_ids"][:, position : position + 1], past_key_values=cache, use_cache=True
                )
                steps.append(out.logits)
                cache = out.past_key_values
        # float32 rounding of another summation order; the parity fixture's logits agree to 5e-6
        torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=2e-5, rtol=0)
        # teacher-forcing loss = mean of the step-by-step negative log-likelihoods of the same sequence
        targets = torch.cat([inputs["input_ids"][:, 1:], torch.zeros(2, 1, dtype=torch.long)], dim=1)
        with torch.no_grad():
            loss = model(**inputs, labels=targets).loss
        step_nll = -torch.cat(steps, dim=1).log_softmax(-1).gather(-1, targets[..., None]).mean()
        torch.testing.assert_close(loss, step_nll, atol=1e-5, rtol=0)

    def reference_loop(self, model, features, primer, top_k, seed, sample=True):
        """The reference's `sample`: re-run the whole prefix each step, top-k, softmax, one multinomial draw."""
        if seed is not None:
            torch.manual_seed(seed)
        tokens = primer
        bos = torch.full((features.shape[0], 1), model.config.bos_token_id)
        while tokens.shape[1] < model.config.num_tokens:
            logits = model(input_ids=torch.cat([bos, tokens], 1), visual_features=features).logits[:, -1]
            if top_k is not None:
                kth = torch.topk(logits, top_k).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = logits.softmax(-1)
            step = torch.multinomial(probs, 1) if sample else probs.argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, step], dim=1)
        return tokens

    def test_generate_matches_the_reference_sampling_loop(self):
        model = self.build()
        features = torch.randn(2, 3, 20)
        empty = torch.zeros(2, 0, dtype=torch.long)
        with torch.no_grad():
            greedy = model.generate(features, do_sample=False)
            assert torch.equal(greedy.indices, self.reference_loop(model, features, empty, None, None, sample=False))
            torch.manual_seed(11)
            sampled = model.generate(features, do_sample=True, top_k=4, decode=False)
            assert torch.equal(sampled.indices, self.reference_loop(model, features, empty, 4, 11))
            torch.manual_seed(11)
            top1 = model.generate(features, do_sample=True, top_k=1, decode=False)
        assert torch.equal(top1.indices, greedy.indices)
        assert greedy.spectrogram.shape == (2, 16, 10)
        assert torch.equal(greedy.indices_row_major[:, column_major_order(8, 5)], greedy.indices)

    def test_half_priming_keeps_the_ground_truth_first_half(self):
        model = self.build()
        x, features = spectrograms(2), torch.randn(2, 3, 20)
        with torch.no_grad():
            half = model.generate(features, input_features=x, priming="half", do_sample=False)
            truth = model.encode_to_indices(x)
        primed = (5 // 2) * 8  # (W // 2) * H column-major tokens
        assert torch.equal(half.indices[:, :primed], truth[:, :primed])
        with torch.no_grad():
            expected = self.reference_loop(model, features, truth[:, :primed], None, None, sample=False)
        assert torch.equal(half.indices, expected)

    def test_class_conditioned_variant(self):
        model = self.build(tiny_config("specvqgan_sampler", num_classes=4))
        assert model.config.num_condition_tokens == 4 and model.config.max_position_embeddings == 44
        inputs = sampler_inputs(model.config, 2)
        with torch.no_grad():
            a = model(**inputs, class_ids=torch.tensor([0, 1])).logits
            b = model(**inputs, class_ids=torch.tensor([2, 1])).logits
        assert (a[0] - b[0]).abs().max() > 1e-3 and torch.equal(a[1], b[1])
        with pytest.raises(ValueError, match="class-conditioned"):
            model(**inputs)

    @pytest.mark.parametrize(
        "change, match",
        [
            (lambda i: {**i, "visual_features": i["visual_features"][:, :, :5]}, r"\(B, 3, 20\)"),
            (lambda i: {**i, "visual_features": i["visual_features"][:, :2]}, "2 vectors per clip"),
            (lambda i: {**i, "visual_features": i["visual_features"] * float("nan")}, "NaN"),
            (lambda i: {**i, "input_ids": i["input_ids"][:, 1:]}, "start with bos_token_id"),
            (lambda i: {**i, "input_ids": i["input_ids"].clone().fill_(0)}, "start with bos"),
            (
                lambda i: {**i, "input_ids": torch.cat([i["input_ids"][:, :1], i["input_ids"][:, 1:] + 19], 1)},
                r"\[0, 19\)",
            ),
            (lambda i: {**i, "class_ids": torch.zeros(3, dtype=torch.long)}, "no class embedding"),
            (lambda i: {k: v for k, v in i.items() if k != "visual_features"}, "visual_features are needed"),
        ],
    )
    def test_bad_inputs_are_refused(self, change, match):
        model = self.build()
        with pytest.raises(ValueError, match=match):
            model(**change(sampler_inputs(model.config, 3)))

    def test_bad_generation_arguments_are_refused(self):
        model = self.build()
        features = torch.randn(1, 3, 20)
        with pytest.raises(ValueError, match="priming"):
            model.generate(features, priming="third")
        with pytest.raises(ValueError, match="needs input_features"):
            model.generate(features, priming="half")
        with pytest.raises(ValueError, match="k < 40"):
            model.generate(features, primer_indices=torch.zeros(1, 40, dtype=torch.long))
        with pytest.raises(ValueError, match="top_k"):
            model.generate(features, top_k=0)
        with pytest.raises(ValueError, match="crop the spectrogram"):
            model.encode_to_indices(spectrograms(1, frames=12))

    def test_released_sizes(self):
        config = SpecVQGANSamplerConfig()
        assert config.max_position_embeddings == 477 and config.sequence_length == 476
        assert column_major_order(5, 53)[:7].tolist() == [0, 53, 106, 159, 212, 1, 54]
        with torch.device("meta"):  # sizes only: no memory for 307 M values
            model = SpecVQGANForConditionalGeneration(config)
        # 307.0 M: the size of the reference's `GPTFeats` at this configuration
        assert round(sum(p.numel() for p in model.transformer.parameters()) / 1e6, 1) == 307.0


# ----------------------------------------------------------------------------- conversion parity
@pytest.mark.parametrize("name", ["specvqgan_codebook", "specvqgan_transformer"])
def test_conversion_reproduces_the_parity_fixture(name):
    results = load_converter().check_fixture(parity_fixture(name))
    failed = {k: v for k, v in results.items() if v[0] > v[1]}
    assert not failed, failed


def test_conversion_mutations_are_caught():
    """A wrong conversion (query / key swapped in one attention block) fails the fixture check."""
    converter = load_converter()
    fixture = parity_fixture("specvqgan_codebook")
    from safetensors.torch import load_file

    weights = load_file(fixture / "original_weights.safetensors")
    weights["encoder.mid.attn_1.q.weight"], weights["encoder.mid.attn_1.k.weight"] = (
        weights["encoder.mid.attn_1.k.weight"],
        weights["encoder.mid.attn_1.q.weight"],
    )
    model = converter.load_first_stage(weights)
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    with torch.no_grad():
        assert (model(inputs["spectrogram"]).reconstruction - expected["x_rec"]).abs().max() > 0.1
    weights["loss.discriminator.main.0.weight"] = torch.zeros(1)  # training-loss keys are dropped
    converter.load_first_stage(weights)


def test_conversion_command_on_a_lightning_checkpoint_and_project_yaml(tmp_path):
    """The command-line path: a Lightning-style `.ckpt` (state_dict + training state, read by the restricted
    unpickler) and the authors' project yaml (nested `data.params`) -> a saved model with the fixture's outputs."""
    import json

    import yaml
    from safetensors.torch import load_file
    from transformers import AutoModel

    converter = load_converter()
    fixture = parity_fixture("specvqgan_transformer")
    original = json.loads((fixture / "original_config.json").read_text())
    weights = load_file(fixture / "original_weights.safetensors")
    torch.save({"state_dict": weights, "epoch": 3, "global_step": 10, "optimizer_states": []}, tmp_path / "last.ckpt")
    project = {
        "model": original["model"],
        "data": {"params": {"train": {"params": {"condition_dataset_cfg": {"feat_sample_size": 5}}}}},
    }
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project))
    code = converter.main(
        ["--checkpoint", str(tmp_path / "last.ckpt"), "--config", str(tmp_path / "project.yaml"),
         "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    assert code == 0
    model = AutoModel.from_pretrained(tmp_path / "out").eval()
    assert isinstance(model, SpecVQGANForConditionalGeneration) and model.config.num_features == 5
    inputs, expected = load_file(fixture / "inputs.safetensors"), load_file(fixture / "outputs.safetensors")
    with torch.no_grad():
        out = model(input_features=inputs["spectrogram"], visual_features=inputs["features"].transpose(1, 2))
        greedy = model.generate(inputs["features"].transpose(1, 2), do_sample=False)
    assert (out.logits - expected["logits"]).abs().max() < 1e-5
    assert torch.equal(greedy.indices, expected["greedy_indices"])
    with pytest.raises(ValueError, match="attention-head count"):
        converter.load_sampler(weights, {}, {"feat_sample_size": 5})
