import numpy as np
import pytest
import torch

from videozoo.processors.processing_vggish import (
    AudioTooShortError,
    VGGishProcessor,
    mel_matrix,
    resample_kaiser_best,
)

from .conftest import parity_fixture
from .expert_features_tester import ExpertFeaturesTesterMixin


class TestVGGish(ExpertFeaturesTesterMixin):
    model_type = "vggish"

    def prepare_inputs(self, config, batch_size):
        shape = (batch_size, 1, config.num_frames, config.num_mel_bins)
        return {"input_features": torch.randn(*shape, generator=torch.Generator().manual_seed(0))}

    def test_flatten_order_is_height_width_channels(self):
        """The first Linear sees the map flattened as (H, W, C): permuting its input columns accordingly reproduces
        a (C, H, W) flatten."""
        model = self.build()
        features = self.prepare_inputs(model.config, 2)["input_features"]
        hidden = model.features(features)
        expected = model.embeddings(hidden.permute(0, 2, 3, 1).reshape(2, -1))
        assert torch.allclose(model(features).features, expected)
        assert not torch.allclose(model.embeddings(hidden.reshape(2, -1)), expected)

    def test_postprocessing_quantises_into_bytes(self):
        model = self.build()
        emb = torch.randn(4, model.config.embedding_size)
        torch_style, numpy_style = model.postprocess(emb), model.postprocess(emb, style="numpy")
        assert torch_style.min() >= 0 and torch_style.max() <= 255 and numpy_style.dtype == torch.uint8
        assert (torch_style - numpy_style.double()).abs().max() <= 1


def test_resampler_keeps_a_tone_and_the_reference_length():
    rate = 44100
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * t)
    out = resample_kaiser_best(tone, rate, 16000)
    assert out.shape == (16000,)
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(out - expected)[500:-500].max() < 1e-3


def test_mel_matrix_zeroes_dc_and_spans_the_band():
    weights = mel_matrix(64, 257, 16000, 125.0, 7500.0)
    assert weights.shape == (257, 64) and (weights[0] == 0).all() and (weights.sum(axis=0) > 0).all()


def test_examples_and_bad_audio():
    processor = VGGishProcessor()
    pcm = (np.random.default_rng(0).standard_normal((2, 44100 * 2)) * 3000).astype(np.int16)
    wave = pcm / 32768.0  # (channels, samples) floats (docs/bad_input.md)
    assert processor(wave, 44100)["input_features"].shape == (2, 1, 96, 64)
    with pytest.raises(AudioTooShortError, match="fewer than one 0.96 s example"):
        processor(wave[:, :20000], 44100, source="short.wav")
    with pytest.raises(ValueError, match="NaN"):
        processor(np.full(20000, np.nan, np.float32), 16000)
    with pytest.raises(ValueError, match="float samples"):
        processor(pcm, 44100)
    with pytest.raises(ValueError, match=r"\(samples, channels\)"):
        processor(wave.T, 44100)


def test_conversion_reproduces_the_reference_features():
    from videozoo.scripts.convert_vggish_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("video_features_vggish"))]) == 0
