"""The reference server in its own process (as a real CRM is), for the GUI and e2e tests.

Sharing the test process with the server's threads would make the GUI compete with the
server for the GIL, which a real deployment never does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def server_process(db_path: Path, *, user: str, api_key: str,
                   settings: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``tray-client-devserver`` on ``db_path``; yields its base URL."""
    argv = [sys.executable, "-m", "tray_client.devserver.cli", "--db", str(db_path),
            "--user", user]
    for key, value in (settings or {}).items():
        argv += ["--setting", f"{key}={value}"]
    # The key through the environment, not argv (where `ps` shows it).
    env = {**os.environ, "TRAY_CLIENT_DEVSERVER_API_KEY": api_key}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"devserver did not start: {url!r} {proc.stderr.read()[:500]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
