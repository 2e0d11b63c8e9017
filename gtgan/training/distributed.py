"""Multi-process training under torchrun: process group set-up and small collectives.

The same command runs single-process (no torchrun) or as N processes: torchrun's RANK /
WORLD_SIZE / LOCAL_RANK variables switch DistributedDataParallel on. NCCL on CUDA, gloo on
CPU. Rank 0 writes every file; all ranks agree each step on whether to stop.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from ..device import resolve_device
from ..errors import GtganError


class DistributedError(GtganError):
    """Processes of one run disagree (world size, replicas out of sync)."""


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def process_device(spec: str) -> torch.device:
    """This process's device: run.device, except that under torchrun each process takes the
    GPU of its LOCAL_RANK (one GPU per process), whatever index run.device names."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0)) if env_world_size() > 1 else None
    device = resolve_device(spec, local_rank)
    if local_rank is not None and device.type == "cuda" and device.index != local_rank:
        warnings.warn(f"run.device={spec!r} under torchrun: using cuda:{local_rank} "
                      "(one GPU per process)", stacklevel=3)
        device = torch.device("cuda", local_rank)
    return device


def setup_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (or an existing one); single-process otherwise."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", dist.get_rank())), False)
    world = env_world_size()
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return DistInfo(rank, world, local_rank, True)


def teardown_distributed(info: DistInfo) -> None:
    if info.initialised_here and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def any_flags(flags: list[bool], info: DistInfo, device: torch.device) -> list[bool]:
    """Element-wise OR of per-rank flags, so every rank stops (or fails) at the same step."""
    if not info.enabled:
        return list(flags)
    dev = device if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([1 if f else 0 for f in flags], dtype=torch.int32, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def broadcast_object(obj, info: DistInfo):
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj, info: DistInfo) -> list:
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def ddp_buffer_sync_kwargs() -> dict:
    """Buffers (batch-norm running stats) synced from rank 0 before each forward: the keyword
    is `forward_sync_buffers` in recent torch, `broadcast_buffers` before."""
    params = inspect.signature(DDP.__init__).parameters
    return {"forward_sync_buffers": True} if "forward_sync_buffers" in params else {"broadcast_buffers": True}


def state_digest(*modules: torch.nn.Module) -> str:
    """SHA-256 over every parameter and buffer, bit for bit (replica consistency check)."""
    h = hashlib.sha256()
    for m in modules:
        for name, t in m.state_dict().items():
            h.update(name.encode())
            h.update(t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                     if t.numel() else b"")
    return h.hexdigest()


def sync_buffers(info: DistInfo, *modules: torch.nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) to every rank. Between checkpoints
    each replica updates its own running statistics from its own batches (only rank 0's are
    saved); at a checkpoint all ranks take rank 0's, so a resumed run matches an uninterrupted one."""
    if not info.enabled:
        return
    for m in modules:
        for b in m.buffers():
            dist.broadcast(b.data, src=0)


def check_replicas(info: DistInfo, *modules: torch.nn.Module) -> str:
    """Raise if any rank's parameters or buffers differ from rank 0's (call sync_buffers
    first); returns the digest."""
    digest = state_digest(*modules)
    digests = gather_objects(digest, info)
    if len(set(digests)) > 1:
        bad = [r for r, d in enumerate(digests) if d != digests[0]]
        raise DistributedError(f"model replicas differ between processes (ranks {bad} differ from "
                               "rank 0); training is not synchronised, stop and report this")
    return digest
