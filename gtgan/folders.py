"""Whole folders replaced atomically (a model folder, a DAMSM folder): built in a hidden
staging folder beside the target, then swapped in, so a kill at any moment leaves the old or the
new folder; and the sweep of what killed writers left (`.NAME.tmp-PID-*`, `.NAME.old-PID`).
Single files: gtgan.fileio's atomic writes, whose temporary names the sweep also knows."""
from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

from .fileio import follow_umask, fsync_path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


STAGING = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)(?:-.*)?$")


def sweep_staging_leftovers(target: str | Path) -> None:
    """Clear `.NAME.tmp-PID-*` / `.NAME.old-PID` beside `target` (files or folders) left by
    killed writers: only those whose process is gone from this machine, so a concurrent writer
    is never disturbed (run folders are also locked: one writer each). A writer killed between
    its two renames left no `target`: its `.old` is put back, not deleted."""
    target = Path(target)
    if not target.parent.is_dir():
        return
    for p in sorted(target.parent.glob(f".{glob.escape(target.name)}.*")):
        m = STAGING.match(p.name)
        if m is None or m["name"] != target.name:
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        if m["kind"] == "old" and not os.path.lexists(target):
            os.replace(p, target)
        elif p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def sweep_leftovers(folder: str | Path) -> None:
    """`sweep_staging_leftovers` for every target in `folder` that has a leftover."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    names = {m["name"] for p in folder.iterdir() if (m := STAGING.match(p.name))}
    for name in sorted(names):
        sweep_staging_leftovers(folder / name)


def staging_dir(target: str | Path) -> Path:
    """An empty hidden folder beside `target` to build it in, then `replace_dir` it into place
    (permissions follow the umask, like a folder made with mkdir)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_staging_leftovers(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    follow_umask(tmp)  # mkdtemp makes 0700
    return tmp


def replace_dir(src: str | Path, dst: str | Path) -> None:
    """Move the finished folder `src` to `dst`, which must be missing or a folder the caller
    has judged replaceable (same kind of thing). The old one is renamed aside, `src` renamed
    in, the old one deleted: a kill at any moment leaves the old or the new folder at `dst`."""
    src, dst = Path(src), Path(dst)
    if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
        raise NotADirectoryError(f"{dst}: exists and is not a folder; not replaced")
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
    os.replace(src, dst)
    fsync_path(dst.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
        if old.exists():
            warnings.warn(f"{old}: the replaced folder could not be deleted; remove it by hand",
                          stacklevel=2)
