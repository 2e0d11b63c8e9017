"""One training step of the paper's objective: no files, no CLI, no data loading.

`Trainer(cfg, device)` owns the generator, one discriminator per scale (and a projected one
per listed stage), their Adam optimisers, the EMA generator and the precision machinery; the
loss terms and the frozen networks they read are `self.loss`, a `GtGANLoss` (training/loss.py).
`trainer(batch)` runs the discriminator phases then the generator phase (StackGAN-v2's order)
and returns the losses as floats. Under an initialised torch.distributed process group the
networks are wrapped in DistributedDataParallel.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..config import RunConfig
from ..device import autocast, resolve_execution
from ..models import (TextFeatures, VGGFeatures, build_discriminators, build_generator,
                      build_noise_encoder)
from ..models.lite0 import CHANNELS as LITE0_CHANNELS
from ..models.projected import ProjectedDiscriminator
from .distributed import ddp_buffer_sync_kwargs
from .ema import EMA
from .loss import PROJECTED_STRIDES, GtGANLoss, StepTensors

_MIX = (1_000_003, 998_244_353, 2_654_435_761)


def step_seed(seed: int, rank: int, step: int) -> int:
    """Seed of the noise (z and CA epsilon) drawn at `step` on `rank`: a pure function, so a
    resumed run draws exactly what an uninterrupted one would, with no generator state."""
    return (seed * _MIX[0] + rank * _MIX[1] + step * _MIX[2] + 1) % (2**63 - 1)


@contextlib.contextmanager
def frozen(modules: list[nn.Module]):
    """No parameter gradients for `modules` inside (the discriminators in G's phase)."""
    for m in modules:
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m in modules:
            m.requires_grad_(True)


class Trainer:
    """Models, optimisers, EMA and precision for one training step; the loss is `self.loss`."""

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
        # Built before the projected heads: the networks' random initialisations draw from
        # torch's generator in this order, which fixed-seed runs depend on.
        self.loss = GtGANLoss(cfg, self.device, self.amp_dtype, self.memory_format, fidelity_net)
        self._build_projected(cfg)
        # loss.reconstruction_weight: BicycleGAN's noise encoder, trained with the generator
        # (a second parameter group of its optimiser); built last, so that runs without it
        # draw the same initialisations as before.
        self.E: nn.Module | None = None
        if cfg.loss.reconstruction_weight > 0:
            self.E = build_noise_encoder(cfg.model).to(self.device, memory_format=self.memory_format)
            self.opt_g.add_param_group({"params": list(self.E.parameters())})

        self.G_train: nn.Module = self.G
        self.E_train: nn.Module | None = self.E
        self.D_train: list[nn.Module] = list(self.Ds)
        self.P_train: list[nn.Module] = list(self.Ps)
        if self.world_size > 1:
            self._wrap_ddp()

    @property
    def vgg_random(self) -> bool:
        """Whether the fidelity features have random weights (the run's records say so)."""
        return self.loss.vgg_random

    @property
    def fidelity_weights(self) -> dict | None:
        return self.loss.fidelity_weights

    # ------------------------------------------------------------------ set-up
    def _build_projected(self, cfg: RunConfig) -> None:
        """model.projected_d_stages: one projected discriminator per listed stage, reading the
        loss's frozen Lite0 (models/projected.py)."""
        mc, o = cfg.model, cfg.optim
        self.projected_stages = sorted(mc.projected_d_stages)
        self.Ps = nn.ModuleList()
        for stage in self.projected_stages:
            size = mc.projected_d_size or mc.image_sizes[stage - 1]
            shapes = [(LITE0_CHANNELS[k], size // k) for k in PROJECTED_STRIDES]
            self.Ps.append(ProjectedDiscriminator(shapes, mc.c_dim, mc.projected_d_mixing,
                                                  mc.projected_d_width, mc.d_mirror_pairs))
        self.Ps.to(self.device)
        self.opt_p = [torch.optim.Adam([q for q in p.parameters() if q.requires_grad], lr=o.lr_d,
                                       betas=(o.beta1, o.beta2))
                      for p in self.Ps]

    def _wrap_ddp(self) -> None:
        """DDP with per-replica batch-norm statistics and buffers broadcast from rank 0 (see
        docs/training.md, "Batch norm across processes")."""
        sync = ddp_buffer_sync_kwargs()
        ids = [self.device.index] if self.device.type == "cuda" else None
        lc = self.cfg.loss
        d_unused = lc.uncond_weight <= 0 or (self.cfg.model.d_text_regression and not self.loss.text_regression)
        # During a stage warm-up the later stages get no gradients.
        g_unused = self.cfg.optim.has_stage_warmup and len(self.Ds) > 1
        self.G_train = DDP(self.G, device_ids=ids, find_unused_parameters=g_unused, **sync)
        self.D_train = [DDP(d, device_ids=ids, find_unused_parameters=d_unused, **sync)
                        for d in self.Ds]
        self.P_train = [DDP(p, device_ids=ids, **sync) for p in self.Ps]
        if self.E is not None:
            self.E_train = DDP(self.E, device_ids=ids, **sync)

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

    def code_noise(self, batch_size: int) -> torch.Tensor:
        """The reparameterisation noise of the encoder's codes at the next step (its own seed:
        the other draws stay what they were without the encoder)."""
        g = torch.Generator().manual_seed(step_seed(self.cfg.run.seed, self.rank, self.step)
                                          ^ 0x5EED)
        return torch.randn(batch_size, self.cfg.model.z_dim, generator=g).to(self.device)

    # ------------------------------------------------------------------ the step
    def __call__(self, batch: dict, num_stages: int | None = None) -> dict[str, float]:
        """D phases then the G phase; returns the losses (non-finite values are returned, not
        raised: the caller decides, so that all processes stop together).

        `num_stages` trains only the first stages (a stage warm-up decided by the caller, e.g.
        by time); by default the step-counted optim.stage_warmup_steps decides."""
        s = self._generate(batch, num_stages)
        log = self._discriminator_phases(s)
        with frozen([*self.Ds, *self.Ps]):
            self.opt_g.zero_grad(set_to_none=True)
            projected = {stage - 1: p for stage, p in zip(self.projected_stages, self.Ps)}
            log.update(self.loss.generator_phase(self.G, list(self.Ds), projected, s, self.scaler_g,
                                                 self.E_train))
            self.scaler_g.step(self.opt_g)
            self.scaler_g.update()
        self.ema.update(self.G)
        self.step += 1
        keys = list(log)
        values = torch.stack([log[k].float().reshape(()) for k in keys]).tolist()
        return dict(zip(keys, values))

    def _generate(self, batch: dict, num_stages: int | None) -> StepTensors:
        """The batch on the device, this step's noise, and the generator's pictures of the
        trained stages (with their graph)."""
        cfg = self.cfg
        reals = [self._put(x) for x in batch["images"]]
        wrongs = [self._put(x) for x in batch["wrong_images"]]
        features: TextFeatures = batch["text"].to(self.device, non_blocking=True).float()
        n_stages = len(self.Ds)
        if len(reals) != n_stages or len(wrongs) != n_stages:
            raise ValueError(f"batch has {len(reals)} real / {len(wrongs)} wrong scales, the model "
                             f"has {n_stages} ({cfg.model.image_sizes} px)")
        # StackGAN-v1-style warm-up: only the first stage trains for optim.stage_warmup_steps.
        if num_stages is None:
            num_stages = 1 if self.step < cfg.optim.stage_warmup_steps else n_stages
        n_stages = max(1, min(num_stages, n_stages))
        second = None
        if cfg.loss.mode_seeking_weight > 0:
            z, eps, *second = self.noise(len(features), second=True)
        else:
            z, eps = self.noise(len(features))
        self.G_train.train()
        for d in self.Ds:
            d.train()
        code_noise = self.code_noise(len(features)) if self.E is not None else None
        with autocast(self.device, self.amp_dtype):
            out = self.G_train(features, z, eps, n_stages)
        ids = batch.get("class_id")
        return StepTensors(reals[:n_stages], wrongs[:n_stages], features,
                           None if ids is None else ids.to(self.device), out.images, out.mu,
                           out.logvar, z, None if second is None else tuple(second), eps=eps,
                           code_noise=code_noise)

    def _discriminator_phases(self, s: StepTensors) -> dict[str, torch.Tensor]:
        """Each trained stage's discriminator, then its projected one, each updated at once."""
        log: dict[str, torch.Tensor] = {}
        stages = []
        for i, (d, opt) in enumerate(zip(self.D_train[:len(s.fakes)], self.opt_d)):
            size = self.cfg.model.image_sizes[i]
            opt.zero_grad(set_to_none=True)
            stages.append(self.loss.discriminator_phase(i, d, s, self.scaler_d))
            self.scaler_d.step(opt)
            log[f"d_loss_{size}"] = stages[-1]["loss"]
            if i + 1 in self.projected_stages:
                j = self.projected_stages.index(i + 1)
                self.opt_p[j].zero_grad(set_to_none=True)
                log[f"p_loss_{size}"] = self.loss.projected_phase(i, self.P_train[j], s, self.scaler_d)
                self.scaler_d.step(self.opt_p[j])
        self.scaler_d.update()
        log.update(self.loss.discriminator_summary(stages))
        return log

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
        if self.E is not None:
            out["E"] = self.E.state_dict()
        return out

    def load_weights(self, weights: dict[str, dict[str, torch.Tensor]]) -> None:
        self.G.load_state_dict(weights["G"])
        self.ema.module.load_state_dict(weights["G_ema"])
        for i, d in enumerate(self.Ds):
            d.load_state_dict(weights[f"D{i}"])
        for stage, p in zip(self.projected_stages, self.Ps):
            p.load_state_dict(weights[f"P{stage}"])
        if self.E is not None:
            if "E" not in weights:
                raise ValueError("checkpoint has no noise encoder (E), but "
                                 "loss.reconstruction_weight > 0 needs one")
            self.E.load_state_dict(weights["E"])

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


FAKE_CAPTION_WORDS = 18  # make_fake_batch's captions, at most (AttnGAN's caption length)


def make_fake_batch(cfg: RunConfig, batch_size: int, device: torch.device | str = "cpu",
                    seed: int = 0) -> dict:
    """A random batch shaped like the data set's (for benchmarks and tests)."""
    g = torch.Generator().manual_seed(seed)
    sizes = cfg.model.image_sizes

    def imgs():
        return [(torch.rand(batch_size, 3, s, s, generator=g) * 2 - 1).to(device) for s in sizes]

    images, wrong = imgs(), imgs()  # drawn first: the batch of a given seed stays what it was
    sentence = torch.randn(batch_size, cfg.model.text_dim, generator=g)
    words = mask = None
    if cfg.model.word_attention or cfg.loss.damsm_match:  # a DAMSM's words: (n, L, d) + mask
        length = FAKE_CAPTION_WORDS
        words = torch.randn(batch_size, length, cfg.model.text_dim, generator=g).to(device)
        lengths = torch.randint(length // 2, length + 1, (batch_size,), generator=g)
        mask = (torch.arange(length)[None, :] < lengths[:, None]).to(device)
    return {"images": images, "wrong_images": wrong,
            "text": TextFeatures(sentence.to(device), words, mask)}


def nonfinite(losses: dict[str, float]) -> list[str]:
    """Names of NaN/inf losses."""
    return [k for k, v in losses.items() if not math.isfinite(v)]
