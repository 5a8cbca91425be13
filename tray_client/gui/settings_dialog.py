"""The Settings dialog (DESIGN §8): connection, sync options, what the administrator set.

Tabs: *Connection*, *Sync*, *Server settings* (read-only); ``add_tab`` leaves room for the
*Field mapping* tab. The API key is never read back: the field stays empty with the
placeholder "stored in keyring" when one exists, and is written only when the user typed a
new one. Check Connection saves the connection fields first (the facade checks the saved
profile), then runs in a worker; its verdict is shown in words. *Forget pinned certificate*
(shown while a self-signed certificate is pinned) drops the pin on the next save, so the
next connection pins whatever certificate the server presents — the way out of a renewal.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import Any

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
from ..settings import Settings
from ..sync.rules import section_keys
from .alerts import error_text
from .facade import ClientFacade
from .workers import Worker, run_in_pool

log = logging.getLogger(__name__)

KEY_PLACEHOLDER_STORED = "stored in keyring"
KEY_PLACEHOLDER_VARIABLE = f"taken from the {API_KEY_VARIABLE} variable"
KEY_PLACEHOLDER_EMPTY = "from your My User page in the CRM"

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

DIRECTION_WORDS = {"Both": "both ways", "OroCRMToOutlook": "CRM → this computer",
                   "OutlookToOroCRM": "this computer → CRM"}
CONFLICT_WORDS = {"OroCRMAlwaysWins": "the CRM wins", "OutlookAlwaysWins": "this computer wins"}

_INVALID_STYLE = "border: 1px solid #c62828;"


def describe_verdict(verdict: Any) -> str:
    """A ConnectionVerdict in words: '✔ Connected — … (server 5.1)' or '✘ title — message'."""
    mark = "✔" if verdict.ok else "✘"
    text = f"{mark} {verdict.title}"
    if verdict.message:
        text += f" — {verdict.message}"
    if verdict.ok and getattr(verdict, "server_version", None):
        text += f" (server version {verdict.server_version})"
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
    """Edits the client's settings. ``saved(Settings)`` is emitted after a successful save."""

    saved = Signal(object)
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
        self.pin_forgotten = False  # "Forget pinned certificate" confirmed, not saved yet

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
        self.pin_label = QLabel()
        self.pin_label.setWordWrap(True)
        self.pin_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        self.check_button.clicked.connect(self.check_connection)
        self.verdict_label = QLabel()
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setObjectName("verdict")
        self.verdict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.check_button)
        form.addRow("", self.verdict_label)
        return tab

    def _sync_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.disable_sync_check = QCheckBox("Disable Sync (no automatic sync; Sync Now still works)")
        layout.addWidget(self.disable_sync_check)

        layout.addWidget(QLabel("Sync Type:"))
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

        self.show_alerts_check = QCheckBox("Show Alerts (notifications about syncs)")
        self.birthdays_check = QCheckBox("Sync Birthdays")
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
        self.server_status = QLabel("Not loaded yet.")
        self.server_status.setWordWrap(True)
        layout.addWidget(self.server_status)
        layout.addStretch(1)
        return tab

    @staticmethod
    def _error_label() -> QLabel:
        label = QLabel()
        label.setStyleSheet("color: #c62828;")
        label.setVisible(False)
        return label

    def add_tab(self, widget: QWidget, title: str) -> int:
        """Add a tab (e.g. "Field mapping"); returns its index."""
        return self.tabs.addTab(widget, title)

    # -- values -----------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        """Show ``settings`` (and whether a key is stored) in the fields."""
        self.pin_forgotten = False
        self.url_edit.setText(settings.url)
        self.user_edit.setText(settings.user)
        self.ignore_cert_check.setChecked(settings.ignore_self_signed_cert)
        self.api_key_edit.clear()
        try:
            has_key = self.client.has_api_key()
        except TrayClientError:
            has_key = False
        if os.environ.get(API_KEY_VARIABLE):
            # The variable overrides the keyring (credentials.py): say where the key is from.
            placeholder = KEY_PLACEHOLDER_VARIABLE
        else:
            placeholder = KEY_PLACEHOLDER_STORED if has_key else KEY_PLACEHOLDER_EMPTY
        self.api_key_edit.setPlaceholderText(placeholder)
        self.disable_sync_check.setChecked(settings.disable_sync)
        self.sync_type_buttons.get(settings.sync_type, self.sync_type_buttons["all"]).setChecked(True)
        self.show_alerts_check.setChecked(settings.show_alerts)
        self.birthdays_check.setChecked(settings.sync_birthdays)
        self.start_at_login_check.setChecked(settings.start_at_login)
        self._update_pin_label()

    def _edited_pin(self) -> str:
        return "" if self.pin_forgotten else self.client.settings.pinned_cert_sha256

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
        self.forget_pin_button.setVisible(ignoring and bool(pin))

    def forget_pin(self) -> bool:
        """Ask, then forget the pinned certificate in the edited settings; True when forgotten.

        Like every other edit in this dialog, the pin is dropped when the settings are saved
        (Save, or Check Connection, which saves first) and kept on Cancel: a stray click
        must not unpin a server the user did not mean to touch.
        """
        answer = QMessageBox.question(
            self, FORGET_PIN_TITLE, FORGET_PIN_QUESTION,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.pin_forgotten = True
        self._update_pin_label()
        return True

    def edited_settings(self) -> Settings:
        """A copy of the current settings with the dialog's values."""
        sync_type = next(v for v, b in self.sync_type_buttons.items() if b.isChecked())
        return dataclasses.replace(
            self.client.settings,
            url=self.url_edit.text().strip(),
            user=self.user_edit.text().strip(),
            ignore_self_signed_cert=self.ignore_cert_check.isChecked(),
            pinned_cert_sha256=self._edited_pin(),
            disable_sync=self.disable_sync_check.isChecked(),
            sync_type=sync_type,
            show_alerts=self.show_alerts_check.isChecked(),
            sync_birthdays=self.birthdays_check.isChecked(),
            start_at_login=self.start_at_login_check.isChecked(),
        )

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
        return first is None

    def _flag(self, edit: QLineEdit, label: QLabel, problem: str | None) -> None:
        edit.setStyleSheet(_INVALID_STYLE if problem else "")
        if problem:
            self.invalid_fields.add(edit)
        else:
            self.invalid_fields.discard(edit)
        label.setText(problem or "")
        label.setVisible(bool(problem))

    def apply(self) -> bool:
        """Validate and save settings, the new API key and the autostart entry.

        Returns True when everything was saved; problems are shown in the dialog.
        """
        if not self.validate():
            return False
        settings = self.edited_settings()
        old = self.client.settings
        if (settings.url, settings.ignore_self_signed_cert) != (old.url,
                                                                 old.ignore_self_signed_cert):
            # A pin belongs to one server and one decision; never carry it over.
            settings.pinned_cert_sha256 = ""
        try:
            self.client.save_settings(settings)
        except ConfigurationError as exc:
            self._flag(self.url_edit, self.url_error, exc.message)
            return False
        # Saved: from now on the label shows the facade's pin (a check may pin a new one).
        self.pin_forgotten = False
        self._update_pin_label()
        key = self.api_key_edit.text()
        if key:
            try:
                self.client.set_api_key(key)
            except TrayClientError as exc:
                QMessageBox.warning(self, exc.title, exc.message)
                return False
            self.api_key_edit.clear()
            self.api_key_edit.setPlaceholderText(KEY_PLACEHOLDER_STORED)
        try:
            if settings.start_at_login != autostart.is_enabled():
                if settings.start_at_login:
                    autostart.enable(self.start_command)
                else:
                    autostart.disable()
        except TrayClientError as exc:
            QMessageBox.warning(self, exc.title, exc.message)
        self.saved.emit(settings)
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
        """Save the connection fields, then check them in a worker; the verdict is shown."""
        if not self.apply():
            return None
        self.check_button.setEnabled(False)
        self.verdict_label.setText("Checking…")
        return self._start(self.client.check_connection, self._on_verdict, self._on_check_error)

    def _on_verdict(self, verdict: Any) -> None:
        self.check_button.setEnabled(True)
        self.verdict_label.setText(describe_verdict(verdict))
        self.verdict_label.setStyleSheet("color: #2e7d32;" if verdict.ok else "color: #c62828;")
        self._update_pin_label()
        if verdict.ok:
            self.load_server_configuration()

    def _on_check_error(self, exc: BaseException) -> None:
        self.check_button.setEnabled(True)
        title, message = error_text(exc)
        self.verdict_label.setText(f"✘ {title} — {message}")
        self.verdict_label.setStyleSheet("color: #c62828;")

    def load_server_configuration(self) -> Worker | None:
        """Fetch what the administrator set, in a worker (only when a profile is complete)."""
        try:
            ready = self.client.settings.configured and self.client.has_api_key()
        except TrayClientError:
            ready = False
        if not ready:
            self.server_status.setText("Shown once the connection is set up.")
            return None
        self.server_status.setText("Loading…")
        return self._start(self.client.server_configuration, self._on_server_configuration,
                           self._on_server_error)

    def _on_server_configuration(self, config: dict[str, Any]) -> None:
        while self.server_form.rowCount():
            self.server_form.removeRow(0)
        for label, value in describe_server_configuration(config):
            value_label = QLabel(value)
            value_label.setWordWrap(True)
            self.server_form.addRow(f"{label}:", value_label)
        self.server_status.setText("")
        self.server_configuration_loaded.emit(config)

    def _on_server_error(self, exc: BaseException) -> None:
        title, message = error_text(exc)
        self.server_status.setText(f"Could not read the server settings: {title} — {message}")
