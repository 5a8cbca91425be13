"""Reading and writing interchange files: detection by content (then extension), decoding,
atomic writes. The formats themselves are in ``vcard`` (contacts) and ``ical`` (events,
tasks)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InterchangeError
from .ical import offsets_of, read_icalendar, write_icalendar
from .interchange_types import Record, Skipped, content_lines
from .model import ImportProblem, Item
from .vcard import read_vcards, write_vcards

EXTENSIONS: dict[str, tuple[str, ...]] = {
    "contacts": (".vcf", ".vcard"),
    "events": (".ics", ".ical", ".ifb"),
    "tasks": (".ics", ".ical"),
}


Entry = Record | ImportProblem | Skipped


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Old vCard 2.1 exports are often Windows-1252; latin-1 never fails as last resort.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def detect_format(text: str, path: Path) -> str:
    """``vcard`` or ``icalendar``, from the first content line, else the extension.
    Raises InterchangeError when it is neither."""
    for line in content_lines(text):
        token = line.strip().upper()
        if not token:
            continue
        if token == "BEGIN:VCARD":
            return "vcard"
        if token == "BEGIN:VCALENDAR":
            return "icalendar"
        break
    suffix = path.suffix.lower()
    if not text.strip():
        raise InterchangeError(f"{path.name} is empty.", title="Nothing to import")
    kind = ("vcard" if suffix in EXTENSIONS["contacts"] else
            "icalendar" if suffix in EXTENSIONS["events"] else None)
    if kind is None:
        raise InterchangeError(f"{path.name} is neither a vCard (.vcf) nor an iCalendar (.ics) "
                               "file.", title="Unknown file type")
    return kind


def read_file(path: Path) -> Iterator[Entry]:
    """Read ``path`` and return an iterator over its entries (Record, ImportProblem or
    Skipped, in file order). Raises InterchangeError for an unreadable or unknown file (the
    iterator may raise it too, for a vCard file without any card)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InterchangeError(f"Cannot read {path}: {exc.strerror or exc}.",
                               title="Cannot read the file") from exc
    text = _decode(data)
    del data
    if detect_format(text, path) == "vcard":
        return read_vcards(text)
    return read_icalendar(text)


def write_file(entity: str, items: Iterable[Item], path: Path) -> int:
    """Write ``items`` of ``entity`` to ``path`` atomically (temp file + rename); return the
    count. Raises InterchangeError when the file cannot be written."""
    counter = _Counter(items)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    except OSError as exc:
        raise InterchangeError(f"Cannot write {path}: {exc.strerror or exc}.",
                               title="Cannot write the file") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            if entity == "contacts":
                for card in write_vcards(counter):
                    out.write(card.encode("utf-8"))
            else:
                offsets = set()
                if entity == "events":
                    # VTIMEZONEs go first, so the events are read twice: keep them.
                    kept = list(counter)
                    offsets = offsets_of(kept)
                    source: Iterable[Item] = kept
                else:
                    source = counter
                for chunk in write_icalendar(entity, source, offsets):
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise InterchangeError(f"Cannot write {path}: {exc.strerror or exc}.",
                               title="Cannot write the file") from exc
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return counter.count


class _Counter:
    """Passes items through once, counting them."""

    def __init__(self, items: Iterable[Item]) -> None:
        self._items = items
        self.count = 0

    def __iter__(self) -> Iterator[Item]:
        for item in self._items:
            self.count += 1
            yield item
