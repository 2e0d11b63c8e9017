"""`gtgan data inspect`: what a data root holds, what is missing or broken, caption
statistics, and a PNG grid of example crops with their captions. Each data kind brings its
own report (`DataKind.inspect`, built from the helpers here); `inspect_data` picks the kind.
(Named checks, not inspect, so as not to shadow the standard library's module.)"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import DataConfig
from ..errors import DataError
from ..fileio import atomic_save_image
from ..images import caption_grid
from .base import multiscale_views
from .registry import data_kind, detect_kind


@dataclass
class InspectReport:
    lines: list[str] = field(default_factory=list)
    ok: bool = True  # usable as it is (with the given skip_missing)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    grid: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def caption_stats(captions: list[list[str]]) -> str:
    lines = [c for cs in captions for c in cs]
    if not lines:
        return "captions: none"
    words = np.array([len(c.split()) for c in lines])
    vocab = {w.strip(".,;:!?") for c in lines for w in c.lower().split()}
    per = np.array([len(cs) for cs in captions])
    return (f"captions: {len(lines):,} in {len(captions):,} files ({per.min()}-{per.max()} per image); "
            f"words per caption min {words.min()} / mean {words.mean():.1f} / max {words.max()}; "
            f"vocabulary {len(vocab):,} words")


def table_lines(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in rows]


def centre_crop(img: Image.Image, size: int = 128) -> Image.Image:
    t = multiscale_views(img, [size], None)[0]
    return Image.fromarray(((t.permute(1, 2, 0).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8))


def pick_examples(n: int, k: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, n - 1, min(k, n))}) if n else []


def write_grid(report: InspectReport, out, examples) -> None:
    if out and examples:
        atomic_save_image(out, caption_grid(examples))
        report.grid = str(out)
        report.lines.append(f"grid: wrote {out} ({len(examples)} example crops with a caption)")
    elif out:
        report.lines.append("grid: nothing to show (no usable items)")
    elif examples:  # asked for no file: say how to get the picture, never write one unasked
        report.lines.append(f"grid: not written; add --out grid.png to see {len(examples)} "
                            "example crops with a caption")


def inspect_data(root: str | Path | None, kind: str | None = None, skip_missing: bool = False,
                 out: str | Path | None = None, examples: int = 8, verify: bool = True,
                 synthetic_count: int = 3000, synthetic_seed: int = 0) -> InspectReport:
    """Report on a data root (kind detected from it when not given; see registry.detect_kind)."""
    if kind is not None:
        entry = data_kind(kind, "--kind")
        if not entry.needs_root:
            root = ""
    if kind is None or entry.needs_root:
        if not root:
            raise DataError("give a data root (or --kind KIND for a built-in data set)")
        if not Path(root).exists():
            raise DataError(f"{root}: data root not found")
        entry = data_kind(kind or detect_kind(root), "--kind")
    cfg = DataConfig(kind=entry.name, root=str(root or ""), skip_missing=skip_missing,
                     synthetic_count=synthetic_count, synthetic_seed=synthetic_seed)
    return entry.inspect(cfg, out, examples, verify)
