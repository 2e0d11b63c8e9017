"""The objective of one training step, in the shape of StyleGAN2-ADA's training/loss.py.

docs/paper.md#objective gives the paper's terms; where it is silent we follow StackGAN-v2's
trainer. First the formulas (each takes logits or features and returns a scalar fp32 tensor),
then `GtGANLoss`: the terms' settings and the frozen networks they read (the fidelity
features, the DAMSM image encoder, the Lite0 under the projected discriminators), with one
method per phase (a stage's discriminator, its projected discriminator, the generator) that
computes the phase's loss and backpropagates it. The `Trainer` (training/step.py) owns the
trained networks, their optimisers, the EMA and the precision, and runs the phases in
StackGAN-v2's order. See docs/training.md for the reading of eq. 4's fidelity sign.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..config import RunConfig
from ..data.damsm_folder import load_damsm
from ..device import autocast
from ..models import (DiscriminatorOutput, Lite0FidelityFeatures, NoiseEncoder, PixelFeatures,
                      TextFeatures, VGGFeatures, code_kl, kl_divergence)
from ..models.lite0 import Lite0Features
from ..models.projected import feature_input
from .augment import augment
from .damsm_losses import generated_matching_loss

PROJECTED_STRIDES = (4, 8, 16)  # the Lite0 feature maps the projected discriminators read


# ---------------------------------------------------------------------- the terms' formulas
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


def mode_seeking_loss(first: torch.Tensor | list[torch.Tensor],
                      second: torch.Tensor | list[torch.Tensor], z1: torch.Tensor,
                      z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """MSGAN's term: 1 / (mean |G(c, z1) - G(c, z2)| / mean |z1 - z2| + eps); small when two
    noise vectors give pictures as far apart as the vectors themselves.

    Lists are feature maps (loss.mode_seeking_space=lite0): each scale's distance is divided
    by its mean magnitude (no graph through the divisor), so the scales weigh alike and the
    term's size is that of a pixel distance in [-1, 1]."""
    if isinstance(first, torch.Tensor):
        distance = (first.float() - second.float()).abs().mean()
    else:
        distance = sum((a.float() - b.float()).abs().mean()
                       / (0.5 * (a.float().abs().mean() + b.float().abs().mean())).detach()
                       .clamp_min(1e-6) for a, b in zip(first, second)) / len(first)
    return 1.0 / (distance / (z1.float() - z2.float()).abs().mean() + eps)


# ---------------------------------------------------------------------- the loss object
@dataclass
class StepTensors:
    """What the phases of one step share: the batch on the device, the generator's output
    (with its graph) and the noise a second picture needs (mode seeking)."""

    reals: list[torch.Tensor]  # per trained stage
    wrongs: list[torch.Tensor]  # mismatched real pictures, per trained stage
    features: TextFeatures
    class_ids: torch.Tensor | None  # masks same-class pairs in the DAMSM match
    fakes: list[torch.Tensor]
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    second_noise: tuple[torch.Tensor, torch.Tensor] | None  # (z2, eps2) for mode seeking
    # stage index -> the fakes' Lite0 features, with their graph (set by the projected phase)
    projected_fakes: dict[int, list[torch.Tensor]] = field(default_factory=dict)
    eps: torch.Tensor | None = None  # the CA noise of `fakes`
    code_noise: torch.Tensor | None = None  # reparameterises E's codes (loss.reconstruction)


class GtGANLoss:
    """The loss terms of Gt-StackGAN and its switches; one method per phase.

    Each phase runs under the step's autocast, backpropagates its loss through the caller's
    GradScaler and returns what it logs; zeroing gradients, stepping the optimisers and
    freezing the discriminators during the generator phase are the caller's."""

    def __init__(self, cfg: RunConfig, device: torch.device, amp_dtype: torch.dtype | None,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 fidelity_net: VGGFeatures | None = None):
        lc = cfg.loss
        self.cfg, self.device, self.amp_dtype = cfg, torch.device(device), amp_dtype
        self.fidelity_net = self._build_fidelity(cfg, fidelity_net)
        if self.fidelity_net is not None:
            self.fidelity_net.to(self.device, memory_format=memory_format)
        self.vgg_random = bool(self.fidelity_net is not None and self.fidelity_net.is_random)
        # Which pretrained weights the fidelity term used, for the run's records (Lite0: hashed).
        self.fidelity_weights = None if self.fidelity_net is None else {
            "features": lc.fidelity_features, "source": self.fidelity_net.weights_source,
            "sha256": getattr(getattr(self.fidelity_net, "lite0", None), "sha256", None)}
        self.text_regression = cfg.model.d_text_regression and lc.text_regression_weight > 0
        # loss.damsm_match: the DAMSM the captions were encoded with scores the pictures
        # (its image encoder, frozen, in eval mode).
        self.damsm_image_net: nn.Module | None = None
        if lc.damsm_match and lc.damsm_weight > 0:
            net = load_damsm(cfg.data.encoder.name, image=True).image_net.to(self.device).eval()
            self.damsm_image_net = net.requires_grad_(False)
        # One frozen Lite0 for the fidelity term and the projected discriminators.
        self.lite0: Lite0Features | None = None
        if cfg.model.projected_d_stages or (lc.mode_seeking_weight > 0
                                            and lc.mode_seeking_space == "lite0"):
            shared = getattr(self.fidelity_net, "lite0", None)
            self.lite0 = shared if shared is not None else \
                Lite0Features(lc.lite0_weights).to(self.device)

    @staticmethod
    def _build_fidelity(cfg: RunConfig, given: VGGFeatures | None):
        """What the fidelity L1 compares: VGG19 features (the paper), pooled pixels or Lite0
        features (loss.fidelity_features); `given` is a VGG19 already built (benchmarks)."""
        lc = cfg.loss
        if not (lc.fidelity and lc.fidelity_weight > 0):
            return None
        if lc.fidelity_features == "pixels":
            return PixelFeatures(lc.fidelity_pixel_size)
        if lc.fidelity_features == "efficientnet-lite0":
            return Lite0FidelityFeatures(lc.lite0_weights, lc.fidelity_lite0_stride,
                                         lc.fidelity_lite0_size)
        return given if given is not None else VGGFeatures(lc.vgg_weights)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """What a discriminator sees of `images` (loss.d_augment; the identity when off)."""
        return augment(images, self.cfg.loss.d_augment)

    def projected_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        size = self.cfg.model.projected_d_size or images.size(-1)
        feats = self.lite0(feature_input(images, size), PROJECTED_STRIDES)
        return [feats[k] for k in PROJECTED_STRIDES]

    # ------------------------------------------------------------------ discriminator phases
    def discriminator_phase(self, i: int, d: nn.Module, s: StepTensors,
                            scaler: torch.amp.GradScaler) -> dict[str, torch.Tensor]:
        """Stage i's discriminator on real, wrong and (detached) fake pictures, three passes
        so that each has its own batch-norm statistics; the auxiliary text regression on the
        real pictures where it is on."""
        lc, mu = self.cfg.loss, s.mu.detach()
        with autocast(self.device, self.amp_dtype):
            real_o = d(self.augment(s.reals[i]), mu)
            wrong_o = d(self.augment(s.wrongs[i]), mu)
            fake_o = d(self.augment(s.fakes[i].detach()), mu)
            err, out = d_stage_loss(real_o, wrong_o, fake_o, lc.uncond_weight)
            if self.text_regression:
                t = text_regression_loss(real_o.text, s.features.sentence)
                err = err + lc.text_regression_weight * t
                out["text_reg_d"] = t.detach()
            elif real_o.text is not None:  # keep the unused head in the graph for DDP
                err = err + 0.0 * real_o.text.float().sum()
        scaler.scale(err).backward()
        return {"loss": err.detach(), **out}

    def projected_phase(self, i: int, p: nn.Module, s: StepTensors,
                        scaler: torch.amp.GradScaler) -> torch.Tensor:
        """Stage i's projected discriminator, with StackGAN++'s losses on the frozen Lite0's
        features. The fakes' features are computed once, with their graph, and kept in
        `s.projected_fakes`: this phase reads them detached, the generator phase
        backpropagates through them (the Lite0 is frozen, so they are what a second forward
        would give)."""
        mu = s.mu.detach()
        with autocast(self.device, self.amp_dtype):
            with torch.no_grad():
                real_f = self.projected_features(self.augment(s.reals[i]))
                wrong_f = self.projected_features(self.augment(s.wrongs[i]))
            s.projected_fakes[i] = self.projected_features(self.augment(s.fakes[i]))
            err, _ = d_stage_loss(p(real_f, mu), p(wrong_f, mu),
                                  p([f.detach() for f in s.projected_fakes[i]], mu),
                                  self.cfg.loss.uncond_weight)
        scaler.scale(err).backward()
        return err.detach()

    def discriminator_summary(self, stages: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The discriminators' total loss, their mean D(x) on real, wrong and fake pictures,
        and the summed text regression, from each stage's `discriminator_phase`."""
        total = torch.zeros((), device=self.device)
        text = torch.zeros((), device=self.device)
        means: dict[str, torch.Tensor] = {}
        for out in stages:
            total = total + out["loss"]
            for k in ("p_real", "p_wrong", "p_fake"):
                means[k] = means.get(k, 0) + out[k] / len(stages)
            if self.text_regression:
                text = text + out["text_reg_d"]
        return {"d_loss": total, **means, **({"text_reg_d": text} if self.text_regression else {})}

    # ------------------------------------------------------------------ generator phase
    def generator_phase(self, G: nn.Module, Ds: list[nn.Module], Ps: dict[int, nn.Module],
                        s: StepTensors, scaler: torch.amp.GradScaler,
                        encoder: nn.Module | None = None) -> dict[str, torch.Tensor]:
        """The generator's loss: the adversarial terms of every trained stage (and of its
        projected discriminator, `Ps` by stage index), KL, then each switched-on term.

        `Ds`, `Ps` and `G` are the raw modules (no DDP gradient sync here; the caller has
        frozen the discriminators); `G` draws mode seeking's second picture and, with the noise
        `encoder` (loss.reconstruction_weight; DDP-wrapped when distributed, since its only
        forward pass is here), the redrawn real pictures."""
        lc = self.cfg.loss
        log: dict[str, torch.Tensor] = {}
        with autocast(self.device, self.amp_dtype):
            g_adv, text_g = self._adversarial(Ds, Ps, s)
            kl = kl_divergence(s.mu.float(), s.logvar.float())
            err = g_adv + lc.kl_weight * kl
            if self.fidelity_net is not None:
                fidelity = self._fidelity(s)
                err = err + lc.fidelity_weight * fidelity
                log["fidelity"] = fidelity.detach()
            if self.damsm_image_net is not None:  # AttnGAN: on the last stage's pictures
                match = generated_matching_loss(self.damsm_image_net, s.fakes[-1], s.features,
                                                s.class_ids)
                err = err + lc.damsm_weight * match
                log["damsm"] = match.detach()
            if lc.color_weight > 0 and len(s.fakes) > 1:
                color = color_consistency_loss(s.fakes, lc.color_weight)
                err = err + color
                log["color"] = color.detach()
            if self.text_regression:
                err = err + lc.text_regression_weight * text_g
                log["text_reg_g"] = text_g.detach()
            if s.second_noise is not None:  # a second stage-1 picture of the same captions
                # Through the raw module: its stage-1 parameters are the ones DDP's forward
                # already used, and autograd sums both uses before each parameter's one
                # gradient hook fires, so DDP sees one forward and one backward.
                z2, eps2 = s.second_noise
                if self.cfg.model.mirror_noise:  # mirrored alike: the term sees what G varies
                    z2 = torch.cat((torch.where(s.z[:, :1] < 0, -z2[:, :1].abs(), z2[:, :1].abs()),
                                    z2[:, 1:]), dim=1)
                first2 = G(s.features, z2, eps2, 1).images[0]
                if lc.mode_seeking_space == "lite0":  # the projected phase's features if any
                    # (those are of the augmented pictures when loss.d_augment is on)
                    first1 = (s.projected_fakes.get(0) if lc.d_augment == "none" else None) \
                        or self.projected_features(s.fakes[0])
                    ms = mode_seeking_loss(first1, self.projected_features(first2), s.z, z2)
                else:
                    ms = mode_seeking_loss(s.fakes[0], first2, s.z, z2)
                err = err + lc.mode_seeking_weight * ms
                log["mode_seeking"] = ms.detach()
            if encoder is not None:  # the Trainer builds one only for reconstruction_weight > 0
                rec, code_kl_term = self._reconstruction(G, encoder, s)
                err = err + lc.reconstruction_weight * rec + lc.reconstruction_kl_weight * code_kl_term
                log["reconstruction"], log["code_kl"] = rec.detach(), code_kl_term.detach()
        scaler.scale(err).backward()
        return {**log, "g_loss": err.detach(), "g_adv": g_adv.detach(), "kl": kl.detach()}

    def _adversarial(self, Ds: list[nn.Module], Ps: dict[int, nn.Module],
                     s: StepTensors) -> tuple[torch.Tensor, torch.Tensor]:
        """(the adversarial terms, the summed text regression) of the fakes with their text."""
        lc = self.cfg.loss
        g_adv = torch.zeros((), device=self.device)
        text_g = torch.zeros((), device=self.device)
        for i, d in enumerate(Ds[:len(s.fakes)]):
            fo = d(self.augment(s.fakes[i]), s.mu)
            g_adv = g_adv + g_stage_loss(fo, lc.uncond_weight)
            if self.text_regression:
                text_g = text_g + text_regression_loss(fo.text, s.features.sentence)
            if i in Ps:
                po = Ps[i](s.projected_fakes[i], s.mu)
                g_adv = g_adv + lc.projected_weight * g_stage_loss(po, lc.uncond_weight)
        return g_adv, text_g

    def _reconstruction(self, G: nn.Module, encoder: nn.Module, s: StepTensors
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """(L1 of G(caption, E(real)) against the real stage-1 picture, KL of E's codes).

        With model.mirror_noise the sign of z's first coordinate mirrors the picture, a choice
        no gradient reaches, so each redrawn picture is compared with the real one or its
        mirror, whichever is closer: `fidelity_loss`, as loss.fidelity_mirror uses it."""
        real = s.reals[0]
        mu, logvar = encoder(real)
        redrawn = G(s.features, NoiseEncoder.sample(mu, logvar, s.code_noise), s.eps, 1).images[0]
        mirrored = real.flip(3) if self.cfg.model.mirror_noise else None
        return fidelity_loss(redrawn, real, mirrored), code_kl(mu, logvar)

    def _fidelity(self, s: StepTensors) -> torch.Tensor:
        """Eq. 5 on every trained stage: the fakes' features against the reals' (or their
        mirror's, loss.fidelity_mirror), the reals' without a graph."""
        total = torch.zeros((), device=self.device)
        for real, fake in zip(s.reals, s.fakes):
            with torch.no_grad():
                real_f = self.fidelity_net(real)
                mirror_f = self.fidelity_net(real.flip(3)) if self.cfg.loss.fidelity_mirror else None
            total = total + fidelity_loss(self.fidelity_net(fake), real_f, mirror_f)
        return total
