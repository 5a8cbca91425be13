"""Runs syncs on a worker thread, one at a time, and publishes them as Qt signals.

``SyncObserverBridge`` implements the engine's SyncObserver (``on_state``, ``on_progress``,
``on_finished``, called on the sync's thread) by re-emitting Qt signals; the bridge lives in
the GUI thread, so connected slots run there (queued connections). Progress is throttled so
that a 100,000-record sync cannot flood the GUI's event queue.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from ..errors import SyncBusyError
from ..sync import Outcome
from .facade import ClientFacade
from .workers import Worker, gui_collector

PHASES = ("both", "pull", "push")
GC_DELAY_MS = 150   # the full collection after a run waits for the run's own GUI work
TRIGGERS = ("manual", "automatic", "startup", "resync", "settings")


class SyncObserverBridge(QObject):
    """A SyncObserver whose calls arrive as Qt signals on the bridge's (GUI) thread."""

    state_changed = Signal(str)
    # entity, done, total (int or None), message
    progress = Signal(str, int, object, str)
    run_finished = Signal(object)

    def __init__(self, parent: QObject | None = None, *, min_interval: float = 0.1) -> None:
        super().__init__(parent)
        self._min_interval = min_interval
        self._last_emit: dict[str, float] = {}

    # -- SyncObserver protocol: called on the sync thread -----------------------------------

    def on_state(self, state: str) -> None:
        self.state_changed.emit(state)

    def on_progress(self, entity: str, done: int, total: int | None, message: str) -> None:
        now = time.monotonic()
        last = self._last_emit.get(entity, 0.0)
        # Skip intermediate steps: the GUI only needs a few updates per second, and every
        # emit is one queued event the GUI thread must process.
        if now - last < self._min_interval and not (total is not None and done >= total):
            return
        self._last_emit[entity] = now
        self.progress.emit(entity, done, total, message)

    def on_finished(self, result: Any) -> None:
        self.run_finished.emit(result)


class SyncRunner(QObject):
    """Starts ``client.sync`` on its own thread; at most one sync at a time.

    The facade decides where the run itself happens: the app's ``Client`` runs it in its
    sync process (``sync_in_child``), so this thread only waits on a pipe and relays the
    observer's calls, and the GUI thread never waits for the sync's CPU; a facade that
    syncs in-process (the tests' fakes) runs it on this thread. Nothing here differs.

    Signals (all delivered on the GUI thread):
      ``started(phase, trigger)``; ``progress(entity, done, total, message)``;
      ``finished(result)`` with the SyncResult; ``failed(error, trigger)`` when ``sync``
      raised (for SyncBusyError after ``skipped``); ``skipped(phase, trigger)``
      when a request arrived while a sync was running (here or in another process);
      ``config_fetched(dict)`` after a pull brought a fresh server configuration;
      ``idle()`` after every run, last.
    """

    started = Signal(str, str)
    progress = Signal(str, int, object, str)
    finished = Signal(object)
    failed = Signal(object, str)
    skipped = Signal(str, str)
    config_fetched = Signal(dict)
    idle = Signal()

    def __init__(self, client: ClientFacade, parent: QObject | None = None, *,
                 fetch_config: bool = True) -> None:
        super().__init__(parent)
        self.client = client
        self.fetch_config = fetch_config
        self.bridge = SyncObserverBridge(self)
        self.bridge.progress.connect(self.progress)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._busy = False
        self._cancel: threading.Event | None = None
        self.current: tuple[str, str] | None = None

    @property
    def busy(self) -> bool:
        return self._busy

    def request(self, phase: str = "both", trigger: str = "manual",
                entities: list[str] | None = None, *, force_delete: bool = False,
                resync: bool = False) -> bool:
        """Start a sync unless one is running. GUI thread only.

        ``force_delete`` lets the run past the deletion guard (after the user confirmed);
        ``resync`` forgets the links and matches again by key (after the user confirmed).

        Returns True if a run was started, False if it was skipped (``skipped`` is emitted):
        a job that arrives during a run is coalesced into the running one.
        """
        if phase not in PHASES or trigger not in TRIGGERS:
            raise ValueError(f"bad phase/trigger {phase!r}/{trigger!r}")
        if self._busy:
            self.skipped.emit(phase, trigger)
            return False
        self._busy = True
        self.current = (phase, trigger)
        self._cancel = threading.Event()
        worker = Worker(self._run, phase, trigger, entities, self._cancel, force_delete, resync)
        worker.signals.result.connect(self._on_result)
        worker.signals.error.connect(self._on_error)
        worker.signals.finished.connect(self._on_finished)
        self.started.emit(phase, trigger)
        gui_collector().hurry()   # young collections small and often while the run allocates
        worker.start(self._pool)
        return True

    def cancel(self) -> None:
        """Ask the running sync to stop at its next safe point."""
        if self._cancel is not None:
            self._cancel.set()

    def wait_done(self, msecs: int = 30000) -> bool:
        """Block until the sync thread is done (for shutdown); True if it finished."""
        return self._pool.waitForDone(msecs)

    # -- sync thread ------------------------------------------------------------------------

    def _run(self, phase: str, trigger: str, entities: list[str] | None,
             cancel: threading.Event, force_delete: bool = False, resync: bool = False
             ) -> tuple[Any, dict[str, Any] | None]:
        extra: dict[str, Any] = {"force_delete": True} if force_delete else {}
        if resync:
            extra["resync"] = True
        # No full pass of the cyclic collector during the run (at 20,000 contacts each froze
        # this GUI for 100-170 ms when the run was in this process): one runs after it
        # (``_on_finished``), on the GUI thread, when the run's objects are gone. Never here:
        # a collection on this thread would run the destructors of Qt objects it frees here.
        result = self.client.sync(entities=entities, phase=phase, trigger=trigger,
                                  observer=self.bridge, cancel=cancel, **extra)
        config: dict[str, Any] | None = None
        # The administrator may change intervals or directions at any time: the run read the
        # configuration anyway, so the scheduler takes it from there.
        if (self.fetch_config and phase != "push"
                and result.outcome in (Outcome.OK, Outcome.PARTIAL)):
            config = result.configuration
        return result, config

    # -- GUI thread -------------------------------------------------------------------------

    def _on_result(self, value: tuple[Any, dict[str, Any] | None]) -> None:
        result, config = value
        if config is not None:
            self.config_fetched.emit(config)
        self.finished.emit(result)

    def _on_error(self, exc: BaseException) -> None:
        phase, trigger = self.current or ("both", "manual")
        if isinstance(exc, SyncBusyError):
            # Another process (the CLI) is syncing this store: the run is coalesced into
            # that one. ``failed`` still follows so the GUI can say so on a manual sync.
            self.skipped.emit(phase, trigger)
        self.failed.emit(exc, trigger)

    def _on_finished(self) -> None:
        # The full pass after the run (about 50 ms at 20,000 records) gets an event of its
        # own, a moment later: run together with the run's finishing work (alerts, the
        # popover, the scheduler) it stalled the GUI thread past 100 ms.
        QTimer.singleShot(GC_DELAY_MS, gc.collect)
        gui_collector().relax()
        self._busy = False
        self.current = None
        self._cancel = None
        self.idle.emit()
