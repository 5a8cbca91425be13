"""*Sign in with Oro…*: authorization code + PKCE in a browser, over loopback end to end.

The "browser" here is httpx driving the reference server's sign-in page as a user would: open
the address, type user and password, Allow; the server redirects to the client's loopback
listener. Then the facade syncs on the tokens it got, renews with the refresh token (Oro
rotates it; the keyring keeps the latest), and a revoked sign-in says to sign in again.
"""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import TEST_USER
from tests.test_credentials import MemoryKeyring
from tray_client.client import Client
from tray_client.credentials import SERVICE
from tray_client.crm import VerdictKind
from tray_client.crm.auth import SignInNeededError
from tray_client.crm.signin import SignInCancelled
from tray_client.devserver.oauth import s256
from tray_client.errors import AuthError


class Browser:
    """Opens the sign-in page and answers it on a thread, as a person at a browser would."""

    def __init__(self, password: str = "admin", decision: str = "allow") -> None:
        self.password, self.decision = password, decision
        self.urls: list[str] = []
        self.pages: list[str] = []

    def __call__(self, url: str) -> bool:
        self.urls.append(url)
        threading.Thread(target=self._use, args=(url,), daemon=True).start()
        return True

    def _use(self, url: str) -> None:
        with httpx.Client(timeout=10) as http:
            page = http.get(url)
            self.pages.append(page.text)
            answer = http.post(url, data={"_username": TEST_USER, "_password": self.password,
                                          "decision": self.decision})
            if answer.status_code == 302:
                done = http.get(answer.headers["Location"])
                self.pages.append(done.text)
            else:
                self.pages.append(answer.text)


@pytest.fixture
def client(tmp_path, devserver):
    keyring = MemoryKeyring()
    facade = Client(tmp_path / "home", keyring_backend=keyring)
    settings = facade.settings
    settings.url, settings.user = devserver.url, TEST_USER
    settings.auth, settings.client_id = "oauth2_code", devserver.browser_client_id
    facade.save_settings(settings)
    facade.keyring = keyring   # type: ignore[attr-defined]
    yield facade
    facade.close()


def test_sign_in_in_the_browser_then_sync_without_any_secret_typed(client, devserver):
    browser = Browser()
    verdict = client.sign_in_with_browser(open_browser=browser)
    assert verdict.kind is not VerdictKind.AUTH, verdict
    query = parse_qs(urlsplit(browser.urls[0]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert "You are signed in" in browser.pages[-1]
    account = f"oauth2-refresh:{devserver.browser_client_id}@{devserver.url}"
    stored = client.keyring.entries[(SERVICE, account)]
    assert stored and stored not in client.paths.settings_file.read_text()
    assert client.has_secret()
    devserver.admin.create("contacts", {"firstName": "Browser", "lastName": "Signed"})
    result = client.sync(entities=["contacts"])
    assert result.outcome == "ok", result.message
    assert result.counts["contacts"]["local"]["created"] == 1


def test_renewal_uses_the_refresh_token_and_keeps_the_rotated_one(client, devserver):
    client.sign_in_with_browser(open_browser=Browser())
    account = (SERVICE, f"oauth2-refresh:{devserver.browser_client_id}@{devserver.url}")
    first = client.keyring.entries[account]
    devserver.admin.expire_tokens()
    with client.crm() as crm:
        crm.current_user()                  # 401, renewed with the refresh token
    second = client.keyring.entries[account]
    assert second != first
    # A new process has only the keyring: it renews from the stored (latest) refresh token.
    again = Client(client.paths.data_dir.parent, keyring_backend=client.keyring)
    try:
        with again.crm() as crm:
            crm.current_user()
    finally:
        again.close()
    assert client.keyring.entries[account] not in (first, second)


def test_a_revoked_sign_in_says_to_sign_in_again(client, devserver):
    client.sign_in_with_browser(open_browser=Browser())
    devserver.admin.revoke_refresh_tokens()
    devserver.admin.expire_tokens()
    with client.crm() as crm, pytest.raises(SignInNeededError) as caught:
        crm.current_user()
    assert "Sign in again" in caught.value.message
    with client.crm() as crm:
        verdict = crm.check_connection()
    assert verdict.kind is VerdictKind.AUTH and verdict.title == "Sign in with Oro again"


def test_declined_wrong_password_and_cancel(client, devserver):
    with pytest.raises(AuthError, match="declined"):
        client.sign_in_with_browser(open_browser=Browser(decision="deny"))
    cancel = threading.Event()
    wrong = Browser(password="nope")
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    with pytest.raises(SignInCancelled):
        client.sign_in_with_browser(open_browser=wrong, cancel=cancel)
    assert "Invalid user name or password." in wrong.pages[-1]
    assert not client.has_secret()


def test_not_signed_in_yet_is_a_clear_error(client):
    from tray_client.errors import CredentialsError

    with pytest.raises(CredentialsError) as caught:
        client.crm()
    assert "not signed in" in caught.value.message


# -- the reference server's side, as league/oauth2-server answers -----------------------------

def _authorize(server, verifier: str, **extra: str) -> httpx.Response:
    params = {"response_type": "code", "client_id": server.browser_client_id,
              "redirect_uri": "http://127.0.0.1:5555/callback", "state": "xyz",
              "code_challenge": s256(verifier), "code_challenge_method": "S256", **extra}
    url = f"{server.url}/oauth2-token/authorize"
    return httpx.post(url, params=params, data={"_username": TEST_USER, "_password": "admin",
                                                "decision": "allow"})


def _token(server, **form: str) -> httpx.Response:
    return httpx.post(f"{server.url}/oauth2-token",
                      data={"client_id": server.browser_client_id, **form})


def test_server_code_exchange_checks_pkce_redirect_and_reuse(devserver):
    verifier = "v" * 50
    answer = _authorize(devserver, verifier)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert (location.hostname, location.port, location.path) == ("127.0.0.1", 5555, "/callback")
    code = parse_qs(location.query)["code"][0]
    assert parse_qs(location.query)["state"] == ["xyz"]
    base = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://127.0.0.1:5555/callback"}
    wrong = _token(devserver, **base, code_verifier="w" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert wrong.json()["hint"] == "Failed to verify `code_verifier`."
    other_uri = _token(devserver, **{**base, "redirect_uri": "http://127.0.0.1:1/callback"},
                       code_verifier=verifier)
    assert other_uri.json()["hint"] == "Invalid redirect URI"
    good = _token(devserver, **base, code_verifier=verifier)
    assert good.status_code == 200 and {"access_token", "refresh_token"} <= set(good.json())
    reused = _token(devserver, **base, code_verifier=verifier)
    assert reused.json()["hint"] == "Authorization code has been revoked"
    refreshed = _token(devserver, grant_type="refresh_token",
                       refresh_token=good.json()["refresh_token"])
    assert refreshed.status_code == 200
    stale = _token(devserver, grant_type="refresh_token",
                   refresh_token=good.json()["refresh_token"])
    assert stale.status_code == 401 and stale.json()["hint"] == "Token has been revoked"


def test_server_authorize_refuses_what_league_refuses(devserver):
    url = f"{devserver.url}/oauth2-token/authorize"
    base = {"response_type": "code", "client_id": devserver.browser_client_id,
            "redirect_uri": "http://127.0.0.1:9/callback"}
    no_pkce = httpx.get(url, params=base)
    assert no_pkce.status_code == 400
    assert no_pkce.json()["hint"] == "Code challenge must be provided for public clients"
    elsewhere = httpx.get(url, params={**base, "redirect_uri": "https://evil.example/cb",
                                       "code_challenge": s256("v" * 50),
                                       "code_challenge_method": "S256"})
    assert elsewhere.status_code == 401 and elsewhere.json()["error"] == "invalid_client"
    page = httpx.get(url, params={**base, "code_challenge": s256("v" * 50),
                                  "code_challenge_method": "S256"})
    assert page.status_code == 200 and "<form" in page.text
    confidential = httpx.get(url, params={**base, "client_id": devserver.client_id})
    assert confidential.json()["error"] == "invalid_client"   # client credentials only


def test_a_renewal_by_another_process_is_picked_up_from_the_keyring(client, devserver):
    """The tray app and its sync process (or the CLI) each keep the sign-in in memory: when
    one renews (Oro rotates the refresh token, the old one is refused), the other renews with
    the keyring's latest instead of its own, now refused, copy."""
    client.sign_in_with_browser(open_browser=Browser())
    with client.crm() as crm:
        crm.current_user()                  # this process holds a token and a refresh token
    other = Client(client.paths.data_dir.parent, keyring_backend=client.keyring)
    try:
        devserver.admin.expire_tokens()
        with other.crm() as crm:
            crm.current_user()              # the other process renews: rotated
        devserver.admin.expire_tokens()
        with client.crm() as crm:
            assert crm.current_user()       # renewed with the keyring's refresh token
        with other.crm() as crm:
            assert crm.current_user()       # and back again
    finally:
        other.close()
