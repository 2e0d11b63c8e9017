"""SSIM (docs/paper.md#evaluation) per image pair, from torchmetrics, with the conventions fixed.

Settings (written into every report as SSIM_SETTINGS):
- Gaussian window, sigma 1.5, 11 taps (torchmetrics derives the size from sigma as
  2 * int(3.5 * sigma + 0.5) + 1 = 11, the same truncation scikit-image uses); K1 0.01,
  K2 0.03; C3 = C2 / 2 and exponents 1, so eq. 10 reduces to the usual two-factor form.
- Data range fixed at 1.0 on images mapped from [-1, 1] to [0, 1] and clamped there (the
  same value as data range 2.0 on [-1, 1]); never estimated from the batch.
- Population (not sample) covariances, in float64 by default: torchmetrics forms variances
  as E[x^2] - E[x]^2, and in float32 that cancellation cost up to 2e-5 against scikit-image on
  cub-mini photos and gave 0.99991 for an image with itself. float32 is ~20x faster on CPUs
  (`dtype=torch.float32`), still far cheaper than the Inception forward pass either way.
- Border: the SSIM map is computed with torchmetrics (reflect padding), then the 5-pixel
  border (half the window) is dropped before averaging, so only pixels whose window lies
  inside the image count. This is scikit-image's convention; torchmetrics >= 1.x itself
  averages over the padded border, which differs at the edges.
- Colour: the map is averaged over channels and pixels alike, which equals scikit-image's
  mean of per-channel SSIMs (all channels have the same size).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from .registry import Metric, register_metric
from .report import fmt, table_row

SIGMA = 1.5
KERNEL_SIZE = 2 * int(3.5 * SIGMA + 0.5) + 1  # 11
BORDER = (KERNEL_SIZE - 1) // 2  # 5
K1, K2 = 0.01, 0.03
DATA_RANGE = 1.0

SSIM_SETTINGS = {
    "implementation": "torchmetrics.functional.image.structural_similarity_index_measure "
                      "(full SSIM map), border cropped, averaged over channels and pixels",
    "gaussian_kernel": True, "kernel_size": KERNEL_SIZE, "sigma": SIGMA, "k1": K1, "k2": K2,
    "c3": "C2/2", "data_range": DATA_RANGE,
    "value_mapping": "images in [-1, 1] mapped to [0, 1] by (x + 1) / 2 and clamped",
    "border_cropped_px": BORDER, "covariance": "population",
    "dtype": "float64",
    "equivalent_skimage": "structural_similarity(gaussian_weights=True, sigma=1.5, "
                          "use_sample_covariance=False, data_range=1.0, channel_axis=...)",
    "pairing": "each generated image against the real image its caption belongs to "
               "(deterministic centre crop at the generated size)",
}


def ssim_per_image(generated: torch.Tensor, real: torch.Tensor,
                   value_range: tuple[float, float] = (-1.0, 1.0),
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(n,) float64 SSIM of each pair of (n, C, H, W) images given in `value_range`."""
    if generated.shape != real.shape or generated.ndim != 4:
        raise ValueError(f"SSIM needs two (n, C, H, W) batches of one shape, got "
                         f"{tuple(generated.shape)} and {tuple(real.shape)}")
    if min(generated.shape[-2:]) <= 2 * BORDER:
        raise ValueError(f"images of {tuple(generated.shape[-2:])} px are too small for an "
                         f"{KERNEL_SIZE}-tap SSIM window")
    lo, hi = value_range
    scale = hi - lo

    def unit(x: torch.Tensor) -> torch.Tensor:
        return ((x.detach().to(dtype) - lo) / scale).clamp_(0.0, 1.0)

    _, full = structural_similarity_index_measure(
        unit(generated), unit(real), gaussian_kernel=True, sigma=SIGMA, kernel_size=KERNEL_SIZE,
        data_range=DATA_RANGE, k1=K1, k2=K2, return_full_image=True)
    inner = full[..., BORDER:-BORDER, BORDER:-BORDER].to(torch.float64)
    return inner.reshape(inner.shape[0], -1).mean(dim=1)


class MeanStd:
    """Streaming mean and (population) std of scalars in float64 (Welford's update)."""

    def __init__(self):
        self.n = 0
        self._mean = 0.0
        self._m2 = 0.0

    def update(self, values) -> None:
        if isinstance(values, torch.Tensor):
            values = values.detach().to("cpu", torch.float64).flatten().tolist()
        for v in values:
            self.n += 1
            d = float(v) - self._mean
            self._mean += d / self.n
            self._m2 += d * (float(v) - self._mean)

    @property
    def mean(self) -> float:
        return self._mean if self.n else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / self.n) if self.n else math.nan


@register_metric
class SSIMMetric(Metric):
    """Mean and std over images of each sample's SSIM against its caption's real picture."""

    name = "ssim"
    order = 30

    def __init__(self, ctx):
        super().__init__(ctx)
        self.values = {s: MeanStd() for s in ctx.sizes}

    def update(self, batch) -> None:
        self.values[batch.size].update(ssim_per_image(batch.images, batch.reals()))

    def result(self, size: int) -> dict[str, Any]:
        v = self.values[size]
        return {"mean": v.mean, "std": v.std, "n": v.n}

    def settings(self) -> dict[str, Any]:
        return SSIM_SETTINGS

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r = result
        return [table_row("SSIM", size, fmt(r["mean"]), fmt(r["std"]), r["n"],
                          "vs the real image of each caption; std over images")]
