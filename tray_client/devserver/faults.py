"""Fault injection for tests: answer some requests with an error, late, or not at all."""

from __future__ import annotations

import threading
from dataclasses import dataclass

KINDS = ("status", "delay", "drop", "truncate")


@dataclass
class Fault:
    """One armed fault.

    ``kind``: ``status`` answers ``status`` (with ``Retry-After`` when given), ``delay``
    sleeps ``delay`` seconds and then answers normally, ``drop`` closes the connection
    without an answer, ``truncate`` answers normally but sends only the first half of the
    body (with a Content-Length that matches it, as a proxy that gave up would). ``times`` is how
    many matching requests it hits (None: until cleared); ``method`` limits it to one HTTP method.
    """

    path_prefix: str
    kind: str = "status"
    status: int = 500
    delay: float = 0.0
    times: int | None = 1
    retry_after: int | None = None
    method: str | None = None


class FaultRegistry:
    """Armed faults, consulted by the app before anything else (like a flaky proxy)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Arm a fault (ValueError for an unknown kind or a non-positive count)."""
        if fault.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {KINDS}")
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be at least 1 (or None for always)")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, counted as used; None when none does."""
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix) and (
                    fault.method is None or fault.method.upper() == method.upper()
                ):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None
