"""Checks a run makes before any expensive work (caption encoding, model building), so that a
start that cannot succeed says why in seconds: the config, the fidelity term's VGG19 weights,
the data's folders and files, the text encoder (loaded once, then reused), the output
folder's permissions and free disk space. What follows from the text encoder (widths,
model.text_scale) is decided later, once, by `gtgan.data.settle_conditioning`; here a stated
width that cannot fit is refused early."""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch

from ..config import ConfigError, RunConfig
from ..data import TextEncoder, build_run_encoder, check_data_available, check_widths
from ..errors import GtganError
from ..fileio import FileFormatError, read_yaml
from ..models import build_discriminators, build_generator, count_parameters
from ..models.fidelity import ensure_vgg19_weights
from ..models.lite0 import resolve_lite0_weights
from .guard import flat
from .rundir import check_new_run_dir


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


def encoder_for(cfg: RunConfig, stated: set[str] | None = None) -> TextEncoder:
    """Load the run's text encoder (an error names what cannot be loaded) and refuse a stated
    width that differs from its output size (`stated`: see settle_conditioning)."""
    enc = build_run_encoder(cfg, stated)
    check_widths(cfg, enc, stated)
    return enc


def check_inputs(cfg: RunConfig, stated: set[str] | None = None) -> TextEncoder:
    """Everything a start or resume needs from outside, cheapest first: the config, the VGG19
    weights (when the fidelity term uses them), the data's files, the text encoder."""
    cfg.validate()
    lc = cfg.loss
    if lc.fidelity and lc.fidelity_weight > 0 and lc.fidelity_features == "vgg19":
        ensure_vgg19_weights(lc.vgg_weights)
    if lc.fidelity and lc.fidelity_weight > 0 and lc.fidelity_features == "efficientnet-lite0":
        resolve_lite0_weights(lc.lite0_weights)
    check_data_available(cfg.data)
    return encoder_for(cfg, stated)


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
    cfg.model.text_scale = cfg.model.text_scale or 1.0  # not settled yet; no parameters
    with torch.device("meta"):
        n_g = count_parameters(build_generator(cfg.model, init=False))
        n_d = count_parameters(build_discriminators(cfg.model, init=False))
    checkpoint = 4 * (2 * n_g + n_d) + 8 * (n_g + n_d)
    return (max(cfg.run.keep_checkpoints, 1) + 1) * checkpoint + 2 * 4 * n_g + 16 * 2**20
