"""Reading weight files and putting them into modules, with messages that name the file.

Every weight file gtgan reads is safetensors (no code can run) or a plain state dict read with
torch.load(weights_only=True) (code or objects are refused, never run).
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import CheckpointError
from ..fileio import follow_umask, naming


def write_safetensors(tensors: dict[str, torch.Tensor], path: str | Path,
                      metadata: dict[str, str] | None = None) -> None:
    """safetensors' save_file, with the file's mode following the umask (it makes 0600, which
    would leave a model one user trained unreadable to the next)."""
    with naming(path):  # safetensors reports a full disk as a SafetensorError
        save_file(tensors, str(path), metadata=metadata)
    follow_umask(path)


def write_torch(obj, path: str | Path) -> None:
    """torch.save (for weights_only loading) through a Python file: an OS error (a full disk)
    arrives as that OSError, not as torch's "unexpected pos" RuntimeError."""
    with naming(path), open(path, "wb") as f:
        torch.save(obj, f)


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        return load_file(str(path))
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read safetensors ({exc})") from None


def optional_keys(module: nn.Module) -> dict[str, torch.Tensor]:
    """Entries PyTorch itself fills in when a state dict lacks them, with the value it uses:
    batch norm's `num_batches_tracked` (added in PyTorch 0.4.1, so absent from the official
    StackGAN-v2 checkpoints saved by 0.3; `load_state_dict` puts 0 there)."""
    out = {}
    for name, m in module.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            out[f"{name}.num_batches_tracked" if name else "num_batches_tracked"] = \
                torch.tensor(0, dtype=torch.long)
    return out


def state_mismatch(module: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """'' when `state` fits `module` (optional keys may be absent), else what does not fit."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state) - set(optional_keys(module)))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} (e.g. {missing[:3]})")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} (e.g. {unexpected[:3]})")
    if wrong:
        parts.append("wrong shapes: " + ", ".join(
            f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:3]))
    return "; ".join(parts)


def load_state_checked(module: nn.Module, state: dict[str, torch.Tensor], source: str,
                       against: str = "the model config") -> None:
    """load_state_dict that accepts what PyTorch treats as optional and otherwise refuses,
    naming the file and the mismatching keys, before touching the module."""
    problem = state_mismatch(module, state)
    if problem:
        raise CheckpointError(f"{source}: weights do not match {against}: {problem}")
    module.load_state_dict({**optional_keys(module), **state})
