"""Writing files atomically: the one way the client writes a file it keeps.

A temporary file beside the target, flushed to disk and renamed over it: a crash or a full
disk leaves the old file or the new, never a torn one, and no temporary file is left behind.
Files with personal data (settings, exports, reports, state) are owner-only (0600), the
default; the autostart entry is the one file others may read (0644).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PRIVATE = 0o600


@contextmanager
def atomic_file(path: Path, mode: str = "w", *, permissions: int = PRIVATE,
                **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it is flushed to
    disk, given ``permissions`` and renamed over ``path``; on an exception it is removed and
    ``path`` is left as it was. OSError propagates for the caller to explain."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str, *, permissions: int = PRIVATE) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (``atomic_file``)."""
    with atomic_file(path, "w", permissions=permissions, encoding="utf-8") as out:
        out.write(text)
