"""AVATAR's audio front end: 80-bin log-mel spectrograms of 16 kHz audio, computed with torch exactly as the
reference pipeline (scenic `avatar/datasets/dataset_utils.py::add_spectrogram_from_audio`, dmvr
`compute_audio_spectrogram` with `spectrogram_type="logmf"`)."""

import math
import warnings

import numpy as np
import torch
from transformers import BatchFeature
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor

from .validation import as_mono_waveform, require_sampling_rate, waveform_list


def htk_mel(hertz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale `1127 ln(1 + f / 700)`."""
    return 1127.0 * np.log1p(np.asarray(hertz, dtype=np.float64) / 700.0)


def mel_weight_matrix(
    num_mel_bins: int, num_spectrogram_bins: int, sampling_rate: int, f_min: float, f_max: float
) -> np.ndarray:
    """`[num_spectrogram_bins, num_mel_bins]` triangular filters defined on the HTK mel axis, with edges equally
    spaced in mel from `f_min` to `f_max` and the DC bin weighted 0 (the construction of TensorFlow's
    `linear_to_mel_weight_matrix`, which the reference uses)."""
    if not 0.0 <= f_min < f_max <= sampling_rate / 2:
        raise ValueError(f"mel edges must satisfy 0 <= f_min < f_max <= {sampling_rate / 2}, got {f_min}, {f_max}")
    bins_hz = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins)[1:]  # the DC bin gets no weight
    bins_mel = htk_mel(bins_hz)[:, None]
    edges = np.linspace(htk_mel(f_min), htk_mel(f_max), num_mel_bins + 2)
    lower, centre, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    rising = (bins_mel - lower) / (centre - lower)
    falling = (upper - bins_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.concatenate([np.zeros((1, num_mel_bins)), weights], axis=0).astype(np.float32)


def peak_normalize(waveform: torch.Tensor, floor: float = 5e-4) -> torch.Tensor:
    """The reference's `normalize_input`: map [min, max] to [-1, 1], with the half-range floored at `floor` so that
    near-silent clips are not amplified."""
    low, high = waveform.min(), waveform.max()
    return (waveform - low) / torch.clamp((high - low) * 0.5, min=floor) - 1.0


class AvatarFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Raw waveforms (any sample rate, mono or `(channels, samples)`) -> `input_features` `(batch, max_frames,
    num_mel_bins)`, the log-mel AVATAR's encoder patches (it tiles them to 3 channels itself).

    Steps (the reference's `add_spectrogram_from_audio` and dmvr's `compute_audio_spectrogram`): down-mix to mono,
    resample to 16 kHz, peak-normalise to [-1, 1] (half-range floored at 5e-4), STFT with a 400-sample *periodic Hann*
    window (the reference code; the paper says Hamming), hop 160, FFT 400, no centring, the end zero-padded so that
    there are `ceil(N / 160)` frames, magnitude (not power), 80 HTK-mel triangular filters from 0 to 7600 Hz
    (TensorFlow's construction, DC bin weight 0), `log(mel + 1e-6)`; keep the first `max_frames` frames (25 s) and
    zero-pad at the end (0.0 in the log domain, which is *not* silence: the reference model attends to padding, so
    padding with 0.0 is part of the model's input distribution).

    Handling of awkward input (decisions taken here):
    - `sampling_rate` is required: without it the rate of the samples is unknown and the features would be silently
      wrong; any positive rate is resampled to 16 kHz.
    - empty audio (no sample) raises; all-silent audio (max == min) raises unless `allow_silent=True`, which gives
      the reference's output for it (the normalisation floor maps it to a constant);
    - audio longer than `max_frames` (25 s) raises unless `truncation=True` (the reference keeps the first 25 s; the
      reference training drops such clips instead, see `videozoo.data.avatar`);
    - NaN or infinite samples raise.

    Args:
        sampling_rate (`int`, defaults to 16000), num_mel_bins (80), n_fft (400), win_length (400), hop_length (160),
        f_min (0.0), f_max (7600.0), log_offset (1e-6), normalization_floor (5e-4), padding_value (0.0),
        max_frames (`int`, defaults to 2500): frames per clip (25 s at 100 frames/s).
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        feature_size: int = 80,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        n_fft: int = 400,
        win_length: int = 400,
        hop_length: int = 160,
        f_min: float = 0.0,
        f_max: float = 7600.0,
        log_offset: float = 1e-6,
        normalization_floor: float = 5e-4,
        max_frames: int = 2500,
        num_mel_bins: int | None = None,
        **kwargs,
    ):
        feature_size = num_mel_bins if num_mel_bins is not None else feature_size
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.f_min = f_min
        self.f_max = f_max
        self.log_offset = log_offset
        self.normalization_floor = normalization_floor
        self.max_frames = max_frames

    @property
    def num_mel_bins(self) -> int:
        return self.feature_size

    def to_mono_16k(self, waveform, sampling_rate: int | None) -> torch.Tensor:
        """One clip `(samples,)` or `(channels, samples)` at `sampling_rate` -> float64 mono at the extractor's
        rate."""
        sampling_rate = require_sampling_rate("sampling_rate", sampling_rate, self.sampling_rate)
        wave = as_mono_waveform("raw_audio", waveform)  # (channels, samples) is averaged: the down-mix
        if wave.numel() == 0:
            raise ValueError("the audio is empty (zero samples)")
        if sampling_rate != self.sampling_rate:
            import torchaudio

            wave = torchaudio.functional.resample(wave, int(sampling_rate), self.sampling_rate)
        return wave

    def log_mel(self, waveform: torch.Tensor, allow_silent: bool = False) -> torch.Tensor:
        """Mono waveform at the extractor's rate -> `(ceil(N / hop), num_mel_bins)` float32 log-mel (no crop/pad)."""
        wave = torch.as_tensor(waveform, dtype=torch.float32)
        if wave.dim() != 1 or wave.numel() == 0:
            raise ValueError(f"log_mel takes a non-empty mono waveform, got shape {tuple(wave.shape)}")
        if not wave.max() > wave.min() and not allow_silent:
            raise ValueError(
                "the audio is all silent (constant samples); pass allow_silent=True to get the reference's features "
                "for it"
            )
        wave = peak_normalize(wave, self.normalization_floor)
        frames = math.ceil(wave.numel() / self.hop_length)
        padded = torch.nn.functional.pad(wave, (0, (frames - 1) * self.hop_length + self.win_length - wave.numel()))
        window = torch.hann_window(self.win_length, periodic=True, dtype=torch.float32)
        spectrum = torch.stft(
            padded, self.n_fft, self.hop_length, self.win_length, window, center=False, return_complex=True
        ).abs()  # (n_fft / 2 + 1, frames)
        filters = torch.from_numpy(
            mel_weight_matrix(self.num_mel_bins, self.n_fft // 2 + 1, self.sampling_rate, self.f_min, self.f_max)
        )
        return torch.log(spectrum.T @ filters + self.log_offset)

    def __call__(
        self,
        raw_audio,
        sampling_rate: int | None = None,
        max_frames: int | None = None,
        truncation: bool = False,
        allow_silent: bool = False,
        return_frame_mask: bool = False,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            raw_audio: one waveform or a list of them (float samples), each `(samples,)` or `(channels, samples)`.
            sampling_rate: their sample rate (required).
            max_frames: output length in frames (defaults to the extractor's 2500).
            truncation: keep the first `max_frames` frames of longer clips (the reference) instead of raising.
            allow_silent: accept constant (silent) clips.
            return_frame_mask: also return `audio_frame_mask` `(batch, max_frames)` (1 = computed frame); the
                reference model does not use it.
        """
        if kwargs:
            warnings.warn(f"AvatarFeatureExtractor ignores {sorted(kwargs)}", stacklevel=2)
        sampling_rate = require_sampling_rate("sampling_rate", sampling_rate, self.sampling_rate)
        raw_audio = waveform_list("raw_audio", raw_audio)  # a 2-D array is a batch of equal-length mono clips
        target = max_frames or self.max_frames
        features = torch.full((len(raw_audio), target, self.num_mel_bins), float(self.padding_value))
        mask = torch.zeros(len(raw_audio), target, dtype=torch.long)
        for index, wave in enumerate(raw_audio):
            try:
                spectrogram = self.log_mel(self.to_mono_16k(wave, sampling_rate), allow_silent)
            except ValueError as error:
                raise ValueError(f"clip {index}: {error}") from error
            if len(spectrogram) > target and not truncation:
                seconds = len(spectrogram) * self.hop_length / self.sampling_rate
                raise ValueError(
                    f"clip {index} is {seconds:.1f} s long ({len(spectrogram)} frames), longer than the "
                    f"{target}-frame input; pass truncation=True to keep its first {target} frames as the "
                    "reference does"
                )
            frames = min(len(spectrogram), target)
            features[index, :frames] = spectrogram[:frames]
            mask[index, :frames] = 1
        data = {"input_features": features}
        if return_frame_mask:
            data["audio_frame_mask"] = mask
        return BatchFeature(data, tensor_type=return_tensors)


__all__ = ["AvatarFeatureExtractor", "htk_mel", "mel_weight_matrix", "peak_normalize"]
