"""The bad-input corpus (issue 14): images, captions, file names, config values, CLI arguments
and paths, each with the one line it must get, a non-zero exit and no traceback; and
`gtgan data inspect` agreeing with training's data loading on every data case.

CLI cases run in-process through gtgan.cli.main (fast); a few run as subprocesses to see
exactly what a user sees on stderr."""
from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gtgan.cli import main
from gtgan.config import DataConfig, EncoderConfig
from gtgan.data import build_dataset
from gtgan.errors import DataError

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread", "isolated_cache")


@pytest.fixture(scope="module")
def model(bow_model) -> Path:
    return bow_model




def run_cli(capsys, args: list[str]) -> tuple[int, str, str]:
    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_one_line_error(rc: int, err: str, expect: str) -> None:
    assert rc not in (0, None), err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and "it/s]" not in line
             and "img/s]" not in line]
    assert len(lines) == 1, err
    assert expect in lines[0], lines[0]


# ---------------------------------------------------------------- CLI arguments and paths
def _cli_cases(m: Path, t: Path) -> list[tuple[str, list, str]]:
    f = t / "a_file.txt"
    return [
        ("output is a folder", ["generate", m, "bird", "-o", t], "is a folder; give a file name"),
        ("unknown extension", ["generate", m, "bird", "-o", t / "out.xyz"],
         "unknown image extension .xyz, use .png/.jpg"),
        ("output under a file", ["generate", m, "bird", "-o", f / "g.png"],
         f"{f} is a file, not a folder"),
        ("--each is a file", ["generate", m, "bird", "--each", f], "is a file, not a folder"),
        ("seed too large", ["generate", m, "bird", "--seed", str(10**23)],
         "a seed must be in [0, 2**63-1]"),
        ("seed negative", ["generate", m, "bird", "--seed", "-1"], "a seed must be in [0, 2**63-1]"),
        ("-n 0", ["generate", m, "bird", "-n", "0"], "-n 0: must be at least 1"),
        ("over the image cap", ["generate", m, "bird", "red", "-n", "600"],
         "= 1,200 images, over the cap of 1,024 per call; raise it with --max-images 1200"),
        ("name too long", ["generate", m, "bird", "-o", t / ("x" * 300 + ".png")], "is too long"),
        ("grid too large", ["generate", m, "bird", "-n", "20000", "--max-images", "20000",
                            "-o", t / "g.png"], "write the images one by one with --each"),
        ("grid too wide for JPEG", ["generate", m, "bird", "-n", "600", "-o", t / "g.jpg"],
         "65,535 px a side for JPEG"),
        ("interpolate --steps -3", ["interpolate", m, "bird", "--steps", "-3"],
         "--steps -3: must be at least 2"),
        ("interpolate --steps 1", ["interpolate", m, "bird", "--steps", "1"], "must be at least 2"),
        ("interpolate over the cap", ["interpolate", m, "bird", "--steps", "5000"],
         "over the cap of 1,024 per call"),
        ("interpolate seed+1 overflows", ["interpolate", m, "bird", "--seed", str(2**63 - 1)],
         "a seed must be in [0, 2**63-1]"),
        ("eval --samples 0", ["eval", m, "--samples", "0", "--out", t / "r.json"],
         "--samples 0: must be at least 1"),
        ("eval --out a folder", ["eval", m, "--out", t], "is a folder; give a file name"),
        ("train --out FILE/sub", ["train", "--config", "demo", "--out", f / "sub"],
         f"{f} is a file, not a folder"),
        ("train --out FILE", ["train", "--config", "demo", "--out", f],
         "is a file, not a folder; give a folder for the run"),
        ("import --out .", ["import-stackgan-v2", f, "--out", "."],
         "exists and is not a gtgan model folder"),
        ("data prepare a file", ["data", "prepare", f], "is a file, not a folder"),
        ("data prepare nothing", ["data", "prepare", t / "nope"], "folder not found"),
        ("inspect --examples -1", ["data", "inspect", t, "--examples", "-1"],
         "--examples -1: must be at least 0"),
        ("inspect --out a folder", ["data", "inspect", t, "--out", t], "is a folder"),
        ("demo --minutes 0", ["demo", "--minutes", "0", "--out", t / "d"],
         "--minutes 0: must be a positive number"),
        ("demo --rp-encoder not a DAMSM", ["demo", "--rp-encoder", t, "--out", t / "d"],
         "--rp-encoder: " + f"{t}: not a DAMSM encoder folder"),
    ]


_CASE_NAMES = [c[0] for c in _cli_cases(Path("m"), Path("t"))]


@pytest.mark.parametrize("name", _CASE_NAMES)
def test_cli_argument_and_path_cases(name, model, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # "import --out ." points at the repository: it must be refused
    (tmp_path / "a_file.txt").write_text("user data\n")
    _, args, expect = next(c for c in _cli_cases(model, tmp_path) if c[0] == name)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, _, err = run_cli(capsys, args)
    assert_one_line_error(rc, err, expect)
    assert rc == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing made or removed
    assert (tmp_path / "a_file.txt").read_text() == "user data\n"


# ---------------------------------------------------------------- config values
@pytest.mark.parametrize("override,expect", [
    ("run.log_every=0", "run.log_every = 0: must be an integer >= 1"),
    ("data.num_workers=-1", "data.num_workers = -1: must be an integer in [0, 256]"),
    ("optim.lr_g=-1", "optim.lr_g = -1.0: must be a finite number in (0, 1]"),
    ("optim.ema_decay=2", "optim.ema_decay = 2.0: must be a finite number in [0, 1)"),
    ("run.max_steps=-1", "run.max_steps = -1: must be an integer >= 0"),
    ("run.max_minutes=-1", "run.max_minutes = -1.0: must be a finite number >= 0"),
    ("optim.epochs=0", "optim.epochs = 0: must be an integer >= 1"),
    ("run.seed=-3", "run.seed = -3: must be an integer in [0,"),
    ("run.seed=1e23", "run.seed = '1e23': expected int"),
    ("optim.batch_size=0", "optim.batch_size = 0: must be an integer in [1, 65,536]"),
    ("model.nope=1", "unknown key 'model.nope'"),
])
def test_config_values(override, expect, capsys):
    rc, _, err = run_cli(capsys, ["config", "demo", "--set", override])
    assert_one_line_error(rc, err, expect)


def test_train_refuses_bad_config_before_making_anything(tmp_path, capsys):
    rc, _, err = run_cli(capsys, ["train", "--config", "demo", "--set", "run.log_every=0",
                                  "--out", tmp_path / "run"])
    assert_one_line_error(rc, err, "run.log_every = 0: must be an integer >= 1")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- OS errors and bugs
@pytest.mark.parametrize("code,expect", [
    (errno.ENOSPC, "no space left on the device"),
    (errno.EACCES, "permission denied"),
    (errno.EROFS, "read-only file system"),
    (errno.EIO, "input/output error"),
])
def test_os_errors_are_one_line_naming_the_path(code, expect, model, tmp_path, capsys,
                                                monkeypatch):
    import gtgan.fileio as fileio

    def fail(path, data, durable):  # as the OS would: on the temporary file beside `path`
        raise OSError(code, os.strerror(code), str(path.parent / f".{path.name}.x1y2.tmp"))

    monkeypatch.setattr(fileio, "_atomic_write_bytes", fail)
    out = tmp_path / "grid.png"
    rc, _, err = run_cli(capsys, ["generate", model, "bird", "-n", "1", "-o", out])
    assert_one_line_error(rc, err, f"{out}: {expect}")
    assert rc == 2 and not out.exists()


def test_unwritable_folder_is_refused_before_any_work(model, tmp_path, capsys, monkeypatch):
    """(Tests run as root, which the OS lets write anywhere: os.access stands in.)"""
    import gtgan.cli._paths as paths

    monkeypatch.setattr(paths.os, "access", lambda p, mode: Path(p) != tmp_path)
    rc, _, err = run_cli(capsys, ["generate", model, "bird", "-o", tmp_path / "g.png"])
    assert_one_line_error(rc, err, f"-o {tmp_path / 'g.png'}: no permission to write in {tmp_path}")
    rc, _, err = run_cli(capsys, ["generate", model, "bird", "--each", tmp_path / "new" / "d"])
    assert_one_line_error(rc, err, f"no permission to write in {tmp_path}")
    assert list(tmp_path.iterdir()) == []


def test_unexpected_error_is_one_line_and_debug_shows_it(model, capsys, monkeypatch):
    import gtgan.pipeline

    def boom(*a, **k):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(gtgan.pipeline.TextToImage, "from_pretrained", boom)
    rc, _, err = run_cli(capsys, ["generate", model, "bird", "-n", "1", "-o", "/tmp/x.png"])
    assert_one_line_error(rc, err, "RuntimeError: boom; this is a bug; rerun with GTGAN_DEBUG=1")
    assert rc == 70
    monkeypatch.setenv("GTGAN_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["generate", str(model), "bird", "-n", "1", "-o", "/tmp/x.png"])


def test_missing_output_folder_is_made_and_said(model, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "g.png"
    rc, stdout, _ = run_cli(capsys, ["generate", model, "bird", "-n", "2", "-o", out,
                                     "--device", "cpu"])
    assert rc == 0 and out.is_file()
    assert f"created folder {out.parent}" in stdout
    rc, stdout, _ = run_cli(capsys, ["generate", model, "bird", "-n", "2", "-o", out, "--force"])
    assert rc == 0 and "created folder" not in stdout


def test_subprocess_stderr_is_one_line(model, tmp_path):
    """What a user sees: the installed entry point, stderr exactly one line, exit 2."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for args, expect in ((["generate", str(model), "bird", "-o", str(tmp_path / "o.xyz")],
                          "unknown image extension .xyz"),
                         (["eval", str(model), "--samples", "0", "--out", "r.json"],
                          "--samples 0: must be at least 1")):
        p = subprocess.run([sys.executable, "-m", "gtgan.cli", *args], capture_output=True,
                           text=True, env=env, timeout=120)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and expect in p.stderr, p.stderr


# ---------------------------------------------------------------- generation streamed
def test_streamed_generation_equals_the_batch_api(model, tmp_path, capsys):
    """2 x 33 images, past one batch (64): the --each files are the API's images exactly."""
    from gtgan.images import tensor_to_pil
    from gtgan.pipeline import TextToImage

    pipe = TextToImage.from_pretrained(model)
    caps = ["a red bird", "a blue bird with a long beak"]
    grid = pipe.generate_grid_tensors(caps, 33, seed=3, scale=64)
    rc, _, _ = run_cli(capsys, ["generate", model, *caps, "-n", "33", "--seed", "3", "--scale",
                                "64", "--each", tmp_path / "each", "--device", "cpu"])
    assert rc == 0 and not (tmp_path / "generated.png").exists()  # --each alone: no grid
    files = sorted((tmp_path / "each").iterdir())
    assert len(files) == 66
    for r in (0, 1):
        want = tensor_to_pil(grid[r])
        for c in (0, 17, 32):
            got = Image.open(tmp_path / "each" / f"caption{r:02d}_seed3_{c:02d}.png")
            assert (np.asarray(got) == np.asarray(want[c])).all()


# ---------------------------------------------------------------- data: images, captions, names
def _png_claiming(path: Path, w: int, h: int) -> None:
    """A PNG whose header claims w x h pixels (a decompression bomb, without the memory)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def make_folder(root: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = root / ("finch" if i % 2 else "gull")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8)).save(sub / f"b{i}.png")
        (sub / f"b{i}.txt").write_text(f"a bird number {i} with red wings\n")
    return root


def _bad(root: Path, case: str) -> tuple[Path, str]:
    """Damage item b2 (or add a file) as `case` says; (the file, the expected message)."""
    img, txt = root / "gull" / "b2.png", root / "gull" / "b2.txt"
    if case == "corrupt image":
        img.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
        return img, "b2.png: cannot decode image"
    if case == "truncated image":
        img.write_bytes(img.read_bytes()[:200])
        return img, "b2.png: cannot decode image"
    if case == "huge image":
        _png_claiming(img, 40_000, 40_000)
        return img, "could be a decompression bomb"
    if case == "Latin-1 captions":
        txt.write_bytes("caf\xe9 bird\n".encode("latin-1"))
        return txt, "b2.txt line 1: not UTF-8 text (byte 0xe9)"
    if case == "empty captions":
        txt.write_text("\n \n")
        return txt, "b2.txt: no captions"
    if case == "no captions file":
        txt.unlink()
        return txt, "b2.txt: caption file not found"
    if case == "non-UTF-8 file name":
        name = os.fsdecode(b"b\xff9")
        shutil.copy(img, root / "gull" / f"{name}.png")
        (root / "gull" / f"{name}.txt").write_text("a bird\n")
        return root, "b'" + str(root / "gull") + "/b\\xff9.png': the file name is not valid UTF-8"
    raise AssertionError(case)


BAD_DATA = ["corrupt image", "truncated image", "huge image", "Latin-1 captions",
            "empty captions", "no captions file", "non-UTF-8 file name"]


@pytest.mark.parametrize("case", BAD_DATA)
def test_prepare_names_each_bad_item_and_skips_it_on_request(case, tmp_path, capsys):
    root = make_folder(tmp_path / "f")
    _, expect = _bad(root, case)
    rc, _, err = run_cli(capsys, ["data", "prepare", root])
    assert_one_line_error(rc, err, expect)
    assert "--skip-missing" in err
    rc, out, err = run_cli(capsys, ["data", "prepare", root, "--skip-missing"])
    assert rc == 0 and "skipped (unusable): 1" in out and expect in out, out + err
    assert "Traceback" not in err


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "LA", "P", "tiny"])
def test_odd_images_are_converted_not_refused(mode, tmp_path, capsys):
    root = make_folder(tmp_path / "f")
    img = root / "gull" / "b2.png"
    if mode == "CMYK":
        img = img.with_suffix(".jpg")
        (root / "gull" / "b2.png").unlink()
        Image.fromarray(np.full((80, 90, 3), 120, np.uint8)).convert("CMYK").save(img)
    elif mode == "I;16":
        Image.fromarray((np.arange(80 * 90).reshape(80, 90) * 9).astype(np.uint16)).save(img)
    elif mode == "tiny":
        Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(img)
    else:
        Image.open(img).convert(mode).save(img)
    rc, out, _ = run_cli(capsys, ["data", "prepare", root])
    assert rc == 0 and "skipped" not in out
    ds = build_dataset(_cfg(root), "train", [64, 128], False, 0)
    i = next(k for k in range(len(ds)) if ds.image_path(k) == str(img))
    assert [tuple(t.shape) for t in ds[i]["images"]] == [(3, 64, 64), (3, 128, 128)]


def test_caption_files_with_no_image_are_reported(tmp_path, capsys):
    root = make_folder(tmp_path / "f")
    (root / "gull" / "lonely.txt").write_text("a bird with no picture\n")
    rc, out, _ = run_cli(capsys, ["data", "prepare", root])
    assert rc == 0 and "caption files with no image beside them (not used): 1, e.g. gull/lonely.txt" in out
    rc, out, _ = run_cli(capsys, ["data", "inspect", root, "--quick"])
    assert rc == 0 and "1 caption file(s) with no image beside them" in out


# ---------------------------------------------------------------- inspect agrees with training
def _cfg(root: Path, skip: bool = False) -> DataConfig:
    return DataConfig(kind="folder", root=str(root), skip_missing=skip,
                      encoder=EncoderConfig(kind="bow", dim=0))


def _training_accepts(root: Path, skip: bool) -> bool:
    """Training's data loading: the train split built, and every item (with its negative)
    loaded, as the loop's DataLoader would."""
    try:
        ds = build_dataset(_cfg(root, skip), "train", [64], train=True, seed=0)
        for i in range(len(ds)):
            ds[i]
    except DataError:
        return False
    return True


def _data_case(root: Path, case: str) -> None:
    make_folder(root)
    prepare = ["data", "prepare", str(root)]
    if case == "unprepared":
        return
    if case in ("corrupt image", "Latin-1 captions", "non-UTF-8 file name"):  # prepared around it
        _bad(root, case)
        assert main(prepare + ["--skip-missing"]) == 0
        return
    assert main(prepare) == 0
    if case in ("image deleted after prepare", "only one image left"):
        for p in sorted(root.rglob("b*.png"))[: 1 if case == "image deleted after prepare" else 7]:
            p.unlink()
    elif case == "image corrupted after prepare":
        _bad(root, "corrupt image")
    elif case == "captions made Latin-1 after prepare":
        _bad(root, "Latin-1 captions")
    elif case == "image added after prepare":
        shutil.copy(root / "gull" / "b0.png", root / "gull" / "new.png")
        (root / "gull" / "new.txt").write_text("a new bird\n")
    elif case == "caption file with no image":
        (root / "lonely.txt").write_text("no picture\n")
    elif case == "manifest damaged":
        (root / "gtgan_manifest.json").write_text("{not json")
    else:
        assert case == "good", case


DATA_CASES = ["good", "unprepared", "corrupt image", "Latin-1 captions", "non-UTF-8 file name",
              "image deleted after prepare", "only one image left", "image corrupted after prepare",
              "captions made Latin-1 after prepare", "image added after prepare",
              "caption file with no image", "manifest damaged"]


@pytest.mark.parametrize("case", DATA_CASES)
def test_inspect_verdict_equals_training(case, tmp_path, capsys):
    root = tmp_path / "f"
    _data_case(root, case)
    capsys.readouterr()
    for skip in (False, True):
        accepts = _training_accepts(root, skip)
        for quick in ((False, True) if case != "image corrupted after prepare" else (False,)):
            rc = main(["data", "inspect", str(root)] + ["--skip-missing"] * skip
                      + ["--quick"] * quick + ["--examples", "3"])
            out = capsys.readouterr().out
            assert rc in (0, 1)
            assert (rc == 0) == accepts, f"{case}, skip={skip}, quick={quick}: inspect says " \
                                         f"{rc}, training {'accepts' if accepts else 'refuses'}\n{out}"
    if case in ("good", "unprepared", "corrupt image", "image deleted after prepare"):
        assert {"good": True, "unprepared": False, "corrupt image": True,
                "image deleted after prepare": False}[case] == _training_accepts(root, False)


def test_inspect_before_prepare_says_what_training_says(tmp_path, capsys):
    root = make_folder(tmp_path / "f")
    with pytest.raises(DataError) as err:
        build_dataset(_cfg(root), "train", [64], True, 0)
    assert main(["data", "inspect", str(root)]) == 1
    assert f"training would stop: {err.value}" in capsys.readouterr().out


def test_inspect_quick_grid_leaves_a_broken_image_out(tmp_path, capsys):
    root = make_folder(tmp_path / "f")
    assert main(["data", "prepare", str(root)]) == 0
    _bad(root, "corrupt image")
    capsys.readouterr()
    rc = main(["data", "inspect", str(root), "--quick", "--skip-missing", "--examples", "8",
               "--out", str(tmp_path / "grid" / "g.png")])
    out = capsys.readouterr().out
    assert rc == 0 and "grid: left out" in out and "b2.png" in out
    assert f"created folder {tmp_path / 'grid'}" in out and (tmp_path / "grid" / "g.png").is_file()


# ---------------------------------------------------------------- training reports what it skips
def test_training_names_skipped_images_in_its_log(tmp_path, capsys):
    from gtgan.config import apply_overrides
    from gtgan.presets import get_preset
    from gtgan.training import train

    root = make_folder(tmp_path / "f", n=10)
    assert main(["data", "prepare", str(root)]) == 0
    _bad(root, "Latin-1 captions")  # left out when the data set is built
    (root / "finch" / "b1.png").write_bytes(b"broken after prepare")  # found while training
    cfg = apply_overrides(get_preset("demo"), [
        "model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "model.stages=1",
        "model.attention_stages=[]", "model.projected_d_stages=[1]", "optim.batch_size=2", "run.max_steps=8",
        "run.sample_every=0", "run.checkpoint_every=0", "run.log_every=4", "data.num_workers=0",
        "data.kind=folder", f"data.root={root}", "data.skip_missing=true",
        "optim.stage_warmup_steps=0", "optim.stage_warmup_fraction=0", "run.max_minutes=0",
        "run.precision=fp32"])
    with pytest.warns(UserWarning) as caught:
        train(cfg, tmp_path / "run", progress=False)
    said = " ".join(str(w.message) for w in caught)
    assert "data.skip_missing: missing or bad 1 item(s)" in said
    assert f"{root / 'finch' / 'b1.png'}: image missing or undecodable, skipped" in said
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    events = [e for e in events if e.get("kind") == "event"]
    assert any(e["event"] == "data_left_out" and e["counts"] == {"missing or bad": 1} for e in events)
    skipped = [e for e in events if e["event"] == "image_skipped"]
    assert [e["file"] for e in skipped] == [str(root / "finch" / "b1.png")]  # once, by name


CUB_CASES = ["good", "image missing", "caption file missing", "corrupt jpeg", "7 captions",
             "empty caption line"]


@pytest.mark.parametrize("case", CUB_CASES)
def test_inspect_verdict_equals_training_on_cub(case, tmp_path, capsys):
    from test_data_cub import CUB_MINI, _few_names, make_cub

    if not (CUB_MINI / "birds").is_dir():
        pytest.skip(f"cub-mini not found at {CUB_MINI}")
    names = _few_names()
    root = make_cub(tmp_path / "c", names)
    img = root / "birds/CUB_200_2011/images" / f"{names[2]}.jpg"
    txt = root / "birds/text" / f"{names[2]}.txt"
    if case == "image missing":
        img.unlink()
    elif case == "caption file missing":
        txt.unlink()
    elif case == "corrupt jpeg":
        img.write_bytes(img.read_bytes()[:300])
    elif case == "7 captions":
        txt.write_text("a caption\n" * 7)
    elif case == "empty caption line":
        txt.write_text("a caption\n" * 4 + "\n" + "a caption\n" * 6)
    for skip in (False, True):
        cfg = DataConfig(kind="cub", root=str(root), skip_missing=skip,
                         encoder=EncoderConfig(kind="bow", dim=0))
        try:
            ds = build_dataset(cfg, "train", [64], train=True, seed=0)
            for i in range(len(ds)):
                ds[i]
            accepts = True
        except DataError:
            accepts = False
        for quick in ((False, True) if case != "corrupt jpeg" else (False,)):
            rc = main(["data", "inspect", str(root), "--examples", "2"]
                      + ["--skip-missing"] * skip + ["--quick"] * quick)
            out = capsys.readouterr().out
            assert rc in (0, 1) and (rc == 0) == accepts, f"{case}, skip={skip}, quick={quick}\n{out}"
        assert accepts == (skip or case == "good")


def test_error_from_a_loader_worker_is_its_own_one_line():
    """torch re-raises a worker's exception with the worker traceback in its message; the CLI
    prints only the original line."""
    from torch.utils.data import DataLoader, Dataset

    from gtgan.cli import _one_line

    class Gone(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise DataError("/data/b1.png: image file not found; restore it")

    with pytest.raises(DataError) as err:
        list(DataLoader(Gone(), num_workers=1))
    assert "Traceback" in str(err.value)
    assert _one_line(err.value) == "/data/b1.png: image file not found; restore it"
