"""Synthetic birds: attribute accuracy on captions written in a person's own words.

The held-out captions come from the same templates as the training captions. People type
other grammar and other words (gtgan/data/synthetic_own_words.py: 40 captions, each with the
attributes it means). This metric generates `OWN_WORDS_SAMPLES` pictures of each of them, lets
the attribute judge read them, and scores the attributes each caption names, exactly as the
`attr` metric scores held-out captions (same judge, same reliable attributes), overall and
for the two groups ("grammar": template colour words in new sentence forms; "synonyms": other
colour and part words too). The report puts the held-out number beside it.
"""
from __future__ import annotations

from typing import Any

import torch

from ..data.synthetic_own_words import OWN_WORDS_CAPTIONS
from .attributes import AttributeAccuracy, _attr_result
from .registry import EvalError, Metric, register_metric
from .report import fmt, table_row

OWN_WORDS_SAMPLES = 8  # pictures per caption (noise from the evaluation seed + 2)
_NOISE_OFFSET = 2  # the main stream uses seed, diversity seed + 1


@register_metric
class OwnWordsMetric(Metric):
    name = "own_words"
    order = 52

    def __init__(self, ctx):
        super().__init__(ctx)
        if not hasattr(ctx.dataset, "attribute_values"):
            raise EvalError("--metrics own_words: the captions describe synthetic birds; this data "
                            "set has no attribute judge")
        if getattr(ctx, "encode_text", None) is None:
            raise EvalError("--metrics own_words needs the model's text encoder (evaluate through "
                            "gtgan eval or evaluate_run)")
        self.judge = ctx.judge()
        self.names = list(self.judge.attribute_names)
        self.values = {k: list(v) for k, v in ctx.dataset.attribute_values.items()}
        self._results: dict[int, dict[str, Any]] | None = None

    def update(self, batch) -> None:
        """Scores its own captions, not the stream's."""

    def _targets(self, attributes: dict[str, str]) -> list[int]:
        return [self.values[n].index(attributes[n]) if n in attributes else -1 for n in self.names]

    def _measure(self) -> dict[int, dict[str, Any]]:
        ctx, k = self.ctx, OWN_WORDS_SAMPLES
        captions = [c for c in OWN_WORDS_CAPTIONS for _ in range(k)]
        text = ctx.encode_text([c.text for c in captions]).float()  # TextFeatures
        g = torch.Generator().manual_seed(int(ctx.opts.seed) + _NOISE_OFFSET)
        z = torch.randn(len(captions), ctx.z_dim, generator=g)
        eps = torch.randn(len(captions), ctx.c_dim, generator=g)
        groups = ("all", "grammar", "synonyms")
        acc = {s: {grp: AttributeAccuracy(self.names, self.judge.num_values) for grp in groups}
               for s in ctx.sizes}
        step = max(1, ctx.opts.batch_size)
        for b in range(0, len(captions), step):
            part = captions[b:b + step]
            targets = torch.tensor([self._targets(c.attributes) for c in part])
            kinds = [c.kind for c in part]
            images = ctx.generate(text.select(slice(b, b + step)), z[b:b + step], eps[b:b + step])
            for size, img in zip(ctx.sizes, images):
                pred = self.judge.predict(img.detach().float().to(ctx.device))
                acc[size]["all"].update(pred, targets)
                for grp in groups[1:]:
                    rows = [i for i, kind in enumerate(kinds) if kind == grp]
                    if rows:
                        acc[size][grp].update(pred[rows], targets[rows])
        info = getattr(self.judge, "info", {})
        out = {}
        for size in ctx.sizes:
            res = {}
            for grp in groups:
                r = acc[size][grp].result()
                full = _attr_result(r, r, info, len(captions))
                res[grp] = {"accuracy": full["accuracy"], "chance": full["chance"],
                            "per_attribute": {a: v["generated"] for a, v in full["per_attribute"].items()
                                              if v["judged"]},
                            "reliable_attributes": full["reliable_attributes"],
                            "captions": sum(1 for c in OWN_WORDS_CAPTIONS if grp == "all" or c.kind == grp)}
            out[size] = res
        return out

    def result(self, size: int) -> dict[str, Any]:
        if self._results is None:
            self._results = self._measure()
        r = dict(self._results[size])
        r["samples_per_caption"] = OWN_WORDS_SAMPLES
        return r

    def settings(self) -> dict[str, Any]:
        return {"captions": len(OWN_WORDS_CAPTIONS), "samples_per_caption": OWN_WORDS_SAMPLES,
                "noise_seed": f"evaluation seed + {_NOISE_OFFSET}",
                "source": "gtgan/data/synthetic_own_words.py",
                "judged": "the attributes each caption names, as the attr metric"}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        held = (report.get("results", {}).get(str(size), {}).get("attr") or {}).get("accuracy")
        a = result["all"]
        ratio = (a["accuracy"] / held) if held and a["accuracy"] is not None else None
        return [table_row("own-words captions", size, fmt(a["accuracy"], 3), "-",
                          f"{a['captions']} x {result['samples_per_caption']}",
                          f"chance {fmt(a['chance'], 3)}; other grammar "
                          f"{fmt(result['grammar']['accuracy'], 3)}, other words "
                          f"{fmt(result['synonyms']['accuracy'], 3)}; held-out templates "
                          f"{fmt(held, 3)} (ratio {fmt(ratio, 2)})")]

    @classmethod
    def training_scalars(cls, size, result) -> dict[str, float]:
        a = result["all"]["accuracy"]
        return {} if a is None else {"own_words": a}
