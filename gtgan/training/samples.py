"""Sample grids at fixed noise and fixed captions, so grids of different steps compare."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..fileio import atomic_save_image, atomic_write_text
from ..images import captioned_grid, tensor_to_pil
from ..models import TextFeatures

SAMPLES_PER_CAPTION = 4


@dataclass
class FixedSamples:
    captions: list[str]
    indices: list[int]  # test-split items the captions come from
    text: TextFeatures  # k captions
    z: torch.Tensor  # (k * per_caption, z_dim)
    eps: torch.Tensor  # (k * per_caption, c_dim)
    per_caption: int


def fixed_samples(test_set, count: int, z_dim: int, c_dim: int, seed: int,
                  per_caption: int = SAMPLES_PER_CAPTION) -> FixedSamples:
    """`count` captions spread evenly over the test split (caption 0 of each picked item),
    with noise drawn once from `seed`: the same for every step and every resume."""
    n = len(test_set)
    count = max(1, min(count, n))
    indices = sorted({int(round(i)) for i in np.linspace(0, n - 1, count)})
    captions = [test_set.captions(i)[0] for i in indices]
    text = TextFeatures.stack([test_set.text_features(i, 0) for i in indices])
    g = torch.Generator().manual_seed(seed + 7_777)
    k = len(indices) * per_caption
    z = torch.randn(k, z_dim, generator=g)
    eps = torch.randn(k, c_dim, generator=g)
    return FixedSamples(captions, indices, text, z, eps, per_caption)


def render_grid(images: torch.Tensor, captions: list[str], per_caption: int) -> Image.Image:
    """One row per caption (written to its left), `per_caption` samples per row."""
    pil = tensor_to_pil(images)
    rows = [pil[r * per_caption:(r + 1) * per_caption] for r in range(len(captions))]
    return captioned_grid(rows, captions)


@torch.no_grad()
def write_samples(sample_fn, fixed: FixedSamples, out_dir: Path, name: str
                  ) -> tuple[Path, Image.Image]:
    """Generate with `sample_fn(features, z, eps) -> list of images per scale` and write
    out_dir/name.png (largest scale, captions drawn) and name.txt (the captions)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = fixed.text.repeat_interleave(fixed.per_caption)
    images = sample_fn(text, fixed.z, fixed.eps)[-1]
    grid = render_grid(images, fixed.captions, fixed.per_caption)
    png = out_dir / f"{name}.png"
    atomic_save_image(png, grid)
    lines = [f"row {r + 1} (test item {i}): {c}"
             for r, (i, c) in enumerate(zip(fixed.indices, fixed.captions))]
    atomic_write_text(out_dir / f"{name}.txt", "\n".join(lines) + "\n")
    return png, grid
