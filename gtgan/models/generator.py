"""Generator: StackGAN++'s tree with the paper's dual attention in the refinement stage(s).

Module and parameter names follow the official StackGAN-v2 code (ca_net, h_net1, img_net1,
h_net2, ...), so an official state dict loads into the attention-free presets unchanged.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError, ModelConfig
from ..device import is_channels_last
from .attention import DualAttention, WordAttention
from .conditioning import TextFeatures


def conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False)


class _GLUFunction(torch.autograd.Function):
    """F.glu over channels of a channels_last tensor, with a channels_last gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return F.glu(x, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        # On the NHWC view of both tensors the channel dim is the contiguous last one, so the
        # kernel's (contiguous) result is the channels_last gradient itself: no copy.
        (x,) = ctx.saved_tensors
        nhwc = (0, 2, 3, 1)
        dx = torch.ops.aten.glu_backward(grad.permute(nhwc).contiguous(), x.permute(nhwc), 3)
        return dx.permute(0, 3, 1, 2)


class GLU(nn.GLU):
    """nn.GLU whose gradient keeps a channels_last input's memory format.

    PyTorch's glu_backward returns an NCHW gradient for a channels_last input; the batch norm
    before it then runs its backward on mixed formats, about 9x slower (measured on bf16
    8x256x64x64: 216 ms against 24 ms). Same forward, same gradient values.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dim in (1, -3) and is_channels_last(x) \
                and torch.is_grad_enabled() and x.requires_grad:
            return _GLUFunction.apply(x)
        return super().forward(x)


def cat_condition(c: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """[c tiled over h's grid ; h] on channels, in h's dtype and memory format.

    torch.cat of an expanded (stride-0) tensor and a channels_last one returns a contiguous
    NCHW tensor, which the next convolution would convert back at the cost of a full copy.
    """
    c_tiled = c[:, :, None, None].expand(-1, -1, h.size(2), h.size(3)).to(h.dtype)
    if is_channels_last(h):
        c_tiled = c_tiled.contiguous(memory_format=torch.channels_last)
    return torch.cat((c_tiled, h), dim=1)


def up_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """Nearest x2, conv3x3, BN, GLU (StackGAN++ upBlock)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv3x3(in_ch, out_ch * 2),
                         nn.BatchNorm2d(out_ch * 2), GLU(dim=1))


def joint_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """conv3x3, BN, GLU (StackGAN++ Block3x3_relu)."""
    return nn.Sequential(conv3x3(in_ch, out_ch * 2), nn.BatchNorm2d(out_ch * 2), GLU(dim=1))


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.block = nn.Sequential(conv3x3(ch, ch * 2), nn.BatchNorm2d(ch * 2), GLU(dim=1),
                                   conv3x3(ch, ch), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ConditioningAugmentation(nn.Module):
    """Linear + GLU -> (mu, logvar); c = mu + noise_scale * eps * exp(logvar / 2)."""

    def __init__(self, text_dim: int, c_dim: int, noise_scale: float = 1.0, text_scale: float = 1.0):
        super().__init__()
        if text_dim <= 0 or text_scale <= 0:  # 0 = "follows the encoder / derive it": unsettled
            raise ConfigError(
                f"model.text_dim = {text_dim}, model.text_scale = {text_scale}: 0 means 'follows "
                "the text encoder' and is settled from the encoder and the training captions "
                "(gtgan.data.settle_conditioning) before a model is built; state both to build one")
        self.c_dim = c_dim
        self.noise_scale = noise_scale
        self.text_scale = text_scale
        self.fc = nn.Linear(text_dim, c_dim * 4)
        self.glu = GLU(dim=1)

    def encode(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.glu(self.fc(text * self.text_scale if self.text_scale != 1.0 else text))
        return x[:, : self.c_dim], x[:, self.c_dim:]

    def forward(self, text: torch.Tensor, eps: torch.Tensor | None = None):
        mu, logvar = self.encode(text)
        if eps is None:
            eps = torch.randn_like(mu)
        c = mu + self.noise_scale * eps * torch.exp(0.5 * logvar)
        return c, mu, logvar


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma) || N(0, I)), a mean over batch and dimensions as StackGAN++."""
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())


class InitStage(nn.Module):
    """FC([c; z]) -> ngf*16 x 4 x 4, then four up blocks -> ngf x 64 x 64.

    `z_every_block` (model.z_every_block): z, tiled over the grid, joins the input of every up
    block too, so the noise reaches the layers that place and pose the bird directly.
    `film_dim` (model.c_film): c scales and shifts every up block's output channels (FiLM),
    so the caption reaches the layers that draw the outline, not only the first FC."""

    def __init__(self, ngf16: int, in_dim: int, z_every_block: int = 0, film_dim: int = 0):
        super().__init__()
        self.ngf16 = ngf16
        self.z_every_block = z_every_block
        self.fc = nn.Sequential(nn.Linear(in_dim, ngf16 * 4 * 4 * 2, bias=False),
                                nn.BatchNorm1d(ngf16 * 4 * 4 * 2), GLU(dim=1))
        extra = z_every_block
        self.upsample1 = up_block(ngf16 + extra, ngf16 // 2)
        self.upsample2 = up_block(ngf16 // 2 + extra, ngf16 // 4)
        self.upsample3 = up_block(ngf16 // 4 + extra, ngf16 // 8)
        self.upsample4 = up_block(ngf16 // 8 + extra, ngf16 // 16)
        self.film = (nn.ModuleList(nn.Linear(film_dim, 2 * ngf16 // 2 ** k) for k in range(1, 5))
                     if film_dim else None)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat((c, z), dim=1)).view(-1, self.ngf16, 4, 4)
        for k, block in enumerate((self.upsample1, self.upsample2, self.upsample3, self.upsample4)):
            h = block(cat_condition(z, h) if self.z_every_block else h)
            if self.film is not None:
                scale, shift = self.film[k](c).to(h.dtype)[:, :, None, None].chunk(2, dim=1)
                h = h * (1 + scale) + shift
        return h


class NextStage(nn.Module):
    """Joint layer over [c tiled; h] (and, with word attention, h's word context), optional
    dual attention, residual blocks, one up block."""

    def __init__(self, ngf: int, c_dim: int, num_residual: int, attention: DualAttention | None,
                 word_dim: int = 0):
        super().__init__()
        self.word_attention = WordAttention(ngf, word_dim) if word_dim else None
        self.jointConv = joint_block(ngf + c_dim + (ngf if word_dim else 0), ngf)
        self.attention = attention
        ch = attention.out_channels if attention is not None else ngf
        self.residual = nn.Sequential(*[ResBlock(ch) for _ in range(num_residual)])
        self.upsample = up_block(ch, ngf // 2)

    def forward(self, h: torch.Tensor, c: torch.Tensor,
                features: TextFeatures | None = None) -> torch.Tensor:
        x = cat_condition(c, h)
        if self.word_attention is not None:
            if features is None or features.words is None:
                raise ValueError("model.word_attention needs word features (a DAMSM text "
                                 "encoder's TextFeatures.words); these text features have none")
            x = torch.cat((x, self.word_attention(h, features.words, features.mask)), dim=1)
        x = self.jointConv(x)
        if self.attention is not None:
            x = self.attention(x)
        return self.upsample(self.residual(x))


class ImageHead(nn.Module):
    def __init__(self, ngf: int):
        super().__init__()
        self.img = nn.Sequential(conv3x3(ngf, 3), nn.Tanh())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.img(h)

    def preactivation(self, h: torch.Tensor) -> torch.Tensor:
        """The RGB values before tanh (what model.image_skip carries to the next stage)."""
        return self.img[0](h)


class Placement(nn.Module):
    """A similarity transform (scale, turn, shift) of stage 1's feature map, predicted from
    [c; z] (model.placement). A convolutional generator changes colour with the caption at
    once but an outline's size and place only slowly; here one linear layer moves the whole
    drawing, so "a small bird" can be one scale factor and the noise can place the bird.
    Zero-initialised: training starts from the identity, as StackGAN++."""

    MAX_LOG_SCALE = 0.35  # scale within exp(+-0.35) = 0.70 .. 1.42
    MAX_TURN = 0.4  # radians, about 23 degrees (the synthetic birds tilt up to 18)
    MAX_SHIFT = 0.3  # of the half-width

    def __init__(self, in_dim: int):
        super().__init__()
        # Plain parameters, not an nn.Linear: nothing draws random numbers for them (here or in
        # init_weights), so every other network starts as it does without the switch.
        self.weight = nn.Parameter(torch.zeros(4, in_dim))
        self.bias = nn.Parameter(torch.zeros(4))

    def transform(self, code: torch.Tensor) -> torch.Tensor:
        """(n, 2, 3) affine_grid matrices: each output point samples the input at
        R^T (x - t) / s, so the drawing is scaled by s, turned and moved by t."""
        a = torch.tanh(F.linear(code.float(), self.weight, self.bias))
        inv_scale = torch.exp(-self.MAX_LOG_SCALE * a[:, 0])
        turn = self.MAX_TURN * a[:, 1]
        shift = self.MAX_SHIFT * a[:, 2:4]
        cos, sin = torch.cos(turn) * inv_scale, torch.sin(turn) * inv_scale
        rot_t = torch.stack((torch.stack((cos, sin), 1), torch.stack((-sin, cos), 1)), 1)
        return torch.cat((rot_t, -(rot_t @ shift[:, :, None])), 2)

    def forward(self, h: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        grid = F.affine_grid(self.transform(code), list(h.shape), align_corners=False)
        # border padding: a moved or shrunk drawing continues its edge (the background) outward
        return F.grid_sample(h.float(), grid, mode="bilinear", padding_mode="border",
                             align_corners=False).to(h.dtype)


class GeneratorOutput(NamedTuple):
    images: list[torch.Tensor]  # one per stage, 64, 128(, 256) px, in [-1, 1]
    mu: torch.Tensor
    logvar: torch.Tensor
    c: torch.Tensor


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.ca_net = ConditioningAugmentation(cfg.text_dim, cfg.c_dim, cfg.ca_noise_scale,
                                               cfg.text_scale)
        self.h_net1 = InitStage(cfg.ngf * 16, cfg.c_dim + cfg.z_dim,
                                cfg.z_dim if cfg.z_every_block else 0,
                                cfg.c_dim if cfg.c_film else 0)
        self.img_net1 = ImageHead(cfg.ngf)
        ngf = cfg.ngf
        for stage in range(2, cfg.stages + 1):
            attention = None
            if stage in cfg.attention_stages and (cfg.pam or cfg.cam):
                attention = DualAttention(ngf, cfg.pam, cfg.cam, cfg.cam_form,
                                          cfg.attention_merge, pam_naive=cfg.pam_impl == "naive",
                                          pam_kv_pool=cfg.pam_kv_pool)
            setattr(self, f"h_net{stage}", NextStage(ngf, cfg.c_dim, cfg.num_residual, attention,
                                                     cfg.text_dim if cfg.word_attention else 0))
            ngf //= 2
            setattr(self, f"img_net{stage}", ImageHead(ngf))
        self.placement = Placement(cfg.c_dim + cfg.z_dim) if cfg.placement else None

    def forward(self, features: TextFeatures, z: torch.Tensor, eps: torch.Tensor | None = None,
                num_stages: int | None = None) -> GeneratorOutput:
        """The one way from text features to pictures: training, evaluation, the pipeline and
        serve all come here (call the module, or `generate`). `eps` is the CA noise (drawn when
        None); `num_stages` stops after the first stages (a stage warm-up)."""
        c, mu, logvar = self.condition(features, eps)
        return GeneratorOutput(self.synthesise(z, c, num_stages, features), mu, logvar, c)

    def generate(self, features: TextFeatures, z: torch.Tensor, eps: torch.Tensor | None = None,
                 num_stages: int | None = None) -> GeneratorOutput:
        """`self(features, z, eps, num_stages)`, by its name."""
        return self(features, z, eps, num_stages)

    def condition(self, features: TextFeatures, eps: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(c, mu, logvar): the condition code of `features` (the first half of `forward`;
        interpolation moves c between two captions, then calls `synthesise`)."""
        if not isinstance(features, TextFeatures):
            raise TypeError(f"the generator takes TextFeatures (gtgan.models.TextFeatures), not "
                            f"{type(features).__name__}")
        return self.ca_net(features.sentence.float(), eps)

    def synthesise(self, z: torch.Tensor, c: torch.Tensor, num_stages: int | None = None,
                   features: TextFeatures | None = None) -> list[torch.Tensor]:
        """Images at every scale (or the first `num_stages`) from noise and a condition code
        (the second half of `forward`; `features` for what reads more than c)."""
        flip = None
        if self.cfg.mirror_noise:  # the sign picks the side; the network sees the magnitude
            flip = (z[:, 0] < 0)[:, None, None, None]
            z = torch.cat((z[:, :1].abs(), z[:, 1:]), dim=1)
        h = self.h_net1(z, c)
        if self.placement is not None:  # every later stage refines the placed drawing
            h = self.placement(h, torch.cat((c, z), dim=1))
        rgb = self.img_net1.preactivation(h)
        images = [torch.tanh(rgb)]
        for stage in range(2, (num_stages or self.cfg.stages) + 1):
            h = getattr(self, f"h_net{stage}")(h, c, features)
            stage_rgb = getattr(self, f"img_net{stage}").preactivation(h)
            if self.cfg.image_skip:  # draw on top of the previous stage's picture, upsampled
                stage_rgb = stage_rgb + F.interpolate(rgb, scale_factor=2, mode="bilinear",
                                                      align_corners=False)
            rgb = stage_rgb
            images.append(torch.tanh(rgb))
        if flip is not None:
            images = [torch.where(flip, im.flip(3), im) for im in images]
        return images
