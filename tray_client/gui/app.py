"""The tray application: wires the facade, the sync runner, the scheduler and the windows.

``main()`` is the entry point (``tray-client`` with no command). ``TrayApp`` holds the parts
and is what the tests drive. Extension point for the side panel and the sync report:
``TrayApp.add_menu_action(text, callback)`` puts an entry into the tray menu's middle section
and a button into the status window.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from ..errors import TrayClientError
from ..sync.rules import DueEntities, scheduler_intervals
from .alerts import Alert, AlertPolicy, error_text
from .facade import ClientFacade
from .scheduler import NetworkWatcher, SyncScheduler, WakeDetector
from .settings_dialog import SettingsDialog
from .single_instance import SingleInstance
from .state import TrayState, is_failure, state_for_error, state_for_outcome
from .status_window import StatusWindow
from .sync_runner import SyncRunner
from .tray import AppActions, TrayIcon
from .windows import AppWindows
from .workers import error_sink, gui_collector, run_in_pool, wait_for_workers

log = logging.getLogger(__name__)

STATE_WORDS = {
    TrayState.IDLE: "Up to date",
    TrayState.SYNCING: "Syncing…",
    TrayState.PAUSED: "Automatic sync paused",
    TrayState.OFFLINE: "CRM unreachable — will retry",
    TrayState.ATTENTION: "Some records need attention",
    TrayState.ERROR: "Cannot sync",
}
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
        self.last_result: Any = None
        self.last_error: tuple[str, str] | None = None
        self.progress_text = ""
        self.settings_dialog: SettingsDialog | None = None
        self.guard_box: QMessageBox | None = None

        self.actions = AppActions(self)
        self.actions.sync_now.triggered.connect(self.sync_now)
        self.actions.stop_sync.triggered.connect(self.stop_sync)
        self.actions.pause.triggered.connect(self.toggle_pause)
        self.actions.settings.triggered.connect(self.show_settings)
        self.actions.quit.triggered.connect(self.quit)

        self.tray = TrayIcon(self.actions, self)
        self.tray.activated_left.connect(self.show_status_window)
        self.status_window = StatusWindow(self.actions, no_tray=not self.tray_available)

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
            self.status_window.show_and_raise()
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
                try:
                    signal_.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass  # already disconnected (shutdown twice)
        # The caller closes the client next (main, the tests): a worker still using the
        # store's connection while it closes crashes the process.
        if not wait_for_workers(10.0):
            log.warning("GUI workers still running at shutdown")
        if self._collecting:
            gui_collector().release()
            self._collecting = False
        self.tray.hide()
        self.status_window.hide()

    def quit(self) -> None:
        self.quit_requested.emit()
        app = QApplication.instance()
        if app is not None:
            # exit(), not quit(): Qt 6's quit() first asks every window to close and gives up
            # when one refuses, and the status window refuses (it only hides).
            app.exit(0)

    def handle_command(self, command: str) -> None:
        """A command from a second launch (single-instance socket)."""
        if command == "show":
            if self.client.settings.configured:
                self.show_status_window()
            else:
                self.show_settings()
        elif command == "sync":
            self.sync_now()
        elif command == "settings":
            self.show_settings()
        elif command == "quit":
            self.quit()
        else:
            log.warning("unknown command from another instance: %r", command)

    # -- extension point --------------------------------------------------------------------------

    def add_menu_action(self, text: str | QAction,
                        callback: Callable[[], Any] | None = None) -> QAction:
        """Add an entry (e.g. "Show/Hide Side Panel", "Sync Report…") to the tray menu's
        middle section and a matching button to the status window. Returns the QAction."""
        action = text if isinstance(text, QAction) else QAction(text, self)
        if callback is not None:
            action.triggered.connect(callback)
        self.actions.extensions.append(action)
        self.tray.add_extension(action)
        self.status_window.add_extension(action)
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

    def set_user_paused(self, paused: bool) -> None:
        self.user_paused = paused
        self._apply_pause()

    def show_settings(self) -> SettingsDialog:
        if self.settings_dialog is None:
            command = None
            if self.home:
                from .. import autostart

                command = autostart.default_start_command() + ["--home", self.home]
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

    def show_status_window(self) -> None:
        self.refresh()
        self.status_window.show_and_raise()

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
        self.runner.request("both", "startup" if first else "manual")

    def _on_runner_idle(self) -> None:
        if self._sync_when_idle:
            self._sync_when_idle = False
            if not self.automatic_paused:
                self.runner.request("both", "manual")
        self.refresh()

    def _on_settings_closed(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    def _on_sync_started(self, phase: str, trigger: str) -> None:
        self.actions.stop_sync.setEnabled(True)
        self.actions.stop_sync.setVisible(True)
        self.progress_text = "Starting…"
        self._state_before_sync = self.state
        self.set_state(TrayState.SYNCING)
        self.status_window.set_progress(0, None)
        self.refresh()

    def _on_progress(self, entity: str, done: int, total: object, message: str) -> None:
        total_int = total if isinstance(total, int) else None
        count = f"{done}/{total_int}" if total_int else str(done)
        if self.actions.stop_sync.isEnabled():   # else it says it is stopping
            self.progress_text = f"{entity}: {count}" + (f" — {message}" if message else "")
        self.status_window.set_progress(done, total_int)
        self.refresh()

    def _on_sync_finished(self, result: Any) -> None:
        self.actions.stop_sync.setVisible(False)
        self.last_result = result
        self.last_error = None
        self.progress_text = ""
        self.status_window.set_progress(None, None)
        outcome = getattr(result, "outcome", "failed")
        if is_failure(outcome):
            self.scheduler.record_failure()
        else:
            self.scheduler.record_success()
        self.set_state(state_for_outcome(outcome))
        self._show_alerts(self.alerts.for_result(result))
        if outcome == "guarded":
            self.ask_to_delete(result)
        self.refresh()

    def ask_to_delete(self, result: Any) -> QMessageBox:
        """The deletion guard stopped a run: ask whether to delete anyway (DESIGN §6)."""
        if self.guard_box is not None:
            self.guard_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, "Sync stopped before deleting",
                          (getattr(result, "message", "") or
                           "This sync would delete many local items.")
                          + "\n\nDeleted items go to the local trash for 30 days. "
                            "Delete them and finish the sync?")
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
        self.status_window.set_progress(None, None)
        new_state = state_for_error(exc)
        if new_state is None:
            # Another process is syncing this store: nothing is wrong, no back-off.
            self.set_state(self._state_before_sync)
            if trigger == "manual":
                title, message = error_text(exc)
                self._show_alerts([Alert(title, message, "info")])
            self.refresh()
            return
        self.last_error = error_text(exc)
        self.set_state(new_state)
        self.scheduler.record_failure()
        alerts = self.alerts.for_error(exc)
        if trigger == "manual" and not alerts:
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
        try:
            return self.client.has_api_key()
        except TrayClientError:
            return False

    def headline(self) -> str:
        if not self.client.settings.configured:
            return "Not set up — open Settings"
        if self.state == TrayState.PAUSED and self.client.settings.disable_sync:
            return "Automatic sync disabled"
        return STATE_WORDS[self.state]

    def tooltip_text(self) -> str:
        """Last sync time and result, next scheduled sync, progress while syncing."""
        lines = [f"CRM Tray Client — {self.headline()}"]
        if self.runner.busy and self.progress_text:
            lines.append(f"Progress: {self.progress_text}")
        if self.last_error is not None:
            lines.append(f"Last sync: {self.last_error[0]} — {self.last_error[1]}")
        elif self.last_result is not None:
            result = self.last_result
            when = _clock(getattr(result, "finished_at", None))
            outcome = getattr(result, "outcome", "")
            lines.append(f"Last sync: {when}, {OUTCOME_WORDS.get(outcome, outcome)}")
            if getattr(result, "message", ""):
                lines.append(str(result.message))
        else:
            lines.append("Last sync: none yet")
        if self.automatic_paused:
            reason = "disabled in Settings" if self.client.settings.disable_sync else "paused"
            lines.append(f"Automatic sync {reason}")
        else:
            nxt = self.scheduler.next_run()
            if nxt is not None:
                label = "Next try" if self.scheduler.backoff_until else "Next sync"
                lines.append(f"{label}: {_clock(nxt)}")
        if self.demo_url:
            lines.append(f"Demo CRM: {self.demo_url}")
        return "\n".join(lines)

    def refresh(self) -> None:
        text = self.tooltip_text()
        self.tray.set_tooltip(text)
        self.tray.set_status_line(self.headline())
        self.status_window.set_state(self.state, self.headline())
        self.status_window.set_details("\n".join(text.splitlines()[1:]))

    def _show_alerts(self, alerts: list[Alert], *, force: bool = False) -> None:
        for alert in alerts:
            self.alert_shown.emit(alert)
            if self.tray_available and self.tray.icon.isVisible():
                self.tray.notify(alert.title, alert.message, alert.level)
            elif force or alert.level == "critical":
                # No tray to carry a notification: failures go to a non-blocking dialog.
                box = QMessageBox(QMessageBox.Icon.Warning, alert.title, alert.message,
                                  parent=self.status_window)
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


def main(home: str | None = None, *, demo_url: str | None = None,
         argv: Sequence[str] | None = None) -> int:
    """Run the tray app for ``home`` (None: platform folders / TRAY_CLIENT_HOME).

    Returns the exit code: 0 after Quit, or at once when another instance already runs for
    the same store (it is asked to show itself).
    """
    from ..client import Client
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
        logging.basicConfig(filename=str(paths.log_file), level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    client = Client(home)
    tray_app = TrayApp(client, home=home, demo_url=demo_url)
    windows = AppWindows(tray_app, client)
    instance.command_received.connect(tray_app.handle_command)
    keepalive = _install_signal_handlers(app)
    if client.settings_warning:
        QTimer.singleShot(0, lambda: tray_app.report_error(
            TrayClientError(client.settings_warning or "", title="Settings reset")))
    tray_app.start()
    windows.start()
    try:
        return app.exec()
    finally:
        keepalive.stop()
        tray_app.shutdown()
        instance.close()
        client.close()
