"""check_connection verdicts against the real reference server (HTTP and HTTPS), a name that
cannot resolve and a port where nothing listens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.crm import CrmClient, VerdictKind
from tray_client.crm.pinning import display_fingerprint
from tray_client.devserver.testing import RunningServer
from tray_client.errors import TlsError

from .tlsserver import fingerprint, write_pair


def verdict(url: str, key: str = TEST_API_KEY, **kwargs: object):  # type: ignore[no-untyped-def]
    with CrmClient(url, TEST_USER, key, **kwargs) as crm:  # type: ignore[arg-type]
        return crm.check_connection()


def test_ok_with_the_server_version(devserver) -> None:
    result = verdict(devserver.url + "/")
    assert result.ok and result.kind is VerdictKind.OK
    assert result.server_version and result.server_version != "unknown"


def test_bad_key(devserver) -> None:
    result = verdict(devserver.url, "not-the-key")
    assert result.kind is VerdictKind.AUTH and not result.ok
    assert "API key" in result.message


def test_wrong_path_suggests_removing_admin(devserver) -> None:
    result = verdict(devserver.url + "/admin")
    assert result.kind is VerdictKind.WRONG_URL
    assert "remove /admin" in result.message


def test_wrong_path_suggests_adding_admin(devserver) -> None:
    result = verdict(devserver.url + "/shop")
    assert result.kind is VerdictKind.WRONG_URL
    assert "add /admin" in result.message


def test_too_old_when_the_client_is_below_the_minimum(devserver) -> None:
    devserver.admin.set_setting("addin_min_supported_version", "999.0")
    result = verdict(devserver.url)
    assert result.kind is VerdictKind.TOO_OLD
    assert "999.0" in result.message


def test_timeout_and_server_error(devserver) -> None:
    devserver.admin.inject_fault("/api/configuration", kind="delay", delay=1.0, times=1)
    assert verdict(devserver.url, timeout=0.3).kind is VerdictKind.TIMEOUT
    devserver.admin.inject_fault("/api/configuration", status=500, times=1)
    failed = verdict(devserver.url)
    assert failed.kind is VerdictKind.SERVER_ERROR and "500" in failed.message
    devserver.admin.clear_faults()


def test_an_html_page_is_a_wrong_url() -> None:
    import httpx

    page = httpx.MockTransport(lambda request: httpx.Response(
        200, content=b"<html>Welcome</html>", headers={"Content-Type": "text/html"}))
    result = verdict("https://www.example.com", transport=page)
    assert result.kind is VerdictKind.WRONG_URL and "add /admin" in result.message


def test_name_that_cannot_resolve() -> None:
    result = verdict("http://no-such-host.invalid")
    assert result.kind is VerdictKind.DNS
    assert "no-such-host.invalid" in result.message
    assert result.server_version is None


def test_refused_port() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = verdict(f"http://127.0.0.1:{port}")
    assert result.kind is VerdictKind.REFUSED
    assert "refused" in result.message


@pytest.fixture(scope="module")
def tls_pairs(tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[tuple[Path, Path, str], tuple[Path, Path, str]]:
    folder = tmp_path_factory.mktemp("tls")
    first = trustme.CA().issue_cert("127.0.0.1", "localhost")
    second = trustme.CA().issue_cert("127.0.0.1", "localhost")
    return ((*write_pair(first, folder, "first"), fingerprint(first)),
            (*write_pair(second, folder, "second"), fingerprint(second)))


@pytest.fixture
def https_server(tmp_path: Path, tls_pairs) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    cert, key, _ = tls_pairs[0]
    with RunningServer(db_path=tmp_path / "tls.db", user=TEST_USER, api_key=TEST_API_KEY,
                       tls_cert=cert, tls_key=key) as server:
        yield server


def test_https_self_signed_refused_by_default_then_pinned_with_the_option(
        https_server: RunningServer, tls_pairs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert https_server.url.startswith("https://")
    refused = verdict(https_server.url)
    assert refused.kind is VerdictKind.TLS
    assert "Ignore self-signed certificate" in refused.message

    pins: list[str] = []
    accepted = verdict(https_server.url, ignore_self_signed=True, on_pin=pins.append)
    assert accepted.ok, accepted.message
    assert pins == [tls_pairs[0][2]]
    with CrmClient(https_server.url, TEST_USER, TEST_API_KEY, ignore_self_signed=True,
                   pinned_sha256=pins[0]) as crm:
        assert crm.current_user().attributes["username"] == TEST_USER

    # The same CRM address now presents another certificate: refused, both fingerprints shown.
    cert, key, other_fp = tls_pairs[1]
    with RunningServer(db_path=tmp_path / "other.db", user=TEST_USER, api_key=TEST_API_KEY,
                       tls_cert=cert, tls_key=key) as impostor:
        with CrmClient(impostor.url, TEST_USER, TEST_API_KEY, ignore_self_signed=True,
                       pinned_sha256=pins[0]) as crm, pytest.raises(TlsError) as info:
            crm.current_user()
        swapped = verdict(impostor.url, ignore_self_signed=True, pinned_sha256=pins[0])
    assert display_fingerprint(pins[0]) in info.value.message
    assert display_fingerprint(other_fp) in info.value.message
    assert swapped.kind is VerdictKind.TLS and display_fingerprint(other_fp) in swapped.message


def test_ok_without_an_outlook_section_rules_come_from_this_computer(devserver) -> None:
    result = verdict(devserver.url)
    assert result.ok and result.kind is VerdictKind.OK
    assert result.message.startswith("OK — Oro, no Outlook section: sync rules from this computer")


def test_ok_with_the_old_bundles_section(devserver) -> None:
    devserver.admin.set_setting("contacts_sync_direction", "OroCRMToOutlook")
    result = verdict(devserver.url)
    assert result.ok and "Outlook section sets the sync rules" in result.message


def test_api_switched_off_in_oro_says_where_to_enable_it(devserver) -> None:
    devserver.set_web_api(False)
    result = verdict(devserver.url)
    assert result.kind is VerdictKind.API_DISABLED and not result.ok
    assert result.title == "The API is disabled in Oro"
    assert "System › Configuration › General Setup › Application Settings" in result.message


@pytest.mark.parametrize("fault", ["admin_url", "api_off", "bad_key"])
def test_background_sync_and_check_connection_give_the_same_verdict(
        devserver, tmp_path: Path, fault: str) -> None:
    from tray_client.settings import Settings
    from tray_client.store import LocalStore
    from tray_client.sync import SyncEngine

    url, key = devserver.url, TEST_API_KEY
    if fault == "admin_url":
        url += "/admin"
    elif fault == "api_off":
        devserver.set_web_api(False)
    else:
        key = "not-the-key"
    checked = verdict(url, key)
    store = LocalStore(tmp_path / "store.db")
    try:
        with CrmClient(url, TEST_USER, key, sleep=lambda s: None) as crm:
            result = SyncEngine(store, crm, Settings()).run(trigger="interval")
    finally:
        store.close()
    assert not checked.ok and result.outcome == "failed"
    assert result.message == f"{checked.title}: {checked.message}"
    assert "too old" not in result.message.lower()


def test_a_storefront_api_is_a_wrong_url_not_a_missing_section() -> None:
    import httpx

    def storefront(request: httpx.Request) -> httpx.Response:
        # An OroCommerce storefront API (URL without /admin) knows neither resource.
        kind = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(404, headers={"Content-Type": "application/vnd.api+json"}, json={
            "errors": [{"status": "404", "title": "entity type constraint",
                        "detail": f"Unknown entity type: {kind}."}]})

    result = verdict("https://shop.example.com", transport=httpx.MockTransport(storefront))
    assert result.kind is VerdictKind.WRONG_URL and "add /admin" in result.message
