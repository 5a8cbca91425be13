"""HTTPS with certificates from trustme: verified against the CA, refused without it."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trustme

from tray_client.devserver.testing import RunningServer

from .wsse import wsse_headers


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    cert.private_key_pem.write_to_path(str(folder / "server.key"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return folder


def test_https_with_trusted_ca(tmp_path, certificates):
    with RunningServer(
        db_path=tmp_path / "c.db",
        tls_cert=certificates / "server.pem",
        tls_key=certificates / "server.key",
    ) as server:
        assert server.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(certificates / "ca.pem"))
        response = httpx.get(
            f"{server.url}/api/users",
            headers=wsse_headers(server.user, server.api_key),
            verify=context,
        )
        assert response.status_code == 200
        assert response.headers["X-Server-Version"] == "5.1.0"
        with pytest.raises(httpx.ConnectError):
            # system CAs only
            httpx.get(f"{server.url}/api/users", headers=wsse_headers(server.user, server.api_key))


def test_command_line_serves_https(certificates):
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m", "tray_client.devserver", "--port", "0", "--tls-cert",
            str(certificates / "server.pem"),
            "--tls-key",
            str(certificates / "server.key"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(certificates / "ca.pem"))
        response = httpx.get(
            f"{url}/api/users",
            headers=wsse_headers("admin", "admin-api-key"),
            verify=context,
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=15)
    assert process.returncode == 0


def test_bad_certificate_fails_to_start_cleanly(tmp_path):
    (tmp_path / "bad.pem").write_text("not a certificate")
    server = RunningServer(
        db_path=tmp_path / "c.db", tls_cert=tmp_path / "bad.pem", tls_key=tmp_path / "bad.pem"
    )
    with pytest.raises(ssl.SSLError):
        server.start()
    server.close()


def test_command_line_with_a_bad_certificate_says_so(tmp_path, capsys):
    from tray_client.devserver.cli import main

    (tmp_path / "bad.pem").write_text("not a certificate")
    assert (
        main(["--tls-cert", str(tmp_path / "bad.pem"), "--tls-key", str(tmp_path / "bad.pem")]) == 1
    )
    assert "TLS certificate" in capsys.readouterr().err
