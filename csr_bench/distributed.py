"""Data parallelism on torch.distributed: the processes ``torchrun`` or ``accelerate launch`` start.

Each process takes an interleaved shard of the work (``shard``), writes what it finishes to its own
file (storage.keyed_store), and the main process gathers, merges and scores. Without a launcher this
is one process and touches no process group. The backend is NCCL when each process has a GPU, gloo
on CPUs (tests run two CPU processes).

The launchers set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; nothing else is needed.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence, TypeVar

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return world_size() > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0")) if is_distributed() else 0


def is_main() -> bool:
    return rank() == 0


def local_device(requested: str | None) -> str | None:
    """This process's device: ``cuda:LOCAL_RANK`` when distributed on GPUs, else what was asked."""
    if not is_distributed() or (requested and requested not in ("auto", "cuda")):
        return requested
    import torch

    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return requested


def init() -> None:
    """Join the launcher's process group (once); a no-op in a single process."""
    if not is_distributed():
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)


def shutdown() -> None:
    """Leave the process group before the process exits: a group left to the interpreter's
    teardown can abort a finished process ("terminate called without an active exception")."""
    if not is_distributed() or "torch.distributed" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        import torch.distributed as dist

        init()
        dist.barrier()


def gather(value: Any) -> list[Any]:
    """Every process's ``value``, in rank order, on every process."""
    if not is_distributed():
        return [value]
    import torch.distributed as dist

    init()
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def shard(items: Sequence[T]) -> list[T]:
    """This process's share: every WORLD_SIZE-th item from its rank (interleaved, so a length-sorted
    list gives each process items of similar lengths)."""
    return list(items[rank()::world_size()])


__all__ = ["barrier", "gather", "init", "is_distributed", "is_main", "local_device", "rank", "shard", "world_size"]
