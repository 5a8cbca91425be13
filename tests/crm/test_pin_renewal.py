"""A pinned certificate that no longer matches: the error keeps its short title and tells
the user how to accept a certificate that was renewed on purpose — never showing the key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trustme

from tray_client.crm import CrmClient, VerdictKind
from tray_client.errors import TlsError

from .tlsserver import SwappableTlsServer, fingerprint

API_KEY = "secret-key-never-in-messages"


@pytest.fixture
def renewed() -> Iterator[tuple[SwappableTlsServer, str]]:
    """A server presenting certificate B, and the pin of the certificate A it had before."""
    before, after = (trustme.CA().issue_cert("127.0.0.1", "localhost") for _ in range(2))
    with SwappableTlsServer(after) as server:
        yield server, fingerprint(before)


def pinned_client(url: str, pinned: str) -> CrmClient:
    return CrmClient(url, "admin", API_KEY, ignore_self_signed=True, pinned_sha256=pinned,
                     sleep=lambda s: None)


def test_mismatch_error_says_how_to_accept_a_renewed_certificate(renewed) -> None:
    server, pinned = renewed
    with pinned_client(server.url, pinned) as crm, pytest.raises(TlsError) as info:
        crm.configuration()
    assert info.value.title == "Server certificate changed"
    assert 'open Settings and click "Forget pinned certificate"' in info.value.message
    assert "renewed on purpose" in info.value.message
    assert API_KEY not in str(info.value) and API_KEY not in info.value.message


def test_mismatch_verdict_carries_the_same_advice(renewed) -> None:
    server, pinned = renewed
    with pinned_client(server.url, pinned) as crm:
        verdict = crm.check_connection()
    assert verdict.kind is VerdictKind.TLS and not verdict.ok
    assert verdict.title == "Server certificate changed"
    assert "Forget pinned certificate" in verdict.message
    assert API_KEY not in verdict.message
