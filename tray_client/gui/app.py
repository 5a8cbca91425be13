"""The tray application: wires the facade, the sync runner, the scheduler and the windows.

``main()`` is the entry point (``tray-client`` with no command). ``TrayApp`` holds the parts
and is what the tests drive. Extension point for the side panel and the sync report:
``TrayApp.add_menu_action(text, callback)`` puts an entry into the tray menu's middle section
and into the popover's ⋯ menu.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from ..errors import TrayClientError
from ..history import record_url
from ..sync import Outcome
from ..sync.rules import DueEntities, scheduler_intervals
from .alerts import ENTITY_LABELS, Alert, AlertPolicy, describe_counts, describe_record, error_text
from .facade import ClientFacade
from .plain_text import message_box
from .popover import Activity, StatusPopover
from .scheduler import NetworkWatcher, SyncScheduler, WakeDetector
from .settings_dialog import SettingsDialog
from .single_instance import SingleInstance
from .state import TrayState, is_failure, state_for_error, state_for_outcome
from .sync_runner import SyncRunner
from .tray import AppActions, TrayIcon
from .windows import AppWindows
from .workers import (
    error_sink,
    freeze_startup_heap,
    gui_collector,
    run_in_pool,
    wait_for_workers,
)

log = logging.getLogger(__name__)

STATE_WORDS = {
    TrayState.IDLE: "Up to date",
    TrayState.SYNCING: "Syncing…",
    TrayState.PAUSED: "Automatic sync paused",
    TrayState.OFFLINE: "CRM unreachable — will retry",
    TrayState.ATTENTION: "Some records need attention",
    TrayState.ERROR: "Cannot sync",
}
# States a background retry leaves on the icon while it runs (the problem still stands).
STEADY_STATES = (TrayState.ATTENTION, TrayState.ERROR, TrayState.OFFLINE)
# Syncs the user asked for: Sync Now, and the one that tries a connection just saved in
# Settings. When one fails, the user is told why even with alerts off.
ASKED = ("manual", "settings")
OUTCOME_WORDS = {"ok": "OK", "partial": "finished, some records failed",
                 "offline": "CRM unreachable", "failed": "failed",
                 "guarded": "stopped before deleting", "cancelled": "cancelled"}


def _clock(moment: datetime | str | None) -> str:
    """'14:05:09' in local time (today) or '2026-11-24 14:05' for another day."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def _short_clock(moment: datetime | str | None) -> str:
    """'14:05' today, '24 Nov 14:05' another day (local time)."""
    text = _clock(moment)
    if len(text) == 8:              # HH:MM:SS today
        return text[:5]
    try:
        local = datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        return text
    return local.strftime("%d %b %H:%M")


def _until(moment: datetime) -> str:
    """'15:30', 'tomorrow' (local midnight) or 'Tue 15:30'."""
    local = moment.astimezone()
    today = datetime.now().astimezone().date()
    if local.date() == today:
        return local.strftime("%H:%M")
    if local.date() == today + timedelta(days=1) and (local.hour, local.minute) == (0, 0):
        return "tomorrow"
    return local.strftime("%a %H:%M")


class TrayApp(QObject):
    """The running application (one per process).

    ``tray_available`` overrides QSystemTrayIcon.isSystemTrayAvailable() (tests);
    ``home`` goes into the autostart entry; ``demo_url`` is shown in the status window.
    """

    state_changed = Signal(object)
    alert_shown = Signal(object)            # Alert, for tests and logs
    quit_requested = Signal()
    settings_dialog_created = Signal(object)  # SettingsDialog, to add tabs (field mapping)

    def __init__(self, client: ClientFacade, *, tray_available: bool | None = None,
                 home: str | None = None, demo_url: str | None = None,
                 scheduler: SyncScheduler | None = None, startup_sync: bool = True,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        # The GUI thread competes for the GIL with the sync thread; Python's default 5 ms
        # switch interval let it wait several slices in a row (measured 70-140 ms freezes
        # during a 20,000-record sync). 2 ms costs the sync little and keeps the GUI fluid.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.002))
        # Cyclic garbage is collected on this thread only (see workers.GuiThreadCollector).
        gui_collector().acquire()
        self._collecting = True
        self.client = client
        self.home = home
        self.demo_url = demo_url
        self.startup_sync = startup_sync
        self.tray_available = (QSystemTrayIcon.isSystemTrayAvailable()
                               if tray_available is None else tray_available)
        self.user_paused = False
        self.state = TrayState.IDLE
        self._state_before_sync = TrayState.IDLE
        self._run_phase = "both"
        self.last_result: Any = None
        self.last_error: tuple[str, str] | None = None
        self.progress_text = ""
        self.progress_counts: tuple[int, int | None] | None = None   # (done, total) shown
        self._rates: dict[str, tuple[float, int]] = {}   # entity -> (first seen, done then)
        self.pause_until: datetime | None = None   # a timed pause resumes on its own
        self.last_success: Any = None               # the last run that finished ok/partial
        self.history: deque[Activity] = deque(maxlen=12)   # runs worth a line, newest first
        self._shown_activity: list[Activity] | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.guard_box: QMessageBox | None = None

        # Commands from a second launch that open the extensions' windows ("report"…).
        self.window_commands: dict[str, Callable[[], Any]] = {}
        self.actions = AppActions(self)
        self.actions.sync_now.triggered.connect(self.sync_now)
        self.actions.stop_sync.triggered.connect(self.stop_sync)
        self.actions.pause.triggered.connect(self.toggle_pause)
        self.actions.pause_hour.triggered.connect(lambda: self.pause_for(timedelta(hours=1)))
        self.actions.pause_tomorrow.triggered.connect(self.pause_until_tomorrow)
        self.actions.resume.triggered.connect(lambda: self.set_user_paused(False))
        self.actions.settings.triggered.connect(self.show_settings)
        self.actions.quit.triggered.connect(self.quit)

        self.tray = TrayIcon(self.actions, self)
        self.tray.activated_left.connect(self.show_popover)
        self.tray.status_action.triggered.connect(self.show_popover)
        self.popover = StatusPopover(self.actions, no_tray=not self.tray_available)

        self.alerts = AlertPolicy(client.settings.show_alerts)
        self.runner = SyncRunner(client, self)
        self.runner.started.connect(self._on_sync_started)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_sync_finished)
        self.runner.failed.connect(self._on_sync_failed)
        self.runner.config_fetched.connect(self.apply_server_configuration)
        self.runner.idle.connect(self._on_runner_idle)
        self._sync_when_idle = False   # settings changed during a run: sync again after it

        self.scheduler = scheduler or SyncScheduler(self)
        # Entities' intervals may differ: the jobs fire at the shortest, this picks who is due.
        self.due = DueEntities(time.monotonic)
        self.scheduler.sync_due.connect(self._on_sync_due)
        self.scheduler.schedule_changed.connect(self.refresh)
        self.wake = WakeDetector(self)
        self.wake.woke.connect(lambda: self.scheduler.trigger_now("woke from sleep"))
        self.network = NetworkWatcher(self)
        self.network.back_online.connect(lambda: self.scheduler.trigger_now("network back"))

        error_sink().unhandled_error.connect(self.report_error)
        self._sink_connected = True
        # The next-sync time moves on its own; a cheap periodic refresh keeps it honest.
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(5000)
        self.refresh_timer.timeout.connect(self.refresh)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Show the tray (or the status window), start the scheduler, maybe sync or ask."""
        settings = self.client.settings
        if self.tray_available:
            self.tray.show()
        else:
            self.popover.show_near()
        self.apply_server_configuration(None)   # this computer's rules, the last section's locks
        self.scheduler.start(paused=self.automatic_paused)
        self.wake.start()
        self.refresh_timer.start()
        self._update_state_from_settings()
        if not settings.configured or not self._has_key():
            # First start: nothing can sync before the connection is set up.
            QTimer.singleShot(0, self.show_settings)
            return
        self.fetch_server_configuration()
        if self.startup_sync and not settings.disable_sync:
            QTimer.singleShot(0, lambda: self.runner.request("both", "startup"))

    def shutdown(self) -> None:
        """Stop timers and the scheduler; wait (bounded) for a running sync and for the workers."""
        self.refresh_timer.stop()
        self.wake.timer.stop()
        if self._sink_connected:
            error_sink().unhandled_error.disconnect(self.report_error)
            self._sink_connected = False
        self.scheduler.shutdown()
        self.runner.cancel()
        self.runner.wait_done(15000)
        # A run that ended while we waited still has queued signals; the windows they would
        # update are about to go away, so nothing may reach them any more. Nor may a new run
        # start (the network coming back, a wake-up): the client closes after this.
        for signal_, slot in ((self.runner.started, self._on_sync_started),
                              (self.runner.progress, self._on_progress),
                              (self.runner.finished, self._on_sync_finished),
                              (self.runner.failed, self._on_sync_failed),
                              (self.runner.idle, self._on_runner_idle),
                              (self.runner.config_fetched, self.apply_server_configuration),
                              (self.scheduler.sync_due, self._on_sync_due),
                              (self.scheduler.schedule_changed, self.refresh),
                              (self.refresh_timer.timeout, self.refresh)):
            with warnings.catch_warnings():
                # PySide warns (instead of raising) when the slot is no longer connected.
                warnings.simplefilter("ignore", RuntimeWarning)
                # Already disconnected when the app shuts down twice.
                with contextlib.suppress(RuntimeError, TypeError):
                    signal_.disconnect(slot)
        # The caller closes the client next (main, the tests): a worker still using the
        # store's connection while it closes crashes the process.
        if not wait_for_workers(10.0):
            log.warning("GUI workers still running at shutdown")
        if self._collecting:
            gui_collector().release()
            self._collecting = False
        self.tray.hide()
        self.popover.hide()

    def quit(self) -> None:
        self.quit_requested.emit()
        app = QApplication.instance()
        if app is not None:
            # exit(), not quit(): Qt 6's quit() first asks every window to close and gives up
            # when one refuses, and the popover window refuses (it only hides).
            app.exit(0)

    def handle_command(self, command: str) -> None:
        """A command from a second launch (single-instance socket)."""
        if command == "show":
            if self.client.settings.configured:
                self.show_popover()
            else:
                self.show_settings()
        elif command == "sync":
            self.sync_now()
        elif command == "settings":
            self.show_settings()
        elif command == "quit":
            self.quit()
        elif command in self.window_commands:
            self.window_commands[command]()
        else:
            log.warning("unknown command from another instance: %r", command)

    # -- extension point --------------------------------------------------------------------------

    def add_menu_action(self, text: str | QAction,
                        callback: Callable[[], Any] | None = None) -> QAction:
        """Add an entry (e.g. "Show/Hide Side Panel", "Sync Report…") to the tray menu's
        middle section and into the popover's ⋯ menu. Returns the QAction."""
        action = text if isinstance(text, QAction) else QAction(text, self)
        if callback is not None:
            action.triggered.connect(callback)
        self.actions.extensions.append(action)
        self.tray.add_extension(action)
        self.popover.add_extension(action)
        return action

    # -- actions ------------------------------------------------------------------------------

    @property
    def automatic_paused(self) -> bool:
        return self.user_paused or self.client.settings.disable_sync

    def sync_now(self) -> bool:
        """A full two-way pass now (skipped, and said so, if one is running)."""
        if self.runner.busy:
            self.tray.set_status_line("A sync is already running")
            return False
        return self.runner.request("both", "manual")

    def stop_sync(self) -> None:
        """Stop the running sync between two records (what was synced is kept; the next
        sync goes on from there)."""
        if self.runner.busy:
            self.runner.cancel()
            self.actions.stop_sync.setEnabled(False)
            self.progress_text = "Stopping after the current record…"
            self.refresh()

    def toggle_pause(self) -> None:
        self.set_user_paused(not self.user_paused)

    def set_user_paused(self, paused: bool, until: datetime | None = None) -> None:
        """Pause (until ``until``, or until resumed) or resume the automatic sync."""
        self.user_paused = paused
        self.pause_until = until if paused else None
        self._apply_pause()

    def pause_for(self, delta: timedelta) -> None:
        self.set_user_paused(True, datetime.now(UTC) + delta)

    def pause_until_tomorrow(self) -> None:
        """Pause until midnight (local time): tomorrow's first sync runs as usual."""
        now = datetime.now().astimezone()
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                       microsecond=0)
        self.set_user_paused(True, midnight.astimezone(UTC))

    def show_settings(self) -> SettingsDialog:
        if self.settings_dialog is None:
            command = None
            if self.home:
                from .. import autostart

                command = [*autostart.default_start_command(), "--home", self.home]
            dialog = SettingsDialog(self.client, start_command=command)
            dialog.saved.connect(self._on_settings_saved)
            dialog.server_configuration_loaded.connect(
                lambda config: self.apply_server_configuration(config)
                if dialog.server_configuration_is_saved else None)
            dialog.connection_changed.connect(self._on_connection_changed)
            dialog.finished.connect(self._on_settings_closed)
            self.settings_dialog = dialog
            self.settings_dialog_created.emit(dialog)
            dialog.load_server_configuration()
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()
        return self.settings_dialog

    def show_popover(self) -> None:
        """The status popover by the tray icon (a left click on it)."""
        self.refresh()
        anchor = self.tray.icon.geometry() if self.tray_available else None
        self.popover.show_near(anchor)

    # -- server configuration -------------------------------------------------------------------

    def fetch_server_configuration(self) -> None:
        run_in_pool(self.client.server_configuration,
                    on_result=self.apply_server_configuration,
                    on_error=lambda exc: log.info("server configuration unavailable: %s", exc))

    def apply_server_configuration(self, config: dict[str, Any] | None) -> None:
        """The sync rules' intervals (this computer's, or the CRM's Outlook section's when it
        sets them) take effect at once. ``config`` None: the section the last sync read."""
        try:
            rules = self.client.sync_rules(config)
        except TrayClientError as exc:
            log.warning("sync rules unusable, intervals unchanged: %s", exc)
            return
        self.due.set_rules(rules)
        self.scheduler.set_intervals(*scheduler_intervals(rules))

    # -- slots -------------------------------------------------------------------------------

    def _on_sync_due(self, phase: str, trigger: str) -> None:
        if self.automatic_paused or not self.client.settings.configured:
            return
        if phase == "both":
            self.due.mark_all()
            self.runner.request(phase, trigger)
            return
        entities = self.due.take(phase)
        if entities:
            self.runner.request(phase, trigger, entities)

    def _on_settings_saved(self, settings: Any) -> None:
        self.alerts.enabled = settings.show_alerts
        self._apply_pause()
        if settings.configured and self._has_key():
            self.fetch_server_configuration()
        # A new connection (the first set-up included) syncs at once: _on_connection_changed.

    def _on_connection_changed(self, settings: Any) -> None:
        """Saved a new way to reach the CRM (URL, user, certificate, key): try it at once
        rather than at the next interval or back-off retry (unless automatic sync is off)."""
        if self.automatic_paused or not (settings.configured and self._has_key()):
            return
        self.scheduler.record_success()   # the old failures were about the old settings
        if self.runner.busy:
            self._sync_when_idle = True   # the running sync still uses the old settings
            return
        first = self.last_result is None and self.last_error is None
        self.runner.request("both", "startup" if first else "settings")

    def _on_runner_idle(self) -> None:
        if self._sync_when_idle:
            self._sync_when_idle = False
            if not self.automatic_paused:
                self.runner.request("both", "settings")
        self.refresh()

    def _on_settings_closed(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def _on_sync_started(self, phase: str, trigger: str) -> None:
        self.actions.stop_sync.setEnabled(True)
        self.actions.stop_sync.setVisible(True)
        self.progress_text = "Starting…"
        self.progress_counts = None
        self._rates = {}
        self._state_before_sync = self.state
        self._run_phase = phase
        if not (trigger == "automatic" and self.state in STEADY_STATES):
            # A problem stays on the icon through the background retries: no flipping
            # to "syncing" and back every interval while it stands.
            self.set_state(TrayState.SYNCING)
        self.refresh()

    def _on_progress(self, entity: str, done: int, total: object, message: str) -> None:
        total_int = total if isinstance(total, int) else None
        label = ENTITY_LABELS.get(entity, entity)
        count = f"{done:,} of {total_int:,}" if total_int else f"{done:,}"
        if self.actions.stop_sync.isEnabled():   # else it says it is stopping
            text = f"{label}: {count}"
            left = self._time_left(entity, done, total_int)
            if left:
                text += f" — {left}"
            elif message:
                text += f" — {message}"
            self.progress_text = text
        self.progress_counts = (done, total_int)
        self.refresh()

    def _time_left(self, entity: str, done: int, total: int | None) -> str:
        """'about 3 minutes left' from the pace since the entity's first progress."""
        now = time.monotonic()
        first = self._rates.setdefault(entity, (now, done))
        elapsed, progressed = now - first[0], done - first[1]
        if not total or progressed <= 0 or elapsed < 2.0:
            return ""
        seconds = (total - done) * elapsed / progressed
        if seconds < 60:
            return "less than a minute left"
        if seconds < 3600:
            minutes = round(seconds / 60)
            return f"about {minutes} minute{'s' if minutes != 1 else ''} left"
        hours = round(seconds / 3600, 1)
        return f"about {hours:g} hours left"

    def _on_sync_finished(self, result: Any) -> None:
        self.actions.stop_sync.setVisible(False)
        self.last_result = result
        self.last_error = None
        self.progress_text = ""
        self.progress_counts = None
        outcome = getattr(result, "outcome", Outcome.FAILED)
        if outcome in (Outcome.OK, Outcome.PARTIAL):
            self.last_success = result
        self._record_activity(result)
        if is_failure(outcome):
            self.scheduler.record_failure()
        else:
            self.scheduler.record_success()
        alerts = self.alerts.for_result(result, self._run_phase)
        state = state_for_outcome(outcome)
        if state == TrayState.IDLE and self.alerts.problems:
            state = TrayState.ATTENTION   # records that failed before still fail
        self.set_state(state)
        self._show_alerts(alerts)
        if outcome == Outcome.GUARDED:
            self.ask_to_delete(result)
        self.refresh()

    def ask_to_delete(self, result: Any) -> QMessageBox:
        """The deletion guard stopped a run: ask whether to delete anyway (DESIGN §6)."""
        if self.guard_box is not None:
            self.guard_box.close()
        box = message_box(QMessageBox.Icon.Warning, "Sync stopped before deleting",
                          (getattr(result, "message", "") or
                           "This sync would delete many local items.")
                          + "\n\nDeleted items go to the local trash for 30 days. "
                            "Delete them and finish the sync?", QMessageBox.StandardButton.NoButton)
        yes = box.addButton("Delete and sync", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setModal(False)

        def answered() -> None:
            if box.clickedButton() is yes:
                self.runner.request("both", "manual", force_delete=True)
            self.guard_box = None

        box.finished.connect(answered)
        box.show()
        self.guard_box = box
        return box

    def _on_sync_failed(self, exc: BaseException, trigger: str) -> None:
        self.actions.stop_sync.setVisible(False)
        self.progress_text = ""
        self.progress_counts = None
        new_state = state_for_error(exc)
        if new_state is None:
            # Another process is syncing this store: nothing is wrong, no back-off.
            self.set_state(self._state_before_sync)
            if trigger in ASKED:
                title, message = error_text(exc)
                self._show_alerts([Alert(title, message, "info")])
            self.refresh()
            return
        self.last_error = error_text(exc)
        self._add_history(Activity(_short_clock(datetime.now(UTC)),
                                   ": ".join(self.last_error), "error"))
        self.set_state(new_state)
        self.scheduler.record_failure()
        alerts = self.alerts.for_error(exc)
        if trigger in ASKED and not alerts:
            # The user asked for this sync: tell them why it failed even if alerts are off
            # or the failure was already announced.
            title, message = self.last_error
            alerts = [Alert(title, message, "critical")]
        self._show_alerts(alerts)
        self.refresh()

    def report_error(self, exc: BaseException) -> None:
        """An error no caller handled: show it with title and message."""
        title, message = error_text(exc)
        log.error("%s: %s", title, message)
        self._show_alerts([Alert(title, message, "critical")], force=True)

    # -- state and text ------------------------------------------------------------------------

    def set_state(self, state: TrayState) -> None:
        # While nothing syncs, paused wins over idle: the icon says why nothing happens.
        if state == TrayState.IDLE and self.automatic_paused:
            state = TrayState.PAUSED
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
        self.tray.set_state(state)

    def _apply_pause(self) -> None:
        disabled = self.client.settings.disable_sync
        if self.automatic_paused:
            self.scheduler.pause()
        else:
            self.scheduler.resume()
        self.actions.set_paused(self.user_paused, disabled_in_settings=disabled)
        self._update_state_from_settings()

    def _update_state_from_settings(self) -> None:
        self.actions.set_paused(self.user_paused,
                                disabled_in_settings=self.client.settings.disable_sync)
        if self.runner.busy:
            return
        if self.automatic_paused and self.state in (TrayState.IDLE,):
            self.set_state(TrayState.PAUSED)
        elif not self.automatic_paused and self.state == TrayState.PAUSED:
            self.set_state(TrayState.IDLE)
        self.refresh()

    def _has_key(self) -> bool:
        """The secret of the chosen kind of sign-in is at hand (API key, client secret, or a
        sign-in with Oro)."""
        try:
            return self.client.has_secret()
        except TrayClientError:
            return False

    def headline(self) -> str:
        if not self.client.settings.configured:
            return "Not set up — open Settings"
        if self.state == TrayState.PAUSED:
            if self.client.settings.disable_sync:
                return "Automatic sync disabled in Settings"
            if self.pause_until is not None:
                return f"Automatic sync paused until {_until(self.pause_until)}"
        if (self.state == TrayState.ATTENTION and not self.alerts.problems
                and getattr(self.last_result, "outcome", "") == Outcome.CANCELLED):
            return "Sync stopped before it finished"
        return STATE_WORDS[self.state]

    def _status_lines(self) -> list[str]:
        """Progress, last successful sync, last attempt (when it failed), next sync."""
        lines = []
        if self.runner.busy and self.progress_text:
            lines.append(f"Progress: {self.progress_text}")
        success = self.last_success
        lines.append("Last successful sync: "
                     + (_clock(getattr(success, "finished_at", None)) if success else
                        "none yet"))
        if self.last_error is not None:
            lines.append(f"Last attempt: {self.last_error[0]} — {self.last_error[1]}")
        elif self.last_result is not None and self.last_result is not success:
            result = self.last_result
            outcome = getattr(result, "outcome", "")
            lines.append(f"Last attempt: {_clock(getattr(result, 'finished_at', None))}, "
                         f"{OUTCOME_WORDS.get(outcome, outcome)}")
            if getattr(result, "message", ""):
                lines.append(str(result.message))
        elif (getattr(success, "outcome", "") == Outcome.PARTIAL
              and getattr(success, "message", "")):
            lines.append(str(success.message))     # "2 record(s) failed; …"
        if not self.automatic_paused:
            nxt = self.scheduler.next_run()
            if nxt is not None:
                label = "Next try" if self.scheduler.backoff_until else "Next sync"
                lines.append(f"{label}: {_clock(nxt)}")
        elif self.state != TrayState.PAUSED:
            # The headline shows another state: say here that nothing runs on its own.
            lines.append("Automatic sync paused")
        if self.demo_url:
            lines.append(f"Demo CRM: {self.demo_url}")
        return lines

    def tooltip_text(self) -> str:
        """State, progress, last successful sync, last attempt, next sync."""
        return "\n".join([f"CRM Tray Client — {self.headline()}", *self._status_lines()])

    def activity(self) -> list[Activity]:
        """The popover's list: standing problems (each once, named, linked), then the runs
        worth a line, newest first."""
        entries = []
        base_url = self.client.settings.url
        for error in reversed(list(self.alerts.problems.values())):
            crm_id = getattr(error, "crm_id", None)
            entity = getattr(error, "entity", "")
            link = (record_url(base_url, entity, crm_id)
                    if base_url and crm_id and entity in ENTITY_LABELS else None)
            message = str(getattr(error, "message", "") or error)
            entries.append(Activity("", f"Could not sync {describe_record(error)}: {message}",
                                    "error", link, getattr(error, "name", "") or crm_id or ""))
        entries.extend(self.history)
        return entries

    def _add_history(self, entry: Activity) -> None:
        # The same failure again and again is one line (its time is the first one's).
        if self.history and (self.history[0].text, self.history[0].level) == (entry.text,
                                                                              entry.level):
            return
        self.history.appendleft(entry)

    def _record_activity(self, result: Any) -> None:
        when = _short_clock(getattr(result, "finished_at", None))
        outcome = getattr(result, "outcome", "")
        changes = describe_counts(getattr(result, "counts", {}) or {})
        conflicts = len(getattr(result, "conflicts", []) or [])
        message = getattr(result, "message", "") or ""
        if outcome == Outcome.CANCELLED:
            self._add_history(Activity(when, "Stopped. " + (f"Done: {changes} " if changes
                                                             else "Nothing changed. ")
                                       + message, "warning"))
        elif outcome in (Outcome.OFFLINE, Outcome.FAILED):
            self._add_history(Activity(when, message or OUTCOME_WORDS[outcome], "error"))
        elif outcome == Outcome.GUARDED:
            self._add_history(Activity(when, message or "Stopped before deleting", "warning"))
        elif changes or conflicts:
            text = changes or "Synced."
            if conflicts:
                text += f" {conflicts} conflict{'s' if conflicts != 1 else ''} decided."
            self._add_history(Activity(when, text))

    def refresh(self) -> None:
        if self.pause_until is not None and datetime.now(UTC) >= self.pause_until:
            self.set_user_paused(False)      # a timed pause is over (this refreshes again)
            return
        headline = self.headline()
        lines = self._status_lines()
        self.tray.set_tooltip("\n".join([f"CRM Tray Client — {headline}", *lines]))
        self.tray.set_status_line(headline)
        self.popover.set_state(self.state, headline)
        self.popover.set_times("\n".join(line for line in lines
                                          if not line.startswith("Progress: ")))
        if self.runner.busy:
            done, total = self.progress_counts or (0, None)
            self.popover.set_progress(self.progress_text or "Syncing…", done, total)
        else:
            self.popover.set_progress(None)
        entries = self.activity()
        if entries != self._shown_activity:
            self._shown_activity = entries
            self.popover.set_activity(entries)

    def _show_alerts(self, alerts: list[Alert], *, force: bool = False) -> None:
        for alert in alerts:
            self.alert_shown.emit(alert)
            if self.tray_available and self.tray.icon.isVisible():
                self.tray.notify(alert.title, alert.message, alert.level)
            elif force or alert.level == "critical":
                # No tray to carry a notification: failures go to a non-blocking dialog.
                box = message_box(QMessageBox.Icon.Warning, alert.title, alert.message,
                                  parent=self.popover)
                box.setModal(False)
                box.show()


def _install_signal_handlers(app: QApplication) -> QTimer:
    """Let SIGINT/SIGTERM quit cleanly: Python handles signals only when its code runs, so a
    timer gives the interpreter a slot every 200 ms."""
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    timer = QTimer()
    timer.start(200)
    timer.timeout.connect(lambda: None)
    return timer


def _report_store_warning(client: ClientFacade, tray_app: Any) -> None:
    """Open the store once at start-up and tell what opening it found (an empty file)."""
    try:
        _ = client.store
    except TrayClientError:
        return  # a store that cannot be opened is reported where it is used
    if client.store_warning:
        tray_app.report_error(TrayClientError(client.store_warning,
                                              title="Local database was empty"))


def main(home: str | None = None, *, demo_url: str | None = None,
         argv: Sequence[str] | None = None) -> int:
    """Run the tray app for ``home`` (None: platform folders / TRAY_CLIENT_HOME).

    Returns the exit code: 0 after Quit, or at once when another instance already runs for
    the same store (it is asked to show itself).
    """
    from ..client import Client
    from ..logs import setup_file_logging
    from ..paths import resolve_paths

    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    assert isinstance(app, QApplication)
    app.setApplicationName("CRM Tray Client")
    app.setQuitOnLastWindowClosed(False)

    paths = resolve_paths(home).ensure()
    instance = SingleInstance(paths.data_dir)
    if not instance.acquire():
        instance.send("show")
        return 0
    if not logging.getLogger().handlers:
        setup_file_logging(paths.log_file)
    client = Client(home, sync_in_child=True)
    tray_app = TrayApp(client, home=home, demo_url=demo_url)
    windows = AppWindows(tray_app, client)
    instance.command_received.connect(tray_app.handle_command)
    keepalive = _install_signal_handlers(app)
    if client.settings_warning:
        QTimer.singleShot(0, lambda: tray_app.report_error(
            TrayClientError(client.settings_warning or "", title="Settings reset")))
    QTimer.singleShot(0, lambda: _report_store_warning(client, tray_app))
    tray_app.start()
    windows.start()
    freeze_startup_heap()
    try:
        return app.exec()
    finally:
        keepalive.stop()
        tray_app.shutdown()
        instance.close()
        client.close()
