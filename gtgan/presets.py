"""Named presets. `configs/<name>.yaml` holds each one written out (kept in sync by a test)."""
from __future__ import annotations

from pathlib import Path

from .config import (ConfigError, DataConfig, EncoderConfig, LossConfig, ModelConfig,
                     OptimConfig, RunConfig, RunSettings, load_run_config)
from .data.encoders import BOW_DIM
from .fileio import shown


def paper() -> RunConfig:
    """Gt-StackGAN at 128x128 on CUB with char-CNN-RNN embeddings, as the paper trains it."""
    return RunConfig(name="paper")


def stackgan_pp() -> RunConfig:
    """The paper's baseline: the same two stages without attention or fidelity loss."""
    return RunConfig(
        name="stackgan++",
        model=ModelConfig(attention_stages=[], pam=False, cam=False),
        loss=LossConfig(fidelity=False),
    )


def stackgan_pp_256() -> RunConfig:
    """Official StackGAN-v2 birds, three stages to 256x256 (for imported checkpoints)."""
    cfg = stackgan_pp()
    cfg.name = "stackgan++-256"
    cfg.model.stages = 3
    cfg.optim = OptimConfig(lr_g=2e-4, lr_d=2e-4, batch_size=24, epochs=600)
    return cfg


def demo() -> RunConfig:
    """Small model on the built-in synthetic birds that learns caption colours on a laptop CPU.

    The paper's architecture (two stages, dual attention in stage 2) at narrow widths (ngf 8:
    a 2.5x cheaper stage 1 on an AVX2 CPU). Every deviation is a switch, measured in
    docs/demo.md: a bag-of-words text encoder that folds synonyms (data.encoder.name) scaled to
    unit-sized entries (model.text_scale), CA noise scaled down, discriminators that also
    regress the sentence vector and read it through a projection head, the fidelity L1 on
    16x16 pixels instead of VGG19 features (no pretrained weights, a direct colour signal),
    against the real picture or its mirror (loss.fidelity_mirror), position attention over
    4x4-pooled keys (model.pam_kv_pool: 4x cheaper two-stage steps), stage 1 trained alone for
    the first half of the time (optim.stage_warmup_fraction) and stage 2 drawing on top of its
    upsampled image (model.image_skip), MSGAN's mode-seeking term so that the noise matters,
    batch 32; precision and channels_last as the hardware suits (run.precision=auto).
    """
    return RunConfig(
        name="demo",
        model=ModelConfig(text_dim=0, c_dim=32, z_dim=32, ngf=8, ndf=16, stages=2,
                          ca_noise_scale=0.1, text_scale=32.0, d_text_regression=True,
                          d_condition="projection", image_skip=True, pam_kv_pool=4),
        loss=LossConfig(kl_weight=1.0, fidelity=True, fidelity_features="pixels",
                        fidelity_pixel_size=16, fidelity_weight=10.0, fidelity_mirror=True,
                        text_regression_weight=1.0,
                        mode_seeking_weight=0.2),
        optim=OptimConfig(lr_g=2e-4, lr_d=2e-4, batch_size=32, epochs=100,
                          stage_warmup_fraction=0.5),
        data=DataConfig(kind="synthetic", num_workers=0, synthetic_count=3000,
                        encoder=EncoderConfig(kind="bow", name="synonyms", dim=0)),
        run=RunSettings(max_minutes=12.0, checkpoint_every=500, sample_every=250, log_every=25),
    )


PRESETS = {"paper": paper, "stackgan++": stackgan_pp, "stackgan++-256": stackgan_pp_256,
           "demo": demo}


def _finalise(cfg: RunConfig) -> RunConfig:
    # text_dim 0 means "whatever the encoder gives"; the bag-of-words encoder's width is fixed.
    if cfg.data.encoder.kind == "bow" and cfg.data.encoder.dim == 0:
        cfg.data.encoder.dim = BOW_DIM
    if cfg.model.text_dim == 0:
        cfg.model.text_dim = cfg.data.encoder.dim
    cfg.validate()
    return cfg


def get_preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {shown(name)}; available: {', '.join(PRESETS)}")
    return _finalise(PRESETS[name]())


def resolve_config(preset_or_file: str) -> RunConfig:
    """A preset name, or a YAML file path (a run directory's config.yaml works too)."""
    if preset_or_file in PRESETS:
        return get_preset(preset_or_file)
    path = Path(preset_or_file)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{shown(preset_or_file)} is neither a preset ({', '.join(PRESETS)}) "
                          f"nor an existing config file")
    return load_run_config(path)
