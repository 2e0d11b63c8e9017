"""Dual attention (PAPER.md sec. 1.1.1, after DANet, Fu et al. 2019).

Position attention is computed with `scaled_dot_product_attention`, so the N x N map is never
materialised (N = 4096 at 64x64); `naive=True` keeps DANet's literal bmm form as a reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PositionAttention(nn.Module):
    """DANet PAM: out_i = gamma * sum_j softmax_j(q_i . k_j) v_j + x_i, no 1/sqrt(d) scaling."""

    def __init__(self, channels: int, naive: bool = False):
        super().__init__()
        self.qk_dim = max(1, channels // 8)
        self.query_conv = nn.Conv2d(channels, self.qk_dim, 1)
        self.key_conv = nn.Conv2d(channels, self.qk_dim, 1)
        self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.naive = naive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n = h * w
        q = self.query_conv(x).flatten(2).transpose(1, 2)  # B, N, d
        k = self.key_conv(x).flatten(2).transpose(1, 2)  # B, N, d
        v = self.value_conv(x).flatten(2).transpose(1, 2)  # B, N, C
        if self.naive:
            attn = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)  # B, N, N
            out = torch.bmm(attn, v)
        else:
            # Zero-padding q and k to the value width leaves every dot product unchanged and
            # lets SDPA pick its fused (flash / memory-efficient) kernels, which want equal widths.
            # The fused kernels also need a unit stride on the last dimension, which the
            # transposed conv outputs lack in contiguous (NCHW) memory format.
            if self.qk_dim < c:
                q = F.pad(q, (0, c - self.qk_dim))
                k = F.pad(k, (0, c - self.qk_dim))
            q, k, v = (t.unsqueeze(1).contiguous() for t in (q, k, v.to(q.dtype)))
            out = F.scaled_dot_product_attention(q, k, v, scale=1.0).squeeze(1)
        out = out.transpose(1, 2).reshape(b, c, h, w)
        return self.gamma * out.to(x.dtype) + x


class ChannelAttention(nn.Module):
    """CAM over a C x C channel affinity.

    form="paper": q, k, v are 1x1 convolutions of the input (PAPER.md eq. 2),
      out = gamma * softmax(q k^T) v + x.
    form="danet": DANet's original, no projections, softmax(rowmax(E) - E) with E = x x^T.
    """

    def __init__(self, channels: int, form: str = "paper"):
        super().__init__()
        if form not in ("paper", "danet"):
            raise ValueError(f"ChannelAttention form must be 'paper' or 'danet', got {form!r}")
        self.form = form
        if form == "paper":
            self.query_conv = nn.Conv2d(channels, channels, 1)
            self.key_conv = nn.Conv2d(channels, channels, 1)
            self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if self.form == "paper":
            q = self.query_conv(x).flatten(2)
            k = self.key_conv(x).flatten(2)
            v = self.value_conv(x).flatten(2)
            attn = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)  # B, C, C
        else:
            v = x.flatten(2)
            energy = torch.bmm(v, v.transpose(1, 2))
            energy = energy.max(dim=-1, keepdim=True)[0].expand_as(energy) - energy
            attn = torch.softmax(energy, dim=-1)
        out = torch.bmm(attn, v).reshape(b, c, h, w)
        return self.gamma * out.to(x.dtype) + x


class DualAttention(nn.Module):
    """PAM and CAM side by side on the same input.

    With both branches on, their outputs are concatenated on channels (the paper), giving
    2C channels, or fused back to C with a 1x1 convolution (merge="fuse").
    """

    def __init__(self, channels: int, pam: bool = True, cam: bool = True,
                 cam_form: str = "paper", merge: str = "concat", pam_naive: bool = False):
        super().__init__()
        if not (pam or cam):
            raise ValueError("DualAttention needs at least one of pam, cam")
        if merge not in ("concat", "fuse"):
            raise ValueError(f"merge must be 'concat' or 'fuse', got {merge!r}")
        self.pam = PositionAttention(channels, naive=pam_naive) if pam else None
        self.cam = ChannelAttention(channels, cam_form) if cam else None
        both = pam and cam
        self.fuse = nn.Conv2d(2 * channels, channels, 1) if both and merge == "fuse" else None
        self.out_channels = 2 * channels if both and merge == "concat" else channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [m(x) for m in (self.pam, self.cam) if m is not None]
        if len(outs) == 1:
            return outs[0]
        out = torch.cat(outs, dim=1)
        return self.fuse(out) if self.fuse is not None else out
