"""SparseSync's media pipeline: decoding, the spectrogram, the offset sampler, the processor, bad input."""

import glob

import av
import numpy as np
import pytest
import torch
import torchaudio

from videozoo.data.sparsesync import flash_and_click_source, write_clip
from videozoo.data.sparsesync_augmentation import FINETUNE_AUGMENTATIONS, SparseSyncAugmentation
from videozoo.processors import (
    MediaDecodingError,
    SparseSyncFeatureExtractor,
    SparseSyncProcessor,
    SparseSyncVideoProcessor,
    load_clip,
)
from videozoo.processors.processing_sparsesync import ClipTooShortError, equalize_lengths, fixed_crop, sample_crop

GRID21 = SparseSyncProcessor().offset_grid()


# ----------------------------------------------------------------------------- audio front end
def test_spectrogram_shape_standardisation_and_torchaudio_equivalence():
    wave = torch.randn(80_000, generator=torch.Generator().manual_seed(0)) * 0.1
    extractor = SparseSyncFeatureExtractor()
    features = extractor(wave, sampling_rate=16000)["input_features"]
    assert features.shape == (1, 257, 626)
    torch.testing.assert_close(features[0].mean(dim=1), torch.zeros(257), atol=1e-5, rtol=0)  # measured 2.9e-8
    torch.testing.assert_close(features[0].std(dim=1), torch.ones(257), atol=1e-4, rtol=0)  # unbiased; 8.9e-7
    reference = torch.log(torchaudio.transforms.Spectrogram(n_fft=512, hop_length=128)(wave) + 1e-6)
    reference = (reference - reference.mean(dim=1, keepdim=True)) / (reference.std(dim=1, keepdim=True) + 1e-6)
    torch.testing.assert_close(features[0], reference, atol=1e-5, rtol=0)  # the same torch.stft call: 0 measured


def test_spectrogram_refuses_what_it_cannot_do():
    extractor = SparseSyncFeatureExtractor()
    with pytest.raises(ValueError, match="22050 Hz; SparseSync needs 16000 Hz"):
        extractor(torch.zeros(8000), sampling_rate=22050)
    with pytest.raises(ValueError, match="never padded"):
        extractor([torch.zeros(8000), torch.zeros(8001)], sampling_rate=16000)
    with pytest.raises(ValueError, match="NaN"):
        extractor(torch.full((8000,), float("nan")), sampling_rate=16000)
    with pytest.raises(ValueError, match="float samples"):
        extractor(torch.zeros(8000, dtype=torch.int16), sampling_rate=16000)


# ----------------------------------------------------------------------------- the offset sampler (A4.1)
@pytest.mark.parametrize("seconds", [7.0, 8.3, 10.0])
def test_sampler_keeps_both_crops_inside_without_padding(seconds):
    frames, samples = int(seconds * 25), int(seconds * 16000)
    rng = np.random.default_rng(int(seconds * 10))
    seen = set()
    for _ in range(600):
        plan = sample_crop(frames, samples, GRID21, 5.0, 25, 16000, rng)
        seen.add(plan.label)
        assert 0 <= plan.video_start_frame and plan.video_start_frame + 125 <= frames
        assert 0 <= plan.audio_start_sample and plan.audio_start_sample + 80_000 <= samples
        assert plan.video_start_sec == plan.video_start_frame / 25  # on the frame grid
        assert abs(plan.audio_start_sample - 16000 * (plan.video_start_sec + plan.offset_sec)) <= 1  # truncation only
        assert GRID21[plan.label] == pytest.approx(plan.offset_sec, abs=1e-6)
    assert seen == set(range(21))


def test_sampler_labels_are_uniform_and_jitter_stays_small():
    rng = np.random.default_rng(0)
    labels, jitters = [], []
    for _ in range(4200):
        plan = sample_crop(250, 160_000, GRID21, 5.0, 25, 16000, rng, jitter_sec=0.05)
        labels.append(plan.label)
        jitters.append(plan.audio_jitter)
        assert 0 <= plan.audio_start_sample <= 160_000 - 80_000
        truth = 16000 * (plan.video_start_sec + plan.offset_sec)
        assert abs(plan.audio_start_sample - truth) <= 800 + 1  # +-0.05 s
    counts = np.bincount(labels, minlength=21)
    assert counts.min() > 0.7 * 200 and counts.max() < 1.3 * 200, counts
    assert max(jitters) > 700 and min(jitters) < -700


def test_sampler_and_fixed_crops_refuse_short_clips():
    rng = np.random.default_rng(0)
    with pytest.raises(ClipTooShortError, match="needs 7.00 s"):
        for _ in range(200):  # a 6 s clip fits |offset| <= 1 only
            sample_crop(150, 96_000, [-2.0, 2.0, 0.0], 5.0, 25, 16000, rng)
    with pytest.raises(ClipTooShortError, match="never pads"):
        fixed_crop(150, 96_000, GRID21, 5.0, 25, 16000, 2.0, 0.0, "short.mp4")
    assert equalize_lengths(251, 160_497, 25, 16000) == (250, 160_000)  # at most 10 s, 640 samples per frame
    assert equalize_lengths(200, 128_175, 25, 16000) == (200, 128_000)


def test_positive_offset_means_audio_early():
    """One flash at 1.0 s and one click at 1.0 s in the source; with +0.4 s the click comes 0.4 s before the flash."""
    frames = np.zeros((250, 32, 32, 3), np.uint8)
    frames[25] = 255
    wave = np.zeros(160_000, np.float32)
    wave[16_000:16_320] = 0.5
    plan = fixed_crop(250, 160_000, GRID21, 2.0, 25, 16000, 0.4, 0.2, "sign")
    flash_in_crop = (np.argmax(frames[plan.video_start_frame : plan.video_start_frame + 50, 0, 0, 0])) / 25
    click_in_crop = np.argmax(np.abs(wave[plan.audio_start_sample : plan.audio_start_sample + 32_000])) / 16000
    assert flash_in_crop == pytest.approx(0.8) and click_in_crop == pytest.approx(0.4, abs=1e-4)
    assert GRID21[plan.label] == pytest.approx(0.4)


# ----------------------------------------------------------------------------- processor
def small_processor(**kwargs):
    return SparseSyncProcessor(clip_length_sec=1.0, crop_size=32, num_offset_classes=5, max_offset_sec=0.4, **kwargs)


def random_clip(seconds=2.0, seed=0, size=(40, 48)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (int(25 * seconds), 3, *size), dtype=np.uint8), rng.normal(
        0, 0.1, int(16000 * seconds)
    ).astype(np.float32)


def test_processor_outputs_and_save_load(tmp_path):
    processor = small_processor()
    videos, audios = zip(*(random_clip(seed=s) for s in range(3)))
    out = processor(videos=list(videos), audios=list(audios), offsets=[0.2, -0.4, 0.0], video_starts=[0.4, 0.6, 0.0])
    assert out["pixel_values"].shape == (3, 25, 3, 32, 32) and out["input_features"].shape == (3, 257, 126)
    assert out["labels"].tolist() == [3, 0, 2]
    assert out["video_start_frame"].tolist() == [10, 15, 0] and out["audio_start_sample"].tolist() == [
        9600,
        3199,
        0,
    ]  # int((0.6 - 0.4) * 16000), the reference truncation
    processor.save_pretrained(tmp_path)
    reloaded = SparseSyncProcessor.from_pretrained(tmp_path)
    again = reloaded(videos=list(videos), audios=list(audios), offsets=[0.2, -0.4, 0.0], video_starts=[0.4, 0.6, 0.0])
    for key in out:
        assert torch.equal(out[key], again[key]), key
    assert reloaded.video_processor.to_dict() == processor.video_processor.to_dict() and reloaded.crop_size == 32
    # the video processor alone (AutoVideoProcessor's class) gives the processor's frames
    crops = [v[f : f + 25] for v, f in zip(videos, out["video_start_frame"].tolist())]
    assert torch.equal(processor.video_processor(crops)["pixel_values"], out["pixel_values"])
    logits = torch.zeros(2, 5)
    logits[0, 4], logits[1, 1] = 3, 3
    assert [r["offset_sec"] for r in processor.post_process(logits)] == pytest.approx([0.4, -0.2])


def test_video_processor_and_the_previous_layout(tmp_path):
    """Feature extractor + video processor, saved in one processor_config.json; a processor saved before the video
    processor existed (`crop_size`, `image_mean`, `image_std` at the top level) still loads, with the same frames."""
    import json

    from transformers import AutoProcessor, AutoVideoProcessor

    processor = small_processor()
    assert processor.get_attributes() == ["feature_extractor", "video_processor"]
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["video_processor"]["video_processor_type"] == "SparseSyncVideoProcessor" and "crop_size" not in saved
    assert type(AutoVideoProcessor.from_pretrained(tmp_path)) is SparseSyncVideoProcessor
    previous = {key: value for key, value in saved.items() if key != "video_processor"}
    previous.update(
        crop_size=32, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], horizontal_flip_p=0.5
    )
    (tmp_path / "processor_config.json").write_text(json.dumps(previous))
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert (
        type(loaded) is SparseSyncProcessor and loaded.video_processor.to_dict() == processor.video_processor.to_dict()
    )
    video, audio = random_clip()
    first, second = (p(videos=[video], audios=[audio], offsets=[0.2], video_starts=[0.4]) for p in (processor, loaded))
    assert torch.equal(first["pixel_values"], second["pixel_values"])
    with pytest.raises(ValueError, match="square"):
        SparseSyncVideoProcessor(crop_size=[32, 48])
    with pytest.raises(ValueError, match="contradicts"):
        SparseSyncProcessor(video_processor=SparseSyncVideoProcessor(crop_size=32), crop_size=64)
    with pytest.raises(ValueError, match="load_clip"):
        processor.video_processor(["clip.mp4"])


def test_training_draws_follow_the_seeds():
    processor = small_processor()
    video, audio = random_clip(seconds=3.0)
    augmentation = SparseSyncAugmentation(audio_jitter_sec=0.05)
    first = augmentation.batch(processor, [video, video], [1, 2], audios=[audio, audio])
    again = augmentation.batch(processor, [video, video], [1, 2], audios=[audio, audio])
    for key in first:
        assert torch.equal(first[key], again[key]), key
    assert not torch.equal(first["pixel_values"][0], first["pixel_values"][1])
    assert first["audio_jitter"].abs().max() <= 800  # 0.05 s at 16 kHz
    # the evaluation sampler draws the same crops from the same seeds, without the jitter and the transforms
    drawn = processor(videos=[video, video], audios=[audio, audio], random_offsets=True, seeds=[1, 2])
    assert torch.equal(drawn["labels"], first["labels"]) and not drawn["audio_jitter"].any()
    with pytest.raises(TypeError, match="SparseSyncAugmentation"):  # no training switch on the processor
        processor(videos=[video], audios=[audio], training=True)
    with pytest.raises(ValueError, match="half a grid step"):  # a jitter that would change labels
        SparseSyncAugmentation(audio_jitter_sec=0.15).batch(processor, [video], [1], audios=[audio])
    with pytest.raises(ValueError, match="upscale_p"):
        SparseSyncAugmentation(upscale_p=2.0)


def test_processor_bad_input_is_named():
    processor = small_processor()
    video, audio = random_clip()
    with pytest.raises(ValueError, match="30 fps; SparseSync needs 25 fps"):
        processor(videos=[video], audios=[audio], video_fps=30)
    with pytest.raises(ValueError, match="44100 Hz"):
        processor(videos=[video], audios=[audio], sampling_rate=44100)
    with pytest.raises(ValueError, match="smaller than the 32 px crop"):
        processor(videos=[video[:, :, :16, :16]], audios=[audio])
    with pytest.raises(ValueError, match="audios are missing"):
        processor(videos=[video])
    with pytest.raises(ValueError, match="uint8"):
        processor(videos=[video.astype(np.float32)], audios=[audio])
    with pytest.raises(ClipTooShortError, match="clip 0"):
        processor(videos=[video[:20]], audios=[audio])
    with pytest.raises(ValueError, match="both offsets and video_starts"):
        processor(videos=[video], audios=[audio], offsets=[0.2])


# ----------------------------------------------------------------------------- decoding (PyAV)
def test_encoded_flash_and_click_stay_aligned(tmp_path):
    """Decoding keeps the streams aligned: through libx264 + AAC 16 kHz and back, every flash frame coincides with its
    click."""
    frames, wave, events = flash_and_click_source(np.random.default_rng(3), 4.0, 32, events_per_sec=2.0)
    write_clip(tmp_path / "fc.mp4", frames, wave)
    clip = load_clip(tmp_path / "fc.mp4")
    assert clip.frames.shape == (100, 3, 32, 32) and abs(len(clip.waveform) - 64_000) < 2048
    brightness = clip.frames.float().mean(dim=(1, 2, 3)).numpy()
    flashes = np.where(brightness > np.median(brightness) + 7)[0]
    starts = flashes[np.r_[True, np.diff(flashes) > 1]]
    loud = np.where(np.abs(clip.waveform.numpy()) > 0.15)[0]
    clicks = loud[np.r_[True, np.diff(loud) > 1600]] / 640  # in frames
    assert len(starts) == len(events) == len(clicks) >= 4
    assert np.abs(starts - clicks).max() <= 1.0
    assert np.abs(starts - np.round(events * 25)).max() == 0


def _write_counter_clip(path, fps, seconds, rate=44100, channels=2, size=(48, 64)):
    """Frame i shows brightness i (mod 256); audio is a tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[1], size[0], "yuv420p"
        video.options = {"crf": "0"}
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "stereo" if channels == 2 else "mono"
        count = int(round(seconds * fps))
        for i in range(count):
            image = np.full((*size, 3), (i * 4) % 256, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        t = np.arange(int(seconds * rate)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = np.repeat(tone[None, start : start + 1024], channels, axis=0)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=audio.layout.name)
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)


def test_frame_rate_and_sample_rate_conversion(tmp_path):
    _write_counter_clip(tmp_path / "c30.mp4", 30, 2.0)
    clip = load_clip(tmp_path / "c30.mp4", shorter_side=32)
    assert clip.frames.shape == (50, 3, 32, 42)  # 2 s at 25 fps; 48x64 -> 32x42.67 -> even 32x42
    assert clip.source_fps == 30 and clip.source_sampling_rate == 44100 and clip.source_channels == 2
    shown = np.round(clip.frames[:, 0, 16, 16].float().numpy() / 4).astype(int)
    expected = [int(np.searchsorted(np.floor(np.arange(60) / 30 * 25 + 0.5), k, side="right") - 1) for k in range(50)]
    assert np.abs(shown - np.array(expected)).max() <= 0  # FFmpeg `fps` rule: last frame whose rounded slot <= k
    assert abs(len(clip.waveform) - 32_000) < 1200 and clip.sampling_rate == 16000
    spectrum = np.abs(np.fft.rfft(clip.waveform[2000:18000].numpy()))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins: the tone survives down-mix and resampling


def test_bad_files_get_named_errors(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(MediaDecodingError, match="missing.mp4: no such file"):
        load_clip(missing)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(MediaDecodingError, match="garbage.mp4: unreadable"):
        load_clip(garbage)
    silent = tmp_path / "video_only.mp4"
    with av.open(str(silent), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(10):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(MediaDecodingError, match="video_only.mp4: the file has no audio stream"):
        load_clip(silent)
    audio_only = tmp_path / "audio_only.m4a"
    with av.open(str(audio_only), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    with pytest.raises(MediaDecodingError, match="audio_only.m4a: the file has no video stream"):
        load_clip(audio_only)
    frames, wave, _ = flash_and_click_source(np.random.default_rng(0), 6.0, 32)
    whole = write_clip(tmp_path / "whole.mp4", frames, wave).read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])  # mdat cut: the index is lost
    with pytest.raises(MediaDecodingError, match="truncated.mp4"):
        load_clip(truncated)


# ----------------------------------------------------------------------------- every real clip
@pytest.fixture(scope="module")
def real_clips():
    from .conftest import SHARED

    files = sorted(glob.glob(str(SHARED / "data" / "media" / "**" / "*.mp4"), recursive=True))
    if not files:
        pytest.skip("../shared/data/media is not present")
    processor = SparseSyncProcessor()
    return processor, [(path, processor.load_clip(path)) for path in files]


def test_every_real_clip_goes_through_the_processor(real_clips):
    processor, clips = real_clips
    assert len(clips) >= 12
    rates = {clip.source_sampling_rate for _, clip in clips}
    assert {16000, 22050, 44100} <= rates and {1, 2} == {clip.source_channels for _, clip in clips}
    for index, (path, clip) in enumerate(clips):
        assert clip.fps == 25 and clip.sampling_rate == 16000 and min(clip.frames.shape[-2:]) == 256, path
        assert clip.frames.shape[-1] % 2 == 0 and clip.frames.dtype == torch.uint8
        assert abs(clip.duration - min(11.0, clip.metadata["declared_seconds"]["video"])) < 0.2, path
        out = processor(videos=[clip], offsets=[0.0], video_starts=[0.0])
        assert out["pixel_values"].shape == (1, 125, 3, 224, 224) and out["input_features"].shape == (1, 257, 626)
        assert torch.isfinite(out["pixel_values"]).all() and torch.isfinite(out["input_features"]).all()
        if clip.duration >= 7.0:  # long enough for every offset of the grid
            drawn = SparseSyncAugmentation().batch(processor, [clip], [index])
            assert drawn["pixel_values"].shape == (1, 125, 3, 224, 224)
        else:
            with pytest.raises(ClipTooShortError, match=path.split("/")[-1]):
                processor(videos=[clip], offsets=[2.0], video_starts=[0.0])


def test_finetuning_augmentations_run_and_follow_the_seeds():
    processor = small_processor()
    assert SparseSyncAugmentation.finetune().to_dict() == {
        **SparseSyncAugmentation().to_dict(),
        **FINETUNE_AUGMENTATIONS,
    }
    augmentation = SparseSyncAugmentation.finetune(
        upscale_p=1.0,
        upscale_crop_size=24,
        color_jitter_p=1.0,
        grayscale_p=1.0,
        reverb_p=1.0,
        volume_p=1.0,
        pitch_shift_p=1.0,
        lowpass_p=1.0,
        gaussian_noise_p=1.0,
        freq_mask_p=1.0,
        time_mask_p=1.0,
    )
    video, audio = random_clip(seconds=3.0)
    first = augmentation.batch(processor, [video], [3], audios=[audio])
    again = augmentation.batch(processor, [video], [3], audios=[audio])
    plain = SparseSyncAugmentation().batch(processor, [video], [3], audios=[audio])
    assert torch.equal(first["pixel_values"], again["pixel_values"]) and torch.equal(
        first["input_features"], again["input_features"]
    )
    assert torch.isfinite(first["pixel_values"]).all() and torch.isfinite(first["input_features"]).all()
    frames = first["pixel_values"][0]
    assert torch.allclose(
        frames[:, 0] * 0.229 + 0.485, frames[:, 1] * 0.224 + 0.456, atol=1e-5
    )  # grey: equal channels
    assert not torch.equal(first["input_features"], plain["input_features"])
