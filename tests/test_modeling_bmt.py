import copy
import math

import pytest
import torch

from videozoo.modeling.modeling_bmt import BMTForConditionalGeneration, label_smoothed_kl, sinusoidal_table

from .conftest import parity_fixture
from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config


def bmt_inputs(config, batch_size: int, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    ta, tv, length = 11, 5, 7
    audio_len = torch.tensor([(11, 6, 9, 3)[i % 4] for i in range(batch_size)])
    video_len = torch.tensor([(5, 2, 4, 1)[i % 4] for i in range(batch_size)])
    caption_len = torch.tensor([(7, 4, 6, 2)[i % 4] for i in range(batch_size)])
    ids = torch.randint(4, config.vocab_size, (batch_size, length), generator=generator)
    ids[:, 0] = config.bos_token_id
    ids = ids.masked_fill(torch.arange(length)[None] >= caption_len[:, None], config.pad_token_id)
    labels = torch.cat([ids[:, 1:], torch.full((batch_size, 1), config.pad_token_id)], dim=1)
    labels[torch.arange(batch_size), caption_len - 1] = config.eos_token_id
    return {
        "audio_features": torch.rand(batch_size, ta, config.audio_feature_size, generator=generator) * 2,
        "video_features": torch.randn(batch_size, tv, config.video_feature_size, generator=generator),
        "audio_attention_mask": torch.arange(ta)[None] < audio_len[:, None],
        "video_attention_mask": torch.arange(tv)[None] < video_len[:, None],
        "decoder_input_ids": ids,
        "labels": labels,
    }


class TestBMTModel(ModelTesterMixin):
    model_type = "bmt"
    model_class = BMTForConditionalGeneration
    attention_output_fields = ("encoder_attentions", "decoder_attentions", "cross_attentions")
    unused_parameters = ("word_embeddings.",)  # frozen by default (GloVe table), see test_unfrozen_embeddings

    def prepare_inputs(self, config, batch_size):
        return bmt_inputs(config, batch_size)

    def loss_inputs(self, inputs):
        return inputs

    def pad_inputs(self, inputs):
        pad = {"audio": 4, "video": 3}
        for name in ("audio", "video"):
            feats, mask = inputs[f"{name}_features"], inputs[f"{name}_attention_mask"]
            inputs[f"{name}_features"] = torch.cat(
                [feats, torch.randn(feats.shape[0], pad[name], feats.shape[2]) * 9], 1
            )
            inputs[f"{name}_attention_mask"] = torch.cat(
                [mask, torch.zeros(mask.shape[0], pad[name], dtype=torch.bool)], 1
            )
        return inputs

    def comparable_outputs(self, output):
        return {"log_probs": output.logits}

    def test_output_shapes(self):
        config = self.get_config()
        model = self.build(config)
        out = model(**bmt_inputs(config, 4))
        assert out.logits.shape == (4, 7, 99) and out.loss.shape == ()
        torch.testing.assert_close(out.logits.exp().sum(-1), torch.ones(4, 7))


def test_unfrozen_embeddings_get_gradient():
    config = tiny_config("bmt", freeze_word_embeddings=False)
    model = BMTForConditionalGeneration(config).train()
    model(**bmt_inputs(config, 2)).loss.backward()
    assert model.word_embeddings.weight.grad.abs().sum() > 0


def test_positional_table_quirk_and_not_in_state_dict():
    table = sinusoidal_table(5, 6, dtype=torch.float64)
    assert table[3, 2] == pytest.approx(math.sin(3 / 10000 ** (2 / 6)))
    assert table[3, 3] == pytest.approx(math.cos(3 / 10000 ** (3 / 6)))  # own index, not the pair index
    model = BMTForConditionalGeneration(tiny_config("bmt"))
    assert not any("position" in k for k in model.state_dict())


def test_decoder_is_causal():
    config = tiny_config("bmt")
    model = BMTForConditionalGeneration(config).eval()
    inputs = bmt_inputs(config, 2)
    changed = copy.deepcopy(inputs)
    changed["decoder_input_ids"][:, 4:] = 5
    with torch.no_grad():
        a, b = model(**inputs).logits, model(**changed).logits
    torch.testing.assert_close(a[:, :4], b[:, :4])


def test_bridge_has_no_residual():
    config = tiny_config("bmt", num_decoder_layers=1)
    model = BMTForConditionalGeneration(config).eval()
    layer = model.decoder_layers[0]
    with torch.no_grad():
        layer.bridge_proj.weight.zero_()
        layer.bridge_proj.bias.fill_(-1.0)  # ReLU(-1) = 0 -> the bridge output is zero for every input
        layer.ffn.fc2.bias.zero_()
        layer.ffn.fc2.weight.zero_()
        enc = model.get_encoder()(
            **{k: v for k, v in bmt_inputs(config, 2).items() if "features" in k or "mask" in k and "decoder" not in k}
        )
        x = torch.randn(2, 3, config.decoder_hidden_size)
        mask = torch.ones(1, 1, 3, 3, dtype=torch.bool)
        out = layer(
            x,
            enc.last_hidden_state,
            enc.video_hidden_state,
            mask,
            enc.audio_attention_mask[:, None, None],
            enc.video_attention_mask[:, None, None],
        )
    assert out.abs().max() == 0


def test_label_smoothing_closed_form():
    vocab, gamma = 12, 0.7
    log_probs = torch.full((1, 3, vocab), -math.log(vocab - 1))
    log_probs[..., 1] = -1e9  # uniform over the non-PAD words
    labels = torch.tensor([[5, 7, 1]])
    loss = label_smoothed_kl(log_probs.log_softmax(-1), labels, gamma, pad_id=1)
    expected = (1 - gamma) * math.log((1 - gamma) * (vocab - 1)) + gamma * math.log(gamma * (vocab - 1) / (vocab - 2))
    assert loss.item() == pytest.approx(expected, rel=1e-5)  # float32: 4.7e-7 relative


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_with_cache_matches_full_recomputation(num_beams):
    config = tiny_config("bmt")
    model = BMTForConditionalGeneration(config).eval()
    inputs = {
        k: v
        for k, v in bmt_inputs(config, 3).items()
        if k.endswith(("features", "attention_mask")) and "decoder" not in k
    }
    projections = []
    hook = model.decoder_layers[1].video_cross_attn.k_proj.register_forward_hook(lambda *a: projections.append(1))
    with torch.no_grad():
        cached = model.generate(**inputs, max_new_tokens=6, num_beams=num_beams, do_sample=False, use_cache=True)
        assert len(projections) == 1  # cross-attention keys projected once from the encoder outputs
        full = model.generate(**inputs, max_new_tokens=6, num_beams=num_beams, do_sample=False, use_cache=False)
    hook.remove()
    assert torch.equal(cached, full)
    assert cached.shape[0] == 3 and (cached[:, 0] == config.bos_token_id).all()
    if num_beams == 1:  # greedy by hand: argmax of the full forward at every step
        ids = torch.full((3, 1), config.bos_token_id)
        with torch.no_grad():
            for _ in range(cached.shape[1] - 1):
                nxt = model(**inputs, decoder_input_ids=ids).logits[:, -1].argmax(-1)
                ids = torch.cat([ids, nxt[:, None]], 1)
        done = torch.zeros(3, dtype=torch.bool)
        for t in range(1, ids.shape[1]):
            ids[done, t] = config.pad_token_id
            done |= ids[:, t] == config.eos_token_id
        assert torch.equal(cached, ids)


def test_bad_inputs_are_rejected():
    config = tiny_config("bmt")
    model = BMTForConditionalGeneration(config).eval()
    inputs = bmt_inputs(config, 2)
    with pytest.raises(ValueError, match="audio_features is missing"):
        model(**{**inputs, "audio_features": None})
    with pytest.raises(ValueError, match=r"\(batch, time, 20\)"):
        model(**{**inputs, "video_features": torch.zeros(2, 5, 7)})
    bad = inputs["audio_features"].clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(**{**inputs, "audio_features": bad})
    with pytest.raises(ValueError, match="at least one valid"):
        model(**{**inputs, "video_attention_mask": torch.zeros(2, 5, dtype=torch.bool)})
    with pytest.raises(ValueError, match="mask of audio_features"):
        model(**{**inputs, "audio_attention_mask": torch.ones(2, 3, dtype=torch.bool)})
    with pytest.raises(Exception, match="divisible"):
        tiny_config("bmt", num_attention_heads=5)


def test_parity_fixture():
    from videozoo.scripts.convert_bmt_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("bmt"))]) == 0


def test_conversion_maps_every_key_once():
    from videozoo.scripts.convert_bmt_original_checkpoint import rename

    model = BMTForConditionalGeneration(tiny_config("bmt"))
    assert (
        rename("module.encoder.encoder_AV.layers.1.bi_modal_att_M2.linear_K2d.weight")
        == "encoder.layers.1.video_cross_attn.k_proj.weight"
    )
    assert (
        rename("module.decoder.decoder.layers.0.res_layer_enc_att_A.norm.bias")
        == "decoder_layers.0.audio_cross_norm.bias"
    )
    assert rename("module.decoder.decoder.layers.0.bridge.linear.weight") == "decoder_layers.0.bridge_proj.weight"
    assert len(model.state_dict()) == 187


def best_two_token_continuation(model, inputs, config):
    """Exhaustive search over every caption of at most two new tokens: `[BOS, EOS]` or `[BOS, t1, t2]`."""
    batch = next(iter(inputs.values())).shape[0]
    vocab, bos, eos = config.vocab_size, config.bos_token_id, config.eos_token_id
    with torch.no_grad():
        first = model(**inputs, decoder_input_ids=torch.full((batch, 1), bos)).logits[:, -1]  # (B, V)
        prefixes = torch.stack([torch.full((vocab,), bos), torch.arange(vocab)], 1)  # (V, 2)
        second = torch.stack(
            [
                model(
                    **{k: v[b : b + 1].expand(vocab, *v.shape[1:]) for k, v in inputs.items()},
                    decoder_input_ids=prefixes,
                    decoder_attention_mask=torch.ones(vocab, 2, dtype=torch.long),
                ).logits[:, -1]
                for b in range(batch)
            ]
        )  # (B, V, V)
    scores = first[:, :, None] + second
    scores[:, eos] = float("-inf")
    best = []
    for b in range(batch):
        flat = scores[b].argmax()
        t1, t2 = divmod(flat.item(), vocab)
        if first[b, eos] >= scores[b, t1, t2]:
            best.append([bos, eos])
        else:
            best.append([bos, t1, t2])
    return best


@pytest.mark.parametrize("use_cache", [True, False])
def test_beam_search_finds_the_best_short_caption(use_cache):
    config = tiny_config("bmt", vocab_size=12)
    torch.manual_seed(1)
    model = BMTForConditionalGeneration(config).eval()
    inputs = {
        k: v
        for k, v in bmt_inputs(config, 3).items()
        if k.endswith(("features", "attention_mask")) and "decoder" not in k
    }
    with torch.no_grad():
        beams = model.generate(
            **inputs, max_new_tokens=2, num_beams=12, length_penalty=0.0, do_sample=False, use_cache=use_cache
        )
        greedy = model.generate(**inputs, max_new_tokens=2, do_sample=False, use_cache=use_cache)
    best = best_two_token_continuation(model, inputs, config)
    got = [
        row[: row.tolist().index(config.eos_token_id) + 1] if config.eos_token_id in row.tolist() else row
        for row in beams
    ]
    assert [r.tolist() for r in got] == best
    assert any(g[: len(b)].tolist() != b for g, b in zip(greedy, best))  # here greedy misses the best caption once
