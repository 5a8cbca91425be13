"""``tray-client demo``: the reference CRM server with demo data, and the client pointed at it.

The server runs as a child process on a free loopback port with its own database in the demo
home — ``--home DIR`` as given, else ``$TRAY_CLIENT_HOME/demo``, else ``<data dir>/demo`` — so
the demo never touches the user's real profile (a ``TRAY_CLIENT_HOME`` holds one). The API key is the reference server's demo key, handed to the client through
the ``TRAY_CLIENT_API_KEY`` variable of this process only (nothing is written to the keyring).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs

from .credentials import API_KEY_VARIABLE
from .paths import HOME_VARIABLE

DEMO_USER = "admin"
DEMO_API_KEY = "admin-api-key"  # the reference server's documented demo key; not a secret


def demo_home(home: str | None) -> Path:
    """Where the demo lives (module docstring): ``home``, else beside the profile the
    ``TRAY_CLIENT_HOME`` variable names, else under the platform's data folder."""
    if home:
        return Path(home).expanduser().resolve()
    variable = os.environ.get(HOME_VARIABLE)
    if variable:
        return Path(variable).expanduser().resolve() / "demo"
    return Path(platformdirs.user_data_dir("tray-client")) / "demo"


def start_server(home: Path, records: int) -> tuple[subprocess.Popen[str], str]:
    """Start the reference server; return the process and its base URL."""
    home.mkdir(parents=True, exist_ok=True)
    db = home / "crm-demo.db"
    cmd = [sys.executable, "-m", "tray_client.devserver.cli", "--host", "127.0.0.1",
           "--port", "0", "--db", str(db), "--user", DEMO_USER]
    if not db.exists():
        cmd += ["--demo", str(records)]
    # Short intervals so the demo visibly syncs on its own.
    cmd += ["--setting", "contacts_sync_interval_orocrm=60",
            "--setting", "contacts_sync_interval_outlook=20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("http"):
        proc.terminate()
        raise RuntimeError(f"The reference server did not start (it said {line!r}).")
    return proc, line


def _has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                    or os.environ.get("QT_QPA_PLATFORM") == "offscreen")
    return True


def run_demo(*, home: str | None, headless: bool, records: int = 25) -> int:
    """Start the server, configure the demo profile, then open the app or sync once."""
    from .cli.main import _exit_for, _print_result_text
    from .client import Client

    root = demo_home(home)
    proc, url = start_server(root, records)
    os.environ[API_KEY_VARIABLE] = DEMO_API_KEY
    try:
        client = Client(root)
        settings = client.settings
        settings.url, settings.user = url, DEMO_USER
        client.save_settings(settings)
        print(f"Reference CRM server: {url} (user {DEMO_USER}); demo profile in {root}")
        if headless or not _has_display():
            try:
                result = client.sync(trigger="manual")
            finally:
                client.close()
            _print_result_text(result)
            return _exit_for(result)
        client.close()
        from .gui.app import main as gui_main

        return gui_main(str(root), demo_url=url)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
