"""Gated embedding unit and context gating (Miech et al., "Learning a Text-Video Embedding from Incomplete and
Heterogeneous Data", 2018), used by MMT, AVLnet and Everything at Once.

Sub-module names (`fc`, `cg.fc`, `cg.batch_norm`) follow the original implementations so checkpoint conversion
is a direct mapping.
"""

import torch
from torch import nn
from torch.nn import functional as F


class ContextGating(nn.Module):
    """`x * sigmoid(BatchNorm(W x + b))`; the batch norm is optional."""

    def __init__(self, dim: int, use_batch_norm: bool = True, batch_norm_eps: float = 1e-5):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.batch_norm = nn.BatchNorm1d(dim, eps=batch_norm_eps) if use_batch_norm else None

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        gate = self.fc(hidden)
        if self.batch_norm is not None:
            gate = self.batch_norm(gate)
        return hidden * torch.sigmoid(gate)


class GatedEmbeddingUnit(nn.Module):
    """Linear projection, context gating, then (optionally) L2 normalisation: `(..., input_dim) -> (..., output_dim)`.

    Batch norm runs on `(batch, dim)` inputs; other leading shapes are flattened for it and restored.
    """

    def __init__(self, input_dim: int, output_dim: int, use_batch_norm: bool = True, normalize: bool = True):
        super().__init__()
        self.fc = nn.Linear(input_dim, output_dim)
        self.cg = ContextGating(output_dim, use_batch_norm=use_batch_norm)
        self.normalize = normalize

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        leading = hidden.shape[:-1]
        hidden = self.cg(self.fc(hidden.reshape(-1, hidden.shape[-1])))
        if self.normalize:
            hidden = F.normalize(hidden, dim=-1)
        return hidden.reshape(*leading, -1)
