"""SparseSync's decoded-clip cache: batches from the cache equal batches from decoding, entries are written
atomically and refreshed when their source changes; the preparation script fills it; the decoder choice."""

import os

import numpy as np
import pytest
import torch

from videozoo.data.sparsesync import (
    DecodedClipCache,
    SparseSyncCollator,
    sparsesync_clip_dataset,
    write_clip,
    write_flash_and_click_dataset,
)
from videozoo.data.sparsesync_augmentation import SparseSyncAugmentation
from videozoo.processors import SparseSyncProcessor

from .test_data_sparsesync import small_processor


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("flash_and_click_cache")
    write_flash_and_click_dataset(
        root,
        {"train": 3, "valid": 2},
        duration_sec=2.2,
        size=32,
        num_offset_classes=5,
        max_offset_sec=0.4,
        crop_sec=1.0,
        events_per_sec=2.0,
    )
    return root


def _batches(collator, rows):
    return [collator(rows[i : i + 2]) for i in range(0, len(rows), 2)]


def test_training_batches_from_the_cache_equal_batches_from_decoding(synthetic_root, tmp_path, monkeypatch):
    processor = small_processor()
    train = sparsesync_clip_dataset(synthetic_root, "train")
    rows = [{**train[i], "sample_seed": 11 + i} for i in range(len(train))]
    decoded = _batches(SparseSyncCollator(processor, SparseSyncAugmentation()), rows)
    first = _batches(
        SparseSyncCollator(processor, SparseSyncAugmentation(), decoded_cache_dir=tmp_path), rows
    )  # fills it
    entries = sorted(p.name for p in tmp_path.rglob("*.json"))
    assert len(entries) == 3 and not list(tmp_path.rglob("*.tmp-*"))

    def no_decoding(path):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(processor, "load_clip", no_decoding)
    second = _batches(SparseSyncCollator(processor, SparseSyncAugmentation(), decoded_cache_dir=tmp_path), rows)
    for batches in (first, second):
        for expected, got in zip(decoded, batches, strict=True):
            assert expected.keys() == got.keys()
            for key in expected:
                assert torch.equal(expected[key], got[key]), key


def test_cached_clip_is_the_decoded_clip_memory_mapped(synthetic_root, tmp_path):
    processor = small_processor()
    path = sparsesync_clip_dataset(synthetic_root, "valid")[0]["path"]
    cache = DecodedClipCache(tmp_path, processor)
    assert cache.cached(path) is None
    clip = processor.load_clip(path)
    cache.write(path, clip)
    cached = cache.cached(path)
    assert torch.equal(cached.frames, clip.frames) and torch.equal(cached.waveform, clip.waveform)
    assert (cached.fps, cached.sampling_rate, cached.source_size) == (clip.fps, clip.sampling_rate, clip.source_size)
    if os.path.exists("/proc/self/maps"):  # the frames lie in a mapping of the cache file, not in a copy
        spans = [
            line.split()[0].split("-") for line in open("/proc/self/maps") if line.rstrip().endswith("frames.npy")
        ]
        pointer = cached.frames.data_ptr()
        assert any(int(low, 16) <= pointer < int(high, 16) for low, high in spans)
    cached.frames[0] = 0  # copy-on-write: the file keeps the decoded frames
    assert torch.equal(cache.cached(path).frames, clip.frames)
    # another decoding (another shorter side) never reads these entries
    assert DecodedClipCache(tmp_path, SparseSyncProcessor(resize_shorter_side=64)).cached(path) is None


def test_an_entry_is_refreshed_when_its_source_changes(tmp_path):
    processor = small_processor()
    rng = np.random.default_rng(0)
    source = tmp_path / "clip.mp4"
    write_clip(source, rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), rng.normal(0, 0.1, 25600))
    cache = DecodedClipCache(tmp_path / "cache", processor)
    assert len(cache.load(source).frames) == 40
    write_clip(source, rng.integers(0, 255, (30, 32, 32, 3), dtype=np.uint8), rng.normal(0, 0.1, 19200))
    os.utime(source, ns=(1, 1))  # a different modification time, whatever the clock's resolution
    assert cache.cached(source) is None
    assert len(cache.load(source).frames) == 30 and len(cache.cached(source).frames) == 30


def test_a_failed_write_leaves_no_entry(synthetic_root, tmp_path, monkeypatch):
    processor = small_processor()
    path = sparsesync_clip_dataset(synthetic_root, "valid")[1]["path"]
    clip = processor.load_clip(path)
    cache = DecodedClipCache(tmp_path, processor)

    def full_disk(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        cache.write(path, clip)
    assert cache.cached(path) is None and not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_preparation_script_fills_the_cache(tmp_path):
    from videozoo.scripts import prepare_sparsesync_dataset

    rng = np.random.default_rng(1)
    for video in range(2):
        write_clip(
            tmp_path / "src" / "pretrain" / f"v{video}" / "00000.mp4",
            rng.integers(0, 255, (60, 32, 32, 3), dtype=np.uint8),
            rng.normal(0, 0.1, 38400).astype(np.float32),
            crf=35,
        )
    arguments = ["--source_dir", str(tmp_path / "src"), "--target_dir", str(tmp_path / "out"), "--shorter_side", "32"]
    assert prepare_sparsesync_dataset.main([*arguments, "--decoded_cache_dir", str(tmp_path / "cache")]) == 0
    processor = SparseSyncProcessor(resize_shorter_side=32)
    cache = DecodedClipCache(tmp_path / "cache", processor)
    for path in sorted((tmp_path / "out").rglob("*.mp4")):
        cached = cache.cached(path)
        assert cached is not None and torch.equal(cached.frames, processor.load_clip(path).frames)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choice on a machine without CUDA")
def test_decoder_choice_without_cuda():
    from videozoo.data.sparsesync import clip_decoder, select_decoder

    processor = small_processor()
    assert select_decoder("auto") == ("pyav", "cpu") and select_decoder() == ("pyav", "cpu")
    assert clip_decoder(processor, "auto") == processor.load_clip
    with pytest.raises(ValueError, match="needs CUDA"):
        select_decoder("torchcodec-cuda")
    with pytest.raises(ValueError, match="decoder must be"):
        select_decoder("nvdec")


@pytest.mark.parametrize("fps, rate", [(25, 16000), (30, 44100)])  # as is; frame-rate and sampling-rate conversion
def test_torchcodec_path_decodes_like_pyav_on_the_cpu(tmp_path, fps, rate):
    """The GPU decoding path, run on the CPU (the device is its only difference): the same frames on the same grid,
    the same audio. Resizing differs (PyTorch bicubic, not FFmpeg's), so only unresized frames are compared."""
    pytest.importorskip("torchcodec")
    from videozoo.data.sparsesync import load_clip_torchcodec

    rng = np.random.default_rng(fps)
    path = write_clip(
        tmp_path / "clip.mp4",
        rng.integers(0, 255, (66, 32, 48, 3), dtype=np.uint8),
        rng.normal(0, 0.1, int(2.2 * rate)).astype(np.float32),
        fps=fps,
        sampling_rate=rate,
    )
    processor = small_processor()
    expected, got = processor.load_clip(path), load_clip_torchcodec(path, processor, device="cpu")
    assert torch.equal(got.frames, expected.frames)
    # measured 1.8e-7 at most (the two FFmpeg builds' AAC decoders): float32 rounding
    torch.testing.assert_close(got.waveform, expected.waveform, rtol=0, atol=1e-6)
    assert (got.fps, got.sampling_rate, got.source_size) == (expected.fps, expected.sampling_rate, (32, 48))
    resized_processor = SparseSyncProcessor(resize_shorter_side=24)
    resized = load_clip_torchcodec(path, resized_processor, device="cpu")
    assert resized.frames.shape == resized_processor.load_clip(path).frames.shape
    assert resized.frames.shape[1:] == (3, 24, 36)
