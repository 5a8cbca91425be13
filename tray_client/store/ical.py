"""Events (VEVENT) and tasks (VTODO) as iCalendar (icalendar).

Mapping (local field ↔ iCalendar):
    events: subject ↔ SUMMARY · start ↔ DTSTART · end ↔ DTEND (or DTSTART + DURATION) ·
        all_day ↔ VALUE=DATE on DTSTART (the all-day DTEND is exclusive, as stored) ·
        location ↔ LOCATION · notes ↔ DESCRIPTION
    tasks: subject ↔ SUMMARY · priority ↔ PRIORITY (high 1, normal 5, low 9; reading 1-4
        high, 5 normal, 6-9 low, 0 none) · due_date ↔ DUE (a date-time with its offset, or a
        date) · status ↔ STATUS
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

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import icalendar

from ..errors import InterchangeError
from .ical_plain import fixed_offset, plain_event
from .interchange_types import EntryLines, Record, Skipped, content_lines
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
        fields["due_date"] = _instant(due.dt)  # the time and its offset are kept
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
_TZID = re.compile(r";TZID=\"?([^\":;]+)", re.IGNORECASE)


def _blocks(lines: Iterable[str]) -> Iterator[tuple[str, EntryLines | None]]:
    """The VTIMEZONE and entry blocks (VEVENT, VTODO, …) in file order, lazily and under the
    import's caps; ``None`` for an entry that never ends, so the others are still read."""
    kind: str | None = None
    entry: EntryLines | None = None
    for line in lines:
        token = line.strip().upper()
        if token.startswith("BEGIN:") and token[6:] in (*_ENTRY_KINDS, "VTIMEZONE"):
            if kind is not None and kind != "VTIMEZONE":
                yield kind, None  # a new entry while one is open: that one never ended
            kind, entry = token[6:], EntryLines(line)
            continue
        if kind is not None and entry is not None:
            entry.add(line)
            if token == f"END:{kind}":
                yield kind, entry
                kind, entry = None, None
    if kind is not None and kind != "VTIMEZONE":
        yield kind, None


def _warnings(comp: Any) -> list[str]:
    """What the store cannot keep of an entry, said per entry: a recurrence (the store holds
    single events and tasks) and a time zone nobody knows (read as local time)."""
    found: list[str] = []
    rule = comp.get("RRULE")
    if rule is not None or comp.get("RDATE") is not None:
        what = rule.to_ical().decode() if rule is not None else "RDATE"
        found.append(f"it repeats ({what}); the local store holds no recurrence, so only its "
                     "first occurrence was imported.")
    for prop in ("DTSTART", "DTEND", "DUE"):
        value = comp.get(prop)
        tzid = value.params.get("TZID") if value is not None else None
        if tzid and isinstance(value.dt, datetime) and value.dt.tzinfo is None:
            found.append(f"{prop} names the unknown time zone {tzid!r}; it was read as this "
                         "computer's local time.")
    return found


def read_icalendar(lines: str | Iterable[str]) -> Iterator[Record | ImportProblem | Skipped]:
    """Parse events and tasks entry by entry (each with the VTIMEZONEs it names): a Record
    per readable entry, an ImportProblem per broken or too large one, Skipped for kinds the
    store does not hold. Raises InterchangeError (after the last) when there was no entry."""
    timezones: dict[str, str] = {}
    offsets: dict[str, timedelta] = {}  # the fixed-offset ones, for the plain events' path
    index = 0
    for kind, entry in _blocks(content_lines(lines) if isinstance(lines, str) else lines):
        if kind == "VTIMEZONE":
            if entry is not None and entry.problem is None:
                block = "\r\n".join(entry.lines)
                for line in entry.lines:
                    if line.upper().startswith("TZID"):
                        tzid = line.split(":", 1)[-1].strip()
                        timezones[tzid] = block
                        offset = fixed_offset(entry.lines)
                        if offset is None:
                            offsets.pop(tzid, None)
                        else:
                            offsets[tzid] = offset
                        break
            continue
        index += 1
        if entry is None:
            yield ImportProblem(index, "", "the entry has no END line.")
            continue
        if entry.problem is not None:
            yield ImportProblem(index, "", entry.problem)
            continue
        if kind in _SKIPPED_KINDS:
            yield Skipped(index)
            continue
        plain = plain_event(entry.lines, offsets) if kind == "VEVENT" else None
        if plain is not None:  # read without icalendar, exactly as it would read it
            yield Record(index, plain[0]["subject"] or "", "events", plain[0], plain[1])
            continue
        named = {m.group(1).strip() for line in entry.lines for m in _TZID.finditer(
            line.split(":", 1)[0])}
        zones = "".join(f"{timezones[z]}\r\n" for z in sorted(named) if z in timezones)
        text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + zones
                + "\r\n".join(entry.lines) + "\r\nEND:VCALENDAR\r\n")
        try:
            found = list(_entries([icalendar.Calendar.from_ical(text)]))
            if not found:
                raise ValueError("nothing readable")
            comp = found[0]
        except Exception as exc:  # icalendar raises many kinds; reported
            yield ImportProblem(index, "", f"unreadable entry ({exc}).")
            continue
        name = str(comp.get("SUMMARY") or "")
        try:
            record = _component_record(index, comp)
        except Exception as exc:  # a broken property of this entry, reported
            broken = "; ".join(f"{prop}: {msg}" for prop, msg in getattr(comp, "errors", []))
            yield ImportProblem(index, name, broken or f"unreadable entry ({exc}).")
            continue
        record.warnings = _warnings(comp)
        yield record
    if index == 0:
        raise InterchangeError("The file is not a readable iCalendar file (no VEVENT or "
                               "VTODO could be found).", title="Not an iCalendar file")


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
            comp.add("due", _aware(f["due_date"]))
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
        for field in ("start", "end", "due_date"):
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
