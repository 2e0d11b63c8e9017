"""The objective (docs/paper.md#objective, StackGAN-v2's trainer where the paper is silent).

Every function takes logits and returns a scalar fp32 tensor; the step decides what gets
detached. See docs/training.md for the reading of eq. 4's fidelity sign.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import DiscriminatorOutput


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """BCE-with-logits against a constant label (fp32, so autocast never loses the loss)."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_stage_loss(real: DiscriminatorOutput, wrong: DiscriminatorOutput, fake: DiscriminatorOutput,
                 uncond_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """StackGAN-v2 `train_Dnet`: real+text -> 1, wrong+text -> 0, fake -> 0 (conditional);
    real -> 1, wrong -> 1 (it is a real image), fake -> 0 (unconditional). Without the
    unconditional terms StackGAN-v2 halves the two negatives: real + (wrong + fake) / 2."""
    if uncond_weight > 0:
        loss = (bce(real.cond, 1.0) + bce(wrong.cond, 0.0) + bce(fake.cond, 0.0)
                + uncond_weight * (bce(real.uncond, 1.0) + bce(wrong.uncond, 1.0)
                                   + bce(fake.uncond, 0.0)))
    else:
        loss = bce(real.cond, 1.0) + 0.5 * (bce(wrong.cond, 0.0) + bce(fake.cond, 0.0))
    with torch.no_grad():
        stats = {"p_real": torch.sigmoid(real.cond.float()).mean(),
                 "p_wrong": torch.sigmoid(wrong.cond.float()).mean(),
                 "p_fake": torch.sigmoid(fake.cond.float()).mean()}
    return loss, stats


def g_stage_loss(fake: DiscriminatorOutput, uncond_weight: float) -> torch.Tensor:
    """StackGAN-v2 `train_Gnet`: the fake image with its text -> 1 on both heads."""
    loss = bce(fake.cond, 1.0)
    if uncond_weight > 0:
        loss = loss + uncond_weight * bce(fake.uncond, 1.0)
    return loss


def fidelity_loss(fake_features: torch.Tensor, real_features: torch.Tensor,
                  mirrored_features: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 5 (docs/paper.md#fidelity-loss): mean L1 of VGG19 conv5_4 features, generated vs real.

    With `mirrored_features` (the real images flipped left-right; loss.fidelity_mirror), each
    sample is compared with whichever of the two is closer: a bird facing the other way is as
    faithful to the caption, and the plain L1 pulls every sample toward the average of left-
    and right-facing birds, a symmetric blob."""
    fake, real = fake_features.float(), real_features.float()
    if mirrored_features is None:
        return F.l1_loss(fake, real)
    direct = (fake - real).abs().flatten(1).mean(1)
    mirrored = (fake - mirrored_features.float()).abs().flatten(1).mean(1)
    return torch.minimum(direct, mirrored).mean()


def mean_covariance(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean colour (B,C,1,1) and colour covariance (B,C,C), as StackGAN-v2."""
    b, c, h, w = images.shape
    images = images.float()
    mu = images.mean(dim=(2, 3), keepdim=True)
    centred = (images - mu).reshape(b, c, h * w)
    return mu, torch.bmm(centred, centred.transpose(1, 2)) / (h * w)


def color_consistency_loss(fakes: list[torch.Tensor], weight: float) -> torch.Tensor:
    """StackGAN-v2 colour consistency: each scale's colour mean and covariance follow the
    next smaller scale (detached), coefficients `weight` and 5 * `weight`."""
    total = fakes[0].new_zeros((), dtype=torch.float32)
    for small, large in zip(fakes[:-1], fakes[1:]):
        mu1, cov1 = mean_covariance(large)
        mu2, cov2 = mean_covariance(small.detach())
        total = total + weight * F.mse_loss(mu1, mu2) + 5 * weight * F.mse_loss(cov1, cov2)
    return total


def text_regression_loss(predicted: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Auxiliary (demo-only) loss: the discriminator's text head regresses the sentence vector.

    Squared L2 distance per sample (summed over dimensions, averaged over the batch): a
    per-element mean would shrink the signal by the text width (1024 for bag-of-words, whose
    unit vectors have entries of about 0.03), leaving it negligible beside the BCE terms."""
    return (predicted.float() - text.float()).pow(2).sum(dim=1).mean()


def mode_seeking_loss(first: torch.Tensor, second: torch.Tensor, z1: torch.Tensor,
                      z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's term: 1 / (mean |G(c, z1) - G(c, z2)| / mean |z1 - z2| + eps); small when two
    noise vectors give pictures as far apart as the vectors themselves."""
    ratio = (first.float() - second.float()).abs().mean() / (z1.float() - z2.float()).abs().mean()
    return 1.0 / (ratio + eps)
