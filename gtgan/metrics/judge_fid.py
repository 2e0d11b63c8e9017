"""judge_fid: do the pictures have the birds' shapes, or only their colours?

Attribute accuracy asks whether the right colours are present; a blob in the wing colour on
the right background passes half of it. This metric is FID's formula on the attribute judge's
penultimate features (the shared layer after its four conv blocks, 128-d for the default
width 16), which keep where colours are in the picture and so the layout of body, wing, head
and tail. The generated pictures are compared with every real picture of the evaluated split
(the reference). Beside that distance stand two anchors measured on exactly the same footing
(the same captions, so the same number of pictures and the same finite-sample bias):
- `real`: the real pictures those captions were written for, against the reference: where a
  generator that drew the real birds would land;
- `blurred_real`: the same pictures blurred (Gaussian, sigma = width / 32: 4 px at 128 px),
  which keeps the colour layout as soft blobs in place but removes outlines, legs, beak and
  eye: where "right colours, no shapes" lands. A single blob of one colour lies far beyond.
`blob_scale` = (value - real) / (blurred_real - real): 0 = as real, 1 = as the blurred birds.

The reference and the anchors are taken at the largest scale and are the same for every scale
(the judge reads everything at 64 px), so 64 px and 128 px numbers can be compared: the second
stage should bring 128 px closer to real. Deterministic: the judge is fixed (cached, seeded),
the blur is a fixed kernel, the statistics are float64. Synthetic birds only (the judge needs
attribute labels).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torchvision.transforms.functional import gaussian_blur

from .frechet import FeatureStats, frechet_distance_details
from .registry import EvalError, Metric, register_metric
from .report import fmt, table_row

BLUR_SIGMA_PER_WIDTH = 1 / 32  # 4 px at 128 px: the cartoon's parts melt into one soft blob


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (n, 3, S, S) images, kernel 2 * ceil(3 sigma) + 1 taps, reflected edges."""
    taps = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(images, [taps, taps], [sigma, sigma])


def judge_features(judge: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(n, d) output of the judge's shared layer (`judge.features`), on exactly the input path
    of its predictions (resizing included)."""
    captured = []
    hook = judge.features.register_forward_hook(lambda module, args, out: captured.append(out))
    try:
        was = judge.training
        judge.eval()
        with torch.no_grad():
            judge(images)
        judge.train(was)
    finally:
        hook.remove()
    return captured[0].float()


def _distance(a: FeatureStats, b: FeatureStats) -> tuple[float, str]:
    return frechet_distance_details(a.mean, a.cov, b.mean, b.cov)


@register_metric
class JudgeFIDMetric(Metric):
    """Frechet distance on attribute-judge features: generated vs real, beside the same for
    the captions' real pictures and for those pictures blurred."""

    name = "judge_fid"
    order = 60
    min_samples = 2  # a covariance

    def __init__(self, ctx):
        super().__init__(ctx)
        self.judge = ctx.judge()
        self.reference_size = max(ctx.sizes)
        self.sigma = BLUR_SIGMA_PER_WIDTH * self.reference_size
        dataset, bs = ctx.dataset, ctx.opts.batch_size
        self.reference = FeatureStats()
        for start in range(0, len(dataset), bs):
            reals = torch.stack([dataset.real_image(i, self.reference_size)
                                 for i in range(start, min(start + bs, len(dataset)))])
            self.reference.update(judge_features(self.judge, reals.to(ctx.device)))
        self.generated = {s: FeatureStats() for s in ctx.sizes}
        self.real, self.blurred = FeatureStats(), FeatureStats()

    def update(self, batch) -> None:
        self.generated[batch.size].update(judge_features(self.judge, batch.images))
        if batch.size == self.reference_size:  # the anchors, once per batch
            reals = batch.reals()
            self.real.update(judge_features(self.judge, reals))
            self.blurred.update(judge_features(self.judge, blur(reals, self.sigma)))

    def result(self, size: int) -> dict[str, Any]:
        value, method = _distance(self.generated[size], self.reference)
        real = _distance(self.real, self.reference)[0]
        blurred = _distance(self.blurred, self.reference)[0]
        out = {"value": value, "real": real, "blurred_real": blurred,
               "blob_scale": (value - real) / (blurred - real) if blurred > real else None,
               "n": self.generated[size].n, "n_reference": self.reference.n,
               "reference_size": self.reference_size, "sqrt_method": method}
        if out["n"] <= self.reference.dim:
            out["note"] = (f"fewer samples than feature dimensions ({self.reference.dim}): the "
                           "anchors may even be out of order; use more samples")
        return out

    def settings(self) -> dict[str, Any]:
        return {"features": f"attribute judge's shared layer ({self.reference.dim}-d, after ReLU), "
                            "input resized to 64 px as for its predictions",
                "distance": "Frechet distance of float64 mean / unbiased covariance (FID's formula)",
                "reference": f"every real picture of the split once, centre crop at "
                             f"{self.reference_size} px, the same for every scale",
                "real": "the real pictures the evaluated captions belong to (one per sample), "
                        "against the reference",
                "blurred_real": f"those pictures after a Gaussian blur of sigma {self.sigma:g} px "
                                f"(width / {round(1 / BLUR_SIGMA_PER_WIDTH)}), taps 2 ceil(3 sigma) + 1, "
                                "reflected edges, against the reference: colour layout kept, shapes gone",
                "blob_scale": "(value - real) / (blurred_real - real): 0 = as real, 1 = as blurred"}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r = result
        return [table_row("judge FD (shapes; lower is better)", size, fmt(r["value"], 2), "-", r["n"],
                          f"real pictures of the same captions {fmt(r['real'], 2)}, blurred (no "
                          f"shapes) {fmt(r['blurred_real'], 2)}: blob scale {fmt(r['blob_scale'], 2)} "
                          f"(0 real, 1 blurred); vs {r['n_reference']} real at {r['reference_size']} px"
                          f"{'; ' + r['note'] if r.get('note') else ''}")]

    @classmethod
    def training_scalars(cls, size, result) -> dict[str, float]:
        out = {f"judge_fd_{size}": result["value"]}
        if result["blob_scale"] is not None:
            out[f"judge_fd_blob_scale_{size}"] = result["blob_scale"]
        return out
