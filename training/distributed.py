"""torchrun support: one process per device, DistributedDataParallel, gloo on CPU and NCCL on GPU.

A plain `python -m training.train` is world size 1 and never touches torch.distributed. Under
`torchrun --nproc_per_node N [--nnodes M ...]` the environment names this process's rank; every
rank builds the same model from the same seed, DDP averages gradients (the emotion table is a
parameter of the wrapped module, so its rows stay identical everywhere), and rank 0 alone writes
the run directory.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from a2f_core.errors import A2FError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str) -> Context:
    """Join the process group torchrun describes (if any) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device == "cuda" and not torch.cuda.is_available():
        raise A2FError("--device cuda was asked for but torch sees no CUDA GPU; use --device cpu")
    if world == 1:
        return Context(device=torch.device(device))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return Context(dist.get_rank(), dist.get_world_size(),
                   torch.device(f"cuda:{local}" if device == "cuda" else "cpu"))


def teardown(ctx: Context):
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, ctx: Context) -> torch.nn.Module:
    """DDP around `module` when distributed; its constructor broadcasts rank 0's parameters."""
    if not ctx.distributed:
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)


def mean(values: torch.Tensor, ctx: Context) -> torch.Tensor:
    """Average a tensor over all ranks (returns a new tensor)."""
    out = values.detach().clone()
    if ctx.distributed:
        dist.all_reduce(out)
        out /= ctx.world_size
    return out


def gather_objects(obj, ctx: Context) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_flag(flag: bool, ctx: Context) -> bool:
    """True everywhere if any rank says True: lets one rank's Ctrl-C or abort stop them all."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([float(flag)], device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
