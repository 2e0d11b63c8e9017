"""Model folders: a self-contained generator (config JSON + safetensors) that loads without
any training code and never executes code from the files it reads."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from .config import ConfigError, ModelConfig, from_dict, to_dict
from .errors import CheckpointError

MODEL_FORMAT = "gtgan-model"
MODEL_FORMAT_VERSION = 1
MODEL_JSON = "gtgan_model.json"
GENERATOR_FILE = "generator.safetensors"


def save_model(directory: str | Path, model_cfg: ModelConfig, generator_state: dict[str, torch.Tensor],
               encoder_identity: dict[str, Any], metadata: dict[str, Any] | None = None) -> Path:
    """Write a model folder atomically: build it beside the target, then swap it in."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in generator_state.items()}
        save_file(tensors, str(tmp / GENERATOR_FILE))
        info = {"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION, "model": to_dict(model_cfg),
                "encoder": encoder_identity, "metadata": metadata or {}}
        (tmp / MODEL_JSON).write_text(json.dumps(info, indent=2, sort_keys=True))
        replace_dir(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return directory


def replace_dir(src: Path, dst: Path) -> None:
    """Move `src` to `dst`, replacing an existing `dst` with at most a rename-sized window."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def load_model(directory: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor], dict, dict]:
    """(model config, generator state dict, encoder identity, metadata) from a model folder."""
    from safetensors.torch import load_file

    directory = Path(directory)
    info_path = directory / MODEL_JSON
    if not info_path.exists():
        raise CheckpointError(f"{directory}: not a gtgan model folder (no {MODEL_JSON}); give a "
                              "folder written by save_pretrained, by training (RUN_DIR/model), or by "
                              "`gtgan import-stackgan-v2`")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{info_path}: not valid JSON ({exc})") from None
    if info.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{info_path}: format is {info.get('format')!r}, expected {MODEL_FORMAT!r}")
    if info.get("version", 0) > MODEL_FORMAT_VERSION:
        raise CheckpointError(f"{info_path}: written by a newer gtgan (format version "
                              f"{info['version']}); upgrade gtgan")
    try:
        cfg = from_dict(ModelConfig, info["model"], "model")
        cfg.validate()
    except (ConfigError, KeyError) as exc:
        raise CheckpointError(f"{info_path}: bad model config: {exc}") from None
    weights = directory / GENERATOR_FILE
    if not weights.exists():
        raise CheckpointError(f"{directory}: {GENERATOR_FILE} is missing")
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise CheckpointError(f"{weights}: cannot read safetensors ({exc})") from None
    return cfg, state, info.get("encoder", {}), info.get("metadata", {})


def load_generator_state(generator: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """load_state_dict with a message that names the file and the mismatching keys."""
    own = generator.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} (e.g. {unexpected[:3]})")
        if wrong:
            parts.append("wrong shapes: " + ", ".join(
                f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:3]))
        raise CheckpointError(f"{source}: weights do not match the model config: " + "; ".join(parts))
    generator.load_state_dict(state)
