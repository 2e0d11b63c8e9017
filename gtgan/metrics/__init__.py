"""Evaluation metrics, each usable on its own (see docs/evaluation.md).

- Inception Score: `inception_score(probs_or_logits, splits=10)`, `InceptionScoreAccumulator`.
- FID: `FeatureStats` (streaming float64 mean/cov), `frechet_distance`, `fid_from_features`,
  `save_reference_stats` / `load_reference_stats` (stamped .npz).
- SSIM: `ssim_per_image(generated, real)` (torchmetrics, scikit-image conventions).
- Inception networks: `load_inception(spec, allow_random_weights=...)` -> pool3 + logits.
- Attribute agreement (synthetic birds): `load_or_train_judge`, `AttributeAccuracy`.
- Whole runs: `evaluate_run`, `evaluate_generator`, `write_report`, `make_training_eval`.
- CUB text-image retrieval: `RPrecision` (interface only, not implemented).
"""
from .attributes import AttributeAccuracy, AttributeClassifier, JudgeConfig, load_or_train_judge
from .evaluate import (EvalError, EvalOptions, evaluate_generator, evaluate_run,
                       make_training_eval, report_markdown, write_report)
from .fid import (FeatureStats, ReferenceStatsError, fid_from_features, frechet_distance,
                  load_reference_stats, save_reference_stats)
from .inception import RANDOM_LABEL, InceptionNet, load_inception
from .inception_score import InceptionScoreAccumulator, ScoreResult, inception_score
from .rprecision import RPrecision
from .ssim import SSIM_SETTINGS, MeanStd, ssim_per_image

__all__ = [
    "AttributeAccuracy", "AttributeClassifier", "EvalError", "EvalOptions", "FeatureStats",
    "InceptionNet", "InceptionScoreAccumulator", "JudgeConfig", "MeanStd", "RANDOM_LABEL",
    "RPrecision", "ReferenceStatsError", "SSIM_SETTINGS", "ScoreResult", "evaluate_generator",
    "evaluate_run", "fid_from_features", "frechet_distance", "inception_score",
    "load_inception", "load_or_train_judge", "load_reference_stats", "make_training_eval",
    "report_markdown", "save_reference_stats", "ssim_per_image", "write_report",
]
