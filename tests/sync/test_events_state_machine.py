"""The sync state machine for calendar events over Oro's REST API: random creates, edits
(a PUT of the whole event in the CRM), deletes, invitations and recurring events on both
sides, interleaved with syncs (some with a rejected REST write). After every clean sync:

- the sides agree as the direction says, recurring events stay CRM-only and unchanged;
- links are one-to-one; a second sync writes nothing;
- no local edit is lost except as a recorded conflict (or with its item, into the trash);
- an event where the user is only an attendee is never written by the client.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.conftest import TEST_API_KEY, TEST_USER
from tests.rig import Rig
from tests.sync.helpers import assert_quiet, base_value
from tray_client.crm import CrmClient
from tray_client.devserver.testing import RunningServer
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import mapping
from tray_client.sync.config import BOTH, CRM_TO_LOCAL, CRM_WINS, LOCAL_TO_CRM, LOCAL_WINS

E = ["events"]
TITLES = st.sampled_from(["Standup", "Review", "Lunch"])
HOURS = st.sampled_from([8, 9, 13])
NOTES = st.sampled_from(["a", "b", ""])
DAY = "2026-03-29"   # Europe's summer time starts that night
# The organizer's event an invitation hangs under (in another user's calendar on a real Oro).
# Never one of this machine's events: deleting that one takes its invitations along, and the
# shared server's first event is id 1.
ORGANIZER_EVENT = 1_000_000

_server: RunningServer | None = None


def shared_server() -> RunningServer:
    global _server
    if _server is None:
        tmp = Path(tempfile.mkdtemp(prefix="events-sm-"))
        _server = RunningServer(db_path=tmp / "crm.db", user=TEST_USER,
                                api_key=TEST_API_KEY).start()
    return _server


def _times(hour: int) -> tuple[str, str]:
    return f"{DAY}T{hour:02d}:00:00+00:00", f"{DAY}T{hour + 1:02d}:00:00+00:00"


class EventsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = shared_server()
        self.events = self.server.admin.rest_events
        for crm_id in self.server.admin.ids("calendarevents"):
            self.server.admin.delete("calendarevents", crm_id)
        self.server.admin.clear_faults()
        self.tmp = Path(tempfile.mkdtemp(prefix="events-sm-store-"))
        self.rig = Rig(self.server, LocalStore(self.tmp / "local.db"),
                       CrmClient(self.server.url, TEST_USER, TEST_API_KEY), Settings())
        self.direction = BOTH
        self.local_edits: dict[str, str | None] = {}     # item id -> notes set locally
        self.crm_edited: set[str] = set()
        self.local_edited: set[str] = set()
        self.untouchable: dict[str, dict[str, Any]] = {}  # recurring / invitations, as made
        self.synced = False

    def teardown(self) -> None:
        self.rig.crm.close()
        self.rig.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize(direction=st.sampled_from([BOTH, BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM]),
                policy=st.sampled_from([CRM_WINS, LOCAL_WINS]))
    def configure(self, direction: str, policy: str) -> None:
        self.direction = direction
        self.rig.direction("events", direction)
        self.rig.policy("events", policy)

    # -- changes on either side ------------------------------------------------------------------

    def _crm_body(self, title: str, hour: int, notes: str) -> dict[str, Any]:
        start, end = _times(hour)
        return {"title": title, "start": start, "end": end, "allDay": False, "calendar": 1,
                "description": notes or None}

    @rule(title=TITLES, hour=HOURS, notes=NOTES)
    def create_crm(self, title: str, hour: int, notes: str) -> None:
        self.events.add(self._crm_body(title, hour, notes))

    @rule(title=TITLES, hour=HOURS, kind=st.sampled_from(["recurring", "invitation"]))
    def create_crm_untouchable(self, title: str, hour: int, kind: str) -> None:
        body = self._crm_body(f"{title} ({kind})", hour, "")
        if kind == "recurring":
            body["recurrence"] = {"recurrenceType": "daily", "interval": 1,
                                  "startTime": body["start"], "timeZone": "UTC"}
            crm_id = self.events.add(body)
        else:
            crm_id = self.events.add(body, parentEventId=ORGANIZER_EVENT, isOrganizer=False,
                                     organizerEmail="mary.miller@example.com")
        self.untouchable[crm_id] = self.events.get(crm_id, "1")

    @rule(title=TITLES, hour=HOURS, notes=NOTES, all_day=st.booleans())
    def create_local(self, title: str, hour: int, notes: str, all_day: bool) -> None:
        if all_day:
            fields = {"subject": title, "start": DAY, "end": "2026-03-30", "all_day": True}
        else:
            # Written in Berlin time across the change: +01:00 before 02:00 UTC, +02:00 after.
            start, end = _times(hour)
            fields = {"subject": title, "start": start, "end": end}
        self.rig.store.add("events", {**fields, "notes": notes})

    @rule(pick=st.integers(0, 50), hour=HOURS, notes=NOTES)
    def edit_crm(self, pick: int, hour: int, notes: str) -> None:
        ids = [i for i in self.server.admin.ids("calendarevents") if i not in self.untouchable]
        if ids:
            crm_id = ids[pick % len(ids)]
            event = self.events.get(crm_id, "1")
            start, end = _times(hour)
            body = {k: event[k] for k in ("title", "allDay", "uid", "calendar")}
            if not event["allDay"]:
                body.update(start=start, end=end)
            else:
                body.update(start=event["start"], end=event["end"])
            self.events.update(crm_id, {**body, "description": notes or None}, "1")
            self.crm_edited.add(crm_id)

    @rule(pick=st.integers(0, 50), notes=NOTES)
    def edit_local(self, pick: int, notes: str) -> None:
        items = self.rig.store.list("events")
        if items:
            item = items[pick % len(items)]
            if self.rig.store.update(item.id, {"notes": notes}).rev == item.rev:
                return
            self.local_edited.add(item.id)
            if item.crm_id and item.crm_id not in self.untouchable:
                if base_value(self.rig.store, item.id, "notes") == (notes or None):
                    # Back to the base: no change since the last sync, nothing to protect.
                    self.local_edits.pop(item.id, None)
                else:
                    self.local_edits[item.id] = notes or None

    @rule(pick=st.integers(0, 50), notes=NOTES)
    def edit_local_invitation(self, pick: int, notes: str) -> None:
        # The local copy of an event the user only attends: the edit must stay local. (A
        # sync first, so that such a copy exists more often than chance would have it.)
        if not self.untouchable:
            return
        self.sync()
        items = [i for i in self.rig.store.list("events") if i.crm_id in self.untouchable]
        if items:
            item = items[pick % len(items)]
            if self.rig.store.update(item.id, {"notes": notes}).rev != item.rev:
                self.local_edited.add(item.id)

    @rule(pick=st.integers(0, 50))
    def delete_crm(self, pick: int) -> None:
        ids = self.server.admin.ids("calendarevents")
        if ids:
            crm_id = ids[pick % len(ids)]
            self.events.delete(crm_id)
            self.untouchable.pop(crm_id, None)

    @rule(pick=st.integers(0, 50))
    def delete_local(self, pick: int) -> None:
        items = self.rig.store.list("events")
        if items:
            item = items[pick % len(items)]
            self.rig.store.delete(item.id)
            self.local_edits.pop(item.id, None)

    @rule(method=st.sampled_from(["POST", "PUT"]))
    def flaky_sync(self, method: str) -> None:
        self.server.admin.inject_fault("/api/rest/latest/calendarevents", status=400, times=1,
                                       method=method)
        result = self.rig.sync(entities=E, force_delete=True)
        self.server.admin.clear_faults()
        assert result.outcome in ("ok", "partial"), result.message
        self.synced = True
        self.check_no_lost_edit(result)
        self.forget_delivered_edits()

    # -- the sync and its invariants -------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        result = self.rig.sync(entities=E, force_delete=True)
        assert result.outcome == "ok", (result.message, result.errors)
        self.synced = True
        self.check_agreement()
        self.check_no_lost_edit(result)
        assert_quiet(self.rig, E)
        self.forget_delivered_edits()

    def crm_canonical(self, crm_id: str) -> dict[str, Any]:
        return mapping.from_crm("events", self.rig.crm.get("calendarevents", crm_id))

    def forget_delivered_edits(self) -> None:
        present = set(self.server.admin.ids("calendarevents"))
        for item_id, value in list(self.local_edits.items()):
            item = self.rig.store.get(item_id)
            if item is not None and item.crm_id in present and item.fields.get("notes") == value \
                    and self.crm_canonical(item.crm_id)["notes"] == value:
                del self.local_edits[item_id]

    def check_agreement(self) -> None:
        items = self.rig.store.list("events")
        crm_ids = set(self.server.admin.ids("calendarevents"))
        by_crm = {i.crm_id: i for i in items if i.crm_id}
        assert len(by_crm) == len([i for i in items if i.crm_id]), "two items, one event"
        recurring = {i for i, e in self.untouchable.items() if "recurrence" in e}
        # Recurring events never come locally, and stay exactly as made.
        assert not recurring & set(by_crm), "a recurring event was flattened into an item"
        for crm_id, made in self.untouchable.items():
            now = self.events.get(crm_id, "1")
            assert {k: v for k, v in now.items() if k != "updatedAt"} == {
                k: v for k, v in made.items() if k != "updatedAt"}, "the client wrote it"
        if self.direction in (BOTH, CRM_TO_LOCAL):
            assert crm_ids - recurring <= set(by_crm), crm_ids - recurring - set(by_crm)
        if self.direction in (BOTH, LOCAL_TO_CRM):
            assert all(i.crm_id in crm_ids for i in items), "a local item is not in the CRM"
        rows = [r.name for r in mapping.effective_rows("events", self.rig.settings) if r.enabled]
        for crm_id, item in by_crm.items():
            if crm_id not in crm_ids:
                assert self.direction == CRM_TO_LOCAL
                continue
            invitation = crm_id in self.untouchable
            if (self.direction == BOTH and not (invitation and item.id in self.local_edited)) \
                    or (self.direction == CRM_TO_LOCAL and item.id not in self.local_edited) \
                    or (self.direction == LOCAL_TO_CRM and crm_id not in self.crm_edited
                        and not invitation):
                local = mapping.from_local("events", item.fields)
                crm = self.crm_canonical(crm_id)
                assert all(local[n] == crm[n] for n in rows), (item.fields, crm)

    def check_no_lost_edit(self, result: Any) -> None:
        trashed = {e.item.id for e in self.rig.store.trash_list()}
        conflicts = {(c.item_id, c.local_value) for c in result.conflicts if c.field == "notes"}
        for item_id, value in list(self.local_edits.items()):
            item = self.rig.store.get(item_id)
            if item is None:
                assert item_id in trashed, "a locally edited event vanished without the trash"
                del self.local_edits[item_id]
            elif (item.fields.get("notes") or None) != value:
                assert (item_id, value) in conflicts, f"local edit notes={value!r} lost"
                del self.local_edits[item_id]

    @invariant()
    def links_are_one_to_one(self) -> None:
        if not self.synced:
            return
        rows = self.rig.store.connection.execute(
            "SELECT count(*), count(DISTINCT item_id), count(DISTINCT crm_id) FROM sync_links"
            " WHERE entity='events'").fetchone()
        assert rows[0] == rows[1] == rows[2]


EventsMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.slow
class TestEventsStateMachine(EventsMachine.TestCase):  # type: ignore[name-defined]
    pass


@pytest.mark.parametrize("direction", [CRM_TO_LOCAL, BOTH])
def test_local_edit_back_to_the_base_is_no_edit(direction):
    """Found by the machine (a flaky "local edit notes=None lost"): the notes edited locally
    to "b" and back to empty (the base) are unchanged since the last sync, so the CRM's
    later "b" replaces them with no conflict; the machine must not count that as a lost
    edit. An edit that differs from the base, overwritten by the CRM, is still a conflict."""
    machine = EventsMachine()
    try:
        machine.configure(direction=direction, policy=LOCAL_WINS if direction == CRM_TO_LOCAL
                          else CRM_WINS)
        machine.create_crm(title="Standup", hour=13, notes="")
        machine.create_crm(title="Review", hour=9, notes="")
        machine.sync()
        items = {i.fields["subject"]: i for i in machine.rig.store.list("events")}
        back, kept = items["Standup"], items["Review"]
        picks = {i.id: n for n, i in enumerate(machine.rig.store.list("events"))}
        machine.edit_local(pick=picks[back.id], notes="b")
        machine.edit_local(pick=picks[back.id], notes="")
        machine.edit_local(pick=picks[kept.id], notes="a")
        crm_ids = machine.server.admin.ids("calendarevents")
        for crm_id in (back.crm_id, kept.crm_id):
            machine.edit_crm(pick=crm_ids.index(crm_id), hour=13 if crm_id == back.crm_id
                             else 9, notes="b")
        result = machine.rig.sync(entities=E, force_delete=True)
        assert result.outcome == "ok", (result.message, result.errors)
        machine.check_no_lost_edit(result)   # before the fix: "local edit notes=None lost"
        assert machine.rig.store.get(back.id).fields.get("notes") == "b"
        conflicts = {(c.item_id, c.local_value, c.crm_value) for c in result.conflicts}
        assert (back.id, None, "b") not in conflicts
        assert (kept.id, "a", "b") in conflicts
    finally:
        machine.teardown()


def teardown_module() -> None:
    global _server
    if _server is not None:
        _server.close()
        _server = None
