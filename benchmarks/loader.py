"""Images/s of the data loader (decode + crop + negatives + text), as training reads it: the
same EpochSampler batches and gtgan.data.make_loader the training loop uses.

    python benchmarks/loader.py [--cub ROOT] [--batches 20] [--batch-size 16] [--workers 0 2]

Prints a table for the built-in synthetic birds and, if found, CUB (default: the cub-mini
slice next to the repository, with skip_missing). Every item carries two images (the real
one and the mismatched negative), so images/s counts both.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from gtgan.config import DataConfig, EncoderConfig
from gtgan.data import EpochSampler, build_dataset, make_loader

DEFAULT_CUB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cub-mini"


def measure(ds, batch_size: int, workers: int, batches: int) -> tuple[float, float]:
    sampler = EpochSampler(len(ds), batch_size, seed=0)
    epoch = 0

    def epoch_iter():  # a new loader per epoch, as the training loop makes
        ds.set_epoch(epoch)
        return iter(make_loader(ds, sampler.batches(epoch), num_workers=workers, seed=epoch))

    it = epoch_iter()
    next(it)  # worker start-up and first batch are not steady state
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:
            epoch += 1
            it = epoch_iter()
            batch = next(it)
        n += batch["images"][0].shape[0]
    dt = time.perf_counter() - t0
    return n / dt, 2 * n / dt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cub", default=str(DEFAULT_CUB))
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.environ.setdefault("GTGAN_CACHE_DIR", tempfile.mkdtemp(prefix="gtgan-bench-"))
    bow = EncoderConfig(kind="bow", dim=0)
    sets = [("synthetic", DataConfig(kind="synthetic", synthetic_count=1000, encoder=bow))]
    if (Path(args.cub) / "birds").is_dir() or (Path(args.cub) / "CUB_200_2011").is_dir():
        sets.append(("cub", DataConfig(kind="cub", root=args.cub, skip_missing=True, encoder=bow)))
    else:
        print(f"(no CUB at {args.cub}; synthetic only)", file=sys.stderr)
    print(f"sizes {args.sizes}, batch {args.batch_size}, {args.batches} batches, "
          f"{os.cpu_count()} CPUs, torch threads 1 in the main process")
    print(f"{'data':10} {'items':>6} {'workers':>7} {'items/s':>8} {'images/s':>9}")
    for name, cfg in sets:
        ds = build_dataset(cfg, "train", args.sizes, train=True, seed=0)
        for w in args.workers:
            items, images = measure(ds, args.batch_size, w, args.batches)
            print(f"{name:10} {len(ds):>6} {w:>7} {items:>8.0f} {images:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
