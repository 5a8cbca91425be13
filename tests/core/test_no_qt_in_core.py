"""The core never imports Qt: only tray_client.gui may."""

import subprocess
import sys

CORE_MODULES = [
    "tray_client.client", "tray_client.cli.main", "tray_client.crm", "tray_client.store",
    "tray_client.sync", "tray_client.devserver.cli", "tray_client.settings",
    "tray_client.credentials", "tray_client.paths", "tray_client.errors", "tray_client.demo",
]


def test_core_modules_import_no_pyside6():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported Qt modules: {out.stdout.strip()}"


def test_devserver_imports_nothing_of_the_client():
    code = (
        "import sys, tray_client.devserver.cli, tray_client.devserver.app\n"
        "bad = sorted(m for m in sys.modules if m.startswith('tray_client.')\n"
        "             and not m.startswith('tray_client.devserver'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"devserver imported client modules: {out.stdout.strip()}"
