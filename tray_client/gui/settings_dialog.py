"""The Settings dialog (DESIGN §8): connection, sync options, what the administrator set.

The dialog is transactional: it edits a *draft* (a copy of the saved Settings) and nothing is
written before *Save*. *Check Connection* tests the typed values — URL, user, certificate
choice and the typed API key — without saving them (``client.check_connection(draft,
api_key=…)``); a certificate pinned by the check goes into the draft. *Cancel* leaves
everything as it was, a check included.

Tabs: *Connection*, *Sync*, *Server settings* (read-only) and whatever is added with
``add_tab`` (the *Field mapping* tab, the sync rules). A tab or part that edits settings is a
``SettingsSection``: ``load(settings)`` shows a Settings object, ``apply_to(settings)`` writes
the shown values into the draft, and an optional ``validate()`` flags its invalid fields and
returns False; the dialog's one *Save* saves the draft all sections wrote into.

*Authentication* (``auth_fields``): API key or OAuth application; the rows of the chosen kind
are shown, and a check whose server wants the other kind offers to switch. The API key (and
the client secret) is never read back: the field stays empty with the placeholder "stored in
keyring" when one exists, and is written only when the user typed a new one. *Forget pinned
certificate* (shown while a self-signed certificate is pinned) drops the pin in the draft, so
the next connection pins whatever certificate the server presents — the way out of a renewal.
Messages go away with their cause: a verdict when a connection field is edited, a field's
error when the field is.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .. import autostart
from ..credentials import API_KEY_VARIABLE
from ..errors import ConfigurationError, TrayClientError
from ..settings import ConflictPolicy, Direction, Settings
from ..sync.rules import section_keys
from .alerts import error_text
from .auth_fields import AuthFields
from .facade import ClientFacade
from .plain_text import message_box, plain_label
from .workers import Worker, run_in_pool

log = logging.getLogger(__name__)

KEY_PLACEHOLDER_STORED = "stored in keyring"
KEY_PLACEHOLDER_VARIABLE = f"taken from the {API_KEY_VARIABLE} variable"
KEY_PLACEHOLDER_EMPTY = "from your My User page in the CRM"
KEY_TOOLTIP_VARIABLE = (f"This app was started with the {API_KEY_VARIABLE} variable (the demo "
                        "sets it), and it gives the key. Start the app without it to keep a "
                        "key in the keyring.")

FORGET_PIN_TITLE = "Forget pinned certificate?"
FORGET_PIN_QUESTION = (
    "The next connection will accept whatever certificate the server presents and pin it.\n\n"
    "Only do this when you know the server's certificate was changed (for example, its "
    "administrator renewed it). Otherwise a changed certificate can mean someone is "
    "intercepting the connection.\n\nThe pin is forgotten when you save the settings.")

SYNC_TYPE_HELP = {
    "all": "Sync every CRM record you can see and every local item.",
    "selected": "Pull only records you own or are assigned; push only items marked for "
                "CRM sync.",
}

DIRECTION_WORDS = {Direction.BOTH: "both ways", Direction.CRM_TO_LOCAL: "CRM → this computer",
                   Direction.LOCAL_TO_CRM: "this computer → CRM"}
CONFLICT_WORDS = {ConflictPolicy.CRM_WINS: "the CRM wins",
                  ConflictPolicy.LOCAL_WINS: "this computer wins"}

_INVALID_STYLE = "border: 1px solid #c62828;"


@runtime_checkable
class SettingsSection(Protocol):
    """A tab or part of the Settings dialog that edits settings (see the module docstring).

    It may also define ``validate() -> bool`` (flag its invalid fields; False blocks Save
    and Check Connection).
    """

    def load(self, settings: Settings) -> None: ...
    def apply_to(self, settings: Settings) -> None: ...


def describe_verdict(verdict: Any) -> str:
    """A ConnectionVerdict in words: '✔ Connected — … (server 5.1)' or '✘ title — message'."""
    mark = "✔" if verdict.ok else "✘"
    text = f"{mark} {verdict.title}"
    if verdict.message:
        text += f" — {verdict.message}"
    if verdict.ok and getattr(verdict, "server_version", None):
        text += f" (server version {verdict.server_version})"
    if getattr(verdict, "events", None):
        text += f"\n{verdict.events}"   # calendar events use Oro's REST API: said apart
    return text


def describe_server_configuration(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows (label, value) for what the CRM's Outlook section sets (unknown values shown as
    they are); one row saying so when it sets nothing (real Oro 5/6 has no such section)."""
    rows = []
    for label, prefix in (("Contacts", "contacts"), ("Tasks", "tasks"),
                          ("Calendar events", "calendar_events")):
        enabled = config.get(f"{prefix}_enabled")
        if enabled is not None and enabled not in (True, "true", "1", 1):
            rows.append((label, "disabled"))
            continue
        parts = [] if enabled is None else ["enabled"]
        direction = config.get(f"{prefix}_sync_direction")
        if direction is not None:
            parts.append(DIRECTION_WORDS.get(str(direction), str(direction)))
        text = ", ".join(parts)
        conflict = config.get(f"{prefix}_conflict_resolution")
        if conflict is not None:
            text += ("; " if text else "") + "on conflict " + CONFLICT_WORDS.get(
                str(conflict), str(conflict))
        keys = section_keys(config.get(f"{prefix}_keys"))
        if keys:
            text += ("; " if text else "") + "keys " + ", ".join(keys)
        if text:
            rows.append((label, text))
    for label, key in (("Pull from the CRM every", "contacts_sync_interval_orocrm"),
                       ("Send local changes every", "contacts_sync_interval_outlook")):
        if config.get(key) is not None:
            rows.append((label, f"{config[key]} s"))
    if not rows:
        rows.append(("Sync rules", ("none: the CRM has no Outlook settings, so the rules of "
                                    "this computer apply (Sync rules tab)")))
    return rows


class SettingsDialog(QDialog):
    """Edits the client's settings as a draft (module docstring).

    Signals: ``saved(Settings)`` after a successful Save; ``connection_changed(Settings)``
    after a Save that changed how the CRM is reached (URL, user, certificate, API key);
    ``server_configuration_loaded(dict)``.
    """

    saved = Signal(object)
    connection_changed = Signal(object)
    server_configuration_loaded = Signal(dict)

    def __init__(self, client: ClientFacade, parent: QWidget | None = None, *,
                 start_command: Sequence[str] | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.start_command = list(start_command) if start_command else None
        self.setWindowTitle("CRM Tray Client — Settings")
        self.setMinimumWidth(520)
        self._workers: list[Worker] = []  # keep running workers' signal objects alive
        self.invalid_fields: set[QLineEdit] = set()  # fields flagged by the last validation
        self.sections: list[SettingsSection] = []  # added tabs/parts that edit settings
        # The pin in the draft and the (url, ignore-self-signed) it belongs to: a pin is
        # for one server and one decision, and is dropped when either changes.
        self._pin: tuple[str, bool, str] = ("", False, "")
        self.pin_forgotten = False  # "Forget pinned certificate" confirmed, not saved yet
        self._check_serial = 0      # a check's answer counts only for the values it checked
        self._checked: tuple[Settings, dict[str, str]] | None = None  # last good check's values
        self.server_configuration_is_saved = True  # shown configuration is the saved profile's

        self.tabs = QTabWidget()
        self.tabs.addTab(self._connection_tab(), "Connection")
        self.tabs.addTab(self._sync_tab(), "Sync")
        self.tabs.addTab(self._server_tab(), "Server settings")

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.buttons)
        self.load(client.settings)

    # -- building ---------------------------------------------------------------------------

    def _connection_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://crm.example.com (OroCommerce: …/admin)")
        self.url_error = self._error_label()
        form.addRow("CRM URL:", self.url_edit)
        form.addRow("", self.url_error)

        self.ignore_cert_check = QCheckBox("Ignore self-signed certificate")
        self.ignore_cert_check.setToolTip(
            "Accept a certificate no authority signed; the first one seen is pinned and any "
            "other certificate is refused afterwards.")
        self.pin_label = plain_label(wrap=True, selectable=True)
        self.forget_pin_button = QPushButton("Forget pinned certificate")
        self.forget_pin_button.setToolTip(
            "After the server's certificate was renewed: accept and pin the next one seen.")
        self.forget_pin_button.clicked.connect(self.forget_pin)
        pin_row = QHBoxLayout()
        pin_row.addWidget(self.pin_label, 1)
        pin_row.addWidget(self.forget_pin_button, 0, Qt.AlignmentFlag.AlignTop)
        form.addRow("", self.ignore_cert_check)
        form.addRow("", pin_row)
        self.ignore_cert_check.toggled.connect(self._update_pin_label)

        self.user_edit = QLineEdit()
        self.user_error = self._error_label()
        form.addRow("User:", self.user_edit)
        form.addRow("", self.user_error)

        self.api_key_edit = QLineEdit()
        self.api_key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key_edit.setObjectName("apiKey")
        form.addRow("API key:", self.api_key_edit)

        self.check_button = QPushButton("Check Connection")
        self.check_button.setToolTip("Try the values above without saving them")
        self.check_button.clicked.connect(self.check_connection)
        self.verdict_label = plain_label(wrap=True, selectable=True)
        self.verdict_label.setObjectName("verdict")
        form.addRow("", self.check_button)
        form.addRow("", self.verdict_label)
        self.connection_form = form   # other parts of the connection join it (auth fields)
        self.auth_fields = AuthFields(self.client, form, self.api_key_edit, parent=self,
                                      row=form.getWidgetPosition(self.api_key_edit)[0])
        self.auth_fields.edited.connect(self._connection_edited)
        self.auth_fields.sign_in_requested.connect(self.sign_in)
        self._sign_in_cancel: threading.Event | None = None   # set: a running sign-in stops
        self.add_section(self.auth_fields)
        for edit, error in ((self.url_edit, self.url_error), (self.user_edit, self.user_error),
                            (self.api_key_edit, None)):
            edit.textEdited.connect(lambda _text, e=edit, label=error:
                                    self._connection_edited(e, label))
        self.ignore_cert_check.toggled.connect(lambda _on: self._connection_edited())
        return tab

    def _sync_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.disable_sync_check = QCheckBox("Disable sync (no automatic sync; Sync now still "
                                            "works)")
        layout.addWidget(self.disable_sync_check)

        layout.addWidget(QLabel("Sync type:"))
        self.sync_type_group = QButtonGroup(self)
        self.sync_type_buttons: dict[str, QRadioButton] = {}
        for value, label in (("all", "All"), ("selected", "Selected")):
            button = QRadioButton(label)
            self.sync_type_group.addButton(button)
            self.sync_type_buttons[value] = button
            layout.addWidget(button)
            help_label = QLabel(SYNC_TYPE_HELP[value])
            help_label.setWordWrap(True)
            help_label.setContentsMargins(24, 0, 0, 4)
            layout.addWidget(help_label)

        self.show_alerts_check = QCheckBox("Show alerts (notifications about syncs)")
        self.birthdays_check = QCheckBox("Sync birthdays")
        self.start_at_login_check = QCheckBox("Start at login")
        for widget in (self.show_alerts_check, self.birthdays_check, self.start_at_login_check):
            layout.addWidget(widget)
        layout.addStretch(1)
        return tab

    def _server_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        intro = QLabel("Set by your CRM administrator (read-only):")
        layout.addWidget(intro)
        self.server_form = QFormLayout()
        layout.addLayout(self.server_form)
        self.server_status = plain_label("Not loaded yet.", wrap=True)
        layout.addWidget(self.server_status)
        layout.addStretch(1)
        return tab

    @staticmethod
    def _error_label() -> QLabel:
        label = plain_label(wrap=True)
        label.setStyleSheet("color: #c62828;")
        label.setVisible(False)
        return label

    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a tab (e.g. "Field mapping"); returns its index. A tab that is a
        ``SettingsSection`` shows the dialog's settings and is saved with them."""
        index = self.tabs.addTab(widget, title)
        if isinstance(widget, SettingsSection):
            self.add_section(widget)
        return index

    def add_section(self, section: SettingsSection) -> None:
        """Let ``section`` (a tab, or fields placed into one) edit the draft."""
        self.sections.append(section)
        section.load(self.client.settings)

    # -- values -----------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        """Show ``settings`` (and whether a key is stored) in the fields."""
        self.pin_forgotten = False
        self._pin = (settings.url, settings.ignore_self_signed_cert,
                     settings.pinned_cert_sha256)
        self.url_edit.setText(settings.url)
        self.user_edit.setText(settings.user)
        self.ignore_cert_check.setChecked(settings.ignore_self_signed_cert)
        self.api_key_edit.clear()
        try:
            has_key = self.client.has_api_key()
        except TrayClientError:
            has_key = False
        from_variable = bool(os.environ.get(API_KEY_VARIABLE))
        # The variable overrides the keyring (credentials.py): say where the key is from, and
        # take no typed key (the demo sets the variable; nothing would be stored, or used).
        self.api_key_edit.setReadOnly(from_variable)
        self.api_key_edit.setToolTip(KEY_TOOLTIP_VARIABLE if from_variable else "")
        if from_variable:
            placeholder = KEY_PLACEHOLDER_VARIABLE
        else:
            placeholder = KEY_PLACEHOLDER_STORED if has_key else KEY_PLACEHOLDER_EMPTY
        self.api_key_edit.setPlaceholderText(placeholder)
        self.disable_sync_check.setChecked(settings.disable_sync)
        sync_type = self.sync_type_buttons.get(settings.sync_type, self.sync_type_buttons["all"])
        sync_type.setChecked(True)
        self.show_alerts_check.setChecked(settings.show_alerts)
        self.birthdays_check.setChecked(settings.sync_birthdays)
        self.start_at_login_check.setChecked(settings.start_at_login)
        for section in self.sections:
            section.load(settings)
        self._set_verdict("")
        self._update_pin_label()

    def _edited_pin(self) -> str:
        url, ignoring, pin = self._pin
        if (url, ignoring) != (self.url_edit.text().strip(), self.ignore_cert_check.isChecked()):
            return ""   # another server or another decision: never carry a pin over
        return pin

    def _update_pin_label(self) -> None:
        pin = self._edited_pin()
        ignoring = self.ignore_cert_check.isChecked()
        if not ignoring:
            self.pin_label.setText("")
        elif pin:
            self.pin_label.setText(f"Pinned certificate (SHA-256): {pin}")
        elif self.pin_forgotten:
            self.pin_label.setText("No certificate pinned: the first one seen will be. "
                                   "(The old pin is dropped when you save.)")
        else:
            self.pin_label.setText("No certificate pinned yet: the first one seen will be.")
        self.pin_label.setVisible(ignoring)
        self.forget_pin_button.setVisible(ignoring and bool(pin))

    def forget_pin(self) -> bool:
        """Ask, then forget the pinned certificate in the draft; True when forgotten.

        Like every other edit in this dialog, the pin is dropped when the settings are saved
        and kept on Cancel: a stray click must not unpin a server the user did not mean to
        touch.
        """
        answer = QMessageBox.question(
            self, FORGET_PIN_TITLE, FORGET_PIN_QUESTION,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.pin_forgotten = True
        self._pin = (self._pin[0], self._pin[1], "")
        self._connection_edited()
        return True

    def apply_to(self, settings: Settings) -> None:
        """Write the built-in tabs' values into ``settings`` (a draft)."""
        settings.url = self.url_edit.text().strip()
        settings.user = self.user_edit.text().strip()
        settings.ignore_self_signed_cert = self.ignore_cert_check.isChecked()
        settings.pinned_cert_sha256 = self._edited_pin()
        settings.disable_sync = self.disable_sync_check.isChecked()
        settings.sync_type = next(v for v, b in self.sync_type_buttons.items()
                                  if b.isChecked())
        settings.show_alerts = self.show_alerts_check.isChecked()
        settings.sync_birthdays = self.birthdays_check.isChecked()
        settings.start_at_login = self.start_at_login_check.isChecked()

    def edited_settings(self) -> Settings:
        """The draft: a copy of the saved settings with every tab's values."""
        draft = copy.deepcopy(self.client.settings)
        self.apply_to(draft)
        for section in self.sections:
            section.apply_to(draft)
        return draft

    def typed_api_key(self) -> str | None:
        """The API key as typed, None when the field is empty (the stored one is used)."""
        return self.api_key_edit.text() or None

    def typed_secrets(self) -> dict[str, str]:
        """The typed secret of the chosen kind of sign-in, as the facade's keyword (none typed:
        empty, the stored one is used)."""
        if self.auth_fields.kind() == "oauth2":
            secret = self.auth_fields.typed_client_secret()
            return {"client_secret": secret} if secret else {}
        key = self.typed_api_key()
        return {"api_key": key} if key else {}

    def validate(self) -> bool:
        """Flag invalid fields where they are; True when everything can be saved."""
        url = self.url_edit.text().strip()
        url_problem = None
        if not url:
            url_problem = "Enter the CRM's address, e.g. https://crm.example.com."
        elif not (url.startswith(("https://", "http://"))):
            url_problem = f"Start with https:// (for example https://{url})."
        elif url.rstrip("/") in ("https:", "http:"):
            url_problem = "The address has no host name."
        user_problem = None if self.user_edit.text().strip() else "Enter your CRM user name."
        self._flag(self.url_edit, self.url_error, url_problem)
        self._flag(self.user_edit, self.user_error, user_problem)
        first = self.url_edit if url_problem else self.user_edit if user_problem else None
        if first is not None:
            self.tabs.setCurrentIndex(0)
            first.setFocus()
            return False
        for section in self.sections:
            validate = getattr(section, "validate", None)
            if validate is not None and not validate():
                if isinstance(section, QWidget):
                    index = self.tabs.indexOf(section)
                    if index >= 0:
                        self.tabs.setCurrentIndex(index)
                return False
        return True

    def _flag(self, edit: QLineEdit, label: QLabel, problem: str | None) -> None:
        edit.setStyleSheet(_INVALID_STYLE if problem else "")
        if problem:
            self.invalid_fields.add(edit)
        else:
            self.invalid_fields.discard(edit)
        label.setText(problem or "")
        label.setVisible(bool(problem))

    def _connection_edited(self, edit: QLineEdit | None = None,
                           error: QLabel | None = None) -> None:
        """A connection value changed: its error and the last verdict no longer apply."""
        if edit is not None and error is not None and edit in self.invalid_fields:
            self._flag(edit, error, None)
        self._check_serial += 1          # a running check's answer is about old values
        self._checked = None
        self.auth_fields.suggest(None)
        self.check_button.setEnabled(True)
        self._set_verdict("")
        self._update_pin_label()

    def _set_verdict(self, text: str, ok: bool | None = None) -> None:
        self.verdict_label.setText(text)
        self.verdict_label.setVisible(bool(text))
        self.verdict_label.setStyleSheet(
            "" if ok is None else "color: #2e7d32;" if ok else "color: #c62828;")
        if text and self.isVisible():
            self._grow_to_fit()

    def _grow_to_fit(self) -> None:
        """Make the shown dialog tall enough for a long (word-wrapped) verdict: a top-level
        window does not grow by itself once shown, and would cut the text off."""
        layout = self.layout()
        layout.activate()
        needed = (layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth()
                  else layout.totalSizeHint().height())
        if needed > self.height():
            self.resize(self.width(), needed)

    def _store_secret(self, store: Callable[[str], None], value: str) -> bool:
        """Put a typed secret into the keyring; when that fails, say why and return False
        (the draft is kept: nothing was saved yet)."""
        try:
            store(value)
        except TrayClientError as exc:
            message_box(QMessageBox.Icon.Warning, exc.title, exc.message, parent=self).exec()
            return False
        return True

    def apply(self) -> bool:
        """Validate and save the draft, the new API key and the autostart entry.

        Returns True when everything was saved; problems are shown in the dialog.
        """
        if not self.validate():
            return False
        settings = self.edited_settings()
        old = self.client.settings
        key = self.typed_api_key()
        client_secret = self.auth_fields.typed_client_secret()
        connection_changed = bool(key or client_secret) or (
            (settings.url, settings.user, settings.ignore_self_signed_cert,
             settings.pinned_cert_sha256, settings.auth, settings.client_id)
            != (old.url, old.user, old.ignore_self_signed_cert, old.pinned_cert_sha256,
                old.auth, old.client_id))
        try:
            self.client.save_settings(settings)
        except ConfigurationError as exc:
            self._flag(self.url_edit, self.url_error, exc.message)
            return False
        self.pin_forgotten = False
        self._pin = (settings.url, settings.ignore_self_signed_cert,
                     settings.pinned_cert_sha256)
        self._update_pin_label()
        if key:
            if not self._store_secret(self.client.set_api_key, key):
                return False
            self.api_key_edit.clear()
            self.api_key_edit.setPlaceholderText(KEY_PLACEHOLDER_STORED)
        if client_secret:
            if not self._store_secret(self.client.set_client_secret, client_secret):
                return False
            self.auth_fields.secret_stored()
        try:
            if settings.start_at_login != autostart.is_enabled():
                if settings.start_at_login:
                    autostart.enable(self.start_command)
                else:
                    autostart.disable()
        except TrayClientError as exc:
            message_box(QMessageBox.Icon.Warning, exc.title, exc.message, parent=self).exec()
        self.saved.emit(settings)
        if connection_changed:
            self.connection_changed.emit(settings)
        return True

    def accept(self) -> None:
        if self.apply():
            super().accept()

    # -- workers ----------------------------------------------------------------------------

    def _start(self, fn: Any, on_result: Any, on_error: Any) -> Worker:
        worker = run_in_pool(fn, on_result=on_result, on_error=on_error)
        self._workers.append(worker)
        worker.signals.finished.connect(lambda w=worker: self._workers.remove(w))
        return worker

    def check_connection(self) -> Worker | None:
        """Check the typed values (nothing is saved) in a worker; the verdict is shown."""
        if not self.validate():
            return None
        draft = self.edited_settings()
        secrets = self.typed_secrets()
        self._check_serial += 1
        serial = self._check_serial
        self.check_button.setEnabled(False)
        self._set_verdict("Checking…")
        return self._start(lambda: self.client.check_connection(draft, **secrets),
                           lambda verdict: self._on_verdict(serial, draft, secrets, verdict),
                           lambda exc: self._on_check_error(serial, exc))

    def sign_in(self) -> Worker | None:
        """*Sign in with Oro…* for the typed values, in a worker; a second click cancels it.

        The browser signs in on the CRM's page; the refresh token it leads to is kept in the
        keyring at once (it is no setting: Cancel leaves the settings as they were)."""
        if self._sign_in_cancel is not None:
            self._sign_in_cancel.set()
            return None
        if not self.validate():
            return None
        draft = self.edited_settings()
        cancel = self._sign_in_cancel = threading.Event()
        self.auth_fields.signing_in(True)
        self._check_serial += 1
        serial = self._check_serial
        self._set_verdict("Waiting for the browser: sign in to the CRM there…")

        def finished() -> None:
            self._sign_in_cancel = None
            self.auth_fields.signing_in(False)

        return self._start(lambda: self.client.sign_in_with_browser(draft, cancel=cancel),
                           lambda verdict: (finished(),
                                            self._on_verdict(serial, draft, {}, verdict)),
                           lambda exc: (finished(), self._on_check_error(serial, exc)))

    def _on_verdict(self, serial: int, draft: Settings, secrets: dict[str, str],
                    verdict: Any) -> None:
        if serial != self._check_serial:
            return   # the fields changed meanwhile: this answer is about other values
        self.check_button.setEnabled(True)
        self._set_verdict(describe_verdict(verdict), verdict.ok)
        if draft.pinned_cert_sha256 and draft.pinned_cert_sha256 != self._edited_pin():
            # The check pinned the certificate it was shown: part of the draft now.
            self._pin = (draft.url, draft.ignore_self_signed_cert, draft.pinned_cert_sha256)
            self.pin_forgotten = False
        self._update_pin_label()
        if verdict.ok:
            self._checked = (draft, secrets)
            self.load_server_configuration()
        else:
            self.auth_fields.suggest(getattr(verdict, "auth_wanted", None))

    def _on_check_error(self, serial: int, exc: BaseException) -> None:
        if serial != self._check_serial:
            return
        self.check_button.setEnabled(True)
        title, message = error_text(exc)
        self._set_verdict(f"✘ {title} — {message}", False)

    def load_server_configuration(self) -> Worker | None:
        """Fetch what the administrator set, in a worker: for the values a good check just
        tried, else for the saved profile (when it is complete)."""
        if self._checked is not None:
            draft, secrets = self._checked

            def fetch() -> dict[str, Any]:
                return self.client.server_configuration(draft, **secrets)
        else:
            try:
                ready = self.client.settings.configured and self.client.has_secret()
            except TrayClientError:
                ready = False
            if not ready:
                self.server_status.setText("Shown once the connection is set up.")
                return None
            fetch = self.client.server_configuration
        # What the app may take from it (intervals) only once the profile is saved.
        self.server_configuration_is_saved = self._checked is None
        self.server_status.setText("Loading…")
        return self._start(fetch, self._on_server_configuration, self._on_server_error)

    def _on_server_configuration(self, config: dict[str, Any]) -> None:
        while self.server_form.rowCount():
            self.server_form.removeRow(0)
        for label, value in describe_server_configuration(config):
            self.server_form.addRow(f"{label}:", plain_label(value, wrap=True))
        self.server_status.setText("")
        self.server_configuration_loaded.emit(config)

    def _on_server_error(self, exc: BaseException) -> None:
        title, message = error_text(exc)
        self.server_status.setText(f"Could not read the server settings: {title} — {message}")
