"""Feature extractor for MMT: turns per-expert pre-extracted feature arrays (with their time stamps) into the
padded features, masks, time codes and pooled vectors `MMTModel` takes (reference
gabeur/mmt base/base_dataset.py)."""

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from transformers import BatchFeature, FeatureExtractionMixin

# Experts whose features come without time stamps get synthetic ones in the reference loader
# (utils/expert_timings.py): feature k spans [k * width, (k + 1) * width) seconds.
SYNTHETIC_TIMING_WIDTHS = {"rgb": 0.2, "scene": 1.0}
UNKNOWN_TIME_CODE = 1.0  # also the time code of padding tokens
TIME_CODE_OFFSET = 2.0  # a feature centred at t seconds gets code t + 2


class MMTFeatureExtractor(FeatureExtractionMixin):
    r"""
    Pads and masks the expert features of a batch of videos for [`MMTModel`].

    Args:
        expert_names (`list[str]`): the model's experts; inputs must use exactly these names (missing ones allowed).
        expert_feature_sizes (`dict[str, int]`): raw feature size per expert, checked on input.
        max_feature_tokens (`int`, defaults to 30): K, feature tokens kept per expert (100 on ActivityNet).
        agg_pooling (`"max"` or `"mean"`, defaults to `"max"`): how `expert_pooled` summarises *all* raw
            features of the clip (before subsampling to K); match the model's `agg_init`.
        temporal_encoding_window (`float`, defaults to 1.0): seconds per temporal id.
        synthetic_timing_widths (`dict[str, float]`, *optional*): experts given without time stamps whose
            features are evenly spaced (reference: rgb every 0.2 s, scene every 1 s); others are "unknown time".
        expert_max_tokens (`dict[str, int]`, *optional*): per-expert token budgets overriding `max_feature_tokens`
            (modality masking: RGB 30, audio 30, ASR 128).
    """

    model_input_names = ["expert_features", "expert_times", "expert_attention_mask", "expert_pooled"]

    def __init__(
        self,
        expert_names: Sequence[str] = ("s3d", "vggish"),
        expert_feature_sizes: Mapping[str, int] | None = None,
        max_feature_tokens: int = 30,
        agg_pooling: str = "max",
        temporal_encoding_window: float = 1.0,
        synthetic_timing_widths: Mapping[str, float] | None = None,
        expert_max_tokens: Mapping[str, int] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if agg_pooling not in ("max", "mean"):
            raise ValueError(f"agg_pooling must be 'max' or 'mean', got {agg_pooling!r}")
        if max_feature_tokens < 1:
            raise ValueError(f"max_feature_tokens must be positive, got {max_feature_tokens}")
        self.expert_names = list(expert_names)
        self.expert_feature_sizes = dict(expert_feature_sizes or {})
        missing = [name for name in self.expert_names if name not in self.expert_feature_sizes]
        if missing:
            raise ValueError(f"expert_feature_sizes has no entry for {missing}")
        self.max_feature_tokens = max_feature_tokens
        self.agg_pooling = agg_pooling
        self.temporal_encoding_window = temporal_encoding_window
        self.expert_max_tokens = dict(expert_max_tokens or {})
        self.synthetic_timing_widths = dict(
            SYNTHETIC_TIMING_WIDTHS if synthetic_timing_widths is None else synthetic_timing_widths
        )

    def _time_codes(self, name: str, count: int, timestamps, window_start: float) -> np.ndarray:
        if timestamps is not None and np.size(timestamps):
            timestamps = np.asarray(timestamps, dtype=np.float64)
            if timestamps.shape != (count, 2):
                raise ValueError(
                    f"timestamps of expert {name!r} must be ({count}, 2) start/end seconds, got {timestamps.shape}"
                )
            if np.isinf(timestamps).any():
                raise ValueError(f"timestamps of expert {name!r} contain ±inf (a NaN row marks an unknown timing)")
            centres = timestamps.mean(axis=1)
        elif name in self.synthetic_timing_widths:
            width = self.synthetic_timing_widths[name]
            centres = (np.arange(count) + 0.5) * width
        else:
            return np.full(count, UNKNOWN_TIME_CODE)
        codes = (centres - window_start) / self.temporal_encoding_window + TIME_CODE_OFFSET
        return np.where(np.isnan(codes), UNKNOWN_TIME_CODE, codes)

    def token_budget(self, name: str) -> int:
        """K of expert `name`: the most feature tokens kept."""
        return self.expert_max_tokens.get(name, self.max_feature_tokens)

    @staticmethod
    def _select(count: int, budget: int) -> np.ndarray:
        """Indices of the `budget` kept features, in temporal order: the reference's fixed evaluation choice
        (`RandomState(0)`) when there are more than `budget`."""
        if count <= budget:
            return np.arange(count)
        return np.sort(np.random.RandomState(0).choice(count, budget, replace=False))

    def __call__(
        self,
        expert_features: Sequence[Mapping[str, np.ndarray | torch.Tensor | None]],
        expert_timestamps: Sequence[Mapping[str, np.ndarray | None]] | None = None,
        window_starts: Sequence[float] | None = None,
        selections: Sequence[Mapping[str, np.ndarray]] | None = None,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            expert_features: one mapping per video from expert name to a `(num_features, feature_size)` array; an
                expert that is absent, `None` or has no rows is missing for that video.
            expert_timestamps: per video, per expert `(num_features, 2)` start/end seconds (NaN rows = unknown);
                experts without them get synthetic or unknown timings.
            window_starts: per video, the start (seconds) of the considered window; time codes are relative to it.
            selections: per video, per expert, the indices of the features to keep when there are more than K (the
                training-time random subsampling, `videozoo.data.mmt_augmentation.random_feature_selections`);
                otherwise the reference's fixed evaluation choice.
        """
        if kwargs:
            raise TypeError(
                f"MMTFeatureExtractor got unexpected arguments {sorted(kwargs)}; training-time subsampling is "
                "`selections=` (videozoo.data.mmt_augmentation.random_feature_selections)"
            )
        if selections is not None and len(selections) != len(expert_features):
            raise ValueError(f"selections has {len(selections)} entries for {len(expert_features)} videos")
        if isinstance(expert_features, Mapping):
            expert_features = [expert_features]
        batch = len(expert_features)
        if batch == 0:
            raise ValueError("no video given to the feature extractor")
        out = {key: {} for key in self.model_input_names}
        arrays = {name: [] for name in self.expert_names}
        for video, features in enumerate(expert_features):
            if not isinstance(features, Mapping):
                raise ValueError(
                    f"expert_features[{video}] must map expert names to arrays, got {type(features).__name__}"
                )
            if window_starts is not None and not np.isfinite(float(window_starts[video])):
                raise ValueError(f"window_starts[{video}] is {window_starts[video]}, not a finite number of seconds")
            unknown = set(features) - set(self.expert_names)
            if unknown:
                raise ValueError(
                    f"video {video}: unknown expert(s) {sorted(unknown)}; this model uses {self.expert_names}"
                )
        for name in self.expert_names:
            size, K = self.expert_feature_sizes[name], self.token_budget(name)
            padded = np.zeros((batch, K, size), dtype=np.float32)
            times = np.full((batch, K), UNKNOWN_TIME_CODE, dtype=np.float32)
            mask = np.zeros((batch, K), dtype=np.int64)
            pooled = np.zeros((batch, size), dtype=np.float32)
            for video, features in enumerate(expert_features):
                values = features.get(name)
                if values is None:
                    continue
                values = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float32)
                if values.size == 0:
                    continue
                if values.ndim != 2 or values.shape[1] != size:
                    raise ValueError(
                        f"video {video}: expert {name!r} features must be (n, {size}), got {values.shape}"
                    )
                if not np.isfinite(values).all():
                    raise ValueError(f"video {video}: expert {name!r} features contain NaN or inf")
                stamps = (expert_timestamps[video] or {}).get(name) if expert_timestamps is not None else None
                start = float(window_starts[video]) if window_starts is not None else 0.0
                codes = self._time_codes(name, len(values), stamps, start)
                chosen = selections[video].get(name) if selections is not None else None
                keep = self._select(len(values), K) if chosen is None or len(values) <= K else np.asarray(chosen)
                if len(keep) > K or (len(keep) and (keep.min() < 0 or keep.max() >= len(values))):
                    raise ValueError(
                        f"video {video}: selections of expert {name!r} must be at most {K} indices below {len(values)}"
                    )
                padded[video, : len(keep)] = values[keep]
                times[video, : len(keep)] = codes[keep]
                mask[video, : len(keep)] = 1
                pooled[video] = values.max(axis=0) if self.agg_pooling == "max" else values.mean(axis=0)
            arrays[name] = (padded, times, mask, pooled)
        for name, (padded, times, mask, pooled) in arrays.items():
            for key, value in zip(self.model_input_names, (padded, times, mask, pooled)):
                out[key][name] = torch.from_numpy(value) if return_tensors == "pt" else value
        return BatchFeature(out)


__all__ = ["MMTFeatureExtractor"]
