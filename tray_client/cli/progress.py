"""What ``tray-client sync`` shows while it runs, and how Ctrl+C stops it.

- ``TerminalProgress``: a ``SyncObserver`` that keeps one status line on the terminal's
  standard error ("contacts: reading changes from the CRM — 12,500"), a few times a second,
  and clears it at the end. When standard error is not a terminal (a script, a log file, a
  pipe) it writes nothing: the command's output stays the contract of DESIGN §9.
- ``interrupt_cancels(event)``: while it is active, the first Ctrl+C sets ``event`` (the
  engine stops between two records, records the run as cancelled and returns); a second
  Ctrl+C interrupts at once, as usual.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class TerminalProgress:
    """One status line on ``stream`` while a sync runs (only when it is a terminal)."""

    def __init__(self, stream: TextIO | None = None, *, min_interval: float = 0.2,
                 force: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.active = force or self.stream.isatty()
        self._min_interval = min_interval
        self._last = 0.0
        self._width = 0

    def _show(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    # -- SyncObserver ------------------------------------------------------------------------

    def on_state(self, state: str) -> None:
        """Nothing to show: the line follows the progress, the result is printed after."""

    def on_progress(self, entity: str, done: int, total: int | None, message: str) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if now - self._last < self._min_interval and message not in ("starting", "done"):
            return
        self._last = now
        count = f" — {done:,}" + (f" of {total:,}" if total else "") if done else ""
        self._show(f"{entity}: {message}{count}")

    def on_finished(self, result: Any) -> None:
        if self.active and self._width:
            self._show("")
            self.stream.write("\r")
            self.stream.flush()
            self._width = 0


@contextmanager
def interrupt_cancels(event: threading.Event, stream: TextIO | None = None) -> Iterator[None]:
    """The first Ctrl+C (SIGINT) sets ``event`` instead of interrupting; the second interrupts.

    Only the main thread can handle signals: elsewhere this changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    out = stream if stream is not None else sys.stderr

    def on_interrupt(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        out.write("\nStopping after the current record (Ctrl+C again to stop at once)...\n")
        out.flush()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
