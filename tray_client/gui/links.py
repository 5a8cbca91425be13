"""Opening a CRM record's page in the browser, and saying so when no browser can.

``QDesktopServices.openUrl`` returns False when nothing could open the address (no browser,
no ``xdg-open``); a link that silently does nothing leaves the user guessing. ``open_link``
then copies the address to the clipboard and returns a message the caller shows where the
link was.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

Opener = Callable[[QUrl], bool]


def open_link(url: str, opener: Opener | None = None) -> str | None:
    """Open ``url``; None when a browser took it, else a message (the address is then on
    the clipboard)."""
    opened = (opener or QDesktopServices.openUrl)(QUrl(url))
    if opened:
        return None
    clipboard = QGuiApplication.clipboard()
    if clipboard is not None:
        clipboard.setText(url)
    return (f"No web browser could open {url}. The address is copied to the clipboard: "
            "paste it into a browser.")
