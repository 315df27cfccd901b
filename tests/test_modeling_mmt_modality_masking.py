import copy

import pytest
import torch

from videozoo.modeling import MMTForModalityMaskingPretraining, MMTModel
from videozoo.modeling.modeling_mmt_modality_masking import sample_masked_modality

from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config

TOKENS = {"s3d": 5, "vggish": 4, "asr": 6}


def masking_inputs(config, batch_size: int, seed: int = 0, masked_modality: str = "s3d") -> dict:
    generator = torch.Generator().manual_seed(seed)
    video = config.video_config
    inputs = dict(expert_features={}, expert_times={}, expert_attention_mask={}, expert_pooled={})
    for offset, name in enumerate(video.expert_names):
        tokens, size = TOKENS[name], video.expert_feature_sizes[name]
        lengths = torch.tensor([max(1, tokens - offset - i) for i in range(batch_size)])
        mask = (torch.arange(tokens)[None] < lengths[:, None]).long()
        features = torch.randn(batch_size, tokens, size, generator=generator) * mask[..., None]
        inputs["expert_features"][name] = features
        inputs["expert_times"][name] = torch.where(
            mask.bool(), torch.rand(batch_size, tokens, generator=generator) * 9 + 2, 1.0
        )
        inputs["expert_attention_mask"][name] = mask
        inputs["expert_pooled"][name] = features.amax(1)
    ids = torch.randint(4, video.text_config.vocab_size, (batch_size, 7), generator=generator)
    inputs["asr_query_ids"], inputs["asr_query_attention_mask"] = ids, torch.ones_like(ids)
    inputs["masked_modality"] = masked_modality
    return inputs


class TestModalityMaskingModel(ModelTesterMixin):
    model_type = "mmt_modality_masking"

    def get_config(self, **overrides):
        return tiny_config(self.model_type, **overrides)

    def prepare_inputs(self, config, batch_size):
        return masking_inputs(config, batch_size)

    def pad_inputs(self, inputs):
        batch = inputs["asr_query_ids"].shape[0]
        for name in list(inputs["expert_features"]):
            features = inputs["expert_features"][name]
            inputs["expert_features"][name] = torch.cat([features, torch.randn(batch, 2, features.shape[-1])], 1)
            inputs["expert_times"][name] = torch.cat([inputs["expert_times"][name], torch.rand(batch, 2) * 9], 1)
            mask = inputs["expert_attention_mask"][name]
            inputs["expert_attention_mask"][name] = torch.cat([mask, torch.zeros(batch, 2, dtype=mask.dtype)], 1)
        return inputs

    def comparable_outputs(self, output):
        return {
            "query_embeds": output.query_embeds,
            "query_weights": output.query_weights,
            "video_embeds": output.video_embeds,
        }

    def test_every_parameter_gets_a_gradient(self):
        """Psi and its expert rows are shared by all steps; Phi_text learns under ASR steps, Phi_av under RGB/audio.

        One head is never trained in pre-training, by design: Phi_text's head for the ASR slot, because the ASR slot
        is masked (and not scored) exactly when Phi_text is the query. Fine-tuning trains it."""
        config = self.get_config()
        seen = set()
        model = self.build(config).train()
        for masked in ("asr", "s3d", "vggish"):
            model.zero_grad()
            model(**masking_inputs(config, 4, masked_modality=masked), return_loss=True).loss.backward()
            seen |= {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
        missing = {n for n, _ in model.named_parameters()} - seen
        assert missing == {n for n, _ in model.named_parameters() if n.startswith("mmt.text_heads.asr.")}, sorted(
            missing
        )


@pytest.mark.parametrize("masked", ["asr", "s3d", "vggish"])
def test_the_masked_modality_never_reaches_psi_and_only_its_query_encoder_learns(masked):
    config = tiny_config("mmt_modality_masking")
    model = MMTForModalityMaskingPretraining(config).eval()
    inputs = masking_inputs(config, 4, masked_modality=masked)
    changed = copy.deepcopy(inputs)
    changed["expert_features"][masked] = torch.randn_like(changed["expert_features"][masked])
    changed["expert_pooled"][masked] = torch.randn_like(changed["expert_pooled"][masked])
    with torch.no_grad():
        a, b = model(**inputs), model(**changed)
    assert torch.equal(a.video_embeds, b.video_embeds)  # Psi is blind to mu
    slot = config.video_config.expert_names.index(masked)
    assert (a.video_availability[:, slot] == 0).all()

    model.train().zero_grad()
    model(**inputs, return_loss=True).loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(n.startswith("mmt.video_model.encoder") for n in grads)
    assert not any(n.startswith(f"mmt.expert_projections.{masked}.") for n in grads)
    assert any(n.startswith("mmt.text_model") for n in grads) == (masked == "asr")
    assert any(n.startswith("query_av.") for n in grads) == (masked != "asr")


def test_query_av_ignores_time():
    config = tiny_config("mmt_modality_masking")
    model = MMTForModalityMaskingPretraining(config).eval()
    inputs = masking_inputs(config, 3, masked_modality="vggish")
    shuffled = copy.deepcopy(inputs)
    shuffled["expert_times"]["vggish"] = torch.rand_like(shuffled["expert_times"]["vggish"]) * 9 + 2
    with torch.no_grad():
        assert torch.equal(model(**inputs).query_embeds, model(**shuffled).query_embeds)


def test_schedule_frequencies_and_agreement_between_processes():
    schedule = tiny_config("mmt_modality_masking").schedule
    draws = [sample_masked_modality(schedule, seed=0, step=step) for step in range(10_000)]
    for name, probability in schedule.items():
        assert abs(draws.count(name) / len(draws) - probability) < 0.015
    assert draws == [sample_masked_modality(schedule, seed=0, step=step) for step in range(10_000)]


def test_clips_without_the_masked_modality_are_left_out():
    config = tiny_config("mmt_modality_masking")
    model = MMTForModalityMaskingPretraining(config).eval()
    inputs = masking_inputs(config, 4, masked_modality="asr")
    inputs["asr_query_attention_mask"][1] = 0
    with torch.no_grad():
        out = model(**inputs, return_loss=True)
    assert out.query_valid.tolist() == [True, False, True, True] and torch.isfinite(out.loss)
    inputs["asr_query_attention_mask"][2:] = 0
    with pytest.raises(ValueError, match="carry the masked modality 'asr'"):
        model(**inputs, return_loss=True)


def test_partial_masking_splits_the_tokens():
    config = tiny_config("mmt_modality_masking", mask_fraction=0.5)
    model = MMTForModalityMaskingPretraining(config).eval()
    inputs = masking_inputs(config, 3, masked_modality="s3d")
    with torch.no_grad():
        out = model(**inputs, return_loss=True)
    slot = config.video_config.expert_names.index("s3d")
    assert (out.video_availability[:, slot] == 1).all()  # Psi keeps half of the RGB tokens
    with pytest.raises(NotImplementedError, match="RGB and audio"):
        model(**masking_inputs(config, 3, masked_modality="asr"), return_loss=True)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(modality_probabilities={"s3d": 0.5, "vggish": 0.2, "asr": 0.2}), "sum to 1"),
        (dict(modality_probabilities={"s3d": 0.5, "asr": 0.5}), "one probability per expert"),
        (dict(mask_probability_asr=1.5), r"\[0, 1\]"),
        (dict(asr_modality="speech"), "not one of the video experts"),
        (dict(mask_fraction=0.0), "mask_fraction"),
    ],
)
def test_config_validation(overrides, message):
    with pytest.raises(Exception, match=message):
        tiny_config("mmt_modality_masking", **overrides)


def test_pretrained_encoder_loads_into_mmt_and_wrong_types_are_refused(tmp_path):
    config = tiny_config("mmt_modality_masking")
    pretrained = MMTForModalityMaskingPretraining(config).eval()
    pretrained.save_pretrained(tmp_path / "pretrained")
    mmt = MMTModel.from_pretrained(tmp_path / "pretrained").eval()
    assert mmt.config.expert_names == ["s3d", "vggish", "asr"]
    for name, tensor in mmt.state_dict().items():
        assert torch.equal(tensor, pretrained.mmt.state_dict()[name]), name
    MMTModel(tiny_config("mmt")).save_pretrained(tmp_path / "mmt")
    with pytest.raises(ValueError, match="'mmt' model, not 'mmt_modality_masking'"):
        MMTForModalityMaskingPretraining.from_pretrained(tmp_path / "mmt")
