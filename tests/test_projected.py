"""Projected discriminators (model.projected_d_stages): heads on frozen Lite0 features."""
from __future__ import annotations

import json

import pytest
import torch

from gtgan.config import ConfigError, apply_overrides
from gtgan.models import build_discriminators
from gtgan.models.lite0 import CHANNELS
from gtgan.models.projected import ProjectedDiscriminator, feature_input
from gtgan.presets import get_preset
from gtgan.storage.checkpoint import load_checkpoint_weights
from gtgan.training import resume, train
from gtgan.training.step import PROJECTED_STRIDES, Trainer, make_fake_batch

TINY = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "run.log_every=1", "run.sample_every=0", "run.num_sample_captions=2",
        "data.synthetic_count=24", "data.num_workers=0", "run.precision=fp32",
        "model.projected_d_size=64"]


def test_heads_give_one_logit_per_image_and_the_condition_moves_only_the_conditional_one():
    shapes = [(CHANNELS[k], 64 // k) for k in PROJECTED_STRIDES]
    d = ProjectedDiscriminator(shapes, c_dim=8).eval()  # spectral norm: no power step
    feats = [torch.randn(3, ch, s, s) for ch, s in shapes]
    c1, c2 = torch.randn(3, 8), torch.randn(3, 8)
    out1, out2 = d(feats, c1), d(feats, c2)
    assert out1.cond.shape == out1.uncond.shape == (3,)
    assert torch.equal(out1.uncond, out2.uncond) and not torch.allclose(out1.cond, out2.cond)
    assert d(feats).cond is None


def test_feature_input_resizes_only_when_needed_and_keeps_the_dtype():
    x = torch.rand(2, 3, 64, 64, dtype=torch.bfloat16)
    assert feature_input(x, 64) is x
    y = feature_input(x, 32)
    assert y.shape == (2, 3, 32, 32) and y.dtype == torch.bfloat16


def test_stages_must_exist():
    with pytest.raises(ConfigError, match="projected_d_stages"):
        apply_overrides(get_preset("demo"), ["model.projected_d_stages=[3]"])


def test_one_lite0_serves_fidelity_and_projection_and_only_the_heads_learn():
    torch.manual_seed(0)
    cfg = apply_overrides(get_preset("demo"), TINY + [
        "model.projected_d_stages=[1, 2]", "loss.fidelity_features=efficientnet-lite0",
        "loss.lite0_weights=random", "model.text_dim=16", "model.text_scale=1",
        "loss.damsm_match=false"])  # 16-d random text: not the built-in DAMSM's 128-d
    t = Trainer(cfg, "cpu")
    assert t.loss.lite0 is t.loss.fidelity_net.lite0 and len(t.Ps) == 2
    before = {k: v.clone() for k, v in t.loss.lite0.state_dict().items()}
    heads = [p.detach().clone() for p in t.Ps.parameters()]
    losses = t(make_fake_batch(cfg, 2))
    assert "p_loss_64" in losses and "p_loss_128" in losses
    assert all(torch.equal(v, t.loss.lite0.state_dict()[k]) for k, v in before.items())
    assert any(not torch.equal(a, b) for a, b in zip(heads, t.Ps.parameters()))
    assert {"P1", "P2"} <= set(t.weights())


def test_a_run_with_projected_discriminators_resumes_them(tmp_path):
    torch.set_num_threads(1)
    cfg = apply_overrides(get_preset("demo"), TINY + [
        "model.stages=1", "model.attention_stages=[]", "model.projected_d_stages=[1]", "loss.lite0_weights=random",
        "run.max_steps=2", "run.checkpoint_every=2"])
    assert train(cfg, tmp_path / "run", progress=False).step == 2
    ckpt = sorted((tmp_path / "run" / "checkpoints").iterdir())[-1]
    weights, _ = load_checkpoint_weights(ckpt)
    assert any(k.startswith("heads.") for k in weights["P1"])
    result = resume(tmp_path / "run", ["run.max_steps=3"], progress=False)
    assert result.step == 3
    logs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs if r["kind"] == "train"][-1] == 3


def test_random_mixing_is_fixed_saved_and_lets_every_scale_reach_the_shallowest_head():
    torch.manual_seed(0)
    cfg = apply_overrides(get_preset("demo"), TINY + [
        "model.projected_d_stages=[1]", "model.projected_d_mixing=true", "model.stages=1",
        "model.attention_stages=[]", "loss.lite0_weights=random", "model.text_dim=16",
        "model.text_scale=1", "loss.damsm_match=false"])
    t = Trainer(cfg, "cpu")
    p = t.Ps[0]
    mixing = {k: v.clone() for k, v in p.mixing.state_dict().items()}
    heads = [q.detach().clone() for q in p.heads.parameters()]
    t(make_fake_batch(cfg, 2))
    assert all(torch.equal(v, p.mixing.state_dict()[k]) for k, v in mixing.items())
    assert any(not torch.equal(a, b) for a, b in zip(heads, p.heads.parameters()))
    assert any(k.startswith("mixing.") for k in t.weights()["P1"])  # resumed runs see the same
    # the deepest scale reaches the shallowest head's input through the scale mixing
    shapes = [(CHANNELS[k], 64 // k) for k in PROJECTED_STRIDES]
    feats = [torch.randn(1, ch, s, s) for ch, s in shapes]
    base = p.mixing(feats)[0]
    feats[-1] = feats[-1] + 1
    assert not torch.allclose(base, p.mixing(feats)[0])


def test_the_logit_is_the_four_by_four_convolution_of_the_code():
    """The head computes its last 4x4 convolution as a dot product (faster on the CPU); it must
    be the convolution its saved weights define."""
    torch.manual_seed(0)
    d = ProjectedDiscriminator([(CHANNELS[4], 16), (CHANNELS[8], 8)], c_dim=4)
    feats = [torch.randn(3, CHANNELS[4], 16, 16), torch.randn(3, CHANNELS[8], 8, 8)]
    d.eval()
    with torch.no_grad():
        for head, feature in zip(d.heads, feats):
            code, logit = head(feature)
            assert torch.allclose(logit, head.logits(code).flatten(), atol=1e-5)


def test_the_head_width_is_the_configured_one():
    cfg = apply_overrides(get_preset("demo"), TINY + [
        "model.projected_d_stages=[1]", "loss.lite0_weights=random", "model.text_dim=16",
        "model.text_scale=1", "loss.damsm_match=false", "model.projected_d_width=32"])
    t = Trainer(cfg, "cpu")
    convs = [m for m in t.Ps[0].modules() if isinstance(m, torch.nn.Conv2d)]
    assert {m.out_channels for m in convs} == {32, 1}  # the code, then the logit
    assert all(p.out_features == 32 for p in t.Ps[0].projection)
    with pytest.raises(ConfigError, match="projected_d_width"):
        apply_overrides(get_preset("demo"), ["model.projected_d_width=48"])


def test_mirror_pairs_let_the_first_layer_compare_a_position_with_its_mirror():
    """model.d_mirror_pairs: with it, the first layer's leftmost column depends on the picture's
    rightmost column (so a symmetric picture is visible there); without, it cannot. Both kinds
    of discriminator, as the config builds them."""
    for pairs in (False, True):
        cfg = apply_overrides(get_preset("demo"), TINY + [
            "model.projected_d_stages=[1]", "loss.lite0_weights=random", "model.text_dim=16",
            "model.text_scale=1", "loss.damsm_match=false", f"model.d_mirror_pairs={pairs}"])
        pixel_d = build_discriminators(cfg.model)[0]
        projected = Trainer(cfg, "cpu").Ps[0]
        assert pixel_d.img_code_s16[0].in_channels == (6 if pairs else 3)
        pixel_d.eval()  # batch norm from running statistics: positions do not mix through it
        x = torch.randn(1, 3, 64, 64, requires_grad=True)
        pixel_d.encode(x)[..., 0].sum().backward()
        assert (x.grad[..., -1].abs().sum() > 0) == pairs
        feats = [torch.randn(2, ch, s, s) for ch, s in
                 [(CHANNELS[k], 64 // k) for k in PROJECTED_STRIDES]]
        first = projected.heads[0].code[0]
        assert first.in_channels == CHANNELS[4] * (2 if pairs else 1)
        symmetric = [f + f.flip(-1) for f in feats]
        projected.eval()
        out = projected(symmetric, torch.randn(2, 8))
        assert torch.isfinite(out.cond).all() and out.uncond.shape == (2,)
