"""WSSE UsernameToken authentication, as Oro's WSSE bundle checks it.

``PasswordDigest = base64(sha1(base64_decode(Nonce) + Created + apiKey))``; a token is good
for ``LIFETIME`` seconds after Created, Created may be at most ``FUTURE_SKEW`` seconds ahead
of the server clock, and a nonce is accepted once within the lifetime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping

from .jsonapi import ApiError, parse_instant

LIFETIME = 3600
FUTURE_SKEW = 300
_PAIR_RE = re.compile(r'(\w+)="([^"]*)"')


def password_digest(nonce_b64: str, created: str, api_key: str) -> str:
    """The digest a client must send for this nonce, Created and key."""
    raw = base64.b64decode(nonce_b64, validate=True)
    return base64.b64encode(hashlib.sha1(raw + created.encode() + api_key.encode()).digest()).decode()


def _unauthorized(detail: str) -> ApiError:
    # Say what is wrong (clock skew, reused nonce…) so the client can explain it; never echo
    # the digest or anything derived from the key.
    return ApiError(401, "authentication exception", detail, headers={"WWW-Authenticate": 'WSSE realm="Secured API", profile="UsernameToken"'})


class WsseAuthenticator:
    """Checks X-WSSE headers against one user and key; remembers nonces until they expire."""

    def __init__(self, username: Callable[[], str], api_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._username = username
        self._api_key = api_key
        self._clock = clock
        self._nonces: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def authenticate(self, headers: Mapping[str, str]) -> str:
        """Return the username of a valid request; raise ApiError 401 otherwise."""
        header = headers.get("x-wsse")
        if not header:
            raise _unauthorized("The X-WSSE header is missing.")
        authorization = headers.get("authorization")
        if authorization and not authorization.strip().upper().startswith("WSSE"):
            raise _unauthorized("Only WSSE authentication is supported.")
        if not header.strip().startswith("UsernameToken "):
            raise _unauthorized("The X-WSSE header is not a UsernameToken.")
        fields = dict(_PAIR_RE.findall(header))
        missing = [k for k in ("Username", "PasswordDigest", "Nonce", "Created") if not fields.get(k)]
        if missing:
            raise _unauthorized(f"The X-WSSE header lacks {', '.join(missing)}.")
        created_text, nonce = fields["Created"], fields["Nonce"]
        try:
            created = parse_instant(created_text).timestamp()
        except (ValueError, TypeError):
            raise _unauthorized("Created is not an ISO-8601 date-time.") from None
        now = self._clock()
        if created > now + FUTURE_SKEW:
            raise _unauthorized("Created is in the future (check the clock).")
        if now - created > LIFETIME:
            raise _unauthorized("The token has expired (Created is too old; check the clock).")
        try:
            expected = password_digest(nonce, created_text, self._api_key)
        except (binascii.Error, ValueError):
            raise _unauthorized("The nonce is not base64.") from None
        if fields["Username"] != self._username() or not hmac.compare_digest(expected, fields["PasswordDigest"]):
            raise _unauthorized("Wrong username or API key.")
        with self._lock:
            self._purge(now)
            if nonce in self._nonces:
                raise _unauthorized("The nonce has already been used.")
            self._nonces[nonce] = created + LIFETIME
        return fields["Username"]

    def _purge(self, now: float) -> None:
        # Drop nonces whose token could not be valid any more; at most once a minute.
        if now < self._next_purge:
            return
        self._nonces = {n: expiry for n, expiry in self._nonces.items() if expiry >= now}
        self._next_purge = now + 60
