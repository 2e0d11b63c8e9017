"""The conditioning type (TextFeatures) and the one point that settles what follows from the
text encoder (widths, model.text_scale=0)."""
from __future__ import annotations

import math

import pytest
import torch
import yaml

from gtgan.config import ConfigError, apply_overrides
from gtgan.data import settle_conditioning
from gtgan.data.encoders import BowEncoder, TextEncoder
from gtgan.models import TextFeatures, build_generator
from gtgan.presets import get_preset


def test_text_features_batch_pad_and_select():
    a = TextFeatures(torch.ones(3), torch.ones(2, 4), torch.tensor([True, True]))
    b = TextFeatures(torch.zeros(3), torch.ones(5, 4), torch.tensor([True] * 3 + [False] * 2))
    batch = TextFeatures.stack([a, b])
    assert batch.sentence.shape == (2, 3) and batch.words.shape == (2, 5, 4) and len(batch) == 2
    assert batch.mask.tolist() == [[True, True, False, False, False], [True, True, True, False, False]]
    assert batch.words[0, 2:].abs().sum() == 0  # padding is zero and masked
    assert torch.equal(batch.select([1]).sentence, torch.zeros(1, 3))
    assert batch.repeat_interleave(2).words.shape == (4, 5, 4)
    with pytest.raises(ValueError, match="together"):
        TextFeatures(torch.ones(2, 3), torch.ones(2, 1, 4))
    with pytest.raises(ValueError, match="some parts"):
        TextFeatures.cat([TextFeatures(torch.ones(1, 3)), a.select(None)])


def test_the_generator_takes_text_features_only():
    cfg = get_preset("stackgan++").model
    cfg.ngf, cfg.c_dim, cfg.z_dim, cfg.text_dim = 8, 4, 4, 6
    g = build_generator(cfg).eval()
    with pytest.raises(TypeError, match="TextFeatures"):
        g(torch.randn(2, 6), torch.randn(2, 4))
    out = g.generate(TextFeatures(torch.randn(2, 6)), torch.randn(2, 4), torch.zeros(2, 4))
    assert [im.shape[-1] for im in out.images] == [64, 128]


class _Scaled(TextEncoder):
    """A stand-in encoder whose vectors have norm 3.2 (like a 128-d DAMSM's)."""

    kind = "test"
    identity = {"kind": "test", "name": "scaled", "dim": 128}

    def encode(self, captions):
        return torch.full((len(captions), 128), 3.2 / math.sqrt(128))


def _demo_without_damsm_loss():
    """The demo preset for encoders other than its DAMSM (its DAMSM loss needs that one)."""
    return apply_overrides(get_preset("demo"), ["loss.damsm_match=false"])


def test_text_scale_rule_is_one_rule_for_every_encoder():
    cfg = _demo_without_damsm_loss()  # text_scale 0: derive it
    assert cfg.model.text_scale == 0 and cfg.model.text_dim == 0
    notes = settle_conditioning(cfg, BowEncoder(synonyms=True))
    assert cfg.model.text_scale == 32.0 and cfg.model.text_dim == cfg.data.encoder.dim == 1024
    assert any("text_scale = 32" in n for n in notes)

    cfg = _demo_without_damsm_loss()
    vectors = _Scaled().encode(["x"] * 10)
    settle_conditioning(cfg, _Scaled(), sentences=lambda: vectors)
    assert cfg.model.text_dim == 128 and cfg.model.text_scale == pytest.approx(math.sqrt(128) / 3.2, rel=1e-3)

    cfg = apply_overrides(_demo_without_damsm_loss(), ["model.text_scale=2.5"])  # a stated value wins
    settle_conditioning(cfg, _Scaled(), sentences=lambda: 1 / 0)
    assert cfg.model.text_scale == 2.5


def test_widths_stated_must_fit_and_unstated_follow():
    cfg = get_preset("paper")  # states 1024 (char-CNN-RNN)
    with pytest.raises(ConfigError, match="model.text_dim = 1024 but .* gives 128-d"):
        settle_conditioning(cfg, _Scaled(), stated={"model.text_dim"})
    settle_conditioning(cfg, _Scaled(), stated=set())  # the preset's, not the user's: follows
    assert cfg.model.text_dim == cfg.data.encoder.dim == 128 and cfg.model.text_scale == 1.0


def test_a_run_records_the_derived_text_scale(tmp_path):
    from gtgan.training import train

    cfg = apply_overrides(get_preset("demo"), [
        "model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "run.max_steps=1", "run.sample_every=0", "run.checkpoint_every=0", "run.log_every=1",
        "data.synthetic_count=8", "run.precision=fp32"])
    train(cfg, tmp_path / "run", progress=False)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    # the demo's built-in DAMSM: sqrt(128) / the mean norm of these 8 birds' captions' vectors
    assert 3.0 < saved["model"]["text_scale"] < 4.5 and saved["model"]["text_dim"] == 128
