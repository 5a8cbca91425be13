"""OAuth 2.0 from the command line, end to end against the reference server over loopback:
configure (the secret on standard input, into the keyring), check-connection, sync, a
side-panel create; and each kind of client against the other kind of server."""

from __future__ import annotations

import io
import json

import keyring
import pytest

from tests.conftest import TEST_API_KEY, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_USER
from tests.test_credentials import MemoryKeyring
from tray_client.cli.main import main


@pytest.fixture
def memory_keyring(monkeypatch):
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def home(tmp_path, monkeypatch, memory_keyring):
    monkeypatch.delenv("TRAY_CLIENT_HOME", raising=False)
    monkeypatch.delenv("TRAY_CLIENT_API_KEY", raising=False)
    monkeypatch.delenv("TRAY_CLIENT_CLIENT_SECRET", raising=False)
    return str(tmp_path / "home")


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def configure_oauth(
    capsys, monkeypatch, home: str, url: str, secret: str = TEST_CLIENT_SECRET
) -> None:
    code, _, err = run(capsys, monkeypatch, "--home", home, "configure", "--url", url,
                       "--user", TEST_USER, "--auth", "oauth2", "--client-id", TEST_CLIENT_ID,
                       "--client-secret-stdin", stdin=secret + "\n")
    assert code == 0, err


# Oro 6.1; 6.0 with OAuth
@pytest.mark.parametrize("server_fixture", ["oauth_server", "devserver"])
def test_oauth_end_to_end_check_sync_and_create(home, server_fixture, request, capsys, monkeypatch,
                                                memory_keyring):
    oauth_server = request.getfixturevalue(server_fixture)
    configure_oauth(capsys, monkeypatch, home, oauth_server.url)
    assert TEST_CLIENT_SECRET in memory_keyring.entries.values()     # in the keyring only
    code, out, _ = run(capsys, monkeypatch, "--home", home, "status", "--json")
    status = json.loads(out)
    assert status["auth"] == "oauth2" and status["client_id"] == TEST_CLIENT_ID
    assert status["has_client_secret"] is True
    code, out, _ = run(capsys, monkeypatch, "--home", home, "status")
    assert f"OAuth application {TEST_CLIENT_ID} (client secret stored)" in out

    code, out, _ = run(capsys, monkeypatch, "--home", home, "check-connection", "--json")
    verdict = json.loads(out)
    assert verdict["kind"] != "auth", verdict

    oauth_server.admin.create("contacts", {"firstName": "Via", "lastName": "Token"})
    code, out, err = run(
        capsys, monkeypatch, "--home", home, "sync", "--json", "--entity", "contacts"
    )
    assert json.loads(out)["counts"]["contacts"]["local"]["created"] == 1, out + err

    code, out, err = run(capsys, monkeypatch, "--home", home, "create", "lead",
                         "--set", "name=Side panel lead", "--json")
    assert code == 0, err
    [lead_id] = oauth_server.admin.ids("leads")
    assert oauth_server.admin.get("leads", lead_id)["attributes"]["name"] == "Side panel lead"
    assert oauth_server.admin.tokens_issued() >= 1


def test_wrong_client_secret_exits_1_with_its_own_message(home, oauth_server, capsys, monkeypatch):
    configure_oauth(capsys, monkeypatch, home, oauth_server.url, secret="wrong-secret-123")
    code, out, err = run(capsys, monkeypatch, "--home", home, "check-connection")
    assert code == 1
    assert out.startswith("OAuth application not accepted:")
    assert "wrong-secret-123" not in out + err


def test_the_variable_overrides_the_stored_secret(home, oauth_server, capsys, monkeypatch):
    configure_oauth(capsys, monkeypatch, home, oauth_server.url, secret="wrong-secret-123")
    monkeypatch.setenv("TRAY_CLIENT_CLIENT_SECRET", TEST_CLIENT_SECRET)
    _, out, _ = run(capsys, monkeypatch, "--home", home, "check-connection", "--json")
    assert json.loads(out)["kind"] != "auth", out


def test_api_key_against_an_oauth_only_server_says_to_switch(
    home, oauth_server, capsys, monkeypatch
):
    code, _, err = run(capsys, monkeypatch, "--home", home, "configure", "--url", oauth_server.url,
                       "--user", TEST_USER, "--api-key-stdin", stdin=TEST_API_KEY + "\n")
    assert code == 0, err
    code, out, _ = run(capsys, monkeypatch, "--home", home, "check-connection", "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["kind"] == "auth" and verdict["auth_wanted"] == "oauth2"
    assert "OAuth application" in verdict["message"]
    code, out, err = run(capsys, monkeypatch, "--home", home, "sync")
    assert code == 1 and "OAuth" in out + err


def test_oauth_against_an_api_key_only_server_says_to_switch(home, tmp_path, capsys, monkeypatch):
    from tray_client.devserver.testing import RunningServer

    with RunningServer(db_path=tmp_path / "crm.db", auth="wsse") as server:
        configure_oauth(capsys, monkeypatch, home, server.url)
        code, out, _ = run(capsys, monkeypatch, "--home", home, "check-connection", "--json")
    verdict = json.loads(out)
    assert code == 1 and verdict["auth_wanted"] == "wsse"
    assert "API key" in verdict["message"]


def test_secrets_on_standard_input_are_one_at_a_time(home, oauth_server, capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, "--home", home, "configure", "--url", oauth_server.url,
                       "--user", TEST_USER, "--client-id", TEST_CLIENT_ID, "--api-key-stdin",
                       "--client-secret-stdin", stdin="a\nb\n")
    assert code == 2 and "not both" in err


def test_sign_in_in_the_browser_from_the_command_line(home, devserver, capsys, monkeypatch,
                                                      memory_keyring):
    from tests.crm.test_signin import Browser

    browser = Browser()
    monkeypatch.setattr("webbrowser.open", browser)
    code, _, err = run(capsys, monkeypatch, "--home", home, "configure", "--url", devserver.url,
                       "--user", TEST_USER, "--auth", "oauth2_code",
                       "--client-id", devserver.browser_client_id)
    assert code == 0, err
    code, out, err = run(capsys, monkeypatch, "--home", home, "sign-in", "--json")
    assert code == 0, out + err
    assert browser.urls and browser.urls[0] in err          # the address is printed too
    assert json.loads(out)["kind"] != "auth"
    code, out, _ = run(capsys, monkeypatch, "--home", home, "status")
    assert "Sign in with Oro" in out and "signed in" in out and "NOT" not in out
    code, out, err = run(
        capsys, monkeypatch, "--home", home, "sync", "--json", "--entity", "contacts"
    )
    assert code == 0, out + err
    code, _, err = run(capsys, monkeypatch, "--home", home, "configure", "--auth", "wsse")
    code, _, err = run(capsys, monkeypatch, "--home", home, "sign-in")
    assert code == 2 and "oauth2_code" in err
