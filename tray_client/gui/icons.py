"""State → icon table. The SVGs live in ``resources/icons/`` (one per TrayState)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

from .state import TrayState


def icons_dir() -> Path:
    """The folder holding the state SVGs.

    Looked up inside the package first, as ``tray_client/resources/icons``: a wheel's build
    (setup.py) and the PyInstaller build copy the top-level ``resources/icons`` there. Then
    at the checkout's ``resources/icons`` (a source tree or an editable install).
    """
    package_root = Path(__file__).resolve().parent.parent
    for candidate in (package_root / "resources" / "icons",
                      package_root.parent / "resources" / "icons"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("resources/icons not found beside the tray_client package")


STATE_ICON_FILES: dict[TrayState, str] = {state: f"{state.value}.svg" for state in TrayState}


@cache
def icon_for(state: TrayState) -> QIcon:
    """The QIcon for ``state`` (cached: the tray swaps between a handful of icons)."""
    path = icons_dir() / STATE_ICON_FILES[state]
    icon = QIcon(str(path))
    if icon.isNull():
        raise FileNotFoundError(f"icon {path} could not be loaded")
    return icon
