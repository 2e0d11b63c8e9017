"""Races, kills and full disks (issue 22): two writers of one run folder never mix, a start
killed at any instant leaves a folder the same command accepts, an encoder run resumed after a
kill logs each step once, and a full, over-quota or read-only disk is one line naming the
checkpoint or folder. The readers' and inputs' cases are tests/test_hostile.py."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch

from gtgan.cli import main
from gtgan.fileio import read_json, read_yaml

from test_hostile import model, one_line, run_cli  # noqa: F401 (fixtures, helpers)

pytestmark = pytest.mark.usefixtures("one_thread", "isolated_cache")

# ---------------------------------------------------------------- two writers, kills at the start
DRIVER = Path(__file__).with_name("_kill_driver.py")
ENC_TINY = ["--set", "damsm.dim=16", "--set", "damsm.word_embedding_dim=8", "--set", "damsm.cnn_width=4",
            "--set", "damsm.image_size=32", "--set", "optim.batch_size=8", "--set", "run.eval_samples=60",
            "--set", "run.eval_every_epochs=0", "--set", "run.checkpoint_every=3",
            "--set", "run.max_steps=3", "--quiet"]


@pytest.fixture
def tiny_cfg(tmp_path) -> Path:
    from gtgan.config import save_yaml
    from test_training import ONE_STAGE, tiny

    path = tmp_path / "tiny.yaml"
    save_yaml(tiny("stackgan++", *ONE_STAGE, "run.max_steps=1", "run.sample_every=0"), path)
    return path


def _seed(run: Path) -> int:
    return read_yaml(run / "config.yaml")["run"]["seed"]


def test_a_start_refused_the_lock_removes_nothing(tiny_cfg, tmp_path, monkeypatch, capsys):
    """The winner holds the lock of the folder the loser made: the loser leaves it alone."""
    import fcntl

    from gtgan.training.rundir import RunLock

    run, real, held = tmp_path / "new" / "run", RunLock.__enter__, []

    def winner_first(self):
        if not held:  # the other start: locks the folder and writes its config
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            (self.path.parent / "config.yaml").write_text("the winner's")
            held.append(fd)
        return real(self)

    monkeypatch.setattr(RunLock, "__enter__", winner_first)
    try:
        rc, err = run_cli(capsys, ["train", "--config", tiny_cfg, "--out", run, "--quiet"])
    finally:
        os.close(held[0])
    one_line(rc, err, "another training process is using this run directory")
    assert (run / "config.yaml").read_text() == "the winner's" and (run / ".lock").exists()


def test_a_resume_locks_before_it_reads_the_run(tiny_cfg, tmp_path, capsys):
    """While another process holds the run, a resume neither reads nor writes it: it is refused
    on the lock, not on what it would have read (here a damaged config.yaml)."""
    from gtgan.training.rundir import RunLock

    run = tmp_path / "run"
    assert main(["train", "--config", str(tiny_cfg), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    (run / "config.yaml").write_text("name: x\n")  # what a reader before the lock would reject
    holder = RunLock(run).__enter__()
    try:
        rc, err = run_cli(capsys, ["train", "--resume", run])
    finally:
        holder.__exit__()
    one_line(rc, err, "another training process is using this run directory")


def test_two_trains_into_one_folder_never_mix(tiny_cfg, tmp_path, monkeypatch, capsys):
    """A whole run finishes between the loser's first look and its lock: the loser's look
    under the lock sees it and refuses; the winner's run is whole."""
    from gtgan.training.rundir import RunLock

    run, real, done = tmp_path / "run", RunLock.__enter__, []

    def other_start_first(self):
        if not done:
            done.append(None)  # (the other start's own lock passes straight through)
            done[0] = main(["train", "--config", str(tiny_cfg), "--out", str(run), "--quiet",
                            "--set", "run.seed=7"])
            capsys.readouterr()  # the winner's own notes
        return real(self)

    monkeypatch.setattr(RunLock, "__enter__", other_start_first)
    rc, err = run_cli(capsys, ["train", "--config", tiny_cfg, "--out", run, "--quiet",
                               "--set", "run.seed=8"])
    assert done == [0]
    one_line(rc, err, "it holds a run: continue it with `gtgan train --resume")
    assert _seed(run) == 7 and (run / "model" / "gtgan_model.json").exists()
    assert len(read_json(run / "env.json")["runs"]) == 1


def test_two_encoder_trains_into_one_folder_never_mix(tmp_path, monkeypatch, capsys):
    import gtgan.training.damsm_train as dt

    out, real, done = tmp_path / "enc", dt.initial_image_net, []

    def other_start_first(*a, **k):  # during the loser's data set-up, the winner runs whole
        if not done:
            done.append(None)
            done[0] = main(["encoder", "train", "synthetic:120", "--out", str(out),
                            "--set", "run.seed=1", *ENC_TINY])
            capsys.readouterr()
        return real(*a, **k)

    monkeypatch.setattr(dt, "initial_image_net", other_start_first)
    rc, err = run_cli(capsys, ["encoder", "train", "synthetic:120", "--out", out,
                               "--set", "run.seed=2", *ENC_TINY])
    assert done == [0]
    one_line(rc, err, "it holds a run: continue it with `gtgan encoder train --resume")
    assert _seed(out) == 1 and len(read_json(out / "env.json")["runs"]) == 1
    assert (out / "encoder" / "damsm.json").exists()


def _kill(point: str, args: list) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(DRIVER), point, "1", "--", *map(str, args)],
                          env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]


@pytest.mark.parametrize("point", ["after-lock", "config-write"])
def test_a_train_killed_at_its_start_is_accepted_by_the_same_command(point, tiny_cfg, tmp_path,
                                                                     capsys):
    run = tmp_path / "run"
    args = ["--config", tiny_cfg, "--out", run, "--quiet"]
    _kill(point, args)
    assert not (run / "config.yaml").exists() and (run / ".lock").exists()
    assert main(["train", *map(str, args)]) == 0
    assert [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock"] == []


@pytest.mark.parametrize("point", ["after-lock", "after-vocab"])
def test_an_encoder_train_killed_at_its_start_is_accepted_by_the_same_command(point, tmp_path):
    out = tmp_path / "enc"
    args = ["encoder", "train", "synthetic:120", "--out", out, *ENC_TINY]
    _kill(point, args)
    assert not (out / "config.yaml").exists()
    assert main(list(map(str, args))) == 0
    assert (out / "encoder" / "damsm.json").exists()


def test_an_encoder_run_killed_before_its_first_checkpoint_resumes_as_one_log(tmp_path):
    from gtgan.training.damsm_train import train_encoder

    out = tmp_path / "enc"
    args = ["encoder", "train", "synthetic:120", "--out", out, *ENC_TINY, "--set", "run.log_every=1"]
    _kill("checkpoint-files", args)  # inside the first checkpoint (step 3): none is complete
    assert [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())] \
        == [1, 2, 3]
    assert main(["encoder", "train", "--resume", str(out), "--quiet"]) == 0
    steps = [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
             if r.get("kind") == "train"]
    assert steps == [1, 2, 3]  # not 1, 2, 3, 1, 2, 3
    result = train_encoder(None, out, resume=True, overrides=["run.max_steps=6"], progress=False)
    assert result.step == 6
    runs = read_json(out / "env.json")["runs"]
    assert [(r["event"], r["step"]) for r in runs] == [("start", 0), ("resume", 0), ("resume", 3)]
    again = train_encoder(None, out, resume=True, overrides=["run.max_steps=6"], progress=False)
    assert again.step == 6 and again.status == "max_steps"  # the epochs are not all done


def test_demo_force_never_deletes_a_demo_still_training(tmp_path, monkeypatch, capsys):
    import fcntl

    from gtgan.training.rundir import remove_holding_lock

    out = tmp_path / "demo"
    (out / "run").mkdir(parents=True)
    (out / "report.html").write_text("an old demo")
    fd = os.open(out / "run" / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another demo trains in it now
    try:
        with pytest.raises(Exception, match="another training process"):
            remove_holding_lock(out, out / "run")
    finally:
        os.close(fd)
    assert (out / "report.html").exists()
    remove_holding_lock(out, out / "run")
    assert not out.exists()


# ---------------------------------------------------------------- full disks
@pytest.mark.parametrize("code,expect", [(errno.ENOSPC, "no space left on the device"),
                                         (errno.EDQUOT, "disk quota exceeded")])
def test_a_full_disk_inside_a_checkpoint_is_one_line_naming_it(code, expect, tiny_cfg, tmp_path,
                                                                monkeypatch, capsys):
    import gtgan.storage.state_dicts as sd

    def full(tensors, path, metadata=None):  # what safetensors raises on a full disk
        from safetensors import SafetensorError
        raise SafetensorError(f"Error while serializing: IoError({os.strerror(code)} "
                              f"(os error {code}))")

    monkeypatch.setattr(sd, "save_file", full)
    run = tmp_path / "run"
    rc, err = run_cli(capsys, ["train", "--config", tiny_cfg, "--out", run, "--quiet",
                               "--set", "run.checkpoint_every=1"])
    one_line(rc, err, f"{run / 'checkpoints' / 'step-00000001'}: {expect}")
    assert not any(p.name.startswith(".tmp-") for p in (run / "checkpoints").iterdir())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_torch_save_of_the_train_state_on_a_full_disk_names_the_checkpoint(code, tmp_path,
                                                                          monkeypatch):
    import gtgan.storage.state_dicts as sd
    from gtgan.storage.checkpoint import save_checkpoint

    class Full:  # the file torch.save writes through: the disk fills on the first write
        def __init__(self, path, mode):
            self.name = str(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(code, os.strerror(code))

        def flush(self):
            pass

    monkeypatch.setattr(sd, "open", Full, raising=False)
    with pytest.raises(OSError) as info:
        save_checkpoint(tmp_path / "ck", 3, {"G": {"w": torch.zeros(4)}}, {"x": torch.zeros(9)}, {})
    assert info.value.errno == code and info.value.filename == str(tmp_path / "ck" / "step-00000003")
    assert [p.name for p in (tmp_path / "ck").iterdir()] == []


def test_save_pretrained_on_a_read_only_disk_names_the_folder(model, tmp_path, monkeypatch):
    import gtgan.storage.state_dicts as sd
    from gtgan import TextToImage

    pipe = TextToImage.from_pretrained(model)

    def read_only(tensors, path, metadata=None):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(sd, "save_file", read_only)
    with pytest.raises(OSError) as info:
        pipe.save_pretrained(tmp_path / "copy")
    assert info.value.errno == errno.EROFS and info.value.filename == str(tmp_path / "copy")
    assert list(tmp_path.glob(".copy*")) == []
