"""CrmClient's calendar events over Oro's REST API (tray_client.crm.rest_events), against the
reference server on loopback: the calendar, ordered reads of an unordered API, walks that
shift, counts, writes, Oro's form errors, and what Check Connection says about events."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.crm import CrmClient, Cursor
from tray_client.crm.jsonapi import position
from tray_client.errors import NotFoundError, ValidationError

EVENT = {"title": "Standup", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T09:15:00Z",
         "allDay": False}


@pytest.fixture
def crm(devserver):
    client = CrmClient(devserver.url, TEST_USER, TEST_API_KEY, backoff_base=0)
    yield client
    client.close()


def add(devserver: Any, title: str, when: str | None = None, calendar: int = 1,
        user: str = "1") -> str:
    if when:
        devserver.admin.freeze_time(when)
    try:
        return devserver.admin.rest_events.add({**EVENT, "title": title, "calendar": calendar},
                                               user)
    finally:
        devserver.admin.freeze_time(None)


def test_the_users_own_calendar(crm, devserver):
    assert crm.user_calendar_id() == "1"
    mine = add(devserver, "mine")
    add(devserver, "Mary's", calendar=2, user="2")
    assert list(crm.iter_ids("calendarevents", filters={"calendar": "1"})) == [mine]
    assert crm.count("calendarevents", filters={"calendar": "1"}) == 1


def test_changes_come_in_updated_order_whatever_order_oro_pages_in(crm, devserver):
    crm.events.page_size = 3            # several pages, each in the server's scrambled order
    ids = [add(devserver, f"E{n}", f"2026-11-0{1 + n % 5}T10:00:00Z") for n in range(10)]
    read = list(crm.iter_changed("calendarevents", None, filters={"calendar": "1"}))
    assert sorted(r.id for r in read) == sorted(ids)
    assert [position(r.updated_at or "", r.id) for r in read] == sorted(
        position(r.updated_at or "", r.id) for r in read)
    # From a cursor: only what comes after it (its second re-read, as for JSON:API).
    cursor = Cursor(read[4].updated_at or "", read[4].id)
    after = [r.id for r in crm.iter_changed("calendarevents", cursor,
                                            filters={"calendar": "1"})]
    assert after == [r.id for r in read[5:]]


def test_a_walk_that_missed_events_is_read_again(crm, devserver, monkeypatch):
    ids = [add(devserver, f"E{n}") for n in range(6)]
    crm.events.page_size = 2
    real = crm.events._page
    calls = {"n": 0}

    def shifted(params):
        # The first page of the first walk loses an event (pages shifted under it).
        events, total = real(params)
        calls["n"] += 1
        return (events[1:], total) if calls["n"] == 1 else (events, total)

    monkeypatch.setattr(crm.events, "_page", shifted)
    assert sorted(crm.iter_ids("calendarevents", filters={"calendar": "1"})) == sorted(ids)
    assert calls["n"] > 4          # read twice


def test_writes_and_oros_errors(crm, devserver):
    created = crm.create("calendarevents", EVENT,
                         {"calendar": {"data": {"type": "calendars", "id": "1"}}})
    assert created.attributes["title"] == "Standup" and created.related_id("calendar") == "1"
    assert created.attributes["start"] == "2026-03-02T09:00:00+00:00"
    updated = crm.update("calendarevents", created.id, {"title": "Daily"})
    assert updated.attributes["title"] == "Daily"
    assert updated.attributes["end"] == "2026-03-02T09:15:00+00:00"     # kept by the PUT
    with pytest.raises(ValidationError) as caught:
        crm.update("calendarevents", created.id, {"end": "2026-03-02T08:00:00Z"})
    assert [(e.field, e.detail) for e in caught.value.errors] == [
        ("start", "This date should be earlier than end date")]
    assert "start: This date should be earlier than end date" in caught.value.message
    crm.delete("calendarevents", created.id)
    with pytest.raises(NotFoundError):
        crm.get("calendarevents", created.id)
    with pytest.raises(NotFoundError):
        crm.delete("calendarevents", created.id)
    assert list(crm.iter_collection("calendarevents",
                                    filters={"calendar": "1", "id": [created.id]})) == []


def test_an_update_reuses_the_event_the_caller_read_whole(crm, devserver):
    # A PUT replaces the whole event, so what the client does not map (attendees, reminders,
    # colour) is sent back. The push read the event with get() moments before: that copy
    # serves, sparing one GET a pushed event. A listing's copy lacks those fields: read.
    event_id = devserver.admin.rest_events.add({**EVENT, "calendar": 1, "attendees": [
        {"displayName": "Mary", "email": "mary@example.com"}]}, "1")
    sent: list[str] = []
    real = crm._send

    def counted(method, path, **kwargs):
        sent.append(method)
        return real(method, path, **kwargs)

    crm._send = counted
    whole = crm.get("calendarevents", event_id)
    sent.clear()
    updated = crm.update("calendarevents", event_id, {"title": "Daily"}, current=whole)
    assert sent == ["PUT", "GET"]          # the stored event read back for its updatedAt
    assert updated.attributes["title"] == "Daily"
    assert [a["email"] for a in updated.attributes["attendees"]] == ["mary@example.com"]
    listed = next(r for r in crm.iter_changed("calendarevents", None,
                                              filters={"calendar": "1"}))
    sent.clear()
    updated = crm.update("calendarevents", event_id, {"title": "Weekly"}, current=listed)
    assert sent == ["GET", "PUT", "GET"]
    assert [a["email"] for a in updated.attributes["attendees"]] == ["mary@example.com"]


def test_events_by_id_come_in_the_order_asked_several_reads_at_once(crm, devserver,
                                                                     monkeypatch):
    # No filter by id: one GET each, a few in flight at once; the answer keeps the order
    # asked, and leaves out events that are gone or in another calendar.
    ids = [add(devserver, f"e{i}") for i in range(9)]
    other = add(devserver, "Mary's", calendar=2, user="2")
    devserver.admin.rest_events.delete(ids[3])
    in_flight, most = 0, 0
    lock = threading.Lock()
    real = crm._send

    def counted(method, path, **kwargs):
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            time.sleep(0.02)   # long enough for the next read to start
            return real(method, path, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(crm, "_send", counted)
    asked = [*reversed(ids), other, "999999"]
    found = [r.id for r in crm.iter_collection("calendarevents",
                                               filters={"calendar": "1", "id": asked})]
    assert found == [i for i in reversed(ids) if i != ids[3]]
    assert most > 1


def test_events_written_are_read_back_with_one_listing(crm, devserver):
    ids = [add(devserver, f"e{i}", when="2026-10-01T08:00:00Z") for i in range(5)]
    whole = {i: crm.get("calendarevents", i) for i in ids}
    since = crm.server_time()
    sent: list[tuple[str, str]] = []
    real = crm._send

    def counted(method, path, **kwargs):
        sent.append((method, path.rsplit("/", 1)[-1]))
        return real(method, path, **kwargs)

    crm._send = counted
    for i in ids[:3]:
        assert crm.update_unread("calendarevents", i, {"title": f"new {i}"},
                                 current=whole[i]) is None
    assert [m for m, _ in sent] == ["PUT", "PUT", "PUT"]
    sent.clear()
    back = crm.read_back("calendarevents", ids[:3], since, filters={"calendar": "1"})
    assert [m for m, _ in sent] == ["GET"] and sent[0][1] == "calendarevents"
    assert {i: r.attributes["title"] for i, r in back.items()} == {
        i: f"new {i}" for i in ids[:3]}
    for i in ids[:3]:
        assert back[i].updated_at == crm.get("calendarevents", i).updated_at
    # An event the listing does not show (not changed since) is read by id.
    sent.clear()
    assert set(crm.read_back("calendarevents", [ids[4]], since,
                             filters={"calendar": "1"})) == {ids[4]}
    assert [m for m, _ in sent] == ["GET", "GET"]


def test_no_removals_feed_for_events(crm):
    from tray_client.errors import IncompatibleServerError

    with pytest.raises(IncompatibleServerError):
        list(crm.iter_removals("calendarevents", None))


def test_check_connection_says_whether_events_can_sync(crm, devserver):
    verdict = crm.check_connection()
    assert verdict.ok and verdict.events == "events: OK"
    devserver.admin.inject_fault("/api/rest/", status=404, times=None)
    verdict = crm.check_connection()
    assert verdict.ok        # contacts and tasks still sync
    assert verdict.events is not None
    assert verdict.events.startswith("events: the REST API is not reachable: ")
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY, backoff_base=0) as fresh:
        events = fresh.check_connection().events
    assert events is not None and "calendars/default" in events
    assert events.startswith("events: the REST API is not reachable: ")


def test_a_large_calendar_is_read_in_order_without_holding_it(crm, monkeypatch):
    # Oro's listing has no order, so the walk is read whole before it is sorted: kept on
    # disk, not in memory (100,000 events took ~250 MB of a sync; issue 17).
    import tracemalloc

    pages, size = 20, 500
    notes = "n" * 800

    def page(params):
        number = int(params["page"])
        if number > pages:
            return [], pages * size
        events = [{"id": (number - 1) * size + i + 1, "title": f"E{i}", "description": notes,
                   "start": "2026-03-02T09:00:00+00:00", "end": "2026-03-02T10:00:00+00:00",
                   "allDay": False, "calendar": 1,
                   # later pages hold older events: the order is the client's work
                   "updatedAt": f"2026-01-{28 - number:02d}T10:{i % 60:02d}:00+00:00"}
                  for i in range(size)]
        return events, pages * size

    monkeypatch.setattr(crm.events, "_page", page)
    crm.events.page_size = size
    tracemalloc.start()
    try:
        count, last = 0, None
        for res in crm.iter_changed("calendarevents", None, filters={"calendar": "1"}):
            here = position(res.updated_at or "", res.id)
            assert last is None or here > last
            assert res.attributes["description"] == notes
            assert res.related_id("calendar") == "1"
            count, last = count + 1, here
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == pages * size
    # Held whole, the 10,000 events took well over 10 MB; now a page and a read batch.
    assert peak < 5_000_000, peak
