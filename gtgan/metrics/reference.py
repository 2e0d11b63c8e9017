"""FID reference statistics of a split's real images: computed once, cached in an .npz stamped
with how they were made (extractor, data identity, image size, resize), reused while the stamp
matches; an explicit file made differently is refused."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..errors import GtganError
from ..fileio import atomic_write_bytes, shown
from .frechet import FeatureStats
from .inception import RESIZE, InceptionNet, sha256_file
from .options import EvalOptions

STATS_FORMAT = "gtgan-fid-stats"
STATS_VERSION = 1


class ReferenceStatsError(GtganError):
    """A reference-statistics file is unreadable or was made differently from what is asked."""

def save_reference_stats(path: str | Path, mean: np.ndarray, cov: np.ndarray, n: int,
                         stamp: dict[str, Any]) -> Path:
    """Write mean, covariance, count and the JSON stamp to an .npz, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"format": STATS_FORMAT, "version": STATS_VERSION, "stamp": stamp},
                      sort_keys=True)
    buf = io.BytesIO()
    np.savez(buf, mu=np.asarray(mean, np.float64), sigma=np.asarray(cov, np.float64),
             n=np.int64(n), meta=np.array(meta))
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_reference_stats(path: str | Path, expected_stamp: dict[str, Any] | None = None
                         ) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any]]:
    """(mean, cov, n, stamp) from a file written by save_reference_stats (no pickles read).

    With expected_stamp, a file made differently is refused, naming the fields that differ.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            mu, sigma, n, meta = f["mu"], f["sigma"], int(f["n"]), json.loads(str(f["meta"]))
    except FileNotFoundError:
        raise ReferenceStatsError(f"{path}: reference statistics file not found") from None
    except (KeyError, ValueError, OSError) as exc:
        raise ReferenceStatsError(f"{path}: not a gtgan reference statistics file ({exc}); "
                                  "delete it to have it recomputed") from None
    if meta.get("format") != STATS_FORMAT:
        raise ReferenceStatsError(f"{path}: format {shown(meta.get('format'))}, expected {STATS_FORMAT!r}")
    stamp = meta.get("stamp", {})
    if expected_stamp is not None:
        diff = stamp_differences(stamp, expected_stamp)
        if diff:
            raise ReferenceStatsError(
                f"{path}: reference statistics were made differently ({'; '.join(diff)}); "
                "delete the file or point to another one to have them recomputed")
    return mu, sigma, n, stamp


def stamp_differences(found: dict, expected: dict) -> list[str]:
    """Human-readable 'key: file has X, wanted Y' for every differing top-level key."""
    out = []
    for key in sorted(set(found) | set(expected)):
        if found.get(key) != expected.get(key):
            out.append(f"{key}: file has {json.dumps(found.get(key), sort_keys=True)[:120]}, "
                       f"wanted {json.dumps(expected.get(key), sort_keys=True)[:120]}")
    return out



def _feature_stamp(net: InceptionNet) -> dict:
    keep = ("kind", "weights", "sha256", "num_classes", "transform_input", "random")
    return {k: net.identity[k] for k in keep if k in net.identity}


def reference_stamp(net: InceptionNet, data_ident: dict, size: int) -> dict[str, Any]:
    return {"extractor": _feature_stamp(net), "data": data_ident, "image_size": size,
            "real_images": "dataset.real_image(i, size): centre crop, every item of the split once",
            "resize": RESIZE, "features": "pool3 (2048-d)", "count": data_ident["items"],
            "gtgan_version": __version__}


def _file_info(path: Path, stamp: dict, cached: bool) -> dict[str, Any]:
    return {"file": str(path), "sha256": sha256_file(path), "stamp": stamp, "cached": cached}


def real_reference_stats(dataset, net: InceptionNet, size: int, data_ident: dict,
                         opts: EvalOptions, log=None) -> tuple[np.ndarray, np.ndarray, int, dict]:
    """Mean/cov of the split's real images at `size`, from the stamped cache or computed.

    An explicit opts.fid_reference file made differently is refused; a cached one (its name
    carries the stamp's hash) is recomputed."""
    stamp = reference_stamp(net, data_ident, size)
    digest = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:16]
    if opts.fid_reference:
        path = Path(opts.fid_reference.replace("{size}", str(size))).expanduser()
        if path.exists():
            mu, sigma, n, _ = load_reference_stats(path, stamp)
            return mu, sigma, n, _file_info(path, stamp, True)
    else:
        path = opts.cache_path() / f"fid-ref-{data_ident['kind']}-{data_ident['split']}-{size}px-{digest}.npz"
        if path.exists():
            try:
                mu, sigma, n, _ = load_reference_stats(path, stamp)
                return mu, sigma, n, _file_info(path, stamp, True)
            except ReferenceStatsError as exc:
                if log:
                    log(f"recomputing reference statistics: {exc}")
    stats = FeatureStats()
    bs = opts.batch_size
    for s in range(0, len(dataset), bs):
        batch = torch.stack([dataset.real_image(i, size) for i in range(s, min(s + bs, len(dataset)))])
        stats.update(net(batch.to(next(net.parameters()).device)).pool)
    save_reference_stats(path, stats.mean, stats.cov, stats.n, stamp)
    if log:
        log(f"wrote FID reference statistics {path}")
    return stats.mean, stats.cov, stats.n, _file_info(path, stamp, False)
