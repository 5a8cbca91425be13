"""Real installs, end to end: the PyInstaller build (build, check = version + headless sync,
per-user install of the result) and the default venv install (pip, from PyPI or its cache).

Slow (a full PyInstaller run; a pip install of every dependency) and so only when
``TRAY_CLIENT_TEST_BUILD=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "installer"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TRAY_CLIENT_TEST_BUILD") != "1",
                       reason="real build/install test: set TRAY_CLIENT_TEST_BUILD=1 to run it"),
]


def test_build_check_and_install(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "TRAY_CLIENT_API_KEY", "TRAY_CLIENT_HOME"))}
    env.update(PYTHON=sys.executable, DIST_DIR=str(tmp_path / "dist"),
               WORK_DIR=str(tmp_path / "work"))
    build = subprocess.run([str(INSTALLER / "build_linux.sh")], env=env, capture_output=True,
                           text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    app = tmp_path / "dist" / "tray-client" / "tray-client"

    check = subprocess.run([str(INSTALLER / "check_build.sh"), str(app)], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK:" in check.stdout

    # The real build installs per user and its launcher starts it.
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), PREFIX=str(home / ".local"))
    install = subprocess.run([str(INSTALLER / "install_user.sh"), "--build", str(app.parent)],
                             env=env, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stderr
    version = subprocess.run([str(home / ".local" / "bin" / "tray-client"), "--version"],
                             capture_output=True, text=True, check=True)
    assert version.stdout.startswith("tray-client ")
    uninstall = subprocess.run([str(INSTALLER / "uninstall_user.sh")], env=env,
                               capture_output=True, text=True, timeout=60, check=False)
    assert uninstall.returncode == 0, uninstall.stderr
    assert not any(home.iterdir())


def test_venv_install_and_uninstall(tmp_path):
    """The default install mode: a venv under ~/.local/share/tray-client/app, from PyPI."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PREFIX=str(home / ".local"), PYTHON=sys.executable)
    install = subprocess.run([str(INSTALLER / "install_user.sh")], env=env, capture_output=True,
                             text=True, timeout=900, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    launcher = home / ".local" / "bin" / "tray-client"
    version = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                             check=True)
    assert version.stdout.startswith("tray-client ")
    assert "share/tray-client/app/bin/tray-client" in launcher.read_text(encoding="utf-8")
    uninstall = subprocess.run([str(INSTALLER / "uninstall_user.sh")], env=env,
                               capture_output=True, text=True, timeout=60, check=False)
    assert uninstall.returncode == 0, uninstall.stderr
    # pip may leave its own caches in HOME; everything the installer wrote is gone.
    assert not (home / ".local").exists()
