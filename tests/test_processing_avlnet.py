import pickle
import struct

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from videozoo.data.avlnet import AVLnetCollator, load_avlnet_pickle, synthetic_avlnet_dataset
from videozoo.processors import AVLnetFeatureExtractor, AVLnetProcessor
from videozoo.processors.feature_extraction_avlnet import pool_video_features
from videozoo.processors.word_vectors import load_word_vectors

from .conftest import SHARED


def tone(seconds: float, rate: int, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_frames_range_padding_and_lengths():
    extractor = AVLnetFeatureExtractor(max_frames=128)
    out = extractor([tone(1.0, 16000), tone(0.5, 16000)], sampling_rate=16000)
    assert out["input_features"].shape == (2, 40, 128)
    assert out["audio_lengths"].tolist() == [101, 51]  # 1 + samples // 160
    valid = out["input_features"][1, :, :51]
    assert valid.max() == 0 and valid.min() >= -80
    assert torch.equal(out["input_features"][1, :, 51:], torch.zeros(40, 77))  # the reference's 0 dB padding
    cropped = extractor([tone(2.0, 16000)], sampling_rate=16000, max_frames=64)
    assert cropped["audio_lengths"].tolist() == [64]


def test_any_rate_and_channel_count():
    extractor = AVLnetFeatureExtractor(max_frames=128)
    reference = extractor([tone(1.0, 16000)], sampling_rate=16000)["input_features"]
    stereo = np.stack([tone(1.0, 44100), tone(1.0, 44100)])
    resampled = extractor([stereo], sampling_rate=44100)["input_features"]
    assert (resampled - reference)[:, :, :100].abs().mean() < 1.0  # same tone, same spectrogram up to resampling


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(0, np.float32), "empty or all silent"),
        (np.zeros(3000, np.float32), "empty or all silent"),
        (np.full(3000, np.nan, np.float32), "NaN"),
        (np.zeros((2, 2, 10), np.float32), "samples"),
    ],
)
def test_bad_audio_is_named(audio, message):
    with pytest.raises(ValueError, match=message):
        AVLnetFeatureExtractor()([audio], sampling_rate=16000)


def test_sampling_rate_is_required():
    with pytest.raises(ValueError, match="sampling_rate is required"):
        AVLnetFeatureExtractor()([tone(1.0, 16000)])


def test_window_is_symmetric_hamming():
    window = torch.hamming_window(400, periodic=False, dtype=torch.float64)
    torch.testing.assert_close(window, window.flip(0), atol=1e-12, rtol=0)  # float64 window
    periodic = torch.hamming_window(400, periodic=True, dtype=torch.float64)
    assert (periodic - periodic.flip(0)).abs().max() > 1e-3  # the periodic window would fail the check above


def test_video_pooling():
    pooled = pool_video_features([np.array([[1.0, 0.0], [0.0, 2.0]]), np.zeros((0, 3))])
    torch.testing.assert_close(pooled, torch.tensor([1 / 5**0.5, 2 / 5**0.5, 0.0, 0.0, 0.0]))


def test_word_vectors_text_and_binary(tmp_path):
    (tmp_path / "vectors.txt").write_text("2 3\ncut 1 0 0\nonion 0 1 0\n")
    with (tmp_path / "vectors.bin").open("wb") as handle:
        handle.write(b"2 3\n")
        for word, vector in (("cut", (1.0, 0.0, 0.0)), ("onion", (0.0, 1.0, 0.0))):
            handle.write(word.encode() + b" " + struct.pack("3f", *vector) + b"\n")
    text, binary = load_word_vectors(tmp_path / "vectors.txt"), load_word_vectors(tmp_path / "vectors.bin")
    assert set(text) == set(binary) == {"cut", "onion"} and np.array_equal(text["onion"], binary["onion"])
    processor = AVLnetProcessor(AVLnetFeatureExtractor(), max_words=3, word_embedding_size=3).load_word_vectors(
        tmp_path / "vectors.bin"
    )
    words = processor.embed_text(["Cut the onion", ""])
    assert words[0].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]] and words[1].abs().sum() == 0
    with pytest.raises(FileNotFoundError, match="word vectors not found"):
        processor.load_word_vectors(tmp_path / "missing.bin")
    with pytest.raises(ValueError, match="no word vectors loaded"):
        AVLnetProcessor(AVLnetFeatureExtractor()).embed_text(["cut"])


def test_processor_round_trip(tmp_path):
    processor = AVLnetProcessor(AVLnetFeatureExtractor(max_frames=300), max_words=7)
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert (
        isinstance(reloaded, AVLnetProcessor)
        and reloaded.max_words == 7
        and reloaded.feature_extractor.max_frames == 300
    )


def test_clip_pickles_load_without_running_code(tmp_path):
    records = [
        {"id": "a", "2d": np.ones(4), "3d": np.zeros(4), "audio": torch.full((40, 7), -3.0), "caption": "cut it"}
    ]
    with (tmp_path / "clips.pkl").open("wb") as handle:
        pickle.dump(records, handle)
    dataset = load_avlnet_pickle(tmp_path / "clips.pkl")
    assert dataset[0]["audio_num_frames"] == 7 and np.asarray(dataset[0]["audio"]).shape == (7, 40)
    with (tmp_path / "evil.pkl").open("wb") as handle:
        pickle.dump([{"id": __import__("os").system}], handle)
    with pytest.raises(ValueError, match="refusing"):
        load_avlnet_pickle(tmp_path / "evil.pkl")


def test_collator_on_the_synthetic_task():
    splits = synthetic_avlnet_dataset(num_train_clips=3, video_dim=6).with_format("numpy")
    batch = AVLnetCollator(max_frames=256)([splits["train"][i] for i in range(3)])
    assert batch["input_features"].shape == (3, 40, 256) and batch["video_features"].shape == (3, 12)
    lengths = batch["audio_lengths"]
    assert (batch["input_features"][0, :, lengths[0] :] == 0).all() and len(splits["test"]) == 64


def _decode_audio(path):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        chunks = [frame.to_ndarray() for frame in container.decode(stream)]
    samples = np.concatenate([c if c.ndim == 2 and c.shape[0] <= 8 else c.reshape(1, -1) for c in chunks], axis=1)
    return samples.astype(np.float32), rate


def test_every_real_clip_goes_through_the_front_end():
    clips = sorted((SHARED / "data" / "media").rglob("*.mp4")) if SHARED.is_dir() else []
    if not clips:
        pytest.skip("../shared/data/media is not present")
    extractor = AVLnetFeatureExtractor(max_frames=1024)
    for path in clips:
        samples, rate = _decode_audio(path)
        out = extractor([samples], sampling_rate=rate)
        frames = int(out["audio_lengths"][0])
        expected = min(1024, 1 + int(round(samples.shape[-1] * 16000 / rate)) // 160)
        assert abs(frames - expected) <= 1, path.name
        valid = out["input_features"][0, :, :frames]
        assert valid.max() <= 0 and valid.min() >= -80 and torch.isfinite(valid).all(), path.name
        if frames < 1024:  # not cropped: the clip's loudest bin is the 0 dB reference
            assert valid.max() == 0, path.name


def test_howto100m_layout_and_random_windows(tmp_path):
    from videozoo.data.avlnet import HowTo100MCollator, howto100m_index

    folder = tmp_path / "feats" / "cooking" / "video_x" / "vid1"
    folder.mkdir(parents=True)
    np.savez(folder / "vid1_2d.npz", features=np.random.rand(40, 6).astype(np.float32))
    np.save(folder / "vid1_3d.npy", np.random.rand(27, 5).astype(np.float32))
    np.savez(folder / "vid1_spec.npz", np.random.uniform(-80, 0, (40, 4000)).astype(np.float16))
    (tmp_path / "train.csv").write_text("path\nNone/cooking/video_x/vid1\n")
    index = howto100m_index(tmp_path / "train.csv", tmp_path / "feats")
    batch = HowTo100MCollator(num_clips=4, window_frames=1000)([{**index[0], "sample_seed": 3}])
    assert batch["input_features"].shape == (4, 40, 1000) and batch["video_features"].shape == (4, 11)
    assert (batch["audio_lengths"] <= 1000).all()
    (tmp_path / "bad.csv").write_text("path\ncooking/video_x/vid2\n")
    with pytest.raises(FileNotFoundError, match="vid2"):
        howto100m_index(tmp_path / "bad.csv", tmp_path / "feats")
