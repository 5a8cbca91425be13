"""The compact status popover opened by a click on the tray icon (as Dropbox, Maestral and
Nextcloud do), and the app's main window where the desktop has no tray.

Fixed width; long messages wrap inside it and the activity list scrolls, so it never grows
past the screen. It shows:

    [icon] <state>                                   [⋯]
    Last successful sync · last attempt · next sync
    <progress: "Contacts: 1,234 of 20,000 — about 2 minutes left" and a bar, while syncing>
    Recent activity: problems first (each once, with the record's name and a link to it),
    then the last runs
    [Sync Now | Stop Sync]                      [Pause ▾]

*Pause ▾* offers *Pause for 1 hour*, *Pause until tomorrow* and *Resume*; the ⋯ menu holds
the rest (the extensions: side panel, report, items, resync; Settings…; Quit). Escape, or a
click elsewhere, closes it. Everything it shows that comes from the CRM or the server is
plain text (``plain_text``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QCursor, QFont, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from . import links, plain_text
from .icons import icon_for
from .plain_text import plain_label
from .state import TrayState
from .tray import AppActions

WIDTH = 380
ACTIVITY_HEIGHT = 200   # the list scrolls beyond this
MARGIN = 6              # between the icon (or the screen's edge) and the popover

POPOVER_TITLE = "CRM Tray Client — Status"
NO_TRAY_REASON = (
    "Your desktop shows no system tray (for example GNOME without the AppIndicator "
    "extension), so the CRM Tray Client shows this window instead. Closing it keeps "
    "syncing in the background; start the app again to bring the window back."
)
# A run of this many characters without a space (a URL, a long record name) gets a break
# opportunity (a zero-width space) after every BREAK_EVERY characters, so it wraps too.
BREAK_EVERY = 24
ZERO_WIDTH_SPACE = "\u200b"
_UNBROKEN = re.compile(rf"\S{{{BREAK_EVERY + 1},}}")
LEVEL_MARKS = {"error": "✘", "warning": "⚠", "info": "•"}
LEVEL_COLOURS = {"error": "#c62828", "warning": "#8a5a00", "info": ""}


@dataclass(frozen=True)
class Activity:
    """One line of the recent-activity list."""

    when: str                 # "14:05" (local time) or "" for a standing problem
    text: str                 # plain text
    level: str = "info"       # info | warning | error
    link: str | None = None   # the record's page in the CRM
    link_name: str = ""       # the record's name, shown as the link


def breakable(text: str) -> str:
    """``text`` with a zero-width space after every BREAK_EVERY characters of a run without
    spaces: word wrap can then break it like any other text."""
    def split(match: re.Match[str]) -> str:
        word = match.group(0)
        return ZERO_WIDTH_SPACE.join(word[i:i + BREAK_EVERY]
                                     for i in range(0, len(word), BREAK_EVERY))
    return _UNBROKEN.sub(split, text)


def shown_text(text: str) -> str:
    """The text as written, without the break opportunities ``breakable`` added."""
    return text.replace(ZERO_WIDTH_SPACE, "")


def fit_width(label: QLabel) -> QLabel:
    """Let ``label`` wrap in whatever width the popover gives it: its text (however long a
    word) never asks for more, so it can never widen the popover. Returns it."""
    label.setWordWrap(True)
    policy = label.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    label.setSizePolicy(policy)
    label.setMinimumWidth(0)
    return label


def popover_position(size: QSize, screen: QRect, anchor: QRect | None) -> QPoint:
    """Where a popover of ``size`` goes: by ``anchor`` (the tray icon, or the point
    clicked), right-aligned with it, below it in the upper half of the screen and above it
    in the lower half; without an anchor, the screen's top-right corner. Always inside
    ``screen``."""
    if anchor is None or not anchor.isValid():
        x = screen.right() - size.width() - MARGIN + 1
        y = screen.top() + MARGIN
    else:
        x = anchor.right() - size.width() + 1
        if anchor.center().y() < screen.center().y():
            y = anchor.bottom() + MARGIN
        else:
            y = anchor.top() - size.height() - MARGIN
    x = max(screen.left(), min(x, screen.right() - size.width() + 1))
    y = max(screen.top(), min(y, screen.bottom() - size.height() + 1))
    return QPoint(x, y)


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


class StatusPopover(QFrame):
    """The popover (``no_tray=False``) or the main window (``no_tray=True``)."""

    def __init__(self, actions: AppActions, *, no_tray: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.actions = actions
        self.no_tray = no_tray
        self.setObjectName("statusPopover")
        if no_tray:
            self.setWindowTitle("CRM Tray Client")
            self.setWindowFlags(Qt.WindowType.Window)
        else:
            # Not the app's name alone: X names every untitled window of the app (the tray
            # menu, tooltips, the icon) by it, and this one must be told apart from them.
            self.setWindowTitle(POPOVER_TITLE)
            # A popup: closes on a click elsewhere, like a menu.
            self.setWindowFlags(Qt.WindowType.Popup)
            self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(WIDTH)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)

        self.reason_label = fit_width(plain_label(NO_TRAY_REASON))
        self.reason_label.setObjectName("noTrayReason")
        self.reason_label.setVisible(no_tray)
        layout.addWidget(self.reason_label)

        head = QHBoxLayout()
        self.icon_label = QLabel()
        self.state_label = fit_width(plain_label(selectable=True))
        font = QFont(self.state_label.font())
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.state_label.setFont(font)
        self.more_button = QToolButton()
        self.more_button.setText("⋯")
        self.more_button.setToolTip("More: windows, Settings…, Quit")
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more_menu = QMenu(self.more_button)
        self._more_extensions_end = self.more_menu.addSeparator()
        self.more_menu.addAction(actions.settings)
        self.more_menu.addAction(actions.quit)
        self.more_button.setMenu(self.more_menu)
        head.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.state_label, 1)
        head.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(head)

        self.times_label = fit_width(plain_label(selectable=True))
        self.times_label.setObjectName("times")
        layout.addWidget(self.times_label)

        self.progress_label = fit_width(plain_label())
        self.progress_label.setObjectName("progress")
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.progress)
        self.set_progress(None)

        self.activity_title = plain_label("Recent activity")
        self.activity_title.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.activity_title)
        self.activity_box = QWidget()
        self.activity_layout = QVBoxLayout(self.activity_box)
        self.activity_layout.setContentsMargins(0, 0, 0, 0)
        self.activity_layout.setSpacing(4)
        self.activity_scroll = QScrollArea()
        self.activity_scroll.setWidgetResizable(True)
        self.activity_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.activity_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.activity_scroll.setWidget(self.activity_box)
        self.activity_scroll.setFixedHeight(ACTIVITY_HEIGHT)
        layout.addWidget(self.activity_scroll)
        self.link_note = fit_width(plain_label())
        self.link_note.setObjectName("linkNote")
        self.link_note.setVisible(False)
        layout.addWidget(self.link_note)
        self.url_opener: links.Opener | None = None   # tests replace the browser
        self.activity_labels: list[QLabel] = []
        self.set_activity([])

        buttons = QHBoxLayout()
        self.sync_button = ActionButton(actions.sync_now, self)
        self.stop_button = ActionButton(actions.stop_sync, self)
        self.pause_button = QToolButton()
        self.pause_button.setText("Pause")
        self.pause_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.pause_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.pause_menu = QMenu(self.pause_button)
        for action in (actions.pause_hour, actions.pause_tomorrow, actions.resume):
            self.pause_menu.addAction(action)
        self.pause_button.setMenu(self.pause_menu)
        for action in self.pause_menu.actions():
            action.changed.connect(self._update_pause_button)
        self._update_pause_button()
        buttons.addWidget(self.sync_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(self.pause_button)
        layout.addLayout(buttons)

    # -- content ----------------------------------------------------------------------------

    def _update_pause_button(self) -> None:
        # Disabled in Settings: nothing to pause or resume from here.
        self.pause_button.setEnabled(any(a.isVisible() and a.isEnabled()
                                         for a in self.pause_menu.actions()))

    def add_extension(self, action: QAction) -> None:
        """Put ``action`` into the ⋯ menu (before Settings…)."""
        self.more_menu.insertAction(self._more_extensions_end, action)

    def set_state(self, state: TrayState, headline: str) -> None:
        self.icon_label.setPixmap(icon_for(state).pixmap(32, 32))
        self.state_label.setText(breakable(headline))

    def set_times(self, text: str) -> None:
        self.times_label.setText(breakable(text))

    def set_progress(self, text: str | None, done: int | None = None,
                     total: int | None = None) -> None:
        """While syncing: "x of y — time left" and a bar (busy when the total is unknown);
        ``None``: nothing (no gap left behind)."""
        syncing = text is not None
        self.progress_label.setVisible(syncing)
        self.progress.setVisible(syncing)
        if not syncing:
            self._fit()
            return
        self.progress_label.setText(breakable(text))
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done or 0, total))
        else:
            self.progress.setRange(0, 0)
        self._fit()

    def set_activity(self, entries: list[Activity]) -> None:
        """Show ``entries`` (newest/most important first)."""
        for label in self.activity_labels:
            label.deleteLater()
        self.activity_labels = []
        while self.activity_layout.count():
            self.activity_layout.takeAt(0)
        if not entries:
            entries = [Activity("", "Nothing yet: the first sync shows here.")]
        for entry in entries:
            label = self._activity_label(entry)
            self.activity_layout.addWidget(label)
            self.activity_labels.append(label)
        self.activity_layout.addStretch(1)

    def open_link(self, url: str) -> None:
        """Open a record's page; without a browser, say so here (the address is copied)."""
        problem = links.open_link(url, self.url_opener)
        if problem:
            self.set_activity_note(problem)

    def set_activity_note(self, text: str) -> None:
        self.link_note.setText(breakable(text))
        self.link_note.setVisible(bool(text))
        self._fit()

    def _activity_label(self, entry: Activity) -> QLabel:
        mark = LEVEL_MARKS.get(entry.level, "•")
        prefix = f"{mark} {entry.when}  " if entry.when else f"{mark} "
        if entry.link:
            # Rich text for the link only; the texts are escaped (plain_text.link).
            label = QLabel(plain_text.escape(breakable(prefix + entry.text)) + " "
                           + plain_text.link(entry.link, breakable(entry.link_name or "open")))
            label.setTextFormat(Qt.TextFormat.RichText)
            label.linkActivated.connect(self.open_link)
            label.setToolTip(plain_text.tooltip(f"Open {entry.link_name or 'the record'} in "
                                                "the CRM"))
        else:
            label = plain_label(breakable(prefix + entry.text))
        fit_width(label)
        label.setObjectName(f"activity-{entry.level}")
        colour = LEVEL_COLOURS.get(entry.level, "")
        if colour:
            label.setStyleSheet(f"color: {colour};")
        return label

    def activity_texts(self) -> list[str]:
        """The activity lines as shown (rich-text lines converted back to text)."""
        from PySide6.QtGui import QTextDocument

        texts = []
        for label in self.activity_labels:
            if label.textFormat() == Qt.TextFormat.RichText:
                document = QTextDocument()
                document.setHtml(label.text())
                texts.append(shown_text(document.toPlainText()))
            else:
                texts.append(shown_text(label.text()))
        return texts

    # -- showing ----------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        # Always WIDTH wide, and as tall as the content wrapped at that width (QWidget's own
        # hint would wrap the labels at their narrowest and leave gaps between the lines).
        layout = self.layout()
        if layout is None:
            return super().sizeHint()
        return QSize(WIDTH, layout.totalHeightForWidth(WIDTH))

    def _fit(self) -> None:
        if self.isVisible():
            self.adjustSize()

    def show_near(self, anchor: QRect | None = None) -> None:
        """Show by ``anchor`` (the tray icon's geometry; None: where the pointer is), inside
        the screen; as a window without a tray."""
        self.adjustSize()
        if not self.no_tray:
            if anchor is None or not anchor.isValid():
                pointer = QCursor.pos()
                anchor = QRect(pointer, QSize(1, 1))
            screen = (QGuiApplication.screenAt(anchor.center())
                      or QGuiApplication.primaryScreen())
            self.move(popover_position(self.size(), screen.availableGeometry(), anchor))
        self.show()
        self.raise_()
        self.activateWindow()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        # The app lives on in the tray (or in the background); Quit is the way out.
        event.ignore()
        self.hide()
