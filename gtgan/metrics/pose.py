"""Pose variety on the synthetic birds: do a caption's samples differ in pose and place as the
real pictures of that caption do?

The pixel diversity ratio (diversity.py) can be met by background texture alone while every
sample of a caption shows the bird in one pose (measured: docs/demo.md). The synthetic birds
know their pose, which no caption mentions: which way the bird faces, where it stands across
and up the picture, and its tilt (data.synthetic.POSE_VALUES). A second small judge, the
attribute judge's network with one head per pose variable, is trained on real train pictures
to read them. Per variable, the number is how often two samples of one caption (independent
noise) are read as different classes, divided by how often two real pictures of different
items are: 0 when the noise never moves the bird, about 1 when it moves it as the data does.
Copies are read alike whatever the judge's accuracy, so a collapsed generator scores 0.
"""
from __future__ import annotations

from typing import Any

import torch

from .attributes import JUDGE_SIZE, AttributeJudgeError, load_or_train_judge
from .registry import Metric, register_metric
from .report import fmt, table_row

POSE_RELIABLE = 0.8  # pose variables the judge reads worse than this on held-out real pictures
# are reported but left out of the headline
POSE_JUDGE_VERSION = 1  # part of the judge's cache key


class _PoseView:
    """A data set seen with its pose classes as its attributes, for the judge's trainer."""

    def __init__(self, dataset):
        if not getattr(dataset, "pose_values", None):
            raise AttributeJudgeError(
                f"{type(dataset).__name__} has no pose labels; the pose metric needs the "
                "synthetic birds (data.kind=synthetic)")
        self.dataset = dataset
        self.attribute_values = dataset.pose_values

    def __len__(self) -> int:
        return len(self.dataset)

    def attributes(self, index: int) -> dict[str, str]:
        return self.dataset.pose(index)

    def real_image(self, index: int, size: int) -> torch.Tensor:
        return self.dataset.real_image(index, size)


class PoseVariety:
    """Streaming per-variable disagreement of sample pairs (generated) and item pairs (real)."""

    def __init__(self, names: list[str]):
        self.names = names
        self.gen_diff = torch.zeros(len(names), dtype=torch.float64)
        self.real_diff = torch.zeros(len(names), dtype=torch.float64)
        self.across_diff = torch.zeros(len(names), dtype=torch.float64)
        self.gen_n = self.real_n = 0

    def update(self, first: torch.Tensor, second: torch.Tensor, real: torch.Tensor,
               real_other: torch.Tensor, first_other: torch.Tensor | None = None) -> None:
        """Predicted class indices (n, variables): two samples of each caption; the real
        pictures of two different items per row (any number of rows) and, optionally, the
        first samples of those two items' captions (is the bird posed alike across captions?)."""
        self.gen_diff += (first != second).double().sum(0)
        self.gen_n += first.size(0)
        self.real_diff += (real != real_other).double().sum(0)
        self.real_n += real.size(0)
        if first_other is not None:
            self.across_diff += (first_other[0] != first_other[1]).double().sum(0)

    def result(self, holdout: dict[str, float]) -> dict[str, Any]:
        per: dict[str, Any] = {}
        for v, name in enumerate(self.names):
            gen = float(self.gen_diff[v]) / self.gen_n if self.gen_n else None
            real = float(self.real_diff[v]) / self.real_n if self.real_n else None
            across = float(self.across_diff[v]) / self.real_n if self.real_n else None
            per[name] = {"generated": gen, "real": real,
                         "ratio": gen / real if gen is not None and real else None,
                         "across_captions_ratio": across / real if real else None,
                         "judge_holdout": holdout.get(name),
                         "reliable": holdout.get(name, 0.0) >= POSE_RELIABLE}
        headline = [r["ratio"] for r in per.values() if r["reliable"] and r["ratio"] is not None]
        return {"ratio": sum(headline) / len(headline) if headline else None,
                "reliable_variables": [k for k, r in per.items() if r["reliable"]],
                "per_variable": per, "n": self.gen_n, "n_real_pairs": self.real_n}


def load_or_train_pose_judge(ctx):
    """(the pose judge on ctx's device, its info), from the cache or trained on ctx's real train
    split; named in the report's weights ("pose_judge")."""
    train_set, ident = ctx.judge_training_data("the pose metric")
    judge, info = load_or_train_judge(
        _PoseView(train_set), dict(ident, judge="pose", pose_judge_version=POSE_JUDGE_VERSION),
        ctx.opts.cache_path(), ctx.opts.judge, ctx.log, what="pose judge", file_stem="pose-judge")
    ctx.weights["pose_judge"] = info
    return judge.to(ctx.device), info


@register_metric
class PoseMetric(Metric):
    name = "pose"
    order = 45
    needs_second_samples = True

    def __init__(self, ctx):
        super().__init__(ctx)
        _PoseView(ctx.dataset)  # the evaluated split must have poses too
        self.judge, self.info = load_or_train_pose_judge(ctx)
        self.names = list(self.judge.attribute_names)
        self.variety = {s: PoseVariety(self.names) for s in ctx.sizes}

    def update(self, batch) -> None:
        first = self.judge.predict(batch.generated.float())
        second = self.judge.predict(batch.second.float())
        # Real pairs: neighbouring samples of the batch that come from different items.
        index = torch.tensor([i for i, _, _ in batch.items])
        other = (index != index.roll(1)).nonzero().flatten()
        real = self.judge.predict(batch.reals())
        self.variety[batch.size].update(first, second, real[other], real.roll(1, 0)[other],
                                        (first[other], first.roll(1, 0)[other]))

    def result(self, size: int) -> dict[str, Any]:
        return self.variety[size].result(self.info.get("holdout_accuracy", {}))

    def settings(self) -> dict[str, Any]:
        return {"variables": "facing (2 classes); place across, place up, tilt (3 equally "
                             "likely bins of their range each)",
                "judge_input": f"{JUDGE_SIZE} px", "reliable_threshold": POSE_RELIABLE,
                "generated": "two samples of a caption, independent noise: how often read "
                             "as different classes",
                "real": "the real pictures of neighbouring samples from different items",
                "ratio": "generated / real per variable; the headline averages the variables "
                         "the judge reads reliably; 0 = the noise never moves the bird",
                "across_captions_ratio": "the same for the first samples of those two items' "
                                         "captions: 0 = every caption's bird in one pose"}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r = result
        parts = ", ".join(f"{k} {fmt(v['ratio'], 2)} (across captions "
                          f"{fmt(v.get('across_captions_ratio'), 2)})"
                          for k, v in r["per_variable"].items())
        return [table_row("pose variety (samples / real)", size, fmt(r["ratio"], 3), "-", r["n"],
                          f"per variable: {parts}; 0 = every sample of a caption in one pose, "
                          f"1 = as varied as real pictures; headline over "
                          f"{', '.join(r['reliable_variables']) or 'none'}")]

    @classmethod
    def weights_line(cls, key, weights) -> str | None:
        if key != "pose_judge":
            return None
        acc = weights.get("holdout_accuracy", {})
        return (f"- {key}: trained on {weights.get('n_train')} real train images, held-out "
                f"accuracy {', '.join(f'{k} {v:.3f}' for k, v in acc.items())}; "
                f"sha256 {weights.get('sha256', '-')}")

    @classmethod
    def training_scalars(cls, size, result) -> dict[str, float]:
        return {} if result["ratio"] is None else {f"pose_variety_{size}": result["ratio"]}
