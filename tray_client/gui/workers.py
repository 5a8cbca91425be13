"""Run blocking calls off the GUI thread and deliver their outcome as Qt signals.

``Worker`` is a QRunnable for a QThreadPool. Its ``signals`` object lives in the GUI thread, so
every signal emitted from the pool thread is delivered there by a queued connection. A worker
never swallows an exception: it is emitted on ``error`` and, when nobody is connected to
``error``, logged and reported through ``unhandled_error`` of the module's ErrorSink so the app
shows it (see ``app.TrayApp``).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import SIGNAL, QObject, QRunnable, QThreadPool, Signal

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


_sink: ErrorSink | None = None
_running: set[Worker] = set()   # workers started and not yet finished


def error_sink() -> ErrorSink:
    """The process's ErrorSink (created on first use, in the calling — GUI — thread)."""
    global _sink
    if _sink is None:
        _sink = ErrorSink()
    return _sink


class Worker(QRunnable):
    """Calls ``fn(*args, **kwargs)`` on a pool thread.

    If ``fn`` accepts a ``progress`` keyword (``with_progress=True``), it is given a callable
    that emits ``signals.progress``. Create the Worker in the GUI thread so its signals object
    has GUI-thread affinity.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, with_progress: bool = False,
                 **kwargs: Any) -> None:
        super().__init__()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.signals = WorkerSignals()
        self.sink = error_sink()
        if with_progress:
            self.kwargs["progress"] = self.signals.progress.emit
        # Python owns the worker, not the pool: a pool-deleted Python subclass corrupts
        # PySide's reference counts. ``start`` keeps it alive until ``finished``.
        self.setAutoDelete(False)

    def start(self, pool: QThreadPool | None = None) -> Worker:
        """Run on ``pool`` (default: the global pool), kept referenced until finished."""
        _running.add(self)
        self.signals.finished.connect(lambda: _running.discard(self))
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def run(self) -> None:
        try:
            value = self.fn(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - every error must reach the user
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
    """Start ``fn`` on ``pool`` (default: the global pool) and connect the callbacks.

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
