"""`gtgan train` that SIGKILLs itself inside a write (tests/test_run_safety.py).

    python tests/_kill_driver.py POINT N -- TRAIN_ARGS...
    python tests/_kill_driver.py POINT N -- encoder train ENCODER_TRAIN_ARGS...

POINT names where the N-th write of that kind dies: inside a checkpoint's files, just before
its rename into place, half-way through writing `checkpoints/latest`, inside a model folder's
staging, or between the two renames of the model folder swap; or at a new run's start: just
after its folder is made and locked, inside the write of its config.yaml, just after the
encoder run's vocab.json. The writers are wrapped here,
in the child process only: the library has no fault-injection code.
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

import torch

import gtgan.config.files as config
import gtgan.data.damsm_vocab as damsm_vocab
import gtgan.storage.checkpoint as ck
import gtgan.storage.model_folder as mf
import gtgan.training.rundir as rundir
from gtgan.cli import main


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def nth(n: int, wrapped, before=None, after=None, when=lambda *a, **k: True):
    """Call `wrapped`; on the n-th call that `when` accepts, run `before` and die instead, or
    die `after` it."""
    calls = {"n": 0}

    def call(*args, **kwargs):
        if not when(*args, **kwargs):
            return wrapped(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == n and before is not None:
            before(*args, **kwargs)
            die()
        out = wrapped(*args, **kwargs)
        if calls["n"] == n and after is not None:
            die()
        return out
    return call


def half_written_latest(path, text, durable=False):
    """What a kill inside atomic_write_text leaves: the temporary file, partly written."""
    path = Path(path)
    fd, _ = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    os.write(fd, text.encode()[:3])


def model_moved_aside(src, dst):
    """Killed between replace_dir's two renames: the old folder aside, the new one staged."""
    dst = Path(dst)
    if dst.exists():
        os.replace(dst, dst.with_name(f".{dst.name}.old-{os.getpid()}"))


def install(point: str, n: int) -> None:
    if point == "checkpoint-files":  # weights written, train_state.pt written, no state.json
        ck.write_torch = nth(n, ck.write_torch, after=True,
                             when=lambda obj, f, *a, **k: Path(f).name == ck.TRAIN_STATE)
    elif point == "checkpoint-rename":  # the staging folder complete, not renamed into place
        ck.os.rename = nth(n, os.rename, before=lambda *a: None,
                           when=lambda src, dst: Path(dst).name.startswith(ck.PREFIX))
    elif point == "latest":
        ck.atomic_write_text = nth(n, ck.atomic_write_text, before=half_written_latest)
    elif point == "model-staging":  # generator.safetensors being written in the staging folder
        mf.write_safetensors = nth(n, mf.write_safetensors, after=True)
    elif point == "model-swap":
        mf.replace_dir = nth(n, mf.replace_dir, before=model_moved_aside)
    elif point == "after-lock":  # the run folder made and locked, nothing written yet
        rundir.RunLock.__enter__ = nth(n, rundir.RunLock.__enter__, after=True)
    elif point == "config-write":  # config.yaml half written in its temporary file
        config.atomic_write_text = nth(n, config.atomic_write_text, before=half_written_latest)
    elif point == "after-vocab":  # an encoder run's vocab.json written, no config.yaml yet
        damsm_vocab.Vocabulary.save = nth(n, damsm_vocab.Vocabulary.save, after=True)
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    point, n, sep, *train_args = sys.argv[1:]
    assert sep == "--"
    torch.set_num_threads(1)
    install(point, int(n))
    sys.exit(main(train_args if train_args[0] == "encoder" else ["train", *train_args]))
