"""The tray app's secondary windows and checks, plugged into ``TrayApp``'s extension points.

``AppWindows(tray_app, client)`` adds the menu entries *Show/Hide Side Panel*, *Sync
Report…*, *Queue…*, *Local Items…*, *Trash…* and *Resync…*, attaches the *Field mapping*
tab to the settings dialog, and runs the update check (once at start, then daily, as
Settings.update_check says).
Windows are created on first use and kept, so reopening one is instant and keeps its state.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from .. import __version__
from ..errors import TrayClientError
from .facade import ClientFacade
from .workers import run_in_pool

log = logging.getLogger(__name__)

UPDATE_CHECK_INTERVAL_MS = 6 * 60 * 60 * 1000  # "daily" is decided by UpdateOffers.check_due


class AppWindows(QObject):
    """Creates and shows the side panel, the report and items windows; offers updates."""

    def __init__(self, tray_app: Any, client: ClientFacade) -> None:
        super().__init__(tray_app)
        self.tray_app = tray_app
        self.client = client
        self.side_panel: QWidget | None = None
        self.report_window: QWidget | None = None
        self.items_window: QWidget | None = None
        self.resync_box: QMessageBox | None = None

        self.panel_action = tray_app.add_menu_action("Show/Hide Side Panel",
                                                     self.toggle_side_panel)
        self.report_action = tray_app.add_menu_action("Sync Report…", self.show_report)
        self.queue_action = tray_app.add_menu_action("Queue…", self.show_queue)
        self.items_action = tray_app.add_menu_action("Local Items…", self.show_items)
        self.trash_action = tray_app.add_menu_action("Trash…", self.show_trash)
        self.resync_action = tray_app.add_menu_action("Resync…", self.confirm_resync)
        tray_app.window_commands.update({
            "panel": self.toggle_side_panel, "report": self.show_report,
            "queue": self.show_queue, "items": self.show_items, "trash": self.show_trash})
        tray_app.settings_dialog_created.connect(self.attach_mapping_tab)
        tray_app.runner.idle.connect(self._refresh_open_windows)

        self.update_timer = QTimer(self)
        self.update_timer.setInterval(UPDATE_CHECK_INTERVAL_MS)
        self.update_timer.timeout.connect(self.check_for_update)

    def start(self) -> None:
        """Start the periodic update check (the first one runs at once)."""
        self.update_timer.start()
        QTimer.singleShot(0, self.check_for_update)

    # -- side panel -----------------------------------------------------------------------------

    def _make_side_panel(self) -> QWidget:
        from ..outbox import load_forms
        from .sidepanel import SidePanel, SidePanelContext

        client = self.client
        outbox = client.outbox()

        def send_now() -> Any:  # worker thread
            with client.crm() as crm:
                return outbox.send_pending(crm)

        def forms() -> Any:  # worker thread
            with client.crm() as crm:
                return load_forms(crm)

        return SidePanel(SidePanelContext(
            outbox=outbox, send_now=send_now, crm_url=lambda: client.settings.url,
            load_forms=forms, state_file=client.paths.config_dir / "sidepanel.json",
            search_customers=client.search_customers, sender_account=client.sender_account,
            sender_contact=client.sender_contact))

    def toggle_side_panel(self) -> None:
        if self.side_panel is None:
            self.side_panel = self._make_side_panel()
            self.side_panel.show()
            return
        self.side_panel.toggle()  # type: ignore[attr-defined]

    # -- report and items windows -------------------------------------------------------------

    def show_report(self) -> QWidget:
        from .report_window import ReportWindow

        if self.report_window is None:
            self.report_window = ReportWindow(self.client)
        self._raise(self.report_window)
        return self.report_window

    def show_queue(self) -> QWidget:
        """The report on its Queue tab: what waits to be sent, and why it has not gone."""
        window = self.show_report()
        tabs = window.tabs  # type: ignore[attr-defined]
        tabs.setCurrentIndex(window.queue_tab)  # type: ignore[attr-defined]
        return window

    def show_trash(self) -> QWidget:
        """The local items on their Trash tab (deleted or overwritten items, 30 days)."""
        window = self.show_items()
        tabs = window.tabs  # type: ignore[attr-defined]
        tabs.setCurrentWidget(window.trash_tab)  # type: ignore[attr-defined]
        return window

    def show_items(self) -> QWidget:
        from .items_window import ItemsWindow

        if self.items_window is None:
            self.items_window = ItemsWindow(self.client)
        self._raise(self.items_window)
        return self.items_window

    @staticmethod
    def _raise(window: QWidget) -> None:
        window.show()
        window.raise_()
        window.activateWindow()
        refresh = getattr(window, "refresh", None)
        if refresh is not None:
            refresh()

    def _refresh_open_windows(self) -> None:
        # After every run the report, the items' sync marks and the side panel's list (a
        # sync sends its queued records) are stale.
        for window in (self.report_window, self.items_window, self.side_panel):
            if window is not None and window.isVisible():
                window.refresh()  # type: ignore[attr-defined]

    # -- settings ---------------------------------------------------------------------------------

    def attach_mapping_tab(self, dialog: Any) -> None:
        """The settings dialog's *Sync rules* and *Field mapping* tabs."""
        from .mapping_tab import MappingTab
        from .sync_rules_tab import SyncRulesTab

        SyncRulesTab(self.client).attach(dialog)
        MappingTab(self.client).attach(dialog)

    # -- resync -----------------------------------------------------------------------------------

    def confirm_resync(self) -> QMessageBox:
        """Ask first (DESIGN §6): a resync deletes linked local items into the trash."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Resync with the CRM",
                          "Resync deletes every local item that is linked to a CRM record "
                          "(they go to the trash and can be restored for 30 days), then "
                          "matches the CRM's records again by their key fields.\n\n"
                          "Continue?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(button: int) -> None:
            if button == QMessageBox.StandardButton.Yes:
                self.tray_app.runner.request("both", "resync", resync=True)

        box.finished.connect(answered)
        box.open()
        self.resync_box = box
        return box

    # -- updates ----------------------------------------------------------------------------------

    def check_for_update(self) -> None:
        from ..updates import STATE_FILE_NAME, UpdateOffers, check_for_update

        settings = self.client.settings
        if not settings.configured:
            return
        offers = UpdateOffers(self.client.paths.data_dir / STATE_FILE_NAME)
        if not offers.check_due(settings.update_check):
            return

        def work() -> Any:  # worker thread
            status = check_for_update(__version__, self.client.server_configuration())
            offers.record_check()
            return status if offers.claim(status) else None

        def show(status: Any) -> None:
            if status is None:
                return
            self.tray_app.tray.notify("Update available" if status.kind == "newer_available"
                                      else "Update required", status.message,
                                      "info" if status.kind == "newer_available" else "critical")

        def failed(exc: BaseException) -> None:
            # The CRM being unreachable now is not news: the sync reports that.
            if not isinstance(exc, TrayClientError):
                self.tray_app.report_error(exc)
                return
            log.info("update check skipped: %s", exc)

        run_in_pool(work, on_result=show, on_error=failed)
