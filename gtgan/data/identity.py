"""What the real images of a split are, as a JSON-able dict: the key of every cache built from
them (FID reference statistics, the attribute judge) and the `data` field of reports."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .registry import data_kind


def data_identity(data_cfg, split: str, dataset) -> dict[str, Any]:
    """What the real images of a split are: config fields plus a hash of three of them."""
    ident: dict[str, Any] = {"kind": data_cfg.kind, "split": split, "items": len(dataset)}
    ident.update({f: getattr(data_cfg, f) for f in data_kind(data_cfg.kind).defining_fields})
    if getattr(dataset, "data_version", None) is not None:  # bumped when pictures change
        ident["data_version"] = dataset.data_version
    else:
        ident.update(root=str(Path(data_cfg.root).expanduser().resolve()) if data_cfg.root else "",
                     skip_missing=data_cfg.skip_missing)
    h = hashlib.sha256()
    size = min(dataset.image_sizes)
    for i in sorted({0, len(dataset) // 2, len(dataset) - 1}):
        h.update(dataset.real_image(i, size).numpy().tobytes())
    ident["fingerprint"] = h.hexdigest()[:16]
    return ident
