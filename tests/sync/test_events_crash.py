"""Killed at any instant, a sync of calendar events (Oro's REST API: POST, then PUT of the
whole event) converges on the next run with no duplicates and no lost edit (DESIGN §10).
The worker (crash_worker.py) syncs every entity; this test changes events on both sides."""

from __future__ import annotations

import random

import pytest

from tests.sync.helpers import assert_quiet
from tests.sync.test_crash import run_worker
from tray_client.store import LocalStore
from tray_client.sync.config import BOTH, LOCAL_TO_CRM

KILLS = 10
MAX_ROUNDS = 50


def _event_body(title: str, end: str) -> dict:
    return {"title": title, "start": "2026-05-04T09:00:00+00:00", "end": end,
            "allDay": False, "calendar": 1}


@pytest.mark.slow
@pytest.mark.parametrize("direction", [BOTH, LOCAL_TO_CRM])
def test_killed_event_syncs_converge(devserver, make_rig, direction):
    rng = random.Random(14)
    rig = make_rig(devserver)
    # Client-side rule (the old Outlook section has no events direction), for the worker
    # processes too.
    rig.direction("events", direction)
    db = rig.store.path
    events = devserver.admin.rest_events
    local_titles: set[str] = set()
    crm_titles: set[str] = set()
    local_notes: dict[str, str] = {}   # title -> notes set locally
    crm_ends: dict[str, str] = {}      # title -> end set in the CRM
    outcomes: list[str] = []
    counter = 0

    def new_title() -> str:
        nonlocal counter
        counter += 1
        return f"Meeting {counter:04d}"

    round_no = -1
    while outcomes.count("killed") < KILLS and round_no < MAX_ROUNDS:
        round_no += 1
        store = LocalStore(db)
        try:
            for _ in range(rng.randint(2, 8)):
                title = new_title()
                store.add("events", {"subject": title, "start": "2026-05-04T11:00:00+02:00",
                                     "end": "2026-05-04T12:00:00+02:00"})
                local_titles.add(title)
            linked = [i for i in store.list("events") if i.crm_id]
            for item in rng.sample(linked, min(len(linked), rng.randint(0, 4))):
                note = f"n{round_no}"
                store.update(item.id, {"notes": note})
                local_notes[item.fields["subject"]] = note
        finally:
            store.close()
        for _ in range(rng.randint(2, 8)):
            title = new_title()
            events.add(_event_body(title, "2026-05-04T10:00:00+00:00"))
            crm_titles.add(title)
        crm_ids = devserver.admin.ids("calendarevents")
        for crm_id in rng.sample(crm_ids, min(len(crm_ids), rng.randint(0, 4))):
            event = events.get(crm_id, "1")
            if direction == LOCAL_TO_CRM and event["title"] in local_titles:
                continue  # Local → CRM: the item's next change rightly overwrites the CRM
            end = f"2026-05-04T1{rng.randint(1, 8)}:00:00+00:00"
            body = {k: event[k] for k in ("title", "description", "start", "allDay", "uid",
                                          "calendar")}
            events.update(crm_id, {**body, "end": end}, "1")
            crm_ends[event["title"]] = end
        if round_no % 2:
            outcomes.append(run_worker(devserver.url, db, die_after=rng.randint(1, 4),
                                       when=rng.choice(("before", "after")),
                                       directions={"events": direction}))
        else:
            outcomes.append(run_worker(devserver.url, db, kill_after=rng.uniform(0.0, 0.2),
                                       directions={"events": direction}))
    assert outcomes.count("killed") >= KILLS, outcomes

    rig.store.close()
    rig.store = LocalStore(db)
    result = rig.sync()
    assert result.outcome == "ok", (result.message, result.errors)
    items = rig.local("events")
    records = [events.get(i, "1") for i in devserver.admin.ids("calendarevents")]
    local_by_title: dict[str, object] = {}
    for item in items:
        title = item.fields["subject"]
        assert title not in local_by_title, f"duplicate local event {title}"
        local_by_title[title] = item
    crm_by_title: dict[str, dict] = {}
    for event in records:
        assert event["title"] not in crm_by_title, f"duplicate CRM event {event['title']}"
        crm_by_title[event["title"]] = event
    if direction == BOTH:
        everything = local_titles | crm_titles
        assert set(local_by_title) == everything and set(crm_by_title) == everything
    else:
        assert set(local_by_title) == local_titles
        assert set(crm_by_title) == local_titles | crm_titles
    for title, note in local_notes.items():
        assert local_by_title[title].fields.get("notes") == note     # type: ignore[attr-defined]
        assert crm_by_title[title]["description"] == note
    for title, end in crm_ends.items():
        assert crm_by_title[title]["end"] == end
        if direction == BOTH:
            assert local_by_title[title].fields["end"] == end        # type: ignore[attr-defined]
    assert_quiet(rig)


@pytest.mark.parametrize("crm_edit", [True, False])
@pytest.mark.parametrize("direction", [BOTH, LOCAL_TO_CRM])
def test_lost_create_is_recognised_after_edits(devserver, make_rig, direction, crm_edit):
    """A run creates an event and is killed before the link is committed; someone then edits
    that event in the CRM (its end, a key field; or nobody) and the user edits its notes
    locally. The next run must recognise the record its create made (by the uid the create
    sent), not pull it as a second local event nor create a second CRM event, and keep both
    edits (the local one is not overwritten as if the pair had just been matched)."""
    rig = make_rig(devserver)
    rig.direction("events", direction)
    db = rig.store.path
    rig.store.add("events", {"subject": "Meeting A", "start": "2026-05-04T11:00:00+02:00",
                             "end": "2026-05-04T12:00:00+02:00"})
    rig.store.close()
    assert run_worker(devserver.url, db, die_after=1, when="after",
                      directions={"events": direction}) == "killed"
    events = devserver.admin.rest_events
    [crm_id] = devserver.admin.ids("calendarevents")
    event = events.get(crm_id, "1")
    body = {k: event[k] for k in ("title", "description", "start", "allDay", "uid", "calendar")}
    if crm_edit:
        events.update(crm_id, {**body, "end": "2026-05-04T15:00:00+00:00"}, "1")

    rig.store = LocalStore(db)
    [item] = rig.local("events")
    assert event["uid"] == item.id
    rig.store.update(item.id, {"notes": "agenda"})
    result = rig.sync()
    assert result.outcome == "ok", (result.message, result.errors)
    items = rig.local("events")
    assert [i.fields["subject"] for i in items] == ["Meeting A"], "duplicate local event"
    assert devserver.admin.ids("calendarevents") == [crm_id], "duplicate CRM event"
    assert items[0].crm_id == crm_id
    assert items[0].fields["notes"] == "agenda"
    assert events.get(crm_id, "1")["description"] == "agenda"
    if direction == BOTH and crm_edit:
        assert items[0].fields["end"] == "2026-05-04T15:00:00+00:00"
    else:   # nobody edited the CRM, or Local → CRM: the local values replace the CRM's
        assert events.get(crm_id, "1")["end"] == "2026-05-04T10:00:00+00:00"
    assert_quiet(rig)
