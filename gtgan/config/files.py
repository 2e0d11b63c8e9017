"""Configs to and from YAML, `--set` overrides, and the reading of configs older than the code.

A RunConfig's YAML records `config_version`. A whole config of an earlier version (every field
of its version present; files from before the key are version 1) lacks the fields added since:
they take the values their knobs record as `before` (what the code did without them), and a
GtganWarning names them. A file from a later version, or with a field this code does not know,
is refused naming the file and the field.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import typing
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import GtganWarning
from ..fileio import FileFormatError, atomic_write_text, cut, load_yaml_text, read_yaml, shown
from .knobs import ConfigError, join, knob_of, leaves
from .schema import CONFIG_VERSION, RunConfig

VERSION_KEY = "config_version"


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
        names_shown = cut(", ".join(join(where, str(u)) for u in unknown[:8]), 300)
        raise ConfigError(f"unknown config key(s) {names_shown}; "
                          f"known: {', '.join(sorted(names))}")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints[key], value, join(where, key))
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """`value` as type `tp` where YAML or --set gave it another spelling (a number as text, a
    list as "1,2"); ranges and choices are the knobs' rules, checked by validate()."""
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


def config_text(cfg: Any) -> str:
    """The YAML of a config; a RunConfig's starts with the config version it was written in."""
    data = to_dict(cfg)
    if isinstance(cfg, RunConfig):
        data = {VERSION_KEY: CONFIG_VERSION, **data}
    return yaml.safe_dump(data, sort_keys=False)


def save_yaml(cfg: Any, path: str | Path) -> None:
    """Atomic and fsynced: a run's config.yaml is what its resume trusts."""
    atomic_write_text(path, config_text(cfg), durable=True)


def missing_keys(cls: type, data: Any, where: str = "", version: int = CONFIG_VERSION) -> list[str]:
    """Dotted names of the fields of dataclass `cls`, as of config `version`, that `data` (a
    parsed YAML mapping) lacks."""
    return [name for name, f in leaves(cls, where)
            if knob_added(f, name) <= version and not _has(data, name, where)]


def knob_added(f: dataclasses.Field, name: str) -> int:
    return knob_of(f, name).added if "knob" in f.metadata else 1


def _has(data: Any, name: str, where: str) -> bool:
    parts = name[len(where) + 1:].split(".") if where else name.split(".")
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def with_earlier_values(cls: type, data: dict, version: int,
                        where: str = "") -> tuple[dict, list[str]]:
    """A copy of `data`, a whole config of `version`, in which each field added after that
    version that it lacks holds its knob's `before` value; and the dotted names filled."""
    out, filled = copy.deepcopy(data), []
    for name, f in leaves(cls, where):
        if knob_added(f, name) > version and not _has(out, name, where):
            node = out
            for part in (name[len(where) + 1:] if where else name).split(".")[:-1]:
                node = node.setdefault(part, {}) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node[f.name] = copy.deepcopy(knob_of(f, name).before)
                filled.append(name)
    return out, filled


def earlier_values_line(source: str, version: int, filled: list[str], values: Any) -> str:
    """The one line that says which fields an older config was given."""
    shown_values = ", ".join(f"{n}={shown(_get(values, n))}" for n in filled)
    return (f"{source}: written by an earlier gtgan (config version {version}); {len(filled)} "
            f"field(s) it lacks came in later and take the values that keep what it did: "
            f"{shown_values}")


def _get(data: Any, name: str) -> Any:
    for part in name.split("."):
        data = data[part]
    return data


def file_version(data: Any, path: Path) -> int:
    """The config version a file records (taken out of `data`); 1 for files without one."""
    if not isinstance(data, dict) or VERSION_KEY not in data:
        return 1
    version = data.pop(VERSION_KEY)
    if type(version) is not int or version < 1:
        raise ConfigError(f"{path}: {VERSION_KEY} = {shown(version)}: must be an integer in "
                          f"[1, {CONFIG_VERSION}]")
    if version > CONFIG_VERSION:
        raise ConfigError(f"{path}: {VERSION_KEY} = {version}: written by a later gtgan (this one "
                          f"reads versions up to {CONFIG_VERSION}); upgrade gtgan to read it")
    return version


def load_run_config(path: str | Path, complete: bool = False) -> RunConfig:
    """A RunConfig from YAML. A whole config of an earlier version gets the fields added since
    at the values that keep what it did (a GtganWarning names them). A partial file's missing
    fields take today's defaults, unless `complete` (a run folder's own config.yaml, written
    whole: a missing field means the file was damaged)."""
    path = Path(path)
    try:
        data = read_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except FileFormatError as exc:
        raise ConfigError(str(exc)) from None
    version = file_version(data, path)
    gone = missing_keys(RunConfig, data, version=version)
    if complete and (data is None or gone):
        what = "is empty" if data is None else (
            f"lacks {len(gone)} field(s) ({', '.join(gone[:4])}{', ...' if len(gone) > 4 else ''})")
        raise ConfigError(f"{path}: {what}; it is damaged (cut short?), and defaults are never "
                          "assumed for a run: restore it (e.g. from a copy) before resuming")
    filled: list[str] = []
    if data is not None and not gone:
        data, filled = with_earlier_values(RunConfig, data, version)
    try:
        cfg = from_dict(RunConfig, data or {})
        cfg.validate()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if filled:
        warnings.warn(GtganWarning(earlier_values_line(str(path), version, filled, data)),
                      stacklevel=2)
    return cfg


def config_json(cfg: Any) -> str:
    return json.dumps(to_dict(cfg), sort_keys=True)
