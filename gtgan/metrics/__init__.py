"""Evaluation metrics, each usable on its own (see docs/evaluation.md), and `gtgan eval`.

- A metric for `gtgan eval --metrics` is a `Metric` subclass registered with
  `@register_metric` in its own file of this package (registry.py says what it provides):
  e.g. is (inception_score.py), fid (fid.py), ssim (ssim.py), diversity (diversity.py),
  attr (attributes.py); `known_metrics()` lists them all.
- Building blocks: `inception_score`, `InceptionScoreAccumulator`; `FeatureStats`,
  `frechet_distance`, `fid_from_features` (frechet.py); `save_reference_stats` /
  `load_reference_stats` (reference.py, with the FID reference cache); `ssim_per_image`;
  `load_inception(spec, allow_random_weights=...)`; `load_or_train_judge`, `AttributeAccuracy`.
- The evaluation loop (evaluate.py: `evaluate_generator`), whole runs (run_report.py:
  `evaluate_run`), the report files (report.py: `write_report`), the training hook
  (training_hook.py: `make_training_eval`); the model to score comes from
  `gtgan.storage.load_generator` (through `TextToImage.from_pretrained`).
- Text-image retrieval: r_precision (rprecision.py: `real_r_precision`, `fold_stats`, `hits`)
  with a DAMSM from `gtgan encoder train`.
"""
# Every module that registers a metric, imported here once (registry.py imports none of them).
from . import diversity, fid, judge_fid, lite0_fd, own_words, pose  # noqa: F401  register their metrics
from .attributes import AttributeAccuracy, AttributeClassifier, JudgeConfig, load_or_train_judge
from .evaluate import EvalContext, ScaleBatch, evaluate_generator
from .frechet import FeatureStats, fid_from_features, frechet_distance
from .inception import RANDOM_LABEL, InceptionNet, load_inception
from .inception_score import InceptionScoreAccumulator, ScoreResult, inception_score
from .options import EvalError, EvalOptions
from .reference import ReferenceStatsError, load_reference_stats, save_reference_stats
from .registry import Metric, known_metrics, metric_class, register_metric
from .report import report_markdown, write_report
from .rprecision import RPrecisionMetric, encoder_eval_fn, real_r_precision
from .run_report import evaluate_run
from .ssim import SSIM_SETTINGS, MeanStd, ssim_per_image
from .training_hook import make_training_eval

__all__ = [
    "AttributeAccuracy", "AttributeClassifier", "EvalContext", "EvalError", "EvalOptions",
    "FeatureStats", "InceptionNet", "InceptionScoreAccumulator", "JudgeConfig", "MeanStd",
    "Metric", "RANDOM_LABEL", "RPrecisionMetric", "ReferenceStatsError", "SSIM_SETTINGS",
    "ScaleBatch", "ScoreResult", "encoder_eval_fn", "evaluate_generator", "evaluate_run", "fid_from_features",
    "frechet_distance", "inception_score", "known_metrics", "load_inception",
    "load_or_train_judge", "load_reference_stats", "make_training_eval", "metric_class",
    "real_r_precision",
    "register_metric", "report_markdown", "save_reference_stats", "ssim_per_image",
    "write_report",
]
