"""The answer of "Check Connection": what is wrong, in words a user can act on."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class VerdictKind(enum.Enum):
    OK = "ok"
    WRONG_URL = "wrong_url"        # 404 / not JSON:API / an HTML page at that address
    DNS = "dns"                    # the host name does not resolve
    REFUSED = "refused"            # nothing listens there, or the connection dropped
    TLS = "tls"                    # certificate not trusted, or the pinned one changed
    AUTH = "auth"                  # wrong credentials, the other kind of sign-in, or no permission
    TOO_OLD = "too_old"            # no Outlook configuration, or this client is below the minimum
    TIMEOUT = "timeout"            # no answer in time
    SERVER_ERROR = "server_error"  # 5xx or an unexpected answer


@dataclass(frozen=True)
class ConnectionVerdict:
    """``ok`` is True only for ``VerdictKind.OK``; ``server_version`` is "unknown" when the
    server does not say (real Oro), None when the server was not reached. ``auth_wanted`` is
    the kind of sign-in the server asked for when it refused this one (``"wsse"`` or
    ``"oauth2"``; None when it did not say)."""

    ok: bool
    kind: VerdictKind
    title: str
    message: str
    server_version: str | None = None
    auth_wanted: str | None = None
    # Whether calendar events can sync (Oro's REST API), when the connection itself is OK:
    # "events: OK" or "events: the REST API is not reachable: …" (front ends show it as a
    # line of its own after the message).
    events: str | None = None
