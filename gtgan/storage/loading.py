"""What is at this path: one place that turns a run directory, a model folder (saved, trained
or imported) or a training checkpoint into weights in a network.

`load_generator(path)` backs `TextToImage.from_pretrained`, evaluation and the CLI;
`load_init_weights(path, model_cfg)` backs `gtgan train --init-from` (fine-tuning).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import ModelConfig, RunConfig, load_run_config, to_dict
from ..errors import CheckpointError
from ..fileio import FileFormatError, read_json, shown
from ..models import build_discriminators, build_generator
from .checkpoint import STATE_JSON, latest_checkpoint, load_checkpoint_weights
from .model_folder import MODEL_JSON, load_discriminator_states, read_model_info
from .state_dicts import load_state_checked, read_safetensors, state_mismatch

RUN_CONFIG = "config.yaml"  # RUN_DIR layout: docs/training.md
RUN_ENCODER = "encoder.json"
RUN_MODEL = "model"
RUN_CHECKPOINTS = "checkpoints"


@dataclass
class LoadedGenerator:
    """A generator in eval mode on the CPU with what describes it."""

    generator: nn.Module
    model_config: ModelConfig
    encoder_identity: dict[str, Any]
    run_config: RunConfig | None
    source: Path  # the folder the weights came from
    weights_file: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def path_kind(path: Path) -> str:
    """"model" (model folder), "run" (training run directory) or "checkpoint" (step-N)."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such model folder, run directory or checkpoint")
    if (path / MODEL_JSON).exists():
        return "model"
    if (path / RUN_CONFIG).exists():
        return "run"
    if (path / STATE_JSON).exists():
        return "checkpoint"
    raise CheckpointError(f"{path}: not a gtgan model folder (no {MODEL_JSON}), training run "
                          f"({RUN_CONFIG}) or training checkpoint ({STATE_JSON}); give a folder "
                          "written by save_pretrained or `gtgan import-stackgan-v2`, RUN_DIR, "
                          "RUN_DIR/model or RUN_DIR/checkpoints/step-00001000")


def _run_config(run_dir: Path | None) -> RunConfig | None:
    if run_dir is not None and (run_dir / RUN_CONFIG).exists():
        return load_run_config(run_dir / RUN_CONFIG, complete=True)  # a run's own: whole, or an error
    return None


def load_generator(path: str | Path, *, run_dir: str | Path | None = None) -> LoadedGenerator:
    """The generator at `path`: a run directory (its model/ folder: the EMA generator of the
    latest checkpoint), a model folder (save_pretrained, RUN_DIR/model, import-stackgan-v2), or
    a training checkpoint RUN_DIR/checkpoints/step-N (its G_ema, checksum checked).

    `run_dir`: the run whose config.yaml describes `path` when `path` is a model folder or
    checkpoint that does not sit inside it (default: the run around a checkpoint)."""
    path = Path(path)
    kind = path_kind(path)
    if kind == "checkpoint":
        return _load_checkpoint_generator(path, Path(run_dir) if run_dir else path.parent.parent)
    model_dir = path
    run_config = _run_config(path if kind == "run" else Path(run_dir) if run_dir else None)
    if kind == "run":
        model_dir = path / RUN_MODEL
        if not (model_dir / MODEL_JSON).exists():
            raise CheckpointError(f"{path}: this run directory has no model yet (no model/{MODEL_JSON}); "
                                  "it is written at the first checkpoint: train longer or resume it")
    info = read_model_info(model_dir)
    generator = _generator(info.model_config, read_safetensors(info.generator_file), str(model_dir))
    return LoadedGenerator(generator, info.model_config, info.encoder_identity, run_config,
                           model_dir, info.generator_file, dict(info.metadata))


def _load_checkpoint_generator(ckpt: Path, run_dir: Path) -> LoadedGenerator:
    run_config = _run_config(run_dir)
    if run_config is None:
        raise CheckpointError(f"{ckpt}: a training checkpoint does not record its model config; "
                              f"{run_dir} has no {RUN_CONFIG}: give the run directory it belongs to")
    if (run_dir / RUN_MODEL / MODEL_JSON).exists():
        info = read_model_info(run_dir / RUN_MODEL)
        encoder, metadata = info.encoder_identity, dict(info.metadata)
    elif (run_dir / RUN_ENCODER).exists():
        encoder, metadata = _read_encoder_json(run_dir / RUN_ENCODER), {}
    else:
        raise CheckpointError(f"{run_dir}: no {RUN_ENCODER}, so the text encoder of {ckpt} is unknown")
    weights, state = load_checkpoint_weights(ckpt, ["G_ema"])
    weights_file = ckpt / "G_ema.safetensors"
    generator = _generator(run_config.model, weights["G_ema"], str(weights_file))
    metadata.update(checkpoint=str(ckpt), step=state.get("step"), epoch=state.get("epoch"))
    return LoadedGenerator(generator, run_config.model, encoder, run_config, ckpt, weights_file, metadata)


def _generator(cfg: ModelConfig, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    generator = build_generator(cfg, init=False)
    load_state_checked(generator, state, source)
    return generator.eval()


# ---------------------------------------------------------------- fine-tuning
@dataclass
class InitWeights:
    """Named state dicts as `Trainer.weights()` names them (G, G_ema, D0, ...), complete and
    checked against the config; `missing`: which of those the source did not have."""

    weights: dict[str, dict[str, torch.Tensor]]
    source: Path
    missing: list[str]


def load_init_weights(path: str | Path, model_cfg: ModelConfig) -> InitWeights:
    """Weights to start a new run from: a model folder (its generator as G and G_ema, its
    discriminators.safetensors when present, e.g. an imported official checkpoint), a run
    directory (its latest checkpoint) or a training checkpoint. Refuses, naming the config
    fields, when they do not fit `model_cfg`."""
    path = Path(path)
    kind = path_kind(path)
    if kind == "model":
        info = read_model_info(path)
        source_cfg = info.model_config
        g = read_safetensors(info.generator_file)
        found = {"G": g, "G_ema": g}
        for i, d in enumerate(load_discriminator_states(info) or []):
            found[f"D{i}"] = d
    else:
        ckpt = path
        if kind == "run":
            ckpt = latest_checkpoint(path / RUN_CHECKPOINTS)
            if ckpt is None:
                raise CheckpointError(f"--init-from {path}: the run has no checkpoint yet")
        run_config = _run_config(path if kind == "run" else ckpt.parent.parent)
        source_cfg = run_config.model if run_config is not None else None
        found, _ = load_checkpoint_weights(ckpt)
    return _checked_init(found, model_cfg, source_cfg, path)


def _checked_init(found: dict[str, dict[str, torch.Tensor]], cfg: ModelConfig,
                  source_cfg: ModelConfig | None, path: Path) -> InitWeights:
    modules: dict[str, nn.Module] = {"G": build_generator(cfg, init=False)}
    modules.update({f"D{i}": d for i, d in enumerate(build_discriminators(cfg, init=False))})
    extra = sorted(k for k in found if k.startswith("D") and k not in modules)
    if extra:
        n_d = sum(k.startswith("D") for k in found)
        raise CheckpointError(f"--init-from {path}: {n_d} discriminators for a "
                              f"{cfg.stages}-stage config; {_config_diff(source_cfg, cfg)}")
    out, missing = {}, []
    for name in ["G", "G_ema", *[k for k in modules if k.startswith("D")]]:
        if name not in found:
            missing.append(name)
            continue
        module = modules["G" if name == "G_ema" else name]
        problem = state_mismatch(module, found[name])
        if problem:
            raise CheckpointError(f"--init-from {path}: {name} does not match the config "
                                  f"({_config_diff(source_cfg, cfg)}): {problem}")
        load_state_checked(module, found[name], str(path))
        out[name] = {k: v.clone() for k, v in module.state_dict().items()}
    if "G" in missing and "G_ema" in missing:
        raise CheckpointError(f"--init-from {path}: no generator weights found")
    return InitWeights(out, path, missing)


def _config_diff(source: ModelConfig | None, target: ModelConfig) -> str:
    """'model.ngf 64 vs 32, ...': which architecture fields differ from the weights' own."""
    if source is None:
        return "the weights' own config is unknown"
    a, b = to_dict(source), to_dict(target)
    diffs = [f"model.{k} {shown(a[k])} there vs {shown(b[k])} here" for k in a if a.get(k) != b.get(k)]
    return ", ".join(diffs[:6]) or "no config field differs"


def _read_encoder_json(path: Path) -> dict:
    try:
        return read_json(path)
    except FileFormatError as exc:
        raise CheckpointError(str(exc)) from None
