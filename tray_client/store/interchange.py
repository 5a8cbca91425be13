"""Reading and writing interchange files: detection by content (then extension), decoding,
atomic writes. The formats themselves are in ``vcard`` (contacts) and ``ical`` (events,
tasks)."""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InterchangeError
from ..files import atomic_file
from .ical import offsets_of, read_icalendar, write_icalendar
from .interchange_types import MAX_ENTRY_CHARS, MAX_IMPORT_BYTES, Record, Skipped
from .model import ImportProblem, Item
from .vcard import read_vcards, write_vcards

EXTENSIONS: dict[str, tuple[str, ...]] = {
    "contacts": (".vcf", ".vcard"),
    "events": (".ics", ".ical", ".ifb"),
    "tasks": (".ics", ".ical"),
}


Entry = Record | ImportProblem | Skipped


def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) if the whole file decodes as such; else Windows-1252
    (old vCard 2.1 exports); else latin-1, which never fails. Read in chunks."""
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as raw:
                while chunk := raw.read(1 << 16):
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def _lines(path: Path, encoding: str) -> Iterator[str]:
    """The file's content lines (split at CR, LF or CRLF), lazily. A line longer than any
    entry may be is cut at that length (the rest is read past, never kept): its entry is
    then refused as too large."""
    limit = MAX_ENTRY_CHARS + 1
    with path.open(encoding=encoding, newline="") as text:
        while line := text.readline(limit):
            if len(line) == limit and line[-1] not in "\r\n":
                while (rest := text.readline(limit)) and rest[-1] not in "\r\n":
                    pass
            yield line.rstrip("\r\n")


def detect_format(first_line: str | None, path: Path) -> str:
    """``vcard`` or ``icalendar``, from the first non-blank content line, else the
    extension. Raises InterchangeError when it is neither."""
    token = (first_line or "").strip().upper()
    if token == "BEGIN:VCARD":
        return "vcard"
    if token == "BEGIN:VCALENDAR":
        return "icalendar"
    suffix = path.suffix.lower()
    if first_line is None:
        raise InterchangeError(f"{path.name} is empty.", title="Nothing to import")
    kind = ("vcard" if suffix in EXTENSIONS["contacts"] else
            "icalendar" if suffix in EXTENSIONS["events"] else None)
    if kind is None:
        raise InterchangeError(f"{path.name} is neither a vCard (.vcf) nor an iCalendar (.ics) "
                               "file.", title="Unknown file type")
    return kind


def read_file(path: Path) -> Iterator[Entry]:
    """Read ``path`` and return an iterator over its entries (Record, ImportProblem or
    Skipped, in file order), reading the file line by line. Raises InterchangeError for an
    unreadable, too large or unknown file (the iterator may raise it too, for a vCard file
    without any card)."""
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise InterchangeError(
                f"{path.name} is {size / 1024 / 1024:.0f} MB; an import file may be at most "
                f"{MAX_IMPORT_BYTES // 1024 // 1024} MB. Split it into smaller files.",
                title="File too large")
        lines = _lines(path, _encoding(path))
        head: list[str] = []
        for line in lines:
            head.append(line)
            if line.strip():
                break
    except OSError as exc:
        raise InterchangeError(f"Cannot read {path}: {exc.strerror or exc}.",
                               title="Cannot read the file") from exc
    first = head[-1] if head and head[-1].strip() else None
    everything = itertools.chain(head, lines)
    if detect_format(first, path) == "vcard":
        return read_vcards(everything)
    return read_icalendar(everything)


def write_file(entity: str, items: Iterable[Item], path: Path) -> int:
    """Write ``items`` of ``entity`` to ``path`` atomically (temp file + rename); return the
    count. Raises InterchangeError when the file cannot be written."""
    counter = _Counter(items)
    try:
        with atomic_file(path, "wb") as out:
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
    except OSError as exc:
        raise InterchangeError(f"Cannot write {path}: {exc.strerror or exc}.",
                               title="Cannot write the file") from exc
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
