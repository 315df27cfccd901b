"""A small model-tester mixin that every registered architecture runs (our version of transformers'
`ModelTesterMixin`; that one ships only with the transformers repository).

A test class sets `model_type` and implements `prepare_inputs(config, batch_size)`; it may override
`pad_inputs`, `comparable_outputs`, `loss_inputs` and `model_class`. Checks that do not apply are switched off
with the `test_*` class flags, with a reason in the test file.
"""

import copy

import pytest
import torch
from transformers import AutoConfig, AutoModel, PreTrainedModel

from .tiny_configs import TINY_CONFIGS, tiny_config


def slice_batch(inputs, index: int, batch_size: int):
    """Take item `index` of every tensor whose first axis is the batch (recursing into dicts)."""
    if isinstance(inputs, dict):
        return {k: slice_batch(v, index, batch_size) for k, v in inputs.items()}
    if isinstance(inputs, torch.Tensor) and inputs.dim() > 0 and inputs.shape[0] == batch_size:
        return inputs[index : index + 1]
    return inputs


def to_float64(inputs):
    """Floating tensors of `inputs` (recursing into dicts) in float64; other values unchanged."""
    if isinstance(inputs, dict):
        return {k: to_float64(v) for k, v in inputs.items()}
    if isinstance(inputs, torch.Tensor) and inputs.is_floating_point():
        return inputs.double()
    return inputs


def assert_close(actual, expected, atol=None, what=""):
    """Two float32 computations of the same outputs (padded vs plain, alone vs in a batch, SDPA vs eager): by
    default within 5e-6 x max(1, the largest |expected|). Measured (AMD EPYC, 1 and 2 threads; every tiny model,
    float64 runs of the same weights): the float32 paths differ by up to 5.5e-7 of that scale (AVLnet alone vs in a
    batch 4.8e-6 at outputs up to 8.7, MDVC padded 2.9e-6 at 10.2), each is up to 4.9e-7 of it from float64, and
    the same comparisons in float64 agree to 5e-15."""
    if atol is None and expected.is_floating_point() and expected.numel():
        atol = 5e-6 * max(1.0, expected.detach().abs().max().item())
    torch.testing.assert_close(actual, expected, atol=atol or 0.0, rtol=0, msg=lambda m: f"{what}: {m}")


class ModelTesterMixin:
    model_type: str = ""
    model_class = AutoModel
    batch_size = 3
    check_padding_invariance = True  # (flags named like their tests would hide them)
    check_batch_independence = True
    test_attention_implementations = True
    check_output_attentions = True  # (a flag named like the test would hide it)
    # eager vs SDPA vs float64 (`test_attention_implementations_agree`). Largest gap measured on the tiny configs
    # (this CPU, 1 and 2 threads): 2.0e-6 (MDVC log-probabilities, |x| <= 10; AVATAR 2.1e-6, BMT 1.1e-6, the
    # retrieval models <= 1.2e-7), so 1e-5 leaves a factor 5 for other CPUs.
    attention_atol = 1e-5
    attention_output_fields: tuple[str, ...] = ("attentions",)
    max_parameters = 1_000_000
    unused_parameters: tuple[str, ...] = ()  # prefixes of parameters the architecture keeps but never applies

    # ---- hooks for the test class
    def get_config(self, **overrides):
        return tiny_config(self.model_type, **overrides)

    def prepare_inputs(self, config, batch_size: int) -> dict:
        raise NotImplementedError

    def pad_inputs(self, inputs: dict) -> dict | None:
        """Inputs with extra padding (masked) that must not change `comparable_outputs`."""
        return None

    def loss_inputs(self, inputs: dict) -> dict:
        """Inputs for which the model returns a loss."""
        return {**inputs, "return_loss": True}

    def comparable_outputs(self, output) -> dict[str, torch.Tensor]:
        """Per-sample outputs (batch first) compared by the invariance checks."""
        raise NotImplementedError

    # ---- helpers
    def build(self, config=None, seed: int = 0):
        torch.manual_seed(seed)
        config = config or self.get_config()
        model = self.model_class.from_config(config) if self.model_class is AutoModel else self.model_class(config)
        return model.eval()

    def _randomize_norm_statistics(self, model):
        """Default inits hide bugs (BatchNorm running stats 0/1): give them random values."""
        generator = torch.Generator().manual_seed(1)
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)

    # ---- checks
    def test_config_round_trip(self, tmp_path):
        config = self.get_config()
        config.save_pretrained(tmp_path)
        reloaded = AutoConfig.from_pretrained(tmp_path)
        assert type(reloaded) is type(config)
        ignore = {"_name_or_path"}
        assert {k: v for k, v in reloaded.to_dict().items() if k not in ignore} == {
            k: v for k, v in config.to_dict().items() if k not in ignore
        }

    def test_config_rejects_wrong_type(self):
        import dataclasses

        config = self.get_config()
        own = [f.name for f in dataclasses.fields(config) if f.type is int and f.name in type(config).__annotations__]
        assert own, "the config declares no int field"
        with pytest.raises((TypeError, ValueError)):
            self.get_config(**{own[0]: "two"})

    def test_save_load_through_auto_classes(self, tmp_path):
        model = self.build()
        self._randomize_norm_statistics(model)
        inputs = self.prepare_inputs(model.config, self.batch_size)
        with torch.no_grad():
            expected = self.comparable_outputs(model(**copy.deepcopy(inputs)))
        model.save_pretrained(tmp_path)
        reloaded = AutoModel.from_pretrained(tmp_path).eval()
        assert type(reloaded) is type(model)
        with torch.no_grad():
            actual = self.comparable_outputs(reloaded(**copy.deepcopy(inputs)))
        for name in expected:
            assert torch.equal(actual[name], expected[name]), f"{name} changed after save/load"

    def test_forward_is_deterministic_and_pure(self):
        model = self.build()
        inputs = self.prepare_inputs(model.config, self.batch_size)
        snapshot = copy.deepcopy(inputs)
        with torch.no_grad():
            first = self.comparable_outputs(model(**inputs))
            second = self.comparable_outputs(model(**inputs))
            as_tuple = model(**inputs, return_dict=False)
        for name in first:
            assert torch.equal(first[name], second[name]), f"{name} differs between two eval forwards"
        assert isinstance(as_tuple, tuple)
        for key, value in snapshot.items():  # forward must not modify its inputs
            original = value if isinstance(value, dict) else {"": value}
            now = inputs[key] if isinstance(inputs[key], dict) else {"": inputs[key]}
            for inner in original:
                if isinstance(original[inner], torch.Tensor):
                    assert torch.equal(original[inner], now[inner]), f"forward modified input {key}{inner}"

    def test_every_parameter_gets_a_gradient(self):
        model = self.build().train()
        inputs = self.loss_inputs(self.prepare_inputs(model.config, self.batch_size))
        output = model(**inputs)
        assert output.loss is not None and torch.isfinite(output.loss)
        output.loss.backward()
        missing = [
            n
            for n, p in model.named_parameters()
            if p.requires_grad
            and (p.grad is None or not p.grad.abs().sum() > 0)
            and not n.startswith(self.unused_parameters)
        ]
        assert not missing, f"parameters without gradient: {missing}"
        bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        assert not bad, f"non-finite gradients: {bad}"

    def test_padding_invariance(self):
        if not self.check_padding_invariance:
            pytest.skip("not applicable")
        model = self.build()
        self._randomize_norm_statistics(model)
        inputs = self.prepare_inputs(model.config, self.batch_size)
        padded = self.pad_inputs(copy.deepcopy(inputs))
        if padded is None:
            pytest.skip("the tester defines no padding")
        with torch.no_grad():
            expected = self.comparable_outputs(model(**inputs))
            actual = self.comparable_outputs(model(**padded))
        for name in expected:
            assert_close(actual[name], expected[name], what=f"{name} with extra padding")

    def test_batch_independence(self):
        if not self.check_batch_independence:
            pytest.skip("not applicable")
        model = self.build()
        self._randomize_norm_statistics(model)
        inputs = self.prepare_inputs(model.config, self.batch_size)
        with torch.no_grad():
            batched = self.comparable_outputs(model(**inputs))
            for index in range(self.batch_size):
                alone = self.comparable_outputs(model(**slice_batch(inputs, index, self.batch_size)))
                for name in batched:
                    assert_close(
                        alone[name][0], batched[name][index], what=f"{name} of item {index} alone vs in batch"
                    )

    def _attending_modules(self, model) -> list[torch.nn.Module]:
        """Modules that dispatch on `config._attn_implementation` (the shared `MultiHeadAttention`, BERT's)."""
        return [
            m
            for m in model.modules()
            if not isinstance(m, PreTrainedModel) and hasattr(getattr(m, "config", None), "_attn_implementation")
        ]

    def test_attention_implementations_agree(self, tmp_path):
        """Same weights, eager vs SDPA: both float32 results within `attention_atol` of a float64 eager run and of
        each other. Every attending module must really run the requested implementation."""
        if not self.test_attention_implementations:
            pytest.skip("not applicable")
        model = self.build()
        self._randomize_norm_statistics(model)
        model.save_pretrained(tmp_path)
        inputs = self.prepare_inputs(model.config, self.batch_size)
        outputs = {}
        for implementation in ("eager", "sdpa", "float64"):
            requested = "eager" if implementation == "float64" else implementation
            loaded = AutoModel.from_pretrained(tmp_path, attn_implementation=requested).eval()
            attending = self._attending_modules(loaded)
            assert attending, "no module dispatches on config._attn_implementation"
            used = {m.config._attn_implementation for m in attending}
            assert used == {requested}, f"asked for {requested}, modules use {used}"
            run_inputs = copy.deepcopy(inputs)
            if implementation == "float64":
                loaded = loaded.double()
                run_inputs = to_float64(run_inputs)
            with torch.no_grad():
                outputs[implementation] = self.comparable_outputs(loaded(**run_inputs))
        for name, reference in outputs["float64"].items():
            reference = reference.float() if reference.is_floating_point() else reference
            for implementation in ("eager", "sdpa"):
                assert_close(outputs[implementation][name], reference, self.attention_atol, f"{name} {implementation}")
            assert_close(outputs["sdpa"][name], outputs["eager"][name], self.attention_atol, f"{name} sdpa vs eager")
        model.set_attn_implementation("eager")  # switching a built model reaches every attending module
        used = {m.config._attn_implementation for m in self._attending_modules(model)}
        assert used == {"eager"}, f"set_attn_implementation('eager') left {used}"
        with torch.no_grad():
            switched = self.comparable_outputs(model(**copy.deepcopy(inputs)))
        for name in switched:
            assert_close(switched[name], outputs["eager"][name], self.attention_atol, f"{name} after switching")

    def test_output_attentions(self):
        """`output_attentions=True` returns, in `attention_output_fields`, one `(batch, heads, queries, keys)`
        softmax per attention call (rows sum to 1), also when the model is configured for SDPA, and leaves the
        outputs unchanged; without it the fields stay empty."""
        if not (self.test_attention_implementations and self.check_output_attentions):
            pytest.skip("not applicable")
        model = self.build()
        self._randomize_norm_statistics(model)
        assert model.config._attn_implementation == "sdpa"  # the default: weights must still come back
        inputs = self.prepare_inputs(model.config, self.batch_size)
        with torch.no_grad():
            plain = model(**copy.deepcopy(inputs))
            recorded = model(**copy.deepcopy(inputs), output_attentions=True)
        expected = self.comparable_outputs(plain)
        actual = self.comparable_outputs(recorded)
        for name in expected:
            assert_close(actual[name], expected[name], self.attention_atol, f"{name} with output_attentions")
        for field in self.attention_output_fields:
            assert getattr(plain, field, None) is None, f"{field} returned without output_attentions"
            weights = recorded[field]
            assert isinstance(weights, tuple) and len(weights) > 0, f"{field} is empty"
            for w in weights:
                assert w.dim() == 4 and w.shape[0] == self.batch_size, f"{field}: shape {tuple(w.shape)}"
                assert (w >= 0).all()
                torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)), atol=1e-5, rtol=0)
        as_tuple = model(**copy.deepcopy(inputs), output_attentions=True, return_dict=False)
        assert isinstance(as_tuple, tuple)
        used = {m.config._attn_implementation for m in self._attending_modules(model)}
        assert used == {"sdpa"}, f"recording left the attention implementations at {used}"

    def test_model_is_small(self):
        assert self.model_type in TINY_CONFIGS
        model = self.build()
        count = sum(p.numel() for p in model.parameters())
        assert count < self.max_parameters, f"tiny model has {count} parameters"
