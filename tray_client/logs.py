"""The log file, shared by the command line and the tray app.

It holds record names and server messages (personal data), so it is owner-only (0600), like
the settings and the store, from its first byte and after every rotation. It is rotated by
size: at most ``LOG_MAX_BYTES`` per file and ``LOG_BACKUPS`` older files (``.1`` … ``.3``),
about 4 MB in all. httpx logs one INFO line per request; it is kept at WARNING so the file
tells what the client did, not every request it made.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("httpx", "httpcore")


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are created owner-only (0600)."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.chmod(self.baseFilename, 0o600)   # a file from an older version was 0644
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def setup_file_logging(log_file: Path, level: int = logging.INFO) -> logging.Handler | None:
    """Log to ``log_file`` (rotated, 0600) at ``level``; httpx only from WARNING.

    Idempotent for one file (a second call adds no second handler). None when the file
    cannot be opened (logging is never a reason to fail).
    """
    root = logging.getLogger()
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    target = os.path.abspath(log_file)
    for existing in root.handlers:
        if isinstance(existing, PrivateRotatingFileHandler) and existing.baseFilename == target:
            return existing
    try:
        handler = PrivateRotatingFileHandler(log_file, maxBytes=LOG_MAX_BYTES,
                                             backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    return handler
