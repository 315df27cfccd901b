"""Waveforms -> VGGish's log-mel examples, as v-iashin/video_features computes them (`vggish_input.py`,
`mel_features.py` of the VGGish release), in float64 numpy like the reference, cast to float32 at the end.

Steps: float audio `(channels, samples)` quantised to int16 per channel as FFmpeg's WAV export does (round half
to even, clipped), / 32768; multi-channel audio averaged over channels *before* resampling; resampling to 16 kHz with
resampy's `kaiser_best` filter (re-derived here: a Kaiser-windowed sinc with 50 zero crossings, 2^13 table entries
per crossing, roll-off 0.917347371260876, beta 12.984585247040012, linear interpolation in the table; equal to the
published table to the last bit), output length int(N * 16000 / sr), skipped at 16 kHz; STFT frames of 400
samples, hop 160, no centring or padding, periodic Hann window, rFFT of 512, magnitude; 64 HTK-mel triangles
between 125 and 7500 Hz (DC row zeroed, no area normalisation); log(mel + 0.01); non-overlapping 96-frame
examples (0.96 s), the incomplete tail dropped.
"""

import math

import numpy as np
import torch
from transformers import BatchFeature, FeatureExtractionMixin

from .validation import as_mono_waveform, check_finite, require_sampling_rate

# resampy's kaiser_best filter, re-derived (see the module docstring)
KAISER_BEST = {"num_zeros": 50, "precision": 13, "rolloff": 0.9173473712608761, "beta": 12.984585247040012}


class AudioTooShortError(ValueError):
    """The audio is shorter than one VGGish example."""


def kaiser_best_window() -> tuple[np.ndarray, int]:
    """Right wing of the interpolation filter and the table entries per zero crossing."""
    num_table = 2 ** KAISER_BEST["precision"]
    count = num_table * KAISER_BEST["num_zeros"]
    rolloff = KAISER_BEST["rolloff"]
    sinc = rolloff * np.sinc(rolloff * np.linspace(0, KAISER_BEST["num_zeros"], num=count + 1, endpoint=True))
    taper = np.kaiser(2 * count + 1, KAISER_BEST["beta"])[count:]
    return taper * sinc, num_table


def resample_kaiser_best(signal: np.ndarray, rate_in: int, rate_out: int, chunk: int = 4096) -> np.ndarray:
    """Band-limited resampling of a 1-D float64 signal with resampy's `kaiser_best` interpolation (vectorised)."""
    if rate_in == rate_out:
        return signal.copy()
    ratio = float(rate_out) / rate_in
    length = int(signal.shape[0] * float(rate_out) / float(rate_in))
    if length < 1:
        raise AudioTooShortError(f"{signal.shape[0]} samples are too few to resample from {rate_in} to {rate_out} Hz")
    window, num_table = kaiser_best_window()
    if ratio < 1:
        window = ratio * window
    delta = np.diff(window, append=window[-1])
    scale = min(1.0, ratio)
    step = int(scale * num_table)
    times = np.arange(length) * (1.0 / ratio)
    taps = (window.shape[0] + step - 1) // step + 1
    output = np.zeros(length, dtype=np.float64)
    n_in = signal.shape[0]
    for begin in range(0, length, chunk):
        t = times[begin : begin + chunk]
        n = t.astype(np.int64)
        for wing in ("left", "right"):
            frac = scale * (t - n)
            if wing == "right":
                frac = scale - frac
            index = frac * num_table
            offset = index.astype(np.int64)
            eta = index - offset
            limit = (window.shape[0] - offset) // step
            limit = np.minimum(limit, n + 1 if wing == "left" else n_in - n - 1)
            i = np.arange(taps)[None, :]
            valid = i < limit[:, None]
            position = np.where(valid, offset[:, None] + i * step, 0)
            weight = window[position] + eta[:, None] * delta[position]
            source = n[:, None] - i if wing == "left" else n[:, None] + i + 1
            values = signal[np.clip(source, 0, n_in - 1)]
            output[begin : begin + chunk] += np.where(valid, weight * values, 0.0).sum(axis=1)
    return output


def hertz_to_mel(frequencies: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log(1.0 + np.asarray(frequencies) / 700.0)


def mel_matrix(num_mel_bins: int, num_bins: int, sampling_rate: int, lower_hz: float, upper_hz: float) -> np.ndarray:
    """`(num_bins, num_mel_bins)` triangles in the mel domain on `linspace(0, sr / 2, num_bins)`, DC row zeroed."""
    bins_mel = hertz_to_mel(np.linspace(0.0, sampling_rate / 2.0, num_bins))
    edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


class VGGishProcessor(FeatureExtractionMixin):
    r"""
    A waveform (float in [-1, 1], `(N,)` or `(channels, N)`) and its sampling rate (required) ->
    `input_features` `(examples, 1, 96, 64)` float32.

    Args:
        sampling_rate (`int`, defaults to 16000): the network's rate (inputs are resampled to it).
        window_length_sec (0.025), hop_length_sec (0.010), num_mel_bins (64), mel_min_hz (125.0), mel_max_hz
            (7500.0), log_offset (0.01), example_window_sec / example_hop_sec (0.96): VGGish's constants.
        quantize_to_int16 (`bool`, defaults to True): float input is quantised to int16 first (the reference
            reads a 16-bit WAV exported by FFmpeg from the video's audio).
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        window_length_sec: float = 0.025,
        hop_length_sec: float = 0.010,
        num_mel_bins: int = 64,
        mel_min_hz: float = 125.0,
        mel_max_hz: float = 7500.0,
        log_offset: float = 0.01,
        example_window_sec: float = 0.96,
        example_hop_sec: float = 0.96,
        quantize_to_int16: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sampling_rate = int(sampling_rate)
        self.window_length_sec = float(window_length_sec)
        self.hop_length_sec = float(hop_length_sec)
        self.num_mel_bins = int(num_mel_bins)
        self.mel_min_hz = float(mel_min_hz)
        self.mel_max_hz = float(mel_max_hz)
        self.log_offset = float(log_offset)
        self.example_window_sec = float(example_window_sec)
        self.example_hop_sec = float(example_hop_sec)
        self.quantize_to_int16 = bool(quantize_to_int16)

    def mono_waveform(self, waveform, sampling_rate: int, source: str = "waveform") -> np.ndarray:
        """float64 mono at the network's rate (int16 quantisation per channel, channel mean, kaiser_best
        resampling). The layout is the project's (docs/bad_input.md): `(samples,)` or `(channels, samples)`, float
        samples in [-1, 1] (int16 PCM is refused: give `pcm / 32768`, which quantises back to the same PCM)."""
        sampling_rate = require_sampling_rate("sampling_rate", sampling_rate, target=self.sampling_rate)
        array = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
        if array.size == 0:
            raise ValueError(f"{source}: the waveform is empty")
        if np.issubdtype(array.dtype, np.floating):
            check_finite(source, array)  # before quantising, which would clip inf to a valid sample
            if self.quantize_to_int16:  # each channel, as FFmpeg's 16-bit WAV export does, before the mean
                array = np.clip(np.round(array.astype(np.float64) * 32768.0), -32768, 32767) / 32768.0
        data = as_mono_waveform(source, array, dtype=torch.float64).numpy()
        return resample_kaiser_best(data, sampling_rate, self.sampling_rate)

    def log_mel(self, mono: np.ndarray) -> np.ndarray:
        """`(frames, num_mel_bins)` float64 log-mel spectrogram of a mono waveform at the network's rate."""
        window = int(round(self.sampling_rate * self.window_length_sec))
        hop = int(round(self.sampling_rate * self.hop_length_sec))
        fft_length = 2 ** int(math.ceil(math.log2(window)))
        count = 1 + (mono.shape[0] - window) // hop
        if count < 1:
            return np.zeros((0, self.num_mel_bins))
        frames = np.lib.stride_tricks.as_strided(
            mono, shape=(count, window), strides=(mono.strides[0] * hop, mono.strides[0])
        )
        hann = 0.5 - 0.5 * np.cos(2 * np.pi / window * np.arange(window))  # periodic
        magnitude = np.abs(np.fft.rfft(frames * hann, fft_length))
        weights = mel_matrix(
            self.num_mel_bins, magnitude.shape[1], self.sampling_rate, self.mel_min_hz, self.mel_max_hz
        )
        return np.log(magnitude @ weights + self.log_offset)

    def examples(self, log_mel: np.ndarray, source: str = "waveform") -> np.ndarray:
        rate = 1.0 / self.hop_length_sec
        window = int(round(self.example_window_sec * rate))
        hop = int(round(self.example_hop_sec * rate))
        count = 1 + (log_mel.shape[0] - window) // hop if log_mel.shape[0] >= window else 0
        if count < 1:
            raise AudioTooShortError(
                f"{source}: the audio gives {log_mel.shape[0]} log-mel frames, fewer than one "
                f"{self.example_window_sec} s example ({window} frames)"
            )
        return np.stack([log_mel[i * hop : i * hop + window] for i in range(count)])[:, None]

    def __call__(
        self,
        waveform,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        source: str = "waveform",
        **kwargs,
    ) -> BatchFeature:
        mono = self.mono_waveform(waveform, sampling_rate, source)
        examples = self.examples(self.log_mel(mono), source).astype(np.float32)
        return BatchFeature({"input_features": examples}, tensor_type=return_tensors)


__all__ = ["AudioTooShortError", "VGGishProcessor", "kaiser_best_window", "mel_matrix", "resample_kaiser_best"]
