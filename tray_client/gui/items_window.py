"""The local items window: contacts, tasks and events with their sync state, and the trash.

Each entity tab shows a sortable table (a QSortFilterProxyModel over a model that loads pages
of ``client.history.items`` in workers), a search box (searched in the store, so it scales to
large stores; sorting applies to the rows loaded so far), the sync mark (✓ synced / pending /
✗ failed with the reason / held / local only) and the CRM id as a link to the record's web page.
*New…*, *Edit…* and *Delete* open the item dialog or move the item to the trash; a value the
store rejects is shown at its field. The *Trash* tab lists what the user or a sync deleted or
overwrote, with *Restore*.

``client`` is the facade (``ClientFacade``): ``history`` (the items' sync states), ``store``
(the items themselves: add, change, delete, the trash) and ``settings`` are used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from ..errors import StoreError, TrayClientError, error_text
from ..history import ItemRow, record_url
from ..store.fields import (
    ADDRESS_PARTS,
    FIELD_KINDS,
    GENDERS,
    PRIORITIES,
    STATUSES,
    check_for_crm,
)
from .facade import ClientFacade
from .links import open_link
from .plain_text import message_box, plain_label
from .steer.paged import SORT_ROLE, Column, ListTableModel, PagedTableModel
from .workers import run_in_pool

ENTITY_LABELS = {"contacts": "Contacts", "tasks": "Tasks", "events": "Events"}
FIELD_LABELS = {
    "first_name": "First name", "middle_name": "Middle name", "last_name": "Last name",
    "suffix": "Suffix", "emails": "E-mails", "primary_phone": "Phone", "job_title": "Job title",
    "birthday": "Birthday", "gender": "Gender", "business_fax": "Business fax",
    "business_address": "Business address", "home_address": "Home address",
    "other_address": "Other address", "notes": "Notes", "subject": "Subject",
    "priority": "Priority", "due_date": "Due date", "status": "Status", "start": "Start",
    "end": "End", "all_day": "All day", "location": "Location",
}
CHOICES = {"gender": GENDERS, "priority": PRIORITIES, "status": STATUSES}
PRIORITY_ORDER = {"low": 0, "normal": 1, "high": 2}
MAX_COLUMN_WIDTH = 280
PLACEHOLDERS = {"date": "YYYY-MM-DD", "instant": "2026-11-25T10:00:00+01:00 (a date if all day)",
                "due": "2026-11-25T17:00:00+01:00 (or a date)",
                "emails": "ann@example.org, ann@home.example"}
STATE_COLORS = {"failed": "#c01c28", "pending": "#986a44", "held": "#5e5c64"}


def word(value: str) -> str:
    """A stored choice as a word: ``not_started`` → "Not started"."""
    return value.replace("_", " ").capitalize()


def local_date(value: str) -> str:
    """An ISO date or instant in the user's locale (short format, local time); a value that
    is neither is shown as it is."""
    from PySide6.QtCore import QDate, QDateTime, QLocale

    locale = QLocale()
    if len(value) == 10:
        date = QDate.fromString(value, Qt.DateFormat.ISODate)
        if date.isValid():
            return locale.toString(date, QLocale.FormatType.ShortFormat)
        return value
    moment = QDateTime.fromString(value, Qt.DateFormat.ISODateWithMs)
    if not moment.isValid():
        moment = QDateTime.fromString(value, Qt.DateFormat.ISODate)
    if not moment.isValid():
        return value
    return locale.toString(moment.toLocalTime(), QLocale.FormatType.ShortFormat)


def _words(name: str) -> Callable[[ItemRow], str]:
    def text(row: ItemRow) -> str:
        value = row.item.fields.get(name)
        return word(str(value)) if value else ""
    return text


def _date(name: str) -> Callable[[ItemRow], str]:
    def text(row: ItemRow) -> str:
        value = row.item.fields.get(name)
        return local_date(str(value)) if value else ""
    return text


def _raw(name: str) -> Callable[[ItemRow], str]:
    return lambda row: str(row.item.fields.get(name) or "")


def _f(name: str) -> Callable[[ItemRow], str]:
    def text(row: ItemRow) -> str:
        value = row.item.fields.get(name)
        if isinstance(value, list):
            return ", ".join(value)
        if isinstance(value, bool):
            return "yes" if value else ""
        return "" if value is None else str(value)
    return text


def _columns(entity: str, base_url: Callable[[], str]) -> list[Column]:
    state = Column("Sync", lambda r: r.mark, sort_key=lambda r: r.state,
                   tooltip=lambda r: r.reason or r.mark,
                   color=lambda r: STATE_COLORS.get(r.state))
    crm = Column("CRM id", lambda r: r.item.crm_id or "",
                 sort_key=lambda r: int(r.item.crm_id) if (r.item.crm_id or "").isdigit() else 0,
                 tooltip=lambda r: record_url(base_url(), entity, r.item.crm_id)
                 if r.item.crm_id and base_url() else "", link=True)
    if entity == "contacts":
        middle = [Column("Name", lambda r: r.item.display_name), Column("E-mail", _f("emails")),
                  Column("Phone", _f("primary_phone")), Column("Job title", _f("job_title"))]
    elif entity == "tasks":
        middle = [Column("Subject", _f("subject")),
                  Column("Priority", _words("priority"),
                         sort_key=lambda r: PRIORITY_ORDER.get(r.item.fields.get("priority"), 9)),
                  Column("Due", _date("due_date"), sort_key=_raw("due_date")),
                  Column("Status", _words("status"))]
    else:
        middle = [Column("Subject", _f("subject")),
                  Column("Start", _date("start"), sort_key=_raw("start")),
                  Column("End", _date("end"), sort_key=_raw("end")),
                  Column("All day", _f("all_day"))]
    return [state, *middle, crm]


# -- the item dialog ---------------------------------------------------------------------------

class ItemDialog(QDialog):
    """Create or edit one item: the fields of DESIGN §4 for its entity.

    ``values()`` gives the whole field dict (empty fields left out) and ``crm_sync``;
    ``show_error(exc)`` puts a StoreError at the field it names (else under the form).
    """

    def __init__(self, entity: str, item: Any | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entity = entity
        self.item = item
        self.setWindowTitle(("Edit " if item else "New ") + ENTITY_LABELS[entity][:-1].lower())
        self.editors: dict[str, Any] = {}
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        fields = item.fields if item else {}
        for name, kind in FIELD_KINDS[entity].items():
            editor: Any
            value = fields.get(name)
            if kind == "address":
                box = QGroupBox()
                sub = QFormLayout(box)
                parts = {}
                for part in ADDRESS_PARTS:
                    edit = QLineEdit((value or {}).get(part, ""))
                    sub.addRow(part.replace("_", " ").capitalize(), edit)
                    parts[part] = edit
                editor, widget = parts, box
            elif kind in CHOICES:
                editor = QComboBox()
                editor.addItem("", None)
                for choice in CHOICES[kind]:
                    editor.addItem(word(choice), choice)
                editor.setCurrentIndex(max(0, editor.findData(value)))
                widget = editor
            elif kind == "bool":
                editor = QCheckBox()
                editor.setChecked(bool(value))
                widget = editor
            else:
                text = ", ".join(value) if isinstance(value, list) else (value or "")
                editor = QLineEdit(str(text))
                editor.setPlaceholderText(PLACEHOLDERS.get(kind, ""))
                widget = editor
            self.editors[name] = editor
            error = plain_label()
            error.setStyleSheet("color: #c01c28")
            error.setWordWrap(True)
            error.hide()
            self.errors[name] = error
            cell = QWidget()
            cell_layout = QVBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 0, 0)
            cell_layout.addWidget(widget)
            cell_layout.addWidget(error)
            form.addRow(FIELD_LABELS.get(name, name), cell)
        self.crm_sync_check = QCheckBox("Sync with the CRM")
        self.crm_sync_check.setChecked(item.crm_sync if item else True)
        form.addRow("", self.crm_sync_check)
        self.general_error = plain_label()
        self.general_error.setStyleSheet("color: #c01c28")
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        # The contact's fields (three addresses) are taller than a 768 px screen: they
        # scroll, and the dialog is never taller than the screen it opens on.
        body = QWidget()
        body.setLayout(form)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(body)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(self.general_error)
        layout.addWidget(self.buttons)
        screen = ((parent.screen() if parent is not None else None)
                  or QGuiApplication.primaryScreen())
        available = screen.availableGeometry().height() if screen is not None else 768
        wanted = body.sizeHint().height() + self.buttons.sizeHint().height() + 40
        self.resize(max(480, body.sizeHint().width() + 40),
                    min(wanted, available - 80))
        # Set by the window: called with the dialog on OK; it saves in a worker and calls
        # ``saved``/``show_error``. Without it, OK just accepts (values() read by the caller).
        self.on_submit: Callable[[ItemDialog], None] | None = None

    def values(self) -> dict[str, Any]:
        """The fields as typed (trimmed; empty ones left out)."""
        result: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, dict):
                parts = {p: e.text().strip() for p, e in editor.items() if e.text().strip()}
                if parts:
                    result[name] = parts
            elif isinstance(editor, QComboBox):
                if editor.currentData():
                    result[name] = editor.currentData()
            elif isinstance(editor, QCheckBox):
                result[name] = editor.isChecked()
            elif editor.text().strip():
                text = editor.text().strip()
                result[name] = [e.strip() for e in text.split(",") if e.strip()] \
                    if name == "emails" else text
        return result

    def clear_errors(self) -> None:
        for label in (*self.errors.values(), self.general_error):
            label.clear()
            label.hide()

    def show_error(self, exc: BaseException) -> None:
        """Show ``exc`` at the field its message names (``field: problem``), else below."""
        self.clear_errors()
        text = exc.message if isinstance(exc, TrayClientError) else str(exc)
        name = text.split(":", 1)[0].split(".", 1)[0].strip()
        label = self.errors.get(name) if ":" in text else None
        if label is None:
            label = self.general_error
        label.setText(text.split(":", 1)[1].strip() if label is not self.general_error
                      else error_text(exc))
        label.show()

    def error_of(self, name: str) -> str:
        label = self.errors[name]
        return label.text() if not label.isHidden() else ""

    def accept(self) -> None:
        if self.on_submit is None:
            super().accept()
        else:
            self.clear_errors()
            self.buttons.setEnabled(False)
            self.on_submit(self)

    def saved(self) -> None:
        self.buttons.setEnabled(True)
        super().accept()

    def failed(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        self.show_error(exc)


# -- one entity tab ----------------------------------------------------------------------------

class EntityTab(QWidget):
    """Items of one entity: search, sortable table, New/Edit/Delete."""

    def __init__(self, window: ItemsWindow, entity: str) -> None:
        super().__init__()
        self.window_ = window
        self.entity = entity
        history = window.client.history
        self.search_text = ""

        def fetch(after: tuple[str, str] | None, limit: int) -> list[ItemRow]:
            return history.items(entity, search=self.search_text, after=after, limit=limit,
                                 selected=window.client.settings.sync_type == "selected")

        self.model = PagedTableModel(
            _columns(entity, lambda: window.client.settings.url), fetch,
            lambda rows, _n: (rows[-1].item.created_at, rows[-1].item.id), page=500,
            parent=self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # creation order until asked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.clicked.connect(self._clicked)
        self.table.doubleClicked.connect(lambda _i: self.edit_selected())
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(f"Search {ENTITY_LABELS[entity].lower()}")
        self.search_edit.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)
        self._search_timer.timeout.connect(self.apply_search)
        self.search_edit.textChanged.connect(lambda _t: self._search_timer.start())
        self.search_edit.returnPressed.connect(self.apply_search)
        self.new_button = QPushButton("New…")
        self.new_button.setShortcut(QKeySequence.StandardKey.New)   # Ctrl+N
        self.new_button.setToolTip(f"New {ENTITY_LABELS[entity][:-1].lower()} (Ctrl+N)")
        self.edit_button = QPushButton("Edit…")
        self.delete_button = QPushButton("Delete")
        self.new_button.clicked.connect(self.new_item)
        self.edit_button.clicked.connect(self.edit_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.count_label = plain_label()
        top = QHBoxLayout()
        top.addWidget(self.search_edit, 1)
        for b in (self.new_button, self.edit_button, self.delete_button):
            top.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(self.count_label)
        self._sized = False
        self.model.loaded.connect(self._on_loaded)
        self.model.failed.connect(window.show_error)
        self.dialog: ItemDialog | None = None

    def reload(self) -> None:
        self.model.reload()

    def apply_search(self) -> None:
        """Search the store for the typed text (names, e-mails, subject…)."""
        self._search_timer.stop()
        self.search_text = self.search_edit.text()
        self.model.reload()

    def _on_loaded(self, _count: int) -> None:
        if not self._sized and self.model.rowCount():
            # Columns as wide as their contents (e-mails, phones, dates readable) once the
            # first page is in; the user may resize them after.
            self._sized = True
            header = self.table.horizontalHeader()
            for column in range(header.count() - 1):   # the last one stretches
                self.table.resizeColumnToContents(column)
                # A failure's reason is whole in its tooltip; it does not push the rest away.
                header.resizeSection(column, min(header.sectionSize(column), MAX_COLUMN_WIDTH))
        more = " (scroll for more)" if self.model.canFetchMore() else ""
        self.count_label.setText(f"{self.model.rowCount()} shown{more}")
        self.window_.loaded.emit(self.entity)

    def rows(self) -> list[ItemRow]:
        """The rows in display (sorted) order."""
        return [self.proxy.index(i, 0).data(Qt.ItemDataRole.UserRole)
                for i in range(self.proxy.rowCount())]

    def select_item(self, item_id: str) -> None:
        for i, row in enumerate(self.rows()):
            if row.item.id == item_id:
                self.table.selectRow(i)
                return
        raise KeyError(item_id)

    def selected_row(self) -> ItemRow | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(Qt.ItemDataRole.UserRole) if rows else None

    def _clicked(self, index: QModelIndex) -> None:
        row = index.data(Qt.ItemDataRole.UserRole)
        column = self.model.columns[self.proxy.mapToSource(index).column()]
        if column.link and row is not None and row.item.crm_id:
            self.window_.open_record(self.entity, row.item.crm_id)

    # -- create / edit / delete -----------------------------------------------------------

    def new_item(self) -> ItemDialog:
        return self._open_dialog(None)

    def edit_selected(self) -> ItemDialog | None:
        row = self.selected_row()
        return None if row is None else self._open_dialog(row.item)

    def _open_dialog(self, item: Any | None) -> ItemDialog:
        dialog = ItemDialog(self.entity, item, self)
        dialog.on_submit = self._submit
        dialog.finished.connect(lambda _r: self.reload())
        self.dialog = dialog
        dialog.open()
        return dialog

    def _submit(self, dialog: ItemDialog) -> None:
        store = self.window_.client.store
        entity, item, values = self.entity, dialog.item, dialog.values()
        crm_sync = dialog.crm_sync_check.isChecked()

        def save() -> Any:
            # As the CRM would judge them (an e-mail that is not one, a text too long):
            # refused here with the field named, not at every later sync.
            check_for_crm(entity, values)
            if item is None:
                return store.add(entity, values, crm_sync=crm_sync)
            with store.transaction():
                # The whole field dict: a cleared field or address part really goes away.
                saved = store.replace_fields(item.id, values)
                if crm_sync != saved.crm_sync:
                    saved = store.update(item.id, {}, crm_sync=crm_sync)
                return saved

        def done(saved: Any) -> None:
            if isValid(dialog):
                dialog.saved()
            self.window_.item_saved.emit(saved)

        def fail(exc: BaseException) -> None:
            if isValid(dialog):
                dialog.failed(exc)

        run_in_pool(save, on_result=done, on_error=fail)

    def delete_selected(self) -> None:
        """Move the selected item to the trash (after confirmation)."""
        row = self.selected_row()
        if row is None:
            return
        if not self.window_.confirm(f"Move {row.item.display_name or 'this item'!r} to the "
                                    "trash? Synced items are then deleted in the CRM too, if "
                                    "local changes go to the CRM."):
            return
        store, item = self.window_.client.store, row.item

        def deleted(_result: None) -> None:
            self._deleted(item)

        run_in_pool(store.delete, item.id, reason="user", on_result=deleted,
                    on_error=self.window_.show_error)

    def _deleted(self, item: Any) -> None:
        if isValid(self):
            self.reload()
            self.window_.trash_tab.reload()
            self.window_.item_deleted.emit(item)


# -- the trash tab -----------------------------------------------------------------------------

TRASH_COLUMNS = (
    Column("Name", lambda e: e.display_name),
    Column("Type", lambda e: e.item.entity),
    Column("Why", lambda e: {"user": "deleted by you", "sync_delete": "deleted by a sync",
                             "sync_overwrite": "overwritten by a sync"}.get(e.reason, e.reason)),
    Column("When", lambda e: e.trashed_at[:19].replace("T", " ")),
    Column("CRM id", lambda e: e.item.crm_id or ""),
)


class TrashTab(QWidget):
    """What the user or a sync deleted or overwrote, with Restore."""

    def __init__(self, window: ItemsWindow) -> None:
        super().__init__()
        self.window_ = window
        store = window.client.store
        self.model = ListTableModel(TRASH_COLUMNS, store.trash_list, parent=self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip("Bring the item back as a local item (not linked: the "
                                       "next sync matches it by its key).")
        self.restore_button.clicked.connect(self.restore_selected)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Items deleted or overwritten in the last 30 days."))
        layout.addWidget(self.table)
        row = QHBoxLayout()
        row.addWidget(self.restore_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.model.loaded.connect(lambda _n: window.loaded.emit("trash"))
        self.model.failed.connect(window.show_error)

    def reload(self) -> None:
        self.model.reload()

    def entries(self) -> list[Any]:
        return list(self.model.rows)

    def restore_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        entry = self.model.row_at(rows[0].row())
        run_in_pool(self.window_.client.store.trash_restore, entry.entry_id,
                    on_result=self._restored,
                    on_error=self.window_.show_error)

    def _restored(self, item: Any) -> None:
        if not isValid(self):
            return
        self.reload()
        self.window_.tabs_by_entity[item.entity].reload()
        self.window_.item_restored.emit(item)


# -- the window --------------------------------------------------------------------------------

class ItemsWindow(QWidget):
    """Local items (Contacts, Tasks, Events tabs) and the Trash.

    Signals: ``loaded(str)`` (an entity or "trash" finished loading a page),
    ``item_saved(object)``, ``item_deleted(object)``, ``item_restored(object)`` (Items),
    ``failed(str)``. ``confirm(text) -> bool`` and ``open_url(QUrl)`` can be replaced (tests).
    """

    loaded = Signal(str)
    item_saved = Signal(object)
    item_deleted = Signal(object)
    item_restored = Signal(object)
    failed = Signal(str)

    def __init__(self, client: ClientFacade, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.setWindowTitle("Local Items")
        self.resize(900, 600)
        self.open_url: Callable[[QUrl], Any] = QDesktopServices.openUrl
        self.tabs = QTabWidget()
        self.tabs_by_entity: dict[str, EntityTab] = {}
        for entity, label in ENTITY_LABELS.items():
            tab = EntityTab(self, entity)
            self.tabs_by_entity[entity] = tab
            self.tabs.addTab(tab, label)
        self.trash_tab = TrashTab(self)
        self.tabs.addTab(self.trash_tab, "Trash")
        self.status_label = plain_label()
        self.status_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.status_label)
        self.refresh()

    def refresh(self) -> None:
        """Reload every tab (each in a worker)."""
        for tab in self.tabs_by_entity.values():
            tab.reload()
        self.trash_tab.reload()

    def confirm(self, text: str) -> bool:
        box = message_box(QMessageBox.Icon.Question, "Delete item", text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        return box.exec() == QMessageBox.StandardButton.Yes

    def open_record(self, entity: str, crm_id: str) -> None:
        """Open the CRM's web page of a synced record in the browser."""
        base = self.client.settings.url
        if base:
            problem = open_link(record_url(base, entity, crm_id), self.open_url)
            if problem:
                self.status_label.setText(problem)   # a link that did nothing says why

    def show_error(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        text = error_text(exc)
        self.status_label.setText(text)
        self.failed.emit(text)


__all__ = ["EntityTab", "ItemDialog", "ItemsWindow", "StoreError", "TrashTab"]
