"""Running the app under uvicorn on a socket we bind ourselves (so port 0 has a real port)."""

from __future__ import annotations

import socket
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0 = a free port chosen by the system)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns on TCP_NODELAY for accepted connections only when
    # the proto says TCP; with proto 0 every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket, host: str, tls: bool) -> str:
    """The URL clients use for a bound socket."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def make_server(
    app: ASGIApp,
    *,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    log_level: str = "warning",
) -> uvicorn.Server:
    """A uvicorn server for the app (own Date header; no access log, which would be noise).

    Raises ssl.SSLError or OSError when the TLS certificate or key cannot be loaded.
    """
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        date_header=False,  # the app sets Date itself, identical on every answer
        server_header=False,
        lifespan="off",
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        timeout_graceful_shutdown=2,
    )
    # Load now (uvicorn would do it in its own thread), so that a bad certificate or key is an
    # ssl.SSLError / OSError for the caller rather than a dead server thread.
    config.load()
    return uvicorn.Server(config)
