"""Pre-extracted feature handling for BMT (and MDVC): crop an event, sum I3D rgb + flow, pad, masks."""

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, FeatureExtractionMixin


def crop_segment(
    features: np.ndarray, start: float, end: float, duration: float, empty: str | None = "zeros"
) -> np.ndarray | None:
    """Reference crop of one event: `i0 = int(S*start/duration)`, `i1 = int(S*end/duration)`, widened by one step
    when equal; an empty slice (an event starting after it ends) becomes one all-zero vector (BMT's rule), or None
    with `empty=None` (the caller fills it, e.g. MDVC's random vector)."""
    if duration <= 0:
        raise ValueError(f"video duration must be positive, got {duration}")
    if start < 0 or start > duration:
        raise ValueError(f"the event starts at {start} s, outside the video [0, {duration}] s")
    s = features.shape[0]
    i0, i1 = int(s * start / duration), int(s * end / duration)
    if i0 == i1:
        if i0 == s:
            i0 -= 1
        else:
            i1 += 1
    crop = features[max(i0, 0) : i1]
    if crop.shape[0] == 0:
        if empty is None:
            return None
        crop = np.zeros((1, features.shape[1]), dtype=features.dtype)
    return crop


class BMTFeatureExtractor(FeatureExtractionMixin):
    r"""
    Pads per-video (or per-event) VGGish audio and I3D rgb / flow features and returns masks.

    The I3D streams are summed (`video = rgb + flow`). Padded steps hold `padding_value` (1.0, the reference's PAD
    sentinel) in audio and video, which matters for the proposal generator whose predictions depend on padded
    steps; masks are returned explicitly (True = valid), the models never read the sentinel.

    Args:
        audio_feature_size (`int`, defaults to 128), video_feature_size (`int`, defaults to 1024): widths.
        padding_value (`float`, defaults to 1.0): value of padded steps (reference: PAD id).
        pad_to_audio_length / pad_to_video_length (`int`, optional): fixed lengths (800 / 300 for the proposal
            generator); longer inputs are an error, as in the reference.
    """

    model_input_names = ["audio_features", "video_features", "audio_attention_mask", "video_attention_mask"]

    def __init__(
        self,
        audio_feature_size: int = 128,
        video_feature_size: int = 1024,
        padding_value: float = 1.0,
        pad_to_audio_length: int | None = None,
        pad_to_video_length: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.audio_feature_size = audio_feature_size
        self.video_feature_size = video_feature_size
        self.padding_value = padding_value
        self.pad_to_audio_length = pad_to_audio_length
        self.pad_to_video_length = pad_to_video_length

    def _pad(self, arrays, size, name, fixed):
        arrays = [np.asarray(a, dtype=np.float32) for a in arrays]
        for i, a in enumerate(arrays):
            if a.ndim != 2 or a.shape[1] != size:
                raise ValueError(f"{name}[{i}] must have shape (time, {size}), got {a.shape}")
            if a.shape[0] == 0:
                raise ValueError(f"{name}[{i}] is empty")
            if not np.isfinite(a).all():
                raise ValueError(f"{name}[{i}] contains NaN or infinite values")
        length = max(a.shape[0] for a in arrays)
        if fixed is not None:
            if length > fixed:
                raise ValueError(f"{name} has {length} steps, more than the fixed padded length {fixed}")
            length = fixed
        out = np.full((len(arrays), length, size), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(arrays), length), dtype=bool)
        for i, a in enumerate(arrays):
            out[i, : a.shape[0]] = a
            mask[i, : a.shape[0]] = True
        return torch.from_numpy(out), torch.from_numpy(mask)

    def __call__(
        self,
        audio: Sequence[np.ndarray],
        rgb: Sequence[np.ndarray],
        flow: Sequence[np.ndarray] | None = None,
        return_tensors: str = "pt",
        pad_to_audio_length: int | None = None,
        pad_to_video_length: int | None = None,
        **kwargs,
    ) -> BatchFeature:
        """`audio`, `rgb`, `flow`: one (time, width) array per sample; `flow=None` uses `rgb` alone as video.
        `pad_to_audio_length` / `pad_to_video_length` override the fixed lengths of the extractor for this call."""
        if len(audio) != len(rgb) or (flow is not None and len(flow) != len(rgb)):
            raise ValueError("audio, rgb and flow must hold the same number of samples")
        video = []
        for i, r in enumerate(rgb):
            r = np.asarray(r, dtype=np.float32)
            if flow is not None:
                f = np.asarray(flow[i], dtype=np.float32)
                if f.shape != r.shape:
                    raise ValueError(f"rgb[{i}] and flow[{i}] must have the same shape, got {r.shape} and {f.shape}")
                r = r + f
            video.append(r)
        a, am = self._pad(audio, self.audio_feature_size, "audio", pad_to_audio_length or self.pad_to_audio_length)
        v, vm = self._pad(video, self.video_feature_size, "video", pad_to_video_length or self.pad_to_video_length)
        return BatchFeature(
            {"audio_features": a, "video_features": v, "audio_attention_mask": am, "video_attention_mask": vm}
        )


__all__ = ["BMTFeatureExtractor", "crop_segment"]
