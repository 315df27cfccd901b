"""SpecVQGAN's processor: audio -> the model's log-mel input, visual feature sequences -> the N conditioning vectors
the reference's data sets give (`specvqgan/data/vas.py`, `vggsound.py`: pad / trim, centre crop, `ResampleFrames`),
and the model's spectrogram back to the [0, 1] scale of the vocoder."""

from pathlib import Path

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .feature_extraction_specvqgan import SpecVQGANFeatureExtractor
from .validation import check_finite
from .video_io import load_clip


def resample_indices(length: int, count: int) -> np.ndarray:
    """The reference's `ResampleFrames`: `count` evenly spaced indices of `length` vectors, shifted to the middle of
    their cells (`int32(linspace(0, length, count, endpoint=False)) + length // (count + 1)`): 212 -> 5 gives
    35, 77, 119, 162, 204; 212 -> 212 the identity; 212 -> 1 gives 106."""
    if not 1 <= count <= length:
        raise ValueError(f"cannot resample {count} vectors out of {length}")
    return np.linspace(0, length, count, dtype=np.int32, endpoint=False) + length // (count + 1)


class SpecVQGANProcessor(ProcessorMixin):
    r"""
    Inputs of [`SpecVQGANModel`] / [`SpecVQGANForConditionalGeneration`].

    Args:
        feature_extractor ([`SpecVQGANFeatureExtractor`]): the log-mel front end (22.05 kHz, 10 s, 80 x 848).
        num_features (`int`, defaults to 212): conditioning vectors N per clip (the sampler's `num_features`).
        feature_length (`int`, defaults to 215): vectors per 10 s clip at 21.5 fps; shorter sequences are zero-padded
            at the end, longer ones truncated [`feat_len`].
        feature_crop_length (`int`, defaults to 212): centre crop before resampling [`feat_crop_len`].
        feature_size (`int`, defaults to 2048): width of each vector (ResNet-50 pool features, or BN-Inception
            RGB + flow concatenated) [`feat_depth`].
        tile_features (`bool`, defaults to `False`): repeat a shorter sequence up to `feature_length` instead of
            zero-padding it (the authors' README recipe for clips under 10 s, done there before the data set).
    """

    def __init__(
        self,
        feature_extractor=None,
        num_features: int = 212,
        feature_length: int = 215,
        feature_crop_length: int = 212,
        feature_size: int = 2048,
        tile_features: bool = False,
        **kwargs,
    ):
        if feature_extractor is None:
            feature_extractor = SpecVQGANFeatureExtractor()
        self.num_features = int(num_features)
        self.feature_length = int(feature_length)
        self.feature_crop_length = int(feature_crop_length)
        self.feature_size = int(feature_size)
        self.tile_features = bool(tile_features)
        if not 1 <= self.num_features <= self.feature_crop_length <= self.feature_length:
            raise ValueError(
                "need 1 <= num_features <= feature_crop_length <= feature_length, got "
                f"{self.num_features}, {self.feature_crop_length}, {self.feature_length}"
            )
        super().__init__(feature_extractor, **kwargs)

    @classmethod
    def default(cls, config=None, **kwargs) -> "SpecVQGANProcessor":
        """The processor for a sampler config (its feature count and width) or a Stage I config."""
        if config is not None and hasattr(config, "num_features"):
            kwargs = {"num_features": config.num_features, "feature_size": config.feature_size, **kwargs}
        return cls(SpecVQGANFeatureExtractor(), **kwargs)

    def prepare_visual_features(self, features, name: str = "visual_features") -> torch.Tensor:
        """One clip's feature sequence `(T, feature_size)` -> `(num_features, feature_size)`: zero-pad / trim to
        `feature_length` (or tile), centre crop to `feature_crop_length`, `resample_indices`."""
        array = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
        if array.ndim != 2 or array.shape[1] != self.feature_size:
            raise ValueError(f"{name} must be (frames, {self.feature_size}), got shape {tuple(array.shape)}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{name} must hold float features, got {array.dtype}")
        check_finite(name, array)
        if self.tile_features and 0 < len(array) < self.feature_length:
            array = np.tile(array, (self.feature_length // len(array) + 1, 1))
        padded = np.zeros((self.feature_length, self.feature_size), dtype=np.float32)
        padded[: min(len(array), self.feature_length)] = array[: self.feature_length]
        start = (self.feature_length - self.feature_crop_length) // 2
        cropped = padded[start : start + self.feature_crop_length]
        return torch.from_numpy(cropped[resample_indices(self.feature_crop_length, self.num_features)].copy())

    def load_audio(self, path) -> tuple[torch.Tensor, int]:
        """Decode a media file's audio (mono, 22.05 kHz, at most `pad_to_seconds` + 1 s) with the project's
        decoder; returns (waveform, sampling rate)."""
        seconds = self.feature_extractor.pad_to_seconds
        clip = load_clip(
            path,
            sampling_rate=self.feature_extractor.sampling_rate,
            shorter_side=16,
            max_duration_sec=None if seconds is None else seconds + 1.0,
        )
        return clip.waveform, clip.sampling_rate

    def __call__(
        self,
        audio=None,
        sampling_rate: int | None = None,
        visual_features=None,
        class_ids=None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            audio: waveform(s) `(samples,)` / `(channels, samples)`, or paths of media files (decoded here).
            sampling_rate: the waveforms' rate (not needed for paths).
            visual_features: one `(frames, feature_size)` sequence per clip (e.g. 215 x 2048 ResNet-50 vectors at
                21.5 fps), resampled to `num_features`.
            class_ids: `(B,)` class indices for class-conditioned samplers.
        Returns: `input_features` `(B, 80, 848)` in [-1, 1], `visual_features` `(B, N, feature_size)`, `class_ids`.
        """
        if audio is None and visual_features is None:
            raise ValueError("give audio and/or visual_features")
        data = {}
        if audio is not None:
            if isinstance(audio, (str, Path)) or (
                isinstance(audio, (list, tuple)) and audio and isinstance(audio[0], (str, Path))
            ):
                decoded = [self.load_audio(p) for p in ([audio] if isinstance(audio, (str, Path)) else audio)]
                rates = {rate for _, rate in decoded}
                audio, sampling_rate = [wave for wave, _ in decoded], rates.pop()
            data["input_features"] = self.feature_extractor(audio, sampling_rate=sampling_rate)["input_features"]
        if visual_features is not None:
            if isinstance(visual_features, (np.ndarray, torch.Tensor)) and np.ndim(visual_features) == 2:
                visual_features = [visual_features]
            data["visual_features"] = torch.stack(
                [self.prepare_visual_features(f, f"visual_features[{i}]") for i, f in enumerate(visual_features)]
            )
        if audio is not None and visual_features is not None:
            if len(data["input_features"]) != len(data["visual_features"]):
                raise ValueError("audio and visual_features give different numbers of clips")
        if class_ids is not None:
            class_ids = torch.as_tensor(class_ids)
            if class_ids.is_floating_point() or class_ids.dtype == torch.bool:
                raise ValueError(f"class_ids must be integer class indices, got {class_ids.dtype}")
            data["class_ids"] = class_ids.long().reshape(-1)
        return BatchFeature(data, tensor_type=return_tensors)

    def post_process(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """The model's spectrogram in [-1, 1] -> the [0, 1] log-mel scale of the vocoder and Melception,
        `(x + 1) / 2` clipped to [0, 1]."""
        return ((spectrogram + 1) / 2).clamp(0.0, 1.0)


__all__ = ["SpecVQGANProcessor", "resample_indices"]
