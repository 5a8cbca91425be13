"""The wheel carries the tray icons, and the package finds them when run from it.

The icons live in the top-level ``resources/icons/``; setup.py's ``build_py`` copies them
into the wheel as ``tray_client/resources/icons/``. The wheel is built from a copy of the
checkout in a temporary folder, so the build's ``build/`` and ``*.egg-info`` never land in
the repository and parallel runs do not share them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
ICONS = ROOT / "resources" / "icons"

pytestmark = pytest.mark.slow


def copy_checkout(target: Path) -> None:
    """Copy the checkout's files (tracked, and new ones git does not ignore) to ``target``."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=False)
    if listing.returncode != 0:  # not a git checkout (an unpacked sdist): copy the sources
        # ``target`` exists already (the caller's temporary folder).
        shutil.copytree(ROOT, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".*", "build", "dist", "*.egg-info", "__pycache__", "test-artifacts"))
        return
    for name in listing.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():  # tracked files deleted in the work tree are skipped
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def can_build_without_isolation() -> bool:
    """Whether this interpreter meets pyproject.toml's build requirements by itself."""
    import setuptools

    version = Version(setuptools.__version__)
    has_bdist_wheel = version >= Version("70.1") or importlib.util.find_spec("wheel") is not None
    return version >= Version("68") and has_bdist_wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("checkout")
    dist = tmp_path_factory.mktemp("dist")
    copy_checkout(source)
    # Without the build requirements at hand (a fresh venv has an older setuptools and no
    # `wheel`), pip fetches them into an isolated build environment from the package index.
    isolation = ["--no-build-isolation"] if can_build_without_isolation() else []
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", str(dist),
         str(source)],
        capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    (path,) = dist.glob("tray_client-*.whl")
    return path


def test_wheel_lists_every_icon(wheel):
    expected = sorted(f"tray_client/resources/icons/{icon.name}" for icon in ICONS.glob("*.svg"))
    assert expected, f"no icons in {ICONS}"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert sorted(n for n in names if n.startswith("tray_client/resources/icons/")) == expected
    assert not any(n.startswith("resources/") for n in names), "top-level resources/ in wheel"


def test_icons_dir_resolves_inside_the_unpacked_wheel(wheel, tmp_path):
    unpacked = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    program = (
        "import json, tray_client\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "from tray_client.gui.icons import STATE_ICON_FILES, icon_for, icons_dir\n"
        "app = QGuiApplication([])\n"
        "for state in STATE_ICON_FILES: icon_for(state)\n"
        "print(json.dumps({'package': tray_client.__file__, 'icons_dir': str(icons_dir()),\n"
        "                  'files': sorted(STATE_ICON_FILES.values())}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(unpacked), "QT_QPA_PLATFORM": "offscreen"}
    # Run outside the checkout, so the repository's resources/ cannot be the one found.
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(found["package"]).is_relative_to(unpacked)
    icons_dir = Path(found["icons_dir"])
    assert icons_dir == unpacked / "tray_client" / "resources" / "icons"
    assert found["files"]
    assert all((icons_dir / name).is_file() for name in found["files"])
