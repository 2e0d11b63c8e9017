"""Cheap checks of the CLI's arguments, done before any heavy import or work: output paths
(folder, file, extension, writable, length), seeds and counts. Each failure is one line that
names the argument or path; OS errors that still happen later are turned into one line by
`os_error_text` (main's handler)."""
from __future__ import annotations

import errno
import os
from pathlib import Path

from ..config import MAX_SEED
from ..errors import GtganError
from ..fileio import OutputPathError, image_format

NAME_MAX = 255  # bytes per path component on Linux, macOS and Windows file systems
PATH_MAX = 4095

_OS_HINTS = {
    errno.ENOSPC: "no space left on the device: free some space or write somewhere else",
    errno.EDQUOT: "disk quota exceeded: free some space or write somewhere else",
    errno.EACCES: "permission denied: choose a place you can write to, or fix its permissions",
    errno.EPERM: "operation not permitted: choose a place you can write to, or fix its permissions",
    errno.EROFS: "read-only file system: write somewhere else",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of this path is a file, not a folder",
    errno.ENAMETOOLONG: f"name too long (at most {NAME_MAX} bytes a name)",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.EIO: "input/output error: the disk or network file system failed",
}


def os_error_text(exc: OSError) -> str:
    """One line for an OSError: the path(s) it names, then what it means for the user."""
    what = _OS_HINTS.get(exc.errno) or exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return f"{what} ({type(exc).__name__}: {exc})"
    paths = os.fsdecode(exc.filename) + ("" if exc.filename2 is None
                                         else f" -> {os.fsdecode(exc.filename2)}")
    return f"{paths}: {what}"


def _check_length(path: Path, flag: str) -> None:
    raw = os.fsencode(str(path))
    if len(raw) > PATH_MAX:
        raise OutputPathError(f"{flag} {str(path)[:60]}...: path too long ({len(raw):,} bytes; "
                              f"at most {PATH_MAX:,})")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise OutputPathError(f"{flag} {path}: the name {part[:40]}... is too long "
                                  f"({len(os.fsencode(part))} bytes; at most {NAME_MAX})")


def _check_parent(folder: Path, flag: str, path: Path) -> None:
    """`folder` exists or can be made: no part of it is a file, and the nearest existing folder
    can be written. Makes nothing (see `make_folder`)."""
    at = folder
    while not at.exists() and at != at.parent:
        if at.is_symlink():  # a dangling link
            raise OutputPathError(f"{flag} {path}: {at} is a broken symbolic link")
        at = at.parent
    if not at.is_dir():
        raise OutputPathError(f"{flag} {path}: {at} is a file, not a folder")
    if not os.access(at, os.W_OK | os.X_OK):
        raise OutputPathError(f"{flag} {path}: no permission to write in {at}")


def make_folder(folder: Path) -> str | None:
    """Create a checked folder once the command is about to write; a line saying so, or None
    when it was there."""
    if folder.is_dir():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return f"created folder {folder}"


def say(note: str | None) -> None:
    if note:
        print(note)


def output_file(path: str, flag: str = "-o", image: bool = True, replace: bool = True) -> Path:
    """Check an output file before the work that fills it: not a folder, a known image
    extension (`image`), parents that are (or can be made) folders, writable; an existing file
    only with `replace` (the command's --force). Returns the path; nothing is created
    (`make_folder(path.parent)` when writing)."""
    p = Path(path).expanduser()
    if not str(path).strip():
        raise OutputPathError(f"{flag}: empty path; give a file name")
    _check_length(p, flag)
    if p.is_dir():
        raise OutputPathError(f"{flag} {path}: is a folder; give a file name, e.g. "
                              f"{p / ('out.png' if image else 'report.json')}")
    if image:
        image_format(p)
    if p.exists() and not replace:
        raise OutputPathError(f"{flag} {path}: already exists; add --force to replace it, or "
                              "choose another name")
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputPathError(f"{flag} {path}: no permission to replace this file")
    _check_parent(p.parent, flag, p)
    return p


def output_dir(path: str, flag: str, what: str = "the images") -> Path:
    """Check a folder that files will be written into (made later by `make_folder`)."""
    p = Path(path).expanduser()
    if not str(path).strip():
        raise OutputPathError(f"{flag}: empty path; give a folder")
    _check_length(p, flag)
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{flag} {path}: is a file, not a folder; give a folder for "
                              f"{what}")
    _check_parent(p, flag, p)
    return p


class ArgumentError(GtganError):
    """A command-line value is outside what the command accepts; says which and why."""


def check_seed(value: int | None, flag: str) -> None:
    if value is not None and not 0 <= value <= MAX_SEED:
        raise ArgumentError(f"{flag} {value}: a seed must be in [0, 2**63-1] (0 to {MAX_SEED:,})")


def check_count(value: int, flag: str, lo: int = 1) -> None:
    if value < lo:
        raise ArgumentError(f"{flag} {value}: must be at least {lo}")
