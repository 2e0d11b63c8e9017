"""The run directory: its layout, its lock, the environment record and the metrics log.

RUN_DIR/
  config.yaml      the resolved RunConfig (gtgan.config.save_yaml)
  encoder.json     the text encoder's identity (what turns captions into vectors)
  env.json         versions, device, world size and command line of every start/resume
  metrics.jsonl    one JSON record per log interval / evaluation / event
  tb/              TensorBoard events
  samples/         step-XXXXXXXX.png (+ .txt captions) at fixed noise and captions
  plots/           d_loss.png, g_loss.png, eval_<metric>.png
  checkpoints/     step-XXXXXXXX/ and `latest` (see checkpoint.py)
  model/           the EMA generator as a model folder (gtgan.storage.model_folder)
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

import numpy
import torch
import torchvision

from .. import __version__
from ..errors import GtganError
from ..fileio import (FileFormatError, atomic_write_text, fsync_path, load_json_text, naming,
                      read_json, shown)
from ..folders import STAGING

CONFIG = "config.yaml"
ENCODER = "encoder.json"
ENV = "env.json"
METRICS = "metrics.jsonl"
LOCK = ".lock"


class RunDirError(GtganError):
    """The run directory cannot be used as asked (not empty, not a run, locked)."""


def read_recorded_json(path: Path) -> Any:
    """A JSON record of the run folder (encoder.json, init_from.json), bounded; damage is one
    line naming the file."""
    try:
        return read_json(path)
    except FileFormatError as exc:
        raise RunDirError(f"{exc}; the run folder is damaged") from None


def check_new_run_dir(run_dir: Path, ours: tuple[str, ...] = (), locked: bool = False,
                      command: str = "gtgan train") -> None:
    """A new run needs a missing or empty directory, so nothing is ever silently mixed. Empty
    means: nothing but the lock file, and `ours` (files a start of the same command writes before
    the run's CONFIG, left by one killed then). Without the lock (`locked` False: a quick look
    before the slow set-up) leftovers of any writer are not counted either; the decisive look is
    the one made holding the lock, after the leftovers of dead writers were swept."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: exists and is not a directory; choose another --out")
    if not run_dir.is_dir():
        return
    ignored = {LOCK, *ours}
    held = [p for p in run_dir.iterdir() if p.name not in ignored
            and (locked or not STAGING.match(p.name))]
    if held:
        hint = (f"it holds a run: continue it with `{command} --resume {run_dir}`"
                if (run_dir / CONFIG).exists() else f"it is not empty (e.g. {shown(held[0].name)})")
        raise RunDirError(f"{run_dir}: {hint}, or give a new --out directory")


def check_run_dir(run_dir: Path) -> None:
    if not (Path(run_dir) / CONFIG).exists():
        raise RunDirError(f"{run_dir}: not a training run ({CONFIG} missing); start one with "
                          "`gtgan train --config PRESET --out DIR`")


class RunLock:
    """An exclusive advisory lock (flock) so two trainings never write one RUN_DIR at once.
    `created`: this process made the lock file (a start that then finds the folder is not its
    own removes it again)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK
        self.fd: int | None = None
        self.created = False

    def __enter__(self) -> "RunLock":
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            self.created = True
        except FileExistsError:
            self.fd = os.open(self.path, os.O_RDWR)
        try:
            if fcntl is not None:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # The file may have been removed (by a start giving the folder up) between our open
            # and our lock: then this lock guards nothing.
            if os.fstat(self.fd).st_ino != os.stat(self.path).st_ino:
                raise OSError("lock file replaced")
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise RunDirError(f"{self.path.parent}: another training process is using this run "
                              "directory; stop it first") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        return self

    def give_up(self) -> None:
        """Release, removing the lock file first when this process made it (still held then,
        so no other process can have locked it meanwhile)."""
        if self.fd is not None and self.created:
            self.path.unlink(missing_ok=True)
        self.__exit__()

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def remove_holding_lock(folder: Path, run_dir: Path) -> None:
    """Delete `folder` (which holds the run `run_dir`) holding the run's lock: never while
    another process trains there (e.g. `gtgan demo --force` over a demo still training)."""
    if not Path(run_dir).is_dir():
        shutil.rmtree(folder)
        return
    lock = RunLock(run_dir).__enter__()
    try:
        shutil.rmtree(folder)
    finally:
        lock.__exit__()


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_text(Path(path), json.dumps(obj, indent=2, sort_keys=True) + "\n", durable=True)


def env_record(device: torch.device, world_size: int, command: list[str] | None,
               event: str, step: int) -> dict:
    """What ran, where, with which versions: appended to env.json at every start and resume."""
    rec = {"event": event, "step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "command": command if command is not None else sys.argv,
           "gtgan": __version__, "python": platform.python_version(), "torch": torch.__version__,
           "torchvision": torchvision.__version__, "numpy": numpy.__version__,
           "platform": platform.platform(), "host": socket.gethostname(),
           "device": str(device), "world_size": world_size,
           "cpu_threads": torch.get_num_threads()}
    if device.type == "cuda":
        rec["cuda"] = torch.version.cuda
        rec["gpu"] = torch.cuda.get_device_name(device)
        rec["cudnn"] = torch.backends.cudnn.version()
    return rec


def append_env(run_dir: Path, record: dict) -> None:
    path = Path(run_dir) / ENV
    data = {"runs": []}
    if path.exists():
        try:
            data = read_json(path, 64 << 20)
        except FileFormatError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
            data = {"runs": [], "note": "previous env.json was unreadable and was replaced"}
    data["runs"].append(record)
    write_json_atomic(path, data)


class MetricsLog:
    """Append-only JSON lines. On resume, records past the checkpoint's step are dropped, so
    the log reads as one uninterrupted run."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._f = None

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                rec = load_json_text(line, str(self.path))
            except FileFormatError:
                continue  # a line cut short by a kill
            if isinstance(rec, dict) and isinstance(rec.get("step", 0), int) \
                    and rec.get("step", 0) <= step:
                kept.append(line)
        atomic_write_text(self.path, "".join(k + "\n" for k in kept), durable=True)

    def write(self, record: dict) -> None:
        with naming(self.path):  # a full disk: one line naming the log
            if self._f is None:
                self._f = open(self.path, "a")
            self._f.write(json.dumps(record, sort_keys=True) + "\n")
            self._f.flush()

    def sync(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def read_metrics(path: Path) -> list[dict]:
    out = []
    path = Path(path)
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


__all__ = ["CONFIG", "ENCODER", "ENV", "METRICS", "MetricsLog", "RunDirError", "RunLock",
           "append_env", "check_new_run_dir", "check_run_dir", "env_record", "fsync_path",
           "read_metrics", "write_json_atomic"]
