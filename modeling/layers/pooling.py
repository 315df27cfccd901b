"""Pooling over a sequence axis that never lets padding in."""

import torch


def _expand_mask(mask: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    if mask.shape != hidden.shape[:2]:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not match sequence {tuple(hidden.shape[:2])}")
    return mask.to(torch.bool)[..., None]


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor | None, eps: float = 1e-6) -> torch.Tensor:
    """Mean over axis 1 of `(batch, length, dim)` at positions where `mask` `(batch, length)` is set.

    A row with no valid position pools to zeros (never NaN).
    """
    if mask is None:
        return hidden.mean(dim=1)
    keep = _expand_mask(mask, hidden).to(hidden.dtype)
    return (hidden * keep).sum(dim=1) / keep.sum(dim=1).clamp_min(eps)


def masked_max(hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Max over axis 1 of `(batch, length, dim)` at positions where `mask` is set; all-padding rows give zeros."""
    if mask is None:
        return hidden.max(dim=1).values
    keep = _expand_mask(mask, hidden)
    pooled = hidden.masked_fill(~keep, torch.finfo(hidden.dtype).min).max(dim=1).values
    return pooled.masked_fill(~keep.any(dim=1), 0.0)
