"""Field mapping between CRM resources and local items (DESIGN §5).

Both sides are turned into one *canonical* dict per record: mapping row name -> value, in the
CRM's vocabulary and normalised (trimmed strings, ``None`` for empty, dates ``YYYY-MM-DD``,
instants as UTC ``YYYY-MM-DDTHH:MM:SSZ``, task status open/in_progress/closed). The engine
compares, merges and stores bases only in this form, so a lossy mapping (task statuses, name
fallbacks) never causes a write back and forth.

Public surface:

- ``ROWS[entity]``: the default rows; ``effective_rows(entity, settings)`` applies the user's
  overrides (and *Sync Birthdays*).
- ``from_crm(entity, resource)`` / ``from_local(entity, fields)``: canonical dicts with every
  row (enabled or not; keys may use disabled rows).
- ``to_local(entity, canonical, names, current)``: the local field values to write.
- ``to_crm(entity, canonical, names, current, ...)``: a ``CrmWrite`` (attributes,
  relationships, included) touching only the named rows.
- ``record_key(entity, canonical, key_fields)``: the normalised key tuple, or ``None``.

Malformed values raise ``MappingError`` (a ``ValueError``); the engine reports the record and
retries it next run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import places
from ..settings import DEFAULT_RULE_KEYS, Settings

ENTITIES = ("contacts", "tasks", "events")

# Entity name on the local side -> JSON:API type on the CRM side.
CRM_TYPES = {"contacts": "contacts", "tasks": "tasks", "events": "calendarevents"}

DIRECTIONS = ("once", "crm_to_local", "local_to_crm", "two_way")

Canonical = dict[str, Any]
# country alpha-2 code -> the region codes the CRM has for it (empty: none)
Regions = Callable[[str], frozenset[str]]


class MappingError(ValueError):
    """A value on one side cannot be mapped (malformed date, unknown status ...)."""


@dataclass(frozen=True)
class MappingRow:
    """One default mapping row (DESIGN §5). ``name`` is the canonical key."""

    name: str
    crm_field: str            # CRM attribute or relationship name (key fields use these)
    local_field: str
    description: str
    kind: str                 # text | emails | phone | date | gender | address | enum | when | bool
    default_enabled: bool = True
    default_direction: str = "two_way"
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
        return self.enabled and self.direction in ("crm_to_local", "two_way")

    @property
    def to_crm(self) -> bool:
        """Whether later syncs may write this field on the CRM side."""
        return self.enabled and self.direction in ("local_to_crm", "two_way")


_ADDRESS_PARTS = ("street", "city", "postal_code", "region", "country")
# Address parts that are plain attributes on both sides; country and region are Oro
# relationships (``countries`` ISO 3166-1 alpha-2, ``regions`` ISO 3166-2) or ``customRegion``.
_ADDRESS_CRM = {"street": "street", "city": "city", "postal_code": "postalCode"}

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

# Local status vocabulary -> the CRM's (DESIGN §5); compare in the CRM's.
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


# -- normalisers ---------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, int, float)):
        raise MappingError(f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _date(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        if len(text) > 10:
            # A datetime where a date is expected (some Oro versions send dueDate so): its
            # calendar date as written, not shifted to UTC, is what the user entered.
            return dt.datetime.fromisoformat(text).date().isoformat()
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise MappingError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _instant(value: Any) -> str | None:
    """UTC instant ``YYYY-MM-DDTHH:MM:SSZ``; a value without offset is taken as UTC."""
    text = _text(value)
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{text!r} is not a date and time (ISO-8601)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _due_instant(value: Any) -> str | None:
    """A local task's due date as a UTC instant: a date-time as it is; a bare date is the
    start of that day here (Oro's ``dueDate`` is a date-time; its UI means local days)."""
    text = _text(value)
    if text is not None and len(text) == 10:
        day = _date(text)
        return None if day is None else _instant(
            _local_midnight(dt.date.fromisoformat(day)).isoformat())
    return _instant(text)


def _emails(values: Iterable[Any]) -> list[str]:
    result: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = _text(value)
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            result.append(text)
    return result


def _gender(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.lower()
    if text not in ("male", "female"):
        raise MappingError(f"gender must be male or female, not {text!r}")
    return text


def _address(parts: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not parts:
        return None
    result = {k: v for k in _ADDRESS_PARTS if (v := _text(parts.get(k))) is not None}
    return result or None


def _local_address(parts: Mapping[str, Any] | None, default_country: str) -> dict[str, str] | None:
    """A local address in canonical form: country as its alpha-2 code (the default country
    when none is given), region as its ISO 3166-2 code; text nobody knows stays text (the
    write refuses it then, per record: see ``_address_parts``)."""
    address = _address(parts)
    if address is None:
        return None
    typed = address.get("country")
    code = places.country_code(typed) if typed else (default_country or None)
    if code is not None:
        address["country"] = code
    region = address.get("region")
    if region is not None and code is not None:
        address["region"] = places.region_code(code, region) or region
    return address


def _crm_address(address: Any) -> dict[str, str] | None:
    """A CRM address in canonical form (its region relationship, else its customRegion)."""
    parts: dict[str, Any] = {k: address.attributes.get(crm) for k, crm in _ADDRESS_CRM.items()}
    parts["country"] = _ref_id(address.relationships.get("country"))
    parts["region"] = (_ref_id(address.relationships.get("region"))
                       or address.attributes.get("customRegion"))
    return _address(parts)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _name_fallback(canonical: Canonical) -> None:
    # DESIGN §5: no first name -> the last name is used for both; no last name -> the first.
    # Applied to both sides so that the canonical forms agree and nothing bounces.
    first, last = canonical.get("first_name"), canonical.get("last_name")
    if first is None and last is not None:
        canonical["first_name"] = last
    elif last is None and first is not None:
        canonical["last_name"] = first


def _event_times(canonical: Canonical, start: Any, end: Any, *, crm: bool = False) -> None:
    # All-day events are dates on both sides (an all-day event has no time zone); timed events
    # are UTC instants, so "10:00+01:00" locally equals "09:00Z" in the CRM.
    if canonical["all_day"]:
        day = _crm_all_day_date if crm else _date
        canonical["start"], canonical["end"] = day(start), day(end)
    else:
        canonical["start"], canonical["end"] = _instant(start), _instant(end)


def _local_midnight(day: dt.date) -> dt.datetime:
    """Midnight starting ``day`` in this computer's time zone (its offset on that date)."""
    return dt.datetime(day.year, day.month, day.day).astimezone()


def _crm_all_day_date(value: Any) -> str | None:
    """The date an all-day bound of the CRM stands for: the nearest midnight in this
    computer's time zone. Oro keeps all-day events as instants: its calendar writes the
    user's local 00:00 to 23:59 of the last day (inclusive, OroCalendarBundle
    ``all-day-view.js``); other writers use midnight UTC. Rounding to the nearest local
    midnight reads both as the day meant (23:59 → the next day: the local end is exclusive,
    as in iCalendar) for any offset up to ±12 h."""
    text = _text(value)
    if text is None or len(text) <= 10:
        return _date(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{text!r} is not a date and time (ISO-8601)") from None
    local = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone()
    day = local.date() + dt.timedelta(days=1 if local.hour >= 12 else 0)
    return day.isoformat()


# -- CRM -> canonical ------------------------------------------------------------------------

def _ref_id(ref: Any) -> str | None:
    if ref is None:
        return None
    if isinstance(ref, list):
        return _ref_id(ref[0]) if ref else None
    return str(getattr(ref, "id", ref))


def crm_primary_phone(attributes: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """Index in ``phones`` and value of the contact's primary phone (else the first one)."""
    phones = [p.get("phone") if isinstance(p, Mapping) else p
              for p in attributes.get("phones") or []]
    primary = _text(attributes.get("primaryPhone"))
    if primary is not None:
        for index, phone in enumerate(phones):
            if _text(phone) == primary:
                return index, primary
    for index, phone in enumerate(phones):
        if _text(phone) is not None:
            return index, _text(phone)
    return None, None


def _address_type_ids(address: Any) -> list[str]:
    types = address.relationships.get("types") or []
    if not isinstance(types, list):
        types = [types]
    return [str(t.id) for t in types if t is not None]


def crm_address_for(resource: Any, address_type: str | None) -> Any | None:
    """The CRM address mapped to one local address: of that type (``None``: no type at all);
    the primary one first, then the lowest id, so the choice is stable."""
    candidates = []
    for address in resource.related("addresses"):
        types = _address_type_ids(address)
        if (address_type is None and not types) or (address_type is not None
                                                     and address_type in types):
            candidates.append(address)
    if not candidates:
        return None
    return min(candidates, key=lambda a: (not a.attributes.get("primary"), _id_order(a.id)))


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def from_crm(entity: str, resource: Any) -> Canonical:
    """Canonical dict of a CRM ``Resource`` (every row, enabled or not).

    Raises MappingError for a malformed value.
    """
    attrs = resource.attributes
    rels = resource.relationships
    c: Canonical = {}
    if entity == "contacts":
        for row in ROWS["contacts"]:
            if row.kind == "text":
                c[row.name] = _text(attrs.get(row.crm_field))
        c["emails"] = _emails(e.get("email") if isinstance(e, Mapping) else e
                              for e in attrs.get("emails") or [])
        c["primary_phone"] = crm_primary_phone(attrs)[1]
        c["birthday"] = _date(attrs.get("birthday"))
        c["gender"] = _gender(attrs.get("gender"))
        for name, atype in (("business_address", "billing"), ("home_address", "shipping"),
                            ("other_address", None)):
            address = crm_address_for(resource, atype)
            c[name] = None if address is None else _crm_address(address)
        _name_fallback(c)
    elif entity == "tasks":
        c["subject"] = _text(attrs.get("subject"))
        c["notes"] = _text(attrs.get("description"))
        c["due_date"] = _instant(attrs.get("dueDate"))
        c["priority"] = _ref_id(rels.get("taskPriority")) or DEFAULT_PRIORITY
        c["status"] = _ref_id(rels.get("status")) or DEFAULT_STATUS
    elif entity == "events":
        c["subject"] = _text(attrs.get("title"))
        c["notes"] = _text(attrs.get("description"))
        c["all_day"] = _bool(attrs.get("allDay"))
        _event_times(c, attrs.get("start"), attrs.get("end"), crm=True)
    else:
        raise KeyError(entity)
    return c


def skip_reason(entity: str, resource: Any) -> str | None:
    """Why a CRM record is left untouched on both sides (and listed as skipped), or None.

    Recurring events and their exceptions: the local store holds single events only, and
    syncing one occurrence would flatten the series (docs/sync-rules.md).
    """
    if entity != "events":
        return None
    attrs = resource.attributes
    if attrs.get("recurrence"):
        return ("recurring event: the local store cannot hold a recurrence yet, so it is left "
                "as it is on both sides")
    if attrs.get("recurringEventId") not in (None, ""):
        return ("exception of a recurring event: the local store cannot hold a recurrence yet, "
                "so it is left as it is on both sides")
    return None


def crm_read_only(entity: str, resource: Any) -> bool:
    """True for CRM records the user does not own and whose local edits are never sent:
    events where the user is only an attendee (an invitation: Oro's ``parentEventId``, or
    ``isOrganizer`` false). They still come from the CRM."""
    if entity != "events":
        return False
    attrs = resource.attributes
    return attrs.get("parentEventId") not in (None, "") or attrs.get("isOrganizer") is False


# -- local -> canonical ----------------------------------------------------------------------

def from_local(entity: str, fields: Mapping[str, Any], *, default_country: str = "") -> Canonical:
    """Canonical dict of a local item's fields (every row, enabled or not).

    ``default_country``: the alpha-2 code an address without a country is in (the setting).
    Raises MappingError for a malformed value (e.g. a start time that is no instant).
    """
    c: Canonical = {}
    if entity == "contacts":
        for row in ROWS["contacts"]:
            if row.kind == "text":
                c[row.name] = _text(fields.get(row.local_field))
        c["primary_phone"] = _text(fields.get("primary_phone"))
        emails = fields.get("emails") or []
        c["emails"] = _emails([emails] if isinstance(emails, str) else emails)
        c["birthday"] = _date(fields.get("birthday"))
        c["gender"] = _gender(fields.get("gender"))
        for name in ("business_address", "home_address", "other_address"):
            c[name] = _local_address(fields.get(name), default_country)
        _name_fallback(c)
    elif entity == "tasks":
        c["subject"] = _text(fields.get("subject"))
        c["notes"] = _text(fields.get("notes"))
        c["due_date"] = _due_instant(fields.get("due_date"))
        priority = _text(fields.get("priority"))
        if priority is not None and priority not in PRIORITIES:
            raise MappingError(f"task priority must be low, normal or high, not {priority!r}")
        c["priority"] = priority or DEFAULT_PRIORITY
        status = _text(fields.get("status"))
        if status is not None and status not in STATUS_TO_CRM:
            raise MappingError(f"unknown task status {status!r}")
        c["status"] = DEFAULT_STATUS if status is None else STATUS_TO_CRM[status]
    elif entity == "events":
        c["subject"] = _text(fields.get("subject"))
        c["notes"] = _text(fields.get("notes"))
        c["all_day"] = _bool(fields.get("all_day"))
        _event_times(c, fields.get("start"), fields.get("end"))
    else:
        raise KeyError(entity)
    return c


# -- canonical -> local ----------------------------------------------------------------------

def to_local(entity: str, canonical: Canonical, names: Iterable[str]) -> dict[str, Any]:
    """Local field values for the rows ``names`` (empty values become ``None``).

    Timed event instants are written in UTC with an explicit ``+00:00`` offset; all-day
    events as dates; task due dates in this computer's local time with its offset.
    """
    result: dict[str, Any] = {}
    for name in names:
        value = canonical.get(name)
        if entity == "tasks" and name == "status" and value is not None:
            value = STATUS_TO_LOCAL.get(value, "in_progress")
        elif entity == "events" and name in ("start", "end") and value is not None \
                and not canonical.get("all_day"):
            value = value.replace("Z", "+00:00")
        elif entity == "tasks" and name == "due_date" and value is not None:
            # The CRM's UTC instant as this computer's wall time and offset: the same moment,
            # shown on the day the user meant (Oro's UI enters it in the user's zone).
            value = dt.datetime.fromisoformat(value).astimezone().isoformat()
        elif name == "emails":
            value = list(value or [])
        elif isinstance(value, dict):
            value = _address_names(value)
        result[name] = value
    return result


def _address_names(address: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical address for the local side: country and region as names, not codes
    (a pulled address reads "United States", "California", as people write them)."""
    result = dict(address)
    country = result.get("country")
    if places.is_country_code(country):
        if places.is_region_code(country, result.get("region")):
            result["region"] = places.region_name(result["region"])
        result["country"] = places.country_name(country)
    return result


# -- canonical -> CRM ------------------------------------------------------------------------

@dataclass
class CrmWrite:
    """The pieces of a JSON:API create/update (see docs/protocol.md)."""

    attributes: dict[str, Any] = field(default_factory=dict)
    relationships: dict[str, Any] = field(default_factory=dict)
    included: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.attributes or self.relationships or self.included)


def _crm_instant(value: str | None, all_day: bool, canonical: Canonical | None = None,
                 name: str = "start") -> str | None:
    if value is None:
        return None
    if not all_day:
        return value
    # An all-day event is written as Oro's calendar writes one: from local 00:00 of the first
    # day to 23:59 of the last (the local end date is exclusive), as UTC instants.
    day = dt.date.fromisoformat(value)
    if name == "start":
        when = _local_midnight(day)
    else:
        start = (canonical or {}).get("start")
        first = dt.date.fromisoformat(start) if isinstance(start, str) else day
        when = _local_midnight(max(day, first + dt.timedelta(days=1))) - dt.timedelta(minutes=1)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_crm(entity: str, canonical: Canonical, names: Iterable[str], current: Any | None, *,
           calendar_id: str | None = None, regions: Regions | None = None) -> CrmWrite:
    """The write for the rows ``names`` of ``canonical``; ``current`` is the CRM resource
    being updated (``None`` for a create).

    Only the named rows are touched: the contact's other phones, its addresses that no row
    maps (a second billing address) and its other attributes are left as they are.
    ``regions(country)``: the region codes the CRM has for a country (see
    ``_address_parts``); None trusts ISO 3166-2.

    Raises MappingError for an address Oro would refuse (no country, an unknown one, a region
    the CRM does not have for its country).
    """
    names = list(names)
    write = CrmWrite()
    attrs = write.attributes
    if entity == "contacts":
        current_attrs: Mapping[str, Any] = current.attributes if current is not None else {}
        by_name = {row.name: row for row in ROWS["contacts"]}
        address_names = []
        for name in names:
            row = by_name[name]
            value = canonical.get(name)
            if row.kind in ("text", "date", "gender"):
                attrs[row.crm_field] = value
            elif row.kind == "emails":
                emails = list(value or [])
                attrs["emails"] = [{"email": e} for e in emails]
                primary = _text(current_attrs.get("primaryEmail"))
                if primary is not None and primary in emails:
                    attrs["primaryEmail"] = primary
                elif emails:
                    attrs["primaryEmail"] = emails[0]
            elif row.kind == "phone":
                phones = [dict(p) if isinstance(p, Mapping) else {"phone": p}
                          for p in current_attrs.get("phones") or []]
                index, _old = crm_primary_phone(current_attrs)
                if value is None:
                    if index is not None:
                        del phones[index]
                    attrs["primaryPhone"] = phones[0]["phone"] if phones else None
                else:
                    if index is None:
                        phones.insert(0, {"phone": value})
                    else:
                        phones[index] = {**phones[index], "phone": value}
                    attrs["primaryPhone"] = value
                attrs["phones"] = phones
            elif row.kind == "address":
                address_names.append(row)
        if address_names:
            _address_write(write, canonical, address_names, current, regions)
    elif entity == "tasks":
        for name in names:
            value = canonical.get(name)
            if name == "subject":
                attrs["subject"] = value
            elif name == "notes":
                attrs["description"] = value
            elif name == "due_date":
                attrs["dueDate"] = value
            elif name == "priority":
                write.relationships["taskPriority"] = {
                    "data": None if value is None else {"type": "taskpriorities", "id": value}}
            elif name == "status":
                write.relationships["status"] = {
                    "data": None if value is None else {"type": "taskstatuses", "id": value}}
        if current is None:
            # Oro requires both on create (TaskBundle validation.yml NotBlank): a create
            # whose priority or status row is disabled (or CRM → local only) carries the
            # seed's default, so that it is not refused.
            for rel, enum, default in (("taskPriority", "taskpriorities", DEFAULT_PRIORITY),
                                       ("status", "taskstatuses", DEFAULT_STATUS)):
                if not (write.relationships.get(rel) or {}).get("data"):
                    write.relationships[rel] = {"data": {"type": enum, "id": default}}
    elif entity == "events":
        all_day = bool(canonical.get("all_day"))
        for name in names:
            value = canonical.get(name)
            if name == "subject":
                attrs["title"] = value
            elif name == "notes":
                attrs["description"] = value
            elif name == "all_day":
                attrs["allDay"] = all_day
            elif name in ("start", "end"):
                attrs[name] = _crm_instant(value, all_day, canonical, name)
        # The CRM stores times, not dates: when all_day changes, start and end must be
        # re-sent in the matching form (and an all-day end depends on its start).
        if "all_day" in names or (all_day and "start" in names):
            for name in ("start", "end"):
                attrs.setdefault(name, _crm_instant(canonical.get(name), all_day, canonical,
                                                    name))
        if current is None and calendar_id is not None:
            write.relationships["calendar"] = {"data": {"type": "calendars", "id": calendar_id}}
    else:
        raise KeyError(entity)
    return write


def _address_write(write: CrmWrite, canonical: Canonical, rows: Sequence[MappingRow],
                   current: Any | None, regions: Regions | None = None) -> None:
    """Fill ``write`` with the address changes; the relationship lists every address the
    contact keeps, because on the wire the listed set replaces the contact's addresses."""
    keep: list[str] = [a.id for a in current.related("addresses")] if current is not None else []
    temp = 0
    for row in rows:
        value = canonical.get(row.name)
        existing = crm_address_for(current, row.address_type) if current is not None else None
        if value is None:
            if existing is not None and existing.id in keep:
                keep.remove(existing.id)
            continue
        attributes, relationships = _address_parts(row, value, regions)
        if existing is not None:
            write.included.append({"type": "contactaddresses", "id": existing.id,
                                   "attributes": attributes, "relationships": relationships,
                                   "meta": {"update": True}})
        else:
            temp += 1
            temp_id = f"new-{row.name}-{temp}"
            types = [] if row.address_type is None else [
                {"type": "addresstypes", "id": row.address_type}]
            write.included.append({"type": "contactaddresses", "id": temp_id,
                                   "attributes": attributes,
                                   "relationships": {**relationships, "types": {"data": types}}})
            keep.append(temp_id)
    write.relationships["addresses"] = {
        "data": [{"type": "contactaddresses", "id": i} for i in keep]}


def _address_parts(row: MappingRow, value: Mapping[str, Any], regions: Regions | None
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Attributes and relationships of one address, as Oro takes them (ORO-API.md §6):
    ``country`` required; ``region`` a relationship; ``customRegion`` only for a country the
    CRM has no regions for (Oro refuses it otherwise: "Custom region can be used only for
    countries without predefined regions"). Raises MappingError for what Oro would refuse."""
    where = f"{row.description.split(' ↔ ')[-1]}"
    attributes: dict[str, Any] = {crm: value.get(part) for part, crm in _ADDRESS_CRM.items()}
    country = value.get("country")
    if country is None:
        raise MappingError(
            f"The {where} has no country, and the CRM requires one. Add the country, or set "
            "a default country (Settings › Sync rules, or `tray-client configure "
            "--default-country CODE`).")
    if not places.is_country_code(country):
        raise MappingError(
            f"The {where}'s country {country!r} is not a country the client knows (ISO 3166); "
            "write it as its name (e.g. Germany, Deutschland) or its code (DE).")
    region = value.get("region")
    known = regions(country) if regions is not None and region is not None else None
    region_ref: dict[str, str] | None = None
    custom: str | None = None
    if region is None:
        pass
    elif places.is_region_code(country, region) and (known is None or region in known):
        region_ref = {"type": "regions", "id": region}
    elif known:
        raise MappingError(
            f"The {where}'s region {places.region_name(region) or region!r} is not one of the "
            f"regions the CRM has for {places.country_name(country)}, and Oro accepts free-text "
            "regions only for countries without predefined ones. Correct the region (its name "
            "or code), or leave it empty.")
    else:
        # A country the CRM has no regions for: the region travels as free text.
        custom = places.region_name(region) if places.is_region_code(country, region) else region
    attributes["customRegion"] = custom
    return attributes, {"country": {"data": {"type": "countries", "id": country}},
                        "region": {"data": region_ref}}


# -- keys ------------------------------------------------------------------------------------

DEFAULT_KEYS = DEFAULT_RULE_KEYS   # the seed's key fields per entity (settings.py)


def key_rows(entity: str, key_fields: Iterable[str], settings: Settings) -> list[str]:
    """Canonical row names for the configured key fields (CRM field names).

    Unknown names are ignored. Birthday is no part of the key while Sync Birthdays is on
    (DESIGN §5, read as written: see docs/sync-rules.md).
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
    parts = tuple(_key_part(canonical.get(name)) for name in rows)
    if all(p in ("", (), False) for p in parts):
        return None
    return parts


def display_name(entity: str, canonical: Mapping[str, Any]) -> str:
    """A short human name for report rows."""
    if entity == "contacts":
        first, last = canonical.get("first_name"), canonical.get("last_name")
        name = " ".join(p for p in (first, last if last != first else None) if p)
        return name or (canonical.get("emails") or [""])[0] or canonical.get("primary_phone") or ""
    return canonical.get("subject") or ""
