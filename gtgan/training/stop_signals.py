"""SIGTERM / SIGINT during training: finish the current step, write a checkpoint, stop (status
"signal"); a second Ctrl-C stops at once, without a checkpoint."""
from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("gtgan.training")


class StopSignals:
    """While entered (main thread only), `received` is the first stop signal caught, else None."""

    def __init__(self, is_main: bool):
        self.is_main = is_main
        self.received: int | None = None
        self._old: dict | None = None

    def _handler(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
        self.received = signum
        if self.is_main:
            log.warning("received %s: finishing this step, then writing a checkpoint",
                        signal.Signals(signum).name)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._old = {sig: signal.signal(sig, self._handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, h in (self._old or {}).items():
            signal.signal(sig, h)
        self._old = None
