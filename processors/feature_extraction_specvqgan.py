"""SpecVQGAN's audio front end: the [0, 1]-scaled log-mel spectrogram of the authors'
`feature_extraction/extract_mel_spectrogram.py` (`TRANSFORMS` and `get_spectrogram`), which Stage I, the MelGAN
vocoder and Melception all consume, plus the data sets' centre crop and [-1, 1] mapping for the model input."""

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, SequenceFeatureExtractor

from .validation import as_mono_waveform, require_sampling_rate, waveform_list


def _hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, not HTK): linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    linear = frequencies / (200.0 / 3)
    step = np.log(6.4) / 27.0
    log_part = 15.0 + np.log(np.maximum(frequencies, 1e-10) / 1000.0) / step
    return np.where(frequencies >= 1000.0, log_part, linear)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    step = np.log(6.4) / 27.0
    return np.where(mels >= 15.0, 1000.0 * np.exp(step * (mels - 15.0)), (200.0 / 3) * mels)


def slaney_mel_filterbank(sampling_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """`(n_mels, n_fft // 2 + 1)` triangular filters on the Slaney mel scale with Slaney area normalisation
    (2 / bandwidth), computed in float64 and rounded to float32 as the authors' filterbank is."""
    bins = np.linspace(0.0, sampling_rate / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(edges)
    distances = edges[:, None] - bins[None, :]
    rising = -distances[:-2] / widths[:-1, None]
    falling = distances[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


class SpecVQGANFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Waveforms (any rate, any channel count) -> `input_features` `(batch, 80, frames)`.

    Steps (the authors' `TRANSFORMS`, v-iashin/SpecVQGAN `feature_extraction/extract_mel_spectrogram.py`): down-mix to
    mono (channel mean), resample to 22 050 Hz, zero-pad or truncate to `pad_to_seconds` (10 s = 220 500 samples;
    `None` keeps the length; `pad_mode="tile"` repeats a shorter clip instead, as the authors' VAS preparation did);
    STFT magnitude (power 1) with `n_fft` 1024, periodic Hann window, hop 256, centred with *reflect* padding (librosa
    0.8, which made every released spectrogram; librosa >= 0.10 pads with zeros); 80 Slaney mel bands 125-7600 Hz with
    Slaney area normalisation; `max(mel, 1e-5)` -> 20 log10 -> (dB + 80) / 100 -> clip to [0, 1]; keep `max_frames`
    (860). Then what the data sets do before the model: centre crop to `crop_frames` (848; `None` keeps all) and, with
    `model_range`, map to [-1, 1] by 2x - 1 (the model's input; `False` keeps the [0, 1] scale that the vocoder and
    Melception read).

    The computation runs in float64 (the reference's precision); `input_features` are float32 unless `dtype`
    is given to `__call__`.
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = 22050,
        padding_value: float = 0.0,
        n_fft: int = 1024,
        hop_length: int = 256,
        f_min: float = 125.0,
        f_max: float = 7600.0,
        power: float = 1.0,
        amin: float = 1e-5,
        pad_to_seconds: float | None = 10.0,
        pad_mode: str = "zeros",
        max_frames: int | None = 860,
        crop_frames: int | None = 848,
        model_range: bool = True,
        **kwargs,
    ):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.f_min = f_min
        self.f_max = f_max
        self.power = power
        self.amin = amin
        self.pad_to_seconds = pad_to_seconds
        if pad_mode not in ("zeros", "tile"):
            raise ValueError(f"pad_mode must be 'zeros' or 'tile', got {pad_mode!r}")
        self.pad_mode = pad_mode
        self.max_frames = max_frames
        self.crop_frames = crop_frames
        self.model_range = model_range

    def mel_filters(self) -> torch.Tensor:
        return torch.from_numpy(
            slaney_mel_filterbank(self.sampling_rate, self.n_fft, self.feature_size, self.f_min, self.f_max)
        )

    def _waveform(self, waveform, sampling_rate: int, name: str = "raw_audio") -> torch.Tensor:
        # (channels, samples) -> librosa's mono down-mix, a mean in the samples' precision (float32 unless float64)
        precision = torch.float64 if str(getattr(waveform, "dtype", "")).endswith("float64") else torch.float32
        wave = as_mono_waveform(name, waveform, dtype=precision)
        if sampling_rate != self.sampling_rate:
            import torchaudio.functional as AF

            wave = AF.resample(wave.double(), sampling_rate, self.sampling_rate)
        if self.pad_to_seconds is not None:
            length = round(self.pad_to_seconds * self.sampling_rate)
            wave = pad_or_trim(wave, length, self.pad_mode)
        if wave.numel() <= self.n_fft // 2:
            raise ValueError(f"{name} has {wave.numel()} samples; the centred STFT needs more than {self.n_fft // 2}")
        return wave

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """One mono 22.05 kHz waveform `(samples,)` -> the [0, 1] log-mel `(80, min(frames, max_frames))` in the
        waveform's float precision (the reference's `TRANSFORMS`)."""
        dtype = waveform.dtype if waveform.dtype in (torch.float32, torch.float64) else torch.float64
        wave = waveform.to(dtype)
        window = torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64).to(dtype)
        spectrum = torch.stft(
            wave,
            self.n_fft,
            self.hop_length,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        magnitude = spectrum.abs() ** self.power
        mel = torch.matmul(self.mel_filters().to(dtype), magnitude)
        scaled = (20 * torch.log10(mel.clamp_min(self.amin)) - 20 + 100) / 100
        scaled = scaled.clamp(0.0, 1.0)
        return scaled if self.max_frames is None else scaled[:, : self.max_frames]

    def model_input(self, log_mel: torch.Tensor) -> torch.Tensor:
        """[0, 1] log-mel `(..., 80, frames)` -> centre crop to `crop_frames` and (with `model_range`) 2x - 1."""
        if self.crop_frames is not None:
            frames = log_mel.shape[-1]
            if frames < self.crop_frames:
                raise ValueError(f"the spectrogram has {frames} frames, fewer than crop_frames {self.crop_frames}")
            start = (frames - self.crop_frames) // 2
            log_mel = log_mel[..., start : start + self.crop_frames]
        return 2 * log_mel - 1 if self.model_range else log_mel

    def __call__(
        self,
        raw_audio: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        dtype: str = "float32",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            raw_audio: a waveform `(samples,)`, a list of waveforms `(samples,)` / `(channels, samples)`, or a
                batch `(clips, samples)` / `(clips, channels, samples)`; float in [-1, 1] (docs/bad_input.md).
            sampling_rate: their sample rate (resampled to 22 050 Hz when it differs).
            dtype: "float32" (default) or "float64" for `input_features`.
        """
        sampling_rate = require_sampling_rate("sampling_rate", sampling_rate, target=self.sampling_rate)
        if dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        raw_audio = waveform_list("raw_audio", raw_audio)
        spectrograms = [
            self.model_input(self.log_mel(self._waveform(wave, sampling_rate, f"raw_audio[{i}]").double()))
            for i, wave in enumerate(raw_audio)
        ]
        lengths = {s.shape[-1] for s in spectrograms}
        if len(lengths) > 1:
            raise ValueError(
                f"clips give different lengths {sorted(lengths)} frames: set pad_to_seconds or crop_frames"
            )
        features = torch.stack(spectrograms).to(getattr(torch, dtype))
        return BatchFeature({"input_features": features}, tensor_type=return_tensors)


def pad_or_trim(wave: torch.Tensor, length: int, mode: str = "zeros") -> torch.Tensor:
    """Truncate to `length` samples, or extend a shorter waveform: with zeros at the end (`"zeros"`, the reference's
    `get_spectrogram`) or by repeating it (`"tile"`, what the authors' VAS preparation did before, with
    `ffmpeg -stream_loop` in `feature_extraction/extract_audio_and_video.py`)."""
    if wave.numel() >= length:
        return wave[:length]
    if mode == "tile":
        return wave.repeat(length // wave.numel() + 1)[:length]
    return torch.cat([wave, wave.new_zeros(length - wave.numel())])


__all__ = ["SpecVQGANFeatureExtractor", "slaney_mel_filterbank"]
