"""The real tray app under Xvfb + trayer, against the reference server in its own process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from tray_client.client import Client
from tray_client.demo import spawned_server
from tray_client.devserver.testing import RunningServer

from .conftest import SCREEN, Desktop, _stop, _wait

API_KEY = "e2e-api-key-0123456789"


def tray_icon(desktop: Desktop) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of our icon embedded in trayer's panel, or None."""
    tree = desktop.run("xwininfo", "-tree", "-id", desktop.tray_window)
    for line in tree.splitlines():
        if '"CRM Tray Client"' in line:
            match = re.search(r"(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)", line)
            if match:
                w, h, x, y = map(int, match.groups())
                return x, y, w, h
    return None


def top_level_windows(desktop: Desktop) -> list[str]:
    return [line for line in desktop.run("xwininfo", "-root", "-children").splitlines()
            if '"CRM Tray Client"' in line]


@pytest.fixture
def crm(tmp_path):
    """A CRM database with three contacts, served by tray-client-devserver."""
    db = tmp_path / "crm.db"
    with RunningServer(db_path=db, user="admin", api_key=API_KEY) as seed:
        for first in ("Ann", "Bob", "Cy"):
            seed.admin.create("contacts", {"firstName": first, "lastName": "Tray"})
    with spawned_server(db, user="admin", api_key=API_KEY) as url:
        yield url


@pytest.fixture
def tray_app(tmp_path, desktop, crm):
    """The tray app (``python -m tray_client --home H``) on the Xvfb display."""
    home = tmp_path / "home"
    with Client(home) as client:
        settings = client.settings
        settings.url, settings.user = crm, "admin"
        # No startup or interval syncs: the test's Sync Now must be the one that syncs.
        settings.disable_sync = True
        client.save_settings(settings)
    env = desktop.env
    env.update(QT_QPA_PLATFORM="xcb", TRAY_CLIENT_API_KEY=API_KEY,
               XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("TRAY_CLIENT_HOME", None)
    log = open(tmp_path / "app.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "tray_client", "--home", str(home)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc, home
    finally:
        _stop(proc)
        log.close()


def local_contacts(home) -> list[str]:
    with Client(home) as client:
        return sorted(item.fields.get("first_name", "") for item in client.store.list("contacts"))


def test_icon_menu_sync_now_and_settings(desktop, tray_app, tmp_path):
    proc, home = tray_app
    icon = _wait(lambda: tray_icon(desktop), 20, "the tray icon inside trayer")
    x, y, w, h = icon
    assert (w, h) != (1, 1)
    assert local_contacts(home) == []

    # Right-click opens the menu.
    before = set(top_level_windows(desktop))
    desktop.run("xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "3")
    menu_line = _wait(lambda: [line for line in top_level_windows(desktop) if line not in before
                               and not re.search(r"\b1x1\+", line)], 20, "the tray menu")[0]
    _, mh, _, _ = map(int, re.search(r"(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)",
                                        menu_line).groups())
    assert mh > 80  # status line, Sync Now, Pause, Settings…, Quit
    time.sleep(0.3)
    # Its own name: test_screenshots.py's shot of the menu (with automatic sync on) is
    # e2e-tray-menu.png.
    shot = desktop.screenshot("e2e-tray-menu-opened.png")
    assert shot.stat().st_size > 1000

    # Keyboard: the first entry is the status line, the second Sync Now.
    desktop.run("xdotool", "key", "Down", "Down", "Return")
    names = _wait(lambda: local_contacts(home) or None, 30, "the sync to create local items")
    assert names == ["Ann", "Bob", "Cy"]

    def finished_runs():
        with Client(home) as client:
            runs = client.reports(5)
        return runs if runs and all(run.finished_at for run in runs) else None

    # Contacts arrive first; tasks and events may still be syncing then.
    runs = _wait(finished_runs, 30, "the sync run to finish")
    assert [run.trigger for run in runs] == ["manual"]
    assert runs[0].outcome == "ok", runs[0].message

    # Settings… through a second launch's command channel, then a screenshot of it.
    from tray_client.gui.single_instance import send_command, server_name

    with Client(home) as client:
        name = server_name(client.paths.data_dir)
    assert send_command(name, "settings")
    _wait(lambda: any("Settings" in line for line in top_level_windows(desktop)), 10,
          "the settings dialog")
    time.sleep(0.5)
    desktop.screenshot("e2e-settings-dialog.png")

    # A second launch only hands over and exits 0.
    second = subprocess.run([sys.executable, "-m", "tray_client", "--home", str(home)],
                            env={**desktop.env, "QT_QPA_PLATFORM": "xcb",
                                 "TRAY_CLIENT_API_KEY": API_KEY}, timeout=30, check=False)
    assert second.returncode == 0
    assert proc.poll() is None

    assert send_command(name, "quit")
    assert proc.wait(timeout=20) == 0
    output = (tmp_path / "app.log").read_text()
    log_file = home / "logs" / "tray-client.log"
    assert log_file.exists()
    assert API_KEY not in output + log_file.read_text()


def test_status_window_when_no_tray_host(tmp_path, crm):
    """Without a tray (no trayer), the status window is shown and says why."""
    from .conftest import _free_display

    number = _free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    proc = None
    try:
        _wait(lambda: os.path.exists(f"/tmp/.X11-unix/X{number}"), 10, "Xvfb")
        desktop = Desktop(f":{number}", "")
        home = tmp_path / "home"
        with Client(home) as client:
            settings = client.settings
            settings.url, settings.user, settings.disable_sync = crm, "admin", True
            client.save_settings(settings)
        proc = subprocess.Popen([sys.executable, "-m", "tray_client", "--home", str(home)],
                                env={**desktop.env, "QT_QPA_PLATFORM": "xcb",
                                     "TRAY_CLIENT_API_KEY": API_KEY,
                                     "XDG_CONFIG_HOME": str(tmp_path / "xdg")})
        def status_window() -> list[tuple[int, int]]:
            sizes = [tuple(map(int, m.groups())) for line in top_level_windows(desktop)
                     if (m := re.search(r"\)\s+(\d+)x(\d+)\+", line))]
            return [size for size in sizes if size[0] > 300 and size[1] > 100]

        width, height = _wait(status_window, 60, "the status window")[0]
        assert width > 300 and height > 100
        time.sleep(0.5)
        desktop.screenshot("e2e-status-window-no-tray.png")
    finally:
        if proc is not None:
            _stop(proc)
        _stop(xvfb)
