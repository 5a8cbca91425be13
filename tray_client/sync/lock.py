"""One sync per store, across processes (the CLI and the tray app may both run).

An OS advisory lock on a small file beside the store (``fcntl.flock`` on POSIX, ``msvcrt``
on Windows). The OS drops the lock when the process dies, so a killed sync never leaves a
stale lock behind. Within one process, a second ``SyncLock`` on the same file is refused
too (flock locks are per open file, so two threads would otherwise both get one).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from ..errors import SyncBusyError

BUSY_MESSAGE = ("Another sync of this local store is running (in this or another program). "
                "Try again when it has finished.")

_held_lock = threading.Lock()
_held: set[str] = set()   # resolved paths locked by this process


def _try_lock(fd: int) -> bool:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


class SyncLock:
    """Context manager: hold the sync lock of ``path`` or raise SyncBusyError.

    ``wait``: seconds to keep trying before giving up (0: fail at once).
    """

    def __init__(self, path: str | Path, *, wait: float = 0.0, poll: float = 0.05) -> None:
        self.path = Path(path)
        self.wait = max(0.0, wait)
        self.poll = poll
        self._fd: int | None = None
        self._key = str(self.path.resolve())

    def acquire(self) -> None:
        """Take the lock (raises SyncBusyError when another sync holds it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait
        while True:
            if self._try_acquire():
                return
            if time.monotonic() >= deadline:
                raise SyncBusyError(BUSY_MESSAGE)
            time.sleep(self.poll)

    def _try_acquire(self) -> bool:
        with _held_lock:
            if self._key in _held:
                return False
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if not _try_lock(fd):
                os.close(fd)
                return False
            _held.add(self._key)
            self._fd = fd
            # For a human looking at the file: which process holds it.
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return True

    def release(self) -> None:
        with _held_lock:
            if self._fd is None:
                return
            try:
                _unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None
                _held.discard(self._key)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
