"""Shared helpers for the benchmark scripts: timing, peak memory, the machine, Markdown tables.

Every configuration is measured in a fresh child process (unless --in-process): the child
builds what it needs, records its resident memory, resets the kernel's peak-RSS counter
(/proc/self/clear_refs, falling back to getrusage's ru_maxrss when that is not writable), runs
the warm-up and timed repetitions, and reports the peak minus the baseline. A fresh process per
configuration keeps allocator caches and earlier peaks of one configuration out of the next.
On CUDA the memory figure is torch.cuda.max_memory_allocated() over the same baseline.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

RESULT_TAG = "BENCH_RESULT "
# Variables that make this process use a weaker CPU's instructions (to emulate one).
ISA_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
MIB = 2**20


# ---------------------------------------------------------------- command line

def make_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and few repetitions: a smoke test of the script, not a measurement")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    p.add_argument("--repeats", type=int, default=0, help="timed repetitions (default: per script)")
    p.add_argument("--warmup", type=int, default=0, help="untimed warm-up repetitions (default: per script)")
    p.add_argument("--in-process", action="store_true",
                   help="measure every configuration in this process (faster, memory less isolated)")
    p.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                   help="before each configuration, wait up to this long for other processes to "
                        "use less than --max-other of the CPUs (for shared machines)")
    p.add_argument("--max-other", type=float, default=0.1,
                   help="CPU share of other processes that counts as quiet (default 0.1)")
    p.add_argument("--retries", type=int, default=0,
                   help="re-measure a configuration up to this many times while other processes "
                        "used more than --max-other of the CPUs during it; the least disturbed run is kept")
    p.add_argument("--child", help=argparse.SUPPRESS)
    return p


def setup_torch(threads: int) -> None:
    if threads > 0:
        torch.set_num_threads(threads)
    import warnings

    # VGGFeatures("random") and Inception-v3 without weights warn on purpose; the tables say it.
    warnings.filterwarnings("ignore", message=".*RANDOM weights.*")


def resolve_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: only cpu and cuda are supported")
    return device


# ---------------------------------------------------------------- the machine

def _lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return sorted(f for f in flags if f.startswith(("avx512_bf16", "amx", "avx512f",
                                                                "avx512_vnni", "avx2")))
    except OSError:
        pass
    return []


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def mem_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine_info(device: torch.device) -> dict:
    info = {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _lscpu_model(),
        "cpu_flags": " ".join(_cpu_flags()),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average_1_5_15": load_average(),
        "device": str(device),
        "cpu_capability": str(getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()),
        "isa_env": " ".join(f"{k}={os.environ[k]}" for k in ISA_ENV if os.environ.get(k)),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def machine_lines(info: dict) -> str:
    s = (f"{info['date']}; {info['cpu']} ({info['logical_cpus']} logical CPUs; {info['cpu_flags']}); "
         f"torch {info['torch']}, {info['torch_threads']} threads, CPU capability "
         f"{info.get('cpu_capability') or 'n/a'}" + (f" ({info['isa_env']})" if info.get("isa_env") else "")
         + f"; device {info['device']}")
    if "gpu" in info:
        s += f" ({info['gpu']})"
    return s + f"; load average {info['load_average_1_5_15']}"


# ---------------------------------------------------------------- timing and memory

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Times(list):
    """Wall-clock seconds per call, with the process's CPU seconds per call in `.cpu`."""

    cpu: list[float]


def time_calls(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> Times:
    """Wall-clock (and CPU) seconds of `repeats` calls after `warmup` untimed ones (synchronised
    on CUDA). With one thread and another process busy, CPU time is the steadier figure; with
    several threads it also counts the threads' busy-waiting."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = Times()
    times.cpu = []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
        times.cpu.append(time.process_time() - c0)
    return times


def summary(times: list[float]) -> dict:
    out = {"n": len(times), "min": min(times), "median": statistics.median(times), "max": max(times),
           "all": list(times)}
    cpu = getattr(times, "cpu", None)
    if cpu:
        out.update(cpu_median=statistics.median(cpu), cpu_min=min(cpu), cpu_max=max(cpu), cpu_all=cpu)
    return out


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory above a baseline taken at `start()`.

    CPU: resident set size (VmHWM after a reset through /proc/self/clear_refs; else
    ru_maxrss, which cannot be reset, so then only a fresh process gives a true figure).
    CUDA: torch.cuda.max_memory_allocated (tensors only, not the caching allocator's slack).
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.method = ""
        self.baseline = 0

    def start(self) -> None:
        import gc

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
            self.method = "torch.cuda.max_memory_allocated - allocated at baseline"
            return
        self.baseline = (_status_kib("VmRSS") or 0) * 1024
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            self.method = "peak RSS (VmHWM, reset at baseline) - RSS at baseline, fresh process"
        except OSError:
            self.baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            self.method = "ru_maxrss - ru_maxrss at baseline, fresh process (set-up peaks hide smaller ones)"

    def peak_bytes(self) -> int:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self.baseline
        if self.method.startswith("peak RSS"):
            return (_status_kib("VmHWM") or 0) * 1024 - self.baseline
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.baseline


# ---------------------------------------------------------------- other processes

def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def _children_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def busy_share(seconds: float = 2.0) -> float | None:
    """Share of all CPUs busy over `seconds` (this process is idle meanwhile)."""
    a = _cpu_jiffies()
    time.sleep(seconds)
    b = _cpu_jiffies()
    if a is None or b is None or b[1] == a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def wait_for_quiet(args: argparse.Namespace) -> float | None:
    """Wait (up to --quiet-wait seconds) until other processes use < --max-other of the CPUs."""
    deadline = time.monotonic() + args.quiet_wait
    share = busy_share()
    while share is not None and share > args.max_other and time.monotonic() < deadline:
        print(f"    waiting: other processes use {share:.0%} of the CPUs", file=sys.stderr, flush=True)
        time.sleep(15)
        share = busy_share()
    return share


# ---------------------------------------------------------------- child processes

def run_child(script: str, spec: dict, args: argparse.Namespace, timeout: float = 3600) -> dict:
    """Run `script --child SPEC` in a fresh interpreter and return the dict it reports."""
    cmd = [sys.executable, script, "--child", json.dumps(spec), "--device", args.device]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    quiet_before = wait_for_quiet(args)
    j0, c0, t0 = _cpu_jiffies(), _children_cpu_seconds(), time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    j1, c1, t1 = _cpu_jiffies(), _children_cpu_seconds(), time.monotonic()
    others = None
    if j0 and j1 and j1[1] > j0[1]:
        # CPU time used by everything else while the child ran, as a share of all CPUs.
        tick = os.sysconf("SC_CLK_TCK")
        total_s = (j1[1] - j0[1]) / tick
        others = max(0.0, ((j1[0] - j0[0]) / tick - (c1 - c0)) / total_s)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG):])
            res.update(other_cpu_share=others, busy_before=quiet_before, child_wall_s=t1 - t0,
                       load_average_after=load_average())
            return res
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    if proc.returncode < 0:
        tail = f"killed by signal {-proc.returncode} ({tail})"
    return {"error": tail[:300]}


def report_child(result: dict) -> None:
    print(RESULT_TAG + json.dumps(result), flush=True)


def start(parser, run_one) -> tuple[object, torch.device] | None:
    """Parse the arguments and set torch up; in a child process (--child), measure the one
    configuration, report it and return None; in the parent, return (args, device)."""
    args = parser.parse_args()
    setup_torch(args.threads)
    device = resolve_device(args.device)
    if args.child:
        report_child(run_one(json.loads(args.child)))
        return None
    return args, device


def measure(run_one: Callable[[dict], dict], script: str, spec: dict,
            args: argparse.Namespace) -> dict:
    """One configuration, in a child process unless --in-process."""
    if args.in_process:
        try:
            res = run_one(spec)
        except Exception as exc:  # noqa: BLE001 - a failed configuration is a table row
            return {"error": f"{type(exc).__name__}: {exc}"[:300]}
        if "memory_method" in res:
            res["memory_method"] = res["memory_method"].replace(
                "fresh process", "same process as the other configurations (--in-process)")
        return res
    best = run_child(script, spec, args)
    for attempt in range(args.retries):
        share = best.get("other_cpu_share")
        if "error" in best or share is None or share <= args.max_other:
            break
        print(f"    other processes used {share:.0%} of the CPUs: measuring again", file=sys.stderr,
              flush=True)
        res = run_child(script, spec, args)
        if "error" not in res and (res.get("other_cpu_share") or 0) < share:
            best = res
    return best


# ---------------------------------------------------------------- GEMM peak

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def native_precisions(device: torch.device) -> tuple[list[str], str]:
    """The precisions worth measuring on `device`: fp32, and bf16 only where the hardware
    computes it (gtgan.device.native_bf16, which honours ATEN_CPU_CAPABILITY /
    ONEDNN_MAX_CPU_ISA / MKL_ENABLE_INSTRUCTIONS). Emulated bf16 is skipped, not measured: on an
    AVX2 CPU its GEMM peak alone took minutes at ~1 GFLOP/s. Also the note saying why."""
    from gtgan.device import native_bf16

    native, why = native_bf16(device)
    if native:
        return ["fp32", "bf16"], ""
    return ["fp32"], f"bf16 not measured (its configurations are skipped): {why}."


def gemm_peaks(device: torch.device, precisions: list[str], quick: bool = False) -> dict[str, float]:
    return {p: gemm_peak(device, DTYPES[p], quick) for p in precisions}


def peaks_text(peaks: dict[str, float]) -> str:
    """"fp32 103 GFLOP/s, bf16 not measured" for the footers."""
    return ", ".join(f"{p} {peaks[p] / 1e9:,.0f} GFLOP/s" if p in peaks else f"{p} not measured"
                     for p in DTYPES)


def gemm_peak(device: torch.device, dtype: torch.dtype, quick: bool = False) -> float:
    """Best achieved FLOP/s of a square matrix multiply (the machine's practical peak)."""
    sizes = [512] if quick else ([2048, 4096] if device.type == "cpu" else [8192])
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        reps = 2 if quick else (3 if device.type == "cpu" else 20)
        times = time_calls(lambda: torch.mm(a, b), device, warmup=1, repeats=reps)
        best = max(best, 2 * n**3 / min(times))
    return best


def best_peaks(peaks: dict[str, float], results) -> dict[str, float]:
    """The machine's GEMM peak per precision: the best seen in the parent (`peaks`) or in any
    configuration's child process (its result's "gemm_peak_flops")."""
    best = dict(peaks)
    for r in results:
        if r.get("gemm_peak_flops"):
            best[r["precision"]] = max(best.get(r["precision"], 0.0), r["gemm_peak_flops"])
    return best


# ---------------------------------------------------------------- output

def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(x: object) -> str:
        return "" if x is None else str(x)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_s(x: float | None) -> str:
    return "" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.2f}")


def fmt_mib(b: float | None) -> str:
    return "" if b is None else f"{b / MIB:,.0f}"


def fmt_share(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


OTHERS_NOTE = ("others' CPU: share of all CPUs used by other processes while the configuration ran "
               "(machine busy time minus the child's CPU time, from /proc/stat); timings with a high "
               "share are not to be trusted on a 2-core machine.")


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"\nwrote {path}")
