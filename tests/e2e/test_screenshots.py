"""Every window of the tray app at 1366×768 under Xvfb + trayer, from the real app against the
reference server (its own process): screenshots into ``test-artifacts/`` (the README shows
the copies in ``docs/screenshots/``), and each window must lie wholly on the screen.

The app is driven as a user would, with the mouse on the tray icon and the keyboard, and
through the second-launch commands (``show``, ``settings``, ``panel``, ``report``, ``items``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tray_client.client import Client
from tray_client.demo import spawned_server
from tray_client.devserver.testing import RunningServer

from .conftest import SCREEN, Desktop, _stop, _wait
from .test_tray_e2e import API_KEY, tray_icon

GEOMETRY = re.compile(r'0x([0-9a-f]+) "([^"]*)".*?(\d+)x(\d+)\+(-?\d+)\+(-?\d+)')


def mapped_windows(desktop: Desktop) -> list[tuple[str, str, int, int, int, int]]:
    """(id, name, x, y, width, height) of the top-level windows that are shown."""
    out = desktop.run("xwininfo", "-root", "-children")
    found = []
    for line in out.splitlines():
        match = GEOMETRY.search(line)
        if not match:
            continue
        wid, name, w, h, x, y = match.groups()
        if int(w) <= 1 or int(h) <= 1:
            continue
        state = desktop.run("xwininfo", "-id", f"0x{wid}")
        if "IsViewable" not in state:
            continue
        found.append((f"0x{wid}", name, int(x), int(y), int(w), int(h)))
    return found


def window(desktop: Desktop, title: str, timeout: float = 30) -> tuple[str, int, int, int, int]:
    """Wait for the shown window named ``title``; (id, x, y, width, height)."""
    def find():
        for wid, name, x, y, w, h in mapped_windows(desktop):
            if name == title:
                return wid, x, y, w, h
        return None
    return _wait(find, timeout, f"the window {title!r}")


def assert_on_screen(desktop: Desktop) -> None:
    width, height = SCREEN
    for wid, name, x, y, w, h in mapped_windows(desktop):
        if name in ("panel", ""):      # trayer and unnamed helper windows
            continue
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height, (
            f"{name!r} ({wid}) at {x},{y} {w}x{h} is not wholly on the {width}x{height} screen")


def shoot(desktop: Desktop, name: str) -> None:
    time.sleep(0.6)    # let it paint
    assert_on_screen(desktop)
    desktop.screenshot(name)


def unmap(desktop: Desktop, wid: str) -> None:
    desktop.run("xdotool", "windowunmap", "--sync", wid)


def click(desktop: Desktop, wid: str, x: int, y: int) -> None:
    """A left click at (x, y) inside the window ``wid``."""
    desktop.run("xdotool", "mousemove", "--window", wid, str(x), str(y), "click", "1")
    time.sleep(0.5)


def key(desktop: Desktop, wid: str, *keys: str) -> None:
    desktop.run("xdotool", "windowfocus", "--sync", wid)
    desktop.run("xdotool", "key", "--delay", "120", *keys)


@pytest.fixture
def crm_with_data(tmp_path):
    db = tmp_path / "crm.db"
    with RunningServer(db_path=db, user="admin", api_key=API_KEY) as seed:
        for first, last, job in (("Ann", "Lee", "Buyer"), ("Bob", "Ray", "Head of purchasing"),
                                 ("Cy", "Young", "CEO"), ("Dana", "Scully", "Agent")):
            seed.admin.create("contacts", {"firstName": first, "lastName": last,
                                           "jobTitle": job})
        for subject in ("Call Bob about the renewal", "Send the offer"):
            seed.admin.create("tasks", {"subject": subject},
                              {"status": "open", "taskPriority": "normal"})
    with spawned_server(db, user="admin", api_key=API_KEY) as url:
        yield url


def test_every_window_fits_the_screen(desktop, tmp_path, crm_with_data):
    home = tmp_path / "home"
    with Client(home) as client:
        settings = client.settings
        settings.url, settings.user = crm_with_data, "admin"
        client.save_settings(settings)
        # A local contact the CRM will refuse: the popover shows the problem by name.
        client.store.add("contacts", {"first_name": "Zed", "last_name": "Bad-Mail",
                                      "emails": ["zed-at-example"]})
    env = desktop.env
    env.update(QT_QPA_PLATFORM="xcb", TRAY_CLIENT_API_KEY=API_KEY,
               XDG_CONFIG_HOME=str(tmp_path / "xdg"), LANG="en_GB.UTF-8")
    env.pop("TRAY_CLIENT_HOME", None)
    log = open(tmp_path / "app.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "tray_client", "--home", str(home)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    from tray_client.gui.single_instance import send_command, server_name

    with Client(home) as client:
        name = server_name(client.paths.data_dir)

    def command(text: str) -> None:
        assert _wait(lambda: send_command(name, text), 20, f"the app to take {text!r}")

    def finished_runs():
        with Client(home) as c:
            runs = c.reports(5)
        return runs if runs and all(r.finished_at for r in runs) else None

    try:
        x, y, w, h = _wait(lambda: tray_icon(desktop), 30, "the tray icon")
        _wait(finished_runs, 60, "the start-up sync")

        desktop.run("xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "3")
        time.sleep(1.0)
        shoot(desktop, "e2e-tray-menu.png")
        desktop.run("xdotool", "key", "Escape")
        time.sleep(0.5)

        desktop.run("xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
        # By its own title: the tray menu, tooltips and the icon all carry the app's name.
        popover = window(desktop, "CRM Tray Client — Status")
        assert popover[3] == 380          # the fixed width
        shoot(desktop, "e2e-status-popover.png")
        desktop.run("xdotool", "key", "Escape")
        time.sleep(0.5)

        command("settings")
        settings_id = window(desktop, "CRM Tray Client — Settings")[0]
        shoot(desktop, "e2e-settings-connection.png")
        for tab in ("sync", "server", "rules", "mapping"):
            key(desktop, settings_id, "ctrl+Tab")
            shoot(desktop, f"e2e-settings-{tab}.png")
        key(desktop, settings_id, "Escape")
        time.sleep(0.5)

        command("panel")
        panel_id = window(desktop, "CRM Side Panel")[0]
        shoot(desktop, "e2e-side-panel.png")
        click(desktop, panel_id, 38, 21)                 # Create ▾ …
        key(desktop, panel_id, "Down", "Return")         # … → Lead
        form_id = window(desktop, "Create Lead")[0]
        shoot(desktop, "e2e-create-lead.png")
        key(desktop, form_id, "Escape")
        time.sleep(0.5)
        unmap(desktop, panel_id)

        command("report")
        report_id = window(desktop, "Sync Report")[0]
        shoot(desktop, "e2e-report-runs.png")
        for tab in ("per-day", "conflicts", "queue"):
            key(desktop, report_id, "ctrl+Tab")
            time.sleep(1.0 if tab == "queue" else 0.2)
            shoot(desktop, f"e2e-report-{tab}.png")
        unmap(desktop, report_id)

        command("items")
        items_id = window(desktop, "Local Items")[0]
        shoot(desktop, "e2e-local-items.png")
        key(desktop, items_id, "ctrl+n")                 # New… (of the contacts tab shown)
        editor_id = window(desktop, "New contact")[0]
        shoot(desktop, "e2e-contact-editor.png")
        key(desktop, editor_id, "Escape")
        unmap(desktop, items_id)

        command("quit")
        assert proc.wait(timeout=30) == 0
    finally:
        _stop(proc)
        log.close()
