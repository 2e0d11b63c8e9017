"""Sentence vectors of a data set's captions, computed once per (encoder, captions) and cached
as safetensors. A cache file is keyed by the encoder identity and the exact caption text, so
changing either computes new vectors; the stale file of the same encoder is removed."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save

from ..fileio import atomic_write_bytes
from ..folders import sweep_leftovers
from .encoders import TextEncoder

log = logging.getLogger("gtgan.data")


def identity_key(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def captions_key(captions: list[str]) -> str:
    h = hashlib.sha256()
    for c in captions:
        h.update(c.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def encode_unique(encoder: TextEncoder, captions: list[str], batch: int = 4096) -> np.ndarray:
    """(len(captions), d) float32, encoding each distinct caption once."""
    unique: dict[str, int] = {}
    rows = np.array([unique.setdefault(c, len(unique)) for c in captions], np.int64)
    texts = list(unique)
    parts = [encoder.encode(texts[i:i + batch]).float().numpy() for i in range(0, len(texts), batch)]
    table = np.concatenate(parts) if parts else np.zeros((0, encoder.dim), np.float32)
    return table[rows] if len(rows) else table


def cached_embeddings(encoder: TextEncoder, captions: list[str], cache_dir: str | Path | None,
                      ) -> np.ndarray:
    """Vectors for `captions` (in order), from `cache_dir` when it holds them, else computed
    and stored there (if writable). `cache_dir` must belong to one caption set (one data set
    split): a new file replaces the same encoder's older one. None disables caching."""
    if cache_dir is None:
        return encode_unique(encoder, captions)
    cache_dir = Path(cache_dir)
    ident, caps = identity_key(encoder.identity), captions_key(captions)
    path = cache_dir / f"{ident}-{caps}.safetensors"
    if path.exists():
        try:
            arr = load_file(str(path))["embeddings"]
            if arr.shape == (len(captions), encoder.dim):
                return arr
        except Exception as exc:  # a damaged cache is recomputed, never trusted
            log.warning("ignoring unreadable embedding cache %s (%s)", path, exc)
    arr = encode_unique(encoder, captions)
    meta = {"identity": json.dumps(encoder.identity, sort_keys=True), "captions_sha256": caps,
            "count": str(len(captions))}
    try:
        sweep_leftovers(cache_dir)  # temporary files of killed writers (live ones are kept)
        atomic_write_bytes(path, save({"embeddings": np.ascontiguousarray(arr)}, metadata=meta))
        for old in cache_dir.glob(f"{ident}-*.safetensors"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not cache text vectors in %s (%s); they are recomputed next time",
                    cache_dir, exc)
    return arr
