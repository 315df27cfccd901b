"""Conversions between lengths, padding masks and attention masks.

Convention used across videozoo: a *padding mask* is a `(batch, length)` tensor with 1 (or True) at real
positions and 0 at padding, like transformers' `attention_mask`.
"""

import torch


def lengths_to_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """`(batch,)` integer lengths -> `(batch, max_length)` boolean mask, True at the first `length` positions."""
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be 1-D (batch,), got shape {tuple(lengths.shape)}")
    max_length = int(lengths.max().item()) if max_length is None else max_length
    positions = torch.arange(max_length, device=lengths.device)
    return positions[None, :] < lengths[:, None]


def padding_mask_to_additive(
    padding_mask: torch.Tensor, dtype: torch.dtype, fill: float | None = None
) -> torch.Tensor:
    """`(batch, keys)` padding mask -> additive `(batch, 1, 1, keys)` bias: 0 where attended, `fill` elsewhere.

    `fill` defaults to the dtype's minimum (transformers' convention); original BERT-style code used -10000.
    """
    fill = torch.finfo(dtype).min if fill is None else fill
    keep = padding_mask.to(torch.bool)[:, None, None, :]
    return torch.zeros(keep.shape, dtype=dtype, device=padding_mask.device).masked_fill(~keep, fill)
