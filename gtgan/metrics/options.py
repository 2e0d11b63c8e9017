"""What an evaluation is asked to do: the options of `gtgan eval` and the demo, checked."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import default_cache_dir
from .attributes import JudgeConfig
from .registry import EvalError, known_metrics, metric_class

__all__ = ["EvalError", "EvalOptions"]


@dataclass
class EvalOptions:
    """Options of one evaluation. The network specs, splits and reference file are read by the
    metrics that use them (IS: classifier, splits; FID: fid_features, fid_reference; attr:
    judge); each metric checks its own in `Metric.check`."""

    metrics: tuple[str, ...] = ("is", "fid", "ssim")
    samples: int = 30000
    seed: int = 0
    batch_size: int = 50
    splits: int = 10
    classifier: str = "imagenet"  # IS classifier spec (see metrics.inception.load_inception)
    fid_features: str = "imagenet"  # FID feature extractor spec
    classifier_transform_input: bool = True
    allow_random_weights: bool = False
    fid_reference: str | None = None  # explicit stats file; "{size}" is replaced per scale
    cache_dir: str | None = None  # None: default_cache_dir()
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    rp_encoder: str | None = None  # r_precision's DAMSM folder; None: the model's own DAMSM
    progress: bool = True

    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser() if self.cache_dir else default_cache_dir()

    def validate(self) -> None:
        known = known_metrics()
        bad = [m for m in self.metrics if m not in known]
        if bad or not self.metrics:
            raise EvalError(f"--metrics {','.join(self.metrics)}: unknown {bad or 'none given'}; "
                            f"choose from {','.join(known)}")
        if self.samples < 1:
            raise EvalError(f"--samples {self.samples}: must be at least 1")
        if self.batch_size < 1:
            raise EvalError(f"--batch-size {self.batch_size}: must be at least 1")
        for name in known:
            if name in self.metrics:
                metric_class(name).check(self)
