"""The sign-in part of Settings › Connection: which kind, and its secret.

*Authentication*: **API key** (WSSE; Oro 6.0 and earlier), **OAuth application** (the
client-credentials grant; Oro 6.1 and later offer only OAuth) or **Sign in with Oro** (the
authorization-code grant with PKCE in the system browser: nothing to copy). The API key row
belongs to the dialog (it was there first); this part adds the kind, *Client ID*, *Client
secret* or the *Sign in with Oro…* button, and a hint on where Oro makes the application, and
shows the rows of the chosen kind only. The button asks the dialog (``sign_in_requested``) to
run the sign-in; while it runs it cancels it.

A ``SettingsSection`` of the transactional dialog: ``load`` shows saved settings,
``apply_to`` writes the kind and the Client ID into the draft, ``validate`` asks for a Client
ID. The secret is never read back: the field stays empty with a placeholder saying where the
stored one is, and is written to the keyring only on Save, when one was typed. When Check
Connection finds that the server wants the other kind, ``suggest`` shows a button that
switches to it.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..credentials import CLIENT_SECRET_VARIABLE
from ..errors import TrayClientError
from ..settings import Settings
from .plain_text import plain_label

KIND_LABELS = {"wsse": "API key (Oro 6.0 and earlier)",
               "oauth2": "OAuth application: Client ID and secret (Oro 6.1 and later)",
               "oauth2_code": "Sign in with Oro in the browser (application made by an admin)"}
SWITCH_LABELS = {"wsse": "Use an API key instead", "oauth2": "Use an OAuth application instead"}
SIGN_IN_LABEL = "Sign in with Oro…"
SIGN_IN_CANCEL_LABEL = "Cancel sign-in"
SIGN_IN_HINT = ("Your CRM administrator makes one OAuth application for this app: System › User "
                "Management › OAuth Applications, grant Authorization Code, not confidential, "
                "redirect URI http://127.0.0.1/callback. Enter its Client ID, then sign in on "
                "the CRM's own page in your browser.")
SECRET_PLACEHOLDER_STORED = "stored in keyring"
SECRET_PLACEHOLDER_VARIABLE = f"taken from the {CLIENT_SECRET_VARIABLE} variable"
SECRET_PLACEHOLDER_EMPTY = "shown once, when the application is made in Oro"
OAUTH_HINT = ("Make the application in Oro: My User › OAuth Applications › Add (grant: client "
              "credentials), then copy its Client ID and Client Secret here.")
_INVALID_STYLE = "border: 1px solid #c62828;"


class AuthFields(QObject):
    """The kind selector and the OAuth rows, placed into the connection form.

    ``edited`` is emitted when a value changes (the dialog clears its verdict then).
    """

    edited = Signal()
    sign_in_requested = Signal()

    def __init__(self, client, form: QFormLayout, api_key_edit: QLineEdit, *, row: int,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.form = form
        self.api_key_edit = api_key_edit

        self.kind_buttons: dict[str, QRadioButton] = {}
        self.kind_group = QButtonGroup(self)
        kinds = QVBoxLayout()
        for kind, label in KIND_LABELS.items():
            button = QRadioButton(label)
            button.setObjectName(f"auth_{kind}")
            self.kind_group.addButton(button)
            self.kind_buttons[kind] = button
            kinds.addWidget(button)
        # No stretch here: it would make this row take the tab's spare height (a gap above
        # the key field); the connection tab keeps its spare room at the bottom.
        self.kind_row = QWidget()
        self.kind_row.setLayout(kinds)
        kinds.setContentsMargins(0, 0, 0, 0)

        self.switch_button = QPushButton()
        self.switch_button.setVisible(False)
        self.switch_button.clicked.connect(self._switch)
        self._suggested: str | None = None

        self.client_id_edit = QLineEdit()
        self.client_id_edit.setObjectName("clientId")
        self.client_id_edit.setPlaceholderText("the application's Client ID in Oro")
        self.client_id_error = QLabel()
        self.client_id_error.setStyleSheet("color: #c62828;")
        self.client_id_error.setVisible(False)
        self.client_secret_edit = QLineEdit()
        self.client_secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.client_secret_edit.setObjectName("clientSecret")
        self.hint_label = plain_label(OAUTH_HINT, wrap=True)
        self.sign_in_button = QPushButton(SIGN_IN_LABEL)
        self.sign_in_button.setObjectName("signIn")
        self.sign_in_button.clicked.connect(self.sign_in_requested.emit)
        self.sign_in_hint = plain_label(SIGN_IN_HINT, wrap=True)

        form.insertRow(row, "Authentication:", self.kind_row)
        form.insertRow(row + 1, "", self.switch_button)
        # The dialog's API key row follows; the OAuth rows come after it.
        after_key = form.getWidgetPosition(api_key_edit)[0] + 1
        form.insertRow(after_key, "Client ID:", self.client_id_edit)
        form.insertRow(after_key + 1, "", self.client_id_error)
        form.insertRow(after_key + 2, "Client secret:", self.client_secret_edit)
        form.insertRow(after_key + 3, "", self.hint_label)
        form.insertRow(after_key + 4, "", self.sign_in_button)
        form.insertRow(after_key + 5, "", self.sign_in_hint)

        for button in self.kind_buttons.values():
            button.toggled.connect(self._kind_toggled)
        self.client_id_edit.textEdited.connect(self._client_id_edited)
        self.client_secret_edit.textEdited.connect(lambda _text: self.edited.emit())

    # -- SettingsSection ------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        """Show the saved kind and Client ID; the secret field says where the secret is."""
        self.kind_buttons.get(settings.auth, self.kind_buttons["wsse"]).setChecked(True)
        self.client_id_edit.setText(settings.client_id)
        self.client_secret_edit.clear()
        self._flag(None)
        self.suggest(None)
        try:
            stored = self.client.has_client_secret()
        except TrayClientError:
            stored = False
        if os.environ.get(CLIENT_SECRET_VARIABLE):
            placeholder = SECRET_PLACEHOLDER_VARIABLE
        else:
            placeholder = SECRET_PLACEHOLDER_STORED if stored else SECRET_PLACEHOLDER_EMPTY
        self.client_secret_edit.setPlaceholderText(placeholder)
        self._show_rows()

    def apply_to(self, settings: Settings) -> None:
        settings.auth = self.kind()
        settings.client_id = self.client_id_edit.text().strip()

    def validate(self) -> bool:
        problem = None
        if self.kind() != "wsse" and not self.client_id_edit.text().strip():
            problem = "Enter the OAuth application's Client ID."
        self._flag(problem)
        if problem:
            self._reveal(self.client_id_edit)
        return problem is None

    # -- values ---------------------------------------------------------------------------------

    def kind(self) -> str:
        return next((k for k, b in self.kind_buttons.items() if b.isChecked()), "wsse")

    def typed_client_secret(self) -> str | None:
        """The client secret as typed (OAuth chosen), None when empty (the stored one is used)."""
        if self.kind() != "oauth2":
            return None
        return self.client_secret_edit.text() or None

    def secret_stored(self) -> None:
        """Save stored the typed secret: clear the field, say it is stored."""
        self.client_secret_edit.clear()
        self.client_secret_edit.setPlaceholderText(SECRET_PLACEHOLDER_STORED)

    def signing_in(self, running: bool) -> None:
        """The sign-in started (the button now cancels it) or ended."""
        self.sign_in_button.setText(SIGN_IN_CANCEL_LABEL if running else SIGN_IN_LABEL)
        for widget in (*self.kind_buttons.values(), self.client_id_edit):
            widget.setEnabled(not running)

    def suggest(self, wanted: str | None) -> None:
        """Offer to switch to ``wanted`` when the server asked for the other kind."""
        current = "oauth2" if self.kind() == "oauth2_code" else self.kind()
        self._suggested = wanted if wanted in SWITCH_LABELS and wanted != current else None
        if self._suggested:
            self.switch_button.setText(SWITCH_LABELS[self._suggested])
        self.form.setRowVisible(self.switch_button, self._suggested is not None)

    # -- reactions ------------------------------------------------------------------------------

    def _switch(self) -> None:
        if self._suggested:
            self.kind_buttons[self._suggested].setChecked(True)
            (self.client_id_edit if self._suggested == "oauth2" else self.api_key_edit).setFocus()

    def _kind_toggled(self, on: bool) -> None:
        if not on:
            return
        self._flag(None)
        self._show_rows()
        self.suggest(None)
        self.edited.emit()

    def _client_id_edited(self, _text: str) -> None:
        self._flag(None)
        self.edited.emit()

    def _show_rows(self) -> None:
        kind = self.kind()
        self.form.setRowVisible(self.api_key_edit, kind == "wsse")
        self.form.setRowVisible(self.client_id_edit, kind != "wsse")
        for widget in (self.client_secret_edit, self.hint_label):
            self.form.setRowVisible(widget, kind == "oauth2")
        for widget in (self.sign_in_button, self.sign_in_hint):
            self.form.setRowVisible(widget, kind == "oauth2_code")
        self.form.setRowVisible(self.client_id_error,
                                kind != "wsse" and bool(self.client_id_error.text()))

    @staticmethod
    def _reveal(edit: QWidget) -> None:
        """Bring ``edit``'s tab to the front and focus it."""
        widget: QWidget | None = edit
        while widget is not None:
            parent = widget.parentWidget()
            if isinstance(parent, QStackedWidget) and isinstance(parent.parentWidget(), QTabWidget):
                parent.parentWidget().setCurrentWidget(widget)
                break
            widget = parent
        edit.setFocus()

    def _flag(self, problem: str | None) -> None:
        self.client_id_edit.setStyleSheet(_INVALID_STYLE if problem else "")
        self.client_id_error.setText(problem or "")
        self.form.setRowVisible(self.client_id_error, bool(problem))
