"""Collectives that keep gradients, for losses computed over the global batch."""

import torch
import torch.distributed as dist
from torch.distributed import _functional_collectives as funcol


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All-gather along dim 0 from every process, differentiably: `(batch, ...) -> (world * batch, ...)`.

    The backward pass reduce-scatters the gradients, so a loss computed on the gathered tensor sends each process
    the gradient for its own rows. Plain `dist.all_gather` (and `Accelerator.gather`) would cut the graph.
    Every process must contribute the same batch size. With a single process this is the identity.
    """
    if world_size() == 1:
        return tensor
    return funcol.all_gather_single(tensor.contiguous(), 0, dist.group.WORLD)
