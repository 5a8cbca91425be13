"""Library errors converted into the project's error tree, where httpx is called.

``transport_error`` turns an httpx transport failure into OfflineError (name not resolved,
refused, dropped), CrmTimeoutError or TlsError; ``response_error`` turns an HTTP error answer
into the matching CrmError. Messages name the server and the request, never a header: the
credentials live in headers only.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator

import httpx

from ..errors import (
    ConflictError,
    CrmError,
    CrmTimeoutError,
    ForbiddenError,
    IncompatibleServerError,
    NotFoundError,
    OfflineError,
    RateLimitedError,
    ServerError,
    TlsError,
    ValidationError,
)
from .jsonapi import parse_errors


class DnsError(OfflineError):
    """The server's name does not resolve (a subclass so verdicts can tell it apart)."""

    title = "CRM server not found"


class RefusedError(OfflineError):
    """Nothing listens at the server's address and port."""

    title = "CRM refused the connection"


class WrongUrlError(IncompatibleServerError):
    """No Oro back-office API at this URL (a web page, a redirect, a storefront API)."""

    title = "Wrong CRM URL"


class ApiDisabledError(IncompatibleServerError):
    """Oro answers, but its web API feature is off (every ``/api`` path is a 404)."""

    title = "The API is disabled in Oro"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_dns_failure(exc: BaseException) -> bool:
    """True when the chain holds a name-resolution failure."""
    for item in _chain(exc):
        if isinstance(item, socket.gaierror):
            return True
        text = str(item).lower()
        if ("name or service not known" in text or "nodename nor servname" in text
                or "temporary failure in name resolution" in text
                or "no address associated with hostname" in text
                or "getaddrinfo failed" in text):
            return True
    return False


def is_tls_failure(exc: BaseException) -> bool:
    """True when the chain holds a TLS/certificate failure."""
    return any(isinstance(item, (ssl.SSLError, ssl.CertificateError)) or
               "CERTIFICATE_VERIFY_FAILED" in str(item) for item in _chain(exc))


def _tls_detail(exc: BaseException) -> str:
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError) and item.verify_message:
            return str(item.verify_message)
        if isinstance(item, ssl.SSLError):
            return str(item.reason or item)
    return str(exc)


def transport_error(exc: httpx.TransportError, where: str) -> CrmError:
    """Convert a transport failure for request ``where`` (``"GET https://host/api/x"``)."""
    host = exc.request.url.host if _has_request(exc) else "the server"
    if isinstance(exc, httpx.TimeoutException):
        return CrmTimeoutError(
            f"{host} did not answer in time ({where}). The server may be overloaded or the "
            "network slow; the client will try again later.")
    if is_tls_failure(exc):
        detail = _tls_detail(exc)
        hint = ""
        if (
            "self-signed" in detail
            or "self signed" in detail
            or "unable to get local issuer" in detail
        ):
            hint = (" If you trust this server, turn on \"Ignore self-signed certificate\" in "
                    "Settings: the client will then pin this certificate and refuse any other.")
        return TlsError(f"The certificate of {host} is not trusted ({detail}).{hint}")
    if is_dns_failure(exc):
        return DnsError(f"The name {host} cannot be resolved. Check the CRM URL for typos, "
                        "and that this computer is online (and on the VPN, if the CRM needs it).")
    if any(isinstance(item, ConnectionRefusedError) or "connection refused" in str(item).lower()
           for item in _chain(exc)):
        return RefusedError(f"{host} refused the connection. Check the port in the CRM URL, and "
                            "that the CRM server is running.")
    if isinstance(exc, httpx.ConnectError):
        return OfflineError(f"Cannot connect to {host} ({exc or type(exc).__name__}).")
    return OfflineError(f"The connection to {host} was dropped ({where}: "
                        f"{exc or type(exc).__name__}). The client will try again later.")


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        _ = exc.request
    except RuntimeError:
        return False
    return True


def _decoded(response: httpx.Response) -> object:
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def response_error(response: httpx.Response, where: str, user: str) -> CrmError:
    """Convert an HTTP error answer (status >= 400) into the matching CrmError."""
    status = response.status_code
    errors = parse_errors(_decoded(response))
    details = "; ".join(
        (f"{e.field}: " if e.field else "") + (e.detail or e.title) for e in errors)
    said = f" The server said: {details}" if details else ""
    if status == 400 or status == 422:
        return ValidationError(f"The CRM rejected the request ({where}).{said}",
                               errors=errors, status=status)
    if status == 401:
        from .auth import refusal  # the message depends on the kind of sign-in the request used

        return refusal(response, user)
    if status == 403:
        return ForbiddenError(f"User {user!r} may not do this ({where}).{said}", status=status)
    if status == 404:
        return NotFoundError(f"Not found on the CRM ({where}).{said}", status=status)
    if status == 409:
        return ConflictError(f"The CRM reported a conflict ({where}).{said}", status=status)
    if status in (405, 406, 415):
        return IncompatibleServerError(
            f"The server does not support this request ({where}, HTTP {status}).{said}",
            status=status)
    if status == 429 or status == 503:
        return RateLimitedError(
            f"The CRM is busy (HTTP {status}) and kept asking to wait ({where}); the client "
            f"will try again later.{said}", status=status)
    if status >= 500:
        return ServerError(f"The CRM server failed (HTTP {status}, {where}); the client will "
                           f"try again later.{said}", status=status)
    return CrmError(f"Unexpected answer HTTP {status} ({where}).{said}", status=status)


class NotJsonApiError(ServerError):
    """A 2xx answer that is not a JSON:API document (an HTML page, a proxy's answer)."""

    title = "Unexpected answer from the CRM"
