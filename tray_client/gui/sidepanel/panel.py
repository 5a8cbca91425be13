"""The side panel: create leads, opportunities and cases; see what became of them.

How the tray app wires it (the integrator adds the tray menu entry "Show/Hide Side Panel")::

    from tray_client.gui.sidepanel import SidePanel, SidePanelContext
    from tray_client.outbox import load_forms

    outbox = client.outbox()             # the store's connection and lock: thread-safe

    def send_now():                      # runs on a worker thread, never the GUI thread
        with client.crm() as crm:        # raises TrayClientError when not configured
            return outbox.send_pending(crm)

    def forms():                         # worker thread too: the CRM's layouts and enums
        with client.crm() as crm:
            return load_forms(crm)

    panel = SidePanel(SidePanelContext(
        outbox=outbox,
        send_now=send_now,
        crm_url=lambda: client.settings.url,
        load_forms=forms,                          # optional
        state_file=client.paths.config_dir / "sidepanel.json"))
    app.add_menu_action("Show/Hide Side Panel", panel.toggle)

Sharing one Outbox between the GUI thread and the worker is safe when its connection allows
other threads and its lock is the connection's (``Outbox.for_store`` sees to both). After
every queued or fixed entry the panel calls ``send_now`` (one run at a time) and refreshes
its list when it finishes; *Send now* does the same on demand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QGuiApplication,
    QHideEvent,
    QMoveEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from ...errors import TrayClientError
from ...files import write_text
from ...mail import MailMessage, parse_file
from ...outbox import (
    KINDS,
    CustomerChoice,
    FieldProblem,
    FormDefinition,
    InvalidEntryError,
    Outbox,
    OutboxEntry,
    OutboxError,
    web_url,
)
from .. import plain_text
from ..links import open_link
from ..plain_text import plain_label, tooltip
from ..workers import run_in_pool
from .form_dialog import CreateDialog, EmlDropTarget

log = logging.getLogger(__name__)

EMPTY_HINT = ("Nothing created yet. Use Create to make a lead, an opportunity or a case, or "
              "drop an e-mail (.eml) here to start one from it.")

KIND_LABELS: dict[str, str] = {"lead": "Lead", "opportunity": "Opportunity", "case": "Case"}
STATE_LABELS: dict[str, str] = {"queued": "queued", "sending": "sending…", "sent": "sent",
                                "failed": "failed"}
RECENT_ENTRIES = 50
DEFAULT_SIZE = QSize(360, 480)

# Columns of the entry list.
COL_KIND, COL_TITLE, COL_STATE, COL_CRM = range(4)


@dataclass
class SidePanelContext:
    """What the side panel needs from the app (see the module docstring for the wiring).

    ``outbox``: used on the GUI thread. ``send_now()``: sends queued entries, called on a
    worker thread; its return value is ignored, its TrayClientError is shown. ``crm_url()``:
    the CRM's base URL for record links. ``load_forms()``: optional, called on a worker
    thread when the panel is first shown, returns the CRM's forms (``outbox.load_forms``).
    ``state_file``: JSON file where the panel keeps its position and size (None: not kept).
    ``search_customers(text)`` and ``sender_account(address)``: optional, called on worker
    threads by the opportunity's account picker (``Client.search_customers`` /
    ``Client.sender_account``); without them the picker takes a typed CRM id.
    ``sender_contact(address)``: optional, on a worker thread, the contact a case made from an
    e-mail links (``Client.sender_contact``); without it no link is made.
    """

    outbox: Outbox
    send_now: Callable[[], Any]
    crm_url: Callable[[], str] = lambda: ""
    load_forms: Callable[[], Mapping[str, FormDefinition]] | None = None
    state_file: Path | None = None
    search_customers: Callable[[str], list[CustomerChoice]] | None = None
    sender_account: Callable[[str], CustomerChoice | None] | None = None
    sender_contact: Callable[[str], CustomerChoice | None] | None = None


class SidePanel(EmlDropTarget, QWidget):
    """Movable tool window: *Create ▸ Lead / Opportunity / Case*, and the recent entries.

    Signals: ``entries_changed()`` after the list was refreshed; ``send_finished(object)``
    when a ``send_now`` run ended (its result, or the exception it raised).
    """

    entries_changed = Signal()
    send_finished = Signal(object)
    # A dropped e-mail was read on a worker: the form opened from it (None: none opened).
    mail_read = Signal(object)

    def __init__(self, context: SidePanelContext, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Tool)
        self.context = context
        self.setWindowTitle("CRM Side Panel")
        self.setObjectName("side-panel")
        self.setAcceptDrops(True)
        self._sending = False
        self._send_again = False
        self._forms_requested = False
        self._restoring = True
        self.dialog: CreateDialog | None = None   # the open form, if any (tests use it)
        self.url_opener: Any = None                # tests replace the browser

        layout = QVBoxLayout(self)
        create_row = QHBoxLayout()
        self.create_button = QToolButton()
        self.create_button.setText("Create")   # one control: the menu of the three kinds
        self.create_button.setToolTip("Create a lead, an opportunity or a case in the CRM")
        self.create_button.setObjectName("create")
        self.create_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.create_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        menu = QMenu(self.create_button)
        self.create_actions: dict[str, Any] = {}
        for kind in KINDS:
            action = menu.addAction(KIND_LABELS[kind])
            action.setObjectName(f"create-{kind}")
            action.triggered.connect(lambda _checked=False, k=kind: self.open_form(k))
            self.create_actions[kind] = action
        self.create_button.setMenu(menu)
        create_row.addWidget(self.create_button)
        create_row.addStretch(1)
        layout.addLayout(create_row)

        self.entries = QTreeWidget()
        self.entries.setObjectName("entries")
        self.entries.setHeaderLabels(["Type", "Name", "State", "CRM"])
        self.entries.setRootIsDecorated(False)
        self.entries.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.entries.header()
        header.setStretchLastSection(False)
        for column in range(self.entries.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # The name takes the room left; the others fit their contents (names are not cut
        # to make room for empty columns; a long one shows whole in its tooltip).
        header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Stretch)
        self.entries.itemActivated.connect(self._activated)  # double-click or Enter
        layout.addWidget(self.entries, 1)
        self.empty_hint = plain_label(EMPTY_HINT, wrap=True)
        self.empty_hint.setObjectName("empty-hint")
        self.empty_hint.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.empty_hint)

        self.status = plain_label(wrap=True)
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        actions = QHBoxLayout()
        self.send_button = QPushButton("Send now")
        self.send_button.setObjectName("send-now")
        self.send_button.clicked.connect(self.send_now)
        self.fix_button = QPushButton("Fix && resend…")
        self.fix_button.setObjectName("fix")
        self.fix_button.clicked.connect(self._fix_selected)
        self.drop_button = QPushButton("Drop")
        self.drop_button.setObjectName("drop")
        self.drop_button.clicked.connect(self._drop_selected)
        for button in (self.send_button, self.fix_button, self.drop_button):
            actions.addWidget(button)
        layout.addLayout(actions)
        self.entries.currentItemChanged.connect(lambda *_: self._update_buttons())

        self._restore_geometry()
        self._restoring = False
        self.refresh()

    # ------------------------------------------------------------------ showing

    def toggle(self) -> None:
        """Show the panel (raised) or hide it: the tray's "Show/Hide Side Panel"."""
        if self.isVisible():
            self.hide()
        else:
            self.show()
            self.raise_()
            self.activateWindow()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()
        if self.context.load_forms is not None and not self._forms_requested:
            self._forms_requested = True
            run_in_pool(self.context.load_forms, on_result=self._forms_loaded,
                        on_error=lambda exc: log.info("Keeping the built-in forms: %s", exc))

    def _forms_loaded(self, forms: Mapping[str, FormDefinition]) -> None:
        self.context.outbox.set_forms(forms)

    # ------------------------------------------------------------------ the list

    def open_link(self, url: str) -> None:
        """Open a record's page; without a browser, say so (the address is copied)."""
        problem = open_link(url, self.url_opener)
        if problem:
            self.status.setText(problem)

    def refresh(self) -> None:
        """Reload the recent entries from the outbox."""
        selected = self.selected_entry_id()
        self.entries.clear()
        try:
            entries = self.context.outbox.list(limit=RECENT_ENTRIES)
        except TrayClientError as exc:
            self.status.setText(f"{exc.title}: {exc.message}")
            entries = []
        base_url = self._crm_url()
        for entry in entries:
            item = QTreeWidgetItem(["", "", "", ""])
            item.setText(COL_KIND, KIND_LABELS.get(entry.kind, entry.kind))
            item.setText(COL_TITLE, entry.title)
            item.setToolTip(COL_TITLE, tooltip(entry.title))
            state = STATE_LABELS.get(entry.state, entry.state)
            if entry.state == "failed" and entry.message:
                state = f"failed: {entry.message}"
            elif entry.state == "queued" and entry.message:
                state = f"queued ({entry.message})"
            item.setText(COL_STATE, state)
            item.setToolTip(COL_STATE, tooltip(self._details(entry)))
            item.setData(COL_KIND, Qt.ItemDataRole.UserRole, entry.id)
            self.entries.addTopLevelItem(item)
            if entry.crm_id:
                item.setText(COL_CRM, entry.crm_id)
                if base_url:
                    url = web_url(base_url, entry.kind, entry.crm_id)
                    link = QLabel(plain_text.link(url, entry.title or entry.crm_id))
                    link.setObjectName(f"link-{entry.id}")
                    link.setTextFormat(Qt.TextFormat.RichText)
                    link.linkActivated.connect(self.open_link)  # the record, in the browser
                    link.setToolTip(tooltip(f"Open {entry.title or 'the record'} in the CRM "
                                            f"(id {entry.crm_id})"))
                    self.entries.setItemWidget(item, COL_CRM, link)
                    item.setText(COL_CRM, "")
            if entry.id == selected:
                self.entries.setCurrentItem(item)
        self.empty_hint.setVisible(not entries)
        pending = sum(1 for e in entries if e.state == "queued")
        if not self._sending and not self.status.text().startswith("Not sent"):
            self.status.setText(f"{pending} waiting to be sent." if pending else "")
        self._update_buttons()
        self.entries_changed.emit()

    @staticmethod
    def _details(entry: OutboxEntry) -> str:
        lines = [f"{KIND_LABELS.get(entry.kind, entry.kind)} #{entry.id}: {entry.state}"]
        if entry.message:
            lines.append(entry.message)
        lines.extend(f"{name}: {text}" for name, text in entry.field_errors.items())
        return "\n".join(lines)

    def _crm_url(self) -> str:
        try:
            return self.context.crm_url() or ""
        except Exception:  # a broken callback must not break the list
            log.exception("crm_url() failed")
            return ""

    def selected_entry_id(self) -> int | None:
        item = self.entries.currentItem()
        if item is None:
            return None
        value = item.data(COL_KIND, Qt.ItemDataRole.UserRole)
        return int(value) if value is not None else None

    def entry_items(self) -> list[QTreeWidgetItem]:
        items = (self.entries.topLevelItem(i) for i in range(self.entries.topLevelItemCount()))
        return [item for item in items if item is not None]

    def _update_buttons(self) -> None:
        entry_id = self.selected_entry_id()
        entry = self.context.outbox.get(entry_id) if entry_id is not None else None
        self.fix_button.setEnabled(entry is not None and entry.state in ("failed", "queued"))
        self.drop_button.setEnabled(entry is not None and entry.state != "sending")

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        entry_id = item.data(COL_KIND, Qt.ItemDataRole.UserRole)
        if entry_id is not None:
            entry = self.context.outbox.get(int(entry_id))
            if entry is not None and entry.state in ("failed", "queued"):
                self.open_entry(entry.id)

    def _fix_selected(self) -> None:
        entry_id = self.selected_entry_id()
        if entry_id is not None:
            self.open_entry(entry_id)

    def _drop_selected(self) -> None:
        entry_id = self.selected_entry_id()
        if entry_id is None:
            return
        try:
            self.context.outbox.drop(entry_id)
        except OutboxError as exc:
            self.status.setText(exc.message)
        self.refresh()

    # ------------------------------------------------------------------ forms

    def forms(self) -> dict[str, FormDefinition]:
        """The forms in use (the CRM's once loaded, else the built-in ones)."""
        return self.context.outbox.forms

    def open_form(self, kind: str, *, message: MailMessage | None = None,
                  modal: bool = False) -> CreateDialog:
        """Open the create form of ``kind`` (prefilled from ``message`` when given).

        Submitting queues the entry (committed before any network call) and starts sending.
        Non-modal by default so the panel stays usable; ``modal`` runs ``exec()``.
        """
        form = self.forms()[kind]

        def submit(values: dict[str, Any]) -> list[FieldProblem]:
            try:
                self.context.outbox.add(kind, values)
            except InvalidEntryError as exc:
                return exc.problems or [FieldProblem("", exc.message)]
            except TrayClientError as exc:
                return [FieldProblem("", f"{exc.title}: {exc.message}")]
            return []

        dialog = CreateDialog(form, submit, parent=self, **self._pickers())
        if message is not None:
            dialog.prefill_from(message)
        return self._run_dialog(dialog, modal)

    def open_entry(self, entry_id: int, *, modal: bool = False) -> CreateDialog | None:
        """Open a queued or failed entry's form with its values and the CRM's errors; the
        fixed entry is queued again and sent."""
        entry = self.context.outbox.get(entry_id)
        if entry is None or entry.state not in ("failed", "queued"):
            return None
        form = self.forms()[entry.kind]

        def submit(values: dict[str, Any]) -> list[FieldProblem]:
            try:
                self.context.outbox.update(entry.id, values)
            except InvalidEntryError as exc:
                return exc.problems or [FieldProblem("", exc.message)]
            except TrayClientError as exc:
                return [FieldProblem("", f"{exc.title}: {exc.message}")]
            return []

        dialog = CreateDialog(form, submit, values=entry.values,
                              field_errors=entry.field_errors,
                              message=entry.message if entry.state == "failed" else None,
                              submit_label="Resend", parent=self, **self._pickers())
        return self._run_dialog(dialog, modal)

    def _pickers(self) -> dict[str, Any]:
        return {"search_customers": self.context.search_customers,
                "sender_account": self.context.sender_account,
                "sender_contact": self.context.sender_contact}

    def _run_dialog(self, dialog: CreateDialog, modal: bool) -> CreateDialog:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.accepted.connect(self._entry_saved)
        dialog.finished.connect(lambda _result: self._dialog_closed(dialog))
        if modal:
            dialog.exec()
        else:
            dialog.show()
        return dialog

    def _dialog_closed(self, dialog: CreateDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def _entry_saved(self) -> None:
        self.refresh()
        self.send_now()

    # ------------------------------------------------------------------ sending

    def send_now(self) -> None:
        """Run ``send_now`` on a worker (one run at a time; a request during a run queues
        one more run)."""
        if self._sending:
            self._send_again = True
            return
        self._sending = True
        self.send_button.setEnabled(False)
        self.status.setText("Sending…")
        run_in_pool(self.context.send_now, on_result=self._sent, on_error=self._send_failed)

    def _sent(self, result: Any) -> None:
        self._sending = False
        self.status.setText("")
        self._after_send(result)

    def _send_failed(self, exc: BaseException) -> None:
        self._sending = False
        if isinstance(exc, TrayClientError):
            self.status.setText(f"Not sent: {exc.title}: {exc.message}")
        else:
            log.error("Sending the outbox failed", exc_info=exc)
            self.status.setText(f"Not sent: {exc}")
        self._after_send(exc)

    def _after_send(self, result: Any) -> None:
        self.send_button.setEnabled(True)
        self.refresh()
        self.send_finished.emit(result)
        if self._send_again:
            self._send_again = False
            self.send_now()

    # ------------------------------------------------------------------ drops

    def eml_dropped(self, path: Path) -> None:
        """Read a dropped ``.eml`` on a worker (a large e-mail must not freeze the panel),
        then ask what to create from it (``mail_read`` tells when it was read)."""
        self.status.setText(f"Reading {path.name}…")

        def read_failed(exc: BaseException) -> None:
            if isValid(self):
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                self.status.setText(f"Cannot read {path.name}: {reason}")
                self.mail_read.emit(None)

        run_in_pool(parse_file, path, on_result=self._mail_parsed, on_error=read_failed)

    def _mail_parsed(self, message: MailMessage) -> None:
        if not isValid(self):
            return
        self.status.setText("")
        self.mail_read.emit(self.create_from_message(message))

    def create_from_message(self, message: MailMessage,
                            kind: str | None = None) -> CreateDialog | None:
        """Open a form prefilled from ``message``; asks which kind when not given."""
        chosen = kind or self.choose_kind()
        if chosen is None:
            return None
        return self.open_form(chosen, message=message)

    def choose_kind(self) -> str | None:
        """Ask what to create from a dropped e-mail (a small menu at the cursor)."""
        menu = QMenu(self)
        for kind in KINDS:
            menu.addAction(KIND_LABELS[kind]).setData(kind)
        action = menu.exec(self.cursor().pos())
        return action.data() if action is not None else None

    # ------------------------------------------------------------------ geometry

    def _restore_geometry(self) -> None:
        self.resize(DEFAULT_SIZE)
        state = self._read_state()
        try:
            rect = QRect(int(state["x"]), int(state["y"]), int(state["width"]),
                         int(state["height"]))
        except (KeyError, TypeError, ValueError):
            return
        if rect.width() < 150 or rect.height() < 150:
            return
        self.resize(rect.size())
        # Only where a screen still shows it (a monitor may have been unplugged since).
        screens = QGuiApplication.screens()
        if not screens or any(s.availableGeometry().intersects(rect) for s in screens):
            self.move(QPoint(rect.x(), rect.y()))

    def _read_state(self) -> dict[str, Any]:
        path = self.context.state_file
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("Side panel state %s unreadable; using defaults", path)
            return {}
        return data if isinstance(data, dict) else {}

    def save_geometry(self) -> None:
        """Write position and size to ``state_file`` (atomically)."""
        path = self.context.state_file
        if path is None or self._restoring:
            return
        pos, size = self.pos(), self.size()
        state = {"x": pos.x(), "y": pos.y(), "width": size.width(), "height": size.height()}
        try:
            write_text(path, json.dumps(state))
        except OSError as exc:
            log.warning("Cannot save the side panel's position: %s", exc)

    def moveEvent(self, event: QMoveEvent) -> None:
        super().moveEvent(event)
        if self.isVisible():
            self.save_geometry()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.isVisible():
            self.save_geometry()

    def hideEvent(self, event: QHideEvent) -> None:
        self.save_geometry()
        super().hideEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_geometry()
        super().closeEvent(event)
