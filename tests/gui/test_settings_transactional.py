"""The Settings dialog edits a draft (issue 15, points 1 and 2): Check Connection tests the
typed values without saving them, Save saves, Cancel leaves everything as it was; saving a
changed connection syncs at once."""

from __future__ import annotations

import json

from tray_client.credentials import SERVICE
from tray_client.gui.settings_dialog import SettingsDialog
from tray_client.gui.state import TrayState
from tray_client.settings import Settings

from .conftest import FakeResult, FakeVerdict

# -- on the real facade and the reference server -------------------------------------------


def test_check_tries_a_wrong_user_without_saving_it_and_syncs_keep_working(
        qtbot, real_client, devserver, memory_keyring):
    saved_file = real_client.paths.settings_file.read_text()
    dialog = SettingsDialog(real_client)
    qtbot.addWidget(dialog)
    dialog.user_edit.setText("someone-else")
    dialog.api_key_edit.setText("typed-wrong-key")
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text()[:1] in ("✔", "✘"), timeout=10000)
    assert dialog.verdict_label.text().startswith("✘"), dialog.verdict_label.text()
    # Nothing of what was typed is saved: settings, keyring and the background sync are as
    # they were.
    assert real_client.paths.settings_file.read_text() == saved_file
    assert real_client.settings.user == devserver.user
    assert list(memory_keyring.passwords.values()) == [devserver.api_key]
    dialog.buttons.rejected.emit()
    assert real_client.paths.settings_file.read_text() == saved_file
    assert real_client.sync().outcome == "ok"


def test_check_uses_the_typed_key_and_the_typed_url(qtbot, real_client, devserver,
                                                    memory_keyring):
    memory_keyring.passwords.clear()        # no stored key: only the typed one can work
    real_client.settings.url = "https://nowhere.invalid"   # saved URL is wrong ...
    real_client.save_settings(real_client.settings)
    dialog = SettingsDialog(real_client)
    qtbot.addWidget(dialog)
    dialog.url_edit.setText(devserver.url)                   # ... the typed one is right
    dialog.api_key_edit.setText(devserver.api_key)
    with qtbot.waitSignal(dialog.server_configuration_loaded, timeout=10000):
        dialog.check_connection()
    assert dialog.verdict_label.text().startswith("✔ Connected"), dialog.verdict_label.text()
    assert memory_keyring.passwords == {}
    assert real_client.settings.url == "https://nowhere.invalid"
    assert dialog.apply()
    assert real_client.settings.url == devserver.url
    assert memory_keyring.passwords == {
        (SERVICE, f"{devserver.user}@{devserver.url}"): devserver.api_key}


def test_facade_checks_a_draft_without_saving(real_client, devserver):
    before = real_client.paths.settings_file.read_text()
    draft = Settings(url=devserver.url, user=devserver.user)
    assert real_client.check_connection(draft, api_key=devserver.api_key).ok
    assert not real_client.check_connection(draft, api_key="wrong").ok
    assert real_client.paths.settings_file.read_text() == before


def test_a_corrected_url_keeps_the_stored_key(qtbot, real_client, devserver, memory_keyring):
    # The same server under another name: the key is stored for the old profile only.
    other_name = devserver.url.replace("127.0.0.1", "localhost")
    real_client.settings.url = other_name
    real_client.save_settings(real_client.settings)
    memory_keyring.passwords = {(SERVICE, f"{devserver.user}@{other_name}"): devserver.api_key}
    dialog = SettingsDialog(real_client)
    qtbot.addWidget(dialog)
    dialog.url_edit.setText(devserver.url)
    dialog.check_connection()          # no key typed: the saved profile's key is tried
    qtbot.waitUntil(lambda: dialog.verdict_label.text()[:1] in ("✔", "✘"), timeout=10000)
    assert dialog.verdict_label.text().startswith("✔"), dialog.verdict_label.text()
    assert dialog.apply()              # and the key follows the profile
    assert real_client.has_api_key()
    assert real_client.sync().outcome == "ok"


# -- on the fake facade --------------------------------------------------------------------


def make_dialog(qtbot, client) -> SettingsDialog:
    dialog = SettingsDialog(client)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_cancel_after_check_and_edits_leaves_everything_as_it_was(qtbot, fake_client):
    fake_client.save_settings(fake_client.settings)
    before = fake_client.paths.settings_file.read_text()
    dialog = make_dialog(qtbot, fake_client)
    dialog.url_edit.setText("https://other.example.org")
    dialog.user_edit.setText("bob")
    dialog.api_key_edit.setText("typed")
    dialog.birthdays_check.setChecked(True)
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✔"), timeout=3000)
    (checked, key), = fake_client.checks
    assert (checked.url, checked.user, checked.sync_birthdays, key) == (
        "https://other.example.org", "bob", True, "typed")
    dialog.buttons.rejected.emit()
    assert fake_client.paths.settings_file.read_text() == before
    assert fake_client.settings.user == "ann" and fake_client.api_key == "k"


def test_editing_a_connection_field_clears_the_old_verdict_and_its_error(qtbot, fake_client):
    fake_client.verdict = FakeVerdict(False, "WRONG_URL", "Wrong CRM URL", "Not Oro.")
    dialog = make_dialog(qtbot, fake_client)
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✘"), timeout=3000)
    qtbot.keyClicks(dialog.url_edit, "x")
    assert dialog.verdict_label.text() == "" and dialog.verdict_label.isHidden()
    dialog.url_edit.setText("ftp://x")
    assert not dialog.validate() and dialog.url_error.isVisible()
    qtbot.keyClicks(dialog.url_edit, "y")          # corrected (or not): the old error goes
    assert dialog.url_error.isHidden()


def test_a_check_answer_for_values_since_edited_is_dropped(qtbot, fake_client):
    dialog = make_dialog(qtbot, fake_client)
    worker = dialog.check_connection()
    assert worker is not None
    qtbot.keyClicks(dialog.user_edit, "z")         # edited while the check runs
    qtbot.wait(300)
    assert dialog.verdict_label.text() == ""
    assert dialog.check_button.isEnabled()


# -- saving a changed connection syncs at once (point 2) -----------------------------------


def test_saving_fixed_settings_syncs_at_once(qtbot, make_app, fake_client):
    from tray_client.errors import AuthError

    def failing(**kw):
        raise AuthError("The CRM refused user ann.")

    fake_client.sync_fn = failing
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    assert app.state == TrayState.ERROR
    assert app.scheduler.backoff_until is not None
    fake_client.sync_fn = lambda **kw: FakeResult(trigger=kw["trigger"])
    dialog = app.show_settings()
    dialog.user_edit.setText("ann.lee")
    with qtbot.waitSignal(app.runner.finished, timeout=3000):
        dialog.buttons.accepted.emit()       # no waiting for the next interval / back-off
    assert len(fake_client.calls) == 2
    assert app.state == TrayState.IDLE
    assert app.scheduler.backoff_until is None


def test_saving_unchanged_connection_does_not_sync(qtbot, make_app, fake_client):
    app = make_app()
    app.start()
    dialog = app.show_settings()
    dialog.birthdays_check.setChecked(True)
    dialog.buttons.accepted.emit()
    qtbot.wait(200)
    assert fake_client.calls == []
    assert json.loads(fake_client.paths.settings_file.read_text())["sync_birthdays"] is True


def test_settings_saved_during_a_sync_sync_again_after_it(qtbot, make_app, fake_client):
    import threading

    release = threading.Event()

    def slow(**kw):
        release.wait(5)
        return FakeResult(trigger=kw["trigger"])

    fake_client.sync_fn = slow
    app = make_app()
    app.start()
    app.sync_now()
    dialog = app.show_settings()
    dialog.api_key_edit.setText("new-key")
    dialog.buttons.accepted.emit()
    release.set()
    qtbot.waitUntil(lambda: len(fake_client.calls) == 2, timeout=5000)
    qtbot.waitUntil(lambda: not app.runner.busy, timeout=5000)
