"""A tiny HTTPS server answering every GET with a JSON:API document, whose certificate can be
swapped between connections (each answer closes its connection, so every request shakes hands
again). Independent of the reference server so the pinning logic is tested on its own."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket
from typing import Any, Self

import trustme

BODY = json.dumps({"data": {"type": "configuration", "id": "outlook", "relationships": {
    "options": {"data": [{"type": "configurationoptions",
                          "id": "oro_crm_pro_outlook.addin_min_supported_version"}]}}},
    "included": [{"type": "configurationoptions",
                  "id": "oro_crm_pro_outlook.addin_min_supported_version",
                  "attributes": {"dataType": "string", "value": "0.0.1"}}]}).encode()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    return ctx


class SwappableTlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cert: trustme.LeafCert) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.context = server_context(cert)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def get_request(self) -> tuple[socket, Any]:
        sock, addr = super().get_request()
        # Handshake in the handler thread (lazily), so a failed handshake never blocks accept.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # refused handshakes are what several tests provoke; keep the output clean

    def swap(self, cert: trustme.LeafCert) -> None:
        self.context = server_context(cert)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def fingerprint(cert: trustme.LeafCert) -> str:
    import hashlib

    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return hashlib.sha256(der).hexdigest()


def write_pair(cert: trustme.LeafCert, folder: Path, name: str) -> tuple[Path, Path]:
    """Write cert and key PEM files (for RunningServer(tls_cert=..., tls_key=...))."""
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path
