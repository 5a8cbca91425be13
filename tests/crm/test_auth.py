"""Sign-in layers against the reference server over loopback: OAuth 2.0 client credentials
(token fetched once, shared, renewed before expiry and once on a 401, refusals explained) and
WSSE stamped on the server's clock (a client clock ahead never ends in a 401)."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import pytest

from tests.conftest import TEST_API_KEY, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_USER
from tray_client.crm import CrmClient, VerdictKind
from tray_client.crm.auth import (
    OAuth2ClientCredentials,
    OAuthRefusedError,
    ServerClock,
    TokenStore,
    WrongAuthKindError,
    WsseAuth,
)
from tray_client.devserver.testing import RunningServer
from tray_client.errors import AuthError


class Counting(httpx.HTTPTransport):
    """A real transport that counts what goes through it, by path and status."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        with self._lock:
            self.seen.append((request.url.path, response.status_code))
        return response

    def count(self, path: str, status: int | None = None) -> int:
        return sum(1 for p, s in self.seen if p == path and (status is None or s == status))


def oauth_crm(server, *, secret: str = TEST_CLIENT_SECRET, store: TokenStore | None = None,
              transport: httpx.BaseTransport | None = None) -> CrmClient:
    auth = OAuth2ClientCredentials(server.url, TEST_CLIENT_ID, secret, store)
    return CrmClient(server.url, TEST_USER, auth=auth, transport=transport,
                     sleep=lambda s: None)


@pytest.fixture
def short_lived(tmp_path):
    """OAuth only, tokens good for two seconds."""
    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       auth="oauth2", client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET,
                       token_lifetime=2) as server:
        yield server


# -- OAuth 2.0 ------------------------------------------------------------------------------

def test_one_token_serves_every_request_of_every_client_sharing_the_store(oauth_server):
    store = TokenStore()
    for _ in range(3):
        with oauth_crm(oauth_server, store=store) as crm:
            assert crm.current_user().attributes["username"] == TEST_USER
            crm.create("leads", {"name": "From OAuth"})
    assert oauth_server.admin.tokens_issued() == 1
    assert oauth_server.admin.count("leads") == 3


def test_a_token_is_renewed_before_it_expires(short_lived):
    transport = Counting()
    with oauth_crm(short_lived, transport=transport) as crm:
        deadline = time.monotonic() + 4.5
        while time.monotonic() < deadline:
            crm.current_user()
            time.sleep(0.05)
    assert short_lived.admin.tokens_issued() >= 2
    assert transport.count("/api/userprofile", 401) == 0   # renewed in time, never refused


def test_a_refused_token_is_renewed_once_and_the_request_goes_through(oauth_server):
    transport = Counting()
    with oauth_crm(oauth_server, transport=transport) as crm:
        crm.current_user()
        oauth_server.admin.expire_tokens()              # revoked or expired early
        crm.create("leads", {"name": "Sent after renewal"})
    assert oauth_server.admin.tokens_issued() == 2
    assert transport.count("/api/leads", 401) == 1 and transport.count("/api/leads", 201) == 1
    assert oauth_server.admin.count("leads") == 1


def test_concurrent_requests_share_one_renewal(oauth_server):
    store = TokenStore()
    clients = [oauth_crm(oauth_server, store=store) for _ in range(8)]
    clients[0].current_user()
    oauth_server.admin.expire_tokens()
    start = threading.Barrier(len(clients))
    failures: list[BaseException] = []

    def work(crm: CrmClient) -> None:
        start.wait()
        try:
            for _ in range(5):
                crm.current_user()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for crm in clients:
        crm.close()
    assert not failures
    assert oauth_server.admin.tokens_issued() == 2      # the first token and one renewal


def test_wrong_secret_says_so_without_showing_it(oauth_server, caplog):
    caplog.set_level(logging.DEBUG)
    with oauth_crm(oauth_server, secret="not-the-secret") as crm:
        with pytest.raises(OAuthRefusedError) as caught:
            crm.current_user()
        verdict = crm.check_connection()
    assert "Client ID or Client Secret is wrong" in caught.value.message
    assert verdict.kind is VerdictKind.AUTH and verdict.title == "OAuth application not accepted"
    for text in (caught.value.message, verdict.message, caplog.text, repr(crm), repr(crm.auth)):
        assert "not-the-secret" not in text and TEST_CLIENT_SECRET not in text


def test_a_deactivated_application_is_told_apart_from_a_wrong_secret(oauth_server):
    with oauth_crm(oauth_server) as crm:
        crm.current_user()
        oauth_server.admin.set_oauth_client_active(False)
        with pytest.raises(OAuthRefusedError) as caught:
            crm.current_user()
    assert "no longer accepts" in caught.value.message
    assert "deactivated" in caught.value.message


def test_an_expired_token_that_cannot_be_renewed_says_so(short_lived):
    with oauth_crm(short_lived) as crm:
        crm.current_user()
        short_lived.admin.set_oauth_client_active(False)
        time.sleep(2.1)
        with pytest.raises(OAuthRefusedError) as caught:
            crm.current_user()
    assert caught.value.message.startswith(
        "The access token expired and the CRM refused a new one."
    )


def test_oauth_check_connection_on_each_kind_of_server(devserver, oauth_server, tmp_path):
    with oauth_crm(oauth_server) as crm:
        verdict = crm.check_connection()
    # No Outlook section on a strict server is a separate verdict; signing in worked.
    assert verdict.kind is not VerdictKind.AUTH, verdict
    with oauth_crm(devserver) as crm:
        assert crm.check_connection().kind is not VerdictKind.AUTH
    with RunningServer(db_path=tmp_path / "wsse.db", auth="wsse") as wsse_only, \
            oauth_crm(wsse_only) as crm:
        verdict = crm.check_connection()
        with pytest.raises(WrongAuthKindError):
            crm.current_user()
    assert verdict.kind is VerdictKind.AUTH and verdict.auth_wanted == "wsse"
    assert "API key" in verdict.message


def test_wsse_against_an_oauth_only_server_is_told_to_switch(oauth_server):
    with CrmClient(oauth_server.url, TEST_USER, TEST_API_KEY) as crm:
        verdict = crm.check_connection()
        with pytest.raises(WrongAuthKindError) as caught:
            crm.current_user()
    assert verdict.kind is VerdictKind.AUTH and verdict.auth_wanted == "oauth2"
    assert "OAuth application" in verdict.message and "Oro 6.1" in verdict.message
    assert caught.value.wanted == "oauth2"


def test_wrong_api_key_keeps_its_own_verdict(devserver):
    with CrmClient(devserver.url, TEST_USER, "wrong-key") as crm:
        verdict = crm.check_connection()
        with pytest.raises(AuthError) as caught:
            crm.current_user()
    assert verdict.title == "Wrong user or API key" and verdict.auth_wanted == "wsse"
    assert not isinstance(caught.value, WrongAuthKindError)


# -- WSSE on the server's clock -------------------------------------------------------------

def _ahead(seconds: float) -> ServerClock:
    return ServerClock(now=lambda: time.time() + seconds)


def test_a_clock_a_few_seconds_ahead_never_meets_a_refusal(devserver):
    transport = Counting()
    auth = WsseAuth(TEST_USER, TEST_API_KEY, _ahead(7))
    with CrmClient(devserver.url, TEST_USER, auth=auth, transport=transport) as crm:
        for _ in range(3):
            crm.current_user()
    assert transport.count("/api/userprofile", 401) == 0
    assert transport.count("/api/userprofile", 200) == 3
    assert -8 < auth.clock.offset < -6


def test_a_clock_far_ahead_is_caught_by_one_retry_then_never_again(devserver):
    transport = Counting()
    auth = WsseAuth(TEST_USER, TEST_API_KEY, _ahead(95))
    with CrmClient(devserver.url, TEST_USER, auth=auth, transport=transport) as crm:
        for _ in range(5):
            crm.current_user()
        crm.create("leads", {"name": "Clock"})
    assert transport.count("/api/userprofile", 401) == 1       # the very first token only
    assert transport.count("/api/userprofile", 200) == 5
    assert transport.count("/api/leads", 401) == 0
    assert -96 < auth.clock.offset < -94


def test_a_clock_learned_from_earlier_answers_never_sends_a_future_token(devserver):
    transport = Counting()
    clock = _ahead(90)
    with CrmClient(devserver.url, TEST_USER, auth=WsseAuth(TEST_USER, TEST_API_KEY, clock),
                   transport=Counting()) as first:
        first.current_user()                            # learns the offset (one retry)
    with CrmClient(devserver.url, TEST_USER, auth=WsseAuth(TEST_USER, TEST_API_KEY, clock),
                   transport=transport) as crm:
        for _ in range(3):
            crm.current_user()
    assert transport.count("/api/userprofile", 401) == 0


def test_a_wrong_key_is_not_retried(devserver):
    transport = Counting()
    with CrmClient(devserver.url, TEST_USER, "wrong-key", transport=transport) as crm, \
            pytest.raises(AuthError):
        crm.current_user()
    assert transport.count("/api/userprofile") == 1


def test_a_web_servers_own_password_prompt_is_not_taken_for_oro_61():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="intranet"'})

    with CrmClient("https://crm.test", TEST_USER, TEST_API_KEY,
                   transport=httpx.MockTransport(handler)) as crm:
        with pytest.raises(AuthError) as caught:
            crm.current_user()
        verdict = crm.check_connection()
    assert not isinstance(caught.value, WrongAuthKindError)
    assert "web server in front of the CRM" in caught.value.message
    assert verdict.kind is VerdictKind.AUTH and verdict.auth_wanted is None
