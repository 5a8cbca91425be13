"""Calendar events synced through Oro's REST API (issue 14), against the reference server's
``/api/rest/latest/calendarevents`` over loopback: the events rows of DESIGN §6's outcome
table, the mapping rules, invitations, recurring events, all-day and DST-crossing events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sync.helpers import assert_quiet
from tray_client.store import LocalStore
from tray_client.sync.config import BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM, LOCAL_WINS

E = ["events"]
ALL = [CRM_TO_LOCAL, LOCAL_TO_CRM, BOTH]
START, END = "2026-03-02T09:00:00+00:00", "2026-03-02T10:00:00+00:00"


def crm_event(rig: Any, title: str, start: str = START, end: str = END, all_day: bool = False,
              **fields: Any) -> str:
    """An event made in the CRM through its REST form (as the user's own, unless told)."""
    server_side = {k: fields.pop(k) for k in ("parentEventId", "isOrganizer", "organizerEmail")
                   if k in fields}
    body = {"title": title, "start": start, "end": end, "allDay": all_day, "calendar": 1,
            **fields}
    return rig.admin.rest_events.add(body, "1", **server_side)


def crm_get(rig: Any, crm_id: str) -> dict[str, Any]:
    """The event as ``GET /api/rest/latest/calendarevents/{id}`` answers."""
    return rig.admin.rest_events.get(crm_id, "1")


def crm_edit(rig: Any, crm_id: str, **changes: Any) -> None:
    """An edit made in Oro: a PUT of the whole event with some fields changed."""
    event = crm_get(rig, crm_id)
    body = {k: event[k] for k in ("title", "description", "start", "end", "allDay", "uid",
                                  "backgroundColor", "attendees", "calendar")}
    rig.admin.rest_events.update(crm_id, {**body, **changes}, "1")


def crm_ids(rig: Any) -> list[str]:
    return rig.admin.ids("calendarevents")


def linked_pair(rig: Any, direction: str) -> tuple[str, str]:
    """An event on both sides, linked by a first sync in ``direction``."""
    rig.direction("events", direction)
    if direction == LOCAL_TO_CRM:
        item = rig.store.add("events", {"subject": "Review", "start": START, "end": END,
                                        "notes": "agenda"})
        rig.sync(entities=E)
        crm_id = rig.store.get(item.id).crm_id
        assert crm_id
        return crm_id, item.id
    crm_id = crm_event(rig, "Review", description="agenda")
    rig.sync(entities=E)
    item = rig.only_local("events")
    assert item.crm_id == crm_id
    return crm_id, item.id


# -- the outcome table, events rows ------------------------------------------------------------

@pytest.mark.parametrize("direction, created", [(CRM_TO_LOCAL, True), (LOCAL_TO_CRM, False),
                                                (BOTH, True)])
def test_event_only_in_crm(rig, direction, created):
    rig.direction("events", direction)
    crm_id = crm_event(rig, "Standup", description="Daily")
    result = rig.sync(entities=E)
    assert result.outcome == "ok", result.message
    items = rig.local("events")
    if created:
        (item,) = items
        assert item.crm_id == crm_id and item.crm_sync
        assert item.fields == {"subject": "Standup", "start": START, "end": END,
                               "all_day": False, "notes": "Daily"}
    else:
        assert items == []
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction, created", [(CRM_TO_LOCAL, False), (LOCAL_TO_CRM, True),
                                                (BOTH, True)])
def test_event_only_local(rig, direction, created):
    rig.direction("events", direction)
    item = rig.store.add("events", {"subject": "Offsite", "start": "2026-03-02T10:00:00+01:00",
                                    "end": "2026-03-02T12:00:00+01:00", "notes": "Bring maps",
                                    "location": "Rome"})
    rig.sync(entities=E)
    if created:
        (crm_id,) = crm_ids(rig)
        assert rig.store.get(item.id).crm_id == crm_id
        event = crm_get(rig, crm_id)
        assert (event["title"], event["start"], event["end"], event["allDay"],
                event["description"]) == ("Offsite", START, "2026-03-02T11:00:00+00:00", False,
                                          "Bring maps")
        assert event["calendar"] == 1 and event["isOrganizer"] is True
        # Oro has no location: it stays on the local side only.
        assert rig.store.get(item.id).fields["location"] == "Rome"
    else:
        assert crm_ids(rig) == []
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction", ALL)
def test_event_on_both_sides_first_sync(rig, direction):
    rig.direction("events", direction)
    crm_id = crm_event(rig, "Review", description="CRM notes")
    # Same key (title, start, end, all-day) written differently: a match, not a duplicate.
    item = rig.store.add("events", {"subject": " review ", "start": "2026-03-02T10:00:00+01:00",
                                    "end": "2026-03-02T11:00:00+01:00", "notes": "Local notes"})
    rig.sync(entities=E)
    assert crm_ids(rig) == [crm_id]
    assert rig.store.get(item.id).crm_id == crm_id
    notes = rig.store.get(item.id).fields["notes"]
    description = crm_get(rig, crm_id)["description"]
    wanted = "Local notes" if direction == LOCAL_TO_CRM else "CRM notes"
    assert notes == description == wanted
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction", ALL)
def test_event_updated_in_crm(rig, direction):
    crm_id, item_id = linked_pair(rig, direction)
    crm_edit(rig, crm_id, end="2026-03-02T11:30:00+00:00")
    rig.sync(entities=E)
    local = rig.store.get(item_id).fields
    if direction == LOCAL_TO_CRM:
        assert local["end"] == END            # stays; local values win when it changes
        rig.store.update(item_id, {"notes": "new agenda"})
        rig.sync(entities=E)
        event = crm_get(rig, crm_id)
        assert event["end"] == END and event["description"] == "new agenda"
    else:
        assert local["end"] == "2026-03-02T11:30:00+00:00"
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction, sent", [(CRM_TO_LOCAL, False), (LOCAL_TO_CRM, True),
                                             (BOTH, True)])
def test_event_updated_locally(rig, direction, sent):
    crm_id, item_id = linked_pair(rig, direction)
    rig.store.update(item_id, {"subject": "Review (moved)", "all_day": False,
                               "start": "2026-03-03T09:00:00+00:00",
                               "end": "2026-03-03T10:00:00+00:00"})
    rig.sync(entities=E)
    assert rig.store.get(item_id).fields["subject"] == "Review (moved)"
    event = crm_get(rig, crm_id)
    if sent:
        assert (event["title"], event["start"]) == ("Review (moved)",
                                                    "2026-03-03T09:00:00+00:00")
        assert event["description"] == "agenda"      # the PUT kept what it did not change
    else:
        assert (event["title"], event["start"]) == ("Review", START)
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction, policy, winner", [
    (CRM_TO_LOCAL, None, "crm"), (LOCAL_TO_CRM, None, "local"),
    (BOTH, None, "crm"), (BOTH, LOCAL_WINS, "local")])
def test_event_updated_on_both_sides(rig, direction, policy, winner):
    if policy:
        rig.policy("events", policy)
    crm_id, item_id = linked_pair(rig, direction)
    rig.store.update(item_id, {"notes": "local agenda"})
    crm_edit(rig, crm_id, description="CRM agenda")
    result = rig.sync(entities=E)
    wanted = "CRM agenda" if winner == "crm" else "local agenda"
    assert rig.store.get(item_id).fields["notes"] == wanted
    assert crm_get(rig, crm_id)["description"] == wanted
    conflict = next(c for c in result.conflicts if c.field == "notes")
    assert (conflict.local_value, conflict.crm_value, conflict.winner) == (
        "local agenda", "CRM agenda", winner)
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction", ALL)
def test_event_deleted_locally(rig, direction):
    crm_id, item_id = linked_pair(rig, direction)
    rig.store.delete(item_id)
    rig.sync(entities=E)
    assert crm_ids(rig) == [crm_id]                    # stays in the CRM
    if direction == LOCAL_TO_CRM:
        assert rig.local("events") == []
    else:
        item = rig.only_local("events")                # recreated from the CRM
        assert item.crm_id == crm_id and item.id != item_id
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction, kept", [(CRM_TO_LOCAL, True), (LOCAL_TO_CRM, False),
                                             (BOTH, False)])
def test_event_deleted_in_crm(rig, direction, kept):
    crm_id, item_id = linked_pair(rig, direction)
    before = rig.store.get(item_id)
    rig.admin.rest_events.delete(crm_id)
    rig.sync(entities=E)
    after = rig.store.get(item_id)
    if kept:
        assert after is not None and after.fields == before.fields
    else:
        assert after is None
        assert any(e.item.id == item_id and e.reason == "sync_delete"
                   for e in rig.store.trash_list())
    assert_quiet(rig, E)


@pytest.mark.parametrize("direction", [CRM_TO_LOCAL, BOTH])
def test_several_local_events_match(rig, direction):
    rig.direction("events", direction)
    first = rig.store.add("events", {"subject": "Review", "start": START, "end": END,
                                     "notes": "1"})
    second = rig.store.add("events", {"subject": "Review", "start": START, "end": END,
                                      "notes": "2"})
    crm_id = crm_event(rig, "Review", description="CRM")
    rig.sync(entities=E)
    assert rig.store.get(first.id).crm_id == crm_id
    assert rig.store.get(first.id).fields["notes"] == "CRM"
    other = rig.store.get(second.id)
    if direction == CRM_TO_LOCAL:
        assert other.crm_id is None and other.fields["notes"] == "2"
    else:
        assert other.crm_id not in (None, crm_id)
    assert_quiet(rig, E)


# -- the mapping ------------------------------------------------------------------------------

def test_events_only_from_the_users_own_calendar(rig):
    mine = crm_event(rig, "Mine")
    rig.admin.rest_events.add({"title": "Mary's", "start": START, "end": END,
                               "calendar": 2}, "2")
    rig.sync(entities=E)
    assert [i.crm_id for i in rig.local("events")] == [mine]


def test_an_update_keeps_what_the_client_does_not_map(rig):
    crm_id = crm_event(rig, "Board", backgroundColor="#FF0000",
                       attendees=[{"displayName": "Mary", "email": "mary@example.com",
                                   "status": "accepted", "type": "required"}])
    uid = crm_get(rig, crm_id)["uid"]
    rig.sync(entities=E)
    item = rig.only_local("events")
    rig.store.update(item.id, {"subject": "Board meeting"})
    rig.sync(entities=E)
    event = crm_get(rig, crm_id)
    assert event["title"] == "Board meeting"
    assert event["uid"] == uid and event["backgroundColor"] == "#FF0000"
    assert event["attendees"] == [{"displayName": "Mary", "email": "mary@example.com",
                                   "status": "accepted", "type": "required"}]


def test_a_pushed_update_reads_the_event_once_before_its_put(rig, monkeypatch):
    # The push reads each changed pair's event (Oro's REST API has no filter[id]) and the PUT
    # sends that copy's unmapped fields back, not a copy read again; the PUT's answer has no
    # updatedAt, so the pushed events are read back together with one changed-since listing:
    # GET, PUT a pushed event, not four requests nor a GET after the PUT (issue 17).
    rig.admin.freeze_time("2026-11-01T10:00:00Z")  # not in the second the next pull re-reads
    crm_id = crm_event(rig, "Board", attendees=[{"displayName": "Mary",
                                                  "email": "mary@example.com"}])
    rig.admin.freeze_time(None)
    crm_event(rig, "Later")
    rig.sync(entities=E)
    item = next(i for i in rig.local("events") if i.crm_id == crm_id)
    rig.store.update(item.id, {"subject": "Board meeting"})
    sent: list[str] = []
    listings: list[dict[str, str]] = []
    real = rig.crm._send

    def counted(method, path, **kwargs):
        if path.endswith(f"/calendarevents/{crm_id}"):
            sent.append(method)
        elif path.endswith("/calendarevents"):
            listings.append(dict(kwargs.get("params") or {}))
        return real(method, path, **kwargs)

    monkeypatch.setattr(rig.crm, "_send", counted)
    result = rig.sync(entities=E)
    assert result.count("events", "crm", "updated") == 1, result.counts
    assert sent == ["GET", "PUT"]
    # The read back: a listing of what changed since just before the PUT.
    assert any("updatedAt>" in params for params in listings[-1:]), listings
    event = crm_get(rig, crm_id)
    assert event["title"] == "Board meeting"
    assert [a["email"] for a in event["attendees"]] == ["mary@example.com"]
    # The base took the stored event's updatedAt: the next sync writes nothing.
    assert_quiet(rig, E)


def test_a_pushed_event_the_read_back_listing_misses_is_read_by_id(rig, monkeypatch):
    # The listing is unordered and may shift under a walk; an event it does not show is
    # read by id rather than left without its stored values.
    rig.admin.freeze_time("2026-11-01T10:00:00Z")
    crm_id = crm_event(rig, "Board")
    rig.admin.freeze_time(None)
    rig.sync(entities=E)
    item = rig.only_local("events")
    rig.store.update(item.id, {"subject": "Board meeting"})
    real_walk = rig.crm.events._walk

    def walk_that_misses(calendar, sink, updated_since=None, page_size=None):
        real_walk(calendar, sink, updated_since, page_size)
        if updated_since and len(sink):
            sink.clear()   # as if the pushed event had moved out of the pages read

    monkeypatch.setattr(rig.crm.events, "_walk", walk_that_misses)
    sent: list[str] = []
    real = rig.crm._send

    def counted(method, path, **kwargs):
        if path.endswith(f"/calendarevents/{crm_id}"):
            sent.append(method)
        return real(method, path, **kwargs)

    monkeypatch.setattr(rig.crm, "_send", counted)
    result = rig.sync(entities=E)
    assert result.outcome == "ok" and result.count("events", "crm", "updated") == 1
    assert sent == ["GET", "PUT", "GET"]
    monkeypatch.undo()
    assert_quiet(rig, E)


def test_a_rejected_event_is_a_record_error_with_oros_message(rig):
    # Oro requires a title (the local store does not): one clear error, retried next run.
    item = rig.store.add("events", {"start": START, "end": END, "notes": "untitled"})
    result = rig.sync(entities=E)
    assert result.outcome == "partial"
    (error,) = result.errors
    assert error.item_id == item.id
    assert "title: This value should not be blank." in error.message
    assert crm_ids(rig) == []
    rig.store.update(item.id, {"subject": "Titled"})
    assert rig.sync(entities=E).outcome == "ok"
    assert crm_get(rig, rig.store.get(item.id).crm_id)["title"] == "Titled"


def test_attendee_only_events_come_but_are_never_sent_back(rig):
    crm_id = crm_event(rig, "Their meeting", parentEventId=77, isOrganizer=False,
                       organizerEmail="mary.miller@example.com")
    rig.sync(entities=E)
    item = rig.only_local("events")
    assert item.crm_id == crm_id
    rig.store.update(item.id, {"subject": "My title for it", "notes": "my notes"})
    result = rig.sync(entities=E)
    assert result.outcome == "ok" and result.changes == 0
    rows = rig.engine().state.report_rows(result.run_id)
    assert [(r[4], r[6]) for r in rows] == [("skipped", "skipped")]
    assert "only an attendee" in rows[0][7]
    event = crm_get(rig, crm_id)
    assert event["title"] == "Their meeting" and event["description"] is None
    assert rig.store.get(item.id).fields["subject"] == "My title for it"   # kept locally
    assert_quiet(rig, E)
    # The organizer's changes still come.
    crm_edit(rig, crm_id, end="2026-03-02T10:30:00+00:00")
    rig.sync(entities=E)
    assert rig.store.get(item.id).fields["end"] == "2026-03-02T10:30:00+00:00"
    assert crm_get(rig, crm_id)["title"] == "Their meeting"


def test_an_invitation_from_a_colleague_follows_the_organizer(rig):
    # Mary (user 2) invites the user: Oro copies the event into his calendar.
    parent = rig.admin.rest_events.add({
        "title": "Budget", "start": START, "end": END, "allDay": False, "calendar": 2,
        "attendees": [{"displayName": "John Admin", "email": "admin@example.com"}]}, "2")
    rig.sync(entities=E)
    item = rig.only_local("events")
    assert item.fields["subject"] == "Budget"
    rig.store.update(item.id, {"subject": "Budget (my notes)"})
    rig.sync(entities=E)
    event = rig.admin.rest_events.get(parent, "2")
    assert event["title"] == "Budget"                       # never written by the attendee
    body = {k: event[k] for k in ("title", "start", "end", "allDay", "calendar", "attendees")}
    rig.admin.rest_events.update(parent, {**body, "end": "2026-03-02T11:00:00+00:00"}, "2")
    rig.sync(entities=E)
    assert rig.store.get(item.id).fields["end"] == "2026-03-02T11:00:00+00:00"
    assert_quiet(rig, E)
    rig.admin.rest_events.update(parent, {**body, "attendees": []}, "2")   # uninvited
    rig.sync(entities=E)
    assert rig.local("events") == []                        # gone from his calendar


def test_recurring_events_are_skipped_never_flattened(rig):
    weekly = crm_event(rig, "Weekly", recurrence={
        "recurrenceType": "weekly", "interval": 1, "dayOfWeek": ["monday"],
        "startTime": START, "timeZone": "UTC"})
    moved = crm_event(rig, "Weekly (moved)", start="2026-03-10T09:00:00+00:00",
                      end="2026-03-10T10:00:00+00:00", recurringEventId=int(weekly),
                      originalStart="2026-03-09T09:00:00+00:00")
    single = crm_event(rig, "Single")
    before = {i: crm_get(rig, i) for i in (weekly, moved)}
    result = rig.sync(entities=E)
    assert result.outcome == "ok"
    assert [i.crm_id for i in rig.local("events")] == [single]
    rows = [r for r in rig.engine().state.report_rows(result.run_id) if r[4] == "skipped"]
    assert sorted(r[2] for r in rows) == sorted([weekly, moved])
    assert all("recurr" in r[7] for r in rows)
    assert {i: crm_get(rig, i) for i in (weekly, moved)} == before
    assert_quiet(rig, E)


def test_an_event_made_recurring_in_oro_is_left_alone_on_both_sides(rig):
    crm_id = crm_event(rig, "Planning")
    rig.sync(entities=E)
    item = rig.only_local("events")
    crm_edit(rig, crm_id, recurrence={"recurrenceType": "daily", "interval": 1,
                                      "startTime": START, "timeZone": "UTC"})
    rig.store.update(item.id, {"subject": "Planning (local)"})
    result = rig.sync(entities=E)
    event = crm_get(rig, crm_id)
    assert event["title"] == "Planning" and event["recurrence"]["recurrenceType"] == "daily"
    assert rig.store.get(item.id).fields["subject"] == "Planning (local)"
    assert any(r[4] == "skipped" for r in rig.engine().state.report_rows(result.run_id))
    assert_quiet(rig, E)


# -- round trips: all-day and across a DST change -----------------------------------------------

ROUND_TRIP = [
    {"subject": "Holiday", "start": "2026-07-14", "end": "2026-07-15", "all_day": True},
    # Europe/Berlin: summer time starts 2026-03-29 02:00; the event spans it.
    {"subject": "Night shift", "start": "2026-03-28T22:00:00+01:00",
     "end": "2026-03-29T06:00:00+02:00", "all_day": False},
    # New York: summer time ends 2026-11-01.
    {"subject": "Retreat", "start": "2026-10-31T18:00:00-04:00",
     "end": "2026-11-01T18:00:00-05:00", "all_day": False},
]


@pytest.mark.parametrize("fields", ROUND_TRIP, ids=["all-day", "dst-start", "dst-end"])
def test_local_event_round_trips_unchanged(rig, make_rig, devserver, fields):
    item = rig.store.add("events", dict(fields))
    rig.sync(entities=E)
    assert rig.store.get(item.id).fields == fields       # nothing rewritten locally
    crm_id = rig.store.get(item.id).crm_id
    event = crm_get(rig, crm_id)
    assert event["allDay"] is fields["all_day"]
    assert_quiet(rig, E)
    # A second computer pulls it: the same instants (UTC), the same dates.
    other = make_rig(devserver, "other.db")
    other.sync(entities=E)
    (copy,) = other.local("events")
    if fields["all_day"]:
        assert (copy.fields["start"], copy.fields["end"]) == (fields["start"], fields["end"])
    else:
        from datetime import datetime
        for name in ("start", "end"):
            assert datetime.fromisoformat(copy.fields[name]) == datetime.fromisoformat(
                fields[name])
    # ... and pushes nothing back.
    assert crm_get(other, crm_id) == event
    assert_quiet(other, E)


@pytest.mark.parametrize("start, end, all_day", [
    ("2026-12-24T00:00:00+00:00", "2026-12-26T00:00:00+00:00", True),
    ("2026-03-28T21:00:00+00:00", "2026-03-29T05:00:00+00:00", False)],
    ids=["all-day", "dst"])
def test_crm_event_round_trips_unchanged(rig, start, end, all_day):
    crm_id = crm_event(rig, "Trip", start=start, end=end, all_day=all_day)
    before = crm_get(rig, crm_id)
    rig.sync(entities=E)
    item = rig.only_local("events")
    if all_day:
        assert (item.fields["start"], item.fields["end"]) == ("2026-12-24", "2026-12-26")
    rig.store.update(item.id, {"notes": "packed"})     # an edit of another field
    rig.sync(entities=E)
    after = crm_get(rig, crm_id)
    assert (after["start"], after["end"], after["allDay"]) == (start, end, all_day)
    assert after["description"] == "packed"
    assert {k: v for k, v in after.items() if k not in ("description", "updatedAt")} == {
        k: v for k, v in before.items() if k not in ("description", "updatedAt")}
    assert_quiet(rig, E)


def test_store_reopened_sees_nothing_to_do(rig, tmp_path):
    crm_event(rig, "Standup")
    rig.store.add("events", {"subject": "Lunch", "start": START, "end": END})
    rig.sync(entities=E)
    rig.store.close()
    rig.store = LocalStore(rig.store.path)
    assert_quiet(rig, E)


def test_an_event_the_id_listing_missed_is_looked_up_before_deleting(rig, monkeypatch):
    # Oro pages its REST listing in no order: a walk during changes may miss an event. What
    # looks deleted is fetched by id first, so an existing event is never deleted locally.
    rig.direction("events", BOTH)
    ids = [crm_event(rig, f"E{n}") for n in range(3)]
    rig.sync(entities=E)
    real = rig.crm.iter_ids
    monkeypatch.setattr(rig.crm, "iter_ids", lambda type, **kw: [
        i for i in real(type, **kw) if i != ids[1]])
    monkeypatch.setattr(rig.crm, "count", lambda type, **kw: 2, raising=False)
    items = {i.id for i in rig.local("events")}
    result = rig.sync(entities=E)
    assert result.outcome == "ok" and result.changes == 0, result.counts
    assert {i.id for i in rig.local("events")} == items     # not deleted (and recreated)
    rig.admin.rest_events.delete(ids[2])          # a real deletion still goes
    monkeypatch.setattr(rig.crm, "iter_ids", lambda type, **kw: [ids[0]])
    rig.sync(entities=E)
    assert sorted(i.crm_id for i in rig.local("events")) == sorted(ids[:2])


# -- all-day events across time zones ----------------------------------------------------------

@pytest.mark.parametrize("zone, oro_start, oro_end", [
    # As Oro's calendar writes a one-day event on 2026-07-14 for a user in that zone.
    ("Europe/Berlin", "2026-07-13T22:00:00+00:00", "2026-07-14T21:59:00+00:00"),
    ("America/New_York", "2026-07-14T04:00:00+00:00", "2026-07-15T03:59:00+00:00"),
    ("Asia/Tokyo", "2026-07-13T15:00:00+00:00", "2026-07-14T14:59:00+00:00"),
    # Midnight UTC to midnight UTC (other writers): the same day everywhere.
    ("America/New_York", "2026-07-14T00:00:00+00:00", "2026-07-15T00:00:00+00:00"),
    ("Asia/Tokyo", "2026-07-14T00:00:00+00:00", "2026-07-15T00:00:00+00:00"),
])
def test_all_day_events_keep_their_day_in_any_zone(rig, local_zone, zone, oro_start, oro_end):
    local_zone(zone)
    crm_id = crm_event(rig, "Holiday", start=oro_start, end=oro_end, all_day=True)
    rig.sync(entities=E)
    item = rig.only_local("events")
    assert (item.fields["start"], item.fields["end"]) == ("2026-07-14", "2026-07-15")
    assert_quiet(rig, E)
    # A local all-day event goes to Oro as its calendar would write it in this zone.
    mine = rig.store.add("events", {"subject": "Trip", "start": "2026-12-24",
                                    "end": "2026-12-27", "all_day": True})
    rig.sync(entities=E)
    event = crm_get(rig, rig.store.get(mine.id).crm_id)
    from datetime import datetime
    start = datetime.fromisoformat(event["start"]).astimezone()
    end = datetime.fromisoformat(event["end"]).astimezone()
    assert (start.date().isoformat(), start.strftime("%H:%M")) == ("2026-12-24", "00:00")
    assert (end.date().isoformat(), end.strftime("%H:%M")) == ("2026-12-26", "23:59")
    assert rig.store.get(mine.id).fields["end"] == "2026-12-27"
    assert crm_get(rig, crm_id)["start"] == oro_start
    assert_quiet(rig, E)
