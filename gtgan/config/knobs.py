"""A config field states everything about itself in one place: `knob(default, doc, rule...)`.

The rule (a range, a choice set or a kind of text), the one-line doc, and, for a field added
after the first config version, the version it came in and the value that reproduces the
behaviour from before it, all sit in the dataclass field's metadata. Validation
(`check_fields`), the reference in docs/config.md (`gtgan config --explain`) and the loading of
older config files read them from there.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import GtganError
from ..fileio import shown


class ConfigError(GtganError, ValueError):
    """A config file, field or value is wrong; the message names which."""


MAX_SEED = 2**63 - 1  # torch and numpy seeds are 64-bit; offsets (seed + 1, ...) stay in uint64


@dataclass(frozen=True)
class Rule:
    """What values a field takes: `ok(value)`, the refusal's wording, and one value it refuses
    (the tests try it on every field)."""

    ok: Callable[[Any], bool]
    why: str  # "must be ..."
    refused: Any


@dataclass(frozen=True)
class Knob:
    """A field's metadata (under the key "knob")."""

    doc: str
    rule: Rule
    added: int = 1  # the config version the field came in
    before: Any = None  # its value for a config of an earlier version (the old behaviour)


def _fmt(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def number(kind: type, at_least: float | None = None, above: float | None = None,
           at_most: float | None = None, below: float | None = None,
           multiple_of: int | None = None) -> Rule:
    """An int (or a finite float) within the bounds given; ints optionally a multiple of n."""
    lo, lo_open = (above, True) if above is not None else (at_least, False)
    hi, hi_open = (below, True) if below is not None else (at_most, False)
    if lo is None and hi is None:
        raise TypeError("a number rule needs a bound")

    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float) if kind is float else int):
            return False
        if kind is float and not math.isfinite(v):
            return False
        if multiple_of and v % multiple_of:
            return False
        return ((lo is None or (v > lo if lo_open else v >= lo))
                and (hi is None or (v < hi if hi_open else v <= hi)))
    if lo is not None and hi is not None:
        text = f"in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"
    elif lo is not None:
        text = f"{'>' if lo_open else '>='} {_fmt(lo)}"
    else:
        text = f"{'<' if hi_open else '<='} {_fmt(hi)}"
    what = "an integer" if kind is int else "a finite number"
    also = f", a multiple of {multiple_of}" if multiple_of else ""
    refused = kind(lo - 1) if lo is not None else kind(hi + 1)
    return Rule(ok, f"must be {what} {text}{also}", refused)


def one_of(*values: Any) -> Rule:
    """Exactly one of `values`, type included (1 is not true, "1" is not 1)."""
    shown_values = ", ".join(str(a).lower() if isinstance(a, bool) else str(a) for a in values)
    ints = [a for a in values if type(a) is int]
    refused = max(ints) + 1 if ints else "x" * (1 + max((len(a) for a in values
                                                          if isinstance(a, str)), default=0))
    return Rule(lambda v: any(type(v) is type(a) and v == a for a in values),
                f"must be one of {shown_values}", refused)


BOOL = Rule(lambda v: isinstance(v, bool), "must be true or false", "yes")
TEXT = Rule(lambda v: isinstance(v, str), "must be text", 3)
NAME = Rule(lambda v: isinstance(v, str) and bool(v.strip()) and "\n" not in v,
            "must be a non-empty single-line text", "")
SEED = number(int, at_least=0, at_most=MAX_SEED)


def stage_list(first: int, distinct: bool = False) -> Rule:
    """A list of stages `first`..3 (refinement stages when first is 2)."""
    def ok(v: Any) -> bool:
        return (isinstance(v, list) and all(type(s) is int and first <= s <= 3 for s in v)
                and (not distinct or len(v) == len(set(v))))
    stages = "refinement stages (2 or 3)" if first == 2 else "stages (1, 2 or 3)"
    return Rule(ok, f"must be a list of {'distinct ' if distinct else ''}{stages}",
                [first, first] if distinct else [first - 1])


_UNSET = object()


def knob(default: Any, doc: str, *, choices: tuple | None = None, rule: Rule | None = None,
         at_least: float | None = None, above: float | None = None,
         at_most: float | None = None, below: float | None = None,
         multiple_of: int | None = None, added: int = 1, before: Any = _UNSET) -> Any:
    """A dataclass field that carries its doc and rule, and (for a field added after config
    version 1) the version it came in with the value that reproduces the behaviour before it.

    The rule is `choices`, a number's bounds (its kind follows the default: int or float),
    `rule` (text, lists), or, for a bool default, true or false."""
    bounds = dict(at_least=at_least, above=above, at_most=at_most, below=below,
                  multiple_of=multiple_of)
    if choices is not None:
        rule = one_of(*choices)
    elif any(b is not None for b in bounds.values()):
        rule = number(type(default), **bounds)
    elif rule is None and isinstance(default, bool):
        rule = BOOL
    if rule is None:
        raise TypeError(f"knob({default!r}): state its rule (choices, bounds or rule=)")
    if added > 1 and before is _UNSET:
        raise TypeError(f"knob({default!r}, added={added}): state the value from before it (before=)")
    meta = {"knob": Knob(" ".join(doc.split()), rule, added, None if before is _UNSET else before)}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def leaves(cls: type, where: str = "") -> Iterator[tuple[str, dataclasses.Field]]:
    """(dotted name, field) of every leaf field under dataclass `cls`, in order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from leaves(hints[f.name], join(where, f.name))
        else:
            yield join(where, f.name), f


def knob_of(f: dataclasses.Field, where: str) -> Knob:
    k = f.metadata.get("knob")
    if k is None:
        raise TypeError(f"{where}: a config field without knob(...) (no rule or doc)")
    return k


def check(ok: bool, name: str, value: Any, why: str) -> None:
    if not ok:
        raise ConfigError(f"{name} = {shown(value)}: {why}")


def check_fields(obj: Any, prefix: str = "") -> None:
    """Every leaf field of dataclass `obj` against its knob's rule."""
    for f in dataclasses.fields(obj):
        value, where = getattr(obj, f.name), join(prefix, f.name)
        if dataclasses.is_dataclass(value):
            check_fields(value, where)
            continue
        rule = knob_of(f, where).rule
        check(rule.ok(value), where, value, rule.why)
