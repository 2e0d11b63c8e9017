"""Small file helpers: safe loading of the official Python-2 pickles, atomic writes."""
from __future__ import annotations

import importlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from ..errors import DataError

# The only globals the official StackGAN pickles (lists, ints, numpy arrays and scalars) need.
# Anything else is refused, so loading a pickle can never run code from it.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, f, path: Path):
        super().__init__(f, encoding="latin1")  # Python-2 str -> latin1 (numpy's raw bytes)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise DataError(f"{self.path}: refusing to load {module}.{name} from a pickle (only "
                            f"lists and numpy arrays are expected in a data file)")
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        return getattr(importlib.import_module(module), name)


def load_data_pickle(path: str | Path) -> Any:
    """A data pickle (Python 2 or 3) holding plain lists / numpy arrays; nothing else loads."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _DataUnpickler(f, path).load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except DataError:
        raise
    except Exception as exc:  # truncated or not a pickle at all
        raise DataError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc}); "
                        f"re-download the file") from None


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then os.replace: never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode("utf-8"))


def atomic_save_image(path: str | Path, img) -> None:
    import io

    buf = io.BytesIO()
    img.save(buf, format=(Path(path).suffix.lstrip(".").upper().replace("JPG", "JPEG") or "PNG"))
    atomic_write_bytes(path, buf.getvalue())
