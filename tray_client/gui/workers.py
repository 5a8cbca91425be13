"""Run blocking calls off the GUI thread and deliver their outcome as Qt signals.

``Worker`` runs a call on a QThreadPool thread. Its ``signals`` object lives in the GUI
thread, so every signal emitted from the pool thread is delivered there by a queued
connection. A finished worker is released on the GUI thread a moment after its ``finished``
was delivered (a tray app runs for weeks: none may stay behind). A worker
never swallows an exception: it is emitted on ``error`` and, when nobody is connected to
``error``, logged and reported through ``unhandled_error`` of the module's ErrorSink so the app
shows it (see ``app.TrayApp``).

Two rules keep threads from pulling objects out from under each other:

- ``wait_for_workers`` before the client closes: a worker still running would use the store's
  SQLite connection while (or after) it closes.
- ``GuiThreadCollector``: Python's cyclic garbage collector runs only on the GUI thread while
  the app runs. An automatic collection runs on whichever thread allocates (a worker, the sync
  thread), and when an unreachable cycle held the last reference to a Python-owned Qt object
  (a closed dialog, a finished event loop), its C++ destructor would run on that thread, racing
  the GUI thread.
"""

from __future__ import annotations

import gc
import logging
import time
import traceback
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import (
    SIGNAL,
    QCoreApplication,
    QObject,
    QThreadPool,
    QTimer,
    Signal,
)

log = logging.getLogger(__name__)


class WorkerSignals(QObject):
    """Signals of one Worker: ``result(object)``, ``error(object)``, ``progress(object)``,
    ``finished()`` (always last, after result or error)."""

    result = Signal(object)
    error = Signal(object)
    progress = Signal(object)
    finished = Signal()


class ErrorSink(QObject):
    """Where errors go that no caller connected to (one per process, see ``error_sink()``)."""

    unhandled_error = Signal(object)


# The workers mostly wait on the CRM or the disk, not on the CPU: Qt's global pool sizes itself
# by the CPU count (2 on a small laptop), so one slow CRM read would hold up every window.
MIN_POOL_THREADS = 4


def default_pool() -> QThreadPool:
    """Qt's global thread pool, with room for at least ``MIN_POOL_THREADS`` workers."""
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < MIN_POOL_THREADS:
        pool.setMaxThreadCount(MIN_POOL_THREADS)
    return pool


_sink: ErrorSink | None = None
_running: dict[int, Worker] = {}   # workers started and not yet finished, by id()
_retired: list[tuple[float, Worker]] = []   # finished: freed on the GUI thread a moment later
RETIRE_SECONDS = 1.0


def error_sink() -> ErrorSink:
    """The process's ErrorSink (created on first use, in the calling — GUI — thread)."""
    global _sink
    if _sink is None:
        _sink = ErrorSink()
    return _sink


class Worker:
    """Calls ``fn(*args, **kwargs)`` on a pool thread.

    If ``fn`` accepts a ``progress`` keyword (``with_progress=True``), it is given a callable
    that emits ``signals.progress``. Create the Worker in the GUI thread so its signals object
    has GUI-thread affinity.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, with_progress: bool = False,
                 **kwargs: Any) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.signals = WorkerSignals()
        self.sink = error_sink()
        if with_progress:
            self.kwargs["progress"] = self.signals.progress.emit

    def start(self, pool: QThreadPool | None = None) -> Worker:
        """Run on ``pool`` (default: ``default_pool()``), kept referenced until finished."""
        _sweep()
        _running[id(self)] = self
        # The slot must not hold the worker itself: Qt keeps it in C++, where Python's
        # collector cannot see the cycle, and the worker would never be freed.
        self.signals.finished.connect(partial(_retire, id(self)))
        # The pool is given the bound method, not a QRunnable: PySide keeps a QRunnable it
        # did not delete referenced for ever; the callable is let go once it ran.
        (pool or default_pool()).start(self.run)
        return self

    def run(self) -> None:
        try:
            value = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # every error must reach the user
            log.debug("worker %s failed:\n%s", getattr(self.fn, "__name__", self.fn),
                      traceback.format_exc())
            if self.signals.receivers(SIGNAL("error(PyObject)")) > 0:
                self.signals.error.emit(exc)
            else:
                self.sink.unhandled_error.emit(exc)
        else:
            self.signals.result.emit(value)
        finally:
            self.signals.finished.emit()


def run_in_pool(fn: Callable[..., Any], *args: Any,
                on_result: Callable[[Any], None] | None = None,
                on_error: Callable[[BaseException], None] | None = None,
                on_finished: Callable[[], None] | None = None,
                pool: QThreadPool | None = None, **kwargs: Any) -> Worker:
    """Start ``fn`` on ``pool`` (default: ``default_pool()``) and connect the callbacks.

    Returns the Worker (its ``signals`` can be connected further before the call returns
    control to the event loop: delivery is queued, nothing is missed).
    """
    worker = Worker(fn, *args, **kwargs)
    if on_result is not None:
        worker.signals.result.connect(on_result)
    if on_error is not None:
        worker.signals.error.connect(on_error)
    if on_finished is not None:
        worker.signals.finished.connect(on_finished)
    return worker.start(pool)


def _retire(key: int) -> None:
    """``finished`` was delivered (GUI thread): the worker leaves the running set. It is
    released a moment later, still on the GUI thread: by then its pool thread has left
    ``run`` (Qt reads nothing of a runnable that does not auto-delete after ``run``), so the
    last reference never drops there, and its signals object dies on its own thread."""
    worker = _running.pop(key, None)
    if worker is not None:
        _retired.append((time.monotonic(), worker))


def _sweep() -> None:
    """Release the workers retired more than ``RETIRE_SECONDS`` ago (GUI thread)."""
    cutoff = time.monotonic() - RETIRE_SECONDS
    while _retired and _retired[0][0] < cutoff:
        _retired.pop(0)


def wait_for_workers(timeout: float = 30.0) -> bool:
    """Block (GUI thread) until every started Worker has finished and its callbacks ran.

    Callbacks are delivered while waiting, and one may start another worker (a reload after a
    send): that one is waited for too. Returns False when ``timeout`` seconds passed first.
    """
    deadline = time.monotonic() + timeout
    while _running:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)   # lets the workers run (the GIL)
        QCoreApplication.processEvents()
    return True


class GuiThreadCollector(QObject):
    """While acquired, the automatic cyclic collector is off and a GUI-thread timer collects.

    One per process (``gui_collector()``), never deleted; ``acquire``/``release`` nest (the
    app, the tests). Young generations are collected by the interpreter's own thresholds
    (``gc.get_threshold``) at each tick, between two events, where no Qt call is half done; a
    full pass at most every ``full_interval`` seconds (the sync runner adds one after each
    run). An automatic collection can start in any allocation: in a worker or the sync thread,
    and in the GUI thread within a Qt destructor that calls into Python while it holds a Qt
    lock (a collection there that deleted another Qt object deadlocked a test process).

    While a sync runs (``hurry``/``relax``, nesting) the timer ticks every ``busy_interval_ms``
    instead: a young collection costs in proportion to what was allocated since the last one,
    and the sync thread allocates fast. At 250 ms each one froze this thread for 40-130 ms
    during a 20,000-contact sync (demo data, loaded 2-core machine); at 50 ms the longest
    freeze fell by about half. Idle, the slow timer keeps the app from waking up for nothing.
    """

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 250,
                 busy_interval_ms: int = 50, full_interval: float = 300.0) -> None:
        super().__init__(parent)
        self.full_interval = full_interval
        self.interval_ms, self.busy_interval_ms = interval_ms, busy_interval_ms
        self.hurried = 0
        self.holders = 0
        self._was_enabled = False
        self._last_full = time.monotonic()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)

    def acquire(self) -> None:
        if self.holders == 0:
            self._was_enabled = gc.isenabled()
            gc.disable()
            self.timer.start()
        self.holders += 1

    def release(self) -> None:
        if self.holders == 0:
            return
        self.holders -= 1
        if self.holders == 0:
            self.timer.stop()
            if self._was_enabled:
                gc.enable()

    def hurry(self) -> None:
        """A sync started: tick every ``busy_interval_ms`` until the matching ``relax``."""
        self.hurried += 1
        self.timer.setInterval(self.busy_interval_ms)

    def relax(self) -> None:
        if self.hurried == 0:
            return
        self.hurried -= 1
        if self.hurried == 0:
            self.timer.setInterval(self.interval_ms)

    def tick(self) -> int:
        """Collect what the thresholds ask for; returns the generation collected (-1: none).
        Finished workers are released here too (``_sweep``), after the collection: freeing
        objects lowers the counts the thresholds are compared with."""
        try:
            return self._collect()
        finally:
            _sweep()

    def _collect(self) -> int:
        if gc.isenabled():
            # Turned back on meanwhile (a sync engine that paused it before we started ends
            # its run): off again, and on again after the last release.
            gc.disable()
            self._was_enabled = True
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if counts[0] < thresholds[0]:
            return -1
        generation = 1 if counts[1] >= thresholds[1] else 0
        if (generation == 1 and counts[2] >= thresholds[2]
                and time.monotonic() - self._last_full >= self.full_interval):
            generation = 2
            self._last_full = time.monotonic()
        gc.collect(generation)
        return generation


def freeze_startup_heap() -> None:
    """Move every object alive now (the modules, the app's windows: the start-up heap) out
    of the cyclic collector's sight, after collecting what is garbage already.

    Call once, after the app started (``app.main``). Every later pass looks only at what was
    made after it: a full pass over the start-up heap held the GUI thread ~40 ms (60-120 ms
    on a loaded machine), the longest freeze left once syncs ran in their own process. An
    object of the start-up that later becomes cyclic garbage is never collected (refcounting
    still frees the rest): the app's start-up objects live as long as the app.
    """
    gc.collect()
    gc.freeze()


_collector: GuiThreadCollector | None = None


def gui_collector() -> GuiThreadCollector:
    """The process's GuiThreadCollector (created on first use, in the calling — GUI — thread)."""
    global _collector
    if _collector is None:
        _collector = GuiThreadCollector()
    return _collector
