"""The noise encoder E of BicycleGAN's cVAE-GAN path (Zhu et al. 2017), for loss.reconstruction.

Why: the paper's fidelity term compares G(c, z), with z drawn at random, with the one real
picture of the caption. A caption does not fix where the bird sits or which way it faces, so
the best answer to that term is the average of all such pictures, a blur, and the noise learns
nothing. With E, the generator is also asked to redraw the real picture from z = E(picture):
the layout the caption leaves open is then given, so a sharp picture is the right answer, the
generator learns to draw the bird's outline from the first steps, and z learns to carry pose.
A KL term keeps E's codes near N(0, I), the noise drawn at sampling time. E is used only in
training; a saved generator does not need it.
"""
from __future__ import annotations

import torch
from torch import nn

from .discriminator import encode_by_16
from .generator import kl_divergence


class NoiseEncoder(nn.Module):
    """A picture (3 x S x S, S >= 64) -> (mu, logvar) of z (z_dim each)."""

    def __init__(self, z_dim: int, ndf: int, image_size: int = 64):
        super().__init__()
        self.features = encode_by_16(ndf)
        cells = (image_size // 16) ** 2
        self.to_z = nn.Linear(ndf * 8 * cells, 2 * z_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(images).flatten(1)
        mu, logvar = self.to_z(h).float().chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The reparameterised draw mu + sigma * noise (noise given: runs stay reproducible)."""
        return mu + noise * torch.exp(0.5 * logvar)


def code_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma) || N(0, I)) summed over z's dimensions, averaged over the batch
    (BicycleGAN sums; a per-dimension mean would make the weight depend on z_dim)."""
    return kl_divergence(mu, logvar) * mu.size(1)
