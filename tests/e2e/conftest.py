"""End-to-end fixtures: a private X server (Xvfb) with a tray host (trayer).

Every test here is marked ``xvfb`` and skipped, with the reason, when Xvfb, trayer, xdotool,
xwininfo or ImageMagick's ``import`` is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = ("Xvfb", "trayer", "xdotool", "xwininfo", "import")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREEN = (1366, 768)   # a common laptop screen: every window must fit it


def pytest_collection_modifyitems(config, items):
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    for item in items:
        if "tests/e2e" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.xvfb)
            if missing:
                item.add_marker(pytest.mark.skip(
                    reason=f"end-to-end tray tests need {', '.join(missing)} (not installed)"))


@dataclass
class Desktop:
    display: str
    tray_window: str   # trayer's "panel" window id

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        return env

    def run(self, *argv: str) -> str:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True,
                              timeout=20, check=True).stdout

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        self.run("import", "-window", "root", str(path))
        return path


def _free_display() -> int:
    for number in range(70, 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and \
                not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number")


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def desktop() -> Iterator[Desktop]:
    """Xvfb on a free display plus trayer docked at the top right."""
    number = _free_display()
    display = f":{number}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trayer = None
    try:
        _wait(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), 10, "Xvfb")
        env = dict(os.environ, DISPLAY=display)
        trayer = subprocess.Popen(
            ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
             "--height", "28", "--transparent", "false", "--tint", "0xd0d0d0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def panel() -> str | None:
            out = subprocess.run(["xwininfo", "-root", "-children"], env=env,
                                 capture_output=True, text=True, check=False).stdout
            for line in out.splitlines():
                if '"panel"' in line and "trayer" in line:
                    return line.split()[0]
            return None

        yield Desktop(display, _wait(panel, 10, "trayer's panel"))
    finally:
        if trayer is not None:
            _stop(trayer)
        _stop(xvfb)
