"""Verdicts: what is wrong with the connection, in words a user can act on.

``verdict_for`` is the one place that turns an error into a verdict: Check Connection and
the background sync both go through it, so the same fault gets the same answer everywhere.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import (
    AuthError,
    ConfigurationError,
    CrmError,
    CrmTimeoutError,
    ForbiddenError,
    OfflineError,
    TlsError,
    TrayClientError,
)
from .errorhandling import ApiDisabledError, DnsError, RefusedError, WrongUrlError


class VerdictKind(enum.Enum):
    OK = "ok"
    WRONG_URL = "wrong_url"        # 404 / not JSON:API / an HTML page at that address
    API_DISABLED = "api_disabled"  # Oro answers, its web API feature is off
    DNS = "dns"                    # the host name does not resolve
    REFUSED = "refused"            # nothing listens there, or the connection dropped
    TLS = "tls"                    # certificate not trusted, or the pinned one changed
    AUTH = "auth"                  # wrong credentials, the other kind of sign-in, or no permission
    TOO_OLD = "too_old"            # this client is below the CRM's minimum version
    TIMEOUT = "timeout"            # no answer in time
    CONFIG = "config"              # the settings (or the CRM's sync rules) are not usable
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


# Most specific first: the first class the error is an instance of decides the kind.
_KINDS: tuple[tuple[type[BaseException], VerdictKind], ...] = (
    (TlsError, VerdictKind.TLS),
    (CrmTimeoutError, VerdictKind.TIMEOUT),
    (DnsError, VerdictKind.DNS),
    (RefusedError, VerdictKind.REFUSED),
    (OfflineError, VerdictKind.REFUSED),
    (WrongUrlError, VerdictKind.WRONG_URL),
    (ApiDisabledError, VerdictKind.API_DISABLED),
    (AuthError, VerdictKind.AUTH),
    (ForbiddenError, VerdictKind.AUTH),
    (CrmError, VerdictKind.SERVER_ERROR),
)


def verdict_for(exc: BaseException, server_version: str | None = None) -> ConnectionVerdict:
    """The verdict for an error met while talking to the CRM (never raises).

    The title and message are the error's own (errors carry words a user can act on);
    the kind says which of them it is. An invalid URL is WRONG_URL, a client below the
    CRM's minimum version TOO_OLD, other settings problems CONFIG, anything unforeseen
    SERVER_ERROR ("Unexpected problem").
    """
    kind = next((k for cls, k in _KINDS if isinstance(exc, cls)), None)
    if kind is None:
        if isinstance(exc, ConfigurationError):
            kind = VerdictKind.WRONG_URL if exc.title == "Invalid CRM URL" else VerdictKind.CONFIG
        elif getattr(exc, "min_supported", None) is not None:  # updates.UnsupportedClientError
            kind = VerdictKind.TOO_OLD
        elif isinstance(exc, TrayClientError):
            kind = VerdictKind.CONFIG
    if kind is None or not isinstance(exc, TrayClientError):
        return ConnectionVerdict(False, VerdictKind.SERVER_ERROR, "Unexpected problem",
                                 f"{type(exc).__name__}: {exc}", server_version)
    # A refused sign-in names the kind the server wants, when it said (``AuthError.wanted``).
    return ConnectionVerdict(False, kind, exc.title, exc.message, server_version,
                             auth_wanted=getattr(exc, "wanted", None))
