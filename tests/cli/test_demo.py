"""``tray-client demo --headless`` works with no typing: the reference server (WSSE and OAuth,
as Oro 6.0 with an OAuth application) and the demo profile's API key from the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_syncs_once_headless_without_input(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TRAY_CLIENT_API_KEY", None)
    result = subprocess.run([sys.executable, "-m", "tray_client", "--home", str(tmp_path / "demo"),
                             "demo", "--headless", "--records", "3"],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Sync ok" in result.stdout
    assert "contacts  local: +3" in result.stdout
