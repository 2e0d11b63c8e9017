"""Device choice, mixed precision, seeding and determinism: the run's execution settings."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from ..config import ConfigError, RunSettings


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; under torchrun each process takes cuda:LOCAL_RANK."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"run.device = {name!r}: not a device; "
                          "use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"run.device = {name!r}: CUDA is not available here; "
                              "use run.device=cpu or auto")
        if device.index is None:
            index = local_rank if local_rank is not None else torch.cuda.current_device()
            device = torch.device("cuda", index)
        if device.index >= torch.cuda.device_count():
            raise ConfigError(f"run.device = {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ConfigError(f"run.device = {name!r}: MPS is not available here; use run.device=cpu or auto")
    elif device.type != "cpu":
        raise ConfigError(f"run.device = {name!r}: unsupported; use auto, cpu, cuda, cuda:N or mps")
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `run.precision` on `device`, or None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type not in ("cuda", "mps"):
            raise ConfigError(f"run.precision = 'fp16' needs a CUDA (or MPS) device, not {device.type}; "
                              "use run.precision=bf16 on CPUs")
        return torch.float16
    raise ConfigError(f"run.precision = {precision!r}: must be fp32, bf16 or fp16")


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context (a no-op for fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices). The step's own noise is seeded per step."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(run: RunSettings) -> None:
    """`run.deterministic`: deterministic kernels where torch has them, no cuDNN autotuning.

    warn_only: a few CUDA backward kernels have no deterministic form; torch warns about them
    instead of stopping the run. On CPU every op this model uses is deterministic.
    """
    if run.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.benchmark = True


def determinism_state() -> tuple:
    """The global determinism switches, to put back after a run (set_deterministic is global)."""
    return (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)


def restore_determinism(state: tuple) -> None:
    enabled, warn_only, cudnn_det, cudnn_bench = state
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn_det
    torch.backends.cudnn.benchmark = cudnn_bench


def rng_state() -> dict:
    """Global RNG states (Python, NumPy, torch CPU and CUDA) in a weights_only-loadable form."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_tuplify(state["python"]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x
