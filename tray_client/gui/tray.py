"""The tray icon, its menu and its tooltip.

The icon is swapped only when the state changes (``set_state``), as maestral-qt does: some
tray hosts redraw (and flicker) on every ``setIcon``. The menu has a fixed layout:

    <status line: opens the status popover>
    ─────────────
    Sync Now
    Pause automatic sync / Resume automatic sync
    ─────────────
    <extension section: add_menu_action(), e.g. Show/Hide Side Panel, Sync Report…>
    ─────────────
    Settings…
    Quit
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from . import plain_text
from .icons import icon_for
from .state import TrayState


class TrayIcon(QObject):
    """QSystemTrayIcon + menu. ``activated_left`` fires on a left click (trigger)."""

    activated_left = Signal()

    def __init__(self, actions: AppActions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state: TrayState | None = None
        self.icon_swaps = 0   # how often setIcon was called (the tests hold us to "on change")
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        # The status line reads as text, not as a greyed-out entry; it opens the popover.
        self.status_action = QAction("Starting…", self.menu)
        self.status_action.setToolTip("Show the status")
        font = self.status_action.font()
        font.setBold(True)
        self.status_action.setFont(font)
        self.menu.addAction(self.status_action)
        self.menu.addSeparator()
        self.menu.addAction(actions.sync_now)
        self.menu.addAction(actions.stop_sync)
        self.menu.addAction(actions.pause)
        self._extensions_start = self.menu.addSeparator()
        self._extensions_end = self.menu.addSeparator()
        self._extensions_start.setVisible(False)
        self.menu.addAction(actions.settings)
        self.menu.addAction(actions.quit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.set_state(TrayState.IDLE)

    def set_state(self, state: TrayState) -> bool:
        """Show ``state``'s icon; returns True if the icon was swapped (state changed)."""
        if state == self.state:
            return False
        self.state = state
        self.icon.setIcon(icon_for(state))
        self.icon_swaps += 1
        return True

    def set_status_line(self, text: str) -> None:
        # "&" would be taken as a mnemonic marker in a menu entry.
        self.status_action.setText(text.replace("&", "&&"))
        if self.menu.isVisible():
            self._keep_menu_on_screen()

    def _keep_menu_on_screen(self) -> None:
        """An open menu grows with a longer status line (the run ended meanwhile) but Qt
        leaves it where it was placed: by a tray at the screen's edge it ran off the screen."""
        menu = self.menu
        menu.adjustSize()
        area = menu.screen().availableGeometry()
        frame = menu.frameGeometry()
        x = max(area.left(), min(frame.x(), area.right() + 1 - frame.width()))
        y = max(area.top(), min(frame.y(), area.bottom() + 1 - frame.height()))
        if (x, y) != (frame.x(), frame.y()):
            menu.move(x, y)

    def set_tooltip(self, text: str) -> None:
        text = plain_text.tooltip(text)   # server messages and record names, shown as written
        if self.icon.toolTip() != text:
            self.icon.setToolTip(text)

    def add_extension(self, action: QAction) -> None:
        """Put ``action`` into the extension section (before Settings…)."""
        self.menu.insertAction(self._extensions_end, action)
        self._extensions_start.setVisible(True)

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def notify(self, title: str, message: str, level: str = "info") -> None:
        icon = {"info": QSystemTrayIcon.MessageIcon.Information,
                "warning": QSystemTrayIcon.MessageIcon.Warning,
                "critical": QSystemTrayIcon.MessageIcon.Critical}.get(
                    level, QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(plain_text.notification(title), plain_text.notification(message),
                              icon, 10000)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.activated_left.emit()


class AppActions(QObject):
    """The app's user actions, shared by the tray menu and the status window."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sync_now = QAction("Sync Now", self)
        # Shown while a sync runs: it stops between two records, keeping what was synced.
        self.stop_sync = QAction("Stop Sync", self)
        self.stop_sync.setVisible(False)
        self.pause = QAction("Pause automatic sync", self)
        # The popover's Pause menu: for a while, then on its own again.
        self.pause_hour = QAction("Pause for 1 hour", self)
        self.pause_tomorrow = QAction("Pause until tomorrow", self)
        self.resume = QAction("Resume automatic sync", self)
        self.resume.setVisible(False)
        self.settings = QAction("Settings…", self)
        self.quit = QAction("Quit", self)
        self.extensions: list[QAction] = []

    def set_paused(self, paused: bool, *, disabled_in_settings: bool = False) -> None:
        if disabled_in_settings:
            # Disable Sync is a setting: resuming is done there, not from the menu.
            self.pause.setText("Automatic sync disabled in Settings")
            self.pause.setEnabled(False)
        else:
            self.pause.setEnabled(True)
            self.pause.setText("Resume automatic sync" if paused else "Pause automatic sync")
        for action in (self.pause_hour, self.pause_tomorrow):
            action.setVisible(not paused)
            action.setEnabled(not disabled_in_settings)
        self.resume.setVisible(paused and not disabled_in_settings)
