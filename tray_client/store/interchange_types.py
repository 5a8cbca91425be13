"""A parsed import entry, before validation (shared by the vCard and iCalendar readers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\n|\r")


def content_lines(text: str) -> list[str]:
    """Split at the line breaks vCard and iCalendar use (CRLF, also LF or CR), not at the
    other characters ``str.splitlines`` breaks on (U+2028, form feed, …), which may be
    part of a value."""
    return _LINE_BREAK.split(text)


@dataclass
class Record:
    """One entry read from a file: raw local fields, validated when it is stored."""

    index: int              # 1-based position in the file (for problem reports)
    name: str               # what the entry calls itself (FN, SUMMARY), or ""
    entity: str             # contacts | tasks | events
    fields: dict[str, Any]
    crm_id: str | None      # X-CRM-ID, used only when the import keeps CRM ids
