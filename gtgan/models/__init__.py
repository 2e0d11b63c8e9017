"""Networks only: no files, no CLI. `build_generator` / `build_discriminators` from a ModelConfig."""
from __future__ import annotations

from torch import nn

from ..config import ModelConfig
from .attention import ChannelAttention, DualAttention, PositionAttention, WordAttention
from .conditioning import TextFeatures
from .discriminator import Discriminator, DiscriminatorOutput
from .fidelity import PixelFeatures, VGGFeatures, WeightsError
from .lite0 import Lite0FidelityFeatures, Lite0Features
from .generator import ConditioningAugmentation, Generator, GeneratorOutput, kl_divergence
from .noise_encoder import NoiseEncoder, code_kl


def init_weights(module: nn.Module) -> None:
    """StackGAN++ initialisation: orthogonal conv/linear weights, BN weight N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.orthogonal_(m.weight, 1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_generator(cfg: ModelConfig, init: bool = True) -> Generator:
    g = Generator(cfg)
    if init:
        init_weights(g)
        if g.h_net1.film is not None:  # FiLM starts as the identity: StackGAN++'s stage 1
            for lin in g.h_net1.film:
                nn.init.zeros_(lin.weight)
        if cfg.image_skip:  # each refinement stage starts as the previous image, upsampled
            for stage in range(2, cfg.stages + 1):
                nn.init.zeros_(getattr(g, f"img_net{stage}").img[0].weight)
    return g


def build_discriminators(cfg: ModelConfig, init: bool = True) -> nn.ModuleList:
    """One discriminator per stage, for images of 64, 128(, 256) px."""
    text_dim = cfg.text_dim if cfg.d_text_regression else 0
    ds = nn.ModuleList(Discriminator(size, cfg.ndf, cfg.c_dim, text_dim, cfg.d_condition,
                                    cfg.d_mirror_pairs) for size in cfg.image_sizes)
    if init:
        for d in ds:
            init_weights(d)
            if d.text_head is not None:  # start by predicting 0, not a large random vector
                nn.init.zeros_(d.text_head.weight)
                nn.init.zeros_(d.text_head.bias)
    return ds


def build_noise_encoder(cfg: ModelConfig, init: bool = True) -> NoiseEncoder:
    """BicycleGAN's E for loss.reconstruction_weight: stage 1's pictures -> z."""
    e = NoiseEncoder(cfg.z_dim, cfg.ndf, cfg.image_sizes[0])
    if init:
        init_weights(e)
    return e


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = [
    "ChannelAttention", "ConditioningAugmentation", "Discriminator", "DiscriminatorOutput",
    "DualAttention", "Generator", "GeneratorOutput", "Lite0FidelityFeatures", "Lite0Features",
    "NoiseEncoder", "build_noise_encoder", "code_kl",
    "PixelFeatures", "PositionAttention", "TextFeatures", "VGGFeatures", "WeightsError",
    "WordAttention", "build_discriminators", "build_generator", "count_parameters", "init_weights",
    "kl_divergence",
]
