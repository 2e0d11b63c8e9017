"""How training reads a data set: a seeded permutation per epoch, sharded across processes,
resumable by position (`EpochSampler`), and the one DataLoader over its batches (`make_loader`,
also what benchmarks/loader.py measures).

Unlike torch's RandomSampler this keeps no hidden state: the order of epoch e is a function of
(seed, e) only, so a resumed run rebuilds it and skips the batches already consumed.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader, default_collate

from ..models.conditioning import TextFeatures


class EpochSampler:
    """Batches of dataset indices for one process.

    Each epoch: permutation of range(n) seeded by (seed, epoch); padded by wrapping to a
    multiple of world_size (as DistributedSampler), rank r takes every world_size-th index;
    incomplete last batches are dropped (StackGAN++ uses drop_last=True, and batch norm needs
    full batches). `batch_size` is per process.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if n <= 0:
            raise ValueError("the training set is empty")
        self.n = n
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.per_rank = -(-n // world_size)
        self.steps_per_epoch = self.per_rank // batch_size

    def permutation(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch * 7_919 + 12_345) % 2**63)
        perm = torch.randperm(self.n, generator=g).tolist()
        total = self.per_rank * self.world_size
        perm = (perm * (total // self.n + 1))[:total]
        return perm[self.rank::self.world_size]

    def batches(self, epoch: int, start: int = 0) -> list[list[int]]:
        """This process's batches of `epoch`, from batch number `start` on."""
        idx = self.permutation(epoch)
        b = self.batch_size
        return [idx[i * b:(i + 1) * b] for i in range(start, self.steps_per_epoch)]


def make_loader(dataset, batches: Sequence[Sequence[int]], num_workers: int = 0,
                device: Any = "cpu", seed: int = 0) -> DataLoader:
    """One epoch's loader over precomputed batches (`EpochSampler.batches`), pinned memory on
    CUDA. Its own generator seeds the workers, so the global torch RNG is never drawn from; the
    items themselves depend only on (dataset seed, epoch, index), never on the worker count."""
    dev = device if isinstance(device, torch.device) else torch.device(device)
    return DataLoader(dataset, batch_sampler=batches, num_workers=num_workers,
                      pin_memory=dev.type == "cuda", collate_fn=collate_items,
                      prefetch_factor=4 if num_workers > 0 else None,
                      generator=torch.Generator().manual_seed(seed % 2**63))


def collate_items(items: list[dict]) -> dict:
    """torch's default collate, with the items' TextFeatures stacked into one batch's."""
    text = TextFeatures.stack([it["text"] for it in items])
    batch = default_collate([{k: v for k, v in it.items() if k != "text"} for it in items])
    batch["text"] = text
    return batch
