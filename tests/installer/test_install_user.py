"""install_user.sh / uninstall_user.sh into a temporary prefix.

The program folder installed here is a tiny stand-in for the PyInstaller output (an
executable ``tray-client`` answering ``--version``), so these tests check the scripts, fast;
test_build.py installs the real build when the slow build test is enabled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

INSTALLER = Path(__file__).resolve().parents[2] / "installer"


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def fake_build(tmp_path) -> Path:
    build = tmp_path / "dist" / "tray-client"
    (build / "_internal").mkdir(parents=True)
    (build / "_internal" / "payload.txt").write_text("bundled files\n")
    program = build / "tray-client"
    program.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "tray-client 0.1.0" '
                       '&& exit 0\necho "ran: $*"\n')
    program.chmod(0o755)
    return build


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    home = tmp_path / "home with space"
    home.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    environment.update(HOME=str(home), PREFIX=str(home / ".local"),
                       XDG_CONFIG_HOME=str(home / ".config"))
    environment.pop("BIN_DIR", None)
    return environment


def run(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(INSTALLER / script), *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def paths(env: dict[str, str]) -> dict[str, Path]:
    local = Path(env["PREFIX"])
    return {
        "app": local / "share" / "tray-client" / "app",
        "launcher": local / "bin" / "tray-client",
        "desktop": local / "share" / "applications" / "tray-client.desktop",
        "metainfo": local / "share" / "metainfo" / "io.github.trayclient.TrayClient.metainfo.xml",
        "icon": local / "share" / "icons" / "hicolor" / "scalable" / "apps" / "tray-client.svg",
    }


def test_install_then_uninstall_leaves_nothing_behind(fake_build, env):
    home = Path(env["HOME"])
    before = snapshot(home)
    result = run("install_user.sh", env, "--build", str(fake_build))
    assert result.returncode == 0, result.stderr
    where = paths(env)
    for name, path in where.items():
        assert path.exists(), name
    assert (where["app"] / "_internal" / "payload.txt").exists()
    # The launcher runs the installed program, arguments intact.
    launched = subprocess.run([str(where["launcher"]), "sync", "--json"], capture_output=True,
                              text=True, check=True)
    assert launched.stdout.strip() == "ran: sync --json"
    # The menu entry runs the launcher by absolute path (quoted: the home has a space).
    assert f'Exec="{where["launcher"]}"' in where["desktop"].read_text(encoding="utf-8")
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(where["desktop"])], check=True)

    result = run("uninstall_user.sh", env)
    assert result.returncode == 0, result.stderr
    assert snapshot(home) == before


def test_uninstall_keeps_user_data_and_foreign_files(fake_build, env):
    home = Path(env["HOME"])
    other_app = home / ".local" / "share" / "applications" / "other.desktop"
    other_app.parent.mkdir(parents=True)
    other_app.write_text("[Desktop Entry]\n")
    assert run("install_user.sh", env, "--build", str(fake_build)).returncode == 0
    store = home / ".local" / "share" / "tray-client" / "store.db"
    store.write_bytes(b"the user's items")

    result = run("uninstall_user.sh", env)
    assert result.returncode == 0, result.stderr
    assert store.read_bytes() == b"the user's items"
    assert other_app.exists()
    assert not paths(env)["app"].exists()
    assert not paths(env)["desktop"].exists()
    assert "kept" in result.stdout


def test_uninstall_removes_our_autostart_entry_only(fake_build, env):
    assert run("install_user.sh", env, "--build", str(fake_build)).returncode == 0
    autostart = Path(env["XDG_CONFIG_HOME"]) / "autostart" / "tray-client.desktop"
    autostart.parent.mkdir(parents=True)
    autostart.write_text(f'[Desktop Entry]\nExec="{paths(env)["app"]}/tray-client"\n')
    assert run("uninstall_user.sh", env).returncode == 0
    assert not autostart.exists()

    # An entry starting some other installation (e.g. a distribution package) stays.
    assert run("install_user.sh", env, "--build", str(fake_build)).returncode == 0
    autostart.write_text("[Desktop Entry]\nExec=/usr/bin/tray-client\n")
    assert run("uninstall_user.sh", env).returncode == 0
    assert autostart.exists()


def test_reinstall_replaces_the_program(fake_build, env):
    assert run("install_user.sh", env, "--build", str(fake_build)).returncode == 0
    (fake_build / "_internal" / "payload.txt").unlink()
    (fake_build / "_internal" / "new.txt").write_text("v2")
    result = run("install_user.sh", env, "--build", str(fake_build))
    assert result.returncode == 0, result.stderr
    app = paths(env)["app"]
    assert (app / "_internal" / "new.txt").exists()
    assert not (app / "_internal" / "payload.txt").exists()
    assert run("uninstall_user.sh", env).returncode == 0
    assert not (Path(env["PREFIX"])).exists()


def test_install_refuses_a_folder_it_did_not_make(fake_build, env):
    app = paths(env)["app"]
    app.mkdir(parents=True)
    (app / "precious.txt").write_text("not ours")
    result = run("install_user.sh", env, "--build", str(fake_build))
    assert result.returncode != 0
    assert "not made by this installer" in result.stderr
    result = run("uninstall_user.sh", env)
    assert result.returncode != 0
    assert (app / "precious.txt").exists()


def test_install_rejects_a_missing_build_and_relative_prefix(tmp_path, env):
    result = run("install_user.sh", env, "--build", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "build_linux.sh" in result.stderr
    result = run("install_user.sh", {**env, "PREFIX": "relative/prefix"},
                 "--build", str(tmp_path))
    assert result.returncode == 2 and "absolute" in result.stderr
    assert not Path(env["PREFIX"]).exists()


def test_uninstall_when_not_installed_is_fine(env):
    result = run("uninstall_user.sh", env)
    assert result.returncode == 0
    assert "not installed" in result.stdout
