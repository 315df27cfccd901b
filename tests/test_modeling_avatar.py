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
        "pixel_values": torch.rand(batch_size, 3, config.num_frames, *config.frame_size, generator=g) * 2 - 1,
        "labels": labels,
    }


class TestAvatarModel(ModelTesterMixin):
    model_type = "avatar"
    attention_output_fields = ("encoder_attentions", "decoder_attentions", "cross_attentions")

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
    torch.testing.assert_close(a[:, :4], b[:, :4], atol=1e-6, rtol=0)  # measured 0 (1 and 2 threads)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_cached_generate_matches_uncached_loop():
    model = build()
    inputs = make_inputs(model.config, 2)
    feats, pix = inputs["input_features"], inputs["pixel_values"]
    with torch.no_grad():
        gen = model.generate(
            input_features=feats,
            pixel_values=pix,
            do_sample=False,
            max_new_tokens=8,
            min_new_tokens=8,
            eos_token_id=None,
            return_dict_in_generate=True,
            output_logits=True,
        )
        ids = torch.zeros(2, 1, dtype=torch.long)
        for _ in range(8):
            nxt = model(input_features=feats, pixel_values=pix, decoder_input_ids=ids).logits[:, -1].argmax(-1)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
        # cached step logits == teacher-forced logits on the same sequence
        forced = model(input_features=feats, pixel_values=pix, decoder_input_ids=ids[:, :-1]).logits
    assert torch.equal(gen.sequences, ids)
    torch.testing.assert_close(torch.stack(gen.logits, dim=1), forced, atol=1e-5, rtol=0)  # measured 1.4e-6


# With fusion from layer L-1 only, that layer reads the *initial* bottleneck and its averaged output is discarded,
# so the streams still cannot see each other; information crosses from fusion_layer <= L-2 on.
@pytest.mark.parametrize("fusion_layer,isolated", [(3, True), (2, True), (1, False)])
def test_fusion_isolation(fusion_layer, isolated):
    model = build(fusion_layer=fusion_layer)
    inputs = make_inputs(model.config, 2)
    with torch.no_grad():
        a = model.encoder(
            input_features=inputs["input_features"], pixel_values=inputs["pixel_values"]
        ).last_hidden_state
        b = model.encoder(
            input_features=inputs["input_features"] + 1.0, pixel_values=inputs["pixel_values"]
        ).last_hidden_state
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
        model(
            input_features=inputs["input_features"][..., :10],
            pixel_values=inputs["pixel_values"],
            labels=inputs["labels"],
        )
    too_long = torch.cat([inputs["input_features"], inputs["input_features"]], dim=1)  # more frames than the config's
    with pytest.raises(ValueError, match="positional embedding covers"):
        model(input_features=too_long, pixel_values=inputs["pixel_values"], labels=inputs["labels"])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(
            input_features=inputs["input_features"],
            pixel_values=inputs["pixel_values"],
            labels=torch.ones(2, model.config.max_position_embeddings + 1, dtype=torch.long),
        )
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


# ----------------------------------------------------------------------------- reference beam search
class _TableDecoder:
    """A toy decoder whose next-token distribution depends on the last token only (rows of `probs`)."""

    def __init__(self, probs):
        self.log_table = torch.tensor(probs, dtype=torch.float64).log().float()

    def __call__(self, encoder_outputs=None, decoder_input_ids=None, past_key_values=None, use_cache=None):
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.log_table[decoder_input_ids])


def _toy_search(probs, batch=1, **config):
    from transformers import GenerationConfig

    from videozoo.modeling.modeling_avatar import avatar_beam_search

    generation_config = GenerationConfig(return_dict_in_generate=True, **config)
    input_ids = torch.zeros(batch * generation_config.num_beams, 1, dtype=torch.long)
    return avatar_beam_search(
        _TableDecoder(probs), input_ids, generation_config=generation_config, encoder_outputs=None
    )


def test_beam_search_by_hand():
    # tokens: 0 start/pad, 1 "a", 2 "b", 3 EOS; rows: last token 0 / a / b / EOS
    probs = [[1e-9, 0.6, 0.3, 0.1], [1e-9, 0.1, 0.2, 0.7], [1e-9, 0.55, 0.35, 0.1], [0.25, 0.25, 0.25, 0.25]]
    out = _toy_search(probs, num_beams=2, length_penalty=1.0, max_length=4, eos_token_id=3)
    # Worked by hand with BP(n) = (5 + n) / 6: step 1 finishes "EOS" (the 3rd of the 2k candidates: any of them may
    # finish) with -2.303; step 2 finishes "a EOS" (log .6 + log .7) / (7/6) = -0.7436; step 3 finishes
    # "b a EOS" (log .3 + log .55 + log .7) / (8/6) = -1.6189, which pushes "EOS" out of the finished set.
    assert out.finished.tolist() == [True]
    assert out.beam_sequences[0].tolist() == [[0, 2, 1, 3], [0, 1, 3, 0]]  # ascending: best last
    ln = torch.tensor
    expected = [(ln(0.3).log() + ln(0.55).log() + ln(0.7).log()) / (8 / 6), (ln(0.6).log() + ln(0.7).log()) / (7 / 6)]
    torch.testing.assert_close(out.beam_scores[0], torch.stack(expected).float(), atol=1e-5, rtol=0)  # measured 0
    assert out.sequences.tolist() == [[0, 1, 3, 0]] and out.sequences_scores.shape == (1,)


def test_beam_search_without_finished_beam_returns_live_beams():
    # EOS (3) is never among the top 2k candidates, so nothing finishes: live beams with raw log-probabilities
    rows = [1e-6, 0.4, 0.3, 0.01, 0.15, 0.14]
    probs = [rows] * 6
    out = _toy_search(probs, num_beams=2, length_penalty=0.6, max_length=5, eos_token_id=3)
    assert out.finished.tolist() == [False]
    # the search takes log_softmax of the logits, and these rows sum to 1 + 1e-6: compare with the normalised table
    # (the raw one differs by 1e-6 a step, 4e-6 here, in float64 too); float32 vs float64 <= 8.9e-8
    log_table = torch.tensor(probs).log().log_softmax(-1)
    for seq, score in zip(out.beam_sequences[0], out.beam_scores[0]):
        assert 3 not in seq.tolist()
        total = sum(log_table[a, b] for a, b in zip(seq[:-1].tolist(), seq[1:].tolist()))
        torch.testing.assert_close(score, total.float(), atol=1e-6, rtol=0)
    assert out.beam_scores[0, 0] <= out.beam_scores[0, 1]
    assert out.beam_sequences[0, 1].tolist() == [0, 1, 1, 1, 1]


def test_beam_search_batch_items_are_independent_and_cache_agrees():
    model = build()
    inputs = make_inputs(model.config, 3)
    feats, pix = inputs["input_features"], inputs["pixel_values"]
    kwargs = dict(num_beams=3, max_length=9, return_dict_in_generate=True)
    batched = model.beam_search(feats, pix, **kwargs)
    uncached = model.beam_search(feats, pix, use_cache=False, **kwargs)
    assert torch.equal(batched.beam_sequences, uncached.beam_sequences)
    torch.testing.assert_close(batched.beam_scores, uncached.beam_scores, atol=1e-5, rtol=0)  # measured 9.5e-7
    for i in range(3):
        alone = model.beam_search(feats[i : i + 1], pix[i : i + 1], **kwargs)
        width = alone.beam_sequences.shape[-1]
        assert torch.equal(alone.beam_sequences[0], batched.beam_sequences[i, :, :width])
        assert (batched.beam_sequences[i, :, width:] == 0).all()
        torch.testing.assert_close(alone.beam_scores[0], batched.beam_scores[i], atol=1e-5, rtol=0)  # 1.4e-6
    assert torch.equal(batched.sequences, batched.beam_sequences[:, -1])


def _tiny_vit(tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    vit = ViTForImageClassification(
        ViTConfig(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            image_size=32,
            patch_size=8,
            num_labels=3,
        )
    )
    vit.save_pretrained(tmp_path / "vit")
    return vit.vit


def test_from_vit_pretrained(tmp_path):
    vit = _tiny_vit(tmp_path)
    config = tiny_config(
        "avatar",
        hidden_size=64,
        d_model=64,
        encoder_layers=2,
        encoder_intermediate_size=128,
        encoder_attention_heads=4,
        image_size=48,
        num_frames=4,
        max_audio_frames=40,
    )
    model = AvatarForConditionalGeneration.from_vit_pretrained(tmp_path / "vit", config)  # the real loading path
    vit_state, enc = vit.state_dict(), model.encoder
    for stream in (enc.audio_layers, enc.video_layers):
        for l in range(2):
            torch.testing.assert_close(
                stream[l].attention.k_proj.weight, vit_state[f"layers.{l}.attention.k_proj.weight"], rtol=0, atol=0
            )
            torch.testing.assert_close(stream[l].mlp.fc2.bias, vit_state[f"layers.{l}.mlp.fc2.bias"], rtol=0, atol=0)
            torch.testing.assert_close(
                stream[l].layernorm_after.weight, vit_state[f"layers.{l}.layernorm_after.weight"], rtol=0, atol=0
            )
    torch.testing.assert_close(enc.layernorm.bias, vit_state["layernorm.bias"], rtol=0, atol=0)
    kernel = vit_state["embeddings.patch_embeddings.projection.weight"]
    torch.testing.assert_close(enc.audio_embeddings.patch_embedding.weight, kernel, rtol=0, atol=0)
    video_kernel = enc.video_embeddings.patch_embedding.weight  # [D, 3, tubelet 2, 8, 8]: central frame (index 1) only
    torch.testing.assert_close(video_kernel[:, :, 1], kernel, rtol=0, atol=0)
    assert video_kernel[:, :, 0].abs().max() == 0
    for emb in (enc.audio_embeddings, enc.video_embeddings):
        torch.testing.assert_close(emb.cls_token, vit_state["embeddings.cls_token"], rtol=0, atol=0)
        torch.testing.assert_close(
            emb.position_embedding[0, 0], vit_state["embeddings.position_embeddings"][0, 0], rtol=0, atol=0
        )
    # positional grids: ViT 4 x 4 -> audio (40 // 8) x (24 // 8) = 5 x 3, frames 6 x 6 tiled over 4 / 2 tubelets
    grid = vit_state["embeddings.position_embeddings"][0, 1:].reshape(4, 4, 64)
    audio = enc.audio_embeddings.position_embedding[0, 1:].reshape(5, 3, 64)
    assert audio.shape == (5, 3, 64) and enc.video_embeddings.position_embedding.shape == (1, 1 + 2 * 36, 64)
    for corner in ((0, 0), (0, -1), (-1, 0), (-1, -1)):  # align_corners: the corners are kept
        torch.testing.assert_close(audio[corner], grid[corner])
    torch.testing.assert_close(audio[2, 1], grid[1:3, 1:3].mean(dim=(0, 1)))  # the exact centre of a 4 x 4 grid
    video = enc.video_embeddings.position_embedding[0, 1:].reshape(2, 6, 6, 64)
    torch.testing.assert_close(video[0], video[1], rtol=0, atol=0)
    torch.testing.assert_close(video[0, -1, -1], grid[-1, -1])
    bottleneck = enc.bottleneck_tokens[0]  # ViT CLS position + the grid resized to 2 x 2 (its corners)
    assert bottleneck.shape == (5, 64)
    torch.testing.assert_close(bottleneck[0], vit_state["embeddings.position_embeddings"][0, 0], rtol=0, atol=0)
    torch.testing.assert_close(bottleneck[1:], grid[[0, 0, -1, -1], [0, -1, 0, -1]])
    # a state dict with the names of checkpoints written before transformers 5 gives the same encoder
    classic = {}
    for name, value in vit_state.items():
        for current, old in (
            ("attention.q_proj", "attention.attention.query"),
            ("attention.k_proj", "attention.attention.key"),
            ("attention.v_proj", "attention.attention.value"),
            ("attention.o_proj", "attention.output.dense"),
            ("mlp.fc1", "intermediate.dense"),
            ("mlp.fc2", "output.dense"),
        ):
            name = name.replace(current, old)
        classic["vit." + name.replace("layers.", "encoder.layer.")] = value
    again = AvatarForConditionalGeneration.from_vit_pretrained(classic, config).encoder.state_dict()
    for name, value in enc.state_dict().items():
        torch.testing.assert_close(again[name], value, rtol=0, atol=0, msg=name)
    # the decoder keeps a random initialisation, and the model runs
    audio_in = torch.randn(2, config.max_audio_frames, config.num_mel_bins)
    frames = torch.rand(2, 3, config.num_frames, config.image_size, config.image_size) * 2 - 1
    out = model(input_features=audio_in, pixel_values=frames, decoder_input_ids=torch.zeros(2, 3, dtype=torch.long))
    assert torch.isfinite(out.logits).all()


def test_from_vit_pretrained_refuses_another_shape(tmp_path):
    vit = _tiny_vit(tmp_path)
    config = tiny_config("avatar", hidden_size=64, d_model=64, encoder_layers=3, encoder_intermediate_size=128)
    with pytest.raises(ValueError, match="the ViT has 2 layers"):
        AvatarForConditionalGeneration.from_vit_pretrained(vit, config)
    with pytest.raises(ValueError, match="patch kernel"):
        AvatarForConditionalGeneration.from_vit_pretrained(vit.state_dict(), tiny_config("avatar"))
    wrong_heads = tiny_config(
        "avatar",
        hidden_size=64,
        d_model=64,
        encoder_layers=2,
        encoder_intermediate_size=128,
        encoder_attention_heads=8,
        decoder_attention_heads=8,
    )
    with pytest.raises(ValueError, match="4 attention heads"):
        AvatarForConditionalGeneration.from_vit_pretrained(vit, wrong_heads)


# ----------------------------------------------------------------------------- frame sizes and counts
def test_rectangular_frames_and_any_frame_count(tmp_path):
    """`image_size=[height, width]` and a frame count that is not a multiple of the tubelet: the grid is
    (frames // tubelet, height // patch, width // patch), and the frames past the last whole tubelet are ignored, as
    the reference's VALID tubelet convolution does."""
    model = build(image_size=[32, 48], num_frames=5)
    assert model.config.video_grid == (2, 4, 6) and model.config.frame_size == (32, 48)
    assert model.encoder.video_embeddings.position_embedding.shape == (1, 1 + 2 * 4 * 6, 32)
    inputs = make_inputs(model.config, 2)
    assert inputs["pixel_values"].shape == (2, 3, 5, 32, 48)
    with torch.no_grad():
        out = model(**inputs)
        four_frames = model(**{**inputs, "pixel_values": inputs["pixel_values"][:, :, :4]})
    assert out.encoder_last_hidden_state.shape == (2, (1 + 48) + (1 + 8 * 3), 32)
    torch.testing.assert_close(out.logits, four_frames.logits, rtol=0, atol=0)

    model.save_pretrained(tmp_path)
    again = AutoModelForSpeechSeq2Seq.from_pretrained(tmp_path).eval()
    assert again.config.image_size == [32, 48] and again.config.video_grid == (2, 4, 6)
    with torch.no_grad():
        torch.testing.assert_close(again(**inputs).logits, out.logits, rtol=0, atol=0)


def test_configs_with_one_image_size_still_load(tmp_path):
    """A config saved before `[height, width]` existed (one int) loads with square frames."""
    import json

    from videozoo.configuration.configuration_avatar import AvatarConfig

    old = {"model_type": "avatar", **{k: v for k, v in tiny_config("avatar").to_dict().items() if k != "image_size"}}
    (tmp_path / "config.json").write_text(json.dumps({**old, "image_size": 32}))
    config = AvatarConfig.from_pretrained(tmp_path)
    assert config.image_size == 32 and config.frame_size == (32, 32) and config.video_grid == (1, 4, 4)
    assert config.num_video_tokens == 16


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_size": [32, 48, 5]}, "image_size must be an int or"),
        ({"image_size": [4, 48]}, "at least patch_size"),
        ({"num_frames": 1}, "at least tubelet_size"),
    ],
)
def test_bad_frame_sizes_in_the_config(overrides, message):
    with pytest.raises(Exception, match=message):
        tiny_config("avatar", **overrides)


def test_inputs_of_another_grid_are_refused_before_running():
    """The reference fixes its positional parameters when the model is built and never interpolates them at run
    time: frames giving another grid are an error that names the sizes."""
    model = build(image_size=[32, 48])
    inputs = make_inputs(model.config, 2)
    for pixels in (inputs["pixel_values"][..., :40], inputs["pixel_values"].transpose(-1, -2)):
        with pytest.raises(ValueError, match=r"pixel_values .* tubelet grid .* covers \(1, 4, 6\)"):
            model(**{**inputs, "pixel_values": pixels})
    same_grid = torch.nn.functional.pad(inputs["pixel_values"], (0, 3, 0, 7))  # 39 x 51: still 4 x 6 patches
    with torch.no_grad():
        torch.testing.assert_close(
            model(**{**inputs, "pixel_values": same_grid}).encoder_last_hidden_state,
            model(**inputs).encoder_last_hidden_state,
            rtol=0,
            atol=0,
        )


def test_from_vit_pretrained_rectangular_frames(tmp_path):
    """MBT's ViT initialisation for rectangular frames: the square ViT grid resized to height x width patches, tiled
    over the tubelets."""
    vit = _tiny_vit(tmp_path)
    config = tiny_config(
        "avatar",
        hidden_size=64,
        d_model=64,
        encoder_layers=2,
        encoder_intermediate_size=128,
        encoder_attention_heads=4,
        image_size=[32, 56],
        num_frames=4,
    )
    model = AvatarForConditionalGeneration.from_vit_pretrained(vit, config)
    grid = vit.state_dict()["embeddings.position_embeddings"][0, 1:].reshape(4, 4, 64)
    video = model.encoder.video_embeddings.position_embedding[0, 1:].reshape(2, 4, 7, 64)
    torch.testing.assert_close(video[0], video[1], rtol=0, atol=0)
    torch.testing.assert_close(video[0, :, 0], grid[:, 0])  # 4 rows kept, the columns 4 -> 7 resized
    torch.testing.assert_close(video[0, :, -1], grid[:, -1])
    torch.testing.assert_close(video[0, 1, 3], (grid[1, 1] + grid[1, 2]) / 2)  # column 3 of 7 = halfway of 1 and 2


# ----------------------------------------------------------------------------- conversion: sizes from the checkpoint
def _fake_original(num_video: int, num_audio: int, dataset: dict) -> tuple[dict, dict]:
    """A minimal original config and the two positional embeddings (with their CLS rows) of a checkpoint."""
    original = {
        "mbt": {"model": {"patches": {"size": [8, 8, 2]}, "modality_fusion": ["rgb", "spectrogram"]}},
        "dataset_configs": dataset,
    }
    params = {
        "video_encoder/Transformer/posembed_input/pos_embedding": torch.zeros(1, 1 + num_video, 4),
        "video_encoder/Transformer/posembed_input_spectrogram/pos_embedding": torch.zeros(1, 1 + num_audio, 4),
    }
    return original, params


def test_conversion_reads_the_grids_from_the_checkpoint():
    from videozoo.scripts.convert_avatar_original_checkpoint import input_sizes_from_checkpoint

    original, params = _fake_original(2 * 4 * 6, 9 * 4, {"spec_num_features": 32})
    sizes = input_sizes_from_checkpoint(original, params, image_size=[32, 48])
    assert sizes == {"num_frames": 4, "image_size": [32, 48], "max_audio_frames": 72, "num_mel_bins": 32}
    assert input_sizes_from_checkpoint(original, params, num_frames=4, image_size=[39, 55])["num_frames"] == 4
    original_square, params_square = _fake_original(3 * 5 * 5, 9 * 4, {"spec_num_features": 32, "num_frames": 6})
    assert input_sizes_from_checkpoint(original_square, params_square)["image_size"] == 40  # from the config's frames
    errors = [
        ({}, "pass --num_frames or --image_size"),
        ({"num_frames": 4}, "into square frames: pass --image_size"),
        ({"image_size": [32, 40]}, "does not divide"),
        ({"image_size": 32, "num_frames": 2}, "holds 3"),
        ({"image_size": [32, 48], "mel_bins": 40}, "pass the --mel_bins"),
        ({"image_size": [32, 48], "audio_frames": 64}, "has 9"),
    ]
    for kwargs, message in errors:
        with pytest.raises(ValueError, match=message):
            input_sizes_from_checkpoint(original, params, **kwargs)
    with pytest.raises(ValueError, match="--mel_bins"):
        input_sizes_from_checkpoint({**original, "dataset_configs": {}}, params, image_size=[32, 48])


@pytest.mark.skipif(not (SHARED / "parity" / "avatar").is_dir(), reason="parity fixtures absent")
def test_conversion_command_derives_sizes(tmp_path, capsys):
    """The command line converts the parity checkpoint with the frame size read from its positional embedding and
    refuses sizes that contradict it (the fixture's config names 80 mel bins; its weights were built for 32)."""
    from videozoo.configuration.configuration_avatar import AvatarConfig
    from videozoo.scripts.convert_avatar_original_checkpoint import main

    fixture = SHARED / "parity" / "avatar"
    base = [
        "--config",
        str(fixture / "original_config.json"),
        "--weights",
        str(fixture / "original_weights.safetensors"),
    ]
    with pytest.raises(SystemExit) as refused:
        main([*base, "--output_dir", str(tmp_path / "bad"), "--num_frames", "2"])
    assert refused.value.code == 2 and "--mel_bins" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main([*base, "--output_dir", str(tmp_path / "out"), "--num_frames", "2", "--mel_bins", "32"]) == 0
    config = AvatarConfig.from_pretrained(tmp_path / "out")
    assert (config.num_frames, config.image_size, config.max_audio_frames, config.num_mel_bins) == (2, 32, 64, 32)
