"""docs/config.md, written from the knobs (`gtgan config --explain`); a test keeps the file equal
to this text, so the reference cannot drift from the code."""
from __future__ import annotations

import typing
from typing import Any

from .knobs import knob_of, leaves
from .schema import CONFIG_VERSION, VERSIONS, RunConfig

HEADER = """# Config reference

Every field of a run's config (`config.yaml`, `gtgan config NAME`, `--set KEY=VALUE`): its
default (the `paper` preset's value), the values it takes, and the config version it came in
with. Written by `gtgan config --explain` from the fields' own definitions
(`gtgan/config/schema.py`); `tests/test_config.py` fails when this file and the code differ.

A config file records the version it was written in (`config_version`, {version} now). A whole
config of an earlier version, e.g. a run folder's `config.yaml` written by an earlier gtgan
(those from before the key count as version 1), lacks the fields that came in since: they take
the value in the column *before*, which keeps what that config did (often not today's
default), and a notice names them. `gtgan config OLD.yaml > NEW.yaml` writes it out in the
current version. A file of a later version, or with a field this gtgan does not know, is
refused, naming the file and the field.
"""


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, str):
        return f"`{v}`" if v else "`''`"
    if isinstance(v, list):
        return "`[" + ", ".join(str(x) for x in v) + "]`"
    return f"`{v!r}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def _get(cfg: Any, name: str) -> Any:
    for part in name.split("."):
        cfg = getattr(cfg, part)
    return cfg


def explain() -> str:
    """The markdown reference of every field (docs/config.md): a table per section."""
    hints = typing.get_type_hints(RunConfig)
    sections: dict[str, list] = {}
    for n, f in leaves(RunConfig):
        sections.setdefault(n.split(".")[0] if "." in n else "", []).append((n, f))
    parts, default = [HEADER.format(version=CONFIG_VERSION)], RunConfig()
    for section, rows in sections.items():
        doc = " ".join((hints[section].__doc__ or "").split()) if section else "The run's name."
        parts += [f"## {section or 'name'}\n\n{doc}\n",
                  "| field | default | allowed | since | before | what |\n|---|---|---|---|---|---|"]
        for n, f in rows:
            k = knob_of(f, n)
            before = _value(k.before) if k.added > 1 else ""
            parts.append(f"| `{n}` | {_value(_get(default, n))} | "
                         f"{_cell(k.rule.why.removeprefix('must be '))} | {k.added} | {before} | "
                         f"{_cell(k.doc)} |")
        parts.append("")
    parts.append("## Versions\n\n| version | came in | fields |\n|---|---|---|")
    parts.extend(f"| {v} | {when} | {count} |" for v, (when, count) in sorted(VERSIONS.items()))
    return "\n".join(parts) + "\n"
