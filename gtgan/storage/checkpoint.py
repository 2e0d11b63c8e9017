"""Atomic, verifiable training checkpoints.

RUN_DIR/checkpoints/step-XXXXXXXX/ holds
  G.safetensors, G_ema.safetensors, D0.safetensors, ...   weights (no code can run on load)
  train_state.pt     optimiser, loss-scaler, EMA and RNG state (torch.load weights_only=True)
  state.json         step, epoch, batch position, world size, and each file's SHA-256
A checkpoint is built in a hidden temporary folder, every file fsynced, then renamed into place;
`checkpoints/latest` names the newest one and is replaced atomically after it. A crash at any
moment leaves the previous checkpoint complete and `latest` pointing at a complete one.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..fileio import (FileFormatError, atomic_write_text, format_version, fsync_path,
                      load_torch_weights, naming, read_json, sha256_file, shown)
from ..folders import replace_dir, sweep_leftovers
from .state_dicts import read_safetensors, write_safetensors, write_torch

FORMAT = "gtgan-checkpoint"
VERSION = 1
PREFIX = "step-"
LATEST = "latest"
STATE_JSON = "state.json"
TRAIN_STATE = "train_state.pt"


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints (renamed into place) under `root`, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(PREFIX) and p.name[len(PREFIX):].isdigit():
            out.append(p)
    return sorted(out, key=lambda p: int(p.name[len(PREFIX):]))


def save_checkpoint(root: Path, step: int, weights: dict[str, dict[str, torch.Tensor]],
                    train_state: dict, loop_state: dict[str, Any], keep: int = 3) -> Path:
    """Write checkpoint `step` atomically, point `latest` at it, keep the newest `keep`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(step)
    sweep_checkpoint_leftovers(root)
    tmp = root / f".tmp-{name}-{os.getpid()}"
    final = root / name
    tmp.mkdir()
    try:
        _write_checkpoint(tmp, final, step, weights, train_state, loop_state)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_text(root / LATEST, name + "\n", durable=True)
    prune_checkpoints(root, keep, protect=final)
    return final


def _write_checkpoint(tmp: Path, final: Path, step: int, weights, train_state: dict,
                      loop_state: dict[str, Any]) -> None:
    """The files into the staging folder `tmp`, then `tmp` renamed to `final`; an OS error
    (full disk) names `final`."""
    with naming(final):
        files = {}
        for key, state in weights.items():
            fname = f"{key}.safetensors"
            tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
            write_safetensors(tensors, tmp / fname, metadata={"format": FORMAT, "step": str(step)})
            files[fname] = None
        write_torch(train_state, tmp / TRAIN_STATE)
        files[TRAIN_STATE] = None
        for fname in files:
            fsync_path(tmp / fname)
            files[fname] = sha256_file(tmp / fname)
        state = {"format": FORMAT, "version": VERSION, "step": step, "weights": sorted(weights),
                 "files": files, **loop_state}
        with open(tmp / STATE_JSON, "w") as f:
            json.dump(state, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        fsync_path(tmp)
        if final.exists():  # the same step saved again (e.g. final == periodic): swap it
            replace_dir(tmp, final)
        else:
            os.rename(tmp, final)
        fsync_path(final.parent)


def sweep_checkpoint_leftovers(root: Path) -> None:
    """What killed writers left in `root`: `.tmp-step-*` folders (any: a run folder has one
    writer, held by its lock), and `.latest.tmp-PID-*` / `.step-*.old-PID` of dead processes."""
    root = Path(root)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    sweep_leftovers(root)


def prune_checkpoints(root: Path, keep: int, protect: Path | None = None) -> None:
    if keep <= 0:
        return
    ckpts = list_checkpoints(root)
    for p in ckpts[:-keep]:
        if protect is not None and p.resolve() == protect.resolve():
            continue
        shutil.rmtree(p, ignore_errors=True)


def latest_checkpoint(root: Path) -> Path | None:
    """The checkpoint `latest` names, else the newest complete one, else None."""
    root = Path(root)
    pointer = root / LATEST
    if pointer.exists():
        name = pointer.read_text().strip()
        cand = root / name
        if name.startswith(PREFIX) and (cand / STATE_JSON).exists():
            return cand
        warnings.warn(f"{pointer} names {shown(name)}, which is not a complete checkpoint; "
                      "using the newest complete one", stacklevel=2)
    ckpts = [p for p in list_checkpoints(root) if (p / STATE_JSON).exists()]
    return ckpts[-1] if ckpts else None


def read_state(path: Path) -> dict:
    path = Path(path)
    try:
        state = read_json(path / STATE_JSON)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            got = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"{path / STATE_JSON}: format {shown(got)}, expected {FORMAT!r}")
        version = format_version(state, str(path / STATE_JSON))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: not a checkpoint ({STATE_JSON} missing)") from None
    except FileFormatError as exc:
        raise CheckpointError(str(exc)) from None
    if version > VERSION:
        raise CheckpointError(f"{path}: written by a newer gtgan (checkpoint version "
                              f"{version}); upgrade gtgan")
    return state


def load_checkpoint_weights(path: Path, names: list[str] | None = None, verify: bool = True
                            ) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """(weights by name, loop state) of one checkpoint: `names` (default all, e.g. ["G_ema"]),
    each file's SHA-256 checked against state.json when it records one."""
    path = Path(path)
    state = read_state(path)
    names = list(state.get("weights", [])) if names is None else list(names)
    for name in names:
        _check_file(path, state, f"{name}.safetensors", verify)
    return {name: read_safetensors(path / f"{name}.safetensors") for name in names}, state


def _check_file(path: Path, state: dict, fname: str, verify: bool) -> None:
    f = path / fname
    if not f.exists():
        raise CheckpointError(f"{f}: missing from the checkpoint")
    digest = state.get("files", {}).get(fname)
    if verify and digest is not None and sha256_file(f) != digest:
        raise CheckpointError(f"{f}: contents do not match the checksum in {STATE_JSON} "
                              "(damaged file); resume from an older checkpoint")


def load_checkpoint(path: Path, verify: bool = True
                    ) -> tuple[dict[str, dict[str, torch.Tensor]], dict, dict]:
    """(weights by name, train_state, loop state) of one checkpoint, checking every file's hash."""
    path = Path(path)
    state = read_state(path)
    for fname in state.get("files", {}):
        _check_file(path, state, fname, verify)
    weights, _ = load_checkpoint_weights(path, verify=False)
    try:
        train_state = load_torch_weights(path / TRAIN_STATE)
    except (OSError, FileFormatError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc})") from None
    return weights, train_state, state


def latest_good_checkpoint(root: Path):
    """The newest checkpoint that loads and matches its checksums, warning about any newer
    damaged one (a kill never damages one; a failing disk or a manual edit can)."""
    latest = latest_checkpoint(root)
    if latest is None:
        return None, None
    candidates = [latest] + [p for p in reversed(list_checkpoints(root)) if p != latest]
    errors = []
    for ckpt in candidates:
        try:
            loaded = load_checkpoint(ckpt)
        except CheckpointError as exc:
            errors.append(str(exc))
            warnings.warn(f"cannot resume from {ckpt}: {exc}; trying an older checkpoint", stacklevel=3)
            continue
        return ckpt, loaded
    raise CheckpointError(f"{root}: no usable checkpoint: " + "; ".join(errors))
