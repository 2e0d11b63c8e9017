"""Data: CUB in the StackGAN layout, one's own captioned images, built-in synthetic birds, and
the text encoders that turn captions into sentence vectors (see docs/data.md)."""
from __future__ import annotations

from typing import Any

from ..errors import DataError
from .encoders import (BOW_DIM, EncoderError, TextEncoder, build_encoder,
                       check_encoder_compatible, encoder_from_identity)

__all__ = ["BOW_DIM", "EncoderError", "TextEncoder", "build_encoder", "check_encoder_compatible",
           "encoder_from_identity", "build_dataset", "make_loader"]


def build_dataset(data_cfg: Any, split: str, image_sizes: list[int], train: bool, seed: int,
                  encoder: TextEncoder | None = None):
    """The data set `data_cfg.kind` for `split` ("train"/"test" or data_cfg.train_split /
    test_split); items as in docs/CONTRIBUTING-interfaces.md.

    `train` selects random crops, flips and caption draws (else centre crop, caption 0).
    `seed` drives that per-item randomness with the epoch (`set_epoch`). Pass `encoder` to
    share one already built (e.g. a sentence-transformers model) between splits.
    """
    kind = data_cfg.kind
    if kind == "cub":
        from .cub import CubDataset

        encoder = encoder or build_encoder(data_cfg.encoder, data_root=data_cfg.root)
        return CubDataset(data_cfg.root, _split_name(data_cfg, split), encoder, image_sizes,
                          train, seed, skip_missing=data_cfg.skip_missing)
    if kind == "folder":
        from .folder import FolderDataset

        encoder = encoder or build_encoder(data_cfg.encoder)
        return FolderDataset(data_cfg.root, _split_name(data_cfg, split), encoder, image_sizes,
                             train, seed, skip_missing=data_cfg.skip_missing)
    if kind == "synthetic":
        from .synthetic import SyntheticBirds

        encoder = encoder or build_encoder(data_cfg.encoder)
        return SyntheticBirds(_split_name(data_cfg, split), data_cfg.synthetic_count,
                              data_cfg.synthetic_seed, encoder, image_sizes, train, seed)
    raise DataError(f"data.kind = {kind!r}: must be cub, folder or synthetic")


def _split_name(data_cfg: Any, split: str) -> str:
    if split == "train":
        return data_cfg.train_split or "train"
    if split == "test":
        return data_cfg.test_split or "test"
    return split


def make_loader(dataset, batch_size: int, shuffle: bool, num_workers: int = 0,
                device: Any = "cpu", seed: int = 0, drop_last: bool = False):
    """A DataLoader with pinned memory on CUDA, persistent workers, and a seeded shuffle."""
    import torch
    from torch.utils.data import DataLoader

    dev = torch.device(device) if not isinstance(device, torch.device) else device
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      pin_memory=dev.type == "cuda", drop_last=drop_last, generator=gen,
                      persistent_workers=num_workers > 0,
                      prefetch_factor=4 if num_workers > 0 else None)
