"""Showing text we did not write (CRM record names, server messages, mail headers) literally.

Qt guesses: a QLabel, QMessageBox, tooltip or tray message whose text *looks* like HTML is
rendered as HTML, so a record named ``<img src=…>`` or ``<a href=…>`` would render (and load)
instead of showing its name. Every widget that shows such text goes through this module:

- ``plain_label(text)`` / ``make_plain(label)``: a QLabel that never renders markup;
- ``message_box(...)``: a QMessageBox whose text is plain;
- ``tooltip(text)``: a tooltip string that shows ``text`` as written (tooltips cannot be
  told "plain", so the text is escaped inside an explicit rich-text tooltip);
- ``notification(text)``: text for a tray notification (desktop notification servers read
  a small HTML subset: ``<``, ``>`` and ``&`` are escaped when the text has markup);
- ``link(url, name)``: an ``<a>`` whose visible text is ``name``, escaped; ``escape(text)``
  for the text around it.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


def make_plain(label: QLabel) -> QLabel:
    """Make ``label`` show its text as written, whatever it contains; returns it."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_label(text: str = "", parent: QWidget | None = None, *, wrap: bool = False,
                selectable: bool = False) -> QLabel:
    """A QLabel that never renders markup (``wrap``: word wrap; ``selectable``: by mouse)."""
    label = make_plain(QLabel(parent))
    label.setText(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def message_box(icon: QMessageBox.Icon, title: str, text: str,
                buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok,
                parent: QWidget | None = None) -> QMessageBox:
    """A QMessageBox whose title and text are shown as written."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    return box


def tooltip(text: str) -> str:
    """A tooltip showing ``text`` literally (line breaks kept)."""
    return "<qt>" + html.escape(text, quote=False).replace("\n", "<br>") + "</qt>"


def notification(text: str) -> str:
    """``text`` for a tray notification: escaped when it holds markup characters."""
    if any(c in text for c in "<>&"):
        return html.escape(text, quote=False)
    return text


def escape(text: str) -> str:
    """``text`` as rich text that shows it as written."""
    return html.escape(text, quote=False)


def link(url: str, name: str) -> str:
    """Rich text for a label with ``setOpenExternalLinks``: ``name`` linked to ``url``."""
    return f'<a href="{html.escape(url)}">{html.escape(name)}</a>'
