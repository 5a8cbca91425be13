"""Events (VEVENT) and tasks (VTODO) as iCalendar (icalendar).

Mapping (local field ↔ iCalendar):
    events: subject ↔ SUMMARY · start ↔ DTSTART · end ↔ DTEND (or DTSTART + DURATION) ·
        all_day ↔ VALUE=DATE on DTSTART (the all-day DTEND is exclusive, as stored) ·
        location ↔ LOCATION · notes ↔ DESCRIPTION
    tasks: subject ↔ SUMMARY · priority ↔ PRIORITY (high 1, normal 5, low 9; reading 1-4
        high, 5 normal, 6-9 low, 0 none) · due_date ↔ DUE (a date) · status ↔ STATUS
        (not_started NEEDS-ACTION, in_progress IN-PROCESS, completed COMPLETED; waiting and
        deferred have no iCalendar status: written as NEEDS-ACTION plus X-TRAY-CLIENT-STATUS,
        which is read back first; CANCELLED reads as deferred) · notes ↔ DESCRIPTION
    crm_id ↔ X-CRM-ID · the local id is written as UID

Time zones: an instant keeps its UTC offset. On export each distinct non-UTC offset gets a
fixed-offset VTIMEZONE (TZID ``UTC+0130``-style), so readers see the same wall time and
offset; named zones in imported files (TZID=Europe/Paris) become the offset in force at that
instant; floating times (no zone) are read as the computer's local time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import icalendar

from ..errors import InterchangeError
from .interchange_types import Record, Skipped, content_lines
from .model import ImportProblem, Item

PRODID = "-//CRM Tray Client//Local store export//EN"
STATUS_TO_ICAL = {"not_started": "NEEDS-ACTION", "in_progress": "IN-PROCESS",
                  "completed": "COMPLETED", "waiting": "NEEDS-ACTION",
                  "deferred": "NEEDS-ACTION"}
ICAL_TO_STATUS = {"NEEDS-ACTION": "not_started", "IN-PROCESS": "in_progress",
                  "COMPLETED": "completed", "CANCELLED": "deferred"}
PRIORITY_TO_ICAL = {"high": 1, "normal": 5, "low": 9}
STATUS_PROPERTY = "X-TRAY-CLIENT-STATUS"
_KINDS = {"VEVENT": "events", "VTODO": "tasks"}
_SKIPPED_KINDS = ("VJOURNAL", "VFREEBUSY")


def _instant(value: date | datetime) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.astimezone()  # floating time: the reader's local time
        return value.isoformat()
    return value.isoformat()


def _text(component: Any, name: str) -> str | None:
    value = component.get(name)
    return None if value is None else str(value)


def _event_fields(comp: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"subject": _text(comp, "SUMMARY"),
                              "location": _text(comp, "LOCATION"),
                              "notes": _text(comp, "DESCRIPTION")}
    start = comp.get("DTSTART")
    if start is not None:
        begin = start.dt
        fields["all_day"] = not isinstance(begin, datetime)
        fields["start"] = _instant(begin)
        end = comp.get("DTEND")
        if end is not None:
            fields["end"] = _instant(end.dt)
        elif comp.get("DURATION") is not None:
            fields["end"] = _instant(begin + comp["DURATION"].dt)
        elif fields["all_day"]:
            fields["end"] = (begin + timedelta(days=1)).isoformat()  # RFC 5545: one day
    return fields


def _task_fields(comp: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"subject": _text(comp, "SUMMARY"),
                              "notes": _text(comp, "DESCRIPTION")}
    priority = comp.get("PRIORITY")
    if priority is not None:
        level = int(priority)
        if 1 <= level <= 4:
            fields["priority"] = "high"
        elif level == 5:
            fields["priority"] = "normal"
        elif 6 <= level <= 9:
            fields["priority"] = "low"
    due = comp.get("DUE")
    if due is not None:
        value = due.dt
        fields["due_date"] = (value.date() if isinstance(value, datetime) else value).isoformat()
    own = str(comp.get(STATUS_PROPERTY) or "").strip().lower()
    status = str(comp.get("STATUS") or "").strip().upper()
    if own:
        fields["status"] = own  # validated later; a bad value is this entry's problem
    elif status in ICAL_TO_STATUS:
        fields["status"] = ICAL_TO_STATUS[status]
    return fields


_CONVERT: dict[str, Callable[[Any], dict[str, Any]]] = {
    "VEVENT": _event_fields, "VTODO": _task_fields}


def _component_record(index: int, comp: Any) -> Record:
    fields = _CONVERT[comp.name](comp)
    crm_id = _text(comp, "X-CRM-ID")
    return Record(index, str(comp.get("SUMMARY") or ""), _KINDS[comp.name], fields,
                  crm_id.strip() or None if crm_id else None)


def _entries(calendars: Iterable[Any]) -> Iterator[Any]:
    for calendar in calendars:
        for comp in calendar.subcomponents:
            if comp.name in _KINDS or comp.name in _SKIPPED_KINDS:
                yield comp


_ENTRY_KINDS = tuple(_KINDS) + _SKIPPED_KINDS


def _split_blocks(text: str) -> tuple[list[str], list[str | None]]:
    """Fallback for a file icalendar cannot parse whole: the VTIMEZONE blocks and, in file
    order, the entry blocks (VEVENT, VTODO, …) as text, ``None`` for an entry that never
    ends, so the others can be parsed one by one."""
    timezones: list[str] = []
    entries: list[str | None] = []
    kind: str | None = None
    lines: list[str] = []
    for line in content_lines(text):
        token = line.strip().upper()
        if token.startswith("BEGIN:") and token[6:] in _ENTRY_KINDS + ("VTIMEZONE",):
            if kind is not None and kind != "VTIMEZONE":
                entries.append(None)  # a new entry while one is open: that one never ended
            kind, lines = token[6:], []
        if kind is not None:
            lines.append(line)
            if token == f"END:{kind}":
                block = "\r\n".join(lines)
                (timezones.append(block) if kind == "VTIMEZONE" else entries.append(block))
                kind = None
    if kind is not None and kind != "VTIMEZONE":
        entries.append(None)
    return timezones, entries


def read_icalendar(text: str) -> Iterator[Record | ImportProblem | Skipped]:
    """Parse events and tasks: a Record per readable entry, an ImportProblem per broken one,
    Skipped for kinds the store does not hold. Raises InterchangeError when the text is no
    iCalendar at all. (icalendar parses the whole text at once; entries are converted one
    by one.)"""
    begins = sum(1 for line in content_lines(text)
                 if line.strip().upper() in {f"BEGIN:{k}" for k in _ENTRY_KINDS})
    components: list[tuple[Any, str | None]]
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
        components = [(c, None) for c in _entries(calendars)]
        if len(components) != begins:
            # icalendar silently drops what it cannot place (an unterminated entry and
            # everything after it): never lose entries that way.
            raise ValueError("entries lost while parsing")
    except Exception:  # noqa: BLE001 - icalendar raises many kinds; retry entry by entry
        timezones, blocks = _split_blocks(text)
        if not blocks:
            raise InterchangeError("The file is not a readable iCalendar file (no VEVENT or "
                                   "VTODO could be found).", title="Not an iCalendar file"
                                   ) from None
        components = []
        header = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + "\r\n".join(timezones)
        for block in blocks:
            if block is None:
                components.append((None, "the entry has no END line."))
                continue
            try:
                calendar = icalendar.Calendar.from_ical(f"{header}\r\n{block}\r\nEND:VCALENDAR")
                found = list(_entries([calendar]))
                if not found:
                    raise ValueError("nothing readable")
                components.append((found[0], None))
            except Exception as exc:  # noqa: BLE001 - this entry's problem, reported
                components.append((None, f"unreadable entry ({exc})."))
    for index, (comp, error) in enumerate(components, 1):
        if comp is None:
            yield ImportProblem(index, "", error or "unreadable entry.")
            continue
        if comp.name in _SKIPPED_KINDS:
            yield Skipped(index)
            continue
        name = str(comp.get("SUMMARY") or "")
        try:
            record = _component_record(index, comp)
        except Exception as exc:  # noqa: BLE001 - a broken property of this entry, reported
            broken = "; ".join(f"{prop}: {msg}" for prop, msg in getattr(comp, "errors", []))
            yield ImportProblem(index, name, broken or f"unreadable entry ({exc}).")
            continue
        yield record


def _tzid(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _aware(value: str) -> date | datetime:
    if len(value) == 10:
        return date.fromisoformat(value)
    dt = datetime.fromisoformat(value)
    offset = dt.utcoffset()
    assert offset is not None  # the store only holds instants with an offset
    if not offset:
        return dt.astimezone(UTC)
    return dt.replace(tzinfo=timezone(offset, _tzid(offset)))


def _vtimezone(offset: timedelta) -> icalendar.Timezone:
    tz = icalendar.Timezone()
    tz.add("tzid", _tzid(offset))
    standard = icalendar.TimezoneStandard()
    standard.add("dtstart", datetime(1601, 1, 1))  # before any event, as Outlook does
    standard.add("tzoffsetfrom", offset)
    standard.add("tzoffsetto", offset)
    standard.add("tzname", _tzid(offset))
    tz.add_component(standard)
    return tz


def _component(entity: str, item: Item, stamp: datetime) -> icalendar.cal.Component:
    f = item.fields
    comp: icalendar.cal.Component = icalendar.Event() if entity == "events" else icalendar.Todo()
    comp.add("uid", item.id)
    comp.add("dtstamp", stamp)
    if "subject" in f:
        comp.add("summary", f["subject"])
    if entity == "events":
        for field, prop in (("start", "dtstart"), ("end", "dtend")):
            if field in f:
                comp.add(prop, _aware(f[field]))
        if "location" in f:
            comp.add("location", f["location"])
    else:
        if "priority" in f:
            comp.add("priority", PRIORITY_TO_ICAL[f["priority"]])
        if "due_date" in f:
            comp.add("due", date.fromisoformat(f["due_date"]))
        if "status" in f:
            comp.add("status", STATUS_TO_ICAL[f["status"]])
            comp.add(STATUS_PROPERTY.lower(), f["status"])
    if "notes" in f:
        comp.add("description", f["notes"])
    if item.crm_id:
        comp.add("x-crm-id", item.crm_id)
    return comp


def offsets_of(items: Iterable[Item]) -> set[timedelta]:
    """The distinct non-UTC offsets of the events' start/end (each needs a VTIMEZONE)."""
    found: set[timedelta] = set()
    for item in items:
        for field in ("start", "end"):
            value = item.fields.get(field)
            if value and len(value) > 10:
                offset = datetime.fromisoformat(value).utcoffset()
                if offset:
                    found.add(offset)
    return found


def write_icalendar(entity: str, items: Iterable[Item],
                    offsets: set[timedelta]) -> Iterator[bytes]:
    """Serialise events or tasks as one VCALENDAR, streaming one component at a time."""
    yield (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:{PRODID}\r\n"
           "CALSCALE:GREGORIAN\r\n").encode()
    for offset in sorted(offsets):
        yield _vtimezone(offset).to_ical()
    stamp = datetime.now(UTC).replace(microsecond=0)
    for item in items:
        yield _component(entity, item, stamp).to_ical()
    yield b"END:VCALENDAR\r\n"
