"""Plain events read without icalendar: the fast path of an .ics import.

icalendar takes 250-550 µs to parse one event (a mini-calendar with the zones it names), so
an export of 20,000 events took 15 s to import. Most exports are made of plain events: a
summary, a location, a description, a start and an end (UTC, floating, a date, or a
fixed-offset zone of the file), a uid and a few time stamps. ``plain_event`` reads exactly
those, ~20 times faster, and declines (returns None) anything else — a recurrence, a
duration, a named zone, a parameter or an escape it does not know, a property it does not
list, a property given twice, a task — which ``ical.read_icalendar`` then hands to
icalendar as before. tests/store/test_ical_plain.py checks that every entry it accepts reads
exactly as icalendar reads it.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

# What the icalendar path reads from an event, and the local field each one fills.
_TEXT = {"SUMMARY": "subject", "LOCATION": "location", "DESCRIPTION": "notes",
         "X-CRM-ID": "crm_id"}
_TIMES = ("DTSTART", "DTEND")
# Properties the icalendar path parses and never reads: any text (uid, sequence, …) or a
# UTC time stamp.
_IGNORED_TEXT = frozenset({"UID", "SEQUENCE", "TRANSP", "CLASS", "PRIORITY"})
_IGNORED_STAMPS = frozenset({"DTSTAMP", "CREATED", "LAST-MODIFIED"})
_STAMP = re.compile(r"\d{8}T\d{6}Z")
_DATE_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(Z?)")
_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2})(\d{2})")
_ESCAPES = {"\\,": ",", "\\;": ";", "\\n": "\n", "\\N": "\n"}
_ESCAPE = re.compile(r"\\.")


def _unfolded(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:
            out[-1] += line[1:]
        else:
            out.append(line)
    return out


def _text(value: str) -> str | None:
    """The unescaped text, or None when it holds an escape other than \\, \\; \\n \\N."""
    if "\\" not in value:
        return value
    if value.endswith("\\") or any(m.group() not in _ESCAPES
                                    for m in _ESCAPE.finditer(value)):
        return None
    return _ESCAPE.sub(lambda m: _ESCAPES[m.group()], value)


def fixed_offset(block: list[str]) -> timedelta | None:
    """The offset of a VTIMEZONE block that has one offset only (as this client exports
    them), else None."""
    lines = [line.strip().upper() for line in _unfolded(block)]
    subs = [line for line in lines if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT")]
    offsets = {line.split(":", 1)[1] for line in lines
               if line.startswith(("TZOFFSETFROM:", "TZOFFSETTO:"))}
    if len(subs) != 1 or len(offsets) != 1 or any(
            line.startswith(("RRULE", "RDATE")) for line in lines):
        return None
    match = _OFFSET.fullmatch(offsets.pop())
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))


@lru_cache(maxsize=64)
def _known_zone(name: str) -> bool:
    """Whether icalendar could resolve ``name`` by itself (a zone database name), instead of
    by the file's VTIMEZONE."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _time(params: list[str], value: str, zones: dict[str, timedelta]) -> date | datetime | None:
    kind, tzid = None, None
    for param in params:
        key, _, val = param.partition("=")
        key = key.upper()
        if key == "VALUE" and kind is None:
            kind = val.upper()
        elif key == "TZID" and tzid is None and '"' not in val:
            tzid = val
        else:
            return None
    if kind == "DATE":
        match = _DATE.fullmatch(value)
        return None if match is None or tzid else date(*map(int, match.groups()))
    if kind not in (None, "DATE-TIME"):
        return None
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = map(int, match.groups()[:6])
    naive = datetime(year, month, day, hour, minute, second)
    if match.group(7):
        return None if tzid else naive.replace(tzinfo=UTC)
    if tzid is None:
        return naive.astimezone()   # floating: this computer's local time, as icalendar reads
    offset = zones.get(tzid)
    if offset is None or _known_zone(tzid):
        return None
    return naive.replace(tzinfo=timezone(offset))


def _instant(value: date | datetime) -> str:
    return value.isoformat()


def plain_event(lines: list[str], zones: dict[str, timedelta]) -> tuple[dict[str, Any],
                                                                         str | None] | None:
    """``(fields, crm_id)`` of a plain VEVENT (its content lines, BEGIN to END), as
    ``ical._event_fields`` would give them; ``zones``: the file's fixed-offset VTIMEZONEs by
    TZID. None when the entry is anything but plain."""
    unfolded = _unfolded(lines)
    if len(unfolded) < 2 or unfolded[0].strip().upper() != "BEGIN:VEVENT" or \
            unfolded[-1].strip().upper() != "END:VEVENT":
        return None
    texts: dict[str, str] = {}
    times: dict[str, date | datetime] = {}
    seen: set[str] = set()
    for line in unfolded[1:-1]:
        head, colon, value = line.partition(":")
        if not colon or '"' in head:
            return None
        name, *params = head.split(";")
        name = name.strip().upper()
        if name in seen:
            return None
        seen.add(name)
        if name in _TEXT:
            text = _text(value)
            if text is None or params:
                return None
            texts[_TEXT[name]] = text
        elif name in _TIMES:
            moment = _time(params, value, zones)
            if moment is None:
                return None
            times[name] = moment
        elif params or not ((name in _IGNORED_TEXT and _text(value) is not None)
                            or (name in _IGNORED_STAMPS and _STAMP.fullmatch(value))):
            return None
    begin = times.get("DTSTART")
    if begin is None:
        return None
    fields: dict[str, Any] = {"subject": texts.get("subject"),
                              "location": texts.get("location"), "notes": texts.get("notes")}
    fields["all_day"] = not isinstance(begin, datetime)
    fields["start"] = _instant(begin)
    end = times.get("DTEND")
    if end is not None:
        fields["end"] = _instant(end)
    elif fields["all_day"]:
        fields["end"] = (begin + timedelta(days=1)).isoformat()
    crm_id = texts.get("crm_id")
    return fields, (crm_id.strip() or None) if crm_id else None
