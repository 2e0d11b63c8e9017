"""Hostile input (issue 22): small files that would cost unbounded memory or time, values that
would make an unbounded error message, nesting past Python's recursion limit, caps and types in
the Python API, bounded data folders, `gtgan serve`'s rejected requests, user files kept,
refused pickles. Each case must end in one line naming the file, field or value, a non-zero
exit and no traceback, with bounded memory and time. Races, kills and full disks:
tests/test_hostile_runs.py."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch

from gtgan.cli import main
from gtgan.fileio import MAX_DEPTH, MAX_MESSAGE, MAX_SHOWN, FileFormatError, load_json_text, \
    load_yaml_text, read_json, read_yaml, shown

pytestmark = pytest.mark.usefixtures("one_thread", "isolated_cache")

LAUGHS = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]\n" for a, b in zip("abcdefgh", "bcdefghi"))


@pytest.fixture(scope="module")
def model(bow_model) -> Path:
    return bow_model




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
    import time
    import tracemalloc

    run_cli(capsys, ["config", "demo"])  # imports done first: measure the hostile value only
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        rc, err = run_cli(capsys, ["config", "demo", "--set", "name=" + LAUGHS])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    one_line(rc, err, "YAML aliases")
    assert peak < 50 << 20 and time.monotonic() - t0 < 10  # was > 3 GB in 20 s


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
    from gtgan.data.damsm_folder import DAMSM_JSON, _read_info
    from gtgan.errors import EncoderError

    (tmp_path / DAMSM_JSON).write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(EncoderError, match="nested deeper than"):
        _read_info(tmp_path)


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


def test_a_zero_byte_jpeg_is_named_and_skippable(tmp_path, capsys):
    """One of the audit's cases that held: kept in the corpus."""
    root = _folder(tmp_path)
    (root / "gull" / "b2.png").unlink()
    (root / "gull" / "b2.jpg").write_bytes(b"")
    rc, err = run_cli(capsys, ["data", "prepare", root])
    one_line(rc, err, "b2.jpg: cannot decode image")
    assert main(["data", "prepare", str(root), "--skip-missing"]) == 0
