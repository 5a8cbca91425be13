"""A parsed import entry, before validation (shared by the vCard and iCalendar readers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Record:
    """One entry read from a file: raw local fields, validated when it is stored."""

    index: int              # 1-based position in the file (for problem reports)
    name: str               # what the entry calls itself (FN, SUMMARY), or ""
    entity: str             # contacts | tasks | events
    fields: dict[str, Any]
    crm_id: str | None      # X-CRM-ID, used only when the import keeps CRM ids
