"""The OAuth client secret is never in a file, a log, a process's arguments or an output, as
for the API key (tests/test_credentials.py): the reference server takes it from its variable,
the client from standard input into a real gnome-keyring (private D-Bus session); configure,
check-connection, sync and a wrong-secret check run as separate processes with logging on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import TEST_CLIENT_ID, TEST_USER
from tests.test_credentials import secret_service_env

SECRET = "s3cr3t-client-secret-never-shown-4711"
REPO = Path(__file__).resolve().parents[1]

_CLIENT_SCRIPT = textwrap.dedent("""
    set -e
    echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    tc() { "$PY" -m tray_client --home "$HOME_DIR" -v "$@"; }
    echo "$SECRET_IN" | tc configure --url "$CRM_URL" --user "$CRM_USER" --auth oauth2 \\
        --client-id "$CLIENT_ID" --client-secret-stdin
    tc check-connection --json
    tc sync --json --entity contacts
    tc status --json
    cat /proc/self/cmdline /proc/$PPID/cmdline > "$HOME_DIR/cmdlines"
    echo wrong-secret-for-this-test | tc configure --client-secret-stdin
    tc check-connection || echo "exit $?"
""")


def _all_bytes_under(root: Path) -> list[tuple[Path, bytes]]:
    return [(path, path.read_bytes()) for path in root.rglob("*") if path.is_file()]


@pytest.mark.skipif(shutil.which("dbus-run-session") is None,
                    reason="dbus-run-session is not installed (Debian package dbus)")
@pytest.mark.skipif(shutil.which("gnome-keyring-daemon") is None,
                    reason="gnome-keyring-daemon is not installed (Debian package gnome-keyring)")
def test_the_client_secret_stays_out_of_files_logs_arguments_and_output(tmp_path: Path) -> None:
    server_env = {**os.environ, "PYTHONPATH": str(REPO),
                  "TRAY_CLIENT_DEVSERVER_CLIENT_SECRET": SECRET}
    server = subprocess.Popen(
        [sys.executable, "-m", "tray_client.devserver.cli", "--port", "0", "--auth", "oauth2",
         "--client-id", TEST_CLIENT_ID, "--user", TEST_USER, "--db", str(tmp_path / "crm.db"),
         "--demo", "5", "--log-level", "info"],
        env=server_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        server_cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        env = {**secret_service_env(tmp_path), "HOME_DIR": str(tmp_path / "home"),
               "CRM_URL": url, "CRM_USER": TEST_USER, "CLIENT_ID": TEST_CLIENT_ID,
               "SECRET_IN": SECRET, "SCRIPT": _CLIENT_SCRIPT}
        result = subprocess.run(["dbus-run-session", "--", "sh", "-c", 'eval "$SCRIPT"'],
                                capture_output=True, text=True, env=env, timeout=180,
                                check=False)
    finally:
        server.terminate()
        server_out, server_err = server.communicate(timeout=30)
    assert result.returncode == 0, result.stderr
    assert '"created": 5' in result.stdout, result.stdout    # the sync did run on OAuth
    assert "OAuth application not accepted" in result.stdout  # the wrong secret did not
    assert "exit 1" in result.stdout
    # Nowhere: not in what anything printed, logged or was started with ...
    for text in (result.stdout, result.stderr, server_out, server_err):
        assert SECRET not in text
    assert SECRET.encode() not in server_cmdline
    cmdlines = (tmp_path / "home" / "cmdlines").read_bytes()
    assert cmdlines and SECRET.encode() not in cmdlines
    # ... nor in any file: settings, store, logs, the keyring's own (encrypted) file.
    files = _all_bytes_under(tmp_path)
    assert any(path.name == "tray-client.log" for path, _ in files)
    assert any(path.suffix == ".keyring" for path, _ in files)
    for path, content in files:
        assert SECRET.encode() not in content, path
