"""Checks of user input shared by every processor, feature extractor and model entry point.

Each check raises a `ValueError` that names the argument and says what is wrong, before anything is computed.
They are meant for API boundaries (processor `__call__`, the first lines of a model's `forward` /
`get_*_features`), never for inner layers: a finiteness check reads the whole tensor (a host sync on GPU).

Conventions (docs/bad_input.md):
- ±inf is refused wherever NaN is: both are "not finite".
- Waveforms are `(samples,)` or `(channels, samples)` with at most `MAX_CHANNELS` channels, float samples in
  [-1, 1]; channels are averaged (the down-mix of every processor). A 2-D array whose first axis is longer than
  `MAX_CHANNELS` is refused: `(samples, channels)` (soundfile's layout) must be transposed by the caller, never
  read as many channels of a few samples.
- Text is a `str` or a sequence of `str`; `None` or any other object is refused (never tokenised as "None").
- Model inputs: features are floating tensors other than float64 (the models compute in float32 / half), ids are
  integer tensors inside the vocabulary.
"""

from collections.abc import Sequence

import numpy as np
import torch

MAX_CHANNELS = 8  # 7.1 surround; more "channels" than this is a transposed (samples, channels) array


def _describe_non_finite(values) -> str:
    array = values.detach() if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    kinds = []
    if torch.isnan(array).any():
        kinds.append("NaN")
    if torch.isposinf(array).any():
        kinds.append("+inf")
    if torch.isneginf(array).any():
        kinds.append("-inf")
    count = int((~torch.isfinite(array)).sum())
    return f"{count} non-finite value(s) ({', '.join(kinds)}) out of {array.numel()}"


def check_finite(name: str, values) -> None:
    """Refuse NaN, +inf and -inf in a float tensor or array (integer inputs are always finite)."""
    if isinstance(values, torch.Tensor):
        if values.is_floating_point() and not bool(torch.isfinite(values).all()):
            raise ValueError(f"{name} contains {_describe_non_finite(values)}")
        return
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError(f"{name} contains {_describe_non_finite(array)}")


def check_float_features(
    name: str, features, ndim: int | None = None, check_values: bool = True, model_dtype: torch.dtype | None = None
) -> None:
    """A model's feature input: a floating tensor (float32, float16 or bfloat16) of rank `ndim`, all finite.

    float64 is refused unless the model itself is float64 (`model_dtype`, e.g. after `model.double()` to measure a
    float64 reference): the weights are float32, convert with `.float()`. Integer tensors are refused (features are
    never integers; an integer tensor is usually ids or uint8 frames given to the wrong argument)."""
    if not isinstance(features, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor, got {type(features).__name__}")
    if not features.is_floating_point():
        raise ValueError(
            f"{name} must hold float features, got {features.dtype} (ids or raw frames in the wrong place?)"
        )
    if features.dtype == torch.float64 and model_dtype != torch.float64:
        raise ValueError(f"{name} is float64; the model computes in float32 or lower: pass {name}.float()")
    if ndim is not None and features.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(features.shape)}")
    if check_values:
        check_finite(name, features)


def check_ids(name: str, ids, vocab_size: int, ignore_index: int | None = None) -> None:
    """Token or class ids: an integer tensor with every value in [0, vocab_size) (`ignore_index` also allowed)."""
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{name} must be a torch integer tensor, got {type(ids).__name__}")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer ids (torch.long), got {ids.dtype}")
    if ids.numel() == 0:
        return
    valid = (ids >= 0) & (ids < vocab_size)
    if ignore_index is not None:
        valid |= ids == ignore_index
    if not bool(valid.all()):
        bad = ids[~valid]
        allowed = f"[0, {vocab_size})" + ("" if ignore_index is None else f" or {ignore_index}")
        raise ValueError(
            f"{name} must lie in {allowed}; got {bad.numel()} id(s) outside, e.g. {int(bad.flatten()[0])} "
            "(a tokenizer that does not match the model's vocabulary?)"
        )


def require_sampling_rate(name: str, sampling_rate, target: int | None = None) -> int:
    """The sample rate that comes with raw audio: required (without it resampling would be silently wrong), a
    positive integer."""
    if sampling_rate is None:
        needed = f" (the audio is resampled to {target} Hz)" if target else ""
        raise ValueError(f"{name} is required with raw waveforms{needed}: pass the rate of the given samples")
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
        raise ValueError(f"{name} must be a positive integer (Hz), got {sampling_rate!r}")
    return int(sampling_rate)


def as_mono_waveform(name: str, waveform, dtype=torch.float64) -> torch.Tensor:
    """One clip -> a finite 1-D `dtype` tensor: `(samples,)` as is, `(channels, samples)` averaged over channels
    in `dtype` (float64 for AVLnet and AVATAR, float32 for SparseSync: each as its reference computes it).

    Refused: other ranks, a first axis longer than `MAX_CHANNELS` (a `(samples, channels)` array: transpose it),
    integer samples (PCM must be scaled to [-1, 1] floats first), NaN or ±inf."""
    if waveform is None:
        raise ValueError(f"{name} is None; give a waveform array")
    if isinstance(waveform, torch.Tensor):
        wave = waveform.detach().cpu()
    else:
        array = np.asarray(waveform)
        if array.dtype == object:
            raise ValueError(f"{name} must be a numeric array, got ragged or non-numeric data")
        wave = torch.from_numpy(np.ascontiguousarray(array))
    if not wave.is_floating_point():
        raise ValueError(
            f"{name} must hold float samples in [-1, 1], got {wave.dtype} (scale integer PCM, e.g. int16 / 32768)"
        )
    if wave.dim() == 2:
        channels, samples = wave.shape
        if channels > MAX_CHANNELS:
            hint = (
                "; it looks like (samples, channels): pass waveform.T"
                if samples <= MAX_CHANNELS
                else f" (more than {MAX_CHANNELS} channels)"
            )
            raise ValueError(
                f"{name} has shape {tuple(wave.shape)}; waveforms are (samples,) or (channels, samples) with at most "
                f"{MAX_CHANNELS} channels{hint}"
            )
        wave = wave.to(dtype).mean(dim=0)  # the down-mix, in the processor's working precision
    elif wave.dim() != 1:
        raise ValueError(f"{name} must be (samples,) or (channels, samples), got shape {tuple(wave.shape)}")
    check_finite(name, wave)
    return wave.to(dtype)


def waveform_list(name: str, raw_audio) -> list:
    """One waveform or a batch of them -> a list of clips.

    A 1-D array is one clip; a 2-D array is a batch of mono clips `(clips, samples)` and a 3-D array a batch of
    `(clips, channels, samples)` (give a multi-channel clip inside a list). A 2-D array with more than
    `MAX_CHANNELS` rows and at most `MAX_CHANNELS` columns is refused: it is one `(samples, channels)` clip, which
    would otherwise become thousands of clips of a few samples."""
    if raw_audio is None:
        raise ValueError(f"{name} is None; give a waveform or a list of waveforms")
    if isinstance(raw_audio, (np.ndarray, torch.Tensor)):
        if raw_audio.ndim == 1:
            return [raw_audio]
        if raw_audio.ndim == 2 and raw_audio.shape[0] > MAX_CHANNELS >= raw_audio.shape[1]:
            raise ValueError(
                f"{name} has shape {tuple(raw_audio.shape)}, the (samples, channels) layout; waveforms are "
                f"(samples,) or (channels, samples): pass [{name}.T] for one multi-channel clip"
            )
        if raw_audio.ndim not in (2, 3):
            raise ValueError(f"{name} must be a waveform or a batch of them, got shape {tuple(raw_audio.shape)}")
        if len(raw_audio) == 0:
            raise ValueError(f"{name} is empty: no clip given")
        return list(raw_audio)
    if isinstance(raw_audio, (str, bytes)) or not isinstance(raw_audio, Sequence):
        raise ValueError(f"{name} must be a waveform array or a list of them, got {type(raw_audio).__name__}")
    if len(raw_audio) == 0:
        raise ValueError(f"{name} is empty: no clip given")
    return list(raw_audio)


def require_text(name: str, value, allow_empty: bool = True) -> list[str]:
    """A string or a sequence of strings -> a list of strings. `None` or any non-string item is refused (never
    converted with `str()`, which would turn a missing caption into the word "None")."""
    if isinstance(value, str):
        items = [value]
    elif value is None or isinstance(value, bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a string or a list of strings, got {type(value).__name__}")
    else:
        items = list(value)
        if not items:
            raise ValueError(f"{name} is an empty list: no text given")
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(f"{name}[{index}] must be a string, got {type(item).__name__} ({item!r:.40})")
        if not allow_empty and not item.strip():
            raise ValueError(f"{name}[{index}] is an empty string")
    return items


__all__ = [
    "MAX_CHANNELS",
    "as_mono_waveform",
    "check_finite",
    "check_float_features",
    "check_ids",
    "require_sampling_rate",
    "require_text",
    "waveform_list",
]
