"""When the run will stop, and the progress bar that says so.

A run stops at the first of three rules: all epochs (optim.epochs), run.max_steps, or
run.max_minutes. `StopRule` forecasts which comes first from the measured pace of this
session's steps, and decides between steps whether the time cap is reached: a step is not
started when, at the recent pace, it and the final checkpoint would end past the cap (a
time cap is a cap, not a hint). `StopBar` shows that forecast: its total is the step the run
will end at and its time left is until then, refreshed at every step.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

# tqdm's own remaining-time estimate assumes the step total ends the run; ours is in the postfix.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]"
_PACE = 0.3  # weight of the newest step in the smoothed seconds per step


class StopRule:
    """total: the step the step rules end at (min of all epochs' steps and run.max_steps);
    epoch_total: all epochs' steps; limit_s: run.max_minutes in seconds (inf: none), counted
    from t0 (time.monotonic() when the run started)."""

    def __init__(self, total: int, epoch_total: int, limit_s: float, t0: float):
        self.total, self.epoch_total, self.limit_s, self.t0 = int(total), int(epoch_total), limit_s, t0
        self.step_s: float | None = None  # smoothed seconds per step, this session
        self.reserve_s = 0.0  # what the final checkpoint and samples took last time
        self._last: float | None = None

    @property
    def step_rule(self) -> str:
        return "run.max_steps" if self.total < self.epoch_total else "optim.epochs"

    def step_status(self, step: int) -> str | None:
        """The step rules: None while steps remain, else "finished" (all epochs) or
        "max_steps" (run.max_steps came first)."""
        if step < self.total:
            return None
        return "max_steps" if step < self.epoch_total else "finished"

    def step_done(self, now: float | None = None) -> None:
        """Called after every step: the pace is measured between step ends (the first step,
        with its warm-up, only starts the clock)."""
        now = time.monotonic() if now is None else now
        if self._last is not None:
            dt = now - self._last
            self.step_s = dt if self.step_s is None else (1 - _PACE) * self.step_s + _PACE * dt
        self._last = now

    def time_left(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return self.limit_s - (now - self.t0)

    def time_up(self, now: float | None = None) -> bool:
        """The cap is reached, or one more step and the final save would pass it."""
        if not math.isfinite(self.limit_s):
            return False
        return self.time_left(now) <= (self.step_s or 0.0) + self.reserve_s

    def forecast(self, step: int, now: float | None = None) -> tuple[str, float, int]:
        """(the rule that will end the run, seconds until then (inf: unknown), the step it
        ends at)."""
        left_t = self.time_left(now)
        if self.step_s is None:  # no pace yet: only the time cap's clock is known
            return (("run.max_minutes", left_t, self.total) if math.isfinite(left_t)
                    else (self.step_rule, math.inf, self.total))
        left_steps = max(0, self.total - step) * self.step_s
        if left_t < left_steps:
            return "run.max_minutes", left_t, max(step, step + int(left_t / self.step_s))
        return self.step_rule, left_steps, self.total


def clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(max(0.0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class StopBar:
    """The training bar: steps done of the step the run will end at, and the time until then
    with the rule that ends it, e.g. `left 7:26 (run.max_minutes)`."""

    def __init__(self, rule: StopRule, step: int, desc: str):
        self.rule, self.fields = rule, {}
        self.bar = tqdm(total=rule.total, initial=step, unit="step", dynamic_ncols=True, desc=desc,
                        mininterval=0.1, bar_format=BAR_FORMAT)

    def step(self, step: int, fields: dict[str, str] | None = None) -> None:
        """Every step: new forecast, and the latest logged losses when given."""
        if fields is not None:
            self.fields = dict(fields)
        ends, left, total = self.rule.forecast(step)
        self.bar.total = total
        self.bar.set_postfix({**self.fields, "left": f"{clock(left)} ({ends})"}, refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self) -> None:
        self.bar.close()


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    status: str  # finished | max_steps | max_minutes | signal
    checkpoint: Path | None
    elapsed_s: float
    warmup_end_step: int | None = None  # when stage 2 began training (None: never; 0: no warm-up)

    @property
    def message(self) -> str:
        why = {"finished": "finished all epochs", "max_steps": "reached run.max_steps",
               "max_minutes": "reached run.max_minutes",
               "signal": "stopped by a signal"}.get(self.status, self.status)
        where = f"; checkpoint {self.checkpoint}" if self.checkpoint else ""
        more = (f"; continue with `gtgan train --resume {self.run_dir}`"
                if self.status in ("signal", "max_minutes", "max_steps") else "")
        return f"{why} at step {self.step} (epoch {self.epoch}) after {self.elapsed_s:.0f} s{where}{more}"
