"""Exponential moving average of the generator, kept apart from the live weights.

StackGAN-v2 keeps `avg_param_G`; its `save_model` does `load_params(netG, avg_param_G)` and
never restores the live weights, and the image snapshot that follows backs up (the already
averaged) netG and "restores" that, so at every snapshot training silently continues from the
average. Here the average lives in its own module and nothing ever writes it back.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """`shadow = decay_t * shadow + (1 - decay_t) * live` over parameters and float buffers.

    decay_t = min(decay, (1 + t) / (10 + t)) (t = updates so far): the usual warm-up, so early
    samples are not dominated by the random initialisation; it reaches 0.999 after ~9,000 steps.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"optim.ema_decay = {decay!r}: must be in [0, 1)")
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)
        self.module.eval()

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        ema_f, live_f, ema_other, live_other = [], [], [], []
        live_state = model.state_dict()
        for name, e in self.module.state_dict().items():
            v = live_state[name]
            if e.is_floating_point():
                ema_f.append(e)
                live_f.append(v.detach())
            else:
                ema_other.append(e)
                live_other.append(v)
        if ema_f:
            torch._foreach_lerp_(ema_f, live_f, 1.0 - d)
        for e, v in zip(ema_other, live_other):
            e.copy_(v)
        self.updates += 1

    def state_dict(self) -> dict:
        return {"updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
