"""lite0_fd, the shape measure: Frechet distance and KID on ImageNet EfficientNet-Lite0 features.

Attribute accuracy asks whether the right colours are present; this asks whether the pictures
look like the real ones, outlines included. The judge's 128-d colour features could not tell
(docs/evaluation.md); pooled 1280-d ImageNet features can: on the demo's held-out birds the
gap between real and 4 px-blurred pictures is 38 times the spread over seeds of the halves.

Footing: the split's pictures are divided once, by a fixed seeded permutation, into two
disjoint halves (at most `samples` each). Half A is the reference; everything is compared with
it. Half B gives the anchors, each against A:
- `real`: B itself: where a generator that drew real birds would land;
- `blurred_real`: B blurred (Gaussian, sigma = width / 32: 4 px at 128 px, as judge_fid):
  colour layout kept as soft blobs, outlines, beak, eye and legs gone;
- `blobs`: each picture of B replaced by one ellipse where a bird sits (centred, 0.7 x 0.6 of
  the picture) in the mean colour of what lies inside it, on the mean colour of what lies
  outside: colour and rough place, no shape at all.
`position` = (value - real) / (blurred_real - real): 0 = as real, 1 = as the blurred birds.
At a smaller scale (64 px) real pictures drawn at that size are not at 0 (upsampled, they lose
detail): `real_at_size` is their distance and `position_at_size` the position counted from it.
Every scale's pictures are resized to FEED_SIZE before the network, the reference at the
largest scale, so 64 px and 128 px numbers are on one footing. KID (torchmetrics' unbiased
polynomial-kernel MMD, seeded subsets) beside FD: it does not depend on the sample count in
expectation, so anchors with |B| pictures and the generated set with N compare directly.

NOT comparable with published FID/KID numbers (those use the TF Inception); comparable only
with numbers made with the same weights (their sha256 is in the report) and settings.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.image.kid import poly_mmd

from ..models.lite0 import Lite0Features
from ..models.fidelity import WeightsError
from .frechet import FeatureStats, frechet_distance_details, frechet_distance_from_samples
from .judge_fid import BLUR_SIGMA_PER_WIDTH, blur
from .registry import EvalError, Metric, register_metric
from .report import fmt, table_row

FEED_SIZE = 128  # pictures go to the network at this size (see docs/evaluation.md for 224)
HALVES_SEED = 0  # the permutation that divides the split into reference and anchor halves
KID_SUBSETS, KID_SUBSET_MAX, KID_KEEP = 50, 1000, 5000  # KID uses the first KID_KEEP features
BLOB_AXES = (0.35, 0.30)  # ellipse semi-axes as fractions of width and height
NOT_COMPARABLE = "EfficientNet-Lite0 features: not comparable with published FID/KID"


def blob_pictures(images: torch.Tensor) -> torch.Tensor:
    """(n, 3, S, S) -> one centred ellipse per picture in the mean colour inside it, on the
    mean colour outside it: the colours in roughly their places, every shape gone."""
    n, _, h, w = images.shape
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    inside = ((xx / (2 * BLOB_AXES[0])) ** 2 + (yy / (2 * BLOB_AXES[1])) ** 2 <= 1).to(images)
    fill = (images * inside).sum((2, 3), keepdim=True) / inside.sum()
    ground = (images * (1 - inside)).sum((2, 3), keepdim=True) / (1 - inside).sum()
    return fill * inside + ground * (1 - inside)


def pooled_features(net: Lite0Features, images: torch.Tensor) -> torch.Tensor:
    """(n, 1280) float32 pooled Lite0 features of [-1, 1] images, resized to FEED_SIZE
    (bilinear, antialiased when shrinking)."""
    if images.shape[-1] != FEED_SIZE:
        images = F.interpolate(images.float(), size=(FEED_SIZE, FEED_SIZE), mode="bilinear",
                               antialias=images.shape[-1] > FEED_SIZE, align_corners=False)
    with torch.no_grad():
        return net(images.float(), ("pooled",))["pooled"].float()


def kid(a: torch.Tensor, b: torch.Tensor, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of torchmetrics' unbiased polynomial MMD^2 over KID_SUBSETS seeded subsets
    of min(len(a), len(b), KID_SUBSET_MAX) features from each set."""
    m = min(len(a), len(b), KID_SUBSET_MAX)
    if m < 2:
        return float("nan"), float("nan")
    g = torch.Generator().manual_seed(seed)
    a, b = a.double(), b.double()
    vals = torch.stack([poly_mmd(a[torch.randperm(len(a), generator=g)[:m]],
                                 b[torch.randperm(len(b), generator=g)[:m]])
                        for _ in range(KID_SUBSETS)])
    return float(vals.mean()), float(vals.std())


def halves(count: int, limit: int, seed: int = HALVES_SEED) -> tuple[list[int], list[int]]:
    """Two disjoint index sets of a split of `count` pictures, at most `limit` each."""
    perm = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    half = min(count // 2, limit)
    return sorted(perm[:half]), sorted(perm[half:2 * half])


class _Set:
    """FD statistics of all features and the first KID_KEEP features for KID."""

    def __init__(self):
        self.stats, self.kept = FeatureStats(), []

    def update(self, f: torch.Tensor) -> None:
        self.stats.update(f)
        room = KID_KEEP - sum(len(k) for k in self.kept)
        if room > 0:
            self.kept.append(f[:room].cpu())

    def features(self) -> torch.Tensor:
        return torch.cat(self.kept)


def _fd(a: _Set, b: _Set) -> tuple[float, str]:
    """From the features when both sets are kept whole (exact, fast), else from the statistics."""
    if a.stats.n <= KID_KEEP and b.stats.n <= KID_KEEP:
        return frechet_distance_from_samples(a.features(), b.features()), "singular values of X_a X_b^T"
    return frechet_distance_details(a.stats.mean, a.stats.cov, b.stats.mean, b.stats.cov)


@register_metric
class Lite0FDMetric(Metric):
    """Frechet distance and KID on EfficientNet-Lite0 pooled features, generated vs half the
    split's real pictures, beside the other half as it is, blurred, and as one-colour blobs."""

    name = "lite0_fd"
    order = 55
    min_samples = 2  # a covariance

    def __init__(self, ctx):
        super().__init__(ctx)
        try:
            self.net = Lite0Features("imagenet").to(ctx.device)
        except WeightsError as exc:
            raise EvalError(f"lite0_fd: {exc}") from None
        ctx.weights["lite0_features"] = dict(self.net.identity, description=(
            f"ImageNet EfficientNet-Lite0 ({self.net.weights_file}), pooled 1280-d at {FEED_SIZE} px"))
        self.reference_size = max(ctx.sizes)
        self.sigma = BLUR_SIGMA_PER_WIDTH * self.reference_size
        ref_idx, anchor_idx = halves(len(ctx.dataset), ctx.opts.samples)
        if len(anchor_idx) < 2:
            raise EvalError(f"lite0_fd needs a split of at least 4 pictures, this one has "
                            f"{len(ctx.dataset)}")
        self.reference = self._real_set(ref_idx, lambda x: x)
        self.anchors = {"real": self._real_set(anchor_idx, lambda x: x),
                        "blurred_real": self._real_set(anchor_idx, lambda x: blur(x, self.sigma)),
                        "blobs": self._real_set(anchor_idx, blob_pictures)}
        # The floor of each smaller scale: B's real pictures at that size (FD only).
        self.real_at = {s: _fd(self._real_set(anchor_idx, lambda x: x, s), self.reference)[0]
                        for s in ctx.sizes if s != self.reference_size}
        self.generated = {s: _Set() for s in ctx.sizes}
        self._anchor_values = None

    def _real_set(self, indices: list[int], change, size: int | None = None) -> _Set:
        out, bs, ds = _Set(), self.ctx.opts.batch_size, self.ctx.dataset
        for start in range(0, len(indices), bs):
            reals = torch.stack([ds.real_image(i, size or self.reference_size)
                                 for i in indices[start:start + bs]])
            out.update(pooled_features(self.net, change(reals).to(self.ctx.device)))
        return out

    def update(self, batch) -> None:
        self.generated[batch.size].update(pooled_features(self.net, batch.images))

    def result(self, size: int) -> dict[str, Any]:
        gen, ref = self.generated[size], self.reference.features()
        value, method = _fd(gen, self.reference)
        if self._anchor_values is None:  # the same for every scale
            self._anchor_values = ({k: _fd(v, self.reference)[0] for k, v in self.anchors.items()},
                                   {k: kid(v.features(), ref)[0] for k, v in self.anchors.items()})
        anchors, kids = self._anchor_values
        kid_mean, kid_std = kid(gen.features(), ref)
        real, blurred = anchors["real"], anchors["blurred_real"]
        k_real, k_blur = kids["real"], kids["blurred_real"]
        floor = self.real_at.get(size, real)
        return {"value": value, **anchors, "position": (value - real) / (blurred - real)
                if blurred > real else None, "real_at_size": floor,
                "position_at_size": (value - floor) / (blurred - floor) if blurred > floor else None,
                "kid": kid_mean, "kid_std": kid_std, "kid_anchors": kids,
                "kid_position": (kid_mean - k_real) / (k_blur - k_real) if k_blur > k_real else None,
                "n": gen.stats.n, "n_reference": self.reference.stats.n,
                "n_anchor": self.anchors["real"].stats.n, "reference_size": self.reference_size,
                "weights_sha256": self.net.sha256, "sqrt_method": method,
                "comparable_with_published": False}

    def settings(self) -> dict[str, Any]:
        return {"features": f"EfficientNet-Lite0 global-average-pooled head (1280-d), pictures "
                            f"resized to {FEED_SIZE} px (bilinear)",
                "weights_sha256": self.net.sha256, "note": NOT_COMPARABLE,
                "halves": f"the split's pictures permuted with seed {HALVES_SEED}, split into two "
                          f"disjoint halves of at most --samples each: reference (A) and anchors (B)",
                "blurred_real": f"B blurred, Gaussian sigma {self.sigma:g} px at "
                                f"{self.reference_size} px (width / {round(1 / BLUR_SIGMA_PER_WIDTH)})",
                "blobs": f"each picture of B as one centred ellipse (semi-axes {BLOB_AXES[0]:g} W, "
                         f"{BLOB_AXES[1]:g} H) in its inside's mean colour on its outside's mean colour",
                "distance": "FD: float64 mean / unbiased covariance (FID's formula; Tr((S_a S_b)^(1/2)) "
                            f"from the singular values of X_a X_b^T when both sets are at most "
                            f"{KID_KEEP}); KID: "
                            f"torchmetrics poly_mmd (cubic kernel), {KID_SUBSETS} seeded subsets of "
                            f"min(n, {KID_SUBSET_MAX})",
                "position": "(value - real) / (blurred_real - real): 0 = as real, 1 = as blurred",
                "position_at_size": "the same from real_at_size, B's real pictures drawn at the "
                                    "evaluated size (below the largest, they lose detail too)"}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r = result
        note = (f"real {fmt(r['real'], 1)}, blurred {fmt(r['blurred_real'], 1)}, one-colour blobs "
                f"{fmt(r['blobs'], 1)}: position {fmt(r['position'], 2)} (0 real, 1 blurred)")
        if r.get("real_at_size") is not None and r["real_at_size"] != r["real"]:
            note += (f"; real pictures drawn at {size} px {fmt(r['real_at_size'], 1)}, position "
                     f"counted from there {fmt(r['position_at_size'], 2)}")
        note += f"; vs {r['n_reference']} real, anchors {r['n_anchor']} each; {NOT_COMPARABLE}"
        k = {name: fmt(1000 * r["kid_anchors"][name], 2) for name in ("real", "blurred_real", "blobs")}
        kid_note = (f"real {k['real']}, blurred {k['blurred_real']}, blobs {k['blobs']}: position "
                    f"{fmt(r['kid_position'], 2)} (std over {KID_SUBSETS} subsets)")
        return [table_row("shape FD, Lite0 (lower is better)", size, fmt(r["value"], 1), "-", r["n"], note),
                table_row("shape KID x1000, Lite0", size, fmt(1000 * r["kid"], 2),
                          fmt(1000 * r["kid_std"], 2), r["n"], kid_note)]

    @classmethod
    def weights_line(cls, key, weights) -> str | None:
        if key != "lite0_features":
            return None
        return f"- {key}: {weights.get('description')}; sha256 {weights.get('sha256')}"

    @classmethod
    def training_scalars(cls, size, result) -> dict[str, float]:
        out = {f"lite0_fd_{size}": result["value"], f"lite0_kid_{size}": result["kid"]}
        if result["position"] is not None:
            out[f"lite0_fd_position_{size}"] = result["position"]
        return out


