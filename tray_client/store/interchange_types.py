"""A parsed import entry, before validation, and the size caps of an import (shared by the
vCard and iCalendar readers).

Caps (vCard/iCalendar parsers take ~150 bytes of memory per byte they parse, so nothing
unbounded reaches them): a file of at most ``MAX_IMPORT_BYTES`` is read line by line; one
entry (a card, an event, a task) may hold ``MAX_ENTRY_CHARS`` and one property
``MAX_FIELD_CHARS`` (the CRM's largest text column), else that entry is reported and
skipped unparsed. Properties the import never reads (photos, logos, sounds, keys,
attachments: often large base64) are dropped unparsed and do not count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_LINE = re.compile(r"([^\r\n]*)(?:\r\n|\n|\r|$)")

MAX_IMPORT_BYTES = 100 * 1024 * 1024
MAX_ENTRY_CHARS = 256 * 1024
MAX_FIELD_CHARS = 65_535
UNUSED_PROPERTIES = frozenset({"PHOTO", "LOGO", "SOUND", "KEY", "ATTACH"})


class EntryLines:
    """The content lines of one entry, collected under the caps: unused properties are
    dropped, and past a cap the lines are let go and ``problem`` says why."""

    def __init__(self, first: str) -> None:
        self.lines: list[str] = []
        self.problem: str | None = None
        self._size = 0
        self._field = 0
        self._name = ""
        self._skip = False
        self.add(first)

    def add(self, line: str) -> None:
        if self.problem is not None:
            return
        if line[:1] in (" ", "\t"):          # a folded continuation of the property above
            if self._skip:
                return
            self._field += len(line) - 1
        else:
            self._name = line.split(":", 1)[0].split(";", 1)[0].strip().upper()
            self._skip = self._name in UNUSED_PROPERTIES
            if self._skip:
                return
            self._field = len(line)
        if self._field > MAX_FIELD_CHARS:
            self._fail(f"its {self._name} is longer than {MAX_FIELD_CHARS:,} characters, the "
                       "most the CRM holds in one field.")
            return
        self._size += len(line) + 2
        if self._size > MAX_ENTRY_CHARS:
            self._fail(f"the entry is larger than {MAX_ENTRY_CHARS // 1024} KB (photos and "
                       "attachments not counted).")
            return
        self.lines.append(line)

    def _fail(self, problem: str) -> None:
        self.problem = problem
        self.lines = []


def content_lines(text: str) -> Iterator[str]:
    """The lines of ``text``, lazily, split at the line breaks vCard and iCalendar use (CRLF,
    also LF or CR), not at the other characters ``str.splitlines`` breaks on (U+2028, form
    feed, …), which may be part of a value."""
    for match in _LINE.finditer(text):
        yield match.group(1)


@dataclass
class Record:
    """One entry read from a file: raw local fields, validated when it is stored."""

    index: int              # 1-based position in the file (for problem reports)
    name: str               # what the entry calls itself (FN, SUMMARY), or ""
    entity: str             # contacts | tasks | events
    fields: dict[str, Any]
    crm_id: str | None      # X-CRM-ID, used only when the import keeps CRM ids
    # What the import changed or left out of this entry (a recurrence, an unknown zone).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """An entry of a kind the store does not hold (VJOURNAL, VFREEBUSY)."""

    index: int
