"""Certificate pinning for "Ignore self-signed certificate".

With the option on, the usual CA check is replaced by an exact match on the SHA-256 of the
server's certificate. The first certificate seen is accepted and reported through
``on_pin`` (the caller stores it in ``Settings.pinned_cert_sha256``); every later TLS
handshake — on every new connection, not only the first — must present a certificate with
that fingerprint, or the connection is closed before a byte of the request is sent and
``TlsError`` says the certificate changed, with both fingerprints and the way out of a
legitimate renewal (Settings → *Forget pinned certificate*).

How: httpx has no hook after the handshake, so ``PinnedTransport`` is an ``HTTPTransport``
whose httpcore pool uses a network backend that checks the peer certificate right after
``start_tls``. The TLS context does not verify the chain (a self-signed certificate has
none), but the pin is stricter than a chain: nothing but that one certificate is accepted.
Proxies from the environment are not used in this mode (the pool talks to the server directly).
"""

from __future__ import annotations

import hashlib
import ssl
import threading
import typing
from collections.abc import Callable, Iterable

import httpcore
import httpx

from ..errors import TlsError


def normalise_fingerprint(value: str) -> str:
    """``AB:CD:…`` or ``abcd…`` → 64 lowercase hex digits (ValueError when malformed)."""
    text = value.replace(":", "").replace(" ", "").strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError("a SHA-256 fingerprint has 64 hex digits")
    return text


def display_fingerprint(value: str) -> str:
    """Colon-separated upper-case form, as browsers show it."""
    text = normalise_fingerprint(value)
    return ":".join(text[i:i + 2] for i in range(0, 64, 2)).upper()


def certificate_sha256(der: bytes) -> str:
    """SHA-256 fingerprint (lowercase hex) of a DER certificate."""
    return hashlib.sha256(der).hexdigest()


class PinState:
    """The pinned fingerprint, shared by all connections of one client (thread-safe)."""

    def __init__(self, host: str, pinned_sha256: str | None,
                 on_pin: Callable[[str], None] | None) -> None:
        self.host = host
        self.pinned = normalise_fingerprint(pinned_sha256) if pinned_sha256 else None
        self._on_pin = on_pin
        self._lock = threading.Lock()

    def check(self, der: bytes | None) -> None:
        """Accept ``der`` if it matches the pin (pinning it when none is set) or raise TlsError."""
        if not der:
            raise TlsError(f"{self.host} presented no certificate.")
        seen = certificate_sha256(der)
        newly_pinned = False
        with self._lock:
            if self.pinned is None:
                self.pinned = seen
                newly_pinned = True
            elif seen != self.pinned:
                raise TlsError(
                    f"The certificate of {self.host} has changed since it was accepted. "
                    f"Accepted: SHA-256 {display_fingerprint(self.pinned)}; now presented: "
                    f"SHA-256 {display_fingerprint(seen)}. This can mean someone is "
                    "intercepting the connection, so nothing was sent. If the server's "
                    "certificate was renewed on purpose (ask its administrator), open "
                    "Settings and click \"Forget pinned certificate\": the next connection "
                    "pins the new one (on the command line: tray-client configure "
                    "--forget-pinned-cert).",
                    title="Server certificate changed")
        if newly_pinned and self._on_pin is not None:
            self._on_pin(seen)


def unverified_context() -> ssl.SSLContext:
    """TLS 1.2+ without chain or host-name checks; the pin is checked after the handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class _PinningStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, pin: PinState) -> None:
        self._inner = inner
        self._pin = pin

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        stream = self._inner.start_tls(ssl_context, server_hostname, timeout)
        ssl_object = stream.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        try:
            self._pin.check(der)
        except BaseException:
            stream.close()  # never send the request over an unaccepted connection
            raise
        return stream


class _PinningBackend(httpcore.NetworkBackend):
    def __init__(self, pin: PinState) -> None:
        self._inner = httpcore.SyncBackend()
        self._pin = pin

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[typing.Any] | None = None
                    ) -> httpcore.NetworkStream:
        return _PinningStream(self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options), self._pin)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[typing.Any] | None = None
                            ) -> httpcore.NetworkStream:
        return _PinningStream(self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options), self._pin)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """An httpx transport that accepts exactly the pinned certificate (see module docstring)."""

    def __init__(self, pin: PinState, *, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits()
        ctx = unverified_context()
        super().__init__(verify=ctx, limits=limits, trust_env=False)
        # httpx exposes no network-backend option; swap in a pool that has ours. The
        # pinning tests fail loudly if a future httpx stops routing requests through _pool.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ctx,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinningBackend(pin),
        )
