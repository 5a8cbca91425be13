"""Settings dialog: fields, validation at the field, saving, API key in the keyring only."""

from __future__ import annotations

import json

import keyring.errors
import pytest
from PySide6.QtWidgets import QLabel, QLineEdit, QTabWidget

from tray_client import autostart
from tray_client.client import Client
from tray_client.credentials import SERVICE
from tray_client.errors import OfflineError
from tray_client.gui import settings_dialog
from tray_client.gui.settings_dialog import (
    KEY_PLACEHOLDER_EMPTY,
    KEY_PLACEHOLDER_STORED,
    SettingsDialog,
    describe_server_configuration,
)

from .conftest import FakeVerdict, MemoryKeyring

SECRET = "s3cret-key-never-shown"


@pytest.fixture
def client(tmp_path, memory_keyring):
    with Client(tmp_path / "home", keyring_backend=memory_keyring) as c:
        yield c


def make_dialog(qtbot, client) -> SettingsDialog:
    dialog = SettingsDialog(client)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def fill(dialog: SettingsDialog, url: str = "https://crm.example.org", user: str = "ann",
         key: str = "") -> None:
    dialog.url_edit.setText(url)
    dialog.user_edit.setText(user)
    dialog.api_key_edit.setText(key)


def test_dialog_has_tabs_and_room_for_field_mapping(qtbot, client):
    dialog = make_dialog(qtbot, client)
    tabs = dialog.findChild(QTabWidget)
    assert [tabs.tabText(i) for i in range(tabs.count())] == [
        "Connection", "Sync", "Server settings"]
    index = dialog.add_tab(QLabel("rows"), "Field mapping")
    assert tabs.tabText(index) == "Field mapping"


def test_fields_show_the_settings(qtbot, client):
    s = client.settings
    s.url, s.user, s.sync_type, s.show_alerts, s.sync_birthdays = (
        "https://crm.example.org", "ann", "selected", False, True)
    s.ignore_self_signed_cert, s.pinned_cert_sha256 = True, "AB:CD:EF"
    client.save_settings(s)
    dialog = make_dialog(qtbot, client)
    assert dialog.url_edit.text() == "https://crm.example.org"
    assert dialog.user_edit.text() == "ann"
    assert dialog.sync_type_buttons["selected"].isChecked()
    assert not dialog.show_alerts_check.isChecked()
    assert dialog.birthdays_check.isChecked()
    assert dialog.ignore_cert_check.isChecked()
    assert "AB:CD:EF" in dialog.pin_label.text()
    assert dialog.api_key_edit.echoMode() == QLineEdit.EchoMode.Password
    assert dialog.api_key_edit.placeholderText() == KEY_PLACEHOLDER_EMPTY


def test_url_without_scheme_is_flagged_at_the_field_and_nothing_is_saved(qtbot, client):
    dialog = make_dialog(qtbot, client)
    fill(dialog, url="crm.example.org")
    assert dialog.apply() is False
    assert dialog.url_error.isVisible()
    assert "https://crm.example.org" in dialog.url_error.text()
    assert dialog.invalid_fields == {dialog.url_edit}
    assert not client.paths.settings_file.exists()
    # Fixing it clears the flag.
    fill(dialog)
    assert dialog.apply() is True
    assert not dialog.url_error.isVisible()
    assert dialog.invalid_fields == set()


def test_empty_user_is_flagged(qtbot, client):
    dialog = make_dialog(qtbot, client)
    fill(dialog, user="   ")
    assert dialog.apply() is False
    assert dialog.user_error.isVisible() and "user name" in dialog.user_error.text()
    assert not dialog.url_error.isVisible()
    assert not client.paths.settings_file.exists()


def test_save_writes_settings_and_puts_the_key_only_in_the_keyring(qtbot, client,
                                                                  memory_keyring):
    dialog = make_dialog(qtbot, client)
    fill(dialog, key=SECRET)
    dialog.sync_type_buttons["selected"].setChecked(True)
    dialog.disable_sync_check.setChecked(True)
    dialog.birthdays_check.setChecked(True)
    dialog.show_alerts_check.setChecked(False)
    with qtbot.waitSignal(dialog.saved, timeout=1000) as saved:
        dialog.buttons.accepted.emit()
    assert saved.args[0].url == "https://crm.example.org"
    text = client.paths.settings_file.read_text()
    data = json.loads(text)
    assert (data["url"], data["user"], data["sync_type"], data["disable_sync"],
            data["sync_birthdays"], data["show_alerts"]) == (
        "https://crm.example.org", "ann", "selected", True, True, False)
    assert SECRET not in text
    assert memory_keyring.passwords == {(SERVICE, "ann@https://crm.example.org"): SECRET}
    assert client.has_api_key()
    # The key is never shown back.
    again = make_dialog(qtbot, client)
    assert again.api_key_edit.text() == ""
    assert again.api_key_edit.placeholderText() == KEY_PLACEHOLDER_STORED


class RefusingKeyring(MemoryKeyring):
    """A keyring whose store is locked: reading works, writing is refused."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("the collection is locked")


def test_a_key_the_keyring_refuses_is_said_and_kept_in_the_dialog(qtbot, tmp_path,
                                                                   monkeypatch):
    shown: list[tuple[str, str]] = []

    class Box:
        def exec(self) -> int:
            return 0

    def record(icon, title, text, parent=None):
        shown.append((title, text))
        return Box()

    monkeypatch.setattr(settings_dialog, "message_box", record)
    with Client(tmp_path / "home", keyring_backend=RefusingKeyring()) as client:
        dialog = make_dialog(qtbot, client)
        fill(dialog, key=SECRET)
        assert dialog.apply() is False
        assert [title for title, _ in shown] == ["Keyring unavailable"]
        assert SECRET not in shown[0][1]
        assert not client.has_api_key()
        # The typed key stays in the field, so Save can be tried again.
        assert dialog.api_key_edit.text() == SECRET


def test_key_is_only_written_when_a_new_one_is_typed(qtbot, client, memory_keyring):
    dialog = make_dialog(qtbot, client)
    fill(dialog, key=SECRET)
    assert dialog.apply()
    writes = []
    original = memory_keyring.set_password
    memory_keyring.set_password = lambda *a: (writes.append(a), original(*a))  # type: ignore
    dialog2 = make_dialog(qtbot, client)
    dialog2.birthdays_check.setChecked(True)
    assert dialog2.apply()
    assert writes == []
    assert memory_keyring.passwords[(SERVICE, "ann@https://crm.example.org")] == SECRET
    dialog2.api_key_edit.setText("new-key")
    assert dialog2.apply()
    assert len(writes) == 1
    assert memory_keyring.passwords[(SERVICE, "ann@https://crm.example.org")] == "new-key"


def test_start_at_login_writes_and_removes_the_xdg_entry(qtbot, client, tmp_path):
    dialog = make_dialog(qtbot, client)
    fill(dialog)
    dialog.start_at_login_check.setChecked(True)
    assert dialog.apply()
    entry = tmp_path / "xdg-config" / "autostart" / "tray-client.desktop"
    assert entry == autostart.user_entry_path()
    assert entry.is_file() and "Exec=" in entry.read_text()
    dialog.start_at_login_check.setChecked(False)
    assert dialog.apply()
    assert not autostart.is_enabled()


def test_changing_the_url_drops_the_pinned_certificate(qtbot, client):
    s = client.settings
    s.url, s.user, s.ignore_self_signed_cert, s.pinned_cert_sha256 = (
        "https://old.example.org", "ann", True, "AA:BB")
    client.save_settings(s)
    dialog = make_dialog(qtbot, client)
    dialog.url_edit.setText("https://new.example.org")
    assert dialog.apply()
    assert client.settings.pinned_cert_sha256 == ""


def test_check_connection_shows_the_verdict_in_words(qtbot, fake_client):
    fake_client.verdict = FakeVerdict(False, "WRONG_URL", "Not an Oro API",
                                      "No Oro API answered at this URL; for OroCommerce add "
                                      "/admin.")
    dialog = make_dialog(qtbot, fake_client)
    worker = dialog.check_connection()
    assert worker is not None
    assert dialog.verdict_label.text() == "Checking…"
    qtbot.waitUntil(lambda: dialog.verdict_label.text() != "Checking…", timeout=3000)
    assert dialog.verdict_label.text().startswith("✘ Not an Oro API — ")
    assert "/admin" in dialog.verdict_label.text()
    assert dialog.check_button.isEnabled()

    fake_client.verdict = FakeVerdict(True, "OK", "Connected", "Signed in as ann.", "5.1.0")
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✔"), timeout=3000)
    assert "server version 5.1.0" in dialog.verdict_label.text()


def test_the_verdict_says_whether_events_can_sync_on_a_line_of_its_own():
    from tray_client.crm.verdict import ConnectionVerdict, VerdictKind
    from tray_client.gui.settings_dialog import describe_verdict

    verdict = ConnectionVerdict(True, VerdictKind.OK, "Connected", "Signed in as ann.", "6.0",
                                events="events: the REST API is not reachable: no route")
    assert describe_verdict(verdict) == (
        "✔ Connected — Signed in as ann. (server version 6.0)\n"
        "events: the REST API is not reachable: no route")


def test_check_connection_error_reaches_the_user(qtbot, fake_client):
    fake_client.verdict = OfflineError("crm.example.org did not answer.")
    dialog = make_dialog(qtbot, fake_client)
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✘"), timeout=3000)
    assert dialog.verdict_label.text() == "✘ CRM unreachable — crm.example.org did not answer."


def test_check_connection_refuses_invalid_fields(qtbot, fake_client):
    dialog = make_dialog(qtbot, fake_client)
    dialog.url_edit.setText("ftp://x")
    assert dialog.check_connection() is None
    assert dialog.url_error.isVisible()


def test_server_settings_are_shown_read_only(qtbot, fake_client):
    dialog = make_dialog(qtbot, fake_client)
    with qtbot.waitSignal(dialog.server_configuration_loaded, timeout=3000):
        dialog.load_server_configuration()
    labels = {dialog.server_form.itemAt(i, dialog.server_form.ItemRole.LabelRole).widget().text():
              dialog.server_form.itemAt(i, dialog.server_form.ItemRole.FieldRole).widget().text()
              for i in range(dialog.server_form.rowCount())}
    assert labels["Contacts:"] == "enabled, both ways; on conflict the CRM wins"
    assert labels["Tasks:"].startswith("enabled, CRM → this computer")
    assert labels["Calendar events:"] == "disabled"
    assert labels["Pull from the CRM every:"] == "120 s"
    assert labels["Send local changes every:"] == "30 s"


def test_server_settings_error_is_shown(qtbot, fake_client):
    fake_client.config = OfflineError("no route")
    dialog = make_dialog(qtbot, fake_client)
    dialog.load_server_configuration()
    qtbot.waitUntil(lambda: "Could not read" in dialog.server_status.text(), timeout=3000)
    assert "CRM unreachable — no route" in dialog.server_status.text()


def test_describe_server_configuration_handles_unknown_values():
    rows = dict(describe_server_configuration({"contacts_sync_direction": "Sideways"}))
    assert rows["Contacts"] == "Sideways"
    assert list(rows) == ["Contacts"], "only what the section sets is listed"


def test_describe_server_configuration_without_a_section():
    # Real Oro 5/6: no Outlook section; the rules are this computer's.
    assert describe_server_configuration({}) == [
        ("Sync rules", ("none: the CRM has no Outlook settings, so the rules of this "
                        "computer apply (Sync rules tab)"))]
    rows = dict(describe_server_configuration(
        {"contacts_keys": [{"OroCRM": "lastName", "Outlook": "LastName"},
                           {"OroCRM": "firstName", "Outlook": "FirstName"}]}))
    assert rows == {"Contacts": "keys lastName, firstName"}


def test_key_from_the_variable_is_named_as_such(qtbot, client, monkeypatch):
    monkeypatch.setenv("TRAY_CLIENT_API_KEY", SECRET)
    dialog = make_dialog(qtbot, client)
    assert dialog.api_key_edit.placeholderText() == "taken from the TRAY_CLIENT_API_KEY variable"
    assert dialog.api_key_edit.text() == ""
    # A clear path instead of a "no keyring" box on Save: the field takes no key then.
    assert dialog.api_key_edit.isReadOnly()
    assert "Start the app without it" in dialog.api_key_edit.toolTip()


def test_no_gap_opens_between_the_connection_fields_in_a_tall_dialog(qtbot, client):
    from PySide6.QtCore import QPoint

    dialog = make_dialog(qtbot, client)
    dialog.resize(1000, 700)
    qtbot.waitExposed(dialog)
    radios = list(dialog.auth_fields.kind_buttons.values())
    last = radios[-1]
    bottom = last.mapTo(dialog, QPoint(0, last.height())).y()
    key_top = dialog.api_key_edit.mapTo(dialog, QPoint(0, 0)).y()
    assert 0 <= key_top - bottom < 40, (bottom, key_top)
