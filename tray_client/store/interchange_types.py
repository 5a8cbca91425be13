"""A parsed import entry, before validation (shared by the vCard and iCalendar readers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_LINE = re.compile(r"([^\r\n]*)(?:\r\n|\n|\r|$)")


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


@dataclass(frozen=True)
class Skipped:
    """An entry of a kind the store does not hold (VJOURNAL, VFREEBUSY)."""

    index: int
