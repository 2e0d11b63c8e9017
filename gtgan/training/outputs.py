"""What a run writes besides checkpoints (rank 0): metrics.jsonl, TensorBoard events, the
progress bar, fixed-noise sample grids and loss plots. Nothing here changes what is trained."""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ..config import RunConfig
from ..errors import TimeCapReached
from ..storage.checkpoint import checkpoint_name
from .plots import write_plots
from .progress import StopBar, StopRule
from .rundir import METRICS, MetricsLog
from .samples import FixedSamples, fixed_samples, write_samples


def tensorboard(path: Path, purge_step: int | None):
    """A SummaryWriter, or None without tensorboard. Imported here, on use: tensorboard is a
    dependency, but a missing or broken install costs the events, never the run."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("tensorboard is not installed: no TensorBoard events", stacklevel=2)
        return None
    return SummaryWriter(log_dir=str(path), purge_step=purge_step)


def tb_scalars(writer, prefix: str, rec: dict, step: int) -> None:
    if writer is None:
        return
    for k, v in rec.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "epoch", "kind"):
            writer.add_scalar(f"{prefix}/{k}", v, step)


def plots(run_dir: Path) -> None:
    try:
        write_plots(run_dir / METRICS, run_dir / "plots")
    except Exception as exc:  # a plot must never cost a run
        warnings.warn(f"could not write plots: {exc}", stacklevel=2)


def progress_fields(cfg: RunConfig, rec: dict, warmup_end: int | None) -> dict[str, str]:
    """Losses and which stages train (during a stage warm-up); the bar (StopBar) adds the
    time left until the rule that ends the run."""
    fields = {"D": f"{rec['d_loss']:.3f}", "G": f"{rec['g_loss']:.3f}"}
    sizes = cfg.model.image_sizes
    if cfg.optim.has_stage_warmup and len(sizes) > 1:
        fields["px"] = str(sizes[0]) if warmup_end is None else "+".join(map(str, sizes))
    return fields


def divergence_message(step: int, losses: dict, bad: list[str], last_ckpt) -> str:
    what = ", ".join(f"{k}={losses[k]}" for k in bad) if bad else "a loss on another process"
    keep = (f"the last good checkpoint is {last_ckpt}" if last_ckpt else
            "no checkpoint had been written yet")
    return (f"training diverged at step {step}: {what} is not finite. Nothing was saved after "
            f"it; {keep}. Lower the learning rates, use run.precision=fp32, or resume from "
            "that checkpoint with other settings")


@dataclass
class RunOutputs:
    """Rank 0's open outputs (all None elsewhere), closed together by `close`."""

    metrics: MetricsLog | None = None
    writer: Any = None
    pbar: Any = None
    fixed: FixedSamples | None = None
    skipped_files: set[str] = field(default_factory=set)  # warned about once each

    @classmethod
    def open(cls, cfg: RunConfig, run_dir: Path, metrics: MetricsLog | None, test_set, *,
             step: int, rule: StopRule, resuming: bool, progress: bool, vgg_random: bool
             ) -> "RunOutputs":
        out = cls(metrics=metrics)
        if metrics is None:
            return out
        if test_set is not None:
            out.fixed = fixed_samples(test_set, cfg.run.num_sample_captions, cfg.model.z_dim,
                                      cfg.model.c_dim, cfg.run.seed)
        out.writer = tensorboard(run_dir / "tb", step if resuming else None)
        if progress:
            out.pbar = StopBar(rule, step, f"train {cfg.name}" + (" [VGG random]" if vgg_random else ""))
        return out

    def data_left_out(self, dataset, step: int) -> None:
        """Items the data set left out when it was built (data.skip_missing): one warning and
        one record in the run log, naming the first files."""
        skipped = getattr(dataset, "skipped", None) or {}
        if self.metrics is None or not any(skipped.values()):
            return
        files = [p for p, _ in getattr(dataset, "problems", [])][:20]
        counts = ", ".join(f"{what} {n:,}" for what, n in skipped.items() if n)
        warnings.warn(f"data.skip_missing: {counts} item(s) of {getattr(dataset, 'listed', '?'):,} "
                      f"listed are left out" + (f" (e.g. {files[0]})" if files else ""),
                      stacklevel=2)
        self.metrics.write({"kind": "event", "event": "data_left_out", "step": step,
                            "counts": skipped, "files": files})

    def note_skipped(self, skipped, step: int) -> None:
        """Images found missing or undecodable while training (the batch's `skipped`): each
        file warned about once, and counted in the run log."""
        if self.metrics is None or not skipped:
            return
        for path in (p for entry in skipped for p in entry.split("\n") if p):
            if path not in self.skipped_files:
                self.skipped_files.add(path)
                warnings.warn(f"{path}: image missing or undecodable, skipped (data.skip_missing)",
                              stacklevel=2)
                self.metrics.write({"kind": "event", "event": "image_skipped", "step": step,
                                    "file": path, "skipped_files": len(self.skipped_files)})

    def samples(self, sample_fn: Callable, run_dir: Path, step: int) -> None:
        _, grid = write_samples(sample_fn, self.fixed, run_dir / "samples", checkpoint_name(step))
        if self.writer is not None:
            self.writer.add_image("samples/ema", np.asarray(grid), step, dataformats="HWC")

    def eval_record(self, eval_fn, module, epoch: int, step: int, deadline: float = math.inf) -> None:
        """One in-training evaluation; a hook that takes a deadline (make_training_eval's)
        stops at run.max_minutes instead of running past it, and that is recorded."""
        t = time.monotonic()
        try:
            result = (eval_fn(module, epoch, deadline=deadline) if math.isfinite(deadline)
                      and getattr(eval_fn, "takes_deadline", False) else eval_fn(module, epoch)) or {}
        except TimeCapReached as exc:
            self.metrics.write({"kind": "event", "event": "eval_stopped", "epoch": epoch, "step": step,
                                "reason": f"run.max_minutes reached during evaluation ({exc})",
                                "eval_s": round(time.monotonic() - t, 3)})
            return
        rec = {"kind": "eval", "epoch": epoch, "step": step,
               "eval_s": round(time.monotonic() - t, 3), **result}
        if getattr(eval_fn, "notes", None):  # e.g. "random Inception weights: NOT comparable"
            rec["notes"] = list(eval_fn.notes)
        self.metrics.write(rec)
        tb_scalars(self.writer, "eval", {k: v for k, v in result.items()}, step)

    def close(self) -> None:
        if self.pbar is not None:
            self.pbar.close()
        if self.writer is not None:
            self.writer.close()
        if self.metrics is not None:
            self.metrics.close()
