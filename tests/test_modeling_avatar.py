"""AVATAR model tests: shared mixin, causality, cache, fusion isolation, parity with the Flax reference."""

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSpeechSeq2Seq

from videozoo.modeling import AvatarForConditionalGeneration

from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LABEL_LEN = 7


def make_inputs(config, batch_size, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(4, config.vocab_size, (batch_size, LABEL_LEN), generator=g)
    labels[0, 5:] = 0  # a shorter caption
    labels[0, 4] = config.eos_token_id
    return {
        "input_features": torch.randn(batch_size, config.max_audio_frames, config.num_mel_bins, generator=g),
        "pixel_values": torch.rand(batch_size, 3, config.num_frames, config.image_size, config.image_size, generator=g) * 2 - 1,
        "labels": labels,
    }


class TestAvatarModel(ModelTesterMixin):
    model_type = "avatar"
    # Only the SDPA path exists (boolean masks); there is no eager attention to compare with.
    test_attention_implementations = False

    def prepare_inputs(self, config, batch_size):
        return make_inputs(config, batch_size)

    def loss_inputs(self, inputs):
        return inputs

    def pad_inputs(self, inputs):
        labels = inputs["labels"]
        return {**inputs, "labels": torch.cat([labels, torch.zeros_like(labels[:, :3])], dim=1)}

    def comparable_outputs(self, output):
        return {"logits": output.logits[:, :LABEL_LEN], "encoder": output.encoder_last_hidden_state}


def build(**overrides):
    torch.manual_seed(0)
    return AvatarForConditionalGeneration(tiny_config("avatar", **overrides)).eval()


def test_registered_with_speech_seq2seq(tmp_path):
    model = build()
    model.save_pretrained(tmp_path)
    assert type(AutoModelForSpeechSeq2Seq.from_pretrained(tmp_path)) is AvatarForConditionalGeneration


def test_token_layout():
    model = build()
    c = model.config
    inputs = make_inputs(c, 2)
    out = model.encoder(input_features=inputs["input_features"], pixel_values=inputs["pixel_values"])
    # video: (2/2)*(32/8)^2 = 16 (+cls); audio: floor(70/8)*(24/8) = 24 (+cls)
    assert out.last_hidden_state.shape == (2, 17 + 25, 32)


def test_decoder_causality():
    model = build()
    inputs = make_inputs(model.config, 2)
    with torch.no_grad():
        enc = model.encoder(input_features=inputs["input_features"], pixel_values=inputs["pixel_values"])
        ids = torch.randint(1, 99, (2, 6))
        a = model(encoder_outputs=enc, decoder_input_ids=ids).logits
        ids2 = ids.clone()
        ids2[:, 4:] = 7
        b = model(encoder_outputs=enc, decoder_input_ids=ids2).logits
    torch.testing.assert_close(a[:, :4], b[:, :4], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_cached_generate_matches_uncached_loop():
    model = build()
    inputs = make_inputs(model.config, 2)
    feats, pix = inputs["input_features"], inputs["pixel_values"]
    with torch.no_grad():
        gen = model.generate(input_features=feats, pixel_values=pix, do_sample=False, max_new_tokens=8,
                             min_new_tokens=8, eos_token_id=None, return_dict_in_generate=True, output_logits=True)
        ids = torch.zeros(2, 1, dtype=torch.long)
        for _ in range(8):
            nxt = model(input_features=feats, pixel_values=pix, decoder_input_ids=ids).logits[:, -1].argmax(-1)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
        # cached step logits == teacher-forced logits on the same sequence
        forced = model(input_features=feats, pixel_values=pix, decoder_input_ids=ids[:, :-1]).logits
    assert torch.equal(gen.sequences, ids)
    torch.testing.assert_close(torch.stack(gen.logits, dim=1), forced, atol=1e-5, rtol=0)


# With fusion from layer L-1 only, that layer reads the *initial* bottleneck and its averaged output is discarded,
# so the streams still cannot see each other; information crosses from fusion_layer <= L-2 on.
@pytest.mark.parametrize("fusion_layer,isolated", [(3, True), (2, True), (1, False)])
def test_fusion_isolation(fusion_layer, isolated):
    model = build(fusion_layer=fusion_layer)
    inputs = make_inputs(model.config, 2)
    with torch.no_grad():
        a = model.encoder(input_features=inputs["input_features"], pixel_values=inputs["pixel_values"]).last_hidden_state
        b = model.encoder(input_features=inputs["input_features"] + 1.0, pixel_values=inputs["pixel_values"]).last_hidden_state
    # the final LayerNorm is per token, so video tokens (first 17) see audio only through the bottleneck
    assert torch.equal(a[:, :17], b[:, :17]) == isolated


def test_stochastic_depth_no_rescale():
    from videozoo.modeling.modeling_avatar import drop_path

    x = torch.ones(4, 2, 3)
    assert torch.equal(drop_path(x, 1.0, True), torch.zeros_like(x))
    assert torch.equal(drop_path(x, 0.5, False), x)
    out = drop_path(torch.ones(1000, 1, 1), 0.3, True)
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # kept examples are not rescaled
    rates = [layer.drop_path_rate for layer in build(encoder_drop_path_rate=0.2).encoder.audio_layers]
    assert rates == pytest.approx([0.0, 0.1, 0.2])


def test_bad_inputs():
    model = build()
    inputs = make_inputs(model.config, 2)
    with pytest.raises(ValueError, match="pixel_values"):
        model(input_features=inputs["input_features"], labels=inputs["labels"])
    with pytest.raises(ValueError, match="mel bins"):
        model(input_features=inputs["input_features"][..., :10], pixel_values=inputs["pixel_values"], labels=inputs["labels"])
    bad = inputs["input_features"].clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(input_features=bad, pixel_values=inputs["pixel_values"], labels=inputs["labels"])


def test_audio_only_model():
    model = build(modalities=("audio",), fusion_layer=3)
    inputs = make_inputs(model.config, 2)
    out = model(input_features=inputs["input_features"], labels=inputs["labels"])
    assert out.encoder_last_hidden_state.shape == (2, 25, 32)


@pytest.mark.skipif(not (SHARED / "parity" / "avatar").is_dir(), reason="parity fixtures absent")
def test_parity_with_reference():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "convert_avatar_original_checkpoint.py"
    spec = importlib.util.spec_from_file_location("convert_avatar", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--fixture", str(SHARED / "parity" / "avatar")]) == 0
