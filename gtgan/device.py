"""Device choice, mixed precision, seeding and determinism: the run's execution settings."""
from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from .config import ConfigError, RunSettings


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


# ---------------------------------------------------------------- precision and memory format
# `auto` picks bf16 only where the hardware computes it: emulated bf16 ran a 3x3 convolution
# 80x slower than fp32 on an AVX2 Zen 3, 42x under AVX2 emulation here (docs/training.md).

# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA) in increasing order; bf16 compute from AVX512_CORE_BF16.
_ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX10_1_512", "AVX512_CORE_FP16",
                "AVX512_CORE_AMX", "AVX10_1_512_AMX", "AVX512_CORE_AMX_FP16",
                "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT")
_ISA_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


@dataclass(frozen=True)
class CpuFeatures:
    """What this process's CPU kernels may use: the CPU's flags, capped by the ISA variables
    (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS) that emulate a weaker CPU."""

    flags: frozenset = frozenset()  # /proc/cpuinfo "flags" (empty where unknown)
    aten_capability: str = ""  # torch.backends.cpu.get_cpu_capability(): AVX2, AVX512, DEFAULT, ...
    isa_limits: tuple = ()  # ((variable, value), ...) as set in the environment

    @classmethod
    def probe(cls) -> "CpuFeatures":
        flags: frozenset = frozenset()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("flags"):
                        flags = frozenset(line.split(":", 1)[1].split())
                        break
        except OSError:
            pass
        get_capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")
        limits = tuple((k, os.environ[k]) for k in _ISA_ENV if os.environ.get(k, "").strip())
        return cls(flags, str(get_capability()), limits)

    def native_bf16(self) -> tuple[bool, str]:
        """(whether bf16 matrix products and convolutions run in hardware, why)."""
        unit = ("AMX" if "amx_bf16" in self.flags else
                "avx512_bf16" if "avx512_bf16" in self.flags else "")
        if not unit:
            what = "AVX2" if "avx2" in self.flags else "no AVX2" if self.flags else "flags unknown"
            if "avx512f" in self.flags:
                what = "AVX-512 without bf16"
            return False, f"CPU without avx512_bf16 or AMX ({what}): bf16 would be emulated"
        for name, value in self.isa_limits:
            if _limits_bf16(name, value):
                return False, (f"{name}={value} limits this process to a CPU without bf16 "
                               f"(the CPU itself has {unit})")
        cap = self.aten_capability.upper()
        if cap and not cap.startswith("AVX512"):
            return False, f"torch's CPU capability is {self.aten_capability} (the CPU has {unit})"
        return True, f"CPU with {unit}"


def _limits_bf16(name: str, value: str) -> bool:
    """Whether an ISA variable caps the kernels below bf16 compute (unknown values: no)."""
    value = value.strip().upper()
    if name == "ATEN_CPU_CAPABILITY":
        return not value.startswith("AVX512")
    if name == "MKL_ENABLE_INSTRUCTIONS":  # SSE4_2, AVX, AVX2 are below AVX-512
        return not value.startswith(("AVX512", "AVX10"))
    if value in _ONEDNN_ISAS:
        return _ONEDNN_ISAS.index(value) < _ONEDNN_ISAS.index("AVX512_CORE_BF16")
    return False


@dataclass(frozen=True)
class ExecutionChoice:
    """The precision and memory format a run uses, resolved from `auto`, and why."""

    precision: str  # fp32 | bf16 | fp16
    channels_last: bool
    reason: str
    warning: str = ""  # set when an explicit choice is known to be slow here

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def line(self) -> str:
        return (f"precision {self.precision}, channels_last {'on' if self.channels_last else 'off'}: "
                f"{self.reason}")

    def record(self) -> dict:
        return {"precision": self.precision, "channels_last": self.channels_last,
                "precision_reason": self.reason}


def resolve_execution(run: RunSettings, device: torch.device, cpu: CpuFeatures | None = None,
                      cuda_capability: tuple[int, int] | None = None) -> ExecutionChoice:
    """`run.precision` and `run.channels_last` for `device`, `auto` resolved by the hardware.

    auto: bf16 where the device computes it natively (CUDA compute capability >= 8.0; a CPU
    with avx512_bf16 or AMX and no ISA variable capping it), fp16 with loss scaling on older
    CUDA GPUs with tensor cores (7.x), else fp32. channels_last auto: on for CPUs (measured
    faster in fp32 and in bf16, docs/training.md) and for mixed precision on CUDA (NHWC tensor
    core kernels); off for fp32 on CUDA and on MPS. `cpu` and `cuda_capability` are probed
    when not given (tests pass them).
    """
    device = torch.device(device)
    asked = run.precision
    if device.type == "cuda":
        cuda_capability = tuple(cuda_capability or torch.cuda.get_device_capability(device))
    native, why = native_bf16(device, cpu, cuda_capability)
    if asked == "auto":
        if device.type == "mps":
            precision, reason = "fp32", "MPS: fp32 (set run.precision=bf16 or fp16 to try autocast)"
        elif native:
            precision, reason = "bf16", f"run.precision=auto: bf16 autocast, {why}"
        elif device.type == "cuda" and cuda_capability >= (7, 0):
            precision, reason = "fp16", f"run.precision=auto: fp16 autocast + loss scaling, {why}"
        else:
            precision, reason = "fp32", f"run.precision=auto: fp32, {why}"
    else:
        precision, reason = asked, f"run.precision={asked} as configured"
    _check_supported(precision, device)
    warning = ""
    if precision == "bf16" and not native and device.type in ("cpu", "cuda"):
        warning = (f"run.precision=bf16 on a device without bf16 in hardware ({why}): it is "
                   "emulated, 40-80x slower per convolution than fp32 on AVX2 CPUs; "
                   "use run.precision=auto or fp32")
    wanted = run.channels_last
    if wanted == "auto":
        on = device.type == "cpu" or (device.type == "cuda" and precision != "fp32")
        reason += f"; channels_last=auto: {'on' if on else 'off'} for {precision} on {device.type}"
    else:
        on = bool(wanted)
    return ExecutionChoice(precision, on, reason, warning)


PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # run.precision, `gtgan serve --precision`


def inference_execution(precision: str, device: torch.device) -> ExecutionChoice:
    """The precision of generation outside training (`gtgan generate`, `gtgan eval`, the
    pipeline, `gtgan serve`): `run.precision`'s rule, so `auto` decides as it does for training;
    NCHW tensors (a generation pass is too short to repay the conversion)."""
    return resolve_execution(RunSettings(precision=precision, channels_last=False), device)


def native_bf16(device: torch.device, cpu: CpuFeatures | None = None,
                cuda_capability: tuple[int, int] | None = None) -> tuple[bool, str]:
    """(whether `device` computes bf16 in hardware, why); MPS is not judged (True, "")."""
    device = torch.device(device)
    if device.type == "cpu":
        return (cpu or CpuFeatures.probe()).native_bf16()
    if device.type == "cuda":
        cc = tuple(cuda_capability or torch.cuda.get_device_capability(device))
        native = cc >= (8, 0)
        return native, f"CUDA compute capability {cc[0]}.{cc[1]}" + ("" if native else ", no bf16 in hardware")
    return True, ""


def _check_supported(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type not in ("cuda", "mps"):
        raise ConfigError(f"run.precision = 'fp16' needs a CUDA (or MPS) device, not {device.type}; "
                          "use run.precision=auto (or bf16 on CPUs that have it)")
    if precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"run.precision = {precision!r}: must be auto, fp32, bf16 or fp16")


def is_channels_last(x: torch.Tensor) -> bool:
    """A 4-d tensor laid out channels_last (and not also plain contiguous, as 1x1 maps are):
    code that builds a new tensor from it keeps that layout, or the next convolution copies."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast is running in on this device type, or None when it is off (torch 2.2
    and 2.3, which the project supports, lack the device-type forms of these calls)."""
    if hasattr(torch, "get_autocast_dtype"):  # torch >= 2.4
        return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    if device_type == "cpu":
        return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
    return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


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
