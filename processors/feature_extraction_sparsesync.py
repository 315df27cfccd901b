"""SparseSync's audio front end: the linear-frequency log-power spectrogram with per-clip, per-frequency
standardisation of the authors' `AudioSpectrogram` -> `AudioLog` -> `AudioStandardNormalize` (not log-mel)."""

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, FeatureExtractionMixin

from .validation import as_mono_waveform, require_sampling_rate, waveform_list


class SparseSyncFeatureExtractor(FeatureExtractionMixin):
    r"""
    Mono 16 kHz waveforms of equal length -> `input_features` `(batch, n_fft // 2 + 1, samples // hop + 1)`.

    Steps (the reference's audio front end, not a mel spectrogram): power STFT (`n_fft` 512, periodic Hann window of
    `win_length` 512, hop 128, centred with reflect padding, not normalised; `torch.stft`, as torchaudio's
    `Spectrogram`), natural log of (power + `log_eps`), then for every frequency row: subtract its mean over time and
    divide by (its *unbiased* std over time + `norm_eps`). No dataset statistics. 80 000 samples (5 s) give (257, 626).

    Crops are never padded: clips of different lengths in one call are an error, and so is another sample rate
    (decode with `load_clip`, which resamples).

    Args:
        sampling_rate (`int`, defaults to 16000), n_fft (512), win_length (512), hop_length (128),
        log_eps (`float`, defaults to 1e-6), norm_eps (`float`, defaults to 1e-6).
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        sampling_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 512,
        hop_length: int = 128,
        log_eps: float = 1e-6,
        norm_eps: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sampling_rate = sampling_rate
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.log_eps = log_eps
        self.norm_eps = norm_eps

    @property
    def num_frequency_bins(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, num_samples: int) -> int:
        return num_samples // self.hop_length + 1

    def hann_window(self) -> torch.Tensor:
        return torch.hann_window(self.win_length, periodic=True)

    def _waveform(self, waveform) -> torch.Tensor:
        wave = as_mono_waveform("the waveform", waveform, dtype=torch.float32)  # (channels, samples): down-mix
        if wave.numel() <= self.n_fft // 2:
            raise ValueError(
                f"the waveform has {wave.numel()} samples; the centred STFT needs more than {self.n_fft // 2}"
            )
        return wave.to(torch.float32)

    def spectrogram_steps(self, waveform) -> dict[str, torch.Tensor]:
        """Every intermediate of one clip: `power`, `log`, `mean`, `std` (per frequency) and `features`."""
        wave = self._waveform(waveform)
        spectrum = torch.stft(
            wave,
            self.n_fft,
            self.hop_length,
            self.win_length,
            self.hann_window(),
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        power = spectrum.abs().pow(2.0)
        log = torch.log(power + self.log_eps)
        mean, std = log.mean(dim=1, keepdim=True), log.std(dim=1, keepdim=True)
        return {
            "power": power,
            "log": log,
            "mean": mean[:, 0],
            "std": std[:, 0],
            "features": (log - mean) / (std + self.norm_eps),
        }

    def log_spectrogram(self, waveform) -> torch.Tensor:
        """One clip `(samples,)` -> standardised log spectrogram `(n_fft // 2 + 1, frames)`."""
        return self.spectrogram_steps(waveform)["features"]

    def __call__(
        self,
        raw_audio: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            raw_audio: one mono waveform `(samples,)` or a list of them (equal lengths), float in [-1, 1].
            sampling_rate: their sample rate; must equal the extractor's (16 kHz).
        """
        sampling_rate = require_sampling_rate("sampling_rate", sampling_rate)
        if sampling_rate != self.sampling_rate:
            raise ValueError(
                f"audio at {sampling_rate} Hz; SparseSync needs {self.sampling_rate} Hz "
                "(decode with load_clip, which resamples)"
            )
        raw_audio = waveform_list("raw_audio", raw_audio)
        lengths = {int(np.shape(wave)[-1]) for wave in raw_audio}
        if len(lengths) > 1:
            raise ValueError(
                f"clips of different lengths {sorted(lengths)}: SparseSync crops are never padded; crop them first"
            )
        return BatchFeature({"input_features": torch.stack([self.log_spectrogram(wave) for wave in raw_audio])})


__all__ = ["SparseSyncFeatureExtractor"]
