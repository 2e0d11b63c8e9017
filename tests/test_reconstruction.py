"""BicycleGAN's reconstruction from encoded noise (loss.reconstruction_weight)."""
from __future__ import annotations

import json

import pytest
import torch

from gtgan.config import apply_overrides
from gtgan.models import NoiseEncoder, code_kl
from gtgan.presets import get_preset
from gtgan.storage.checkpoint import load_checkpoint_weights
from gtgan.training import resume, train
from gtgan.training.loss import StepTensors
from gtgan.training.step import Trainer, make_fake_batch

TINY = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "run.log_every=1", "run.sample_every=0", "run.num_sample_captions=2",
        "data.synthetic_count=24", "data.num_workers=0", "run.precision=fp32",
        "model.projected_d_stages=[]", "loss.damsm_match=false", "model.text_dim=16",
        "model.text_scale=1", "model.stages=1", "model.attention_stages=[]"]


def test_code_kl_is_zero_at_the_prior_and_sums_over_dimensions():
    mu, logvar = torch.zeros(3, 8), torch.zeros(3, 8)
    assert code_kl(mu, logvar).item() == 0.0
    one = code_kl(torch.ones(3, 1), torch.zeros(3, 1)).item()
    assert one == pytest.approx(0.5) and code_kl(torch.ones(3, 8), torch.zeros(3, 8)).item() == \
        pytest.approx(8 * one)


def test_the_encoder_trains_with_the_generator_and_only_when_switched_on():
    torch.manual_seed(0)
    off = Trainer(apply_overrides(get_preset("demo"), TINY), "cpu")
    assert off.E is None and len(off.opt_g.param_groups) == 1 and "E" not in off.weights()
    cfg = apply_overrides(get_preset("demo"), TINY + ["loss.reconstruction_weight=10"])
    t = Trainer(cfg, "cpu")
    assert isinstance(t.E, NoiseEncoder) and len(t.opt_g.param_groups) == 2
    before = [p.detach().clone() for p in t.E.parameters()]
    losses = t(make_fake_batch(cfg, 2))
    assert losses["reconstruction"] > 0 and losses["code_kl"] >= 0
    assert all(not torch.equal(a, b) for a, b in zip(before, t.E.parameters()))
    assert "E" in t.weights()
    t2 = Trainer(cfg, "cpu")
    t2.load_weights(t.weights())
    assert all(torch.equal(a, b) for a, b in zip(t.E.parameters(), t2.E.parameters()))
    with pytest.raises(ValueError, match="noise encoder"):
        t2.load_weights({k: v for k, v in t.weights().items() if k != "E"})


@pytest.mark.parametrize("mirror", [False, True])
def test_a_redrawn_picture_facing_the_other_way_costs_nothing_only_with_the_mirror_noise(mirror):
    cfg = apply_overrides(get_preset("demo"), TINY + ["loss.reconstruction_weight=1",
                                                      f"model.mirror_noise={mirror}"])
    t = Trainer(cfg, "cpu")
    picture = torch.rand(2, 3, 64, 64) * 2 - 1

    class Drawn(torch.nn.Module):  # a generator that always draws `picture`
        def forward(self, features, z, eps, num_stages):
            return type("Out", (), {"images": [picture + 0 * z.sum()]})()

    s = StepTensors([picture.flip(3)], [picture], None, None, [picture], torch.zeros(2, 8),
                    torch.zeros(2, 8), torch.zeros(2, 8), None, eps=torch.zeros(2, 8),
                    code_noise=torch.zeros(2, 8))
    rec, kl = t.loss._reconstruction(Drawn(), t.E, s)
    assert (rec.item() == 0.0) == mirror and torch.isfinite(kl)


def test_a_run_with_the_encoder_saves_and_resumes_it(tmp_path):
    torch.set_num_threads(1)
    real_text = [o for o in TINY if not o.startswith(("model.text_dim", "model.text_scale"))]
    cfg = apply_overrides(get_preset("demo"), real_text + [
        "loss.reconstruction_weight=10", "run.max_steps=2", "run.checkpoint_every=2"])
    assert train(cfg, tmp_path / "run", progress=False).step == 2
    ckpt = sorted((tmp_path / "run" / "checkpoints").iterdir())[-1]
    weights, _ = load_checkpoint_weights(ckpt)
    assert "E" in weights
    assert resume(tmp_path / "run", ["run.max_steps=3"], progress=False).step == 3
    logs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("reconstruction" in r for r in logs if r["kind"] == "train")
