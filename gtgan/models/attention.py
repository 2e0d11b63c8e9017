"""Dual attention (PAPER.md sec. 1.1.1, after DANet, Fu et al. 2019).

Position attention never materialises its N x N map (N = 4096 at 64x64): on CUDA it runs
`scaled_dot_product_attention`'s fused kernels; on the CPU it runs `chunked_attention`, exact
softmax attention over blocks of query rows with the blocks recomputed in the backward pass,
because PyTorch's CPU flash kernel is slower here than even the naive form (it wants q/k
padded from C/8 to C channels and runs at a fraction of the GEMM peak; see docs/benchmarks.md).
`naive=True` keeps DANet's literal bmm form as a reference.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

# Bytes of one (rows x N) block of logits; four such blocks (logits, probabilities, their
# gradients) are alive at once in the backward pass. Small enough to stay in the last-level
# cache, large enough that the GEMMs are not starved.
CHUNK_BYTES = 8 * 2**20


class _ChunkedAttention(torch.autograd.Function):
    """softmax(q k^T) v over blocks of query rows; saves only q, k, v (O(N) memory).

    All maths in q's dtype (bf16 under autocast, as autocast would run the naive form); fp32
    gradients are accumulated in fp32. The fp32 result equals the naive form's up to GEMM
    blocking order.
    """

    @staticmethod
    def forward(ctx, q, k, v, rows: int):
        n = q.shape[1]
        q, k = q.contiguous(), k.contiguous()  # B, N, d (tiny)
        k_t = k.transpose(1, 2)
        out = torch.cat([torch.bmm(torch.softmax(torch.bmm(q[:, s:s + rows], k_t), -1), v)
                         for s in range(0, n, rows)], 1)
        ctx.save_for_backward(q, k, v)
        ctx.rows = rows
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        q, k, v = ctx.saved_tensors
        rows, n, dt = ctx.rows, q.shape[1], q.dtype
        grad = grad.to(dt)
        k_t, v_t = k.transpose(1, 2), v.transpose(1, 2)
        dq = torch.empty_like(q)
        dk = torch.zeros(k.shape, dtype=torch.float32, device=k.device)
        dv = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
        for s in range(0, n, rows):
            q_c, g_c = q[:, s:s + rows], grad[:, s:s + rows]
            p = torch.softmax(torch.bmm(q_c, k_t), -1)
            ds = torch.ops.aten._softmax_backward_data(torch.bmm(g_c, v_t), p, -1, dt)
            dq[:, s:s + rows] = torch.bmm(ds, k)
            if dt == torch.float32:
                dv.baddbmm_(p.transpose(1, 2), g_c)
                dk.baddbmm_(ds.transpose(1, 2), q_c)
            else:
                dv += torch.bmm(p.transpose(1, 2), g_c)
                dk += torch.bmm(ds.transpose(1, 2), q_c)
        return dq, dk.to(dt), dv.to(v.dtype), None


def scaled_residual(x: torch.Tensor, gamma: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """x + gamma * out in x's dtype and memory format.

    `gamma * out` with gamma an fp32 parameter would promote a bf16 `out` to fp32 under
    autocast, and everything downstream (residual blocks, upsampling) would then run in fp32.
    """
    return x + gamma.to(x.dtype) * out.to(x.dtype)


def _channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4
        return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    if device_type == "cpu":
        return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
    return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


def chunked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """softmax(q k^T, dim=-1) v for q, k (B, N, d) and v (B, N, C), without the N x N matrix.

    Under autocast the inputs are cast to the autocast dtype (as autocast does for bmm); the
    result has that dtype.
    """
    dt = _autocast_dtype(q.device.type) or torch.result_type(q, v)
    b, n, _ = q.shape
    rows = max(1, min(n, chunk_bytes // (b * n * torch.finfo(dt).bits // 8)))
    q, k = q.to(dt), k.to(dt)
    if dt == torch.float32 and q.shape[-1] % 16:
        # MKL's fp32 GEMMs with an inner size of 8 run at a quarter of their speed at 16;
        # zero channels leave every dot product unchanged.
        pad = 16 - q.shape[-1] % 16
        q, k = F.pad(q, (0, pad)), F.pad(k, (0, pad))
    with torch.autocast(q.device.type, enabled=False):
        return _ChunkedAttention.apply(q, k, v.to(dt), rows)


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
        q = self.query_conv(x).flatten(2).transpose(1, 2)  # B, N, d
        k = self.key_conv(x).flatten(2).transpose(1, 2)  # B, N, d
        v = self.value_conv(x).flatten(2).transpose(1, 2)  # B, N, C
        if self.naive:
            attn = torch.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)  # B, N, N
            out = torch.bmm(attn, v)
        elif x.device.type == "cpu":
            out = chunked_attention(q, k, v)
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
        return scaled_residual(x, self.gamma, out)


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
        if _channels_last(x):  # out^T = v^T attn^T: (B, N, C), a channels_last view, no copy
            out = torch.bmm(v.transpose(1, 2), attn.transpose(1, 2)).transpose(1, 2)
        else:
            out = torch.bmm(attn, v)
        return scaled_residual(x, self.gamma, out.reshape(b, c, h, w))


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
