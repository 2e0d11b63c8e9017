"""The data kinds `data.kind` chooses from, each named once, in its own module.

A kind registers a `DataKind` with `register_data_kind`: how to build a split, how to check a
run's data before any expensive work, how `gtgan data inspect` reports on it, whether it needs
`data.root`, how a root is recognised as this kind. Everything else (building data sets, the
start checks, `gtgan data inspect`, `gtgan data kinds`, `gtgan encoder train KIND:PATH`,
the DAMSM config, data identities) asks this registry, so a new data set is a new module and
its import in `gtgan/data/__init__.py` (which every use of the package runs first). This module
imports nothing of its package, and nothing happens on a lookup. (`gtgan.config` is below the
data layer, so it checks only that data.kind is a name; the registry refuses an unknown one
when the data is checked or built, as the encoder registry does for data.encoder.kind.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError

_KINDS: dict[str, "DataKind"] = {}


@dataclass(frozen=True)
class DataKind:
    """One data kind. The callables take the `DataConfig` (data_cfg) of the run or of the
    command; `split` is a split's name ("train", "test" or the config's own)."""

    name: str  # the value of data.kind
    title: str  # one line for `gtgan data kinds` and reports
    # (data_cfg, split, encoder, image_sizes, train, seed) -> the data set (base.py's items)
    build: Callable[..., Any]
    # (data_cfg, split) -> None: the split's files are there; nothing decoded or encoded
    check: Callable[[Any, str], None]
    # (data_cfg, out, examples, verify) -> checks.InspectReport
    inspect: Callable[..., Any]
    needs_root: bool = True
    # root -> whether it looks like this kind (`gtgan data inspect ROOT`, `encoder train ROOT`)
    detect: Callable[[Path], bool] | None = None
    catch_all: bool = False  # the kind of a root no other kind recognises
    # the DataConfig field that `gtgan encoder train KIND:VALUE` sets
    spec_field: str = "root"
    # DataConfig fields besides root that say which data this is (identities, summaries)
    defining_fields: tuple[str, ...] = ()
    encoder_preset: str = "attngan"  # the default DAMSM preset of `gtgan encoder train`
    layout: Any = None  # the StackGAN layout (cub_files.StackGanLayout) of such kinds
    # its data sets' `contradicts` can tell which pictures contradict a caption
    # (data.hard_negatives needs it)
    knows_caption_contents: bool = False


def register_data_kind(kind: DataKind) -> DataKind:
    known = _KINDS.get(kind.name)
    if known is not None and known != kind:
        raise TypeError(f"data kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def data_kinds() -> dict[str, DataKind]:
    """name -> DataKind of every registered kind, by name."""
    return dict(sorted(_KINDS.items()))


def known_data_kinds() -> tuple[str, ...]:
    return tuple(data_kinds())


def data_kind(name: str, what: str = "data.kind") -> DataKind:
    """The kind called `name`; an unknown one is an error that lists the known ones."""
    kind = _KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise DataError(f"{what} = {name!r}: must be one of {', '.join(known_data_kinds())}")
    return kind


def detect_kind(root: str | Path) -> str:
    """The kind a data root looks like: the one kind that recognises it, else the catch-all."""
    root = Path(root).expanduser()
    kinds = data_kinds().values()
    for kind in kinds:
        if kind.detect is not None and kind.detect(root):
            return kind.name
    return next(k.name for k in kinds if k.catch_all)
