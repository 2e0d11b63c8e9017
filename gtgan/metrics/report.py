"""The evaluation report as files: the JSON as measured and a Markdown page whose rows each
metric writes for itself (Metric.report_rows / report_sections / weights_line)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import GtganError
from ..fileio import FileFormatError, atomic_write_text, read_json
from .registry import metric_classes


def fmt(x: Any, digits: int = 4) -> str:
    """A number for a report cell: fixed digits, "-" for missing or NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def table_row(label: str, size, mean: str, std: str, n, note: str) -> str:
    """One row of the report's table: | metric | scale | mean | std | N | note |."""
    return f"| {label} | {size} | {mean} | {std} | {n} | {note} |"


def not_comparable_note(report: dict[str, Any]) -> str:
    """Appended to the names of metrics whose networks make numbers incomparable."""
    return " (NOT COMPARABLE)" if report.get("labels") else ""


def report_markdown(report: dict[str, Any]) -> str:
    metrics = metric_classes()
    lines = [f"# gtgan evaluation: {report.get('model', {}).get('path', '')}", ""]
    if report.get("labels"):
        lines += [f"**{label}** (every number below)" for label in report["labels"]] + [""]
    if report.get("warnings"):
        lines += [f"**Warning:** {text}" for text in report["warnings"]] + [""]
    lines += [f"split `{report.get('split')}`, seed {report.get('seed')}, {report.get('samples')} "
              f"samples ({report.get('rounds')} round(s) over the captions), gtgan "
              f"{report.get('gtgan_version')}", ""]
    lines += ["| metric | scale | mean | std | N | note |", "|---|---|---|---|---|---|"]
    for size, res in report["results"].items():
        for name, cls in metrics.items():
            if name in res:
                lines += cls.report_rows(size, res[name], report)
    present = {name for res in report["results"].values() for name in res}
    for name, cls in metrics.items():
        if name in present:
            lines += cls.report_sections(report)
    lines += ["", "## Weights", ""]
    for key, w in report.get("weights", {}).items():
        own = [line for cls in metrics.values() if (line := cls.weights_line(key, w)) is not None]
        lines.append(own[0] if own else f"- {key}: {w.get('description')}; sha256 {w.get('sha256')}; "
                                        f"file {w.get('file', '-')}")
    model = report.get("model", {})
    lines.append(f"- generator: {model.get('path')} (generator.safetensors sha256 "
                 f"{model.get('generator_sha256')})")
    lines += ["", "## Settings", "", f"- protocol: {report.get('protocol', '')}"]
    for name, s in report.get("settings", {}).items():
        flat = {k: v for k, v in s.items() if k != "reference"}
        lines.append(f"- {name}: " + "; ".join(f"{k} = {json.dumps(v) if not isinstance(v, str) else v}"
                                               for k, v in flat.items()))
    lines += ["", "## Packages", "", "- " + ", ".join(f"{k} {v}" for k, v in report.get("packages", {}).items()), ""]
    return "\n".join(lines)


def _report_paths(out: str | Path) -> tuple[Path, Path]:
    out = Path(out)
    return out, out.with_suffix(".md") if out.suffix != ".md" else out.with_name(out.name + ".md")


def _is_report(path: Path) -> bool:
    """A file an earlier `write_report` wrote (JSON with results, or its Markdown page)."""
    try:
        if path.suffix == ".md":
            return path.read_text(encoding="utf-8").startswith("# gtgan evaluation:")
        data = read_json(path)
        return isinstance(data, dict) and "results" in data
    except (OSError, FileFormatError):
        return False


def check_report_target(out: str | Path) -> None:
    """Refuse, before any work, a report path (or the .md beside it) that holds anything but an
    earlier report: a report replaces a report, never a user's file or folder."""
    for path in _report_paths(out):
        if path.is_dir() or (path.exists() and not _is_report(path)):
            what = "a folder" if path.is_dir() else "a file that is not a gtgan evaluation report"
            raise GtganError(f"{path}: is {what}; nothing was written: choose another --out")


def write_report(report: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """FILE (JSON) and FILE with suffix .md beside it, each written atomically; only over an
    earlier report (check_report_target)."""
    check_report_target(out)
    out, md = _report_paths(out)
    atomic_write_text(out, json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    atomic_write_text(md, report_markdown(report))
    return out, md
