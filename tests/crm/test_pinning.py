"""TLS: verified by default, self-signed accepted and pinned with the option, a swapped
certificate refused with both fingerprints. Against a small local HTTPS server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trustme

from tray_client.crm import CrmClient, VerdictKind
from tray_client.crm.pinning import display_fingerprint, normalise_fingerprint
from tray_client.errors import TlsError

from .tlsserver import SwappableTlsServer, fingerprint


@pytest.fixture(scope="module")
def certs() -> tuple[trustme.LeafCert, trustme.LeafCert]:
    # Two unrelated CAs the system does not trust: like two different self-signed servers.
    return (trustme.CA().issue_cert("127.0.0.1", "localhost"),
            trustme.CA().issue_cert("127.0.0.1", "localhost"))


@pytest.fixture
def server(certs: tuple[trustme.LeafCert, trustme.LeafCert]) -> Iterator[SwappableTlsServer]:
    with SwappableTlsServer(certs[0]) as srv:
        yield srv


def client(url: str, **kwargs: object) -> CrmClient:
    return CrmClient(url, "admin", "secret-key", sleep=lambda s: None, **kwargs)  # type: ignore[arg-type]


def test_untrusted_certificate_is_refused_by_default(server: SwappableTlsServer) -> None:
    with client(server.url) as crm, pytest.raises(TlsError) as info:
        crm.configuration()
    assert "Ignore self-signed certificate" in info.value.message
    assert "secret-key" not in str(info.value)


def test_first_certificate_is_pinned_and_reported(server: SwappableTlsServer,
                                                  certs: tuple[trustme.LeafCert, ...]) -> None:
    pins: list[str] = []
    with client(server.url, ignore_self_signed=True, on_pin=pins.append) as crm:
        assert crm.configuration()["addin_min_supported_version"] == "0.0.1"
        crm.configuration()  # a second handshake: same certificate, no second pin
    assert pins == [fingerprint(certs[0])]


def test_known_pin_is_accepted_without_reporting(server: SwappableTlsServer,
                                                 certs: tuple[trustme.LeafCert, ...]) -> None:
    pins: list[str] = []
    pinned = display_fingerprint(fingerprint(certs[0]))  # colon form is accepted too
    with client(server.url, ignore_self_signed=True, pinned_sha256=pinned,
                on_pin=pins.append) as crm:
        crm.configuration()
    assert pins == []


def test_swapped_certificate_is_refused_showing_both_fingerprints(
        server: SwappableTlsServer, certs: tuple[trustme.LeafCert, ...]) -> None:
    pins: list[str] = []
    with client(server.url, ignore_self_signed=True, on_pin=pins.append) as crm:
        crm.configuration()
        server.swap(certs[1])  # every answer closes its connection: the next one re-handshakes
        with pytest.raises(TlsError) as info:
            crm.configuration()
    message = info.value.message
    assert "changed" in message
    assert display_fingerprint(fingerprint(certs[0])) in message
    assert display_fingerprint(fingerprint(certs[1])) in message
    assert pins == [fingerprint(certs[0])]


def test_wrong_pin_from_settings_is_refused(server: SwappableTlsServer,
                                            certs: tuple[trustme.LeafCert, ...]) -> None:
    with client(server.url, ignore_self_signed=True,
                pinned_sha256=fingerprint(certs[1])) as crm:
        verdict = crm.check_connection()
    assert verdict.kind is VerdictKind.TLS and not verdict.ok
    assert display_fingerprint(fingerprint(certs[0])) in verdict.message


def test_check_connection_suggests_the_option_for_an_untrusted_certificate(
        server: SwappableTlsServer) -> None:
    verdict = client(server.url).check_connection()
    assert verdict.kind is VerdictKind.TLS
    assert "Ignore self-signed certificate" in verdict.message


def test_fingerprint_forms() -> None:
    fp = "ab" * 32
    assert normalise_fingerprint(display_fingerprint(fp)) == fp
    with pytest.raises(ValueError):
        normalise_fingerprint("abc")
