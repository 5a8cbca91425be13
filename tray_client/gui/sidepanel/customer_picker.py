"""The opportunity's account picker: search the CRM's accounts and business customers as
you type, choose one from the list.

Typing waits a moment (``SEARCH_DELAY_MS``) and then searches on a worker thread, never on
the GUI thread; answers to older searches are dropped. Up/Down walk the list, Enter or a
click chooses (Enter does not submit the form while the list is open), Esc closes the list.
While the CRM cannot be searched (offline, not configured) the note says so and an account's
CRM id typed as a number is accepted (``3``, or ``b2bcustomers:9``), so nothing stops the
user from queueing the record; Oro checks the id when it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ...errors import TrayClientError
from ...outbox import CustomerChoice
from ..plain_text import plain_label
from ..workers import run_in_pool

log = logging.getLogger(__name__)

SEARCH_DELAY_MS = 300
MIN_SEARCH_LENGTH = 2
VISIBLE_ROWS = 6

SearchFn = Callable[[str], list[CustomerChoice]]


class CustomerPicker(QWidget):
    """A line edit with a result list below it. ``value()`` is the chosen record as a form
    value (``{"type", "id", "label"}``), a typed id, or None.

    Signals: ``searched(object)`` after a search answered (its choices or its exception),
    ``chosen(object)`` when a record was chosen (the CustomerChoice).
    """

    searched = Signal(object)
    chosen = Signal(object)

    def __init__(self, search: SearchFn | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._search = search
        self._choice: CustomerChoice | None = None
        self._generation = 0

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.line = QLineEdit()
        self.line.setObjectName("customer-search")
        self.line.setPlaceholderText("Type to search accounts and customers" if search
                                     else "The CRM id of the account")
        self.line.setClearButtonEnabled(True)
        self.line.textEdited.connect(self._edited)
        self.line.installEventFilter(self)
        layout.addWidget(self.line)
        self.results = QListWidget()
        self.results.setObjectName("customer-results")
        self.results.setVisible(False)
        self.results.itemActivated.connect(self._item_chosen)
        self.results.itemClicked.connect(self._item_chosen)
        self.results.installEventFilter(self)
        layout.addWidget(self.results)
        self.note = plain_label()   # names of CRM accounts: shown as written
        self.note.setObjectName("customer-note")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("font-style: italic;")
        self.note.setVisible(False)
        layout.addWidget(self.note)
        self.setFocusProxy(self.line)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.search_now)

    def setStyleSheet(self, styleSheet: str) -> None:
        """The form marks a field with a style (a red border for a problem): on the picker
        that is the line's, not every child's (the note and the list keep theirs)."""
        self.line.setStyleSheet(styleSheet)

    def styleSheet(self) -> str:
        return self.line.styleSheet()

    # ------------------------------------------------------------------ value

    def value(self) -> Any:
        """The chosen record (a form value), else the typed text when it is an id, else None."""
        if self._choice is not None:
            return self._choice.as_value()
        text = self.line.text().strip()
        if text and (text.isdigit() or ":" in text):
            return text
        return None

    def choice(self) -> CustomerChoice | None:
        return self._choice

    def set_value(self, value: Any, *, note: str = "") -> None:
        """Show a value: a CustomerChoice, its form value dict, or a typed id."""
        choice = value if isinstance(value, CustomerChoice) else CustomerChoice.from_value(value)
        self._timer.stop()
        self._generation += 1  # answers to earlier searches are stale now
        self._hide_results()
        if choice is not None:
            self._choice = choice
            self.line.setText(choice.text)
        else:
            self._choice = None
            self.line.setText("" if value is None else str(value))
        self._show_note(note)

    def is_empty(self) -> bool:
        return self.value() is None and not self.line.text().strip()

    # ------------------------------------------------------------------ searching

    def _edited(self, text: str) -> None:
        self._choice = None  # typing again drops the earlier choice
        self._generation += 1
        if self._search is None:
            self._show_note("The CRM cannot be searched here: type the account's CRM id.")
            return
        if len(text.strip()) < MIN_SEARCH_LENGTH:
            self._timer.stop()
            self._hide_results()
            self._show_note("")
            return
        self._timer.start()

    def search_now(self) -> None:
        """Search for the line's text at once (on a worker; the timer calls this)."""
        text = self.line.text().strip()
        if self._search is None or not text:
            return
        self._generation += 1
        generation = self._generation
        self._show_note("Searching…")
        run_in_pool(self._search, text,
                    on_result=lambda found: self._found(generation, found),
                    on_error=lambda exc: self._failed(generation, exc))

    def _found(self, generation: int, found: list[CustomerChoice]) -> None:
        if generation != self._generation:
            return  # the user typed on: a newer search is coming
        self.results.clear()
        for choice in found:
            item = QListWidgetItem(choice.text)
            item.setData(Qt.ItemDataRole.UserRole, choice)
            item.setToolTip(f"{choice.type} #{choice.id}")
            self.results.addItem(item)
        if found:
            self.results.setCurrentRow(0)
            rows = min(len(found), VISIBLE_ROWS)
            self.results.setFixedHeight(self.results.sizeHintForRow(0) * rows
                                        + 2 * self.results.frameWidth() + 2)
            self.results.setVisible(True)
            self._show_note("")
        else:
            self._hide_results()
            self._show_note(f"No account or customer matches “{self.line.text().strip()}”.")
        self.searched.emit(found)

    def _failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        self._hide_results()
        if isinstance(exc, TrayClientError):
            self._show_note(f"Cannot search the CRM ({exc.title}): type the account's CRM id, "
                            "or try again when it can be reached.")
        else:
            log.error("Account search failed", exc_info=exc)
            self._show_note(f"Cannot search the CRM: {exc}")
        self.searched.emit(exc)

    # ------------------------------------------------------------------ choosing

    def _item_chosen(self, item: QListWidgetItem) -> None:
        choice = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(choice, CustomerChoice):
            self.set_value(choice)
            self.line.setFocus()
            self.chosen.emit(choice)

    def choose_row(self, row: int) -> CustomerChoice | None:
        """Choose the result in ``row`` (as a click would); None when there is none."""
        item = self.results.item(row)
        if item is None:
            return None
        self._item_chosen(item)
        return self._choice

    def _hide_results(self) -> None:
        self.results.clear()
        self.results.setVisible(False)

    def _show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) \
                and self.results.isVisible() and self.results.count():
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up) and watched is self.line:
                step = 1 if key == Qt.Key.Key_Down else -1
                row = max(0, min(self.results.count() - 1, self.results.currentRow() + step))
                self.results.setCurrentRow(row)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.choose_row(max(0, self.results.currentRow()))
                return True  # choosing, not submitting the form
            if key == Qt.Key.Key_Escape:
                self._hide_results()
                return True  # closes the list, not the dialog
        return super().eventFilter(watched, event)
