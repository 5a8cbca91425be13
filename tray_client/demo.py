"""The demo's home and the reference CRM server as a child process.

``tray-client demo`` (``cli/demo_cmd.py``) runs the server on a free loopback port with its own
database in the demo home — ``--home DIR`` as given, else ``$TRAY_CLIENT_HOME/demo``, else
``<data dir>/demo`` — so the demo never touches the user's real profile (a
``TRAY_CLIENT_HOME`` holds one). ``spawned_server`` is the one way the project starts the
server in a process of its own (as a real CRM is): the demo, the GUI's and the end-to-end
tests' fixtures.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from .paths import HOME_VARIABLE

DEMO_USER = "admin"
DEMO_API_KEY = "admin-api-key"  # the reference server's documented demo key; not a secret
# The reference server reads its user's API key from this variable (tray_client.devserver.cli).
SERVER_API_KEY_VARIABLE = "TRAY_CLIENT_DEVSERVER_API_KEY"


def demo_home(home: str | None) -> Path:
    """Where the demo lives (module docstring): ``home``, else beside the profile the
    ``TRAY_CLIENT_HOME`` variable names, else under the platform's data folder."""
    if home:
        return Path(home).expanduser().resolve()
    variable = os.environ.get(HOME_VARIABLE)
    if variable:
        return Path(variable).expanduser().resolve() / "demo"
    return Path(platformdirs.user_data_dir("tray-client")) / "demo"


@contextmanager
def spawned_server(db: Path, *, user: str = DEMO_USER, api_key: str | None = None,
                   demo_records: int = 0, settings: Mapping[str, str] | None = None
                   ) -> Iterator[str]:
    """Run ``tray-client-devserver`` on ``db`` in a child process on a free loopback port;
    yields its base URL and stops the process on exit.

    ``api_key``: the user's key, handed over in the environment, not argv (where ``ps`` shows
    it); None: the server's demo key. ``demo_records``: demo records per entity loaded into a
    new database. ``settings``: the Outlook section's options (``--setting KEY=VALUE``).
    Raises RuntimeError with what the server said when it does not start.
    """
    argv = [sys.executable, "-m", "tray_client.devserver.cli", "--host", "127.0.0.1",
            "--port", "0", "--db", str(db), "--user", user]
    if demo_records:
        argv += ["--demo", str(demo_records)]
    for key, value in (settings or {}).items():
        argv += ["--setting", f"{key}={value}"]
    env = dict(os.environ)
    if api_key is not None:
        env[SERVER_API_KEY_VARIABLE] = api_key
    # Its complaints go to a file, not a pipe nobody reads (a full pipe would stall it).
    with tempfile.TemporaryFile("w+", encoding="utf-8") as complaints:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=complaints,
                                stdin=subprocess.DEVNULL, text=True, env=env)
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            if not url.startswith("http"):
                _stop(proc)
                complaints.seek(0)
                raise RuntimeError(f"The reference server did not start (it said {url!r}; "
                                   f"{complaints.read()[:500].strip()!r}).")
            yield url
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
