"""FID, the metric: Frechet distance between Inception pool3 statistics of the generated images
and of the split's real images (reference statistics cached, see reference.py), per scale."""
from __future__ import annotations

from typing import Any

from .frechet import FeatureStats, frechet_distance_details
from .inception import RESIZE, describe_inception
from .reference import real_reference_stats
from .registry import Metric, register_metric
from .report import fmt, not_comparable_note, table_row


@register_metric
class FIDMetric(Metric):
    name = "fid"
    order = 20
    min_samples = 2  # a covariance

    def __init__(self, ctx):
        super().__init__(ctx)
        self.net = ctx.fid_features()
        self.refs = {s: real_reference_stats(ctx.dataset, self.net, s, ctx.data_ident, ctx.opts, ctx.log)
                     for s in ctx.sizes}
        self.stats = {s: FeatureStats() for s in ctx.sizes}

    def update(self, batch) -> None:
        self.stats[batch.size].update(batch.inception(self.net).pool)

    def result(self, size: int) -> dict[str, Any]:
        mu, sigma, n_ref, ref_info = self.refs[size]
        gen = self.stats[size]
        value, method = frechet_distance_details(gen.mean, gen.cov, mu, sigma)
        dim = int(mu.shape[0])
        out = {"value": value, "n": gen.n, "n_reference": n_ref, "sqrt_method": method,
               "reference_file": ref_info["file"], "reference_sha256": ref_info["sha256"]}
        if min(gen.n, n_ref) <= dim:
            out["note"] = (f"fewer samples than feature dimensions ({dim}): covariances are "
                           "rank-deficient and FID is strongly biased upward; compare only "
                           "with the same N")
        return out

    def settings(self) -> dict[str, Any]:
        return {"features": "pool3 (2048-d)", "resize": RESIZE,
                "statistics": "float64 streaming mean / unbiased covariance",
                "sqrtm": "scipy.linalg.sqrtm (eps 1e-6 offset if singular)",
                "extractor": describe_inception(self.net.identity),
                "reference": {str(s): ref[3] for s, ref in self.refs.items()}}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r = result
        note = (f"vs {r['n_reference']} real images; {report['settings']['fid']['extractor']}"
                f"{'; ' + r['note'] if r.get('note') else ''}")
        return [table_row(f"FID{not_comparable_note(report)}", size, fmt(r["value"], 3), "-", r["n"], note)]
