"""Multi-head attention through `torch.nn.functional.scaled_dot_product_attention`.

`MultiHeadAttention` covers self- and cross-attention with separate query/key/value/output projections
(`q_proj`, `k_proj`, `v_proj`, `out_proj`). Masks follow the videozoo convention: a `(batch, keys)` padding mask
with 1 at real keys, and/or a boolean `(batch | 1, 1 | heads, queries, keys)` mask with True where attention is
allowed (e.g. causal).
"""

import torch
from torch import nn
from torch.nn import functional as F


def combine_masks(key_padding_mask: torch.Tensor | None, attn_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Merge a `(batch, keys)` padding mask and a boolean attention mask into one SDPA boolean mask."""
    mask = None if key_padding_mask is None else key_padding_mask.to(torch.bool)[:, None, None, :]
    if attn_mask is not None:
        attn_mask = attn_mask.to(torch.bool)
        mask = attn_mask if mask is None else mask & attn_mask
    return mask


def attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor:
    """SDPA on `(batch, heads, length, head_dim)` tensors.

    Query rows whose every key is masked would produce NaN in SDPA; they get zeros instead (they are padding).
    """
    if mask is not None:
        fully_masked = ~mask.any(dim=-1, keepdim=True)  # (batch, 1|heads, queries, 1)
        if fully_masked.any():
            mask = mask | fully_masked
            out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, scale=scale)
            return out.masked_fill(fully_masked, 0.0)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout, scale=scale)


class MultiHeadAttention(nn.Module):
    """`(batch, queries, embed_dim)` x `(batch, keys, kdim)` -> `(batch, queries, embed_dim)`."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
    ):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(kdim or embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(vdim or embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def _split_heads(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden.shape
        return hidden.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        key = query if key is None else key
        value = key if value is None else value
        q = self._split_heads(self.q_proj(query))
        k = self._split_heads(self.k_proj(key))
        v = self._split_heads(self.v_proj(value))
        mask = combine_masks(key_padding_mask, attn_mask)
        out = attention(q, k, v, mask, dropout=self.dropout if self.training else 0.0)
        batch, _, queries, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(batch, queries, -1))
