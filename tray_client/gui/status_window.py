"""A small window with the sync status and the tray menu's actions.

Opened by a left click on the tray icon; where the desktop has no system tray (plain GNOME),
it is the app's main window and says why it is shown. Closing it only hides it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .icons import icon_for
from .state import TrayState
from .tray import AppActions

# Explicit line breaks instead of word wrap: a wrapped QLabel's height is unknown to the
# layout until it has a width, and the window came out clipped.
NO_TRAY_REASON = (
    "Your desktop shows no system tray (for example GNOME without the AppIndicator\n"
    "extension), so the CRM Tray Client shows this window instead. Closing it keeps\n"
    "syncing in the background; start the app again to bring the window back."
)


class ActionButton(QPushButton):
    """A push button that mirrors a QAction (text, enabled, visible) and triggers it."""

    def __init__(self, action: QAction, parent: QWidget | None = None) -> None:
        super().__init__(action.text(), parent)
        self.action = action
        self.clicked.connect(action.trigger)
        action.changed.connect(self._sync)
        self._sync()

    def _sync(self) -> None:
        self.setText(self.action.text())
        self.setEnabled(self.action.isEnabled())
        self.setVisible(self.action.isVisible())


class StatusWindow(QWidget):
    def __init__(self, actions: AppActions, *, no_tray: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("CRM Tray Client")
        self.setObjectName("statusWindow")
        layout = QVBoxLayout(self)
        # The window grows with its texts (they change after it is shown).
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)

        self.reason_label = QLabel(NO_TRAY_REASON)
        self.reason_label.setVisible(no_tray)
        self.reason_label.setObjectName("noTrayReason")
        layout.addWidget(self.reason_label)

        head = QHBoxLayout()
        self.icon_label = QLabel()
        self.state_label = QLabel()
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head.addWidget(self.icon_label)
        head.addWidget(self.state_label, 1)
        layout.addLayout(head)

        self.details_label = QLabel()
        self.details_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details_label)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        layout.addWidget(self.progress)

        self.buttons = QHBoxLayout()
        self.action_buttons: list[ActionButton] = []
        for action in (actions.sync_now, actions.stop_sync, actions.pause, actions.settings):
            self._add_button(action)
        self._extension_index = self.buttons.count()
        self._add_button(actions.quit)
        layout.addLayout(self.buttons)

    def _add_button(self, action: QAction, index: int | None = None) -> ActionButton:
        button = ActionButton(action, self)
        if index is None:
            self.buttons.addWidget(button)
        else:
            self.buttons.insertWidget(index, button)
        self.action_buttons.append(button)
        return button

    def add_extension(self, action: QAction) -> None:
        self._add_button(action, self._extension_index)
        self._extension_index += 1

    def set_no_tray(self, no_tray: bool) -> None:
        self.reason_label.setVisible(no_tray)

    def set_state(self, state: TrayState, headline: str) -> None:
        self.icon_label.setPixmap(icon_for(state).pixmap(32, 32))
        self.state_label.setText(headline)

    def set_details(self, text: str) -> None:
        self.details_label.setText(text)

    def set_progress(self, done: int | None, total: int | None) -> None:
        """Show a bar while syncing (busy indicator when the total is unknown)."""
        if done is None:
            self.progress.setVisible(False)
            return
        self.progress.setVisible(True)
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)

    def show_and_raise(self) -> None:
        # Fit the word-wrapped texts at the current width (else they are clipped).
        self.adjustSize()
        self.show()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        # The app lives on in the tray (or in the background); Quit is the way out.
        event.ignore()
        self.hide()
