"""Waveform effects that the reference pipelines ran through sox (`torchaudio.sox_effects`, which torchaudio 2.11 no
longer has), written as plain torch functions.

- `sox_reverb`: the `reverb` effect of SoX 14.4 (a Freeverb design: 8 parallel damped feedback combs, then 4
  all-passes, per output channel; a mono input gives two channels whose delay lines differ by the stereo spread).
  The network is linear and time-invariant, so it is applied as one convolution with its impulse response, which is
  computed exactly on an FFT grid from the filters' transfer functions (long enough that the response has decayed
  by more than 200 dB before it could wrap around). Like sox, the output has the input's length (no tail).
  `wet_only=True` with the channels averaged is the reference's `reverb -w` + `mean(dim=0)`; it matches the sox
  binary to float32 rounding (tested where `sox` is installed).
- `pitch_shift`: a stand-in for sox's `pitch <cents>` + `rate <sr>` (WSOLA time stretch then resampling):
  `torchaudio.functional.pitch_shift` (phase vocoder then resampling). Same duration and the same shift, not the
  same samples.
"""

import functools
import math

import torch

_COMB_LENGTHS = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)  # delays at 44.1 kHz
_ALLPASS_LENGTHS = (225, 341, 441, 556)
_STEREO_SPREAD = 12


def _delay_lengths(rate: float, scale: float, offset: float) -> tuple[list[int], list[int]]:
    """sox's comb and all-pass delays for one channel (`offset` 0 or the stereo depth, its sign flipping per
    filter)."""
    r = rate / 44100.0
    combs, allpasses = [], []
    for length in _COMB_LENGTHS:
        combs.append(int(scale * r * (length + _STEREO_SPREAD * offset) + 0.5))
        offset = -offset
    for length in _ALLPASS_LENGTHS:
        allpasses.append(int(r * (length + _STEREO_SPREAD * offset) + 0.5))
        offset = -offset
    return combs, allpasses


def _polynomial_response(coefficients: dict[int, float], size: int) -> torch.Tensor:
    """The rfft of a sparse polynomial in z^-1 ({power: coefficient}) on a `size`-point grid."""
    dense = torch.zeros(size, dtype=torch.float64)
    for power, value in coefficients.items():
        dense[power] += value
    return torch.fft.rfft(dense)


@functools.lru_cache(maxsize=16)
def sox_reverb_impulse_response(
    rate: int,
    reverberance: float = 50.0,
    hf_damping: float = 50.0,
    room_scale: float = 100.0,
    stereo_depth: float = 100.0,
    pre_delay_ms: float = 0.0,
    wet_gain_db: float = 0.0,
) -> torch.Tensor:
    """`(channels, samples)` float64 wet impulse responses of sox's `reverb` for a mono input (2 channels when
    `stereo_depth > 0`), sox's parameters and defaults."""
    for name, value, low, high in (
        ("reverberance", reverberance, 0, 100),
        ("hf_damping", hf_damping, 0, 100),
        ("room_scale", room_scale, 0, 100),
        ("stereo_depth", stereo_depth, 0, 100),
        ("pre_delay_ms", pre_delay_ms, 0, 500),
        ("wet_gain_db", wet_gain_db, -10, 10),
    ):
        if not low <= value <= high:
            raise ValueError(f"reverb {name} must be in [{low}, {high}], got {value}")
    scale = room_scale / 100 * 0.9 + 0.1
    a = -1 / math.log(1 - 0.3)  # feedback at reverberance 0
    b = 100 / (math.log(1 - 0.98) * a + 1)  # ... and at 100
    feedback = 1 - math.exp((reverberance - b) / (a * b))
    damping = hf_damping / 100 * 0.3 + 0.2
    gain = 10 ** (wet_gain_db / 20) * 0.015
    delay = int(pre_delay_ms / 1000 * rate + 0.5)
    # Slowest decay: the longest comb loses at least (1 - feedback) per round trip; 200 dB is ~ 23 nepers.
    longest = max(_delay_lengths(rate, scale, stereo_depth / 100)[0] + _delay_lengths(rate, scale, 0.0)[0])
    trips = 23.0 / -math.log(feedback) if feedback > 0 else 1.0
    size = 1 << math.ceil(math.log2(delay + longest * (trips + 2) + 1))
    depth = stereo_depth / 100
    responses = []
    for channel in range(math.ceil(depth) + 1):
        combs, allpasses = _delay_lengths(rate, scale, channel * depth)
        # comb: y = z^-D (1 - d z^-1) / (1 - d z^-1 - g (1 - d) z^-D) x; all-pass: (-1 + 1.5 z^-D) / (1 - 0.5 z^-D)
        comb_sum = sum(
            _polynomial_response({length: 1.0, length + 1: -damping}, size)
            / _polynomial_response({0: 1.0, 1: -damping, length: -feedback * (1 - damping)}, size)
            for length in combs
        )
        response = comb_sum * gain * _polynomial_response({delay: 1.0}, size)
        for length in allpasses:
            response = (
                response
                * _polynomial_response({0: -1.0, length: 1.5}, size)
                / _polynomial_response({0: 1.0, length: -0.5}, size)
            )
        responses.append(torch.fft.irfft(response, n=size))
    return torch.stack(responses)


def sox_reverb(
    wave: torch.Tensor, rate: int, wet_only: bool = True, mean_channels: bool = True, **parameters
) -> torch.Tensor:
    """sox `reverb` of a mono waveform `(samples,)` -> `(samples,)` (channels averaged) or `(channels, samples)`.
    Samples are clipped to [-1, 1] going in and coming out, as sox's conversions to its integer samples do."""
    if wave.dim() != 1:
        raise ValueError(f"sox_reverb takes a mono waveform (samples,), got shape {tuple(wave.shape)}")
    if not torch.isfinite(wave).all():
        raise ValueError("the waveform contains NaN or inf")
    dry = wave.to(torch.float64).clamp(-1.0, 1.0)
    response = sox_reverb_impulse_response(int(rate), **parameters)[:, : wave.numel()]
    size = 1 << (2 * wave.numel() - 1).bit_length()  # a linear (not circular) convolution, cut to the input length
    wet = torch.fft.irfft(torch.fft.rfft(dry, n=size) * torch.fft.rfft(response, n=size), n=size)[:, : wave.numel()]
    out = (wet if wet_only else wet + dry).clamp(-1.0, 1.0).to(wave.dtype)
    return out.mean(dim=0) if mean_channels else out


def pitch_shift(wave: torch.Tensor, rate: int, cents: float) -> torch.Tensor:
    """Shift the pitch of `(..., samples)` by `cents`, keeping the duration (see the module docstring)."""
    import torchaudio

    shifted = torchaudio.functional.pitch_shift(wave, int(rate), n_steps=int(round(cents)), bins_per_octave=1200)
    return shifted[..., : wave.shape[-1]]


__all__ = ["pitch_shift", "sox_reverb", "sox_reverb_impulse_response"]
