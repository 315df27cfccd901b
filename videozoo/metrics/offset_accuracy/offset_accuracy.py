"""Offset-classification accuracy of SparseSync (the reference's `calc_metrics`), as an `evaluate` module.

Loaded offline from its path: `videozoo.metrics.load_metric("offset_accuracy")`; the computation is
`offset_accuracy(logits, labels)` on tensors or arrays.

- `accuracy_1`: top-1 accuracy (the reference's early-stopping metric).
- `accuracy_1_tol1`: the top-1 class counts when it is the target or an adjacent class (+-1 index, +-0.2 s on the
  21-class grid); at the grid ends the neighbours are clamped (target 0 accepts {0, 1}). The paper's headline
  "accuracy +-1 cls". With 3 classes the tolerance makes it trivial (the paper reports top-1 there).
- `accuracy_5`, `accuracy_5_tol1`: a hit if any of the top 5 is the target (or within +-1), k clamped to the
  number of classes.
Values are fractions in [0, 1], as the reference logs them.
"""

import datasets
import evaluate
import numpy as np
import torch

_CITATION = """\
@inproceedings{iashin2022sparse,
  title={Sparse in Space and Time: Audio-visual Synchronisation with Trainable Selectors},
  author={Iashin, Vladimir and Xie, Weidi and Rahtu, Esa and Zisserman, Andrew},
  booktitle={British Machine Vision Conference (BMVC)},
  year={2022}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one row of class scores (logits) per clip.
    references: the offset class of each clip.
Returns:
    dict with `accuracy_1`, `accuracy_1_tol1`, `accuracy_5`, `accuracy_5_tol1`, `num_examples`.
"""


def _scores_and_targets(logits, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """`(N, classes)` float scores (ragged rows named) and `(N,)` integer labels (float labels are refused, never
    truncated to a class)."""
    if not isinstance(logits, (torch.Tensor, np.ndarray)):
        rows = list(logits)
        widths = {len(row) for row in rows if hasattr(row, "__len__")}
        if len(widths) > 1:
            raise ValueError(f"predictions: rows of different lengths {sorted(widths)} (one score per offset class)")
    scores = torch.as_tensor(np.asarray(logits) if not isinstance(logits, torch.Tensor) else logits).float()
    targets = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ValueError(f"labels must be integer offset classes, got {targets.dtype}")
    return scores, targets.long()


def offset_accuracy(logits, labels, topk=(1, 5)) -> dict[str, float]:
    """Top-k accuracy with and without the +-1-class tolerance, from `(N, classes)` scores and `(N,)` labels."""
    scores, targets = _scores_and_targets(logits, labels)
    if scores.dim() != 2 or targets.shape != (scores.shape[0],):
        raise ValueError(
            f"need (N, classes) scores and (N,) labels, got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    if scores.shape[0] == 0:
        raise ValueError("no example to score")
    if not torch.isfinite(scores).all():
        raise ValueError("the scores contain NaN or inf")
    classes = scores.shape[1]
    if (targets < 0).any() or (targets >= classes).any():
        raise ValueError(f"labels must be classes in [0, {classes})")
    ks = [min(k, classes) for k in topk]
    top = scores.topk(max(ks), dim=1).indices  # (N, K)
    hit = top == targets[:, None]
    near = torch.stack([(targets - 1).clamp(0, classes - 1), targets, (targets + 1).clamp(0, classes - 1)])  # (3, N)
    hit_tol = (top[None] == near[:, :, None]).any(dim=0)  # (N, K)
    metrics = {}
    for k, name in zip(ks, topk):
        metrics[f"accuracy_{name}"] = hit[:, :k].any(dim=1).float().mean().item()
        metrics[f"accuracy_{name}_tol1"] = hit_tol[:, :k].any(dim=1).float().mean().item()
    metrics["num_examples"] = int(scores.shape[0])
    return metrics


def confusion_matrix(logits, labels, num_classes: int | None = None) -> np.ndarray:
    """`(classes, classes)` counts: row = true class, column = predicted (arg-max) class."""
    scores, targets = _scores_and_targets(logits, labels)
    if scores.dim() != 2 or targets.shape != (scores.shape[0],):
        raise ValueError(
            f"need (N, classes) scores and (N,) labels, got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    classes = num_classes or scores.shape[1]
    if (targets < 0).any() or (targets >= classes).any():
        raise ValueError(f"labels must be classes in [0, {classes})")
    matrix = torch.zeros(classes, classes, dtype=torch.long)
    matrix.index_put_((targets, scores.argmax(dim=1)), torch.ones_like(targets), accumulate=True)
    return matrix.numpy()


@evaluate.utils.file_utils.add_start_docstrings(__doc__, _KWARGS_DESCRIPTION)
class OffsetAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references):
        return offset_accuracy(predictions, np.asarray(references))
