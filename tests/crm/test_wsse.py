"""WSSE headers: the digest formula against a vector computed with openssl, and freshness."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from tests.conftest import TEST_API_KEY
from tray_client.crm.wsse import WsseSigner, created_now, password_digest

# printf '%s' 'nonce16bytes!!!!2026-11-23T10:00:00+00:00test-api-key-0123456789abcdef' \
#   | openssl dgst -sha1 -binary | base64
KNOWN_DIGEST = "+FqMdg/yuVyK8WuzPXb9w0KKcko="
KNOWN_NONCE_B64 = "bm9uY2UxNmJ5dGVzISEhIQ=="  # base64 of b"nonce16bytes!!!!"
CREATED = "2026-11-23T10:00:00+00:00"


def test_digest_matches_known_vector() -> None:
    assert password_digest(KNOWN_NONCE_B64, CREATED, TEST_API_KEY) == KNOWN_DIGEST


def test_header_pair_has_oro_syntax() -> None:
    headers = WsseSigner("admin", TEST_API_KEY).headers(nonce=b"nonce16bytes!!!!", created=CREATED)
    assert headers["Authorization"] == 'WSSE profile="UsernameToken"'
    assert headers["X-WSSE"] == (
        f'UsernameToken Username="admin", PasswordDigest="{KNOWN_DIGEST}", '
        f'Nonce="{KNOWN_NONCE_B64}", Created="{CREATED}"')


def test_every_header_has_a_fresh_16_byte_nonce_and_a_current_utc_created() -> None:
    signer = WsseSigner("admin", TEST_API_KEY)
    nonces = set()
    for _ in range(50):
        match = re.search(r'Nonce="([^"]+)", Created="([^"]+)"', signer.headers()["X-WSSE"])
        assert match
        nonces.add(match.group(1))
        assert len(match.group(1)) == 24  # base64 of 16 bytes
        created = datetime.fromisoformat(match.group(2))
        assert match.group(2).endswith("+00:00")
        assert abs(created - datetime.now(UTC)) < timedelta(seconds=5)
    assert len(nonces) == 50


def test_created_is_utc_with_whole_seconds() -> None:
    local = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert created_now(local) == "2026-11-23T10:00:00+00:00"


def test_signer_repr_hides_the_key() -> None:
    assert TEST_API_KEY not in repr(WsseSigner("admin", TEST_API_KEY))
