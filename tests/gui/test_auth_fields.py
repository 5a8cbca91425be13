"""Settings › Connection › Authentication: the rows follow the kind, the client secret goes to
the keyring on Save only, Check Connection tries the typed secret and offers to switch when the
server wants the other kind; on the real facade against an OAuth-only reference server."""

from __future__ import annotations

from tray_client.client import Client
from tray_client.credentials import SERVICE
from tray_client.gui.auth_fields import SECRET_PLACEHOLDER_STORED
from tray_client.gui.settings_dialog import SettingsDialog

from .conftest import FakeVerdict

SECRET = "typed-client-secret-31337"


def visible(dialog: SettingsDialog, widget) -> bool:
    return dialog.connection_form.isRowVisible(widget)


def oauth_rows(dialog: SettingsDialog) -> list[bool]:
    fields = dialog.auth_fields
    return [visible(dialog, w) for w in (fields.client_id_edit, fields.client_secret_edit,
                                         fields.hint_label)]


def test_the_fields_switch_with_the_kind(qtbot, fake_client):
    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    assert dialog.auth_fields.kind_buttons["wsse"].isChecked()
    assert visible(dialog, dialog.api_key_edit) and oauth_rows(dialog) == [False] * 3
    dialog.auth_fields.kind_buttons["oauth2"].click()
    assert not visible(dialog, dialog.api_key_edit) and oauth_rows(dialog) == [True] * 3
    dialog.auth_fields.kind_buttons["wsse"].click()
    assert visible(dialog, dialog.api_key_edit) and oauth_rows(dialog) == [False] * 3


def test_save_keeps_the_kind_and_id_in_settings_and_the_secret_in_the_keyring(qtbot, fake_client):
    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    dialog.auth_fields.kind_buttons["oauth2"].click()
    dialog.auth_fields.client_id_edit.setText("app-42")
    dialog.auth_fields.client_secret_edit.setText(SECRET)
    assert dialog.apply()
    assert (fake_client.settings.auth, fake_client.settings.client_id) == ("oauth2", "app-42")
    assert fake_client.client_secret == SECRET
    assert SECRET not in fake_client.paths.settings_file.read_text()
    assert dialog.auth_fields.client_secret_edit.text() == ""
    assert dialog.auth_fields.client_secret_edit.placeholderText() == SECRET_PLACEHOLDER_STORED
    again = SettingsDialog(fake_client)
    qtbot.addWidget(again)
    assert again.auth_fields.kind_buttons["oauth2"].isChecked()
    assert again.auth_fields.client_id_edit.text() == "app-42"
    assert not visible(again, again.api_key_edit)


def test_oauth_without_a_client_id_is_not_saved(qtbot, fake_client):
    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(1)
    dialog.auth_fields.kind_buttons["oauth2"].click()
    assert not dialog.apply()
    assert dialog.tabs.currentIndex() == 0
    assert "Client ID" in dialog.auth_fields.client_id_error.text()
    assert visible(dialog, dialog.auth_fields.client_id_error)
    assert fake_client.settings.auth == "wsse"
    dialog.auth_fields.client_id_edit.setText("x")
    dialog.auth_fields.client_id_edit.textEdited.emit("x")
    assert not visible(dialog, dialog.auth_fields.client_id_error)


def test_check_tries_the_typed_secret_and_offers_the_kind_the_server_wants(qtbot, fake_client):
    fake_client.verdict = FakeVerdict(False, "auth", "Other sign-in needed",
                                      "This CRM does not accept API keys…", None, "oauth2")
    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    switch = dialog.auth_fields.switch_button
    assert not visible(dialog, switch)
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✘"), timeout=5000)
    assert visible(dialog, switch) and switch.text() == "Use an OAuth application instead"
    switch.click()
    assert dialog.auth_fields.kind_buttons["oauth2"].isChecked()
    assert not visible(dialog, switch) and dialog.verdict_label.text() == ""
    fake_client.verdict = FakeVerdict(True, "ok", "Connected", "Signed in.", "unknown")
    dialog.auth_fields.client_id_edit.setText("app-7")
    dialog.auth_fields.client_secret_edit.setText(SECRET)
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✔"), timeout=5000)
    draft, api_key = fake_client.checks[-1]
    assert (draft.auth, draft.client_id, api_key) == ("oauth2", "app-7", None)
    assert fake_client.secrets_checked[-1] == SECRET
    assert fake_client.client_secret is None and fake_client.settings.auth == "wsse"  # not saved


def test_real_facade_checks_and_saves_an_oauth_application(qtbot, tmp_path, oauth_server,
                                                          memory_keyring):
    client = Client(tmp_path / "home", keyring_backend=memory_keyring)
    settings = client.settings
    settings.url, settings.user = oauth_server.url, oauth_server.user
    client.save_settings(settings)
    client.set_api_key(oauth_server.api_key)        # what a 6.0 user had before upgrading
    try:
        dialog = SettingsDialog(client)
        qtbot.addWidget(dialog)
        dialog.check_connection()
        qtbot.waitUntil(lambda: dialog.verdict_label.text()[:1] in ("✔", "✘"), timeout=10000)
        assert "does not accept API keys" in dialog.verdict_label.text()
        dialog.auth_fields.switch_button.click()
        dialog.auth_fields.client_id_edit.setText(oauth_server.client_id)
        dialog.auth_fields.client_secret_edit.setText(oauth_server.client_secret)
        dialog.check_connection()
        qtbot.waitUntil(lambda: dialog.verdict_label.text()[:1] in ("✔", "✘"), timeout=10000)
        assert "Sign-in" not in dialog.verdict_label.text()
        assert "OAuth application not accepted" not in dialog.verdict_label.text()
        assert dialog.apply()
        assert client.settings.auth == "oauth2"
        account = f"oauth2:{oauth_server.client_id}@{oauth_server.url}"
        assert memory_keyring.passwords[(SERVICE, account)] == oauth_server.client_secret
        assert oauth_server.client_secret not in client.paths.settings_file.read_text()
        result = client.sync(entities=["contacts"])
        assert result.outcome == "ok", result.message
    finally:
        client.close()


def test_a_long_verdict_is_never_cut_off(qtbot, fake_client):
    fake_client.verdict = FakeVerdict(False, "auth", "Other sign-in needed", "word " * 120,
                                      None, "oauth2")
    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✘"), timeout=5000)
    label = dialog.verdict_label
    qtbot.waitUntil(lambda: label.height() >= label.heightForWidth(label.width()), timeout=5000)


def test_sign_in_with_oro_runs_for_the_typed_values_and_can_be_cancelled(qtbot, fake_client):
    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    fields = dialog.auth_fields
    fields.kind_buttons["oauth2_code"].click()
    assert visible(dialog, fields.sign_in_button) and visible(dialog, fields.sign_in_hint)
    assert visible(dialog, fields.client_id_edit)
    assert not visible(dialog, fields.client_secret_edit) and not visible(
        dialog, dialog.api_key_edit
    )
    fields.sign_in_button.click()                        # no Client ID yet: refused in place
    assert not fake_client.sign_ins and "Client ID" in fields.client_id_error.text()
    fields.client_id_edit.setText("desktop-app")
    fields.sign_in_button.click()
    qtbot.waitUntil(lambda: bool(fake_client.sign_ins), timeout=5000)
    assert fake_client.sign_ins[-1].client_id == "desktop-app"
    assert fields.sign_in_button.text() == "Cancel sign-in"
    assert "Waiting for the browser" in dialog.verdict_label.text()
    fields.sign_in_button.click()                        # cancels the running sign-in
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✘"), timeout=5000)
    assert "cancelled" in dialog.verdict_label.text()
    assert fields.sign_in_button.text() == "Sign in with Oro…"
    fake_client.sign_in_gate.set()
    fields.sign_in_button.click()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✔"), timeout=5000)
    assert fake_client.settings.auth == "wsse"           # nothing saved before Save
    assert dialog.apply() and fake_client.settings.auth == "oauth2_code"


def test_the_tray_app_starts_syncing_with_an_oauth_application(qtbot, make_app, tmp_path):
    from .conftest import FakeClient

    client = FakeClient(tmp_path / "oauth", api_key=None)
    client.settings.auth, client.settings.client_id = "oauth2", "app-1"
    client.client_secret = "stored-secret"
    app = make_app(client, startup_sync=True)
    with qtbot.waitSignal(app.runner.finished, timeout=5000):
        app.start()
    assert client.calls[0]["trigger"] == "startup"
    assert app.settings_dialog is None or not app.settings_dialog.isVisible()
