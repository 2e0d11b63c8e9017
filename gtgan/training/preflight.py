"""Checks a run makes before any expensive work (caption encoding, model building), so that a
start that cannot succeed says why in seconds: the config, the fidelity term's VGG19 weights,
the data's folders and files, the text encoder (loaded once, then reused), the output
folder's permissions and free disk space. The text encoder's output size also fills the
config's vector widths where they were left open (0)."""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch

from ..config import ConfigError, RunConfig
from ..data import TextEncoder, build_encoder, check_data_available
from ..errors import GtganError
from ..fileio import FileFormatError, read_yaml
from ..models import build_discriminators, build_generator, count_parameters
from ..models.fidelity import ensure_vgg19_weights
from .guard import flat
from .rundir import check_new_run_dir

DIM_KEYS = ("data.encoder.dim", "model.text_dim")


class DiskSpaceError(GtganError, OSError):
    """Too little free space for what the run will write."""


def given_keys(config_arg: str | None, overrides: list[str]) -> set[str]:
    """The dotted config keys a user stated: every --set key, and every key of a YAML file given
    as --config (a preset states none). What is not stated may follow from other settings."""
    keys = {o.split("=", 1)[0].strip() for o in overrides}
    path = Path(config_arg) if config_arg else None
    if path is not None and path.is_dir():
        path = path / "config.yaml"
    if path is not None and path.is_file():
        try:
            data = read_yaml(path)
        except (OSError, FileFormatError):
            data = None  # resolve_config has said what is wrong with it
        if isinstance(data, dict):
            keys |= set(flat(data))
    return keys


def open_dims(cfg: RunConfig, given: set[str]) -> RunConfig:
    """Set the vector widths the user did not state to 0 ("what the encoder gives")."""
    cfg = copy.deepcopy(cfg)
    if "data.encoder.dim" not in given:
        cfg.data.encoder.dim = 0
    if "model.text_dim" not in given:
        cfg.model.text_dim = 0
    return cfg


def validate_before_dims(cfg: RunConfig) -> None:
    """cfg.validate(), with widths left open (0) standing in for the encoder's output size."""
    probe = copy.deepcopy(cfg)
    width = probe.model.text_dim or probe.data.encoder.dim or 1
    probe.model.text_dim = probe.data.encoder.dim = width
    probe.validate()


def encoder_for(cfg: RunConfig) -> tuple[TextEncoder, list[str]]:
    """Load the run's text encoder (an error names what cannot be loaded), and set widths left
    open (0) to its output size; a stated width that differs is an error naming both.
    Returns (encoder, notes on what was set)."""
    enc = build_encoder(cfg.data.encoder, data_root=cfg.data.root or None)
    notes = []
    stated = {"data.encoder.dim": cfg.data.encoder.dim, "model.text_dim": cfg.model.text_dim}
    for key, value in stated.items():
        if value and value != enc.dim:
            raise ConfigError(f"{key} = {value} but the text encoder {enc.kind} "
                              f"{enc.identity.get('name')!r} gives {enc.dim}-d vectors; leave "
                              f"{key} out (it follows the encoder) or set it to {enc.dim}")
        if not value:
            notes.append(key)
    cfg.data.encoder.dim = cfg.model.text_dim = enc.dim
    if notes:
        notes = [f"{' and '.join(notes)} = {enc.dim}, the output size of the text encoder "
                 f"({enc.kind} {enc.identity.get('name')!r})"]
    return enc, notes


def check_inputs(cfg: RunConfig) -> tuple[TextEncoder, list[str]]:
    """Everything a start or resume needs from outside, cheapest first: the config, the VGG19
    weights (when the fidelity term uses them), the data's files, the text encoder."""
    validate_before_dims(cfg)
    lc = cfg.loss
    if lc.fidelity and lc.fidelity_weight > 0 and lc.fidelity_features == "vgg19":
        ensure_vgg19_weights(lc.vgg_weights)
    check_data_available(cfg.data)
    enc, notes = encoder_for(cfg)
    cfg.validate()
    return enc, notes


def check_output(cfg: RunConfig, run_dir: Path) -> None:
    """A new run's folder: usable (missing or empty), creatable by us, with room for the run."""
    run_dir = Path(run_dir)
    check_new_run_dir(run_dir)
    base = next(p for p in [run_dir, *run_dir.parents] if p.exists())
    if not base.is_dir():
        raise ConfigError(f"{run_dir}: cannot be made: {base} is a file; choose another --out")
    try:  # a real probe: permissions, read-only mounts and ACLs all show here
        fd, probe = tempfile.mkstemp(prefix=".gtgan-write-test-", dir=base)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{run_dir}: cannot write into {base} ({exc.strerror or exc}); "
                          "choose another --out") from None
    need, free = run_disk_estimate(cfg), shutil.disk_usage(base).free
    if free < need:
        raise DiskSpaceError(f"{run_dir}: {free / 2**20:,.0f} MiB free on that disk, and this run "
                             f"needs about {need / 2**20:,.0f} MiB ({max(cfg.run.keep_checkpoints, 1)} "
                             "checkpoint(s) of weights and optimiser state, plus the model folder); "
                             "free space, choose another --out, or lower run.keep_checkpoints")


def run_disk_estimate(cfg: RunConfig) -> int:
    """Bytes a run keeps at its largest, roughly: kept checkpoints (+1 being written) of weights
    (G, G_ema, Ds) and Adam moments, the model folder twice (during its swap), 16 MiB for logs,
    samples and plots. Counted on the meta device: nothing is allocated. A width left open
    counts as 1024 (it changes one small layer)."""
    cfg = copy.deepcopy(cfg)
    cfg.model.text_dim = cfg.model.text_dim or 1024
    with torch.device("meta"):
        n_g = count_parameters(build_generator(cfg.model, init=False))
        n_d = count_parameters(build_discriminators(cfg.model, init=False))
    checkpoint = 4 * (2 * n_g + n_d) + 8 * (n_g + n_d)
    return (max(cfg.run.keep_checkpoints, 1) + 1) * checkpoint + 2 * 4 * n_g + 16 * 2**20
