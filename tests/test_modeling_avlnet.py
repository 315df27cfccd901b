import importlib.util

import pytest
import torch

from videozoo.modeling import AVLnetModel
from videozoo.modeling.losses import mms_loss

from .conftest import REPO_ROOT, parity_fixture
from .model_tester import ModelTesterMixin
from .tiny_configs import tiny_config


def avlnet_inputs(config, batch_size: int, seed: int = 0, frames: int = 64) -> dict:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([(24, 31, 13, 40)[i % 4] for i in range(batch_size)])
    audio = -80 * torch.rand(batch_size, config.num_mel_bins, frames, generator=generator)
    audio = audio * (torch.arange(frames)[None, None] < lengths[:, None, None])  # 0 dB padding, as the reference
    inputs = {
        "input_features": audio,
        "audio_lengths": lengths,
        "video_features": torch.nn.functional.normalize(
            torch.rand(batch_size, config.video_feature_size, generator=generator), dim=-1
        ),
    }
    if config.variant != "av":
        words = torch.randn(batch_size, 5, config.word_embedding_size, generator=generator) * 0.3
        inputs["text_features"] = words * (
            torch.arange(5)[None, :, None]
            < torch.tensor([5, 2, 0, 3][:batch_size] + [1] * max(0, batch_size - 4))[:, None, None]
        )
    return inputs


class TestAVLnetModel(ModelTesterMixin):
    model_type = "avlnet"
    test_attention_implementations = False  # no attention in AVLnet
    unused_parameters = ("audio_encoder.batchnorm1.",)  # kept for checkpoint compatibility, never applied

    def prepare_inputs(self, config, batch_size):
        return avlnet_inputs(config, batch_size)

    def pad_inputs(self, inputs):
        # evaluation pools only the valid frames; extra 0 dB padding beyond the CNN's reach changes nothing
        inputs["input_features"] = torch.nn.functional.pad(inputs["input_features"], (0, 32))
        return inputs

    def comparable_outputs(self, output):
        return {"audio_embeds": output.audio_embeds, "video_embeds": output.video_embeds}

    def test_output_shapes(self):
        config = self.get_config()
        model = self.build(config)
        out = model(**avlnet_inputs(config, 4), return_loss=True)
        assert out.audio_embeds.shape == (4, 24) and out.logits_audio_video.shape == (4, 4) and out.loss.shape == ()
        assert model.audio_encoder(torch.zeros(1, 12, 64)).shape == (1, 18, 16)  # ceil(64 / 2**2)


@pytest.mark.parametrize("variant", ["text_tri", "text_fused"])
def test_text_variants(variant):
    config = tiny_config("avlnet", variant=variant)
    model = AVLnetModel(config).eval()
    inputs = avlnet_inputs(config, 4)
    out = model(**inputs, return_loss=True)
    assert torch.isfinite(out.loss)
    if variant == "text_tri":
        expected = mms_loss(out.logits_audio_video) + mms_loss(out.logits_audio_text) + mms_loss(out.logits_text_video)
        torch.testing.assert_close(out.loss, expected)
        torch.testing.assert_close(
            out.logits_text_audio_video, out.text_embeds @ (out.audio_embeds + out.video_embeds).T
        )
    else:
        assert out.audio_text_embeds.shape == (4, 24) and out.logits_audio_video is None
    with pytest.raises(ValueError, match="needs text_features"):
        model(inputs["input_features"], inputs["video_features"], inputs["audio_lengths"])


def test_eval_pooling_follows_the_reference_and_training_includes_padding():
    config = tiny_config("avlnet")
    model = AVLnetModel(config).eval()
    features = torch.arange(10.0).expand(2, 3, 10)  # (batch, channels, frames') from a 40-frame input
    pooled = model.pool_audio(features, torch.tensor([9, 100]), input_frames=40)  # ratio 4 -> 2 frames; all frames
    assert pooled[0].tolist() == [0.5] * 3 and pooled[1].tolist() == [4.5] * 3
    assert model.pool_audio(features, torch.tensor([0, 1]), 40)[0].tolist() == [0.0] * 3  # at least one frame
    model.train()
    assert model.pool_audio(features, torch.tensor([9, 100]), 40)[0].tolist() == [4.5] * 3
    masked = AVLnetModel(tiny_config("avlnet", audio_train_pool_includes_padding=False)).train()
    assert masked.pool_audio(features, torch.tensor([9, 100]), 40)[0].tolist() == [0.5] * 3


def test_forward_does_not_modify_lengths():
    config = tiny_config("avlnet")
    inputs = avlnet_inputs(config, 3)
    lengths = inputs["audio_lengths"].clone()
    AVLnetModel(config).eval()(**inputs)
    assert torch.equal(inputs["audio_lengths"], lengths)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda i: i.update(input_features=i["input_features"][0]), "mel_bins|rank"),
        (lambda i: i.update(input_features=i["input_features"][:, :, :0]), "no frame"),
        (lambda i: i["input_features"].__setitem__((0, 0, 0), float("nan")), "NaN"),
        (lambda i: i.update(audio_lengths=i["audio_lengths"].float()), "integers"),
        (lambda i: i.update(video_features=i["video_features"][:2]), "batch size"),
        (lambda i: i.update(video_features=torch.zeros(3, 7)), r"\(batch, 20\)"),
    ],
)
def test_bad_input_is_named(mutate, message):
    config = tiny_config("avlnet")
    inputs = avlnet_inputs(config, 3)
    mutate(inputs)
    with pytest.raises(ValueError, match=message):
        AVLnetModel(config).eval()(**inputs)


def test_mms_loss_values():
    assert mms_loss(torch.full((8, 8), 0.3)).item() == pytest.approx(4.1606, abs=1e-4)  # 4.16063: 3.3e-5 off
    assert mms_loss(50 * torch.eye(4)).item() == pytest.approx(0.0, abs=1e-6)
    s = torch.randn(5, 5)
    assert mms_loss(s).item() == pytest.approx(mms_loss(s.T).item(), abs=1e-6)  # 0 over 200 draws


@pytest.mark.parametrize("name", ["avlnet", "avlnet_tri", "avlnet_fused", "avlnet_frontend"])
def test_conversion_reproduces_the_authors_outputs(name, capsys):
    fixture = parity_fixture(name)
    spec = importlib.util.spec_from_file_location(
        "convert_avlnet", REPO_ROOT / "scripts" / "convert_avlnet_original_checkpoint.py"
    )
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    assert convert.main(["--fixture", str(fixture)]) == 0
    assert "PASS" in capsys.readouterr().out
