"""Named presets. `configs/<name>.yaml` holds each one written out (kept in sync by a test)."""
from __future__ import annotations

from pathlib import Path

import copy

from .config import (ConfigError, DataConfig, EncoderConfig, LossConfig, ModelConfig,
                     OptimConfig, RunConfig, RunSettings, load_run_config)
from .data import build_run_encoder, settle_conditioning
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
    docs/demo.md: the DAMSM text encoder shipped for the synthetic birds
    (builtin:synthetic-birds: its sentence vectors bind each colour to its part, which a bag of
    words cannot) scaled to unit-sized entries (model.text_scale=0: derived when the run starts,
    about 3.5 for its 128-d vectors), CA noise scaled down, discriminators that also
    regress the sentence vector and read it through a projection head, the fidelity L1 on
    4x4-pooled pixels at weight 40 instead of VGG19 features (a colour and background signal
    that does not blur the outline), against the real picture or its mirror
    (loss.fidelity_mirror), AttnGAN's DAMSM loss at weight 1 (loss.damsm_match: binds the
    caption's colours to their parts), position attention over
    4x4-pooled keys (model.pam_kv_pool: 4x cheaper two-stage steps), stage 1 trained alone for
    the first half of the time (optim.stage_warmup_fraction) and stage 2 drawing on top of its
    upsampled image (model.image_skip), MSGAN's mode-seeking term at 0.5 so that the noise
    matters, the noise's sign mirroring the picture (model.mirror_noise: a caption's birds face
    both ways, as in the data), batch 32 at twice StackGAN++'s learning rate (4e-4: the outline
    in fewer steps); precision and channels_last as the hardware suits
    (run.precision=auto); and a second, projected discriminator per stage on the frozen
    ImageNet EfficientNet-Lite0's features of the 64 px picture (model.projected_d_stages: the
    shape signal that pixel discriminators do not learn in minutes).
    """
    return RunConfig(
        name="demo",
        model=ModelConfig(text_dim=0, c_dim=32, z_dim=32, ngf=8, ndf=16, stages=2,
                          ca_noise_scale=0.1, text_scale=0.0, d_text_regression=True,
                          d_condition="projection", image_skip=True, pam_kv_pool=4,
                          projected_d_stages=[1, 2], projected_d_size=64, mirror_noise=True),
        loss=LossConfig(kl_weight=1.0, fidelity=True, fidelity_features="pixels",
                        fidelity_pixel_size=4, fidelity_weight=40.0, fidelity_mirror=True,
                        text_regression_weight=1.0, mode_seeking_weight=0.5,
                        damsm_match=True, damsm_weight=1.0),
        optim=OptimConfig(lr_g=4e-4, lr_d=4e-4, batch_size=32, epochs=100,
                          stage_warmup_fraction=0.5),
        data=DataConfig(kind="synthetic", num_workers=0, synthetic_count=3000,
                        encoder=EncoderConfig(kind="damsm", name="builtin:synthetic-birds", dim=0)),
        run=RunSettings(max_minutes=12.0, checkpoint_every=500, sample_every=250, log_every=25),
    )


def cub_cpu() -> RunConfig:
    """Real CUB on a 2-core CPU in an hour: the demo's small network and its measured switches
    (docs/demo.md) on CUB photos, with the bag-of-words encoder that folds synonyms (no
    encoder to train first; a DAMSM from `gtgan encoder train` can replace it with
    data.encoder.kind=damsm) and no pretrained weights to download; one hour
    (run.max_minutes=60). Set data.root; a GPU should train `paper` instead (docs/training.md).
    """
    cfg = demo()
    cfg.name = "cub-cpu"
    cfg.data = DataConfig(kind="cub", num_workers=0,
                          encoder=EncoderConfig(kind="bow", name="synonyms", dim=0))
    cfg.model.ngf, cfg.model.ndf = 16, 16  # photos: twice the demo's generator width
    # The demo's DAMSM loss needs a DAMSM text encoder; the bag of words has none. The demo's
    # 4x4 fidelity at weight 40 was measured on the synthetic birds' flat backgrounds; CUB
    # keeps the 16x16 one (docs/demo.md).
    cfg.loss.damsm_match, cfg.loss.fidelity_pixel_size, cfg.loss.fidelity_weight = False, 16, 10.0
    # Measured on CUB with the demo's earlier noise settings (docs/training.md); the demo's
    # mirror by noise and stronger mode seeking (2026-12-06, night) are not measured on CUB yet.
    cfg.model.mirror_noise, cfg.loss.mode_seeking_weight = False, 0.2
    cfg.optim = OptimConfig(lr_g=2e-4, lr_d=2e-4, batch_size=16, epochs=600,
                            stage_warmup_fraction=0.5)
    cfg.run = RunSettings(max_minutes=60.0, checkpoint_every=250, sample_every=250, log_every=25)
    return cfg


PRESETS = {"paper": paper, "stackgan++": stackgan_pp, "stackgan++-256": stackgan_pp_256,
           "demo": demo, "cub-cpu": cub_cpu}


def _finalise(cfg: RunConfig) -> RunConfig:
    # Widths and text_scale left at 0 are decided from the text encoder when a run starts
    # (gtgan.data.settle_conditioning), not here.
    cfg.validate()
    return cfg


def get_preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {shown(name)}; available: {', '.join(PRESETS)}")
    return _finalise(PRESETS[name]())


def settled_config(cfg: RunConfig, stated: set[str] | None = None) -> RunConfig:
    """A copy of `cfg` whose open widths and text_scale are decided from its text encoder, to
    build a model outside a run (tests, benchmarks, the API). A derived text_scale of an encoder
    that is not unit-norm needs the training captions: only a run (or settle_conditioning with
    them) decides that one."""
    cfg = copy.deepcopy(cfg)
    if cfg.model.text_dim and cfg.data.encoder.dim and cfg.model.text_scale:
        return cfg
    settle_conditioning(cfg, build_run_encoder(cfg, stated), stated)
    return cfg


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
