"""``tray-client-devserver`` as a process: URL on the first line, serves, stops on
SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import psutil
import pytest

from tray_client.devserver.cli import main

from .wsse import wsse_headers

PREFIX = "oro_crm_pro_outlook."


def _start(*args: str, env: dict[str, str] | None = None,
           stdin: str | None = None) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tray_client.devserver.cli", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.PIPE if stdin is not None else None,
        env={**os.environ, **(env or {})},
    )
    if stdin is not None:
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
        process.stdin = None   # communicate() must not touch it again
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    return process, url


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_prints_url_first_serves_and_stops(tmp_path, stop_signal):
    process, url = _start(
        "--db",
        str(tmp_path / "crm.db"),
        "--user", "sam", "--api-key", "s3cret-key", "--setting",
        "contacts_sync_direction=OutlookToOroCRM", "--demo", "3",
    )
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        response = httpx.get(
            f"{url}/api/contacts", headers=wsse_headers("sam", "s3cret-key"), timeout=10
        )
        assert response.status_code == 200 and len(response.json()["data"]) == 3
        config = httpx.get(
            f"{url}/api/configuration/outlook",
            params={"include": "options"},
            headers=wsse_headers("sam", "s3cret-key"),
            timeout=10,
        ).json()
        values = {o["id"]: o["attributes"]["value"] for o in config["included"]}
        assert values[PREFIX + "contacts_sync_direction"] == "OutlookToOroCRM"
        assert (
            httpx.get(
                f"{url}/api/contacts", headers=wsse_headers("admin", "admin-api-key"), timeout=10
            ).status_code
            == 401
        )
    finally:
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "s3cret-key" not in out + err  # the key is printed nowhere


def test_default_user_and_key(tmp_path):
    process, url = _start()
    try:
        response = httpx.get(
            f"{url}/api/users",
            params={"filter[username]": "admin"},
            headers=wsse_headers("admin", "admin-api-key"),
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["data"][0]["id"] == "1"
        # As real Oro 6.0 by default: no Outlook section, no removals feed.
        section = httpx.get(
            f"{url}/api/configuration/outlook",
            headers=wsse_headers("admin", "admin-api-key"),
            timeout=10,
        )
        assert section.status_code == 404
        assert (
            httpx.get(
                f"{url}/api/removals", headers=wsse_headers("admin", "admin-api-key"), timeout=10
            ).status_code
            == 404
        )
    finally:
        process.terminate()
        process.communicate(timeout=15)


def test_extension_flags(tmp_path):
    process, url = _start("--removals-feed", "--web-api", "off")
    try:
        # --web-api off wins: every /api path is Oro's bare 404, before sign-in.
        for path in ("/api/contacts", "/api/removals", "/api/userprofile"):
            response = httpx.get(
                url + path, headers=wsse_headers("admin", "admin-api-key"), timeout=10
            )
            assert response.status_code == 404
            assert response.json() == {
                "errors": [{"status": "404", "title": "not found http exception"}]
            }
    finally:
        process.terminate()
        process.communicate(timeout=15)
    process, url = _start("--removals-feed")
    try:
        response = httpx.get(
            f"{url}/api/removals", headers=wsse_headers("admin", "admin-api-key"), timeout=10
        )
        assert response.status_code == 200 and response.json()["data"] == []
    finally:
        process.terminate()
        process.communicate(timeout=15)


@pytest.mark.parametrize("how", ["environment", "stdin"])
def test_api_key_from_the_environment_or_stdin_stays_out_of_argv(tmp_path, how):
    if how == "environment":
        process, url = _start("--user", "sam", env={"TRAY_CLIENT_DEVSERVER_API_KEY": "env-k3y"})
    else:
        process, url = _start("--user", "sam", "--api-key-stdin", stdin="env-k3y\n")
    try:
        assert "env-k3y" not in " ".join(psutil.Process(process.pid).cmdline())
        ok = httpx.get(f"{url}/api/contacts", headers=wsse_headers("sam", "env-k3y"), timeout=10)
        assert ok.status_code == 200
        default = httpx.get(f"{url}/api/contacts", headers=wsse_headers("sam", "admin-api-key"),
                            timeout=10)
        assert default.status_code == 401
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert "env-k3y" not in out + err


def test_api_key_stdin_without_a_key_is_a_usage_error(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "tray_client.devserver.cli", "--port", "0", "--api-key-stdin"],
        input="", capture_output=True, text=True, timeout=30, check=False)
    assert process.returncode == 2 and "no API key" in process.stderr


def test_help_documents_the_default_key(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "admin-api-key" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["--setting", "contacts_sync_direction=Sideways"],
        ["--setting", "nokey"],
        ["--setting", "tasks_sync_direction=Both"],
        ["--web-api", "maybe"],
        ["--tls-cert", "x.pem"],
        ["--demo", "-1"],
        ["--port", "x"],
    ],
)
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err


def test_port_in_use_is_a_clear_error(devserver, capsys):
    port = devserver.url.rsplit(":", 1)[1]
    assert main(["--port", port]) == 1
    assert "cannot listen" in capsys.readouterr().err
