"""The queue: pending local changes (what the next push would do) and the outbox, with
*Drop* and *Send now*.

The list comes from ``client.pending_changes()`` (it asks the CRM, so it runs in a
worker). *Drop* (``client.drop_from_queue``) of a change holds the item's current revision:
the engine skips it until the item is edited again; *Drop* of an outbox entry removes it.
*Send now* runs ``client.sync(phase="push")`` in a worker.

``client`` is the facade (``ClientFacade``): this view uses ``pending_changes()``,
``drop_from_queue()`` and ``sync()``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..errors import error_text
from ..history import CHANGE, QueueEntry
from .facade import ClientFacade
from .plain_text import plain_label
from .steer.paged import Column, ListTableModel
from .workers import run_in_pool

COLUMNS = (
    Column("Kind", lambda e: "Local change" if e.kind == CHANGE else "Outbox"),
    Column("Type", lambda e: e.entity.capitalize()),
    Column("Name", lambda e: e.name),
    Column("What it would do", lambda e: e.description, tooltip=lambda e: e.description),
    # Why it has not gone yet: the CRM's answer to the last try.
    Column("Last error", lambda e: e.problem, tooltip=lambda e: e.problem,
           color=lambda e: "#c01c28" if e.problem else None),
)


class QueueView(QWidget):
    """Pending changes and outbox entries. Signals: ``refreshed()`` after the list loaded,
    ``dropped(object)`` with the dropped QueueEntry, ``sent(object)`` with the push's
    SyncResult, ``failed(str)`` with a message shown in the view too."""

    refreshed = Signal()
    dropped = Signal(object)
    sent = Signal(object)
    failed = Signal(str)

    def __init__(self, client: ClientFacade, parent: QWidget | None = None, *,
                 autoload: bool = True) -> None:
        super().__init__(parent)
        self.client = client
        self.model = ListTableModel(COLUMNS, self.client.pending_changes, parent=self)
        self.model.loaded.connect(self._on_loaded)
        self.model.failed.connect(self._on_failed)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.refresh_button = QPushButton("Refresh")
        self.drop_button = QPushButton("Drop")
        self.drop_button.setToolTip("Do not send this change (until the item changes again); "
                                    "remove an outbox entry.")
        self.send_button = QPushButton("Send now")
        self.status_label = plain_label()
        self.status_label.setWordWrap(True)
        self.refresh_button.clicked.connect(self.refresh)
        self.drop_button.clicked.connect(self.drop_selected)
        self.send_button.clicked.connect(self.send_now)
        buttons = QHBoxLayout()
        for b in (self.refresh_button, self.drop_button, self.send_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self._busy = False
        self._update_buttons()
        if autoload:
            self.refresh()

    # -- actions ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Ask the CRM what the next push would do (in a worker) and list it."""
        self.status_label.setText("Reading the queue…")
        self.model.reload()

    def selected_entry(self) -> QueueEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def drop_selected(self) -> None:
        """Drop the selected entry (hold a change; remove an outbox entry), then refresh."""
        entry = self.selected_entry()
        if entry is None:
            return
        self._set_busy(True)
        run_in_pool(self._drop, entry, on_result=self._on_dropped, on_error=self._on_error,
                    on_finished=lambda: self._set_busy(False))

    def _drop(self, entry: QueueEntry) -> QueueEntry:
        self.client.drop_from_queue(entry)
        return entry

    def send_now(self) -> None:
        """Push local changes (and the outbox) now, in a worker."""
        self._set_busy(True)
        self.status_label.setText("Sending local changes…")
        run_in_pool(self.client.sync, phase="push", trigger="manual",
                    on_result=self._on_sent, on_error=self._on_error,
                    on_finished=lambda: self._set_busy(False))

    # -- outcomes ---------------------------------------------------------------------------

    def _on_loaded(self, _count: int) -> None:
        n = self.model.rowCount()
        self.status_label.setText("Nothing waits to be sent." if n == 0
                                  else f"{n} change(s) wait to be sent.")
        self._update_buttons()
        self.refreshed.emit()

    def _on_failed(self, exc: BaseException) -> None:
        self._on_error(exc)

    def _on_dropped(self, entry: QueueEntry) -> None:
        self.dropped.emit(entry)
        self.refresh()

    def _on_sent(self, result: Any) -> None:
        self.status_label.setText(f"Sent: {getattr(result, 'outcome', 'done')}. "
                                  f"{getattr(result, 'message', '')}".strip())
        self.sent.emit(result)
        self.refresh()

    def _on_error(self, exc: BaseException) -> None:
        text = error_text(exc)
        self.status_label.setText(text)
        self.failed.emit(text)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_buttons()

    def _update_buttons(self, *_args: Any) -> None:
        selected = bool(self.table.selectionModel().selectedRows())
        self.drop_button.setEnabled(selected and not self._busy)
        self.send_button.setEnabled(not self._busy)
