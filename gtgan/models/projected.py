"""A discriminator on frozen pretrained features (Projected GAN, Sauer et al. 2021).

The image goes through a frozen ImageNet network (EfficientNet-Lite0, Projected GAN's own
choice); small trainable heads read its feature maps at three scales. A discriminator that
starts from features that already separate edges, parts and textures gives the generator a
shape signal from the first steps, where a discriminator learned from pixels first has to
learn what a shape is (Projected GAN reaches a given FID with 10-40x fewer images).

Each head: spectral-normalised convolutions down to a 4x4 code; the unconditional logit is a
4x4 convolution of that code and the conditional logit adds the projection <W mu, pooled
code> (Miyato & Koyama 2018), so the output is the project's `DiscriminatorOutput` and the
StackGAN++ losses apply unchanged. The heads' logits are averaged over scales.
With `mixing` (model.projected_d_mixing), the heads read Projected GAN's random projections of
the features instead of the features themselves (below, `RandomMixing`).
Not in the paper or StackGAN++: `model.projected_d_stages` (docs/architecture.md).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .discriminator import DiscriminatorOutput, with_mirror

HEAD_WIDTH = 128  # the default of model.projected_d_width
MIXING_WIDTHS = (64, 128, 256)  # Projected GAN's expanded widths, shallowest scale first


def _sn_conv(in_ch: int, out_ch: int, k: int, s: int, p: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(in_ch, out_ch, k, s, p))


class _ScaleHead(nn.Module):
    """One feature map (C x S x S, S a power of two >= 4) -> a width x 4 x 4 code."""

    def __init__(self, channels: int, size: int, width: int = HEAD_WIDTH):
        super().__init__()
        layers: list[nn.Module] = [_sn_conv(channels, width, 1, 1, 0), nn.LeakyReLU(0.2)]
        while size > 4:
            layers += [_sn_conv(width, width, 4, 2, 1), nn.LeakyReLU(0.2)]
            size //= 2
        self.code = nn.Sequential(*layers)
        self.logits = _sn_conv(width, 1, 4, 1, 0)

    def forward(self, feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.code(feature)
        # The 4x4 convolution of a 4x4 code is a dot product; as one it skips oneDNN's slow
        # path for a one-pixel output (0.26 ms per backward call at batch 32 on a Zen 4 CPU).
        # Same parameter, same state dict.
        logit = F.linear(code.flatten(1), self.logits.weight.flatten(1), self.logits.bias)
        return code, logit.flatten()


class RandomMixing(nn.Module):
    """Projected GAN's cross-channel and cross-scale mixing (CCM, CSM): fixed random 1x1
    convolutions widen each scale's features, and each deeper scale, upsampled and passed
    through another, is added to the next shallower one, as in a feature pyramid.

    Why: a discriminator on frozen features can separate real from fake with a few channels of
    one scale and then gives the generator no signal about the rest. Random projections spread
    every channel over all the discriminator's inputs (Sauer et al. 2021, whose ablation credits
    it with a large part of their gain). The weights are drawn once and never trained; they are
    saved with the heads, so a resumed run sees the same projection."""

    def __init__(self, feature_shapes: list[tuple[int, int]]):
        super().__init__()
        widths = list(MIXING_WIDTHS[:len(feature_shapes)])
        if len(widths) < len(feature_shapes):
            raise ValueError(f"random mixing takes up to {len(MIXING_WIDTHS)} scales")
        self.channel_mix = nn.ModuleList(nn.Conv2d(ch, w, 1) for (ch, _), w in
                                         zip(feature_shapes, widths))
        # scale_mix[i] brings the mixed output of scale i + 1 to scale i's width
        self.scale_mix = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 1)
                                       for i in range(len(widths) - 1))
        self.requires_grad_(False)
        self.shapes = [(w, size) for (_, size), w in zip(feature_shapes, widths)]

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        mixed = [mix(f) for mix, f in zip(self.channel_mix, features)]
        out = [mixed[-1]]
        for i in range(len(mixed) - 2, -1, -1):
            deeper = F.interpolate(out[0], size=mixed[i].shape[-2:], mode="bilinear",
                                   align_corners=False)
            out.insert(0, mixed[i] + self.scale_mix[i](deeper))
        return out


class ProjectedDiscriminator(nn.Module):
    """Trainable heads over a frozen feature network given at call time (never saved with
    the heads: its weights come from its own file, checked by hash)."""

    def __init__(self, feature_shapes: list[tuple[int, int]], c_dim: int, mixing: bool = False,
                 width: int = HEAD_WIDTH, mirror_pairs: bool = False):
        super().__init__()
        self.mixing = RandomMixing(feature_shapes) if mixing else None
        if self.mixing is not None:
            feature_shapes = self.mixing.shapes
        self.mirror_pairs = mirror_pairs  # model.d_mirror_pairs: each map beside its mirror
        self.heads = nn.ModuleList(_ScaleHead(ch * (2 if mirror_pairs else 1), size, width)
                                   for ch, size in feature_shapes)
        self.projection = nn.ModuleList(nn.Linear(c_dim, width, bias=False)
                                        for _ in feature_shapes)

    def forward(self, features: list[torch.Tensor], c: torch.Tensor | None = None
                ) -> DiscriminatorOutput:
        uncond, cond = [], []
        if self.mixing is not None:
            features = self.mixing(features)
        if self.mirror_pairs:
            features = [with_mirror(f) for f in features]
        for feature, head, proj in zip(features, self.heads, self.projection):
            code, logit = head(feature)
            uncond.append(logit)
            if c is not None:
                pooled = code.float().mean(dim=(2, 3))
                cond.append(logit.float() + (proj(c.float()) * pooled).sum(1))
        u = torch.stack([x.float() for x in uncond]).mean(0)
        return DiscriminatorOutput(torch.stack(cond).mean(0) if c is not None else None, u, None)


def feature_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images in [-1, 1] at the feature network's input size (bilinear)."""
    if images.size(-1) == size:
        return images
    # fp32: the antialiased kernel has no bf16 CPU implementation.
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=images.size(-1) > size)
    return out.to(images.dtype)
