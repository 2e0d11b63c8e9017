"""Reports carry every reason their numbers are not comparable, and chance beside each
retrieval or classification number (gtgan eval JSON and console, serve's model card)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gtgan.cli import main
from gtgan.config import EncoderConfig, apply_overrides, save_yaml
from gtgan.data import build_encoder
from gtgan.metrics.comparability import (RANDOM_VGG_LABEL, TRAINED_AGAINST_WARNING,
                                         damsm_backbone_label, r_precision_ceiling_warning,
                                         trained_against_warning, training_labels)
from gtgan.models import build_generator
from gtgan.presets import get_preset
from gtgan.storage import save_model

TINY = ["model.ngf=8", "model.ndf=8", "model.c_dim=16", "model.z_dim=16", "model.attention_stages=[]",
        "model.pam=false", "model.cam=false", "data.synthetic_count=120", "model.text_scale=1.0"]


def _run(root: Path, extra: list[str], encoder=None) -> Path:
    cfg = apply_overrides(get_preset("demo"), TINY + extra)
    root.mkdir(parents=True)
    save_yaml(cfg, root / "config.yaml")
    torch.manual_seed(0)
    enc = encoder or build_encoder(cfg.data.encoder)
    save_model(root / "model", cfg.model, build_generator(cfg.model).state_dict(), enc.identity)
    return root


def test_training_labels_name_each_random_network(tiny_damsm_dir):
    # pixel fidelity and a bag of words: no VGG and no DAMSM at all, nothing random
    demo = apply_overrides(get_preset("demo"), ["data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.name=synonyms"])
    assert training_labels(demo) == []
    own = get_preset("demo")  # its built-in DAMSM's image encoder was trained from scratch
    assert training_labels(own) == [damsm_backbone_label({"weights": "from scratch"},
                                                         "the generator's text encoder")]
    vgg = apply_overrides(demo, ["loss.fidelity_features=vgg19", "loss.vgg_weights=random"])
    assert training_labels(vgg) == [RANDOM_VGG_LABEL]
    assert training_labels(apply_overrides(vgg, ["loss.fidelity=false"])) == []  # no VGG used
    damsm = apply_overrides(demo, ["data.encoder.kind=damsm", f"data.encoder.name={tiny_damsm_dir}"])
    assert training_labels(damsm) == [damsm_backbone_label({"weights": "from scratch"},
                                                           "the generator's text encoder")]
    assert "RANDOM image backbone" in damsm_backbone_label({"weights": "random"}, "x")
    assert damsm_backbone_label({"weights": "imagenet"}, "x") is None


def test_ceiling_near_chance_is_warned():
    assert "0.060" in r_precision_ceiling_warning({"real": {"mean": 0.06}, "chance": 0.01})
    assert r_precision_ceiling_warning({"real": {"mean": 0.5}, "chance": 0.01}) is None


def test_r_precision_by_the_damsm_the_generator_was_trained_against_is_warned():
    cfg = get_preset("demo")
    results = {"64": {"r_precision": {"damsm_hash": "abc", "mean": 0.9}}}
    cfg.loss.damsm_match = True
    assert trained_against_warning(cfg, {"hash": "abc"}, results) == TRAINED_AGAINST_WARNING
    assert trained_against_warning(cfg, {"hash": "other"}, results) is None  # --rp-encoder another
    assert trained_against_warning(cfg, {"hash": "abc"}, {"64": {"attr": {}}}) is None
    cfg.loss.damsm_weight = 0.0
    assert trained_against_warning(cfg, {"hash": "abc"}, results) is None
    cfg.loss.damsm_match, cfg.loss.damsm_weight = False, 5.0
    assert trained_against_warning(cfg, {"hash": "abc"}, results) is None
    assert trained_against_warning(None, {"hash": "abc"}, results) is None


def test_eval_report_lists_random_vgg_and_damsm_with_chance(tmp_path, tiny_damsm_dir, capsys):
    enc = build_encoder(EncoderConfig(kind="damsm", name=str(tiny_damsm_dir), dim=0))
    run = _run(tmp_path / "run", ["loss.fidelity_features=vgg19", "loss.vgg_weights=random",
                                  "data.encoder.kind=damsm", f"data.encoder.name={tiny_damsm_dir}",
                                  "data.encoder.dim=16", "model.text_dim=16",
                                  "loss.damsm_match=true"], enc)
    out = tmp_path / "r.json"
    assert main(["eval", str(run), "--metrics", "r_precision,attr", "--samples", "20",
                 "--batch-size", "10", "--device", "cpu", "--cache-dir", str(tmp_path / "c"),
                 "--out", str(out), "--quiet"]) == 0
    console = capsys.readouterr().out
    rep = json.loads(out.read_text())
    assert rep["comparable"] is False
    assert RANDOM_VGG_LABEL in rep["labels"]
    assert any("generator's text encoder is a DAMSM with an image encoder trained from scratch" in x
               for x in rep["labels"])
    assert any(x.startswith("NOT COMPARABLE: R-precision's DAMSM") for x in rep["labels"])
    rp = rep["results"]["64"]["r_precision"]
    assert rp["chance"] == pytest.approx(0.01)
    for label in rep["labels"]:
        assert label in console  # the console shows every reason
    assert "chance 0.010" in console and "R-precision (DAMSM, R=1 of 100)" in console
    attr = rep["results"]["64"]["attr"]
    assert 0 < attr["chance_all_attributes"] < 1 and all(0 < a["chance"] < 1 for a in attr["per_attribute"].values())
    if rp["real"]["mean"] < 0.1:  # an untrained DAMSM: its ceiling is near chance
        assert rep["warnings"] and "Warning:" in console
    # scored by the DAMSM its generator was trained against (loss.damsm_match): said so
    assert TRAINED_AGAINST_WARNING in rep["warnings"]

    from gtgan.pipeline import TextToImage
    from gtgan.serve.model_card import model_card

    card = model_card(TextToImage.from_pretrained(run), run).markdown()
    assert RANDOM_VGG_LABEL in card and "comparable with the paper**: no" in card
    assert "r_precision" in card and "chance 0.010" in card  # the report beside the model


def test_nothing_random_is_comparable(tmp_path):
    run = _run(tmp_path / "run", ["data.encoder.kind=bow", "loss.damsm_match=false", "data.encoder.name=synonyms",
                                  "data.encoder.dim=1024", "model.text_dim=1024"])
    out = tmp_path / "r.json"
    assert main(["eval", str(run), "--metrics", "ssim", "--samples", "4", "--batch-size", "4",
                 "--device", "cpu", "--out", str(out), "--quiet"]) == 0
    rep = json.loads(out.read_text())
    assert rep["comparable"] is True and rep["labels"] == [] and rep["warnings"] == []
