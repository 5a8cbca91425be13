"""When automatic syncs happen: two APScheduler interval jobs, back-off, pause, wake-ups.

APScheduler's BackgroundScheduler owns the timing. Its jobs do not sync themselves: they emit
``sync_due(phase, trigger)`` from the scheduler's thread; the signal is queued to the GUI
thread where ``SyncRunner.request`` starts the run on the sync thread (or skips it when one is
running). So at most one sync runs at a time and the GUI thread never syncs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from PySide6.QtCore import QObject, QTimer, Signal

log = logging.getLogger(__name__)

# The seed's intervals until the sync rules are applied (``sync.rules.scheduler_intervals``).
DEFAULT_PULL_INTERVAL = 120
DEFAULT_PUSH_INTERVAL = 30


class SyncScheduler(QObject):
    """Pull and push interval jobs with pause/resume and exponential back-off.

    Signals: ``sync_due(phase, trigger)`` (emitted from the scheduler thread; connect it with
    the default AutoConnection to a GUI-thread slot); ``schedule_changed()`` whenever the next
    run time may have moved.
    """

    sync_due = Signal(str, str)
    schedule_changed = Signal()

    def __init__(self, parent: QObject | None = None, *,
                 pull_interval: float = DEFAULT_PULL_INTERVAL,
                 push_interval: float = DEFAULT_PUSH_INTERVAL,
                 backoff_base: float = 30.0, backoff_max: float = 1800.0) -> None:
        super().__init__(parent)
        self.pull_interval = float(pull_interval)
        self.push_interval = float(push_interval)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.failures = 0
        self.backoff_until: datetime | None = None
        self._retry_token = 0
        self._paused = False
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, *, paused: bool = False) -> None:
        """Start the scheduler thread and the two jobs (paused if asked)."""
        self._scheduler.add_job(self._fire, IntervalTrigger(seconds=self.pull_interval),
                                args=("pull",), id="pull", replace_existing=True)
        self._scheduler.add_job(self._fire, IntervalTrigger(seconds=self.push_interval),
                                args=("push",), id="push", replace_existing=True)
        self._scheduler.start()
        if paused:
            self.pause()
        self.schedule_changed.emit()

    def shutdown(self) -> None:
        if self._scheduler.running:
            # Jobs first: this waits for a pass of the scheduler's thread that is running a
            # job now. APScheduler's shutdown marks the scheduler stopped before it takes that
            # lock, and such a pass, removing its finished one-shot job (a retry) afterwards,
            # raised JobLookupError and ended the thread with an exception.
            self._scheduler.remove_all_jobs()
            self._scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    # -- controls -------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop automatic syncs (Disable Sync / Pause). Sync Now still works."""
        with self._lock:
            self._paused = True
            for job in self._scheduler.get_jobs():
                job.pause()
        self.schedule_changed.emit()

    def resume(self) -> None:
        """Restart the jobs; each next run is one interval from now."""
        with self._lock:
            self._paused = False
            for job in self._scheduler.get_jobs():
                job.resume()
        self.schedule_changed.emit()

    def set_intervals(self, pull: float, push: float) -> bool:
        """Use new intervals (from the server configuration); True if anything changed."""
        pull, push = float(pull), float(push)
        if (pull, push) == (self.pull_interval, self.push_interval):
            return False
        self.pull_interval, self.push_interval = pull, push
        if self._scheduler.running:
            with self._lock:
                for job_id, seconds in (("pull", pull), ("push", push)):
                    job = self._scheduler.get_job(job_id)
                    if job is not None:
                        job.reschedule(IntervalTrigger(seconds=seconds))
                        if self._paused:
                            job.pause()
        log.info("sync intervals now pull=%ss push=%ss", pull, push)
        self.schedule_changed.emit()
        return True

    def record_success(self) -> None:
        """A run worked: forget the back-off."""
        if self.failures or self.backoff_until:
            self.failures = 0
            self.backoff_until = None
            # A pending retry job is left to fire: it sees a stale token and does nothing.
            # (Removing it here races with the scheduler thread running it.)
            self._retry_token += 1
            self.schedule_changed.emit()

    def record_failure(self) -> datetime:
        """A run could not sync: back off exponentially. Returns when the next try is."""
        self.failures += 1
        delay = min(self.backoff_max, self.backoff_base * 2 ** (self.failures - 1))
        self.backoff_until = datetime.now(UTC) + timedelta(seconds=delay)
        self._retry_token += 1
        job = self._scheduler.add_job(self._retry, DateTrigger(run_date=self.backoff_until),
                                      args=(self._retry_token,), id="retry",
                                      replace_existing=True)
        if self._paused:
            job.pause()
        self.schedule_changed.emit()
        return self.backoff_until

    def trigger_now(self, reason: str) -> None:
        """Something changed (network back, machine woke up): sync now, past the back-off."""
        log.info("sync triggered: %s", reason)
        if self._paused:
            return
        self.backoff_until = None
        self._retry_token += 1
        self.sync_due.emit("both", "automatic")

    # -- queries ----------------------------------------------------------------------------

    def next_run(self) -> datetime | None:
        """When the next automatic sync (or retry) will start; None when paused/stopped."""
        if self._paused or not self._scheduler.running:
            return None
        if self.backoff_until is not None:
            return self.backoff_until
        times = [job.next_run_time for job in self._scheduler.get_jobs()
                 if job.next_run_time is not None]
        return min(times) if times else None

    # -- scheduler thread ---------------------------------------------------------------------

    def _fire(self, phase: str) -> None:
        until = self.backoff_until
        if until is not None and datetime.now(UTC) < until:
            return  # backing off: the retry job will run the next attempt
        self.sync_due.emit(phase, "automatic")

    def _retry(self, token: int) -> None:
        if token != self._retry_token:
            return  # superseded by a success or a newer failure
        self.backoff_until = None
        self.sync_due.emit("both", "automatic")
        self.schedule_changed.emit()


class WakeDetector(QObject):
    """Emits ``woke()`` when the wall clock jumped ahead of the monotonic clock.

    On Linux the monotonic clock stops during suspend while the wall clock does not, so a
    tick that finds the wall clock far ahead means the machine slept.
    """

    woke = Signal()

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 15000,
                 threshold: float = 60.0, wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.threshold = threshold
        self._wall, self._mono = wall, mono
        self._last = (wall(), mono())
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)

    def start(self) -> None:
        self._last = (self._wall(), self._mono())
        self.timer.start()

    def check(self) -> bool:
        """Compare the clocks now; True (and ``woke`` emitted) on a jump."""
        wall, mono = self._wall(), self._mono()
        last_wall, last_mono = self._last
        self._last = (wall, mono)
        if (wall - last_wall) - (mono - last_mono) > self.threshold:
            self.woke.emit()
            return True
        return False


class NetworkWatcher(QObject):
    """Emits ``back_online()`` when Qt's QNetworkInformation says we are online again.

    Does nothing where no reachability backend exists (``available`` is then False).
    """

    back_online = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = False
        self._online: bool | None = None
        try:
            from PySide6.QtNetwork import QNetworkInformation

            if QNetworkInformation.loadDefaultBackend():
                info = QNetworkInformation.instance()
                if info is not None and info.supports(
                        QNetworkInformation.Feature.Reachability):
                    self.available = True
                    self._online = self._is_online(info.reachability())
                    info.reachabilityChanged.connect(self.on_reachability)
        except (ImportError, RuntimeError, AttributeError) as exc:
            log.info("no network reachability information: %s", exc)

    @staticmethod
    def _is_online(reachability: Any) -> bool:
        from PySide6.QtNetwork import QNetworkInformation

        return reachability == QNetworkInformation.Reachability.Online

    def on_reachability(self, reachability: Any) -> None:
        online = self._is_online(reachability)
        if online and self._online is False:
            self.back_online.emit()
        self._online = online
