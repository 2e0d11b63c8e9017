"""One training step of the paper's objective: no files, no CLI, no data loading.

`Trainer(cfg, device)` owns the generator, one discriminator per scale, their Adam optimisers,
the EMA generator, the optional fidelity network (VGG19 features, or pooled pixels) and the
precision machinery;
`step(batch)` runs the discriminator updates then the generator update (StackGAN-v2's order)
and returns the losses as floats. Under an initialised torch.distributed process group the
networks are wrapped in DistributedDataParallel.
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..config import RunConfig
from ..data.damsm import load_damsm
from ..device import autocast, resolve_execution
from ..models import (Lite0FidelityFeatures, PixelFeatures, TextFeatures, VGGFeatures,
                      build_discriminators, build_generator, kl_divergence)
from ..models.lite0 import CHANNELS as LITE0_CHANNELS, Lite0Features
from ..models.projected import ProjectedDiscriminator, feature_input
from . import losses as L
from .damsm_losses import generated_matching_loss
from .distributed import ddp_buffer_sync_kwargs
from .ema import EMA

_MIX = (1_000_003, 998_244_353, 2_654_435_761)
PROJECTED_STRIDES = (4, 8, 16)  # the Lite0 feature maps the projected discriminators read


def step_seed(seed: int, rank: int, step: int) -> int:
    """Seed of the noise (z and CA epsilon) drawn at `step` on `rank`: a pure function, so a
    resumed run draws exactly what an uninterrupted one would, with no generator state."""
    return (seed * _MIX[0] + rank * _MIX[1] + step * _MIX[2] + 1) % (2**63 - 1)


class Trainer:
    """Models, optimisers, EMA and the loss for one training step; no files, no CLI."""

    def __init__(self, cfg: RunConfig, device: torch.device,
                 fidelity_net: VGGFeatures | None = None):
        cfg.validate()
        self.cfg = cfg
        self.device = torch.device(device)
        self.execution = resolve_execution(cfg.run, self.device)  # `auto` decided by the hardware
        self.amp_dtype = self.execution.amp_dtype
        self.memory_format = torch.channels_last if self.execution.channels_last else torch.contiguous_format
        distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if distributed else 0
        self.world_size = dist.get_world_size() if distributed else 1
        self.step = 0  # completed steps

        self.G = build_generator(cfg.model).to(self.device, memory_format=self.memory_format)
        self.Ds = build_discriminators(cfg.model).to(self.device, memory_format=self.memory_format)
        self.ema = EMA(self.G, cfg.optim.ema_decay)
        o = cfg.optim
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2))
        self.opt_d = [torch.optim.Adam(d.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
                      for d in self.Ds]
        # Loss scaling only where fp16 gradients can underflow; a disabled scaler is a no-op.
        use_scaler = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=use_scaler)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=use_scaler)

        lc = cfg.loss
        # What the fidelity L1 compares: VGG19 features (the paper) or pooled pixels
        # (loss.fidelity_features); `fidelity_net` gives a VGG19 already built (benchmarks).
        self.fidelity_net: VGGFeatures | PixelFeatures | None = None
        if lc.fidelity and lc.fidelity_weight > 0:
            if lc.fidelity_features == "pixels":
                fidelity_net = PixelFeatures(lc.fidelity_pixel_size)
            elif lc.fidelity_features == "efficientnet-lite0":
                fidelity_net = Lite0FidelityFeatures(lc.lite0_weights, lc.fidelity_lite0_stride,
                                                     lc.fidelity_lite0_size)
            elif fidelity_net is None:
                fidelity_net = VGGFeatures(lc.vgg_weights)
            self.fidelity_net = fidelity_net.to(self.device, memory_format=self.memory_format)
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

        self._build_projected(cfg)

        self.G_train: nn.Module = self.G
        self.D_train: list[nn.Module] = list(self.Ds)
        self.P_train: list[nn.Module] = list(self.Ps)
        if self.world_size > 1:
            self._wrap_ddp()

    # ------------------------------------------------------------------ set-up
    def _build_projected(self, cfg: RunConfig) -> None:
        """model.projected_d_stages: one projected discriminator per listed stage over one
        shared frozen Lite0 (models/projected.py)."""
        mc, o = cfg.model, cfg.optim
        self.projected_stages = sorted(mc.projected_d_stages)
        self.lite0: Lite0Features | None = None
        self.Ps = nn.ModuleList()
        if not self.projected_stages:
            self.opt_p: list[torch.optim.Optimizer] = []
            return
        # One frozen Lite0 for the fidelity term and the projected discriminators.
        shared = getattr(self.fidelity_net, "lite0", None)
        self.lite0 = shared if shared is not None else \
            Lite0Features(cfg.loss.lite0_weights).to(self.device)
        for stage in self.projected_stages:
            size = mc.projected_d_size or mc.image_sizes[stage - 1]
            shapes = [(LITE0_CHANNELS[k], size // k) for k in PROJECTED_STRIDES]
            self.Ps.append(ProjectedDiscriminator(shapes, mc.c_dim))
        self.Ps.to(self.device)
        self.opt_p = [torch.optim.Adam(p.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
                      for p in self.Ps]

    def _projected_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        size = self.cfg.model.projected_d_size or images.size(-1)
        feats = self.lite0(feature_input(images, size), PROJECTED_STRIDES)
        return [feats[k] for k in PROJECTED_STRIDES]

    def _wrap_ddp(self) -> None:
        """DDP with per-replica batch-norm statistics and buffers broadcast from rank 0 (see
        docs/training.md, "Batch norm across processes")."""
        sync = ddp_buffer_sync_kwargs()
        ids = [self.device.index] if self.device.type == "cuda" else None
        lc = self.cfg.loss
        d_unused = lc.uncond_weight <= 0 or (self.cfg.model.d_text_regression and not self.text_regression)
        # During a stage warm-up the later stages get no gradients.
        g_unused = self.cfg.optim.has_stage_warmup and len(self.Ds) > 1
        self.G_train = DDP(self.G, device_ids=ids, find_unused_parameters=g_unused, **sync)
        self.D_train = [DDP(d, device_ids=ids, find_unused_parameters=d_unused, **sync)
                        for d in self.Ds]
        self.P_train = [DDP(p, device_ids=ids, **sync) for p in self.Ps]

    def _put(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=self.memory_format) if x.dim() == 4 else x

    def noise(self, batch_size: int, step: int | None = None, second: bool = False):
        """(z, CA epsilon) for `step` (default: the next one) on this rank; with `second`, also
        a second (z, epsilon) drawn after them (mode seeking), leaving the first unchanged."""
        g = torch.Generator().manual_seed(step_seed(self.cfg.run.seed, self.rank,
                                                    self.step if step is None else step))
        z = torch.randn(batch_size, self.cfg.model.z_dim, generator=g)
        eps = torch.randn(batch_size, self.cfg.model.c_dim, generator=g)
        if not second:
            return z.to(self.device), eps.to(self.device)
        z2 = torch.randn(batch_size, self.cfg.model.z_dim, generator=g)
        eps2 = torch.randn(batch_size, self.cfg.model.c_dim, generator=g)
        return tuple(t.to(self.device) for t in (z, eps, z2, eps2))

    # ------------------------------------------------------------------ the step
    def __call__(self, batch: dict, num_stages: int | None = None) -> dict[str, float]:
        """D update(s) then G update; returns the losses (non-finite values are returned, not
        raised: the caller decides, so that all processes stop together).

        `num_stages` trains only the first stages (a stage warm-up decided by the caller, e.g.
        by time); by default the step-counted optim.stage_warmup_steps decides."""
        cfg, lc = self.cfg, self.cfg.loss
        reals = [self._put(x) for x in batch["images"]]
        wrongs = [self._put(x) for x in batch["wrong_images"]]
        features: TextFeatures = batch["text"].to(self.device, non_blocking=True).float()
        text = features.sentence  # what the text-regression head predicts
        n_stages = len(self.Ds)
        if len(reals) != n_stages or len(wrongs) != n_stages:
            raise ValueError(f"batch has {len(reals)} real / {len(wrongs)} wrong scales, the model "
                             f"has {n_stages} ({cfg.model.image_sizes} px)")
        # StackGAN-v1-style warm-up: only the first stage trains for optim.stage_warmup_steps.
        if num_stages is None:
            num_stages = 1 if self.step < cfg.optim.stage_warmup_steps else n_stages
        n_stages = max(1, min(num_stages, n_stages))
        reals, wrongs = reals[:n_stages], wrongs[:n_stages]
        mode_seeking = lc.mode_seeking_weight > 0
        if mode_seeking:
            z, eps, z2, eps2 = self.noise(text.size(0), second=True)
        else:
            z, eps = self.noise(text.size(0))
        self.G_train.train()
        for d in self.Ds:
            d.train()
        log: dict[str, torch.Tensor] = {}

        with autocast(self.device, self.amp_dtype):
            out = self.G_train(features, z, eps, n_stages)
        fakes, mu, logvar = out.images, out.mu, out.logvar
        mu_d = mu.detach()

        # ---- discriminators: real/wrong/fake as separate passes (batch-norm statistics)
        d_total = torch.zeros((), device=self.device)
        stats_sum: dict[str, torch.Tensor] = {}
        text_d = torch.zeros((), device=self.device)
        fake_feats: dict[int, list[torch.Tensor]] = {}  # stage index -> projected features
        for i, (d, opt) in enumerate(zip(self.D_train[:n_stages], self.opt_d)):
            with autocast(self.device, self.amp_dtype):
                real_o = d(reals[i], mu_d)
                wrong_o = d(wrongs[i], mu_d)
                fake_o = d(fakes[i].detach(), mu_d)
                err_d, stats = L.d_stage_loss(real_o, wrong_o, fake_o, lc.uncond_weight)
                if self.text_regression:
                    t = L.text_regression_loss(real_o.text, text)
                    err_d = err_d + lc.text_regression_weight * t
                    text_d = text_d + t.detach()
                elif real_o.text is not None:  # keep the unused head in the graph for DDP
                    err_d = err_d + 0.0 * real_o.text.float().sum()
            opt.zero_grad(set_to_none=True)
            self.scaler_d.scale(err_d).backward()
            self.scaler_d.step(opt)
            log[f"d_loss_{cfg.model.image_sizes[i]}"] = err_d.detach()
            d_total = d_total + err_d.detach()
            for k, v in stats.items():
                stats_sum[k] = stats_sum.get(k, 0) + v / n_stages
            if i + 1 in self.projected_stages:
                j = self.projected_stages.index(i + 1)
                p, opt_p = self.P_train[j], self.opt_p[j]
                with autocast(self.device, self.amp_dtype):
                    with torch.no_grad():
                        real_f = self._projected_features(reals[i])
                        wrong_f = self._projected_features(wrongs[i])
                    # The fakes' features once, with their graph: D reads them detached, and the
                    # generator's step below backpropagates through these same features (the
                    # Lite0 is frozen, so they are what a second forward would give).
                    fake_feats[i] = self._projected_features(fakes[i])
                    err_p, _ = L.d_stage_loss(p(real_f, mu_d), p(wrong_f, mu_d),
                                              p([f.detach() for f in fake_feats[i]], mu_d),
                                              lc.uncond_weight)
                opt_p.zero_grad(set_to_none=True)
                self.scaler_d.scale(err_p).backward()
                self.scaler_d.step(opt_p)
                log[f"p_loss_{cfg.model.image_sizes[i]}"] = err_p.detach()
        self.scaler_d.update()
        log["d_loss"] = d_total
        log.update(stats_sum)
        if self.text_regression:
            log["text_reg_d"] = text_d

        # ---- generator
        for d in [*self.Ds, *self.Ps]:
            d.requires_grad_(False)
        try:
            with autocast(self.device, self.amp_dtype):
                g_adv = torch.zeros((), device=self.device)
                text_g = torch.zeros((), device=self.device)
                for i, d in enumerate(self.Ds[:n_stages]):  # raw modules: no D gradient sync in G's step
                    fo = d(fakes[i], mu)
                    g_adv = g_adv + L.g_stage_loss(fo, lc.uncond_weight)
                    if self.text_regression:
                        text_g = text_g + L.text_regression_loss(fo.text, text)
                    if i + 1 in self.projected_stages:  # raw module, as the Ds above
                        p = self.Ps[self.projected_stages.index(i + 1)]
                        po = p(fake_feats[i], mu)
                        g_adv = g_adv + lc.projected_weight * L.g_stage_loss(po, lc.uncond_weight)
                kl = kl_divergence(mu.float(), logvar.float())
                err_g = g_adv + lc.kl_weight * kl
                if self.fidelity_net is not None:
                    fidelity = torch.zeros((), device=self.device)
                    for i in range(n_stages):
                        with torch.no_grad():
                            real_f = self.fidelity_net(reals[i])
                            mirror_f = self.fidelity_net(reals[i].flip(3)) if lc.fidelity_mirror else None
                        fidelity = fidelity + L.fidelity_loss(self.fidelity_net(fakes[i]), real_f, mirror_f)
                    err_g = err_g + lc.fidelity_weight * fidelity
                    log["fidelity"] = fidelity.detach()
                if self.damsm_image_net is not None:  # AttnGAN: on the last stage's pictures
                    ids = batch.get("class_id")
                    match = generated_matching_loss(self.damsm_image_net, fakes[-1], features,
                                                    None if ids is None else ids.to(self.device))
                    err_g = err_g + lc.damsm_weight * match
                    log["damsm"] = match.detach()
                if lc.color_weight > 0 and n_stages > 1:
                    color = L.color_consistency_loss(fakes, lc.color_weight)
                    err_g = err_g + color
                    log["color"] = color.detach()
                if self.text_regression:
                    err_g = err_g + lc.text_regression_weight * text_g
                    log["text_reg_g"] = text_g.detach()
                if mode_seeking:  # a second stage-1 picture of the same captions
                    # Through the raw module: its stage-1 parameters are the ones DDP's forward
                    # already used, and autograd sums both uses before each parameter's one
                    # gradient hook fires, so DDP sees one forward and one backward.
                    first2 = self.G(features, z2, eps2, 1).images[0]
                    ms = L.mode_seeking_loss(fakes[0], first2, z, z2)
                    err_g = err_g + lc.mode_seeking_weight * ms
                    log["mode_seeking"] = ms.detach()
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(err_g).backward()
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        finally:
            for d in [*self.Ds, *self.Ps]:
                d.requires_grad_(True)
        self.ema.update(self.G)
        self.step += 1
        log["g_loss"] = err_g.detach()
        log["g_adv"] = g_adv.detach()
        log["kl"] = kl.detach()
        keys = list(log)
        values = torch.stack([log[k].float().reshape(()) for k in keys]).tolist()
        return dict(zip(keys, values))

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, features: TextFeatures, z: torch.Tensor, eps: torch.Tensor | None = None,
               ema: bool = True) -> list[torch.Tensor]:
        """Images at every scale from the EMA generator (eval mode, fp32)."""
        g = self.ema.module if ema else self.G
        was_training = g.training
        g.eval()
        try:
            return g(features.to(self.device).float(), z.to(self.device),
                     None if eps is None else eps.to(self.device)).images
        finally:
            g.train(was_training)

    # ------------------------------------------------------------------ state
    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        """Named state dicts: G, G_ema, D0, D1, ... (for safetensors files)."""
        out = {"G": self.G.state_dict(), "G_ema": self.ema.module.state_dict()}
        for i, d in enumerate(self.Ds):
            out[f"D{i}"] = d.state_dict()
        for stage, p in zip(self.projected_stages, self.Ps):
            out[f"P{stage}"] = p.state_dict()
        return out

    def load_weights(self, weights: dict[str, dict[str, torch.Tensor]]) -> None:
        self.G.load_state_dict(weights["G"])
        self.ema.module.load_state_dict(weights["G_ema"])
        for i, d in enumerate(self.Ds):
            d.load_state_dict(weights[f"D{i}"])
        for stage, p in zip(self.projected_stages, self.Ps):
            p.load_state_dict(weights[f"P{stage}"])

    def train_state(self) -> dict:
        """Optimiser, loss-scaler and EMA state, plus the step (torch.save-able, weights_only)."""
        return {"step": self.step, "opt_g": self.opt_g.state_dict(),
                "opt_d": [o.state_dict() for o in self.opt_d],
                "opt_p": [o.state_dict() for o in self.opt_p],
                "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
                "ema": self.ema.state_dict()}

    def load_train_state(self, state: dict) -> None:
        self.step = int(state["step"])
        self.opt_g.load_state_dict(state["opt_g"])
        if len(state["opt_d"]) != len(self.opt_d):
            raise ValueError(f"checkpoint has {len(state['opt_d'])} discriminator optimisers, "
                             f"the model has {len(self.opt_d)}")
        for o, s in zip(self.opt_d, state["opt_d"]):
            o.load_state_dict(s)
        if len(state.get("opt_p", [])) != len(self.opt_p):
            raise ValueError(f"checkpoint has {len(state.get('opt_p', []))} projected-discriminator "
                             f"optimisers, the model has {len(self.opt_p)}")
        for o, s in zip(self.opt_p, state.get("opt_p", [])):
            o.load_state_dict(s)
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
        if state.get("scaler_d"):
            self.scaler_d.load_state_dict(state["scaler_d"])
        self.ema.load_state_dict(state["ema"])


def make_fake_batch(cfg: RunConfig, batch_size: int, device: torch.device | str = "cpu",
                    seed: int = 0) -> dict:
    """A random batch shaped like the data set's (for benchmarks and tests)."""
    g = torch.Generator().manual_seed(seed)
    sizes = cfg.model.image_sizes

    def imgs():
        return [(torch.rand(batch_size, 3, s, s, generator=g) * 2 - 1).to(device) for s in sizes]

    return {"images": imgs(), "wrong_images": imgs(),
            "text": TextFeatures(torch.randn(batch_size, cfg.model.text_dim, generator=g).to(device))}


def nonfinite(losses: dict[str, float]) -> list[str]:
    """Names of NaN/inf losses."""
    return [k for k, v in losses.items() if not math.isfinite(v)]
