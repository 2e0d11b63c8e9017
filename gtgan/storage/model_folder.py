"""Model folders: a self-contained generator that loads without any training code.

FOLDER/
  gtgan_model.json               format, model config, text-encoder identity, metadata
  generator.safetensors          the (EMA) generator's state dict
  discriminators.safetensors     optional (imported official weights): "d0.<key>", "d1.<key>", ...
  text_encoder/                  a trained text encoder's files (DAMSM: its text part), so the
                                 folder generates from any text without the encoder's folder

Written by `TextToImage.save_pretrained`, by training (RUN_DIR/model/) and by
`gtgan import-stackgan-v2`. A folder is built beside its target and swapped in whole, and is
written only where nothing is, where an empty folder is, or over another model folder: a
folder of anything else is refused, never deleted.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, ModelConfig, from_dict, to_dict, with_earlier_values
from ..data.encoders import CharCnnRnnEncoder, bundle_encoder_files
from ..errors import CheckpointError
from ..fileio import FileFormatError, checked_format, fsync_path, naming, read_json, shown
from ..folders import replace_dir, staging_dir
from .state_dicts import read_safetensors, write_safetensors

MODEL_FORMAT = "gtgan-model"
MODEL_FORMAT_VERSION = 1
MODEL_JSON = "gtgan_model.json"
GENERATOR_FILE = "generator.safetensors"
DISCRIMINATORS_FILE = "discriminators.safetensors"
ENCODER_FILES_DIR = "text_encoder"  # a trained text encoder's own files (e.g. DAMSM's text part)


@dataclass
class ModelInfo:
    """What gtgan_model.json says: everything about a model folder except its weights."""

    path: Path
    model_config: ModelConfig
    encoder_identity: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def generator_file(self) -> Path:
        return self.path / GENERATOR_FILE

    @property
    def discriminators_file(self) -> Path:
        return self.path / DISCRIMINATORS_FILE


def is_model_folder(path: str | Path) -> bool:
    """A folder whose gtgan_model.json says it is a gtgan model (what may be replaced)."""
    try:
        return read_json(Path(path) / MODEL_JSON).get("format") == MODEL_FORMAT
    except (OSError, FileFormatError, AttributeError):
        return False


def check_model_target(directory: str | Path) -> None:
    """Refuse, before any work, to write a model folder over anything but a model folder."""
    directory = Path(directory)
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise CheckpointError(f"{directory}: exists and is not a folder; nothing was written: "
                              "choose another output folder")
    if not directory.is_dir() or is_model_folder(directory):
        return
    held = sorted(p.name for p in directory.iterdir())
    if held:
        raise CheckpointError(
            f"{directory}: exists and is not a gtgan model folder (it holds {len(held)} other "
            f"item(s), e.g. {shown(held[0])}); nothing was written or deleted: choose a new or empty "
            "folder")


def save_model(directory: str | Path, model_cfg: ModelConfig, generator_state: dict[str, torch.Tensor],
               encoder_identity: dict[str, Any], metadata: dict[str, Any] | None = None,
               discriminator_states: list[dict[str, torch.Tensor]] | None = None) -> Path:
    """Write a model folder atomically: build it beside the target, then swap it in."""
    directory = Path(directory)
    check_model_target(directory)
    tmp = staging_dir(directory)
    try:
        _write_model(tmp, directory, model_cfg, generator_state, encoder_identity, metadata,
                     discriminator_states)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _write_model(tmp: Path, directory: Path, model_cfg, generator_state, encoder_identity,
                 metadata, discriminator_states) -> None:
    """The folder's files into `tmp`, then swapped in at `directory`; an OS error (a full disk)
    names `directory`."""
    with naming(directory):
        write_safetensors(_cpu_tensors(generator_state), tmp / GENERATOR_FILE)
        if discriminator_states:
            d_tensors = {f"d{i}.{k}": v for i, state in enumerate(discriminator_states)
                         for k, v in _cpu_tensors(state).items()}
            write_safetensors(d_tensors, tmp / DISCRIMINATORS_FILE)
        bundle_encoder_files(encoder_identity, tmp / ENCODER_FILES_DIR)
        info = {"format": MODEL_FORMAT, "version": MODEL_FORMAT_VERSION, "model": to_dict(model_cfg),
                "encoder": encoder_identity, "metadata": metadata or {}}
        (tmp / MODEL_JSON).write_text(json.dumps(info, indent=2, sort_keys=True))
        for f in tmp.iterdir():  # on disk before the swap: a power cut leaves a whole folder
            fsync_path(f)
        fsync_path(tmp)
        check_model_target(directory)  # again: something may have appeared meanwhile
        _keep_user_files(directory, tmp)
        replace_dir(tmp, directory)


OWN_NAMES = (MODEL_JSON, GENERATOR_FILE, DISCRIMINATORS_FILE, ENCODER_FILES_DIR)


def _keep_user_files(directory: Path, tmp: Path) -> None:
    """What the user added to a model folder being replaced (notes, samples) goes into the new
    one: hard links (no copy, and the old names stay until the swap), else copies."""
    if not directory.is_dir():
        return
    for item in directory.iterdir():
        if item.name in OWN_NAMES or (tmp / item.name).exists():
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.copytree(item, tmp / item.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(item, tmp / item.name)


def _link_or_copy(src, dst) -> None:
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _cpu_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def read_model_info(directory: str | Path) -> ModelInfo:
    """gtgan_model.json of a model folder, checked (the weights are not read)."""
    directory = Path(directory)
    info_path = directory / MODEL_JSON
    if not info_path.exists():
        raise CheckpointError(f"{directory}: not a gtgan model folder (no {MODEL_JSON}); give a "
                              "folder written by save_pretrained, by training (RUN_DIR/model), or by "
                              "`gtgan import-stackgan-v2`")
    try:
        info = read_json(info_path)
    except FileFormatError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        checked_format(info, str(info_path), MODEL_FORMAT, MODEL_FORMAT_VERSION, "gtgan model folder")
    except FileFormatError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        # a folder written before a model field came in holds the field's earlier value
        cfg = from_dict(ModelConfig, with_earlier_values(ModelConfig, info["model"], 1, "model")[0],
                        "model")
        cfg.validate()
    except (ConfigError, KeyError) as exc:
        raise CheckpointError(f"{info_path}: bad model config: {exc}") from None
    return ModelInfo(directory, cfg, _upgrade_identity(info.get("encoder", {})), info.get("metadata", {}))


def _upgrade_identity(identity: dict) -> dict:
    """Folders imported before the importer named its encoder say name "" for char-CNN-RNN;
    the vectors are the same ones the encoder now names in full."""
    if isinstance(identity, dict) and identity.get("kind") == CharCnnRnnEncoder.kind \
            and not identity.get("name"):
        return {**identity, "name": CharCnnRnnEncoder.NAME}
    return identity


def load_model(directory: str | Path) -> tuple[ModelConfig, dict[str, torch.Tensor], dict, dict]:
    """(model config, generator state dict, encoder identity, metadata) from a model folder."""
    info = read_model_info(directory)
    if not info.generator_file.exists():
        raise CheckpointError(f"{info.path}: {GENERATOR_FILE} is missing")
    return info.model_config, read_safetensors(info.generator_file), info.encoder_identity, info.metadata


def load_discriminator_states(info: ModelInfo) -> list[dict[str, torch.Tensor]] | None:
    """The folder's discriminators (one state dict per scale), or None when it has none."""
    if not info.discriminators_file.exists():
        return None
    states: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in read_safetensors(info.discriminators_file).items():
        head, _, rest = key.partition(".")
        if not (head.startswith("d") and head[1:].isdigit() and rest):
            raise CheckpointError(f"{info.discriminators_file}: unexpected key {shown(key)} "
                                  "(expected d<scale>.<parameter>)")
        states.setdefault(int(head[1:]), {})[rest] = value
    if sorted(states) != list(range(len(states))):
        raise CheckpointError(f"{info.discriminators_file}: scales {sorted(states)}, expected 0..n-1")
    return [states[i] for i in range(len(states))]
