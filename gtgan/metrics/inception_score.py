"""Inception Score, IS = exp(E_x KL(p(y|x) || p(y))), computed in float64.

Split convention as in Salimans et al.'s reference code (and StackGAN's copy of it): the N
predictions are cut into `splits` consecutive parts of N // splits rows (a remainder is left
out), IS is computed on each part, and the mean and population std (ddof=0) over the parts are
reported. An optional seeded permutation first (as torch-fidelity does) keeps the parts from
following the generation order, which walks the split image by image and so class by class.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from scipy.special import log_softmax

from .inception import RESIZE, describe_inception
from .registry import EvalError, Metric, register_metric
from .report import fmt, not_comparable_note, table_row


class ScoreResult(NamedTuple):
    """Mean and std over splits, the number of predictions used, and the number of splits."""

    mean: float
    std: float
    n: int
    splits: int


def _as_float64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d (N, classes) array of predictions, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("predictions contain NaN or infinity")
    return x


def _looks_like_probabilities(x: np.ndarray) -> bool:
    return bool(x.min() >= 0.0 and x.max() <= 1.0 and np.allclose(x.sum(axis=1), 1.0, atol=1e-4))


def to_log_probs(probs_or_logits, from_logits: bool | None = None) -> np.ndarray:
    """(N, C) float64 log p(y|x). Logits go through a float64 log-softmax; probabilities are
    renormalised and logged (zeros become -inf and contribute 0 * log 0 = 0 to the KL)."""
    x = _as_float64(probs_or_logits)
    if from_logits is None:
        from_logits = not _looks_like_probabilities(x)
    if from_logits:
        return log_softmax(x, axis=1)
    if x.min() < 0:
        raise ValueError("probabilities must be >= 0 (pass from_logits=True for logits)")
    x = x / x.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.log(x)


def _split_score(log_p: np.ndarray) -> float:
    p = np.exp(log_p)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_py = np.log(p.mean(axis=0))
        # p * (log p - log p_y), with 0 * anything = 0 where p(y|x) = 0
        terms = np.where(p > 0, p * (log_p - log_py), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))


def inception_score_from_log_probs(log_p: np.ndarray, splits: int = 10,
                                   shuffle_seed: int | None = None) -> ScoreResult:
    """IS from float64 log-probabilities (see the module docstring for the split convention)."""
    n = log_p.shape[0]
    if splits < 1:
        raise ValueError(f"splits = {splits}: must be >= 1")
    if n < splits:
        raise ValueError(f"{n} predictions cannot be cut into {splits} splits; give at least "
                         f"{splits} images or fewer splits")
    if shuffle_seed is not None:
        log_p = log_p[np.random.default_rng(shuffle_seed).permutation(n)]
    part = n // splits
    scores = np.array([_split_score(log_p[k * part:(k + 1) * part]) for k in range(splits)])
    return ScoreResult(float(scores.mean()), float(scores.std()), part * splits, splits)


def inception_score(probs_or_logits, splits: int = 10, *, from_logits: bool | None = None,
                    shuffle_seed: int | None = None) -> ScoreResult:
    """Inception Score of (N, C) class probabilities or logits (numpy or torch).

    from_logits=None decides by looking: rows of non-negative numbers that sum to 1 are
    probabilities, anything else is logits. Pass it explicitly when in doubt.
    """
    return inception_score_from_log_probs(to_log_probs(probs_or_logits, from_logits), splits,
                                          shuffle_seed)


class InceptionScoreAccumulator:
    """Streaming IS: feed logits batch by batch; keeps only the (N, C) float64 log-probabilities
    (30,000 x 1000 x 8 bytes = 240 MB), never the images."""

    def __init__(self, splits: int = 10, shuffle_seed: int | None = None):
        self.splits = splits
        self.shuffle_seed = shuffle_seed
        self._parts: list[np.ndarray] = []
        self.n = 0

    def update(self, logits, from_logits: bool = True) -> None:
        log_p = to_log_probs(logits, from_logits)
        self._parts.append(log_p)
        self.n += log_p.shape[0]

    def compute(self) -> ScoreResult:
        if not self._parts:
            raise ValueError("no predictions were added")
        log_p = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
        self._parts = [log_p]
        return inception_score_from_log_probs(log_p, self.splits, self.shuffle_seed)


@register_metric
class InceptionScoreMetric(Metric):
    """IS of the generated images under opts.classifier, per scale."""

    name = "is"
    order = 10

    @classmethod
    def check(cls, opts) -> None:
        if opts.samples < opts.splits:
            raise EvalError(f"--samples {opts.samples} is fewer than the {opts.splits} IS splits; "
                            "give more samples or --splits")

    def __init__(self, ctx):
        super().__init__(ctx)
        self.net = ctx.classifier()
        self.scores = {s: InceptionScoreAccumulator(ctx.opts.splits, shuffle_seed=ctx.opts.seed)
                       for s in ctx.sizes}

    def update(self, batch) -> None:
        self.scores[batch.size].update(batch.inception(self.net).logits)

    def result(self, size: int) -> dict[str, Any]:
        score = self.scores[size].compute()
        return {"mean": score.mean, "std": score.std, "n": score.n, "splits": score.splits}

    def settings(self) -> dict[str, Any]:
        return {"splits": self.ctx.opts.splits, "split_rule": "N // splits consecutive rows each "
                "(remainder left out), after a permutation seeded with the eval seed",
                "std": "population std (ddof=0) over splits",
                "log_softmax": "float64", "resize": RESIZE,
                "classifier": describe_inception(self.net.identity)}

    @classmethod
    def report_rows(cls, size, result, report) -> list[str]:
        r = result
        return [table_row(f"IS ({r['splits']} splits){not_comparable_note(report)}", size,
                          fmt(r["mean"], 3), fmt(r["std"], 3), r["n"],
                          report["settings"]["is"]["classifier"])]

    @classmethod
    def training_scalars(cls, size, result) -> dict[str, float]:
        return {f"is_{size}": result["mean"], f"is_{size}_std": result["std"]}
