"""Typed, serialisable configuration.

Every run and every saved model carries one `RunConfig` (or its `ModelConfig` part) as YAML,
so a run directory says everything needed to reproduce it. There is no global config object:
configs are built here and passed explicitly to whatever needs them.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


from .errors import GtganError
from .fileio import atomic_write_text


class ConfigError(GtganError, ValueError):
    """A config file, field or value is wrong; the message names which."""


@dataclass
class ModelConfig:
    """Generator and discriminator architecture (see docs/architecture.md)."""

    text_dim: int = 1024  # sentence-vector width (char-CNN-RNN on CUB: 1024)
    c_dim: int = 128  # conditioning-augmentation output (StackGAN++ EMBEDDING_DIM)
    z_dim: int = 100
    ngf: int = 64  # StackGAN++ GF_DIM; stage 1 starts at ngf*16 channels at 4x4
    ndf: int = 64  # StackGAN++ DF_DIM
    stages: int = 2  # 1 -> 64px, 2 -> 128px (the paper), 3 -> 256px (StackGAN++ birds)
    num_residual: int = 2  # residual blocks per refinement stage (StackGAN++ R_NUM)
    # Dual attention. The paper puts it in stage 2 only, after the joint layer.
    attention_stages: list[int] = field(default_factory=lambda: [2])
    pam: bool = True
    cam: bool = True
    cam_form: Literal["paper", "danet"] = "paper"
    # How the residual blocks take the block's output when both branches are on:
    # "concat" (the paper: 2C channels go on to the residual blocks) or "fuse" (1x1 conv to C).
    attention_merge: Literal["concat", "fuse"] = "concat"
    # Compute position attention with a fused kernel (O(N) memory) or the naive N x N matrix.
    pam_impl: Literal["sdpa", "naive"] = "sdpa"
    # Max-pool position attention's keys and values over k x k cells (SAGAN/BigGAN): k^2 times
    # fewer keys, so k^2 times cheaper at 64x64. 1 = the paper (DANet). A cost switch for the demo.
    pam_kv_pool: int = 1
    # Scales the conditioning-augmentation noise; 1.0 is StackGAN++. A deviation for the CPU demo.
    ca_noise_scale: float = 1.0
    # Multiplies the sentence vector before conditioning augmentation. Unit-norm encoders
    # (bag-of-words, sentence-transformers) give entries of about 1/sqrt(dim), which leaves
    # mu tiny beside z for thousands of steps; sqrt(dim) restores unit-sized entries. 1.0 = paper.
    text_scale: float = 1.0
    # Discriminators also regress the sentence vector (auxiliary head); off in the paper.
    d_text_regression: bool = False
    # How the discriminators' conditional head reads the condition code: "concat" (StackGAN++:
    # mu tiled over the 4x4 image code, 3x3 conv, 4x4 conv) or "projection" (Miyato & Koyama
    # 2018: unconditional logit + <W mu, pooled image code>), a stronger signal that a few
    # minutes of CPU training can use. A deviation for the demo.
    d_condition: Literal["concat", "projection"] = "concat"
    # Each refinement stage adds its RGB output to the previous stage's, upsampled (in tanh's
    # pre-activation space, with the stage's image conv zero-initialised), so a 128 px image
    # starts as the 64 px one and learns detail on top of it (StyleGAN2's "skip" generator).
    # Off in StackGAN++ and the paper, where each stage draws its image from scratch.
    image_skip: bool = False

    def validate(self) -> None:
        _check(self.stages in (1, 2, 3), "model.stages", self.stages, "must be 1, 2 or 3")
        for name in ("text_dim", "c_dim", "z_dim", "ngf", "ndf"):
            _check(getattr(self, name) > 0, f"model.{name}", getattr(self, name), "must be > 0")
        _check(self.ngf % 2 == 0, "model.ngf", self.ngf, "must be even (GLU halves channels)")
        for s in self.attention_stages:
            _check(2 <= s <= self.stages, "model.attention_stages", self.attention_stages,
                   f"entries must be refinement stages 2..{self.stages}")
        _check(self.cam_form in ("paper", "danet"), "model.cam_form", self.cam_form, "paper|danet")
        _check(self.attention_merge in ("concat", "fuse"), "model.attention_merge",
               self.attention_merge, "concat|fuse")
        _check(self.pam_impl in ("sdpa", "naive"), "model.pam_impl", self.pam_impl, "sdpa|naive")
        _check(self.pam_kv_pool in (1, 2, 4), "model.pam_kv_pool", self.pam_kv_pool, "1, 2 or 4")
        _check(self.ca_noise_scale >= 0, "model.ca_noise_scale", self.ca_noise_scale, ">= 0")
        _check(self.text_scale > 0, "model.text_scale", self.text_scale, "> 0")
        _check(self.d_condition in ("concat", "projection"), "model.d_condition",
               self.d_condition, "concat|projection")

    @property
    def image_sizes(self) -> list[int]:
        return [64 * 2**i for i in range(self.stages)]


@dataclass
class LossConfig:
    """Objective weights (docs/paper.md#objective, StackGAN++ defaults where the paper is silent)."""

    kl_weight: float = 2.0  # StackGAN++ birds COEFF.KL
    uncond_weight: float = 1.0  # StackGAN++ COEFF.UNCOND_LOSS
    fidelity: bool = True  # the paper's VGG19 L1 term
    fidelity_weight: float = 0.001  # the paper's mu
    # "imagenet" (torchvision download), "random" (explicit, labelled), or a path to a state dict.
    vgg_weights: str = "imagenet"
    # What the fidelity L1 compares: "vgg19" conv5_4 features (the paper), or "pixels" averaged
    # down to fidelity_pixel_size (a documented deviation for the CPU demo: no weights needed,
    # and a direct colour signal a few minutes of training can use).
    fidelity_features: Literal["vgg19", "pixels"] = "vgg19"
    fidelity_pixel_size: int = 16
    # Compare each generated image with the real one or its left-right mirror, whichever is
    # closer (per sample). Off in the paper; the demo's synthetic birds face either way.
    fidelity_mirror: bool = False
    color_weight: float = 0.0  # StackGAN++ colour consistency (COEFF.COLOR_LOSS), off
    text_regression_weight: float = 0.0  # with model.d_text_regression
    # Mode-seeking regularisation (MSGAN, Mao et al. 2019), off in the paper: a second stage-1
    # sample of each caption with fresh noise; the generator minimises weight / (mean |G(c, z1) -
    # G(c, z2)| / mean |z1 - z2| + 1e-5), so that different noise gives different pictures.
    mode_seeking_weight: float = 0.0


@dataclass
class OptimConfig:
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 8
    epochs: int = 160
    ema_decay: float = 0.999
    # Train only the first (64 px) stage for this many steps, then all stages jointly.
    # 0 = StackGAN++'s joint training from the start (the paper); StackGAN-v1 trained its
    # stages one after the other. Used by the CPU demo, where stage 1 steps are ~8x cheaper.
    stage_warmup_steps: int = 0
    # The same warm-up measured in time: stage 1 alone for this fraction of run.max_minutes, so
    # a machine 5x slower still reaches the joint phase (the demo). With both set, the warm-up
    # ends at whichever limit comes first. The step it ended at is kept in every checkpoint.
    stage_warmup_fraction: float = 0.0

    @property
    def has_stage_warmup(self) -> bool:
        return self.stage_warmup_steps > 0 or self.stage_warmup_fraction > 0


@dataclass
class EncoderConfig:
    """Which text encoder turns captions into sentence vectors."""

    # "char-cnn-rnn": precomputed pickles (CUB only); "sentence-transformers": a model by name or
    # path; "bow": a built-in deterministic bag-of-words over the data set's vocabulary.
    kind: str = "char-cnn-rnn"
    name: str = ""  # model name / path for sentence-transformers
    dim: int = 1024


@dataclass
class DataConfig:
    kind: Literal["cub", "folder", "synthetic"] = "cub"
    root: str = ""  # cub: the directory holding birds/ (or birds/ itself); folder: the folder
    train_split: str = "train"
    test_split: str = "test"
    skip_missing: bool = False  # use only listed items that exist, counting the rest
    num_workers: int = 2
    synthetic_count: int = 3000
    synthetic_seed: int = 0
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


@dataclass
class RunSettings:
    """How a run executes; none of it changes the model's definition."""

    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    # auto: bf16 autocast where the device computes bf16 natively, else fp32 (fp16 + loss
    # scaling on CUDA GPUs older than compute capability 8.0); the choice goes to env.json.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    channels_last: Literal["auto", True, False] = "auto"  # NHWC networks and inputs
    deterministic: bool = False
    max_steps: int = 0  # 0 = run the configured epochs
    max_minutes: float = 0.0  # 0 = no time limit; stop with a checkpoint when reached
    checkpoint_every: int = 1000  # steps
    sample_every: int = 500  # steps
    log_every: int = 50  # steps
    eval_every_epochs: int = 0  # in-training IS (0 = off)
    eval_samples: int = 500
    num_sample_captions: int = 8
    keep_checkpoints: int = 3


@dataclass
class RunConfig:
    name: str = "paper"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunSettings = field(default_factory=RunSettings)

    def validate(self) -> None:
        self.model.validate()
        _check(self.model.text_dim == self.data.encoder.dim, "model.text_dim", self.model.text_dim,
               f"must equal data.encoder.dim ({self.data.encoder.dim})")
        _check(self.optim.batch_size > 0, "optim.batch_size", self.optim.batch_size, "must be > 0")
        _check(self.run.precision in ("auto", "fp32", "bf16", "fp16"), "run.precision",
               self.run.precision, "auto|fp32|bf16|fp16")
        _check(self.run.channels_last in ("auto", True, False), "run.channels_last",
               self.run.channels_last, "auto|true|false")
        _check(self.loss.fidelity_pixel_size > 0, "loss.fidelity_pixel_size",
               self.loss.fidelity_pixel_size, "must be > 0")
        _check(0 <= self.optim.stage_warmup_fraction < 1, "optim.stage_warmup_fraction",
               self.optim.stage_warmup_fraction, "must be in [0, 1)")
        _check(self.optim.stage_warmup_fraction == 0 or self.run.max_minutes > 0,
               "optim.stage_warmup_fraction", self.optim.stage_warmup_fraction,
               "is a share of run.max_minutes, which is 0 (no time limit); set run.max_minutes "
               "or use optim.stage_warmup_steps")
        _check(self.loss.mode_seeking_weight >= 0, "loss.mode_seeking_weight",
               self.loss.mode_seeking_weight, "must be >= 0")


def _check(ok: bool, name: str, value: Any, why: str) -> None:
    if not ok:
        raise ConfigError(f"{name} = {value!r}: {why}")


# ---------------------------------------------------------------- (de)serialisation

def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(_join(where, u) for u in unknown)}; "
                          f"known: {', '.join(sorted(names))}")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints[key], value, _join(where, key))
    return cls(**kwargs)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is Literal:  # exact type too: 1 is not True, "true" not "auto"
        if not any(type(value) is type(a) and value == a for a in typing.get_args(tp)):
            raise ConfigError(f"{where} = {value!r}: must be one of {list(typing.get_args(tp))}")
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {value!r}: expected a list")
        return [_coerce(item, v, where) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{where} = {value!r}: expected true or false")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where} = {value!r}: expected a number")
        try:
            out = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} = {value!r}: expected {tp.__name__}") from None
        if tp is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{where} = {value!r}: expected an integer")
        return out
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where} = {value!r}: expected a string")
        return str(value)
    return value


def apply_overrides(cfg: Any, overrides: list[str]) -> Any:
    """Apply `key.sub=value` strings (values parsed as YAML scalars) and re-validate (a
    RunConfig, or any config dataclass with a `validate` method)."""
    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. optim.batch_size=16")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"--set {item!r}: unknown key {'.'.join(parts[: i + 1])!r}")
            if i == len(parts) - 1:
                node[part] = yaml.safe_load(raw) if raw.strip() else ""
            else:
                node = node[part]
    out = from_dict(type(cfg), data)
    out.validate()
    return out


def save_yaml(cfg: Any, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def load_run_config(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        cfg = from_dict(RunConfig, data or {})
        cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def config_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), sort_keys=True)
