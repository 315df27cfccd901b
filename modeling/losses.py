"""Losses as pure functions of tensors. They know nothing about processes: gathering across processes (with
gradients) happens before they are called (see `videozoo.distributed.gather_with_grad`)."""

import torch
from torch.nn import functional as F


def max_margin_ranking_loss(similarity: torch.Tensor, margin: float) -> torch.Tensor:
    """Bidirectional max-margin ranking loss on a square `(batch, batch)` similarity matrix whose diagonal holds
    the positive pairs (MMT, Gabeur et al. 2020, eq. 3.8).

    Returns the *mean* over the `2 * batch * (batch - 1)` off-diagonal hinge terms, as the reference code does;
    the paper's value (sum / batch) is this times `2 * (batch - 1)`.
    """
    if similarity.dim() != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"the ranking loss needs a square similarity matrix, got shape {tuple(similarity.shape)}")
    batch = similarity.shape[0]
    if batch < 2:
        raise ValueError("the ranking loss needs at least two pairs in the batch (it has no negatives otherwise)")
    positives = similarity.diagonal()
    rows = (margin + similarity - positives[:, None]).clamp_min(0)  # caption i against other videos
    cols = (margin + similarity - positives[None, :]).clamp_min(0)  # video j against other captions
    off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=similarity.device)
    return (rows[off_diagonal].sum() + cols[off_diagonal].sum()) / (2 * batch * (batch - 1))


def infonce_loss(logits: torch.Tensor, symmetric: bool = True) -> torch.Tensor:
    """Cross-entropy of each row (and, if `symmetric`, each column) against the diagonal of `(batch, batch)` logits."""
    targets = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        loss = (loss + F.cross_entropy(logits.T, targets)) / 2
    return loss


def mms_loss(similarity: torch.Tensor, margin: float = 0.001) -> torch.Tensor:
    """Masked margin softmax (AVLnet; Ilharco et al. 2019) on a square `(batch, batch)` matrix of raw dot products
    whose diagonal holds the positives: subtract `margin` from the diagonal, then cross-entropy over the rows plus
    cross-entropy over the rows of the transpose, each averaged over the batch. No temperature."""
    if similarity.dim() != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"the MMS loss needs a square similarity matrix, got shape {tuple(similarity.shape)}")
    shifted = similarity - margin * torch.eye(similarity.shape[0], device=similarity.device, dtype=similarity.dtype)
    targets = torch.arange(similarity.shape[0], device=similarity.device)
    return F.cross_entropy(shifted, targets) + F.cross_entropy(shifted.T, targets)
