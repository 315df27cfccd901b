"""The bad-input battery, run for every registered architecture (docs/bad_input.md).

Each architecture has one row in `MODEL_TESTERS` (its model tester, which knows how to build valid model inputs)
and one in `PROCESSOR_CASES` (how to call its processor with valid audio / text / features). From those rows the
battery derives the malformed inputs itself: every float input gets NaN, +inf and -inf, float64 and integer
versions; every id input gets out-of-vocabulary, negative and float ids; labels all padding; waveforms in the
`(samples, channels)` layout, without `sampling_rate`, with integer samples; `None` where text is expected; config
fields of the wrong type or size. Every case must raise a `ValueError` that names the argument. A registered
architecture without a row fails `test_every_architecture_has_a_row`.
"""

import copy
import dataclasses
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from videozoo.auto import ARCHITECTURES
from videozoo.configuration.configuration_common import _POSITIVE
from videozoo.processors import (
    CLIPFramesProcessor,
    I3DProcessor,
    RAFTProcessor,
    ResNetFramesProcessor,
    S3DProcessor,
    VGGishProcessor,
)
from videozoo.processors.validation import (
    as_mono_waveform,
    check_finite,
    check_float_features,
    check_ids,
    require_sampling_rate,
    require_text,
    waveform_list,
)

from .tiny_configs import TINY_CONFIGS, TINY_PROCESSORS, tiny_config

MODEL_TYPES = [arch.model_type for arch in ARCHITECTURES]

# model_type -> (test module, model tester class): the tester's prepare_inputs / loss_inputs give valid inputs.
MODEL_TESTERS = {
    "mmt": ("test_modeling_mmt", "TestMMTModel"),
    "mmt_modality_masking": ("test_modeling_mmt_modality_masking", "TestModalityMaskingModel"),
    "avlnet": ("test_modeling_avlnet", "TestAVLnetModel"),
    "bmt": ("test_modeling_bmt", "TestBMTModel"),
    "mdvc": ("test_modeling_mdvc", "TestMDVCModel"),
    "everything_at_once": ("test_modeling_everything_at_once", "TestEverythingAtOnceModel"),
    "avatar": ("test_modeling_avatar", "TestAvatarModel"),
    "sparsesync": ("test_modeling_sparsesync", "TestSparseSyncModel"),
    "melgan": ("test_modeling_melgan", "TestMelGANVocoder"),
    "melception": ("test_modeling_melception", "TestMelceptionModel"),
    "specvqgan": ("test_modeling_specvqgan", "TestSpecVQGANModel"),
    "specvqgan_sampler": ("test_modeling_specvqgan", "TestSpecVQGANSampler"),
    "resnet_frames": ("test_modeling_resnet_frames", "TestResNetFrames"),
    "clip_frames": ("test_modeling_clip_frames", "TestCLIPFrames"),
    "s3d": ("test_modeling_s3d", "TestS3D"),
    "vggish": ("test_modeling_vggish", "TestVGGish"),
    "raft": ("test_modeling_raft", "TestRAFT"),
    "i3d": ("test_modeling_i3d", "TestI3D"),
}

# models that cannot run in float64 at all, with the reason (their float64 inputs are refused like any other's)
FLOAT32_ONLY = {
    "raft": "torchvision's RAFT builds its coordinate grids in float32 (optical_flow/_utils.py), so model.double() "
    "fails inside grid_sample",
}


def _word_vectors(directory, dim: int):
    words = ["a", "man", "dog", "is", "cooking", "runs", "the"]
    rng = np.random.default_rng(0)
    path = directory / "vectors.txt"
    path.write_text("".join(f"{w} {' '.join(f'{v:.4f}' for v in rng.normal(size=dim))}\n" for w in words))
    return path


def _with_word_vectors(model_type: str):
    def build(directory):
        processor = TINY_PROCESSORS[model_type](directory)
        return processor.load_word_vectors(_word_vectors(directory, processor.word_embedding_size))

    return build


def _sparsesync_call(waves, sampling_rate):
    frames = np.random.default_rng(0).integers(0, 256, (25, 3, 40, 40), dtype=np.uint8)
    return {"videos": [frames] * len(waves), "audios": waves, "sampling_rate": sampling_rate}


@dataclass
class ProcessorCase:
    """How to call one architecture's processor with valid inputs.

    audio: builds the call's kwargs from a list of waveforms and their rate (None: the processor takes no audio);
    audio_rate: a rate it accepts; resamples: whether it resamples (then `sampling_rate` is required);
    text: the kwargs that take text; features: builds valid pre-extracted feature kwargs (arrays are poisoned);
    build None: the architecture has no processor of its own.
    """

    build: Callable | None
    audio: Callable | None = None
    audio_rate: int = 16000
    audio_samples: int = 16000
    resamples: bool = False
    text: tuple[str, ...] = ()
    features: Callable | None = None
    output_key: str = "input_features"
    media: str | None = None  # "video" / "audio": an expert extractor that reads that stream of media files


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


PROCESSOR_CASES = {
    "mmt": ProcessorCase(
        TINY_PROCESSORS["mmt"],
        text=("text",),
        features=lambda: {"expert_features": [{"s3d": _rand(5, 20), "vggish": _rand(4, 12)}]},
    ),
    "mmt_modality_masking": ProcessorCase(
        TINY_PROCESSORS["mmt_modality_masking"],
        text=("text",),
        features=lambda: {"expert_features": [{"s3d": _rand(5, 20), "vggish": _rand(4, 12), "asr": _rand(3, 16)}]},
    ),
    "avlnet": ProcessorCase(
        _with_word_vectors("avlnet"),
        audio=lambda waves, rate: {"audio": waves, "sampling_rate": rate},
        audio_rate=22050,
        resamples=True,
        text=("text",),
        features=lambda: {"video": [[_rand(3, 12), _rand(2, 8)]]},
    ),
    "bmt": ProcessorCase(
        TINY_PROCESSORS["bmt"],
        text=("text",),
        features=lambda: {"audio": [_rand(7, 12)], "rgb": [_rand(3, 20)], "flow": [_rand(3, 20)]},
    ),
    "mdvc": ProcessorCase(
        TINY_PROCESSORS["mdvc"],
        text=("text", "speech"),
        features=lambda: {"audio": [_rand(4, 12)], "rgb": [_rand(4, 20)], "flow": [_rand(4, 20)]},
    ),
    "everything_at_once": ProcessorCase(
        _with_word_vectors("everything_at_once"),
        audio=lambda waves, rate: {"audio": waves, "sampling_rate": rate},
        audio_rate=44100,
        resamples=True,
        text=("text",),
        features=lambda: {"video": [_rand(4, 20), _rand(2, 20)]},
    ),
    "avatar": ProcessorCase(
        TINY_PROCESSORS["avatar"],
        audio=lambda waves, rate: {"audio": waves, "sampling_rate": rate},
        audio_rate=8000,
        audio_samples=4000,
        resamples=True,
        text=("text",),
    ),
    "sparsesync": ProcessorCase(TINY_PROCESSORS["sparsesync"], audio=_sparsesync_call, audio_samples=16000),
    # the vocoder and Melception take spectrograms of the SpecVQGAN feature extractor (the specvqgan rows)
    "melgan": ProcessorCase(None),
    "melception": ProcessorCase(None),
    "specvqgan": ProcessorCase(
        TINY_PROCESSORS["specvqgan"],
        audio=lambda waves, rate: {"audio": waves, "sampling_rate": rate},
        audio_rate=16000,  # resampled to 22 050 Hz
        audio_samples=8000,
        resamples=True,
        features=lambda: {"visual_features": [_rand(11, 20), _rand(7, 20)]},
    ),
    "specvqgan_sampler": ProcessorCase(
        TINY_PROCESSORS["specvqgan_sampler"],
        audio=lambda waves, rate: {"audio": waves, "sampling_rate": rate},
        audio_rate=44100,
        audio_samples=22050,
        resamples=True,
        features=lambda: {"visual_features": [_rand(11, 20)]},
    ),
    # frame extractors: decoded uint8 frames in, no audio or text (their media files: test_media_files_...)
    "resnet_frames": ProcessorCase(lambda directory: ResNetFramesProcessor(extraction_fps=None), media="video"),
    "clip_frames": ProcessorCase(lambda directory: CLIPFramesProcessor(image_size=32), media="video"),
    "s3d": ProcessorCase(
        lambda directory: S3DProcessor(resize_size=32, crop_size=32, extraction_fps=None, stack_size=16, step_size=8),
        media="video",
    ),
    "raft": ProcessorCase(lambda directory: RAFTProcessor(), media="video"),
    "i3d": ProcessorCase(
        lambda directory: I3DProcessor(extraction_fps=None, stack_size=10, step_size=10), media="video"
    ),
    # without the int16 quantisation (kept by default, see processors/processing_vggish.py) the down-mix of a
    # stereo clip equals the mean of its channels given as mono; quantising first rounds that mean to the PCM grid
    "vggish": ProcessorCase(
        lambda directory: VGGishProcessor(quantize_to_int16=False),
        audio=lambda waves, rate: {"waveform": waves[0] if isinstance(waves, list) else waves, "sampling_rate": rate},
        audio_rate=22050,
        audio_samples=22050,
        resamples=True,
        media="audio",
    ),
}


def test_every_architecture_has_a_row():
    missing = [t for t in MODEL_TYPES if t not in MODEL_TESTERS or t not in PROCESSOR_CASES or t not in TINY_CONFIGS]
    assert not missing, f"registered architectures without a bad-input row in tests/test_bad_input.py: {missing}"


# ----------------------------------------------------------------------------- models
def _tester(model_type):
    module, name = MODEL_TESTERS[model_type]
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)()


def _leaves(inputs, path=()):
    for key, value in inputs.items():
        if isinstance(value, dict):
            yield from _leaves(value, path + (key,))
        elif isinstance(value, torch.Tensor):
            yield path + (key,), value


def _replaced(inputs, path, value):
    out = copy.copy(inputs)
    inner = out
    for key in path[:-1]:
        inner[key] = copy.copy(inner[key])
        inner = inner[key]
    inner[path[-1]] = value
    return out


def _is_ids(path) -> bool:
    return path[-1].endswith("_ids") or path[-1] == "labels"


def _expect_named_error(model, inputs, path):
    """A ValueError whose message names the argument (and the dict key for per-expert inputs)."""
    with pytest.raises(ValueError) as caught:
        model(**inputs)
    message = str(caught.value)
    for part in path:
        assert part in message, f"the error for {'/'.join(path)} does not name {part!r}: {message}"


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(model_type):
        if model_type not in cache:
            tester = _tester(model_type)
            model = tester.build()
            inputs = tester.loss_inputs(tester.prepare_inputs(model.config, 2))
            if "return_loss" not in inspect.signature(model.forward).parameters:
                inputs.pop("return_loss", None)  # vocoder and feature extractors: no loss of their own
            cache[model_type] = (model, inputs)
        return cache[model_type]

    return get


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_valid_inputs_run(model_type, built):
    """The battery's starting point is valid: without it every refusal below would prove nothing."""
    model, inputs = built(model_type)
    with torch.no_grad():
        output = model(**inputs)
    loss = getattr(output, "loss", None)
    assert loss is None or torch.isfinite(loss)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_non_finite_features_are_refused(model_type, built):
    model, inputs = built(model_type)
    floats = [(path, value) for path, value in _leaves(inputs) if value.is_floating_point()]
    assert floats
    for path, value in floats:
        for bad in (float("nan"), float("inf"), float("-inf")):
            poisoned = value.clone()
            poisoned.view(-1)[-1] = bad
            _expect_named_error(model, _replaced(inputs, path, poisoned), path)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_float64_and_integer_features_are_refused(model_type, built):
    model, inputs = built(model_type)
    for path, value in _leaves(inputs):
        if value.is_floating_point():
            for wrong in (value.double(), value.round().long()):
                _expect_named_error(model, _replaced(inputs, path, wrong), path)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_float64_features_are_accepted_by_a_float64_model(model_type, built):
    """`model.double()` with float64 inputs stays possible (how float64 reference figures are measured)."""
    if model_type in FLOAT32_ONLY:
        pytest.skip(FLOAT32_ONLY[model_type])
    model, inputs = built(model_type)
    double = copy.deepcopy(model).double()

    def to_double(value):
        if isinstance(value, dict):
            return {k: to_double(v) for k, v in value.items()}
        return value.double() if isinstance(value, torch.Tensor) and value.is_floating_point() else value

    with torch.no_grad():
        double(**to_double(inputs))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_ids_outside_the_vocabulary_or_of_float_dtype_are_refused(model_type, built):
    model, inputs = built(model_type)
    for path, value in _leaves(inputs):
        if not _is_ids(path):
            continue
        for bad in (10**6, -5):
            wrong = value.clone()
            wrong.view(-1)[0] = bad
            _expect_named_error(model, _replaced(inputs, path, wrong), path)
        _expect_named_error(model, _replaced(inputs, path, value.float()), path)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_labels_all_padding_give_a_defined_loss(model_type, built):
    model, inputs = built(model_type)
    labels = inputs.get("labels")
    if labels is None or labels.dim() != 2:
        pytest.skip("no token labels (classification or contrastive loss)")
    for pad in (getattr(model.config, "pad_token_id", None), -100):
        if pad is None:
            continue  # no padding id (the SpecVQGAN sampler): -100 only
        with torch.no_grad():
            loss = model(**{**inputs, "labels": torch.full_like(labels, pad)}).loss
        assert torch.isfinite(loss) and loss == 0, f"labels all {pad}: loss {loss}"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_truncated_weights_name_the_file(model_type, built, tmp_path):
    from transformers import AutoModel

    model, _ = built(model_type)
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"corrupt or truncated safetensors weights: .*model.safetensors"):
        AutoModel.from_pretrained(tmp_path)


# ----------------------------------------------------------------------------- configurations
def _own_int_fields(config):
    annotations = type(config).__annotations__
    return [f.name for f in dataclasses.fields(config) if f.type is int and f.name in annotations]


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_configuration_errors_are_value_errors(model_type):
    config = tiny_config(model_type)
    fields = _own_int_fields(config)
    assert fields
    with pytest.raises(ValueError, match=fields[0]):
        tiny_config(model_type, **{fields[0]: "two"})
    with pytest.raises(ValueError, match=fields[0]):
        setattr(config, fields[0], "two")
    zero_allowed = getattr(type(config), "zero_allowed_fields", ())
    sizes = [name for name in fields if _POSITIVE.search(name) and name not in zero_allowed]
    assert sizes, "the config declares no size field"
    with pytest.raises(ValueError, match="positive|divisible|must"):
        tiny_config(model_type, **{sizes[0]: 0})


# ----------------------------------------------------------------------------- processors
def _tone(samples: int, rate: int, seed: int = 0) -> np.ndarray:
    """A noisy tone on the 16-bit PCM grid: means of two channels are exact in float32 and float64 alike."""
    t = np.arange(samples) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, samples)
    return (np.round((0.3 * np.sin(2 * np.pi * 440 * t) + noise) * 32768) / 32768).astype(np.float32)


def _audio_case(model_type):
    case = PROCESSOR_CASES[model_type]
    if case.audio is None:
        pytest.skip("this processor takes no waveform")
    return case


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_non_finite_waveforms_are_refused(model_type, tmp_path):
    case = _audio_case(model_type)
    processor = case.build(tmp_path)
    wave = _tone(case.audio_samples, case.audio_rate)
    processor(**case.audio([wave], case.audio_rate))  # valid
    for bad in (float("nan"), float("inf"), float("-inf")):
        poisoned = wave.copy()
        poisoned[100] = bad
        with pytest.raises(ValueError, match="non-finite"):
            processor(**case.audio([poisoned], case.audio_rate))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_one_channel_layout_and_down_mix(model_type, tmp_path):
    """(channels, samples) is averaged over channels; (samples, channels) is refused, in a list or bare."""
    case = _audio_case(model_type)
    processor = case.build(tmp_path)
    left, right = _tone(case.audio_samples, case.audio_rate, 1), _tone(case.audio_samples, case.audio_rate, 2)
    stereo = np.stack([left, right])
    mono = (left.astype(np.float64) + right) / 2  # the channel mean (exact: the samples are on the PCM grid)
    from_stereo = processor(**case.audio([stereo], case.audio_rate))[case.output_key]
    from_mono = processor(**case.audio([mono], case.audio_rate))[case.output_key]
    assert torch.equal(from_stereo, from_mono)
    from_left = processor(**case.audio([left], case.audio_rate))[case.output_key]
    assert not torch.equal(from_stereo, from_left)  # both channels count
    for given in ([stereo.T], stereo.T):
        with pytest.raises(ValueError, match=r"\(samples, channels\)"):
            processor(**case.audio(given, case.audio_rate))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_waveforms_need_their_sampling_rate(model_type, tmp_path):
    case = _audio_case(model_type)
    if not case.resamples:
        pytest.skip("this processor does not resample (it refuses any rate but its own)")
    processor = case.build(tmp_path)
    wave = _tone(case.audio_samples, case.audio_rate)
    with pytest.raises(ValueError, match="sampling_rate"):
        processor(**case.audio([wave], None))
    with pytest.raises(ValueError, match="sampling_rate"):
        processor(**case.audio([wave], 0))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_integer_pcm_is_refused(model_type, tmp_path):
    case = _audio_case(model_type)
    processor = case.build(tmp_path)
    pcm = (_tone(case.audio_samples, case.audio_rate) * 32767).astype(np.int16)
    with pytest.raises(ValueError, match="float samples"):
        processor(**case.audio([pcm], case.audio_rate))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_text_that_is_not_a_string_is_refused(model_type, tmp_path):
    case = PROCESSOR_CASES[model_type]
    if not case.text:
        pytest.skip("this processor takes no text")
    processor = case.build(tmp_path)
    for argument in case.text:
        processor(**{argument: ["a man is cooking", "the dog runs"]})  # valid
        for bad in (None, ["a man is cooking", None], ["the dog runs", 3], [b"bytes"]):
            with pytest.raises(ValueError, match=re.escape(argument)):
                processor(**{argument: bad})


def _poison_arrays(value, bad):
    """Copies of `value` (nested lists / dicts of arrays) with `bad` written into one array, once per array."""
    if isinstance(value, np.ndarray):
        poisoned = value.copy()
        poisoned.flat[-1] = bad
        yield poisoned
    elif isinstance(value, dict):
        for key in value:
            for inner in _poison_arrays(value[key], bad):
                yield {**value, key: inner}
    elif isinstance(value, list):
        for index in range(len(value)):
            for inner in _poison_arrays(value[index], bad):
                yield value[:index] + [inner] + value[index + 1 :]


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_non_finite_feature_files_content_is_refused(model_type, tmp_path):
    case = PROCESSOR_CASES[model_type]
    if case.features is None:
        pytest.skip("this processor takes no pre-extracted features")
    processor = case.build(tmp_path)
    valid = case.features()
    processor(**valid)
    for key, value in valid.items():
        for bad in (float("nan"), float("inf"), float("-inf")):
            for poisoned in _poison_arrays(value, bad):
                with pytest.raises(ValueError, match="NaN|inf|non-finite"):
                    processor(**{**valid, key: poisoned})


# ----------------------------------------------------------------------------- expert extractors: frames and files
def _media_case(model_type):
    case = PROCESSOR_CASES[model_type]
    if case.media is None:
        pytest.skip("not an expert feature extractor (reads no media file)")
    return case


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_frames_of_another_dtype_or_layout_are_refused(model_type, tmp_path):
    case = _media_case(model_type)
    if case.media != "video":
        pytest.skip("takes audio, not frames")
    processor = case.build(tmp_path)
    frames = np.random.default_rng(0).integers(0, 256, (16, 3, 36, 48), dtype=np.uint8)
    processor(frames)  # valid
    for bad, message in (
        (frames.astype(np.float32), "uint8"),  # already scaled or normalised frames
        (frames[:, :2], "3 RGB channels"),
        (frames[0], r"\(T, 3, H, W\)"),
        (frames[:0], "no frame"),
    ):
        with pytest.raises(ValueError, match=message):
            processor(bad)


@pytest.fixture(scope="module")
def media_files(tmp_path_factory):
    from .test_extract_features import _write_audio_only, _write_video_only
    from .test_processing_sparsesync import _write_counter_clip

    folder = tmp_path_factory.mktemp("media")
    _write_counter_clip(folder / "short.mp4", 25, 0.32)  # 8 frames, 0.32 s: shorter than a stack and an example
    (folder / "corrupt.mp4").write_bytes(b"this is not a video" * 64)
    _write_video_only(folder / "silent.mp4")
    _write_audio_only(folder / "speech.m4a")
    return folder


def _read_like_extract_features(processor, case, path):
    """What scripts/extract_features.py does with one file before any model runs."""
    from videozoo.processors.video_io import load_audio

    if case.media == "audio":
        waveform, rate = load_audio(path)
        return processor(waveform.numpy(), rate, source=str(path))
    video = processor.load_video(path)
    if hasattr(processor, "stack_indices"):  # I3D (its last stack may be cycled)
        return processor.stack_indices(len(video.frames), str(path))
    if processor.stack_size is not None:
        return processor.slices(len(video.frames), str(path))
    return video


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_media_files_that_cannot_give_features_are_named(model_type, media_files, tmp_path):
    """A corrupt file, a file without the stream the extractor reads, and (for the extractors that need a stack
    of frames or an example of audio) a file shorter than one: a ValueError naming the file and the problem."""
    case = _media_case(model_type)
    processor = case.build(tmp_path)
    cases = [("corrupt.mp4", "unreadable media file|corrupt")]
    if case.media == "audio":
        cases += [("silent.mp4", "no audio stream"), ("short.mp4", "fewer than one")]
    else:
        cases.append(("speech.m4a", "no video stream"))
        if processor.stack_size is not None:
            cases.append(("short.mp4", f"stack of {processor.stack_size}|fewer than|shorter"))
    for name, problem in cases:
        with pytest.raises(ValueError, match=problem) as caught:
            _read_like_extract_features(processor, case, media_files / name)
        assert name in str(caught.value), f"the error for {name} does not name it: {caught.value}"


# ----------------------------------------------------------------------------- the shared checks themselves
def test_shared_checks():
    check_finite("x", np.ones(3))
    check_finite("ids", torch.arange(3))
    with pytest.raises(ValueError, match=r"x contains 1 non-finite value\(s\) \(-inf\)"):
        check_finite("x", torch.tensor([0.0, -float("inf")]))
    with pytest.raises(ValueError, match="feats is float64"):
        check_float_features("feats", torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="feats must hold float"):
        check_float_features("feats", torch.zeros(2, dtype=torch.long))
    check_float_features("feats", torch.zeros(2, dtype=torch.bfloat16))
    check_ids("ids", torch.tensor([0, 4, -100]), 5, ignore_index=-100)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        check_ids("ids", torch.tensor([0, 5]), 5)
    with pytest.raises(ValueError, match="integer ids"):
        check_ids("ids", torch.tensor([True]), 5)
    assert require_sampling_rate("sr", np.int64(8000)) == 8000
    for bad in (None, 0, -1, 16000.0, True, "16000"):
        with pytest.raises(ValueError, match="sr"):
            require_sampling_rate("sr", bad)
    assert require_text("t", "a") == ["a"] and require_text("t", ("a", "")) == ["a", ""]
    for bad in (None, [], 3, b"a", ["a", None], [["a"]]):
        with pytest.raises(ValueError, match="t"):
            require_text("t", bad)
    with pytest.raises(ValueError, match=r"t\[0\] is an empty string"):
        require_text("t", [" "], allow_empty=False)
    wave = as_mono_waveform("w", np.stack([np.ones(20), np.zeros(20)]).astype(np.float32))
    assert wave.dtype == torch.float64 and torch.equal(wave, torch.full((20,), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"pass waveform.T"):
        as_mono_waveform("w", np.zeros((20, 2), np.float32))
    with pytest.raises(ValueError, match="more than 8 channels"):
        as_mono_waveform("w", np.zeros((20, 30), np.float32))
    with pytest.raises(ValueError, match="ragged"):
        as_mono_waveform("w", np.array([np.zeros(3), np.zeros(4)], dtype=object))
    assert len(waveform_list("a", np.zeros((3, 100)))) == 3 and len(waveform_list("a", np.zeros(100))) == 1
    with pytest.raises(ValueError, match="empty"):
        waveform_list("a", [])


# ----------------------------------------------------------------------------- files
def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_corrupt_files_name_the_file_and_the_problem(tmp_path):
    import h5py
    from safetensors.torch import save_file

    from videozoo.data.files import (
        CorruptFileError,
        open_hdf5,
        read_hdf5_dataset,
        read_json,
        read_npy,
        read_npz,
        read_safetensors,
    )
    from videozoo.data.pickles import load_data_pickle

    json_path = tmp_path / "annotations.json"
    json_path.write_text('{"v1": {"duration": 3.0, "timestamps": [[0, 1]], "sentences": ["a dog"]}')
    with pytest.raises(CorruptFileError, match=r"annotations.json: annotation file is not valid JSON .*line 1"):
        read_json(json_path, "annotation file")
    json_path.write_text("")
    with pytest.raises(ValueError, match="annotations.json: JSON file is empty"):
        read_json(json_path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_json(tmp_path / "missing.json")

    npy = tmp_path / "v1_rgb.npy"
    np.save(npy, np.ones((5, 4), np.float32))
    with pytest.raises(CorruptFileError, match=r"v1_rgb.npy: feature file is not a readable .npy array"):
        read_npy(_truncated(npy))
    np.save(npy, np.array([{"a": 1}], dtype=object))
    with pytest.raises(CorruptFileError, match="pickled objects"):
        read_npy(npy)
    npz = tmp_path / "v1.npz"
    np.savez(npz, a=np.ones(3), b=np.zeros(3))
    with pytest.raises(CorruptFileError, match=r"v1.npz: .* no array 'c'"):
        read_npz(npz, "c")
    assert read_npz(npz, "b").sum() == 0

    h5 = tmp_path / "features.h5"
    h5.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(CorruptFileError, match="features.h5: HDF5 feature file is not a readable HDF5 file"):
        open_hdf5(h5)
    with h5py.File(h5, "w") as handle:
        handle["x"] = np.ones(3)
    with open_hdf5(h5) as handle, pytest.raises(CorruptFileError, match=r"features.h5:y: no such dataset"):
        read_hdf5_dataset(handle, "y")

    weights = tmp_path / "model.safetensors"
    save_file({"w": torch.ones(64, 64)}, str(weights))
    with pytest.raises(CorruptFileError, match="model.safetensors: weights file is not a readable safetensors file"):
        read_safetensors(_truncated(weights))

    pickled = tmp_path / "clips.pkl"
    import pickle

    pickled.write_bytes(pickle.dumps([{"audio": np.ones((4, 3))}] * 3))
    with pytest.raises(ValueError, match="clips.pkl is not a readable data pickle"):
        load_data_pickle(_truncated(pickled))


def test_feature_files_in_another_layout_are_refused_not_reshaped(tmp_path):
    import h5py

    from videozoo.data.dense_captioning import NpyFeatures
    from videozoo.data.mmt import read_mmt_h5

    for name, shape in (("v1.npy", (7, 12)), ("v1_rgb.npy", (20, 3)), ("v1_flow.npy", (20, 3))):
        np.save(tmp_path / name, np.ones(shape, np.float32))  # video stored transposed: (width, time)
    features = NpyFeatures(tmp_path, tmp_path, audio_feature_size=12, video_feature_size=20)
    with pytest.raises(
        ValueError, match=r"v1_rgb.npy: expected features of shape \(time, 20\), got \(20, 3\).*transposed"
    ):
        features.load("v1")
    np.save(tmp_path / "v1.npy", np.full((7, 12), np.inf, np.float32))
    np.save(tmp_path / "v1_rgb.npy", np.ones((3, 20), np.float32))
    np.save(tmp_path / "v1_flow.npy", np.ones((3, 20), np.float32))
    with pytest.raises(ValueError, match=r"v1.npy: 84 non-finite"):
        features.load("v1")

    path = tmp_path / "video7.h5"
    with h5py.File(path, "w") as handle:
        handle["raw_captions.0"] = np.array([b"a", b"dog"])
        handle["features.s3d"] = np.ones((10, 4), np.float32)  # 40 values: reshape(-1, 20) would give 2 rows
    with pytest.raises(ValueError, match=r"video7.h5:features.s3d: expected features of shape \(time, 20\)"):
        read_mmt_h5(path, {"s3d": 20})
    with h5py.File(path, "w") as handle:
        handle["raw_captions.0"] = np.array([b"a", b"dog"])
        handle["features.s3d"] = np.full((2, 20), np.nan, np.float32)  # the reference's "missing expert" mark
    row = read_mmt_h5(path, {"s3d": 20})
    assert row["s3d__features"].shape == (0, 20)  # missing: no rows, never NaN-filled rows
