"""MMT's training-time augmentation: the random subsampling of expert features (reference gabeur/mmt
`base/base_dataset.py`: in training, a video with more than K features of an expert keeps K of them drawn at random,
in temporal order; evaluation keeps a fixed choice). The collators (`videozoo.data.mmt`,
`videozoo.data.mmt_modality_masking`) draw the indices here, from each row's generator, and give them to
`MMTFeatureExtractor(selections=...)`, which has no training switch.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from ..processors.feature_extraction_mmt import MMTFeatureExtractor


def random_feature_selections(
    extractor: MMTFeatureExtractor,
    expert_features: Sequence[Mapping[str, np.ndarray | None]],
    rngs: Sequence[np.random.Generator],
) -> list[dict[str, np.ndarray]]:
    """Per video, per expert with more features than its budget K (`extractor.token_budget`): K sorted indices
    drawn without replacement from that video's generator (experts in the extractor's order)."""
    if len(rngs) != len(expert_features):
        raise ValueError(f"{len(rngs)} generators for {len(expert_features)} videos")
    selections = []
    for features, rng in zip(expert_features, rngs):
        chosen = {}
        for name in extractor.expert_names:
            values = features.get(name)
            count = 0 if values is None else len(values) if np.ndim(values) else 0
            budget = extractor.token_budget(name)
            if count > budget:
                chosen[name] = np.sort(rng.choice(count, budget, replace=False))
        selections.append(chosen)
    return selections


__all__ = ["random_feature_selections"]
