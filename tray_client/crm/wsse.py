"""WSSE UsernameToken headers, as Oro's WSSE authentication expects them.

``PasswordDigest = base64(sha1_raw(base64_decode(Nonce) + Created + apiKey))``; a fresh nonce
and ``Created`` for every request, because the server rejects a nonce it has seen before.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime

NONCE_BYTES = 16


def password_digest(nonce_b64: str, created: str, api_key: str) -> str:
    """Return the WSSE ``PasswordDigest`` for a base64 nonce, a ``Created`` stamp and the key."""
    raw = base64.b64decode(nonce_b64) + created.encode("utf-8") + api_key.encode("utf-8")
    return base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")


def created_now(now: datetime | None = None) -> str:
    """ISO-8601 UTC with ``+00:00`` and whole seconds, e.g. ``2026-11-23T10:00:00+00:00``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(microsecond=0).isoformat()


class WsseSigner:
    """Builds the ``Authorization``/``X-WSSE`` header pair for one user.

    The key is kept in a private attribute and never shown by ``repr``.
    """

    def __init__(self, user: str, api_key: str) -> None:
        self.user = user
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"WsseSigner(user={self.user!r})"

    def headers(self, *, nonce: bytes | None = None, created: str | None = None) -> dict[str, str]:
        """Fresh headers; ``nonce``/``created`` are only given by tests for known vectors."""
        nonce_b64 = base64.b64encode(nonce if nonce is not None else os.urandom(NONCE_BYTES))
        nonce_text = nonce_b64.decode("ascii")
        created = created or created_now()
        digest = password_digest(nonce_text, created, self._api_key)
        # Quotes or backslashes in a username would break the header syntax; Oro usernames
        # cannot contain them, so escaping them is enough to keep the header well-formed.
        user = self.user.replace("\\", "\\\\").replace('"', '\\"')
        return {
            "Authorization": 'WSSE profile="UsernameToken"',
            "X-WSSE": (f'UsernameToken Username="{user}", PasswordDigest="{digest}", '
                       f'Nonce="{nonce_text}", Created="{created}"'),
        }
