"""The stage warm-up (`optim.stage_warmup_steps` / `optim.stage_warmup_fraction`): stage 1 trains
alone until a step count or a share of run.max_minutes, then every stage trains."""
from __future__ import annotations

from ..config import RunConfig


def warmup_over(cfg: RunConfig, step: int, elapsed_s: float) -> bool:
    """Has the stage-1 warm-up reached its step count or its share of run.max_minutes?"""
    o = cfg.optim
    by_steps = o.stage_warmup_steps > 0 and step >= o.stage_warmup_steps
    by_time = o.stage_warmup_fraction > 0 and elapsed_s >= o.stage_warmup_fraction * cfg.run.max_minutes * 60
    return by_steps or by_time


def resumed_warmup_end(cfg: RunConfig, loop_state: dict, step: int) -> int | None:
    """The warm-up's end from a checkpoint; older checkpoints did not record it (steps only)."""
    if not cfg.optim.has_stage_warmup:
        return 0
    if loop_state.get("warmup_end_step") is not None:
        return int(loop_state["warmup_end_step"])
    return step if warmup_over(cfg, step, 0.0) else None
