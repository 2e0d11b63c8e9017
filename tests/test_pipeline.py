"""Using a model: the Python API, `gtgan generate` / `interpolate`, model folders, bad input."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import gtgan
from gtgan.cli import main
from gtgan.config import ModelConfig, save_yaml
from gtgan.data.encoders import BowEncoder
from gtgan.models import build_generator
from gtgan.storage import save_model
from gtgan.pipeline import TextToImage, validate_captions
from gtgan.presets import get_preset

CAPTIONS = ["a small red bird with black wings", "this bird has a blue crown and a long yellow beak"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    enc = BowEncoder()
    cfg = ModelConfig(text_dim=enc.dim, c_dim=8, z_dim=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    g = build_generator(cfg)
    with torch.no_grad():  # make the text matter a lot, so caption mix-ups would show
        g.ca_net.fc.weight.mul_(30)
    out = tmp_path_factory.mktemp("m") / "model"
    save_model(out, cfg, g.state_dict(), enc.identity, {"note": "test"})
    return out


def _arrays(images):
    return [np.asarray(im) for im in images]


def test_api_returns_seeded_pil_images(model_dir):
    pipe = gtgan.TextToImage.from_pretrained(model_dir)
    images = pipe(CAPTIONS, num_images=3, seed=7)
    assert len(images) == 6 and all(isinstance(im, Image.Image) and im.size == (128, 128) for im in images)
    again = _arrays(pipe(CAPTIONS, num_images=3, seed=7))
    assert all((a == b).all() for a, b in zip(_arrays(images), again))
    other = _arrays(pipe(CAPTIONS, num_images=3, seed=8))
    assert not all((a == b).all() for a, b in zip(_arrays(images), other))
    # Column j uses the same noise for every caption; the rows differ only by text.
    assert not (np.asarray(images[0]) == np.asarray(images[3])).all()
    assert pipe(CAPTIONS[0], num_images=1, scale=64, seed=7)[0].size == (64, 64)


def test_save_pretrained_reloads_identically(model_dir, tmp_path):
    pipe = TextToImage.from_pretrained(model_dir)
    saved = pipe.save_pretrained(tmp_path / "copy")
    assert sorted(p.name for p in saved.iterdir()) == ["generator.safetensors", "gtgan_model.json"]
    reloaded = TextToImage.from_pretrained(saved)
    a, b = _arrays(pipe(CAPTIONS, 2, seed=1)), _arrays(reloaded(CAPTIONS, 2, seed=1))
    assert all((x == y).all() for x, y in zip(a, b))
    assert reloaded.encoder.identity == pipe.encoder.identity


def test_run_directory_loads_its_model(model_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(model_dir, run / "model")
    cfg = get_preset("demo")
    save_yaml(cfg, run / "config.yaml")
    pipe = TextToImage.from_pretrained(run)
    assert pipe.run_config == cfg
    (tmp_path / "empty_run").mkdir()
    save_yaml(cfg, tmp_path / "empty_run" / "config.yaml")
    with pytest.raises(gtgan.pipeline.CheckpointError, match="no model yet"):
        TextToImage.from_pretrained(tmp_path / "empty_run")


def test_cli_generate_matches_api(model_dir, tmp_path):
    out = tmp_path / "grid.png"
    rc = main(["generate", str(model_dir), *CAPTIONS, "-n", "3", "--seed", "5", "-o", str(out),
               "--each", str(tmp_path / "each"), "--device", "cpu"])
    assert rc == 0 and out.exists()
    api = TextToImage.from_pretrained(model_dir)(CAPTIONS, num_images=3, seed=5)
    singles = sorted((tmp_path / "each").glob("*.png"))
    assert len(singles) == 6
    for path, im in zip(singles, api):
        assert (np.asarray(Image.open(path).convert("RGB")) == np.asarray(im)).all(), path.name
    grid = Image.open(out)
    assert grid.height >= 2 * 128 and grid.width > 3 * 128  # rows of images plus the caption column


def test_cli_interpolate(model_dir, tmp_path):
    assert main(["interpolate", str(model_dir), CAPTIONS[0], CAPTIONS[1], "--steps", "5",
                 "-o", str(tmp_path / "c.png"), "--device", "cpu"]) == 0
    assert main(["interpolate", str(model_dir), CAPTIONS[0], "--steps", "4", "-o", str(tmp_path / "n.png"),
                 "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "c.png").width > 5 * 128 > Image.open(tmp_path / "n.png").width
    pipe = TextToImage.from_pretrained(model_dir)
    ends = _arrays(pipe.interpolate_captions(CAPTIONS[0], CAPTIONS[1], steps=3, seed=2))
    direct = _arrays(pipe(CAPTIONS, 1, seed=2))
    # The strip starts and ends at the two captions' own images (same noise).
    assert np.abs(ends[0].astype(int) - direct[0]).max() <= 1
    assert np.abs(ends[-1].astype(int) - direct[1]).max() <= 1


@pytest.mark.parametrize("caption,message", [
    ("", "caption 1 is empty"),
    ("   \t ", "caption 1 is empty"),
    ("x" * 10_000, "10,000 characters"),
    ("un petit oiseau rouge à ailes noires", "U+00E0"),
    ("a red\x07bird", "control character"),
])
def test_bad_captions_exit_2_with_a_clear_message(model_dir, tmp_path, caption, message):
    proc = subprocess.run([sys.executable, "-m", "gtgan.cli", "generate", str(model_dir), caption,
                           "-o", str(tmp_path / "x.png"), "--device", "cpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_non_ascii_is_fine_for_a_multilingual_encoder():
    assert validate_captions(["un oiseau rouge à ailes noires"], "sentence-transformers") == \
        ["un oiseau rouge à ailes noires"]


@pytest.mark.parametrize("setup,message", [
    ("missing", "no such model folder"),
    ("empty", "not a gtgan model folder"),
    ("foreign", "format is"),
    ("wrong_weights", "do not match"),
])
def test_bad_model_folders_exit_2(model_dir, tmp_path, setup, message):
    import json
    import shutil

    target = tmp_path / "m"
    if setup == "empty":
        target.mkdir()
    elif setup == "foreign":
        target.mkdir()
        (target / "gtgan_model.json").write_text(json.dumps({"format": "diffusers"}))
    elif setup == "wrong_weights":
        shutil.copytree(model_dir, target)
        info = json.loads((target / "gtgan_model.json").read_text())
        info["model"]["ngf"] = 16
        (target / "gtgan_model.json").write_text(json.dumps(info))
    proc = subprocess.run([sys.executable, "-m", "gtgan.cli", "generate", str(target), "a red bird",
                           "-o", str(tmp_path / "x.png"), "--device", "cpu"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_char_cnn_rnn_model_explains_its_limit(tmp_path):
    cfg = ModelConfig(text_dim=1024, c_dim=8, z_dim=8, ngf=8, ndf=8)
    save_model(tmp_path / "m", cfg, build_generator(cfg).state_dict(),
               {"kind": "char-cnn-rnn", "name": "", "dim": 1024, "data_root": str(tmp_path / "nowhere")})
    proc = subprocess.run([sys.executable, "-m", "gtgan.cli", "generate", str(tmp_path / "m"),
                           "a red bird", "-o", str(tmp_path / "x.png"), "--device", "cpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "char-CNN-RNN" in proc.stderr or "char-cnn-rnn" in proc.stderr


def test_demo_end_to_end_writes_its_report(tmp_path, monkeypatch, tiny_damsm_dir):
    """`gtgan demo` at toy size: trains both stages, evaluates (R-precision too, with an
    untrained tiny DAMSM), writes every file of the report."""
    import json

    from gtgan.demo import run_demo

    monkeypatch.setenv("GTGAN_CACHE_DIR", str(tmp_path / "cache"))
    over = ["model.ngf=8", "model.ndf=8", "model.c_dim=8", "model.z_dim=8", "data.synthetic_count=120",
            "optim.batch_size=8", "optim.stage_warmup_steps=4", "run.max_steps=8",
            "run.sample_every=4", "run.checkpoint_every=8"]
    lines = []
    page = run_demo(tmp_path / "demo", minutes=3, overrides=over, eval_samples=16, progress=False,
                    log=lines.append, rp_encoder=str(tiny_damsm_dir))
    out = tmp_path / "demo"
    assert page == out / "report.html" and "Open" in lines[-3]
    assert "gtgan generate" in lines[-2]  # what to try next
    assert f"gtgan serve {out / 'run'}" in lines[-1]  # and the web page for its model
    plan = next(line for line in lines if "budget 3.0 min" in line)
    assert "training" in plan and "evaluation" in plan and "images/s" in plan and "R-precision ~" in plan
    assert any("ms per sample (measured)" in line for line in lines)
    spent = next(line for line in lines if "how the budget was spent" in line)
    assert "training" in spent and "planned" in spent
    budget = json.loads((out / "budget.json").read_text())
    assert budget["training"]["steps"] == 8 and budget["training"]["stage_warmup_end_step"] == 4
    assert sum(v["spent_s"] for v in budget.values()) < 3 * 60
    for name in ("samples_64.png", "samples_128.png", "real.png", "interpolation.png",
                 "metrics.json", "metrics.md", "run/model/generator.safetensors"):
        assert (out / name).is_file(), name
    report = json.loads((out / "metrics.json").read_text())
    for size in ("64", "128"):
        res = report["results"][size]
        assert res["attr"]["n"] == 16 and res["diversity"]["n"] == 16 and res["ssim"]["n"] == 16
        assert res["r_precision"]["n"] == 16 and res["r_precision"]["real"]["mean"] is not None
        shape = res["lite0_fd"]  # the shape measure with its anchors (halves of 16 pictures)
        assert shape["n"] == 16 and shape["n_anchor"] == 16 and shape["real"] < shape["blurred_real"]
    assert report["weights"]["lite0_features"]["sha256"] == shape["weights_sha256"]
    html = page.read_text()
    assert "diversity" in html and "held-out" in html and "image_skip" in html
    assert "captions in other words" in html.lower() and "blurred" in html  # explained even when unmeasured
    assert "shape FD" in html and "not comparable with published FID" in html
    # the Reproduce line names what was measured, R-precision's DAMSM with it
    assert f"--metrics attr,own_words,ssim,diversity,pose,lite0_fd,r_precision --rp-encoder {tiny_damsm_dir}" in html
    damsm_hash = report["weights"]["r_precision_damsm"]["hash"]
    assert damsm_hash in html and "R-precision (DAMSM, R=1 of 100)" in (out / "metrics.md").read_text()
    assert ", R-precision " in html and "(ceiling)" in html and "gtgan encoder train" not in html
    assert f"gtgan serve {out / 'run'}" in html
    with pytest.raises(gtgan.errors.GtganError, match="already exists"):  # never overwrites silently
        run_demo(out, minutes=3, overrides=over, eval_samples=16, progress=False, log=lines.append)
