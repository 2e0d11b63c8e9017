"""Text-image agreement on the synthetic birds: a small CNN judge with one head per attribute.

The judge is trained on real synthetic pictures of the train split (a fixed part held out to
measure its own accuracy), then applied to generated pictures, each judged only on the
attributes its caption mentions. The same judge on the real pictures of the evaluated split,
with the same captions' attributes, gives the real-image level, the ceiling a generator can
reach; chance is 1 / (number of values), averaged over the judged mentions.

Trained judges are cached (safetensors + JSON metadata) under a key of everything that changes
them: the synthetic data set (seed, count, attribute values), the judge's config and the
gtgan version, so a data set is judged by one network trained once.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torch import nn

from .. import __version__
from ..errors import GtganError
from ..fileio import atomic_write_bytes, atomic_write_text, sha256_file
from .registry import Metric, register_metric
from .report import fmt, table_row

JUDGE_SIZE = 64
JUDGE_RELIABLE = 0.9  # attributes the judge reads worse than this on held-out real images
# are reported but left out of the headline accuracy


class AttributeJudgeError(GtganError):
    """The attribute judge cannot be built or loaded for this data set."""


@dataclass(frozen=True)
class JudgeConfig:
    """How the judge is trained; part of its cache key."""

    width: int = 16
    epochs: int = 6
    batch_size: int = 64
    lr: float = 3e-3
    max_train_images: int = 2000  # of the train split, the first ones
    holdout_images: int = 300  # the next ones: the judge's own held-out accuracy
    seed: int = 0


class AttributeClassifier(nn.Module):
    """4 stride-2 conv blocks on 64x64 input, a shared layer, one linear head per attribute.

    Flattening (not global pooling) keeps where colours are, which tells body from wing."""

    def __init__(self, attribute_values: dict[str, Sequence[str]], width: int = 16):
        super().__init__()
        self.attribute_names = list(attribute_values)
        self.num_values = [len(v) for v in attribute_values.values()]
        w = width
        chans = [3, w, 2 * w, 4 * w, 4 * w]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * w * 16, 8 * w),
                                      nn.ReLU(inplace=True))
        self.heads = nn.ModuleList(nn.Linear(8 * w, k) for k in self.num_values)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Logits per attribute for images in [-1, 1] of any size (resized to 64 px)."""
        if images.shape[-1] != JUDGE_SIZE or images.shape[-2] != JUDGE_SIZE:
            images = F.interpolate(images.float(), size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear",
                                   align_corners=False, antialias=True)
        h = self.features(images.float())
        return [head(h) for head in self.heads]

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(n, n_attributes) predicted value indices."""
        was = self.training
        self.eval()
        out = torch.stack([lg.argmax(1) for lg in self(images)], dim=1)
        self.train(was)
        return out


# ---------------------------------------------------------------- data access

def _attribute_space(dataset) -> dict[str, list[str]]:
    values = getattr(dataset, "attribute_values", None)
    if not values:
        raise AttributeJudgeError(
            f"{type(dataset).__name__} has no attribute labels; attribute accuracy needs the "
            "synthetic birds (data.kind=synthetic). On CUB use IS/FID/SSIM and r_precision "
            "(docs/evaluation.md)")
    return {k: list(v) for k, v in values.items()}


def _label_row(dataset, index: int, names: list[str], values: dict[str, list[str]]) -> list[int]:
    attrs = dataset.attributes(index)
    return [values[n].index(attrs[n]) for n in names]


def mentioned_targets(dataset, index: int, k: int, names: list[str],
                      values: dict[str, list[str]]) -> list[int]:
    """Per attribute, the value index caption k of item `index` mentions, or -1 if it doesn't."""
    mentioned = dataset.caption_attributes(index, k)
    out = []
    for n in names:
        v = mentioned.get(n)
        if v is None:
            out.append(-1)
        elif isinstance(v, (int, np.integer)):
            out.append(int(v))
        else:
            try:
                out.append(values[n].index(v))
            except ValueError:
                raise AttributeJudgeError(f"caption {k} of item {index} gives {n}={v!r}, not one "
                                          f"of {values[n]}") from None
    return out


def _images(dataset, indices: Sequence[int]) -> torch.Tensor:
    return torch.stack([dataset.real_image(int(i), JUDGE_SIZE) for i in indices])


# ---------------------------------------------------------------- training and caching

def judge_key(data_identity: dict[str, Any], cfg: JudgeConfig) -> dict[str, Any]:
    return {"data": data_identity, "judge": asdict(cfg), "judge_size": JUDGE_SIZE,
            "gtgan_version": __version__}


def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def train_judge(train_set, cfg: JudgeConfig = JudgeConfig(), log=None,
                what: str = "attribute judge") -> tuple[AttributeClassifier, dict]:
    """Train on the first max_train_images real pictures of `train_set`; measure on the next
    holdout_images. Returns the judge (eval mode) and its measured held-out accuracy."""
    values = _attribute_space(train_set)
    names = list(values)
    n = len(train_set)
    n_hold = min(cfg.holdout_images, max(1, n // 5))
    n_train = min(cfg.max_train_images, n - n_hold)
    if n_train < 2:
        raise AttributeJudgeError(f"the train split has {n} images; the attribute judge needs more")
    x = _images(train_set, range(n_train))
    y = torch.tensor([_label_row(train_set, i, names, values) for i in range(n_train)])
    xh = _images(train_set, range(n_train, n_train + n_hold))
    yh = torch.tensor([_label_row(train_set, i, names, values) for i in range(n_train, n_train + n_hold)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = AttributeClassifier(values, cfg.width)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        g = torch.Generator().manual_seed(cfg.seed)
        steps = cfg.epochs * ((n_train + cfg.batch_size - 1) // cfg.batch_size)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
        net.train()
        for epoch in range(cfg.epochs):
            perm = torch.randperm(n_train, generator=g)
            for s in range(0, n_train, cfg.batch_size):
                idx = perm[s:s + cfg.batch_size]
                logits = net(x[idx])
                loss = sum(F.cross_entropy(lg, y[idx, a]) for a, lg in enumerate(logits))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if log:
                log(f"{what} epoch {epoch + 1}/{cfg.epochs}: loss {loss.item():.3f}")
    net.eval()
    pred = net.predict(xh)
    per_attr = {nm: float((pred[:, a] == yh[:, a]).float().mean()) for a, nm in enumerate(names)}
    info = {"n_train": n_train, "n_holdout": n_hold, "holdout_accuracy": per_attr,
            "holdout_accuracy_mean": float(np.mean(list(per_attr.values())))}
    return net, info


def load_or_train_judge(train_set, data_identity: dict[str, Any], cache_dir: str | Path | None,
                        cfg: JudgeConfig = JudgeConfig(), log=None, what: str = "attribute judge",
                        file_stem: str = "attr-judge") -> tuple[AttributeClassifier, dict]:
    """The cached judge for (data set, config) if there is one, else train and cache it."""
    values = _attribute_space(train_set)
    key = judge_key(data_identity, cfg)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{file_stem}-{_key_hash(key)}.safetensors"
        meta_path = path.with_suffix(".json")
        if path.exists() and meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
                if meta.get("key") == key:
                    net = AttributeClassifier(values, cfg.width)
                    net.load_state_dict(load_file(str(path)))
                    net.eval()
                    info = dict(meta["info"], cache_file=str(path), cached=True,
                                sha256=sha256_file(path))
                    return net, info
            except Exception:  # unreadable cache: retrain and overwrite
                pass
    net, info = train_judge(train_set, cfg, log, what)
    info = dict(info, config=asdict(cfg), key=key, cached=False)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        atomic_write_bytes(path, save_safetensors(state))
        atomic_write_text(meta_path, json.dumps({"key": key, "info": info}, indent=2, sort_keys=True))
        info = dict(info, cache_file=str(path), sha256=sha256_file(path))
    return net, info


# ---------------------------------------------------------------- accuracy

class AttributeAccuracy:
    """Streaming accuracy of predictions against caption-mentioned targets (-1 = not judged).

    Also sums the chance level of every judged mention (1 / number of values), so the report
    can put chance beside the accuracy for exactly the same mentions."""

    def __init__(self, names: list[str], num_values: list[int]):
        self.names = list(names)
        self.num_values = list(num_values)
        self.correct = np.zeros(len(names), np.int64)
        self.count = np.zeros(len(names), np.int64)

    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> None:
        p = np.asarray(predictions.cpu(), np.int64)
        t = np.asarray(targets.cpu(), np.int64)
        judged = t >= 0
        self.correct += ((p == t) & judged).sum(axis=0)
        self.count += judged.sum(axis=0)

    def result(self) -> dict[str, Any]:
        per = {n: (float(c / k) if k else None) for n, c, k in zip(self.names, self.correct, self.count)}
        total = int(self.count.sum())
        chance = (float(sum(k / v for k, v in zip(self.count, self.num_values)) / total)
                  if total else None)
        return {"accuracy": float(self.correct.sum() / total) if total else None,
                "per_attribute": per, "judged": {n: int(k) for n, k in zip(self.names, self.count)},
                "mentions": total,
                "chance": chance,
                "chance_per_attribute": {n: 1.0 / v for n, v in zip(self.names, self.num_values)}}


# ---------------------------------------------------------------- the metric

def _attr_result(gen: dict, real: dict, judge_info: dict | None, n: int) -> dict[str, Any]:
    held = (judge_info or {}).get("holdout_accuracy", {})
    reliable = [a for a, v in held.items() if v is not None and v >= JUDGE_RELIABLE]

    def headline(res: dict) -> float | None:
        c = sum(res["per_attribute"][a] * res["judged"][a] for a in reliable
                if res["per_attribute"].get(a) is not None)
        k = sum(res["judged"][a] for a in reliable if res["per_attribute"].get(a) is not None)
        return c / k if k else None

    def chance(res: dict) -> float | None:
        k = sum(res["judged"][a] for a in reliable)
        return (sum(res["judged"][a] * res["chance_per_attribute"][a] for a in reliable) / k
                if k else None)

    g, r = headline(gen), headline(real)
    per = {}
    for a in gen["per_attribute"]:
        per[a] = {"generated": gen["per_attribute"][a], "real": real["per_attribute"][a],
                  "chance": gen["chance_per_attribute"][a], "judge_holdout": held.get(a),
                  "judged": gen["judged"][a], "reliable": a in reliable}
    return {"accuracy": g, "real_accuracy": r, "chance": chance(gen),
            "gap_to_real": (r - g) if g is not None and r is not None else None,
            "reliable_attributes": reliable,
            "accuracy_all_attributes": gen["accuracy"], "real_accuracy_all_attributes": real["accuracy"],
            "chance_all_attributes": gen["chance"],
            "judge_holdout_mean": (judge_info or {}).get("holdout_accuracy_mean"),
            "mentions": gen["mentions"], "n": n, "per_attribute": per}


@register_metric
class AttributeAccuracyMetric(Metric):
    """Synthetic birds: does the judge read, in each generated picture, the attributes its
    caption mentions? The same on the real pictures gives the ceiling."""

    name = "attr"
    order = 50

    def __init__(self, ctx):
        super().__init__(ctx)
        self.judge = ctx.judge()
        self.values = {k: list(v) for k, v in ctx.dataset.attribute_values.items()}
        self.names = list(self.judge.attribute_names)
        self.generated = {s: AttributeAccuracy(self.names, self.judge.num_values) for s in ctx.sizes}
        self.real = {s: AttributeAccuracy(self.names, self.judge.num_values) for s in ctx.sizes}
        self.count = {s: 0 for s in ctx.sizes}

    def update(self, batch) -> None:
        targets = torch.tensor([mentioned_targets(self.ctx.dataset, i, k, self.names, self.values)
                                for i, k, _ in batch.items])
        self.generated[batch.size].update(self.judge.predict(batch.images), targets)
        self.real[batch.size].update(self.judge.predict(batch.reals()), targets)
        self.count[batch.size] += len(batch.items)

    def result(self, size: int) -> dict[str, Any]:
        return _attr_result(self.generated[size].result(), self.real[size].result(),
                            getattr(self.judge, "info", {}), self.count[size])

    def settings(self) -> dict[str, Any]:
        return {"judge_input": "64 px (larger images resized bilinearly with antialias)",
                "judged": "only the attributes each caption mentions",
                "reliable_threshold": JUDGE_RELIABLE,
                "headline": "mentions of attributes the judge reads at >= the "
                            "threshold on held-out real images"}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r, rows = result, []
        if r["accuracy"] is not None:
            rows.append(table_row("attribute accuracy", size, fmt(r["accuracy"], 3), "-", r["n"],
                                  f"chance {fmt(r['chance'], 3)}, real images "
                                  f"{fmt(r['real_accuracy'], 3)} (gap {fmt(r['gap_to_real'], 3)}); "
                                  f"attributes the judge reads: {', '.join(r['reliable_attributes'])}"))
        gap = (r["real_accuracy_all_attributes"] - r["accuracy_all_attributes"]
               if r["accuracy_all_attributes"] is not None else None)
        rows.append(table_row("attribute accuracy, all attributes", size,
                              fmt(r["accuracy_all_attributes"], 3), "-", r["n"],
                              f"chance {fmt(r['chance_all_attributes'], 3)}, real images "
                              f"{fmt(r['real_accuracy_all_attributes'], 3)} (gap {fmt(gap, 3)}); judge "
                              f"held-out {fmt(r['judge_holdout_mean'], 3)}"
                              f"{'' if r['accuracy'] is not None else '; the judge reads no attribute reliably'}"))
        return rows

    @classmethod
    def report_sections(cls, report) -> list[str]:
        lines = []
        for size, res in report["results"].items():
            if "attr" not in res:
                continue
            lines += ["", f"## Attributes at {size} px (each image judged on what its caption mentions)",
                      "", "| attribute | generated | real images | chance | judge held-out | mentions | in headline |",
                      "|---|---|---|---|---|---|---|"]
            for a, r in res["attr"]["per_attribute"].items():
                lines.append(f"| {a} | {fmt(r['generated'], 3)} | {fmt(r['real'], 3)} | "
                             f"{fmt(r['chance'], 3)} | {fmt(r['judge_holdout'], 3)} | {r['judged']} | "
                             f"{'yes' if r['reliable'] else 'no (judge unreliable)'} |")
        return lines

    @classmethod
    def weights_line(cls, key, weights) -> str | None:
        if key != "attribute_judge":
            return None
        w = weights
        return (f"- {key}: trained on {w.get('n_train')} real train images, held-out "
                f"accuracy {fmt(w.get('holdout_accuracy_mean'), 3)} on {w.get('n_holdout')}; "
                f"sha256 {w.get('sha256', '-')}")

    @classmethod
    def training_scalars(cls, size, result) -> dict[str, float]:
        out = {}
        if result["accuracy"] is not None:  # attributes the judge reads reliably
            out[f"attr_acc_{size}"] = result["accuracy"]
            out[f"attr_real_{size}"] = result["real_accuracy"]
        if result["accuracy_all_attributes"] is not None:
            out[f"attr_acc_all_{size}"] = result["accuracy_all_attributes"]
            out[f"attr_real_all_{size}"] = result["real_accuracy_all_attributes"]
        return out
