"""Hostile input (issue 22): small files that would cost unbounded memory or time, values that
would make an unbounded error message, nesting past Python's recursion limit, races between two
writers of one folder, full disks. Each case must end in one line naming the file, field or
value, a non-zero exit and no traceback, with bounded memory and time."""
from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest
import torch

from gtgan.cli import main
from gtgan.config import ModelConfig
from gtgan.data.encoders import BowEncoder
from gtgan.fileio import MAX_DEPTH, MAX_MESSAGE, MAX_SHOWN, FileFormatError, load_json_text, \
    load_yaml_text, read_json, read_yaml, shown
from gtgan.models import build_generator
from gtgan.storage import save_model

pytestmark = pytest.mark.usefixtures("one_thread")

LAUGHS = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]\n" for a, b in zip("abcdefgh", "bcdefghi"))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    enc = BowEncoder()
    cfg = ModelConfig(text_dim=enc.dim, c_dim=8, z_dim=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("hostile") / "model"
    save_model(out, cfg, build_generator(cfg).state_dict(), enc.identity, {})
    return out


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GTGAN_DEBUG", raising=False)


def run_cli(capsys, args) -> tuple[int, str]:
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def one_line(rc: int, err: str, expect: str, code: int = 2) -> str:
    notes = ("gtgan train: precision",)  # a start's own one-line notes may come first
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(notes)
             and "img/s]" not in line]
    assert rc == code, err[:2000]
    assert len(lines) == 1 and "Traceback" not in err and "this is a bug" not in err, err[:2000]
    assert expect in lines[0], lines[0][:2000]
    assert len(lines[0]) < MAX_MESSAGE + 200
    return lines[0]


# ---------------------------------------------------------------- the readers and `shown`
def test_shown_is_bounded_for_any_value():
    import yaml

    shared = yaml.safe_load(LAUGHS)  # 9^9 strings through shared references
    for value in (shared, "x" * 10**7, 7**20000, [[[[[[[[1]]]]]]]] * 1000, b"\0" * 10**6):
        assert len(shown(value)) <= MAX_SHOWN


@pytest.mark.parametrize("text,expect", [
    (LAUGHS, "YAML aliases"),
    ("[" * 5000 + "]" * 5000, f"nested deeper than {MAX_DEPTH}"),
    ("{a: " * 5000 + "1" + "}" * 5000, f"nested deeper than {MAX_DEPTH}"),
    ("[&a [x", "not valid YAML"),
    ("x" * (2 << 20), "larger than"),
])
def test_yaml_reader_bounds(text, expect):
    with pytest.raises(FileFormatError, match="^WHERE: ") as info:
        load_yaml_text(text, "WHERE")
    assert expect in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize("text,expect", [
    ("[" * 100000 + "]" * 100000, f"nested deeper than {MAX_DEPTH}"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH}"),
    ('{"a": ', "not valid JSON"),
])
def test_json_reader_bounds(text, expect):
    with pytest.raises(FileFormatError, match="^WHERE: ") as info:
        load_json_text(text, "WHERE")
    assert expect in str(info.value)


def test_readers_refuse_large_files_before_reading_them(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 << 20) + b"1")
    with pytest.raises(FileFormatError, match="larger than"):
        read_json(big)
    (tmp_path / "bin.yaml").write_bytes(b"a: \xff\xfe")
    with pytest.raises(FileFormatError, match="not UTF-8"):
        read_yaml(tmp_path / "bin.yaml")


# ---------------------------------------------------------------- configs
def test_billion_laughs_in_set_is_one_short_line(capsys):
    rc, err = run_cli(capsys, ["config", "demo", "--set", "name=" + LAUGHS.replace("\n", "\n")])
    one_line(rc, err, "YAML aliases")


def test_billion_laughs_in_config_file_and_run_config(tmp_path, model, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(LAUGHS.replace("a:", "name:", 1))
    rc, err = run_cli(capsys, ["config", bad])
    one_line(rc, err, f"{bad}: expands to more than")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(LAUGHS)
    rc, err = run_cli(capsys, ["train", "--resume", run])
    one_line(rc, err, "YAML aliases")


@pytest.mark.parametrize("value,expect", [
    ("[&a [x", "not valid YAML"),
    ("[" * 3000, "nested deeper than"),
])
def test_malformed_yaml_in_set_is_the_users_error(value, expect, capsys):
    rc, err = run_cli(capsys, ["config", "demo", "--set", f"name={value}"])
    one_line(rc, err, expect)


def test_huge_config_value_gives_a_short_message(capsys):
    rc, err = run_cli(capsys, ["config", "demo", "--set", "optim.batch_size=" + "9" * 500_000])
    assert len(one_line(rc, err, "--set 'optim.batch_size=999")) < 600
    rc, err = run_cli(capsys, ["config", "demo", "--set", "run.precision=" + "x" * 500_000])
    assert len(one_line(rc, err, "run.precision = 'xxx")) < 600


def test_nested_yaml_config_file(tmp_path, capsys):
    bad = tmp_path / "deep.yaml"
    bad.write_text("name: " + "[" * 5000 + "]" * 5000)
    rc, err = run_cli(capsys, ["config", bad])
    one_line(rc, err, f"{bad}: nested deeper than")


# ---------------------------------------------------------------- model folders and runs
def _edit_model_json(src: Path, dst: Path, edit) -> Path:
    import shutil

    shutil.copytree(src, dst)
    info = json.loads((dst / "gtgan_model.json").read_text())
    text = edit(info)
    (dst / "gtgan_model.json").write_text(text if isinstance(text, str) else json.dumps(info))
    return dst


@pytest.mark.parametrize("name,edit,expect", [
    ("version-string", lambda i: i.update(version="2"), 'version = \'2\': expected a whole number'),
    ("10MB-value", lambda i: i.update(format="x" * 10**7), "larger than 1,048,576 bytes"),
    ("long-format", lambda i: i.update(format="x" * 10**5), "format is 'xxx"),
    ("long-field", lambda i: i["model"].update(ngf="z" * 10**5), "model.ngf = 'zzz"),
    ("nested", lambda i: "[" * 100000 + "]" * 100000, "nested deeper than"),
])
def test_hostile_model_json(name, edit, expect, model, tmp_path, capsys):
    folder = _edit_model_json(model, tmp_path / name, edit)
    rc, err = run_cli(capsys, ["generate", folder, "bird", "-n", "1", "-o", tmp_path / "o.png"])
    line = one_line(rc, err, expect)
    assert len(line) < 800


def test_nested_json_beside_a_served_model_is_ignored(model, tmp_path):
    from gtgan.serve.model_card import _candidate_reports, evaluation_lines

    (model.parent / "deep.json").write_text("[" * 100000 + "]" * 100000)
    try:
        class Pipe:
            weights_file = model / "generator.safetensors"
        assert model.parent / "deep.json" in _candidate_reports(model, Pipe.weights_file)
        assert evaluation_lines(Pipe(), model) == []
    finally:
        (model.parent / "deep.json").unlink()


def test_nested_state_json_on_resume_is_one_line(tmp_path):
    from gtgan.errors import CheckpointError
    from gtgan.storage.checkpoint import STATE_JSON, read_state

    (tmp_path / STATE_JSON).write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(CheckpointError, match="nested deeper than"):
        read_state(tmp_path)
    (tmp_path / STATE_JSON).write_text('{"format": "gtgan-checkpoint", "version": [2]}')
    with pytest.raises(CheckpointError, match="version = \\[2\\]: expected a whole number"):
        read_state(tmp_path)


def test_nested_damsm_json_is_one_line(tmp_path):
    from gtgan.data.damsm import DAMSM_JSON, _read_info
    from gtgan.errors import EncoderError

    (tmp_path / DAMSM_JSON).write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(EncoderError, match="nested deeper than"):
        _read_info(tmp_path)


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


# ---------------------------------------------------------------- caps in the Python API
@pytest.mark.parametrize("call,expect", [
    (lambda p: p(["a red bird"], num_images=10**6), "over the cap of 1,024 per call"),
    (lambda p: p(["a red bird"] * 40, num_images=30), "1,200 images, over the cap of 1,024"),
    (lambda p: p(["a red bird"], num_images=2.5), "num_images = 2.5: must be a whole number"),
    (lambda p: p(["a red bird"], num_images="3"), "num_images = '3': must be a whole number"),
    (lambda p: p(["a red bird"], num_images=0), "num_images = 0: must be from 1 to"),
    (lambda p: p(["a red bird"], seed=2**64), "seed = 18446744073709551616: must be from 0"),
    (lambda p: p(["a red bird"], seed=-1), "seed = -1: must be from 0"),
    (lambda p: p.interpolate_captions("a", "b", steps=10**6), "steps = 1000000: must be from 2"),
    (lambda p: p.interpolate_captions("a", "b", steps=3.0), "steps = 3.0: must be a whole"),
    (lambda p: p.interpolate_noise("a", steps=4, seed=2**63 - 1), "seed = 9223372036854775807"),
    (lambda p: p.generate_grid_tensors(["a"], num_images=True), "num_images = True"),
])
def test_the_api_caps_and_types_are_one_line_caption_errors(call, expect, model):
    from gtgan import TextToImage
    from gtgan.pipeline import CaptionError

    pipe = TextToImage.from_pretrained(model)
    with pytest.raises(CaptionError) as info:
        call(pipe)
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_the_api_cap_is_the_clis_and_can_be_raised(model, tmp_path, capsys):
    import numpy as np

    from gtgan import TextToImage
    from gtgan.config import MAX_IMAGES

    pipe = TextToImage.from_pretrained(model)
    assert pipe.max_images == MAX_IMAGES == 1024
    pipe.max_images = 2
    assert len(pipe(["a red bird"], num_images=np.int64(2), seed=np.uint32(5))) == 2
    rc, err = run_cli(capsys, ["generate", model, "a", "b", "c", "-n", "400", "--max-images",
                               "1199", "-o", tmp_path / "x.png"])
    one_line(rc, err, "over the cap of 1,199 per call")


# ---------------------------------------------------------------- data folders
def _folder(tmp_path):
    from test_bad_inputs import make_folder

    return make_folder(tmp_path / "f")


@pytest.mark.parametrize("content,expect", [
    ("a bird\n" * 200_000, "b2.txt: larger than 1,048,576 bytes"),
    ("x" * 5000 + "\n", "b2.txt line 1: 5,000 characters; a caption has at most 1,000: shorten it"),
    ("".join(f"bird {i}\n" for i in range(1001)), "b2.txt: more than 1,000 different captions"),
])
def test_caption_files_are_bounded(content, expect, tmp_path, capsys):
    root = _folder(tmp_path)
    (root / "gull" / "b2.txt").write_text(content)
    rc, err = run_cli(capsys, ["data", "prepare", root])
    one_line(rc, err, expect)


def test_identical_caption_lines_are_encoded_and_cached_once(tmp_path, capsys):
    from gtgan.data.captions import read_caption_file

    root = _folder(tmp_path)
    (root / "gull" / "b2.txt").write_text("a red bird\n" * 50_000 + "a blue bird\n")
    cf = read_caption_file(root / "gull" / "b2.txt")
    assert cf.captions == ["a red bird", "a blue bird"] and cf.duplicate_lines == 49_999
    assert main(["data", "prepare", str(root)]) == 0
    cache = sum(p.stat().st_size for p in (root / "gtgan_cache").rglob("*") if p.is_file())
    assert cache < 100_000


def test_an_image_past_pillows_pixel_limit_is_an_error_naming_it(tmp_path, capsys):
    import warnings

    from PIL import Image
    from test_bad_inputs import _png_claiming

    root = _folder(tmp_path)
    img = root / "gull" / "b2.png"
    _png_claiming(img, 12_000, 12_000)  # 144 Mpx: past the limit, under twice it (a warning)
    assert Image.MAX_IMAGE_PIXELS < 144e6 < 2 * Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rc, err = run_cli(capsys, ["data", "prepare", root])
    one_line(rc, err, f"{img}: more than 89,478,485 pixels")


@pytest.mark.parametrize("where", ["/etc/passwd", "../outside.png", "gull/../../outside.png", 5])
def test_a_manifest_pointing_outside_the_folder_is_refused(where, tmp_path, capsys):
    from gtgan.data.folder import MANIFEST, check_prepared
    from gtgan.errors import DataError

    root = _folder(tmp_path)
    assert main(["data", "prepare", str(root)]) == 0
    manifest = read_json(root / MANIFEST)
    manifest["items"][0]["image"] = where
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="item 0 names .*not a file inside"):
        check_prepared(root, "train")


# ---------------------------------------------------------------- gtgan serve
def test_serve_answers_every_rejected_input_with_one_line_and_cleans_up(serve_model, tmp_path,
                                                                        monkeypatch):
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from _serve_support import Server

    temp = tmp_path / "gradio-temp"
    temp.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(temp))
    server = Server(serve_model)
    try:
        client = Client(server.url, verbose=False)
        size = 128 if "128" in str(client.view_api(return_format="dict")) else 64
        good = client.predict("a red bird", 2, 5, False, size, api_name="/generate")
        assert len(good[0]) == 2 and any(temp.rglob("*.png"))
        cases = [(("a red bird", 9, 0, False, size), "number of images 9: must be a whole number"),
                 (("a red bird", 2, "abc", False, size), "seed 'abc': must be a whole number"),
                 (("a red bird", None, 0, False, size), "number of images None"),
                 (("a red bird", 2, 0, "yes", size), "random seed 'yes': must be true or false"),
                 (("a red bird", 2, 2**70, False, size), "seed 1180591620717411303424"),
                 ((None, 2, 0, False, size), "caption 1 is a NoneType"),
                 (("a red bird", 2, 0, False, 99), "scale 99")]
        for args, expect in cases:
            with pytest.raises(AppError, match=re.escape(expect)):
                client.predict(*args, api_name="/generate")
        with pytest.raises(AppError, match="steps 500: must be a whole number from 2 to"):
            client.predict("a", "b", 500, 0, False, size, api_name="/interpolate")
        assert server.alive()
    finally:
        server.stop()
    console = "\n".join(server.lines)
    assert "Traceback" not in console and console.count("refused a request") == len(cases) + 1
    left = [p for p in temp.rglob("*") if p.is_file() or p.name.startswith("gtgan-serve")]
    assert left == []  # every served file removed with the server (Gradio's own empty folder
    # vibe_edit_history, made at its import, stays)


def test_serve_answers_a_wrong_number_of_values_with_one_line(serve_model, monkeypatch, tmp_path,
                                                              capsys):
    """(gradio_client fills left-out values with their defaults: the check is called directly,
    as Gradio calls it for every request before anything else.)"""
    import gradio as gr

    from gtgan.serve import ServeOptions, Service
    from gtgan.serve.app import build_app

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    app = build_app(Service.load(serve_model, ServeOptions(device="cpu")))
    fn = next(f for f in app.fns.values() if f.api_name == "generate")
    with pytest.raises(gr.Error, match=r"3 value\(s\) sent, 5 expected \(Caption, Number of "):
        app.validate_inputs(fn, ["a red bird", 2, 0])
    app.validate_inputs(fn, ["a red bird", 2, 0, False, 64])
    assert capsys.readouterr().out.count("refused a request") == 1



# ---------------------------------------------------------------- what the user put there stays
def test_save_pretrained_over_a_model_folder_keeps_the_users_files(model, tmp_path):
    import shutil

    from gtgan import TextToImage

    target = tmp_path / "mine"
    shutil.copytree(model, target)
    (target / "notes.txt").write_text("what I tried")
    (target / "samples").mkdir()
    (target / "samples" / "a.png").write_bytes(b"png")
    os.symlink("notes.txt", target / "link")
    TextToImage.from_pretrained(model).save_pretrained(target)
    assert (target / "notes.txt").read_text() == "what I tried"
    assert (target / "samples" / "a.png").read_bytes() == b"png"
    assert os.readlink(target / "link") == "notes.txt"
    assert (target / "gtgan_model.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_generate_does_not_replace_an_existing_picture_without_force(model, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"my holiday")
    for command in (["generate", model, "a bird", "-n", "1"], ["interpolate", model, "a", "b"]):
        rc, err = run_cli(capsys, [*command, "-o", photo])
        one_line(rc, err, f"-o {photo}: already exists; add --force to replace it")
        assert photo.read_bytes() == b"my holiday"
    assert main(["generate", str(model), "a bird", "-n", "1", "-o", str(photo), "--force"]) == 0
    assert photo.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- pickles
class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_refused_pickle_is_one_line_without_pytorchs_advice(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "netG.pth"
    torch.save({"w": torch.zeros(2), "x": _Evil()}, evil)
    rc, err = run_cli(capsys, ["import-stackgan-v2", evil, "--out", tmp_path / "m"])
    line = one_line(rc, err, f"{evil}: holds Python objects, not only tensors")
    assert "nothing in it was run" in line
    assert "weights_only=False" not in err and "trust" not in err
    assert not (tmp_path / "PWNED").exists()
    (tmp_path / "junk.pth").write_bytes(b"not a zip" * 9)
    rc, err = run_cli(capsys, ["import-stackgan-v2", tmp_path / "junk.pth", "--out", tmp_path / "m"])
    one_line(rc, err, "junk.pth: not a PyTorch weights file")


def test_a_checkpoints_train_state_with_objects_is_refused_in_one_line(tmp_path):
    from gtgan.errors import CheckpointError
    from gtgan.storage.checkpoint import TRAIN_STATE, load_checkpoint, save_checkpoint

    ck = save_checkpoint(tmp_path, 1, {"G": {"w": torch.zeros(2)}}, {"x": torch.zeros(1)}, {})
    torch.save({"x": _Evil()}, ck / TRAIN_STATE)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(ck, verify=False)
    assert "holds Python objects" in str(info.value) and "\n" not in str(info.value)
    assert "weights_only=False" not in str(info.value)
