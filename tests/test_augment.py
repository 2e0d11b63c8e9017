"""Differentiable augmentation for the discriminators (loss.d_augment, DiffAugment)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gtgan.config import ConfigError, apply_overrides
from gtgan.presets import get_preset
from gtgan.training.augment import CUTOUT_RATIO, augment, cutout, translate
from gtgan.training.step import Trainer, make_fake_batch

TINY = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=2",
        "data.synthetic_count=24", "data.num_workers=0", "run.precision=fp32",
        "model.text_dim=16", "model.text_scale=1", "loss.damsm_match=false",
        "loss.lite0_weights=random", "model.projected_d_size=64"]


def _shift_of(src: torch.Tensor, out: torch.Tensor, pad: int) -> tuple[int, int] | None:
    """The (dy, dx) with out = src shifted by it, zero-filled; None if no shift gives out."""
    h, w = src.shape[-2:]
    padded = F.pad(src, (pad, pad, pad, pad))
    for dy in range(-pad, pad + 1):
        for dx in range(-pad, pad + 1):
            if torch.equal(padded[..., pad - dy:pad - dy + h, pad - dx:pad - dx + w], out):
                return dy, dx
    return None


def test_translation_shifts_each_picture_by_its_own_bounded_amount_and_fills_with_zero():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 16, 16) + 5  # no zeros of its own: a zero in the output is fill
    y = translate(x)
    shifts = [_shift_of(x[b], y[b], pad=2) for b in range(16)]
    assert None not in shifts  # 1/8 of 16 px: every shift within 2 px
    assert len(set(shifts)) > 3  # per picture, not one shift for the batch
    assert any(s != (0, 0) for s in shifts) and (y == 0).any()


def test_translation_lets_the_gradient_through_and_keeps_the_memory_format():
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = translate(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_cutout_zeros_one_square_of_half_the_side():
    torch.manual_seed(0)
    y = cutout(torch.ones(8, 3, 16, 16))
    side = int(16 * CUTOUT_RATIO)
    for img in y:
        zeros = (img[0] == 0).nonzero()
        assert len(zeros) == side * side
        (top, left), (bottom, right) = zeros.min(0).values, zeros.max(0).values
        assert (bottom - top + 1, right - left + 1) == (side, side)
        assert torch.equal(img[0], img[2])  # every channel alike


def test_none_is_the_identity_and_an_unknown_policy_is_refused_by_name():
    x = torch.randn(2, 3, 8, 8)
    assert augment(x, "none") is x
    with pytest.raises(ValueError, match="loss.d_augment"):
        augment(x, "colour")
    with pytest.raises(ConfigError, match="loss.d_augment"):
        apply_overrides(get_preset("demo"), ["loss.d_augment=colour"])


@pytest.mark.parametrize("policy", ["translation", "translation-cutout"])
def test_a_training_step_with_augmented_discriminators_updates_every_network(policy):
    torch.manual_seed(0)
    cfg = apply_overrides(get_preset("demo"), TINY + [f"loss.d_augment={policy}",
                                                      "loss.mode_seeking_space=lite0"])
    t = Trainer(cfg, "cpu")
    before = {name: [p.detach().clone() for p in net.parameters()]
              for name, net in (("G", t.G), ("D", t.Ds), ("P", t.Ps))}
    losses = t(make_fake_batch(cfg, 2))
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in losses.values())
    for name, net in (("G", t.G), ("D", t.Ds), ("P", t.Ps)):
        assert any(not torch.equal(a, b) for a, b in zip(before[name], net.parameters())), name


def test_every_discriminator_input_goes_through_the_policy(monkeypatch):
    """Real, mismatched and generated pictures, for the StackGAN++ and the projected
    discriminators alike, and the generator's pass through both."""
    import gtgan.training.loss as loss_module

    seen: list[str] = []

    def recording(images, policy):
        seen.append(policy)
        return augment(images, policy)

    monkeypatch.setattr(loss_module, "augment", recording)
    torch.manual_seed(0)
    cfg = apply_overrides(get_preset("demo"), TINY + [
        "loss.d_augment=translation", "model.stages=1", "model.attention_stages=[]",
        "model.projected_d_stages=[1]"])
    Trainer(cfg, "cpu")(make_fake_batch(cfg, 2))
    # D: real, wrong, fake; projected D: real, wrong, fake (kept for G); G: StackGAN++ D's fake
    assert seen == ["translation"] * 7
