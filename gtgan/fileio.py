"""Atomic writes and file hashes shared by every area: a crash never leaves a half file."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import reprlib
import tempfile
from pathlib import Path
from typing import Any

from .errors import GtganError


class OutputPathError(GtganError):
    """An output path cannot be written as given (folder, extension, size); says which."""


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask is racy)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: str | Path) -> None:
    """Give a file (or folder) the mode that open() (or mkdir) would have given it under the
    umask: for writers that create with 0600 (mkstemp, mkdtemp, safetensors' save_file)."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


def fsync_path(path: str | Path) -> None:
    """fsync a file or a directory (directories: so a rename inside it is durable)."""
    path = Path(path)
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes, durable: bool = False) -> None:
    """Write to a temporary file in the same folder, then os.replace: never a half file.
    `durable`: fsync the file and its folder, so the new content survives a power cut too
    (files a resumed run depends on). An OSError names `path`, not the temporary file."""
    path = Path(path)
    try:
        _atomic_write_bytes(path, data, durable)
    except OSError as exc:
        if exc.errno is None or exc.filename == str(path):
            raise
        raise type(exc)(exc.errno, exc.strerror, str(path)) from exc


def _atomic_write_bytes(path: Path, data: bytes, durable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # `.NAME.tmp-PID-XXXX`: a kill leaves a name that `sweep_staging_leftovers` can judge.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; others may need to read it
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_path(path.parent)


_OS_ERROR_TEXT = re.compile(r"os error (\d+)")  # how Rust (safetensors) reports an OS error


def os_errno(exc: BaseException) -> int | None:
    """The OS error number behind `exc`: an OSError's, or one a library reports only in its text
    (safetensors: "... No space left on device (os error 28)")."""
    if isinstance(exc, OSError):
        return exc.errno
    m = _OS_ERROR_TEXT.search(str(exc))
    return int(m[1]) if m else None


@contextlib.contextmanager
def naming(path: str | Path):
    """Writes inside this block that fail for an OS reason (full disk, quota, read-only, ...)
    raise an OSError naming `path` (the file or folder the user knows, not a staging file), so
    the CLI says one line and exits 2 instead of calling it a bug."""
    try:
        yield
    except Exception as exc:
        code = os_errno(exc)
        if code is None or (isinstance(exc, OSError) and exc.filename == str(path)):
            raise
        raise OSError(code, os.strerror(code), str(path)) from exc


def atomic_write_text(path: str | Path, text: str, durable: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_write_json(path: str | Path, obj: Any, durable: bool = False) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n", durable)


# The formats an image output may name, with the largest side each can hold.
IMAGE_OUTPUTS = {".png": ("PNG", 2**31 - 1), ".jpg": ("JPEG", 65535), ".jpeg": ("JPEG", 65535),
                 ".webp": ("WEBP", 16383), ".bmp": ("BMP", 2**31 - 1), ".tif": ("TIFF", 2**31 - 1),
                 ".tiff": ("TIFF", 2**31 - 1)}


def image_format(path: str | Path) -> tuple[str, int]:
    """(Pillow format, largest side) for an output file by its suffix (PNG when it has none);
    an unknown suffix is the user's error, named with the ones that work."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return IMAGE_OUTPUTS[".png"]
    if suffix not in IMAGE_OUTPUTS:
        raise OutputPathError(f"{path}: unknown image extension {suffix}, use "
                              f"{'/'.join(IMAGE_OUTPUTS)}")
    return IMAGE_OUTPUTS[suffix]


def atomic_save_image(path: str | Path, img) -> None:
    """A PIL image in the format its suffix names (PNG when there is none)."""
    fmt, side = image_format(path)
    if max(img.size) > side:
        raise OutputPathError(f"{path}: a {img.size[0]} x {img.size[1]} px picture is too large "
                              f"for {fmt} (at most {side:,} px a side); write a .png")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    atomic_write_bytes(path, buf.getvalue())


def default_cache_dir() -> Path:
    """gtgan's one cache folder (embeddings, FID reference statistics, attribute judges):
    $GTGAN_CACHE_DIR, else $XDG_CACHE_HOME/gtgan, else ~/.cache/gtgan."""
    env = os.environ.get("GTGAN_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gtgan"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- bounded reading and showing
class FileFormatError(GtganError):
    """A YAML or JSON input is malformed or past a bound (size, nesting, alias expansion)."""


MAX_SHOWN = 120          # characters of a user's value an error message shows
MAX_MESSAGE = 2000       # characters of a whole one-line error
MAX_TEXT_BYTES = 1 << 20  # a config file, a --set value, a small JSON record
MAX_DEPTH = 64           # nesting of mappings and lists
MAX_NODES = 100_000      # YAML nodes counted with every alias expanded ("billion laughs")

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple = 3, 6, 6, 6
_REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = _REPR.maxarray = 6
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = MAX_SHOWN


def cut(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` with its middle replaced by '...' past `limit` characters: both ends stay."""
    if len(text) <= limit:
        return text
    half = max(1, (limit - 5) // 2)
    return f"{text[:half]} ... {text[-half:]}"


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """repr(value) cut to `limit` characters, computed in bounded time and memory whatever the
    value (a shared-reference structure from YAML aliases has an exponential full repr). The one
    way a user's value reaches an error message."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a hostile __repr__ must not replace the error being reported
        text = f"<{type(value).__name__}>"
    return cut(text, limit)


def _read_bounded(path: Path, max_bytes: int) -> str:
    """The UTF-8 text of `path`, refused past `max_bytes` before it is read whole."""
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise FileFormatError(f"{path}: larger than {max_bytes:,} bytes; not read")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses nesting past MAX_DEPTH while composing (before Python's
        recursion limit can be reached)."""
        depth = 0

        def compose_node(self, parent, index):
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise FileFormatError(f"nested deeper than {MAX_DEPTH} levels")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1
    return yaml, Loader


def _count_expanded(node) -> None:
    """Count the YAML node graph as its Python value would be walked (aliases expanded), and stop
    at MAX_NODES: a 400-byte "billion laughs" names 10^9 strings."""
    count, stack = 0, [node]
    while stack:
        n = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise FileFormatError(f"expands to more than {MAX_NODES:,} values (YAML aliases); "
                                  f"write the values out")
        if isinstance(n.value, list):
            for item in n.value:
                stack.extend(item if isinstance(item, tuple) else (item,))


def load_yaml_text(text: str, where: str, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """Safe YAML (no code, no arbitrary objects) with bounds on size, nesting and alias
    expansion; every failure is one FileFormatError naming `where`."""
    if len(text) > max_bytes:
        raise FileFormatError(f"{where}: larger than {max_bytes:,} bytes; not read")
    yaml, Loader = _yaml_loader()
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_expanded(node)
        return loader.construct_document(node)
    except FileFormatError as exc:
        raise FileFormatError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise FileFormatError(f"{where}: not valid YAML ({cut(first, 200)})") from None
    except RecursionError:
        raise FileFormatError(f"{where}: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise FileFormatError(f"{where}: {cut(str(exc), 200)}") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """`load_yaml_text` of a file; OSError (missing, unreadable) passes through to the caller."""
    path = Path(path)
    return load_yaml_text(_read_bounded(path, max_bytes), str(path), max_bytes)


def _json_depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            return False
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return True


def load_json_text(text: str, where: str, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """json.loads with bounds on size and nesting; every failure is one FileFormatError naming
    `where` (never RecursionError)."""
    if len(text) > max_bytes:
        raise FileFormatError(f"{where}: larger than {max_bytes:,} bytes; not read")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} "
                              f"column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise FileFormatError(f"{where}: {cut(str(exc), 200)}") from None
    except RecursionError:
        value = None
        ok = False
    else:
        ok = _json_depth_ok(value)
    if not ok:
        raise FileFormatError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    return value


def read_json(path: str | Path, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """`load_json_text` of a file; OSError (missing, unreadable) passes through to the caller."""
    path = Path(path)
    return load_json_text(_read_bounded(path, max_bytes), str(path), max_bytes)


def format_version(data: dict, where: str) -> int:
    """The whole number at data["version"] (0 when absent); any other value is one line."""
    version = data.get("version", 0)
    if type(version) is not int or version < 0:
        raise FileFormatError(f"{where}: version = {shown(version)}: expected a whole number")
    return version


def checked_format(data: Any, where: str, fmt: str, newest: int, what: str) -> int:
    """The version of a gtgan JSON description whose "format" must be `fmt` and whose version
    this gtgan reads (at most `newest`); anything else is one FileFormatError line."""
    if not isinstance(data, dict) or data.get("format") != fmt:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise FileFormatError(f"{where}: not a {what} (format is {shown(got)}, expected {fmt!r})")
    version = format_version(data, where)
    if version > newest:
        raise FileFormatError(f"{where}: written by a newer gtgan (format version {version}); "
                              "upgrade gtgan")
    return version


def load_torch_weights(path: str | Path) -> Any:
    """torch.load(weights_only=True) of a plain weights file: a file holding code or objects is
    refused, never run, in one FileFormatError line that names it (not PyTorch's paragraph,
    which suggests loading it again unsafely). OSError passes through."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:
        text = str(exc)
        if not (isinstance(exc, pickle.UnpicklingError) and text.startswith("Weights only")):
            first = (text.strip().splitlines() or [""])[0]  # truncated, another format
            raise FileFormatError(f"{path}: not a PyTorch weights file ({type(exc).__name__}: "
                                  f"{cut(first, 160)})") from None
        why = _refusal_reason(text)
        if "GLOBAL" in why:  # an object or a callable: what an attack needs
            raise FileFormatError(f"{path}: holds Python objects, not only tensors "
                                  f"({cut(why, 160)}); refused: nothing in it was run") from None
        raise FileFormatError(f"{path}: not a PyTorch weights file ({cut(why, 160)}); "
                              "refused: nothing in it was run") from None


def _refusal_reason(text: str) -> str:
    """The line of torch's weights-only refusal that says what was refused, without its advice
    (which is to load the file again unsafely)."""
    skip = ("Weights only load failed", "Check the documentation", "Please file an issue")
    for line in text.splitlines():
        line = line.split("WeightsUnpickler error:", 1)[-1].strip()
        if line and not line.startswith(skip):
            return line
    return "refused by the weights-only reader"
