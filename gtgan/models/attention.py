"""Dual attention (docs/paper.md#dual-attention, after DANet, Fu et al. 2019).

Position attention never materialises its N x N map (N = 4096 at 64x64): on CUDA it runs
`scaled_dot_product_attention`'s fused kernels; on the CPU it runs `chunked_attention`, exact
softmax attention over blocks of query rows with the blocks recomputed in the backward pass,
because in bf16 (the CPU's fast precision) PyTorch's CPU flash kernel, which wants q/k padded
from C/8 to C channels, is slower than this and even than the naive form (docs/benchmarks.md).
`naive=True` keeps DANet's literal bmm form as a reference.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ..device import autocast_dtype, is_channels_last

# Bytes of one block of logits (a group of batch items x a range of query rows x N keys); the
# backward pass keeps three such blocks (logits/their gradient, probabilities, gradient of the
# probabilities). Small enough to stay in the last-level cache, large enough to feed the GEMMs.
CHUNK_BYTES = 8 * 2**20
# Fewest query rows per block: below this the (rows x N) @ (N x C) products starve, e.g. at
# batch 64, where 8 MiB over the whole batch would leave 16 rows.
MIN_ROWS = 128


def _blocks(b: int, n: int, group: int, rows: int):
    for b0 in range(0, b, group):
        for s0 in range(0, n, rows):
            yield b0, min(b, b0 + group), s0, min(n, s0 + rows)


def _take(buf: torch.Tensor, *shape: int) -> torch.Tensor:
    """A contiguous tensor of `shape` at the start of `buf`'s storage (for the last, smaller block)."""
    return buf.view(-1)[: math.prod(shape)].view(shape)


class _ChunkedAttention(torch.autograd.Function):
    """softmax(q k^T) v over blocks of (batch items, query rows); saves only q, k, v (O(N)).

    Every block works in buffers allocated once per call: a fresh allocation per block, freed
    in a different order than it was made, fragments the C heap until the process holds
    about one full N x N matrix anyway (measured: +4 GiB at N = 128^2, B = 8, bf16).
    All maths in q's dtype (bf16 under autocast, as autocast would run the naive form); the
    key and value gradients are accumulated in fp32. The fp32 result equals the naive form's
    up to GEMM blocking order.
    """

    @staticmethod
    def forward(ctx, q, k, v, group: int, rows: int):
        q, k = q.contiguous(), k.contiguous()  # B, Nq, d and B, Nk, d (tiny)
        b, n, c = v.shape  # n: keys
        out = v.new_empty(b, q.shape[1], c)
        logits = q.new_empty(group, rows, n)
        probs = torch.empty_like(logits)
        out_blk = v.new_empty(group, rows, c)
        for b0, b1, s0, s1 in _blocks(b, q.shape[1], group, rows):
            g, r = b1 - b0, s1 - s0
            lg, pr, ob = _take(logits, g, r, n), _take(probs, g, r, n), _take(out_blk, g, r, c)
            torch.bmm(q[b0:b1, s0:s1], k[b0:b1].transpose(1, 2), out=lg)
            torch.ops.aten._softmax.out(lg, -1, False, out=pr)
            torch.bmm(pr, v[b0:b1], out=ob)
            out[b0:b1, s0:s1] = ob
        ctx.save_for_backward(q, k, v)
        ctx.blocks = (group, rows)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        q, k, v = ctx.saved_tensors
        group, rows = ctx.blocks
        b, n, c = v.shape  # n: keys
        d, dt = q.shape[-1], q.dtype
        grad = grad.to(dt)
        dq = torch.empty_like(q)
        dk = torch.zeros(k.shape, dtype=torch.float32, device=k.device)
        dv = torch.zeros(v.shape, dtype=torch.float32, device=v.device)
        fp32 = dt == torch.float32
        logits = q.new_empty(group, rows, n)  # also the logits' gradient, once probs exist
        probs, dprobs = torch.empty_like(logits), torch.empty_like(logits)
        dq_blk = q.new_empty(group, rows, d)
        dk_tmp = None if fp32 else q.new_empty(group, n, d)
        dv_tmp = None if fp32 else v.new_empty(group, n, c)
        for b0, b1, s0, s1 in _blocks(b, q.shape[1], group, rows):
            g, r = b1 - b0, s1 - s0
            lg, pr, dp = (_take(t, g, r, n) for t in (logits, probs, dprobs))
            q_c, g_c = q[b0:b1, s0:s1], grad[b0:b1, s0:s1]
            torch.bmm(q_c, k[b0:b1].transpose(1, 2), out=lg)
            torch.ops.aten._softmax.out(lg, -1, False, out=pr)
            torch.bmm(g_c, v[b0:b1].transpose(1, 2), out=dp)
            ds = torch.ops.aten._softmax_backward_data.out(dp, pr, -1, dt, grad_input=lg)
            dqb = _take(dq_blk, g, r, d)
            torch.bmm(ds, k[b0:b1], out=dqb)
            dq[b0:b1, s0:s1] = dqb
            if fp32:
                dv[b0:b1].baddbmm_(pr.transpose(1, 2), g_c)
                dk[b0:b1].baddbmm_(ds.transpose(1, 2), q_c)
            else:
                dvb, dkb = _take(dv_tmp, g, n, c), _take(dk_tmp, g, n, d)
                dv[b0:b1].add_(torch.bmm(pr.transpose(1, 2), g_c, out=dvb))
                dk[b0:b1].add_(torch.bmm(ds.transpose(1, 2), q_c, out=dkb))
        return dq, dk.to(dt), dv.to(v.dtype), None, None


def scaled_residual(x: torch.Tensor, gamma: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """x + gamma * out in x's dtype and memory format.

    `gamma * out` with gamma an fp32 parameter would promote a bf16 `out` to fp32 under
    autocast, and everything downstream (residual blocks, upsampling) would then run in fp32.
    """
    return x + gamma.to(x.dtype) * out.to(x.dtype)


def chunked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """softmax(q k^T, dim=-1) v for q (B, Nq, d), k (B, Nk, d), v (B, Nk, C), without the
    Nq x Nk matrix.

    Under autocast the inputs are cast to the autocast dtype (as autocast does for bmm); the
    result has that dtype.
    """
    dt = autocast_dtype(q.device.type) or torch.result_type(q, v)
    b, n = q.shape[0], q.shape[1]
    row_bytes = k.shape[1] * torch.finfo(dt).bits // 8
    rows = min(n, max(MIN_ROWS, chunk_bytes // (b * row_bytes)))
    group = min(b, max(1, chunk_bytes // (rows * row_bytes)))
    q, k = q.to(dt), k.to(dt)
    if dt == torch.float32 and q.shape[-1] % 16:
        # MKL's fp32 GEMMs with an inner size of 8 run at a quarter of their speed at 16;
        # zero channels leave every dot product unchanged.
        pad = 16 - q.shape[-1] % 16
        q, k = F.pad(q, (0, pad)), F.pad(k, (0, pad))
    with torch.autocast(q.device.type, enabled=False):
        return _ChunkedAttention.apply(q, k, v.to(dt), group, rows)


class PositionAttention(nn.Module):
    """DANet PAM: out_i = gamma * sum_j softmax_j(q_i . k_j) v_j + x_i, no 1/sqrt(d) scaling.

    `kv_pool` > 1 max-pools keys and values over kv_pool x kv_pool cells (SAGAN/BigGAN's
    attention): every position still attends to the whole picture, over kv_pool^2 times
    fewer keys. 1 = DANet and the paper; a cost switch (model.pam_kv_pool)."""

    def __init__(self, channels: int, naive: bool = False, kv_pool: int = 1):
        super().__init__()
        self.kv_pool = kv_pool
        self.qk_dim = max(1, channels // 8)
        self.query_conv = nn.Conv2d(channels, self.qk_dim, 1)
        self.key_conv = nn.Conv2d(channels, self.qk_dim, 1)
        self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.naive = naive

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query_conv(x).flatten(2).transpose(1, 2)  # B, N, d
        k, v = self.key_conv(x), self.value_conv(x)
        if self.kv_pool > 1:
            k, v = F.max_pool2d(k, self.kv_pool), F.max_pool2d(v, self.kv_pool)
        k = k.flatten(2).transpose(1, 2)  # B, Nk, d
        v = v.flatten(2).transpose(1, 2)  # B, Nk, C
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

    form="paper": q, k, v are 1x1 convolutions of the input (docs/paper.md#channel-attention-cam),
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
        if is_channels_last(x):  # out^T = v^T attn^T: (B, N, C), a channels_last view, no copy
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
                 cam_form: str = "paper", merge: str = "concat", pam_naive: bool = False,
                 pam_kv_pool: int = 1):
        super().__init__()
        if not (pam or cam):
            raise ValueError("DualAttention needs at least one of pam, cam")
        if merge not in ("concat", "fuse"):
            raise ValueError(f"merge must be 'concat' or 'fuse', got {merge!r}")
        self.pam = PositionAttention(channels, naive=pam_naive, kv_pool=pam_kv_pool) if pam else None
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


class WordAttention(nn.Module):
    """AttnGAN's word attention (Xu et al. 2018, GlobalAttentionGeneral): every image region
    attends over the caption's words, giving a per-region word context.

    The word features (n, L, dw) are mapped to the regions' C channels by a 1x1 projection
    (no bias); for region r, weights = softmax over the caption's words of <h_r, W e_t> (padding
    words masked, no scaling, as AttnGAN); the context is sum_t weights_t W e_t, C x H x W.
    """

    def __init__(self, channels: int, word_dim: int):
        super().__init__()
        self.proj = nn.Linear(word_dim, channels, bias=False)  # AttnGAN's conv1x1 on (dw, L)

    def forward(self, h: torch.Tensor, words: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = h.shape
        source = self.proj(words.to(self.proj.weight.dtype)).to(h.dtype)  # (B, L, C)
        regions = h.flatten(2).transpose(1, 2)  # (B, N, C)
        energy = torch.bmm(regions, source.transpose(1, 2))  # (B, N, L)
        energy = energy.float().masked_fill(~mask[:, None, :], float("-inf"))
        weights = torch.softmax(energy, dim=-1).to(source.dtype)
        context = torch.bmm(weights, source)  # (B, N, C)
        return context.transpose(1, 2).reshape(b, c, hh, ww)
