"""Safe loading of the official Python-2 pickles (atomic writes are gtgan.fileio's)."""
from __future__ import annotations

import importlib
import pickle
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


