"""What keeps a run folder honest across kills, resumes and failed starts.

- Every checkpoint records the resolved config; a resume compares config.yaml with it and
  refuses a difference in anything that changes what the run computes (`RESUME_OVERRIDABLE`
  may differ: they are asked for with --set, and config.yaml keeps the last one asked for).
- Leftovers of killed writers (staging files and folders named with the writer's PID) are
  swept at every start and resume: under the run's lock no other process writes here.
- A new run that fails before its first step removes what that start created, so the same
  command can simply be given again.
See docs/training.md#guarantees.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from ..config import (ConfigError, RunConfig, apply_overrides, load_run_config, to_dict,
                      with_earlier_values)
from ..errors import CheckpointError
from ..fileio import shown
from ..folders import sweep_leftovers, sweep_staging_leftovers
from ..storage.checkpoint import latest_checkpoint, read_state, sweep_checkpoint_leftovers
from .rundir import CONFIG, ENCODER, ENV, LOCK, METRICS, RunLock, check_new_run_dir

# What `resume` may change: how the run executes, never what it computes on the same data.
RESUME_OVERRIDABLE = ("run.max_steps", "run.max_minutes", "run.device", "run.checkpoint_every",
                      "run.sample_every", "run.log_every", "run.eval_every_epochs",
                      "run.eval_samples", "run.keep_checkpoints", "run.num_sample_captions",
                      "run.precision", "run.channels_last", "optim.epochs", "data.num_workers",
                      "data.root")

# Everything a run writes into its folder (a failed start removes these, and nothing else).
RUN_LAYOUT = (CONFIG, ENCODER, ENV, METRICS, LOCK, "init_from.json", "tb", "samples", "plots",
              "checkpoints", "model")


def flat(cfg: RunConfig | dict, prefix: str = "") -> dict[str, Any]:
    """{"model.ngf": 64, ...}: a config as dotted leaf names."""
    data = to_dict(cfg) if not isinstance(cfg, dict) else cfg
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, name + "."))
        else:
            out[name] = value
    return out


def config_record(cfg: RunConfig) -> dict:
    """What a checkpoint's state.json keeps of the config it was trained with."""
    data = to_dict(cfg)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return {"config": data, "config_sha256": digest}


def check_resume_config(cfg: RunConfig, state: dict | None, where: Path) -> list[str]:
    """Refuse to resume when config.yaml (with this resume's --set) and the config checkpoint
    `where` recorded differ in any field outside RESUME_OVERRIDABLE. Returns a note for each
    overridable field that differs (an earlier --set). Checkpoints from before the record
    was kept (no "config" in state.json) are not compared."""
    if not state or not isinstance(state.get("config"), dict):
        return []
    # A record from before a field came in lacks it: it ran with the field's earlier value.
    now, then = flat(cfg), flat(with_earlier_values(RunConfig, state["config"], 1)[0])
    diffs = sorted(k for k in set(now) | set(then) if now.get(k, "<absent>") != then.get(k, "<absent>"))
    fixed = [k for k in diffs if k not in RESUME_OVERRIDABLE]
    if fixed:
        listed = "; ".join(f"{k} = {shown(now.get(k, '<absent>'))} in {CONFIG}, "
                          f"{shown(then.get(k, '<absent>'))} in {where.name}" for k in fixed[:5])
        more = f" (and {len(fixed) - 5} more)" if len(fixed) > 5 else ""
        raise ConfigError(
            f"{where.parent.parent / CONFIG}: differs from the config checkpoint {where} was "
            f"trained with: {listed}{more}. These fields change what the run computes and cannot "
            f"change on --resume; put them back (state.json in the checkpoint holds the recorded "
            f"config), or start a new run")
    return [f"{k} = {shown(now[k])} (was {shown(then.get(k))} at {where.name})" for k in diffs]


def resume_config(run_dir: Path, overrides: list[str]) -> tuple[RunConfig, list[str]]:
    """config.yaml (whole, or an error), with this resume's --set (RESUME_OVERRIDABLE keys only),
    checked against the config the latest checkpoint recorded. Returns (config, notes)."""
    cfg = load_run_config(Path(run_dir) / CONFIG, complete=True)
    if overrides:
        bad = [o for o in overrides if o.split("=", 1)[0].strip() not in RESUME_OVERRIDABLE]
        if bad:
            raise ConfigError(f"--set {', '.join(bad)}: cannot change on --resume (it would change "
                              f"what the run computes); allowed: {', '.join(RESUME_OVERRIDABLE)}")
        cfg = apply_overrides(cfg, overrides)
    ckpt = latest_checkpoint(Path(run_dir) / "checkpoints")
    if ckpt is None:
        return cfg, []
    try:
        return cfg, check_resume_config(cfg, read_state(ckpt), ckpt)
    except CheckpointError:  # damaged: the resume falls back to an older one and checks that
        return cfg, []


def sweep_run(run_dir: Path) -> None:
    """Remove what killed writers left in a run folder (call with the run's lock held)."""
    run_dir = Path(run_dir)
    for folder in (run_dir, run_dir / "samples", run_dir / "plots"):
        sweep_leftovers(folder)
    sweep_staging_leftovers(run_dir / "model")  # also puts back a model/ moved aside by a kill
    if (run_dir / "checkpoints").is_dir():
        sweep_checkpoint_leftovers(run_dir / "checkpoints")


class StartRecord:
    """A new run's start: the folder is made, then locked, then checked (holding the lock, so no
    other start can come between the check and the writes). A start that fails removes what it
    made, only while it holds the lock, and never a folder whose lock it could not take."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.made = self.made_dir = False
        self.made_parents: list[Path] = []
        self.lock: RunLock | None = None

    def open(self, ours: tuple[str, ...] = (), command: str = "gtgan train") -> RunLock:
        """Make, lock, sweep and check the folder; returns the held lock. `ours`: files a start
        of this command writes before its CONFIG (a start killed before CONFIG left them)."""
        parents = [p for p in [self.run_dir, *self.run_dir.parents] if not p.exists()]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.made_dir, self.made_parents = bool(parents), parents[1:]  # innermost first
        lock = RunLock(self.run_dir).__enter__()  # refused: another start's folder, left alone
        try:
            sweep_run(self.run_dir)
            check_new_run_dir(self.run_dir, ours, locked=True, command=command)
        except BaseException:
            lock.give_up()
            self._remove_dirs()
            raise
        self.lock, self.made = lock, True
        return lock

    def undo(self) -> None:
        """Remove what this start wrote (RUN_LAYOUT), then the folders it made; call holding
        the lock, which this releases."""
        for name in RUN_LAYOUT:
            p = self.run_dir / name
            if name == LOCK:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists() or p.is_symlink():
                p.unlink(missing_ok=True)
        sweep_leftovers(self.run_dir)
        if self.lock is not None:
            self.lock.give_up()
        self._remove_dirs()

    def _remove_dirs(self) -> None:
        if self.made_dir:
            for d in [self.run_dir, *self.made_parents]:
                try:
                    d.rmdir()  # only when empty: a file someone put there meanwhile stays
                except OSError:
                    break
