"""For the `gtgan serve` tests: a tiny model trained for a few steps, and `gtgan serve` on it in
a subprocess on a free local port (its output drained by a thread, so it never blocks)."""
from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY_SERVE = ["model.ngf=4", "model.ndf=4", "model.c_dim=8", "model.z_dim=8", "optim.batch_size=4",
              "run.max_steps=20", "run.checkpoint_every=20", "run.sample_every=0", "run.log_every=1",
              "run.num_sample_captions=2", "data.synthetic_count=40", "data.num_workers=0",
              "run.precision=fp32"]


def train_tiny_run(run_dir: Path) -> Path:
    from gtgan.config import apply_overrides
    from gtgan.presets import get_preset
    from gtgan.training import train

    train(apply_overrides(get_preset("demo"), TINY_SERVE), run_dir, progress=False)
    return run_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gtgan serve MODEL --port P ...` in a subprocess; `url` once it says it is serving."""

    def __init__(self, model: Path, *extra: str, timeout: float = 120.0):
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
                   GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "gtgan.cli", "serve", str(model),
                                      "--port", str(self.port), "--device", "cpu", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, cwd=REPO)
        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = self._wait_url(timeout)

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._q.put(line)
        self._q.put(None)

    def _wait_url(self, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self._q.get(timeout=max(0.1, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith("gtgan serve:") and " on http://" in line:
                return line.split(" on ", 1)[1].split()[0]
        self.stop()
        raise RuntimeError("gtgan serve did not start:\n" + "\n".join(self.lines[-40:]))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        """The server's resident memory (Linux /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
