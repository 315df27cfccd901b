import pytest
import torch

from videozoo.modeling.modeling_mdvc import MDVCForConditionalGeneration

from .conftest import parity_fixture
from .model_tester import ModelTesterMixin
from .test_modeling_bmt import best_two_token_continuation
from .tiny_configs import tiny_config


def mdvc_inputs(config, batch_size: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    t, s, length = 9, 6, 7
    feat_len = torch.tensor([(9, 5, 7, 2)[i % 4] for i in range(batch_size)])
    subs_len = torch.tensor([(6, 3, 5, 2)[i % 4] for i in range(batch_size)])
    cap_len = torch.tensor([(7, 4, 6, 2)[i % 4] for i in range(batch_size)])
    subs = torch.randint(4, config.speech_vocab_size, (batch_size, s), generator=g)
    subs = subs.masked_fill(torch.arange(s)[None] >= subs_len[:, None], config.pad_token_id)
    ids = torch.randint(4, config.vocab_size, (batch_size, length), generator=g)
    ids[:, 0] = config.bos_token_id
    ids = ids.masked_fill(torch.arange(length)[None] >= cap_len[:, None], config.pad_token_id)
    labels = torch.cat([ids[:, 1:], torch.full((batch_size, 1), config.pad_token_id)], 1)
    labels[torch.arange(batch_size), cap_len - 1] = config.eos_token_id
    return {
        "video_features": torch.randn(batch_size, t, config.video_hidden_size, generator=g),
        "audio_features": torch.rand(batch_size, t, config.audio_hidden_size, generator=g) * 2,
        "feature_attention_mask": torch.arange(t)[None] < feat_len[:, None],
        "speech_input_ids": subs,
        "speech_attention_mask": subs != config.pad_token_id,
        "decoder_input_ids": ids,
        "labels": labels,
    }


class TestMDVCModel(ModelTesterMixin):
    model_type = "mdvc"
    model_class = MDVCForConditionalGeneration
    attention_output_fields = ("encoder_attentions", "decoder_attentions", "cross_attentions")

    def prepare_inputs(self, config, batch_size):
        return mdvc_inputs(config, batch_size)

    def loss_inputs(self, inputs):
        return inputs

    def pad_inputs(self, inputs):
        b = inputs["video_features"].shape[0]
        inputs["video_features"] = torch.cat(
            [inputs["video_features"], torch.randn(b, 3, inputs["video_features"].shape[2]) * 7], 1
        )
        inputs["audio_features"] = torch.cat(
            [inputs["audio_features"], torch.randn(b, 3, inputs["audio_features"].shape[2]) * 7], 1
        )
        inputs["feature_attention_mask"] = torch.cat(
            [inputs["feature_attention_mask"], torch.zeros(b, 3, dtype=torch.bool)], 1
        )
        inputs["speech_input_ids"] = torch.cat([inputs["speech_input_ids"], torch.full((b, 2), 1)], 1)
        inputs["speech_attention_mask"] = torch.cat(
            [inputs["speech_attention_mask"], torch.zeros(b, 2, dtype=torch.bool)], 1
        )
        return inputs

    def comparable_outputs(self, output):
        return {"log_probs": output.logits}

    def test_output_shapes(self):
        config = self.get_config()
        out = self.build(config)(**mdvc_inputs(config, 4))
        assert out.logits.shape == (4, 7, 99) and out.loss.shape == ()


def test_generate_matches_greedy_by_hand():
    config = tiny_config("mdvc")
    model = MDVCForConditionalGeneration(config).eval()
    inputs = {k: v for k, v in mdvc_inputs(config, 3).items() if k not in ("decoder_input_ids", "labels")}
    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=5, do_sample=False)
        beams = model.generate(**inputs, max_new_tokens=5, num_beams=2, do_sample=False)
        ids = torch.full((3, 1), config.bos_token_id)
        for _ in range(generated.shape[1] - 1):
            ids = torch.cat([ids, model(**inputs, decoder_input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    done = torch.zeros(3, dtype=torch.bool)
    for t in range(1, ids.shape[1]):
        ids[done, t] = config.pad_token_id
        done |= ids[:, t] == config.eos_token_id
    assert torch.equal(generated, ids)
    assert beams.shape[0] == 3


def test_bad_inputs_are_rejected():
    config = tiny_config("mdvc")
    model = MDVCForConditionalGeneration(config).eval()
    inputs = mdvc_inputs(config, 2)
    with pytest.raises(ValueError, match="same length"):
        model(**{**inputs, "audio_features": inputs["audio_features"][:, :4], "feature_attention_mask": None})
    with pytest.raises(ValueError, match="speech_input_ids is missing"):
        model(**{**inputs, "speech_input_ids": None})
    with pytest.raises(ValueError, match="speech_input_ids must lie"):
        model(**{**inputs, "speech_input_ids": inputs["speech_input_ids"] + 100})


def test_parity_fixture():
    from videozoo.scripts.convert_mdvc_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("mdvc"))]) == 0


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_with_cache_matches_full_recomputation(num_beams):
    config = tiny_config("mdvc")
    torch.manual_seed(0)
    model = MDVCForConditionalGeneration(config).eval()
    inputs = {k: v for k, v in mdvc_inputs(config, 3).items() if k not in ("decoder_input_ids", "labels")}
    lengths = []
    hook = model.video_stream.caption_embeddings.register_forward_hook(lambda m, i, o: lengths.append(i[0].shape[1]))
    with torch.no_grad():
        cached = model.generate(**inputs, max_new_tokens=6, num_beams=num_beams, do_sample=False, use_cache=True)
        steps = len(lengths)
        full = model.generate(**inputs, max_new_tokens=6, num_beams=num_beams, do_sample=False, use_cache=False)
    hook.remove()
    assert torch.equal(cached, full)
    assert set(lengths[:steps]) == {1}  # with the cache every step feeds one new token
    assert lengths[steps:] == list(range(1, len(lengths) - steps + 1))  # without it the whole prefix


def test_beam_search_finds_the_best_short_caption():
    config = tiny_config("mdvc", vocab_size=12)
    torch.manual_seed(3)
    model = MDVCForConditionalGeneration(config).eval()
    inputs = {k: v for k, v in mdvc_inputs(config, 4).items() if k not in ("decoder_input_ids", "labels")}
    with torch.no_grad():
        beams = model.generate(**inputs, max_new_tokens=2, num_beams=12, length_penalty=0.0, do_sample=False)
        greedy = model.generate(**inputs, max_new_tokens=2, do_sample=False)
    best = best_two_token_continuation(model, inputs, config)
    got = [
        r[: r.tolist().index(config.eos_token_id) + 1].tolist() if config.eos_token_id in r.tolist() else r.tolist()
        for r in beams
    ]
    assert got == best
    assert any(g[: len(b)].tolist() != b for g, b in zip(greedy, best))
