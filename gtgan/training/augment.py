"""Differentiable augmentation of every picture a discriminator sees (DiffAugment, Zhao et al.
2020; Projected GAN trains with it).

Real, mismatched and generated pictures are shifted (and, with `cutout`, partly masked) alike,
in the discriminators' steps and in the generator's, and the operations are differentiable, so
the generator still learns to make pictures whose augmentations look real. The discriminator
then has to judge the bird, not where its pixels happen to sit. No colour jitter: the colours
are what the captions condition on. Not in the paper or StackGAN++: `loss.d_augment`.
"""
from __future__ import annotations

import torch

from ..config.schema import D_AUGMENT_POLICIES as POLICIES
from ..device import is_channels_last

TRANSLATION_RATIO = 0.125  # DiffAugment's: shifts of up to 1/8 of the picture, zero-filled
CUTOUT_RATIO = 0.5  # DiffAugment's: one zeroed square of half the picture's side


def translate(images: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Each picture shifted by its own whole number of pixels in each direction, the uncovered
    border filled with zeros (mid grey in [-1, 1])."""
    b, _, h, w = images.shape
    pad = max(1, int(h * ratio + 0.5))
    dev = images.device
    shift_y = torch.randint(-pad, pad + 1, (b, 1), device=dev)
    shift_x = torch.randint(-pad, pad + 1, (b, 1), device=dev)
    rows = torch.arange(h, device=dev)[None, :] + pad - shift_y  # (b, h) rows in the padded picture
    cols = torch.arange(w, device=dev)[None, :] + pad - shift_x
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
    batch = torch.arange(b, device=dev)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (b, h, w, c)
    layout = torch.channels_last if is_channels_last(images) else torch.contiguous_format
    return out.permute(0, 3, 1, 2).contiguous(memory_format=layout)


def cutout(images: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """One square per picture, of `ratio` times its side, at a random place, set to zero."""
    b, _, h, w = images.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dev = images.device
    top = torch.randint(0, h + 1 - size_y, (b, 1, 1), device=dev)
    left = torch.randint(0, w + 1 - size_x, (b, 1, 1), device=dev)
    ys = torch.arange(h, device=dev)[None, :, None]
    xs = torch.arange(w, device=dev)[None, None, :]
    inside = (ys >= top) & (ys < top + size_y) & (xs >= left) & (xs < left + size_x)
    return images * (~inside)[:, None].to(images.dtype)


def augment(images: torch.Tensor, policy: str) -> torch.Tensor:
    """`images` under `policy` (one of POLICIES), fresh randomness on every call."""
    if policy == "none":
        return images
    if policy not in POLICIES:
        raise ValueError(f"loss.d_augment = {policy!r}: must be one of {', '.join(POLICIES)}")
    out = translate(images)
    if policy == "translation-cutout":
        out = cutout(out)
    return out
