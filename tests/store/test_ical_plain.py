"""The fast path of an .ics import (store/ical_plain.py) reads every entry it accepts exactly
as icalendar reads it, and leaves every other entry to icalendar."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from tray_client.store import ical
from tray_client.store.ical import offsets_of, read_icalendar, write_icalendar
from tray_client.store.ical_plain import plain_event
from tray_client.store.model import Item

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
PARIS_FIXED = ("BEGIN:VTIMEZONE\r\nTZID:UTC+0100\r\nBEGIN:STANDARD\r\nDTSTART:16010101T000000"
               "\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")
BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000"
          "\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100"
          "\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;"
          "BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n"
          "END:VTIMEZONE\r\n")
FIXED_NAMED = BERLIN.replace("TZID:Europe/Berlin", "TZID:Europe/Paris").split(
    "BEGIN:DAYLIGHT")[0].replace("RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n", "").replace(
    "+0200", "+0100") + "END:VTIMEZONE\r\n"


def _event(*props: str) -> str:
    return "BEGIN:VEVENT\r\n" + "".join(f"{p}\r\n" for p in props) + "END:VEVENT\r\n"


# Plain entries: the fast path must take them (and read them as icalendar does).
PLAIN = [
    _event("SUMMARY:Review", "DTSTART:20261218T110000Z", "DTEND:20261218T114500Z",
           "UID:a-1", "DTSTAMP:20261130T121648Z"),
    _event("SUMMARY:Offsite\\, day 1\\; bring\\nlaptops\\Nand chargers",
           "DTSTART;VALUE=DATE:20261218", "DTEND;VALUE=DATE:20261220",
           "LOCATION:Köln\\, Hauptstraße 5", "X-CRM-ID: 42 "),
    _event("SUMMARY:Whole day", "DTSTART;VALUE=DATE:20261218"),
    _event("SUMMARY:No end", "DTSTART:20261218T110000Z"),
    _event("SUMMARY:Floating", "DTSTART:20261218T110000", "DTEND:20261218T120000",
           "TRANSP:OPAQUE", "SEQUENCE:2", "CLASS:PUBLIC", "CREATED:20260101T000000Z",
           "LAST-MODIFIED:20260102T000000Z"),
    _event("SUMMARY:In a fixed zone", "DTSTART;TZID=UTC+0100:20261218T110000",
           "DTEND;TZID=UTC+0100:20261218T123000", "DESCRIPTION:Agenda:\\n1. prices"),
    _event("summary:lower case names", "dtstart:20261218T110000Z"),
    _event("SUMMARY:A long one folded over lines " + "x" * 60,
           " continued here", "DTSTART:20261218T110000Z", "DESCRIPTION:Zoë 😀 — “quoted”"),
    _event("SUMMARY:", "DTSTART;VALUE=DATE-TIME:20261218T110000Z"),
]

# Anything else: the fast path declines, icalendar reads it.
NOT_PLAIN = [
    _event("SUMMARY:Weekly", "DTSTART:20261218T110000Z", "RRULE:FREQ=WEEKLY"),
    _event("SUMMARY:Duration", "DTSTART:20261218T110000Z", "DURATION:PT1H"),
    _event("SUMMARY:Named zone", "DTSTART;TZID=Europe/Berlin:20261218T110000"),
    _event("SUMMARY:Named fixed zone", "DTSTART;TZID=Europe/Paris:20261218T110000"),
    _event("SUMMARY:Unknown zone", "DTSTART;TZID=Mars/Olympus:20261218T110000"),
    _event("SUMMARY;LANGUAGE=de:Besprechung", "DTSTART:20261218T110000Z"),
    _event("SUMMARY:Back\\\\slash", "DTSTART:20261218T110000Z"),
    _event("SUMMARY:Odd\\xescape", "DTSTART:20261218T110000Z"),
    _event("SUMMARY:Twice", "SUMMARY:Again", "DTSTART:20261218T110000Z"),
    _event("SUMMARY:Date without VALUE", "DTSTART:20261218"),
    _event("SUMMARY:No start"),
    _event("SUMMARY:Attendee", "DTSTART:20261218T110000Z", "ATTENDEE:mailto:a@example.org"),
    _event("SUMMARY:Broken stamp", "DTSTART:20261218T110000Z", "DTSTAMP:yesterday"),
    _event("SUMMARY:Quoted zone", 'DTSTART;TZID="UTC+0100":20261218T110000'),
]


def _records(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(ical, "plain_event", lambda lines, zones: None)
        return list(read_icalendar(text))


def _calendar(*events: str) -> str:
    return HEAD + PARIS_FIXED + BERLIN + FIXED_NAMED + "".join(events) + "END:VCALENDAR\r\n"


@pytest.mark.parametrize("event", PLAIN + NOT_PLAIN)
def test_every_entry_reads_as_icalendar_reads_it(event: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    text = _calendar(event)
    assert _records(text, fast=True, monkeypatch=monkeypatch) == _records(
        text, fast=False, monkeypatch=monkeypatch)


@pytest.mark.parametrize("event", PLAIN)
def test_plain_entries_take_the_fast_path(event: str) -> None:
    offsets = {"UTC+0100": dt.timedelta(hours=1)}
    assert plain_event(event.rstrip("\r\n").split("\r\n"), offsets) is not None


@pytest.mark.parametrize("event", NOT_PLAIN)
def test_other_entries_are_left_to_icalendar(event: str) -> None:
    offsets = {"UTC+0100": dt.timedelta(hours=1), "Europe/Paris": dt.timedelta(hours=1)}
    assert plain_event(event.rstrip("\r\n").split("\r\n"), offsets) is None


def test_an_export_of_this_client_reads_the_same_both_ways(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    zones = [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)),
             dt.timezone(dt.timedelta(hours=-8))]
    items = []
    for i in range(200):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
        fields: dict[str, Any] = {"subject": rng.choice(["Call, then; mail", "Zoë's visit",
                                                         "Line\nbreak", "x" * 120])}
        if i % 5 == 0:
            fields.update(all_day=True, start=day.isoformat(),
                          end=(day + dt.timedelta(days=2)).isoformat())
        else:
            start = dt.datetime.combine(day, dt.time(rng.randrange(24)), rng.choice(zones))
            fields.update(all_day=False, start=start.isoformat(),
                          end=(start + dt.timedelta(hours=1)).isoformat())
        if i % 3:
            fields["location"] = "Room 4\\5"    # a backslash: left to icalendar
        if i % 4 == 0:
            fields["notes"] = "Agenda\n- prices; terms, dates"
        items.append(Item(id=f"i{i}", entity="events", crm_id=str(i) if i % 2 else None,
                          crm_sync=True, fields=fields, created_at="", updated_at="", rev=0))
    text = b"".join(write_icalendar("events", items, offsets_of(items))).decode()
    fast = _records(text, fast=True, monkeypatch=monkeypatch)
    assert len(fast) == 200
    assert fast == _records(text, fast=False, monkeypatch=monkeypatch)
