"""Run safety (issue 14): SIGKILL inside every kind of write, then resume, is bit-identical to
an uninterrupted run and leaves no leftovers; a resume refuses a damaged or changed
config.yaml; leftovers of killed writers are swept (live writers' are not); every file and
folder follows the umask. Builds on tests/test_training.py's tiny runs and its SIGKILL test."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gtgan.cli import main as cli_main
from gtgan.config import ConfigError, save_yaml
from gtgan.folders import STAGING
from gtgan.storage import latest_checkpoint, load_checkpoint
from gtgan.training import resume, train

from test_training import ONE_STAGE, _train_records, tiny

DRIVER = Path(__file__).with_name("_kill_driver.py")
DEAD = 2**22 + 4321  # above the default pid_max: no such process


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _cfg(*extra):
    return tiny("stackgan++", *ONE_STAGE, "run.max_steps=6", "run.deterministic=true", *extra)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of 6 steps (checkpoints at 2, 4, 6)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("reference") / "run"
    train(_cfg(), run, progress=False)
    torch.set_num_threads(before)
    return run


def _leftovers(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob(".*")
                  if STAGING.match(p.name) or p.name.startswith(".tmp-"))


# ---------------------------------------------------------------- SIGKILL inside writes
KILLS = {  # point -> (leftover pattern right after the kill, step the resume starts from)
    "checkpoint-files": (r"checkpoints/\.tmp-step-00000004-\d+$", 2),
    "checkpoint-rename": (r"checkpoints/\.tmp-step-00000004-\d+$", 2),
    "latest": (r"checkpoints/\.latest\.tmp-\d+-\w+$", 2),
    "model-staging": (r"\.model\.tmp-\d+-\w+$", 4),
    "model-swap": (r"\.model\.old-\d+$", 4),
}


@pytest.mark.parametrize("point", list(KILLS))
def test_sigkill_inside_a_write_then_resume_is_bit_identical(tmp_path, reference, point):
    cfg_path, run = tmp_path / "tiny.yaml", tmp_path / "run"
    save_yaml(_cfg(), cfg_path)
    proc = subprocess.run([sys.executable, str(DRIVER), point, "2", "--", "--config", str(cfg_path),
                           "--out", str(run), "--quiet"], env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr[-2000:]  # died by SIGKILL inside the write
    pattern, resumed_from = KILLS[point]
    assert any(re.match(pattern, p) for p in _leftovers(run)), _leftovers(run)
    if point == "model-swap":
        assert not (run / "model").exists()
    result = resume(run, progress=False)
    assert result.step == 6 and _leftovers(run) == []
    env = json.loads((run / "env.json").read_text())
    assert [r["step"] for r in env["runs"]] == [0, resumed_from]
    wa, sa, la = load_checkpoint(reference / "checkpoints" / "step-00000006")
    wb, sb, lb = load_checkpoint(latest_checkpoint(run / "checkpoints"))
    assert lb["step"] == 6
    for net in wa:
        for k in wa[net]:
            assert torch.equal(wa[net][k], wb[net][k]), f"{net}.{k} differs"
    for ga, gb in zip([sa["gan"]["opt_g"]] + sa["gan"]["opt_d"], [sb["gan"]["opt_g"]] + sb["gan"]["opt_d"]):
        for pid, st in ga["state"].items():
            assert all(torch.equal(v, gb["state"][pid][key]) for key, v in st.items())
    assert torch.equal(sa["rng"]["torch"], sb["rng"]["torch"])
    model = load_file(str(run / "model" / "generator.safetensors"))
    assert all(torch.equal(model[k], wa["G_ema"][k]) for k in model)
    assert _train_records(reference) == _train_records(run)


# ---------------------------------------------------------------- config.yaml on resume
def _small_run(tmp_path, *extra) -> Path:
    run = tmp_path / "run"
    train(tiny("stackgan++", *ONE_STAGE, "run.max_steps=2", "run.seed=123",
               "run.deterministic=true", *extra), run, progress=False)
    return run


def test_a_cut_short_or_empty_config_is_an_error_naming_the_file(tmp_path, capsys):
    run = _small_run(tmp_path)
    text = (run / "config.yaml").read_text()
    cut = text[: text.index("run:")]  # the run: section (seed 123, deterministic) lost
    (run / "config.yaml").write_text(cut)
    with pytest.raises(ConfigError, match=r"config\.yaml: lacks \d+ field\(s\) \(run\.seed"):
        resume(run, progress=False)
    (run / "config.yaml").write_text("")
    assert cli_main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "config.yaml: is empty" in err and "defaults are never assumed" in err
    assert "char-CNN-RNN" not in err and "Traceback" not in err
    assert (run / "config.yaml").read_text() == ""  # never written back with defaults
    from gtgan.storage import load_generator  # a checkpoint's model config comes from it too

    with pytest.raises(ConfigError, match="config.yaml: is empty"):
        load_generator(run / "checkpoints" / "step-00000002")


def test_resume_refuses_a_config_that_differs_from_the_checkpoints_record(tmp_path, capsys):
    run = _small_run(tmp_path)
    state = json.loads((run / "checkpoints" / "step-00000002" / "state.json").read_text())
    assert state["config"]["run"]["seed"] == 123 and len(state["config_sha256"]) == 64
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("seed: 123", "seed: 12").replace(
        "lr_g: 0.0001", "lr_g: 0.0002"))
    assert cli_main(["train", "--resume", str(run), "--set", "run.max_steps=3"]) == 2
    err = capsys.readouterr().err
    assert "optim.lr_g = 0.0002 in config.yaml, 0.0001 in step-00000002" in err
    assert "run.seed = 12 in config.yaml, 123 in step-00000002" in err
    assert not (run / "checkpoints" / "step-00000003").exists()
    # What --set may change differs without complaint, and is said
    (run / "config.yaml").write_text(text.replace("max_steps: 2", "max_steps: 3"))
    assert resume(run, progress=False).step == 3
    assert "run.max_steps = 3 (was 2 at step-00000002)" in capsys.readouterr().err
    assert resume(run, ["run.max_steps=4"], progress=False).step == 4


# ---------------------------------------------------------------- leftovers
def test_every_start_sweeps_dead_writers_leftovers_and_keeps_live_ones(tmp_path):
    run = _small_run(tmp_path)
    live = os.getppid()  # a process that is alive (pytest's parent)
    made = {
        f".model.tmp-{DEAD}-abc/generator.safetensors": b"x" * 1000,
        f"checkpoints/.latest.tmp-{DEAD}-q1": b"ste",
        f"checkpoints/.step-00000002.old-{DEAD}/G.safetensors": b"old",
        f"checkpoints/.tmp-step-00000009-{DEAD}/G.safetensors": b"partial",
        f".config.yaml.tmp-{DEAD}-zz": b"name: pa",
        f".env.json.tmp-{DEAD}-zz": b"{",
        f"samples/.step-00000002.png.tmp-{DEAD}-zz": b"\x89PNG",
    }
    for rel, data in made.items():
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_bytes(data)
    (run / f".model.tmp-{live}-keep").mkdir()  # another process still writing: untouched
    os.replace(run / "model", run / f".model.old-{DEAD}")  # killed mid-swap: put back
    assert resume(run, ["run.max_steps=3"], progress=False).step == 3
    assert _leftovers(run) == [f".model.tmp-{live}-keep"]
    assert (run / "model" / "gtgan_model.json").exists()


def test_a_failed_start_leaves_nothing_that_blocks_the_same_command(tmp_path, monkeypatch, capsys):
    import gtgan.training.loop as loop
    from gtgan.errors import DataError

    cfg_path = tmp_path / "tiny.yaml"
    save_yaml(tiny("stackgan++", *ONE_STAGE, "run.max_steps=1"), cfg_path)
    args = ["train", "--config", str(cfg_path), "--quiet"]
    real = loop.build_dataset

    def broken(*a, **k):  # fails after the run folder is made (e.g. a damaged image list)
        raise DataError("simulated: a data problem found while loading")

    for out, pre in ((tmp_path / "new" / "deeper" / "run", None), (tmp_path / "empty", "mkdir")):
        if pre:
            out.mkdir()
        monkeypatch.setattr(loop, "build_dataset", broken)
        assert cli_main(args + ["--out", str(out)]) == 2
        assert "simulated" in capsys.readouterr().err
        assert (list(out.iterdir()) == []) if pre else not (tmp_path / "new").exists()
        monkeypatch.setattr(loop, "build_dataset", real)
        assert cli_main(args + ["--out", str(out)]) == 0  # the same command, again: it runs
    capsys.readouterr()


def test_a_run_folder_of_user_files_is_refused_and_left_alone(tmp_path, capsys):
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    cfg_path = tmp_path / "tiny.yaml"
    save_yaml(tiny("stackgan++", *ONE_STAGE, "run.max_steps=1"), cfg_path)
    assert cli_main(["train", "--config", str(cfg_path), "--out", str(user), "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in user.iterdir()] == ["thesis.tex"]  # not even a lock file
    assert cli_main(["train", "--config", str(cfg_path), "--out", str(user / "thesis.tex" / "run"),
                     "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert (user / "thesis.tex").read_text() == "years of work"


# ---------------------------------------------------------------- permissions
def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode)
            for p in [root, *root.rglob("*")] if not p.is_symlink()}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_a_run_and_a_prepared_folder_write_follows_the_umask(tmp_path, monkeypatch, umask):
    from PIL import Image

    from gtgan.config import EncoderConfig
    from gtgan.data import build_encoder
    from gtgan.data.embcache import cached_embeddings
    from gtgan.data.folder import prepare_folder
    from gtgan.fileio import atomic_save_image
    from gtgan.metrics import write_report
    from gtgan.pipeline import TextToImage

    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        run = out / "run"
        train(tiny("demo", "run.max_steps=2", "run.sample_every=2"), run, progress=False)
        TextToImage.from_pretrained(run / "model").save_pretrained(out / "saved")
        atomic_save_image(out / "grid.png", Image.new("RGB", (4, 4)))
        write_report({"results": {}}, out / "report.json")
        data = out / "data"
        data.mkdir()
        for i in range(4):
            Image.new("RGB", (8, 8), (i * 50, 0, 0)).save(data / f"b{i}.png")
            (data / f"b{i}.txt").write_text(f"a red bird number {i}\n")
        enc = build_encoder(EncoderConfig(kind="bow", dim=1024))
        prepare_folder(data, enc)
        cached_embeddings(enc, ["a red bird"], tmp_path / "cache" / "embeddings" / "cub-x-train")
    finally:
        os.umask(old)
    wanted_dir, wanted_file = 0o777 & ~umask, 0o666 & ~umask
    modes = {**_modes(out), **{f"cache/{k}": v for k, v in _modes(tmp_path / "cache").items()}}
    wrong = {k: oct(v) for k, v in modes.items() if v != (
        wanted_dir if (out / k).is_dir() or (tmp_path / k).is_dir() else wanted_file)}
    assert wrong == {}, f"umask {oct(umask)}: want dirs {oct(wanted_dir)}, files {oct(wanted_file)}"
    for must in ("run/model/generator.safetensors", "run/checkpoints/step-00000002/state.json",
                 "run/samples/step-00000002.png", "saved", "data/gtgan_manifest.json"):
        assert must in modes, must


def test_reports_and_demo_folders_replace_only_their_own_kind(tmp_path, capsys):
    from gtgan.metrics import write_report

    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}')
    assert cli_main(["eval", str(tmp_path / "no-run"), "--out", str(notes)]) == 2  # before any work
    assert "notes.json: is a file that is not a gtgan evaluation report" in capsys.readouterr().err
    (tmp_path / "r.md").write_text("my own notes")
    with pytest.raises(Exception, match="r.md: is a file that is not"):
        write_report({"results": {}}, tmp_path / "r.json")
    assert notes.read_text() == '{"mine": 1}' and (tmp_path / "r.md").read_text() == "my own notes"
    write_report({"results": {}}, tmp_path / "ok.json")
    write_report({"results": {"64": {}}}, tmp_path / "ok.json")  # a report replaces a report
    assert json.loads((tmp_path / "ok.json").read_text())["results"] == {"64": {}}

    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "report.html").write_text("<html>")
    (demo / "thesis.tex").write_text("years of work")
    assert cli_main(["demo", "--out", str(demo), "--force", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds thesis.tex, which the demo does not write; nothing was deleted" in err
    assert sorted(p.name for p in demo.iterdir()) == ["report.html", "thesis.tex"]
