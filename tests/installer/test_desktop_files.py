"""The Linux desktop files validate and agree with each other."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

LINUX = Path(__file__).resolve().parents[2] / "resources" / "linux"
DESKTOP = LINUX / "tray-client.desktop"
METAINFO = LINUX / "io.github.trayclient.TrayClient.metainfo.xml"
ICON = LINUX / "tray-client.svg"


def desktop_keys(path: Path) -> dict[str, str]:
    keys = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys[key] = value
    return keys


def test_desktop_entry_validates():
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate not installed (Debian: desktop-file-utils)")
    result = subprocess.run([validator, str(DESKTOP)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_metainfo_validates():
    appstreamcli = shutil.which("appstreamcli")
    if appstreamcli is None:
        pytest.skip("appstreamcli not installed (Debian: appstream)")
    result = subprocess.run([appstreamcli, "validate", "--no-net", str(METAINFO)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # Errors and warnings fail the validation; infos are tolerated (older appstreamcli
    # does not know the newer <developer> tag).
    assert "W:" not in result.stdout and "E:" not in result.stdout, result.stdout


def test_desktop_entry_and_metainfo_agree():
    keys = desktop_keys(DESKTOP)
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("icon") == keys["Icon"] == ICON.stem
    assert root.findtext("name") == keys["Name"]
    assert root.findtext("provides/binary") == keys["Exec"].split()[0] == "tray-client"


def test_app_icon_is_a_square_svg():
    root = ET.parse(ICON).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    _x, _y, width, height = (float(v) for v in root.attrib["viewBox"].split())
    assert width == height > 0
