"""Settings dialog: "Forget pinned certificate", the way out of a renewed self-signed
certificate — on a fake facade, then end to end against the reference server over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from PySide6.QtWidgets import QMessageBox

from tray_client.client import Client
from tray_client.devserver.testing import RunningServer
from tray_client.gui.settings_dialog import FORGET_PIN_TITLE, SettingsDialog

from ..conftest import TEST_API_KEY, TEST_USER
from ..crm.tlsserver import fingerprint, write_pair

PIN = "ab" * 32


def make_dialog(qtbot, client: Any) -> SettingsDialog:
    dialog = SettingsDialog(client)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def pin(client: Any, fingerprint: str = PIN, *, ignore: bool = True) -> None:
    settings = client.settings
    settings.ignore_self_signed_cert, settings.pinned_cert_sha256 = ignore, fingerprint
    client.save_settings(settings)


@pytest.fixture
def answers(monkeypatch) -> list[tuple[str, str]]:
    """QMessageBox.question answers Yes; the (title, text) asked are recorded."""
    asked: list[tuple[str, str]] = []

    def question(parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        asked.append((title, text))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def test_forget_button_is_hidden_without_a_pin_or_without_the_option(qtbot, fake_client):
    pin(fake_client, "")
    assert make_dialog(qtbot, fake_client).forget_pin_button.isHidden()
    pin(fake_client, PIN, ignore=False)
    dialog = make_dialog(qtbot, fake_client)
    assert dialog.forget_pin_button.isHidden()
    # A pin belongs to one decision: switching the option on starts without it (as saved).
    dialog.ignore_cert_check.setChecked(True)
    assert dialog.forget_pin_button.isHidden()
    assert dialog.pin_label.text() == "No certificate pinned yet: the first one seen will be."
    assert dialog.edited_settings().pinned_cert_sha256 == ""


def test_forget_button_is_shown_next_to_a_stored_pin(qtbot, fake_client):
    pin(fake_client)
    dialog = make_dialog(qtbot, fake_client)
    assert dialog.forget_pin_button.isVisible() and dialog.forget_pin_button.isEnabled()
    assert PIN in dialog.pin_label.text()
    dialog.ignore_cert_check.setChecked(False)
    assert dialog.forget_pin_button.isHidden()


def test_confirmed_forget_clears_the_pin_when_saved(qtbot, fake_client, answers):
    pin(fake_client)
    dialog = make_dialog(qtbot, fake_client)
    dialog.forget_pin_button.click()
    assert answers and answers[0][0] == FORGET_PIN_TITLE
    assert "next connection will accept" in answers[0][1]
    assert "No certificate pinned" in dialog.pin_label.text()
    assert PIN not in dialog.pin_label.text()
    assert dialog.forget_pin_button.isHidden()
    # An edit like any other: nothing is saved before Save.
    assert fake_client.settings.pinned_cert_sha256 == PIN
    assert dialog.apply()
    assert fake_client.settings.pinned_cert_sha256 == ""
    assert '"pinned_cert_sha256": ""' in fake_client.paths.settings_file.read_text()
    assert dialog.pin_label.text() == "No certificate pinned yet: the first one seen will be."


def test_declined_forget_keeps_the_pin(qtbot, fake_client, monkeypatch):
    pin(fake_client)
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *args: QMessageBox.StandardButton.No)
    dialog = make_dialog(qtbot, fake_client)
    assert dialog.forget_pin() is False
    assert PIN in dialog.pin_label.text()
    assert dialog.forget_pin_button.isVisible()
    assert dialog.apply()
    assert fake_client.settings.pinned_cert_sha256 == PIN


def test_cancel_after_forget_keeps_the_pin(qtbot, fake_client, answers):
    pin(fake_client)
    dialog = make_dialog(qtbot, fake_client)
    assert dialog.forget_pin()
    dialog.buttons.rejected.emit()
    assert fake_client.settings.pinned_cert_sha256 == PIN


def test_check_connection_after_forget_runs_without_the_pin(qtbot, fake_client, answers):
    pin(fake_client)
    dialog = make_dialog(qtbot, fake_client)
    dialog.forget_pin()
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✔"), timeout=3000)
    (checked, _key), = fake_client.checks
    assert checked.pinned_cert_sha256 == ""            # the draft was checked ...
    assert fake_client.settings.pinned_cert_sha256 == PIN   # ... and nothing was saved


# -- end to end: the reference server renews its self-signed certificate -------------------


@pytest.fixture
def renewable_server(tmp_path: Path) -> Iterator[tuple[RunningServer, Any, str, str]]:
    """(server, renew, fingerprint A, fingerprint B): the reference server over HTTPS with
    a self-signed certificate A; ``renew()`` restarts it on the same port and database with
    another self-signed certificate B, as a renewal on the real server would look."""
    folder = tmp_path / "tls"
    folder.mkdir()
    first = trustme.CA().issue_cert("127.0.0.1", "localhost")
    second = trustme.CA().issue_cert("127.0.0.1", "localhost")
    cert, key = write_pair(first, folder, "server")
    server = RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                           tls_cert=cert, tls_key=key)

    def renew() -> None:
        # The certificate files are read at every start: replace them, as an admin would.
        server.stop()
        write_pair(second, folder, "server")
        server.start()

    with server:
        yield server, renew, fingerprint(first), fingerprint(second)


def test_renewed_certificate_is_refused_until_the_pin_is_forgotten(
        qtbot, tmp_path, memory_keyring, renewable_server, answers):
    server, renew, first, second = renewable_server
    with Client(tmp_path / "home", keyring_backend=memory_keyring) as client:
        settings = client.settings
        settings.url, settings.user, settings.ignore_self_signed_cert = (
            server.url, TEST_USER, True)
        client.save_settings(settings)
        client.set_api_key(TEST_API_KEY)
        dialog = make_dialog(qtbot, client)

        def check() -> str:
            dialog.verdict_label.setText("")
            dialog.check_connection()
            qtbot.waitUntil(lambda: dialog.verdict_label.text()[:1] in ("✔", "✘"),
                            timeout=10000)
            return dialog.verdict_label.text()

        assert check().startswith("✔"), dialog.verdict_label.text()
        # The check pinned the certificate in the dialog's draft; Save saves it.
        assert client.settings.pinned_cert_sha256 == ""
        assert first in dialog.pin_label.text()
        assert dialog.apply()
        assert client.settings.pinned_cert_sha256 == first
        assert dialog.forget_pin_button.isVisible()

        url = server.url
        renew()
        assert server.url == url  # same address, only the certificate changed
        refused = check()
        assert refused.startswith("✘ Server certificate changed — ")
        assert 'click "Forget pinned certificate"' in refused
        assert TEST_API_KEY not in refused
        assert client.settings.pinned_cert_sha256 == first

        dialog.forget_pin_button.click()
        assert "No certificate pinned" in dialog.pin_label.text()
        assert check().startswith("✔"), dialog.verdict_label.text()
        assert client.settings.pinned_cert_sha256 == first     # not before Save
        assert dialog.apply()
        assert client.settings.pinned_cert_sha256 == second
        assert second in client.paths.settings_file.read_text()
        assert second in dialog.pin_label.text()
        assert dialog.forget_pin_button.isVisible()
