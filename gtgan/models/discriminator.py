"""StackGAN++ discriminators D_NET64 / D_NET128 / D_NET256, returning logits.

Parameter names follow the official code. The sigmoid is left out (it has no parameters):
the training loss is BCE-with-logits, which is the same objective, computed stably.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .generator import cat_condition


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


def encode_by_16(ndf: int, in_channels: int = 3) -> nn.Sequential:
    """Four stride-2 4x4 convs: in_channels x S x S -> ndf*8 x S/16 x S/16."""
    return nn.Sequential(
        nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=False), _lrelu(),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), _lrelu(),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), _lrelu(),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), _lrelu(),
    )


def down_block(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False), nn.BatchNorm2d(out_ch),
                         _lrelu())


def block3x3_lrelu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False), nn.BatchNorm2d(out_ch),
                         _lrelu())


def with_mirror(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 2C, H, W): each position beside its left-right counterpart.

    Why: a convolutional discriminator compares the two halves of a picture only in its last
    layer, so a generator that draws the symmetric average of left- and right-facing birds
    (what it draws first) is hard to tell from real; side by side with its mirror, a symmetric
    picture is two equal copies at every position."""
    return torch.cat((x, x.flip(-1)), dim=1)


class DiscriminatorOutput(NamedTuple):
    cond: torch.Tensor | None  # (B,) logits of "real image matching this text"; None without c
    uncond: torch.Tensor  # (B,) logits of "real image"
    text: torch.Tensor | None  # (B, text_dim) regressed sentence vector, when enabled


class Discriminator(nn.Module):
    """D_NET{64,128,256} by image size; conditional head on [mu tiled; image code] (StackGAN++)
    or, with condition="projection", a projection head (model.d_condition). With
    `mirror_pairs` (model.d_mirror_pairs) it reads the picture and its mirror as 6 channels."""

    def __init__(self, image_size: int, ndf: int, c_dim: int, text_regression_dim: int = 0,
                 condition: str = "concat", mirror_pairs: bool = False):
        super().__init__()
        if image_size not in (64, 128, 256):
            raise ValueError(f"image_size must be 64, 128 or 256, got {image_size}")
        self.image_size = image_size
        self.mirror_pairs = mirror_pairs
        self.img_code_s16 = encode_by_16(ndf, 6 if mirror_pairs else 3)
        if image_size >= 128:
            self.img_code_s32 = down_block(ndf * 8, ndf * 16)
        if image_size == 128:
            self.img_code_s32_1 = block3x3_lrelu(ndf * 16, ndf * 8)
        if image_size == 256:
            self.img_code_s64 = down_block(ndf * 16, ndf * 32)
            self.img_code_s64_1 = block3x3_lrelu(ndf * 32, ndf * 16)
            self.img_code_s64_2 = block3x3_lrelu(ndf * 16, ndf * 8)
        if condition not in ("concat", "projection"):
            raise ValueError(f"condition must be 'concat' or 'projection', got {condition!r}")
        self.condition = condition
        self.logits = nn.Sequential(nn.Conv2d(ndf * 8, 1, 4, 4))
        if condition == "concat":
            self.jointConv = block3x3_lrelu(ndf * 8 + c_dim, ndf * 8)
        else:
            self.projection = nn.Linear(c_dim, ndf * 8, bias=False)
        self.uncond_logits = nn.Sequential(nn.Conv2d(ndf * 8, 1, 4, 4))
        self.text_head = nn.Conv2d(ndf * 8, text_regression_dim, 4, 4) if text_regression_dim else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.mirror_pairs:
            x = with_mirror(x)
        h = self.img_code_s16(x)
        if self.image_size == 128:
            h = self.img_code_s32_1(self.img_code_s32(h))
        elif self.image_size == 256:
            h = self.img_code_s64_2(self.img_code_s64_1(self.img_code_s64(self.img_code_s32(h))))
        return h

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> DiscriminatorOutput:
        h = self.encode(x)
        cond = None
        if c is not None and self.condition == "concat":
            cond = self.logits(self.jointConv(cat_condition(c, h))).flatten()
        elif c is not None:
            pooled = h.mean(dim=(2, 3))
            cond = self.logits(h).flatten() + (self.projection(c.to(pooled.dtype)) * pooled).sum(1)
        uncond = self.uncond_logits(h).flatten()
        text = self.text_head(h).flatten(1) if self.text_head is not None else None
        return DiscriminatorOutput(cond, uncond, text)
