"""`gtgan data inspect` on the real cub-mini slice and on synthetic birds."""
from pathlib import Path

import pytest
from PIL import Image

from gtgan.cli import main

CUB_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cub-mini"


@pytest.mark.skipif(not (CUB_MINI / "birds").is_dir(), reason=f"real CUB slice not found at {CUB_MINI}")
def test_inspect_cub_mini_counts_and_grid(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["data", "inspect", str(CUB_MINI), "--out", str(out)]) == 1  # not usable as is
    text = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.startswith(("train ", "test "))}
    assert rows["train"][1:5] == ["8,855", "162", "8,693", "0"]
    assert rows["test"][1:5] == ["2,933", "120", "2,813", "0"]
    assert "NOT usable as is" in text and "--skip-missing" in text
    assert "U+FFFD" in text and "captions: 2,820 in 282 files" in text
    img = Image.open(out)
    assert img.size[0] > 4 * 128 and img.size[1] > 2 * 128
    assert len(img.getcolors(1 << 20)) > 1000  # real photos, not an empty canvas
    assert main(["data", "inspect", str(CUB_MINI), "--skip-missing", "--quick"]) == 0
    text = capsys.readouterr().out
    assert "ok with --skip-missing" in text
    assert "grid: not written; add --out grid.png to see 8 example crops" in text  # no --out


def test_inspect_synthetic(tmp_path, capsys):
    out = tmp_path / "s.png"
    assert main(["data", "inspect", "--kind", "synthetic", "--synthetic-count", "200",
                 "--out", str(out), "--examples", "4"]) == 0
    text = capsys.readouterr().out
    assert "train     200" in text and "test      100" in text and "held-out" in text
    assert Image.open(out).size[0] > 4 * 128


def test_inspect_bad_root(capsys):
    assert main(["data", "inspect", "/definitely/not/here"]) == 2
    assert "data root not found" in capsys.readouterr().err
