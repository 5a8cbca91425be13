"""The create form of one kind (lead, opportunity, case), built from its FormDefinition.

Fields appear in the layout's order; enum fields are combo boxes of the enum's choices;
required fields are marked (``*``) and checked before submitting; problems — ours or the
CRM's own 400 errors — are shown under the field they concern. Enter submits, Esc cancels,
Tab walks the fields in order (text areas pass Tab on; Ctrl+Enter submits from them).
A dropped ``.eml`` file or *Paste e-mail* prefills the fields that are still empty (or hold
only their preset choice): nothing the user typed is overwritten. An opportunity's account is
a search-as-you-type picker (``customer_picker``); from an e-mail it starts with the account
of the contact who sent it, looked up in the CRM on a worker thread. A case from an e-mail
links the sender's contact (Oro's ``relatedContact``), looked up likewise and shown as
"Linked to contact: NAME" with *Remove link*; without a match, offline or when the lookup
fails, the case simply has no link.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from ...errors import TrayClientError
from ...mail import MailMessage, parse_file, parse_message, prefill
from ...outbox import CONTACT_LINKS, CustomerChoice, FieldProblem, FormDefinition, FormField
from ...outbox.validation import clean_contact_link
from ..plain_text import message_box, plain_label
from ..workers import run_in_pool
from .customer_picker import CustomerPicker, SearchFn

log = logging.getLogger(__name__)

# Shown in an empty optional combo box: "no value, the CRM's default applies".
NO_CHOICE = "—"

PLACEHOLDERS: dict[str, str] = {
    "email": "name@example.com (several: comma-separated)",
    "phone": "+1 555 0100 (several: comma-separated)",
    "date": "YYYY-MM-DD",
    "integer": "a whole number",
    "percent": "0–100",
    "money": "e.g. 1500.00",
}

SubmitFn = Callable[[dict[str, Any]], list[FieldProblem]]
SenderAccountFn = Callable[[str], CustomerChoice | None]


def eml_paths(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    """The local ``.eml`` files a drag carries."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls()
            if url.isLocalFile() and url.toLocalFile().lower().endswith(".eml")]


class EmlDropTarget:
    """Mixin for a QWidget that accepts dropped ``.eml`` files: subclasses implement
    ``eml_dropped(path)`` for the first one dropped."""

    def eml_dropped(self, path: Path) -> Any:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if eml_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = eml_paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.eml_dropped(paths[0])


class _TextArea(QPlainTextEdit):
    """A text area where Tab moves on and Ctrl+Enter submits the dialog."""

    submit_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.submit_requested.emit()
            return
        super().keyPressEvent(event)


class CreateDialog(EmlDropTarget, QDialog):
    """Form dialog for one record. Signal ``sender_lookup_done(object)``: the sender's
    account lookup answered (a CustomerChoice, None, or the exception).

    ``submit(values) -> problems`` is called with the form's values (CRM field names) when
    the user submits; an empty list closes the dialog (accepted), otherwise the problems are
    shown at their fields. ``field_errors`` (field -> message) and ``message`` show a
    previous failure, e.g. the CRM's answer for an entry being fixed. ``search_customers``
    (text -> CustomerChoice list) and ``sender_account`` (e-mail address -> CustomerChoice or
    None) run on worker threads for the account picker; without them it takes a typed id.
    ``sender_contact`` (e-mail address -> CustomerChoice of a contact, or None) runs on a
    worker for a kind with a contact link (a case); ``contact_lookup_done(object)`` tells
    when it answered (the choice, None, or the exception).
    """

    contact_lookup_done = Signal(object)

    sender_lookup_done = Signal(object)
    # An e-mail (dropped or pasted) was read on a worker and prefilled: the names filled.
    mail_read = Signal(list)

    def __init__(self, form: FormDefinition, submit: SubmitFn, *,
                 values: Mapping[str, Any] | None = None,
                 field_errors: Mapping[str, str] | None = None, message: str | None = None,
                 submit_label: str | None = None, parent: QWidget | None = None,
                 search_customers: SearchFn | None = None,
                 sender_account: SenderAccountFn | None = None,
                 sender_contact: SenderAccountFn | None = None) -> None:
        super().__init__(parent)
        self.form = form
        self._submit = submit
        self._touched: set[str] = set()
        self._search_customers = search_customers
        self._sender_account = sender_account
        self._sender_contact = sender_contact
        self._link_name = CONTACT_LINKS.get(form.kind)
        self._link: dict[str, str] | None = None
        self.setWindowTitle(form.title)
        self.setObjectName(f"create-{form.kind}")
        self.setAcceptDrops(True)
        self.editors: dict[str, QWidget] = {}
        self.error_labels: dict[str, QLabel] = {}

        outer = QVBoxLayout(self)
        self.message_label = plain_label()
        self.message_label.setObjectName("message")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #b00020;")
        self.message_label.setVisible(False)
        outer.addWidget(self.message_label)

        hint = QLabel("Fields marked * are required. Drop an e-mail (.eml) here to fill the "
                      "form from it.")
        hint.setWordWrap(True)
        outer.addWidget(hint)

        # The sender's contact the record is linked to: read-only, removable.
        self.link_row = QWidget()
        self.link_row.setObjectName("contact-link")
        link_layout = QHBoxLayout(self.link_row)
        link_layout.setContentsMargins(0, 0, 0, 0)
        self.link_label = plain_label()
        self.link_label.setObjectName("contact-link-label")
        self.link_label.setWordWrap(True)
        link_layout.addWidget(self.link_label, 1)
        self.unlink_button = QPushButton("Remove link")
        self.unlink_button.setObjectName("remove-contact-link")
        self.unlink_button.setAutoDefault(False)
        self.unlink_button.setToolTip("Create the case without linking it to this contact")
        self.unlink_button.clicked.connect(self.remove_link)
        link_layout.addWidget(self.unlink_button)
        self.link_row.setVisible(False)
        outer.addWidget(self.link_row)

        body = QWidget()
        layout = QFormLayout(body)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        previous: QWidget | None = None
        for form_field in form.fields:
            editor = self._make_editor(form_field)
            editor.setObjectName(f"field-{form_field.name}")
            label = plain_label(f"{form_field.label}{' *' if form_field.required else ''}")
            label.setBuddy(editor)
            if form_field.required:
                label.setStyleSheet("font-weight: bold;")
                editor.setAccessibleDescription("required")
            error = plain_label()
            error.setObjectName(f"error-{form_field.name}")
            error.setStyleSheet("color: #b00020;")
            error.setWordWrap(True)
            error.setVisible(False)
            column = QWidget()
            column_layout = QVBoxLayout(column)
            column_layout.setContentsMargins(0, 0, 0, 0)
            column_layout.addWidget(editor)
            column_layout.addWidget(error)
            layout.addRow(label, column)
            self.editors[form_field.name] = editor
            self.error_labels[form_field.name] = error
            if previous is not None:
                QWidget.setTabOrder(previous, editor)
            previous = editor
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        self.buttons = QDialogButtonBox()
        self.paste_button = QPushButton("Paste e-mail")
        self.paste_button.setObjectName("paste-email")
        self.paste_button.setAutoDefault(False)
        self.paste_button.setToolTip("Fill empty fields from an e-mail copied to the clipboard")
        self.paste_button.clicked.connect(self.paste_email)
        self.buttons.addButton(self.paste_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.submit_button = self.buttons.addButton(
            submit_label or form.title, QDialogButtonBox.ButtonRole.AcceptRole)
        self.submit_button.setObjectName("submit")
        self.submit_button.setDefault(True)  # Enter in a line edit submits
        cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAutoDefault(False)
        self.buttons.accepted.connect(self.try_submit)
        self.buttons.rejected.connect(self.request_cancel)  # Esc too (keyPressEvent)
        outer.addWidget(self.buttons)
        if previous is not None:
            QWidget.setTabOrder(previous, self.submit_button)

        # What a blank form holds (its presets): more than that is the user's (or the
        # e-mail's) work, and Escape asks before throwing it away.
        self._blank_values = self.values()
        for name, editor in self.editors.items():
            self._watch(name, editor)
        if values:
            self.set_values(values)
        if message:
            self.message_label.setText(message)
            self.message_label.setVisible(True)
        if field_errors:
            self.show_problems([FieldProblem(k, v) for k, v in field_errors.items()])
        first = next(iter(self.editors.values()), None)
        if first is not None:
            first.setFocus()
        self.resize(460, min(720, 140 + 56 * len(form.fields)))

    # ------------------------------------------------------------------ editors

    def _make_editor(self, form_field: FormField) -> QWidget:
        if form_field.type == "customer":
            return CustomerPicker(self._search_customers)
        if form_field.type == "enum":
            combo = QComboBox()
            combo.activated.connect(lambda _index, name=form_field.name: self._touched.add(name))
            if not form_field.required or not form_field.choices:
                combo.addItem(NO_CHOICE, None)
            for choice in form_field.choices:
                combo.addItem(choice.label, choice.id)
            default = form_field.default_choice
            if form_field.required and default is not None:
                combo.setCurrentIndex(combo.findData(default.id))
            return combo
        if form_field.type == "text":
            area = _TextArea()
            area.submit_requested.connect(self.try_submit)
            area.setMinimumHeight(70)
            return area
        line = QLineEdit()
        line.setPlaceholderText(PLACEHOLDERS.get(form_field.type, ""))
        if form_field.type == "string":
            line.setMaxLength(255)
        return line

    def _watch(self, name: str, editor: QWidget) -> None:
        """A field's error goes away as soon as the field is edited."""
        if isinstance(editor, QLineEdit):
            editor.textEdited.connect(lambda _text: self._field_edited(name))
        elif isinstance(editor, QPlainTextEdit):
            editor.textChanged.connect(lambda: self._field_edited(name))
        elif isinstance(editor, QComboBox):
            editor.activated.connect(lambda _index: self._field_edited(name))
        elif isinstance(editor, CustomerPicker):
            editor.chosen.connect(lambda _choice: self._field_edited(name))

    def _field_edited(self, name: str) -> None:
        label = self.error_labels.get(name)
        if label is not None and label.isVisible():
            label.clear()
            label.setVisible(False)
            self.editors[name].setStyleSheet("")

    def has_changes(self) -> bool:
        """True when the form holds more than a blank one (typed or prefilled values)."""
        return self.values() != self._blank_values

    def confirm_discard(self) -> bool:
        """Ask before a filled-in form is thrown away (replaceable in tests)."""
        box = message_box(QMessageBox.Icon.Question, f"Discard this {self.form.title.lower()}?",
                          "The values typed or taken from the e-mail will be lost.",
                          QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                          self)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Discard

    def request_cancel(self) -> bool:
        """Cancel or Escape: a filled-in form is closed only once the user says so (a
        programmatic ``reject``/``close`` does not ask). True when closed."""
        if self.has_changes() and not self.confirm_discard():
            return False
        self.reject()
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        # The window's close button asks as Cancel does.
        if event.spontaneous() and self.has_changes() and not self.confirm_discard():
            event.ignore()
            return
        super().closeEvent(event)

    def value_of(self, name: str) -> Any:
        """The current value of one field ('' / None when empty)."""
        editor = self.editors[name]
        if isinstance(editor, CustomerPicker):
            return editor.value()
        if isinstance(editor, QComboBox):
            return editor.currentData()
        if isinstance(editor, QPlainTextEdit):
            return editor.toPlainText()
        if isinstance(editor, QLineEdit):
            return editor.text()
        return None

    def values(self) -> dict[str, Any]:
        """The form's values by CRM field name (empty ones left out)."""
        result: dict[str, Any] = {}
        for name in self.editors:
            value = self.value_of(name)
            if value not in (None, ""):
                result[name] = value
        if self._link_name is not None and self._link is not None:
            result[self._link_name] = dict(self._link)
        return result

    def contact_link(self) -> dict[str, str] | None:
        """The contact this record will be linked to (``{"type", "id", "label"}``), or None."""
        return dict(self._link) if self._link is not None else None

    def set_contact_link(self, value: Any) -> None:
        """Link the record to a contact (a CustomerChoice or its ``as_value()``); None or an
        unusable value removes the link."""
        if isinstance(value, CustomerChoice):
            value = value.as_value()
        self._link = clean_contact_link(value) if self._link_name is not None else None
        if self._link is None:
            self.link_row.setVisible(False)
            self.link_label.clear()
            return
        self.link_label.setText(f"Linked to contact: {self._link['label']}")
        self.link_row.setVisible(True)

    def remove_link(self) -> None:
        """*Remove link*: the record is created without the contact."""
        self.set_contact_link(None)

    def _set_value(self, name: str, value: Any) -> None:
        editor = self.editors[name]
        if isinstance(editor, CustomerPicker):
            editor.set_value(value)
            return
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        if isinstance(editor, QComboBox):
            index = editor.findData(str(value))
            if index >= 0:
                editor.setCurrentIndex(index)
        elif isinstance(editor, QPlainTextEdit):
            editor.setPlainText(str(value))
        elif isinstance(editor, QLineEdit):
            editor.setText(str(value))

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Set fields from CRM-field-name values (unknown names are ignored). Percent values
        are shown as typed (0–100)."""
        for name, value in values.items():
            if name in self.editors and value not in (None, ""):
                self._set_value(name, value)
        if self._link_name is not None and self._link_name in values:
            self.set_contact_link(values[self._link_name])

    def _is_empty(self, name: str) -> bool:
        editor = self.editors[name]
        if isinstance(editor, CustomerPicker):
            return editor.value() is None
        if isinstance(editor, QComboBox):
            return editor.currentData() is None
        return str(self.value_of(name) or "").strip() == ""

    def _holds_preset(self, name: str) -> bool:
        """A combo box still showing the choice it was preset to (free for a prefill)."""
        editor = self.editors[name]
        field = self.form.field(name)
        preset = field.default_choice if field is not None else None
        return (isinstance(editor, QComboBox) and preset is not None
                and editor.currentData() == preset.id and name not in self._touched)

    # ------------------------------------------------------------------ prefill

    def prefill_from(self, message: MailMessage) -> list[str]:
        """Fill the still-empty fields from an e-mail; returns the names filled. An empty
        account picker is then filled from the sender's contact, when the CRM knows one (in
        the background: ``sender_lookup_done`` tells when)."""
        filled: list[str] = []
        self._show_message("")   # e.g. "the clipboard holds no text": its cause is gone
        for name, value in prefill(self.form.kind, message).items():
            if name in self.editors and (self._is_empty(name) or self._holds_preset(name)):
                self._set_value(name, value)
                filled.append(name)
        self._look_up_sender_account(message.sender_address)
        self._look_up_sender_contact(message.sender_address)
        return filled

    def _look_up_sender_contact(self, address: str) -> None:
        if (self._link_name is None or self._sender_contact is None or not address
                or self._link is not None):
            return
        run_in_pool(self._sender_contact, address, on_result=self._contact_found,
                    on_error=self._contact_failed)

    def _contact_found(self, choice: CustomerChoice | None) -> None:
        if not isValid(self):
            return
        if choice is not None and self._link is None:
            self.set_contact_link(choice)
        self.contact_lookup_done.emit(choice)

    def _contact_failed(self, exc: BaseException) -> None:
        # Offline or refused: the case goes without the link (it never blocks the case).
        if not isValid(self):
            return
        log.info("The sender's contact could not be looked up: %s", exc)
        self.contact_lookup_done.emit(exc)

    def _customer_picker(self) -> CustomerPicker | None:
        for editor in self.editors.values():
            if isinstance(editor, CustomerPicker):
                return editor
        return None

    def _look_up_sender_account(self, address: str) -> None:
        picker = self._customer_picker()
        if picker is None or self._sender_account is None or not address or not picker.is_empty():
            return
        picker.note.setText(f"Looking up the account of {address}…")
        picker.note.setVisible(True)
        run_in_pool(self._sender_account, address,
                    on_result=lambda choice: self._sender_found(picker, address, choice),
                    on_error=lambda exc: self._sender_failed(picker, exc))

    def _sender_found(self, picker: CustomerPicker, address: str,
                      choice: CustomerChoice | None) -> None:
        if picker.is_empty():  # the user may have chosen one meanwhile: theirs stays
            if choice is not None:
                picker.set_value(choice, note=f"The account of {address}, the sender.")
            else:
                picker.set_value(None, note=f"{address} is no contact of an account in the "
                                            "CRM: search for the account.")
        self.sender_lookup_done.emit(choice)

    def _sender_failed(self, picker: CustomerPicker, exc: BaseException) -> None:
        if picker.is_empty():
            reason = exc.title if isinstance(exc, TrayClientError) else str(exc)
            picker.set_value(None, note=f"The sender's account could not be looked up "
                                        f"({reason}): search for the account.")
        self.sender_lookup_done.emit(exc)

    def paste_email(self) -> None:
        """Prefill from the clipboard's text (a whole message or just its text), read on a
        worker (``mail_read`` tells when)."""
        text = QGuiApplication.clipboard().text()
        if not text.strip():
            self._show_message("The clipboard holds no text to take an e-mail from.")
            return
        self._read_mail(parse_message, text)

    def eml_dropped(self, path: Path) -> None:
        """Prefill from a dropped ``.eml`` file, read on a worker (``mail_read`` tells when):
        a large e-mail must not freeze the window."""
        self._read_mail(parse_file, path)

    def _read_mail(self, parse: Callable[[Any], MailMessage], source: Any) -> None:
        self._show_message("Reading the e-mail…")
        run_in_pool(parse, source, on_result=self._mail_parsed, on_error=self._mail_failed)

    def _mail_parsed(self, message: MailMessage) -> None:
        if not isValid(self):
            return
        self._show_message("")
        self.mail_read.emit(self.prefill_from(message))

    def _mail_failed(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        self._show_message(f"Cannot read the e-mail: {reason}")
        self.mail_read.emit([])

    def prefill_from_file(self, path: Path) -> list[str]:
        """Prefill from an ``.eml`` file, read here (blocking: the window uses
        ``eml_dropped``); an unreadable file is reported, not raised."""
        try:
            message = parse_file(path)
        except OSError as exc:
            self._show_message(f"Cannot read {path.name}: {exc.strerror or exc}")
            return []
        return self.prefill_from(message)

    # ------------------------------------------------------------------ submit

    def _show_message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def clear_problems(self) -> None:
        for name, label in self.error_labels.items():
            label.clear()
            label.setVisible(False)
            self.editors[name].setStyleSheet("")
        self._show_message("")

    def show_problems(self, problems: list[FieldProblem]) -> None:
        """Show each problem under its field (others in the message line); focus the first."""
        first: QWidget | None = None
        general: list[str] = []
        for problem in problems:
            label = self.error_labels.get(problem.field)
            if label is None:
                general.append(f"{problem.field}: {problem.message}" if problem.field
                               else problem.message)
                continue
            label.setText(problem.message)
            label.setVisible(True)
            editor = self.editors[problem.field]
            editor.setStyleSheet("border: 1px solid #b00020;")
            if first is None:
                first = editor
        if general:
            current = self.message_label.text()
            self._show_message("\n".join(([current] if current else []) + general))
        if first is not None:
            first.setFocus()

    def missing_required(self) -> list[FieldProblem]:
        """Required fields left empty (checked here so they are flagged before submitting)."""
        return [FieldProblem(f.name, f"{f.label} is required.") for f in self.form.fields
                if f.required and self._is_empty(f.name)]

    def try_submit(self) -> bool:
        """Check and hand the values to ``submit``; accept (close) when it has no problems."""
        self.clear_problems()
        problems = self.missing_required()
        if not problems:
            problems = self._submit(self.values())
        if problems:
            self.show_problems(problems)
            return False
        self.accept()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and not event.modifiers():
            self.request_cancel()
            return
        if event.matches(QKeySequence.StandardKey.Paste) and not isinstance(
                self.focusWidget(), (QLineEdit, QPlainTextEdit)):
            self.paste_email()
            return
        super().keyPressEvent(event)
