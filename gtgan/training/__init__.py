"""Training: the paper's objective (`Trainer`) in a resumable, observable, multi-process loop
(`train`, `resume`). See docs/training.md."""
from __future__ import annotations

from .ema import EMA
from .loop import RESUME_OVERRIDABLE, DivergenceError, TrainResult, resume, train
from .rundir import RunDirError
from .step import Trainer, make_fake_batch

__all__ = ["EMA", "RESUME_OVERRIDABLE", "DivergenceError", "Trainer", "RunDirError", "TrainResult",
           "make_fake_batch", "resume", "train"]
