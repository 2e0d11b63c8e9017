"""Hostile input (issue 22): small files that would cost unbounded memory or time, values that
would make an unbounded error message, nesting past Python's recursion limit, races between two
writers of one folder, full disks. Each case must end in one line naming the file, field or
value, a non-zero exit and no traceback, with bounded memory and time."""
from __future__ import annotations

import errno
import json
import os
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
    lines = [line for line in err.splitlines() if line.strip()]
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
