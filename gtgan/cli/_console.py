"""Notices on the console: every Python warning raised while a command runs is printed as one
`gtgan <command>: ...` line on stderr, not as `file:line: UserWarning` plus a source line (which
reads like a traceback fragment). Printed through tqdm so an open progress bar is redrawn below
the line instead of being broken by it."""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..errors import GtganWarning

_PACKAGE = str(Path(__file__).resolve().parents[1])


def notice_line(command: str, message, filename: str = "", category=UserWarning) -> str:
    """The line a warning becomes; one from outside gtgan (torch, PIL, ...) names its source."""
    text = " ".join(str(message).split())
    source = Path(filename or "")
    if filename and not issubclass(category, GtganWarning) \
            and not str(source.resolve()).startswith(_PACKAGE):
        parts = [p for p in source.parts if p not in ("", "/")]
        owner = next((parts[i + 1] for i, p in enumerate(parts[:-1])
                      if p in ("site-packages", "dist-packages")), source.stem)
        text = f"{text} (from {owner.removesuffix('.py')})"
    return f"gtgan {command}: {text}"


def _write(line: str, file) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(line, file=file)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        print(line, file=file)
    file.flush()


@contextmanager
def notices(command: str):
    """Within the block, warnings are `gtgan <command>: ...` lines (each distinct one once
    per place, Python's default)."""
    def show(message, category, filename, lineno, file=None, line=None):
        _write(notice_line(command, message, filename, category), file or sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
