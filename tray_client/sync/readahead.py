"""Read ahead: iterate a slow source (the CRM's page walk) on a thread of its own, so the next
pages are fetched while the sync engine writes the records already read.

The engine's pull is a chain of page requests, each waiting on the server, followed by local
writes for every record; one thread would do them one after the other. ``read_ahead`` lets a
helper thread walk the source into a small bounded queue (so memory stays flat however large
the CRM is) while the caller consumes it. Only the helper touches the source; the caller sees
the same items in the same order, and an exception of the source is raised to the caller at
the place it occurred, after the items read before it. Leaving the loop early (an error, a
cancelled sync) stops the helper and waits for it, so no request outlives the walk.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(source: Iterable[T], *, chunk: int = 250, chunks: int = 8,
               light: Callable[[T], bool] | None = None,
               light_chunks: int = 0) -> Generator[T, None, None]:
    """Yield the items of ``source``, read by a helper thread up to ``chunk * chunks``
    items ahead of the caller; chunks of ``light`` items (by their first item) have a
    bound of their own, ``light_chunks``, so a source of small items may be read further
    ahead than one of large items, and both may wait at once (for a little while)."""
    slots: queue.Queue[Any] = queue.Queue()
    room = threading.Condition()
    stop = threading.Event()
    held = [0, 0]   # chunks queued: of other items, of light ones

    def put(value: Any, kind: int = 0) -> bool:
        bound = light_chunks if kind else chunks
        with room:
            while held[kind] >= bound:
                if stop.is_set():
                    return False
                room.wait(0.1)
            if stop.is_set():
                return False
            held[kind] += 1
        slots.put((value, kind))
        return True

    def kind_of(buffer: list[T]) -> int:
        return 1 if light is not None and light(buffer[0]) else 0

    def produce() -> None:
        iterator = iter(source)
        buffer: list[T] = []
        try:
            for item in iterator:
                buffer.append(item)
                if len(buffer) >= chunk:
                    if not put(buffer, kind_of(buffer)):
                        return
                    buffer = []
            if buffer and not put(buffer, kind_of(buffer)):
                return
            put(_END)
        except BaseException as exc:  # raised in the caller, after the items before it
            if not buffer or put(buffer):
                put(_Failure(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    helper = threading.Thread(target=produce, name="crm-read-ahead", daemon=True)
    helper.start()
    try:
        while True:
            value, kind = slots.get()
            with room:
                held[kind] -= 1
                room.notify()
            if value is _END:
                return
            if isinstance(value, _Failure):
                raise value.exc
            yield from value
    finally:
        stop.set()
        helper.join()
