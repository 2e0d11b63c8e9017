"""The metric interface and the registry `gtgan eval --metrics` chooses from.

A metric is one class in one file, registered with `@register_metric`: it checks its own
options, takes its part of the single streaming pass over generated images (`update`, once
per scale of every batch), and writes its own results, settings and report rows. The
evaluation loop (evaluate.py), the report (report.py) and the training hook (training_hook.py)
know metrics only through this interface, so adding one means adding one file in this package
and its import in `gtgan/metrics/__init__.py` (which every use of the package runs first).
This module imports nothing of its package and nothing on a lookup: the evaluation loop
imports it, never the other way round. The arguments below are an `EvalOptions` (options.py),
an `EvalContext` and a `ScaleBatch` (evaluate.py).
"""
from __future__ import annotations

from typing import Any, ClassVar

from ..errors import GtganError

_REGISTRY: dict[str, type["Metric"]] = {}


class EvalError(GtganError):
    """An evaluation option or input is wrong."""


class Metric:
    """One metric's part of an evaluation. Subclass, set `name` and `order`, register.

    An instance lives for one evaluation (or one training hook) and keeps its accumulators per
    scale; the report-writing class methods work from a finished report dict alone, so a saved
    JSON can be rendered again without the networks."""

    name: ClassVar[str] = ""  # as given to --metrics; the key in results and settings
    order: ClassVar[int] = 100  # position in results, settings and the report table
    needs_second_samples: ClassVar[bool] = False  # a second generation of each caption, own noise
    min_samples: ClassVar[int] = 1  # e.g. 2 for a covariance

    @classmethod
    def check(cls, opts: Any) -> None:
        """Raise EvalError when `opts` cannot give this metric a meaningful number."""
        if opts.samples < cls.min_samples:
            raise EvalError(f"{cls.name} needs at least {cls.min_samples} samples, "
                            f"--samples is {opts.samples}")

    def __init__(self, ctx: Any):
        """Build what the metric needs (networks via ctx, reference statistics) before the
        first image is generated, so a missing piece fails early."""
        self.ctx = ctx

    def update(self, batch: Any) -> None:
        """Score one scale of one generated batch; the images are dropped afterwards."""
        raise NotImplementedError

    def result(self, size: int) -> dict[str, Any]:
        """The JSON entry results[str(size)][name]."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any] | None:
        """The JSON entry settings[name]: everything that fixes how the number is made."""
        return None

    @classmethod
    def report_rows(cls, size: str, result: dict[str, Any], report: dict[str, Any]) -> list[str]:
        """Rows of the report's table (| metric | scale | mean | std | N | note |)."""
        return []

    @classmethod
    def report_sections(cls, report: dict[str, Any]) -> list[str]:
        """Markdown lines after the table (e.g. per-attribute tables)."""
        return []

    @classmethod
    def weights_line(cls, key: str, weights: dict[str, Any]) -> str | None:
        """A line of the report's Weights list for report["weights"][key], if this metric
        wrote that entry in a form of its own (None: the generic description line)."""
        return None

    @classmethod
    def training_scalars(cls, size: str, result: dict[str, Any]) -> dict[str, float]:
        """Numbers the in-training hook logs for this metric at one scale (name -> value)."""
        return {}


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: make `cls` selectable by its `name`."""
    if not cls.name:
        raise TypeError(f"{cls.__qualname__}: a registered metric needs a name")
    known = _REGISTRY.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError(f"metric name {cls.name!r} is taken by {known.__module__}.{known.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def metric_classes() -> dict[str, type[Metric]]:
    """name -> class of every registered metric, in report order."""
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].order, kv[0])))


def known_metrics() -> tuple[str, ...]:
    return tuple(metric_classes())


def metric_class(name: str) -> type[Metric]:
    return metric_classes()[name]
