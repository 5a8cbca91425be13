"""Authentication as Oro checks it: WSSE UsernameToken (Oro ≤ 6.0) and OAuth 2.0 bearer tokens.

WSSE, as ``WsseAuthenticationBundle`` (platform 6.0): ``PasswordDigest =
base64(sha1(base64_decode(Nonce) + Created + apiKey))``; a token is good for ``LIFETIME``
seconds after Created, a Created in the future is refused with **no** tolerance (whole seconds,
as PHP's ``strtotime`` compares them), a nonce is accepted once within the lifetime.

Every refusal is ``Unauthorized``: the app answers it as Oro's entry points do, a 401 with an
**empty body** and a ``WWW-Authenticate`` header that names the scheme the API wants (the
reason goes to the server log only, as in Oro).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping

from .jsonapi import ApiError, parse_instant

log = logging.getLogger(__name__)

LIFETIME = 3600
WSSE_CHALLENGE = 'WSSE realm="Secured API", profile="UsernameToken"'
_PAIR_RE = re.compile(r'(\w+)="([^"]*)"')


class Unauthorized(ApiError):
    """A refused request: 401, empty body, ``challenge`` as ``WWW-Authenticate`` (if any).

    ``reason`` is what Oro writes to its log; it is never sent to the client (the app answers
    every Unauthorized with an empty body).
    """

    def __init__(self, reason: str, challenge: str | None = WSSE_CHALLENGE) -> None:
        super().__init__(401, "authentication exception", reason,
                         headers={"WWW-Authenticate": challenge} if challenge else {})
        self.reason = reason
        self.challenge = challenge


def password_digest(nonce_b64: str, created: str, api_key: str) -> str:
    """The digest a client must send for this nonce, Created and key."""
    raw = base64.b64decode(nonce_b64, validate=True)
    return base64.b64encode(
        hashlib.sha1(raw + created.encode() + api_key.encode()).digest()
    ).decode()


class WsseAuthenticator:
    """Checks X-WSSE headers against one user and key; remembers nonces until they expire."""

    def __init__(
        self,
        username: Callable[[], str],
        api_key: str,
        *,
        clock: Callable[[], float] = time.time,
        frozen_clock: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._username = username
        self._api_key = api_key
        self._clock = clock
        # Tests freeze the server's time for its stamps and Date headers; a client that takes
        # Created from Date then stamps that time: accepted too while the time is frozen.
        self._frozen_clock = frozen_clock
        self._nonces: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def authenticate(self, headers: Mapping[str, str]) -> str:
        """Return the username of a valid request; raise Unauthorized otherwise."""
        header = headers.get("x-wsse")
        if not header:
            raise Unauthorized("The X-WSSE header is missing.")
        if not header.strip().startswith("UsernameToken "):
            raise Unauthorized("The X-WSSE header is not a UsernameToken.")
        fields = dict(_PAIR_RE.findall(header))
        missing = [
            k for k in ("Username", "PasswordDigest", "Nonce", "Created") if not fields.get(k)
        ]
        if missing:
            raise Unauthorized(f"The X-WSSE header lacks {', '.join(missing)}.")
        created_text, nonce = fields["Created"], fields["Nonce"]
        try:
            created = parse_instant(created_text).timestamp()
        except (ValueError, TypeError):
            raise Unauthorized("Created is not an ISO-8601 date-time.") from None
        now = self._clock()
        problem = _time_problem(created, now)
        frozen = self._frozen_clock()
        if problem and frozen is not None and _time_problem(created, frozen) is None:
            problem = None
        if problem:
            raise Unauthorized(problem)
        try:
            expected = password_digest(nonce, created_text, self._api_key)
        except (binascii.Error, ValueError):
            raise Unauthorized("The nonce is not base64.") from None
        if fields["Username"] != self._username() or not hmac.compare_digest(
            expected, fields["PasswordDigest"]
        ):
            raise Unauthorized("Wrong username or API key.")
        with self._lock:
            self._purge(now)
            if nonce in self._nonces:
                raise Unauthorized("Previously used nonce detected.")
            self._nonces[nonce] = created + LIFETIME
        return fields["Username"]

    def _purge(self, now: float) -> None:
        # Drop nonces whose token could not be valid any more; at most once a minute.
        if now < self._next_purge:
            return
        self._nonces = {n: expiry for n, expiry in self._nonces.items() if expiry >= now}
        self._next_purge = now + 60


def _time_problem(created: float, now: float) -> str | None:
    """Oro's time checks of a token: none in the future (strtotime($created) > strtotime(now),
    no leeway), none older than the lifetime."""
    if math.floor(created) > math.floor(now):
        return "Future token detected."
    if now - created > LIFETIME:
        return "Token has expired."
    return None
