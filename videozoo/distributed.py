"""Collectives that keep gradients, for losses computed over the global batch."""

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All-gather along dim 0 from every process, differentiably: `(batch, ...) -> (world * batch, ...)`.

    `torch.distributed.nn.functional.all_gather` sends back to each process the sum over processes of the
    gradients of its rows, so a loss computed on the gathered tensor trains each process's rows as one process
    on the whole batch would (DDP then averages). Plain `dist.all_gather` (and `Accelerator.gather`) would cut the
    graph. Every process must contribute the same batch size. With a single process this is the identity.
    """
    if world_size() == 1:
        return tensor
    return torch.cat(dist_fn.all_gather(tensor.contiguous()), dim=0)
