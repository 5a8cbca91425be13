"""The mapping rows: which field of a CRM record maps to which field of a local item.

``ROWS[entity]`` are the defaults (docs/sync-rules.md, "Mapping"); ``effective_rows``
applies the user's overrides; ``key_rows`` / ``record_key`` give the key a record is matched
by when it has no link. ``Canonical`` is the one form both sides are compared in
(``mapping``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..settings import DEFAULT_RULE_KEYS, RowDirection, Settings

ENTITIES = ("contacts", "tasks", "events")

# Entity name on the local side -> JSON:API type on the CRM side.
CRM_TYPES = {"contacts": "contacts", "tasks": "tasks", "events": "calendarevents"}

DIRECTIONS = tuple(RowDirection)

Canonical = dict[str, Any]
# country alpha-2 code -> the region codes the CRM has for it (empty: none)
Regions = Callable[[str], frozenset[str]]


class MappingError(ValueError):
    """A value on one side cannot be mapped (malformed date, unknown status ...)."""


@dataclass(frozen=True)
class MappingRow:
    """One default mapping row. ``name`` is the canonical key."""

    name: str
    crm_field: str            # CRM attribute or relationship name (key fields use these)
    local_field: str
    description: str
    kind: str                 # text | emails | phone | date | gender | address | enum | when | bool
    default_enabled: bool = True
    default_direction: str = RowDirection.TWO_WAY
    address_type: str | None = None   # billing | shipping | None (no type), for kind=address
    enum_type: str | None = None      # JSON:API type of the enum, for kind=enum


@dataclass(frozen=True)
class EffectiveRow:
    """A row after the user's overrides."""

    row: MappingRow
    enabled: bool
    direction: str

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def to_local(self) -> bool:
        """Whether later syncs may write this field on the local side."""
        return self.enabled and self.direction in (RowDirection.CRM_TO_LOCAL, RowDirection.TWO_WAY)

    @property
    def to_crm(self) -> bool:
        """Whether later syncs may write this field on the CRM side."""
        return self.enabled and self.direction in (RowDirection.LOCAL_TO_CRM, RowDirection.TWO_WAY)


ROWS: dict[str, tuple[MappingRow, ...]] = {
    "contacts": (
        MappingRow("first_name", "firstName", "first_name", "First Name", "text"),
        MappingRow("middle_name", "middleName", "middle_name", "Middle Name", "text"),
        MappingRow("last_name", "lastName", "last_name", "Last Name", "text"),
        MappingRow("suffix", "nameSuffix", "suffix", "Name Suffix", "text"),
        MappingRow("notes", "description", "notes", "Description ↔ notes", "text"),
        MappingRow("emails", "emails", "emails", "All e-mail addresses", "emails"),
        MappingRow("primary_phone", "phones", "primary_phone",
                   "The primary CRM phone (else the first) ↔ primary phone", "phone"),
        MappingRow("job_title", "jobTitle", "job_title", "Job Title", "text"),
        MappingRow("birthday", "birthday", "birthday",
                   "Birthday (only while Sync birthdays is on)", "date"),
        MappingRow("gender", "gender", "gender", "Gender", "gender"),
        MappingRow("business_fax", "fax", "business_fax", "Fax ↔ business fax", "text"),
        MappingRow("business_address", "addresses", "business_address",
                   "Address of type billing ↔ business address", "address",
                   address_type="billing"),
        MappingRow("home_address", "addresses", "home_address",
                   "Address of type shipping ↔ home address", "address",
                   address_type="shipping"),
        MappingRow("other_address", "addresses", "other_address",
                   "Address with no type ↔ other address", "address", address_type=None),
    ),
    "tasks": (
        MappingRow("subject", "subject", "subject", "Subject", "text"),
        MappingRow("priority", "taskPriority", "priority", "Priority (low/normal/high)", "enum",
                   enum_type="taskpriorities"),
        MappingRow("due_date", "dueDate", "due_date", "Due Date (date and time)", "datetime"),
        MappingRow("status", "status", "status",
                   "Status (open↔not started, in progress, closed↔completed)", "enum",
                   enum_type="taskstatuses"),
        # Not in the seed's table: off by default so nothing the seed does not map is touched.
        MappingRow("notes", "description", "notes", "Description ↔ notes", "text",
                   default_enabled=False),
    ),
    "events": (
        MappingRow("subject", "title", "subject", "Title ↔ subject", "text"),
        MappingRow("start", "start", "start", "Start time", "when"),
        MappingRow("end", "end", "end", "End time", "when"),
        MappingRow("all_day", "allDay", "all_day", "All-day event", "bool"),
        # Issue 14: description ↔ notes is part of the events mapping (Oro has no location:
        # the local location stays local).
        MappingRow("notes", "description", "notes", "Description ↔ notes", "text"),
    ),
}

# Local status vocabulary -> the CRM's (docs/sync-rules.md, "Mapping"); compare in the CRM's.
STATUS_TO_CRM = {"not_started": "open", "in_progress": "in_progress", "completed": "closed",
                 "waiting": "in_progress", "deferred": "in_progress"}
STATUS_TO_LOCAL = {"open": "not_started", "in_progress": "in_progress", "closed": "completed"}
PRIORITIES = ("low", "normal", "high")
# A task always has a priority and a status, in Outlook as in the CRM: an empty one is the
# default (Normal, Not Started), so that a task without one matches by key and never bounces.
DEFAULT_PRIORITY, DEFAULT_STATUS = "normal", "open"


def rows_for(entity: str) -> tuple[MappingRow, ...]:
    """The default rows of ``entity`` (raises KeyError for an unknown entity)."""
    return ROWS[entity]


def effective_rows(entity: str, settings: Settings) -> list[EffectiveRow]:
    """Rows of ``entity`` with the user's overrides applied.

    Birthday is enabled only while ``settings.sync_birthdays`` is on (and its override, if any,
    enables it too).
    """
    overrides = settings.mapping.get(entity, {})
    result: list[EffectiveRow] = []
    for row in ROWS[entity]:
        enabled, direction = row.default_enabled, row.default_direction
        if row.name in overrides:
            enabled = overrides[row.name].enabled
            direction = overrides[row.name].direction
        if direction not in DIRECTIONS:
            direction = row.default_direction
        if entity == "contacts" and row.name == "birthday" and not settings.sync_birthdays:
            enabled = False
        result.append(EffectiveRow(row, enabled, direction))
    return result


# -- keys ------------------------------------------------------------------------------------

DEFAULT_KEYS = DEFAULT_RULE_KEYS   # the seed's key fields per entity (settings.py)


def key_rows(entity: str, key_fields: Iterable[str], settings: Settings) -> list[str]:
    """Canonical row names for the configured key fields (CRM field names).

    Unknown names are ignored. Birthday is no part of the key while Sync Birthdays is on
    (docs/sync-rules.md, "Keys").
    """
    by_crm: dict[str, list[str]] = {}
    for row in ROWS[entity]:
        by_crm.setdefault(row.crm_field, []).append(row.name)
    result: list[str] = []
    for name in key_fields:
        name = name.strip()
        for row_name in by_crm.get(name, [r.name for r in ROWS[entity] if r.name == name]):
            if entity == "contacts" and row_name == "birthday" and settings.sync_birthdays:
                continue
            if row_name not in result:
                result.append(row_name)
    return result


def _key_part(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    if isinstance(value, list):
        return tuple(_key_part(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _key_part(v)) for k, v in value.items()))
    return value


def record_key(canonical: Canonical, rows: Sequence[str]) -> tuple[Any, ...] | None:
    """The normalised key of a canonical record, or ``None`` when every key field is empty
    (an empty key would match unrelated records)."""
    parts = []
    empty = True
    for name in rows:
        value = canonical.get(name)
        # _key_part, its usual cases inline (the same result)
        if value is None:
            part: Any = ""
        elif type(value) is str:
            part = " ".join(value.split()).casefold()
        else:
            part = _key_part(value)
        if empty and part not in ("", (), False):
            empty = False
        parts.append(part)
    return None if empty else tuple(parts)


def display_name(entity: str, canonical: Mapping[str, Any]) -> str:
    """A short human name for report rows."""
    if entity == "contacts":
        first, last = canonical.get("first_name"), canonical.get("last_name")
        if last == first:
            last = None
        # " ".join of the non-empty of the two
        name = f"{first} {last}" if first and last else (first or last or "")
        return name or (canonical.get("emails") or [""])[0] or canonical.get("primary_phone") or ""
    return canonical.get("subject") or ""
