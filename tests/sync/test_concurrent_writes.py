"""The push's CRM writes in flight together (``sync/writes.py``), against the reference server:
they are really concurrent, a push writes the same store, CRM records and report rows, in the
same order, as one that sends them one at a time, a failed write among them is that record's
error and retry while the others land, and a run that stops mid-push (the CRM gone) finishes
what was answered and converges on the next run without duplicates."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_USER
from tests.rig import Rig
from tests.sync.helpers import assert_quiet, base_value
from tray_client.crm import CrmClient
from tray_client.devserver.testing import RunningServer
from tray_client.errors import OfflineError
from tray_client.store import LocalStore
from tray_client.sync import load_reports
from tray_client.sync import writes as sync_writes
from tray_client.sync.report import report_rows
from tray_client.sync.state import SyncState

C = ["contacts"]


class MeetsOnItsFirstWrites:
    """The real client, except that its first two updates wait for each other: a push that
    sends one write after the other never gets past the first (BrokenBarrierError)."""

    def __init__(self, crm: Any) -> None:
        self._crm = crm
        self._barrier = threading.Barrier(2, timeout=10)
        self._calls = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._crm, name)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._calls += 1
            first_two = self._calls <= 2
        if first_two:
            self._barrier.wait()
        return self._crm.update(*args, **kwargs)


def _linked(rig: Rig, count: int) -> dict[str, Any]:
    """``count`` CRM contacts synced to local items; their items by first name. The records
    are stamped in the past, so the next pull does not re-read them (the cursor's second):
    their local edits are sent by the push."""
    rig.admin.freeze_time("2026-01-05T10:00:00Z")
    for i in range(count):
        rig.admin.create("contacts", {"firstName": f"Ann{i:02}", "lastName": "Lee"})
    rig.admin.freeze_time(None)
    assert rig.sync(entities=C).outcome == "ok"
    return {item.fields["first_name"]: item for item in rig.local("contacts")}


def test_writes_are_in_flight_together(rig):
    items = _linked(rig, 4)
    for item in items.values():
        rig.store.update(item.id, {"job_title": "Concurrent"})
    rig.crm = MeetsOnItsFirstWrites(rig.crm)
    result = rig.sync(entities=C)
    assert result.outcome == "ok", result.message
    assert result.count("contacts", "crm", "updated") == 4
    for item in items.values():
        assert rig.admin.get("contacts", item.crm_id)["attributes"]["jobTitle"] == "Concurrent"
    assert_quiet(rig, C)


def test_pairs_the_pull_merges_write_together_too(rig):
    # Records the pull re-reads (here: the cursor's second, the clock held in it) whose items
    # changed locally are merged by the pull; their CRM writes are in flight together as
    # well, after the batch's transaction.
    rig.admin.freeze_time("2026-01-05T10:00:00Z")
    try:
        for i in range(4):
            rig.admin.create("contacts", {"firstName": f"Ann{i:02}", "lastName": "Lee"})
        assert rig.sync(entities=C).outcome == "ok"
        items = rig.local("contacts")
        for item in items:
            rig.store.update(item.id, {"job_title": "Merged"})
        rig.crm = MeetsOnItsFirstWrites(rig.crm)
        result = rig.sync(entities=C)
    finally:
        rig.admin.freeze_time(None)
    assert result.outcome == "ok", result.message
    assert result.count("contacts", "crm", "updated") == 4
    for item in items:
        assert rig.admin.get("contacts", item.crm_id)["attributes"]["jobTitle"] == "Merged"
    rig.crm._crm.close()   # its WSSE clock learned the held time: a new client signs anew
    rig.crm = CrmClient(rig.server.url, TEST_USER, TEST_API_KEY)
    assert_quiet(rig, C)


def _scenario(rig: Rig) -> Any:
    """A push of every kind: updates, creates, a record Oro would refuse before it is sent
    (an address in no known country) and one the CRM refuses (400); returns the result."""
    items = _linked(rig, 12)
    for i in range(8):
        rig.store.update(items[f"Ann{i:02}"].id, {"job_title": f"Title {i}"})
    rig.store.update(items["Ann08"].id, {"business_address": {
        "street": "1 Main St", "city": "Nowhere", "country": "Atlantis"}})
    rig.store.update(items["Ann09"].id, {"job_title": "Refused"})
    rig.store.update(items["Ann10"].id, {"job_title": "Last edit"})
    for i in range(4):
        rig.store.add("contacts", {"first_name": f"New{i}", "last_name": "Kim",
                                   "job_title": f"Created {i}"})
    rig.admin.inject_fault(f"/api/contacts/{items['Ann09'].crm_id}", status=400, times=None,
                           method="PATCH")
    try:
        return rig.sync(entities=C, phase="push")
    finally:
        rig.admin.clear_faults()


def _outcome(rig: Rig, result: Any) -> dict[str, Any]:
    """What a push left behind, with ids replaced by names (ids of new CRM records depend
    on the order in which the server received the creates)."""
    names = {i.id: i.display_name for i in rig.local("contacts")}
    crm_names = {cid: " ".join(filter(None, (a.get("firstName"), a.get("lastName"))))
                 for cid in rig.admin.ids("contacts")
                 for a in [rig.admin.get("contacts", cid)["attributes"]]}
    rows = [tuple(names.get(v, v) if k == "item_id" else crm_names.get(v, v)
                  if k == "crm_id" else v for k, v in row.items())
            for row in report_rows(rig.store, result.run_id)]
    state = SyncState(rig.store.connection)
    return {
        "rows": rows,
        "counts": result.counts,
        "errors": sorted((e.name, e.message.replace(
            rig.server.url, "URL")) for e in result.errors),
        "crm": sorted(sorted((k, str(v)) for k, v in rig.admin.get("contacts", cid)[
            "attributes"].items() if k not in ("createdAt", "updatedAt"))
            for cid in rig.admin.ids("contacts")),
        "local": sorted(sorted((k, str(v)) for k, v in i.fields.items())
                        for i in rig.local("contacts")),
        "pending": sorted(names[p] for p in state.pending("contacts", "local")),
        "links": len(state.linked_item_ids("contacts")),
    }


def _server(path: Any) -> RunningServer:
    return RunningServer(db_path=path, user=TEST_USER, api_key=TEST_API_KEY,
                         client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET)


def test_concurrent_push_writes_what_a_push_one_at_a_time_writes(tmp_path, monkeypatch):
    outcomes = []
    for writers in (1, sync_writes.WRITERS):
        monkeypatch.setattr(sync_writes, "WRITERS", writers)
        with _server(tmp_path / f"crm{writers}.db") as server:
            rig = Rig(server, LocalStore(tmp_path / f"local{writers}.db"),
                      CrmClient(server.url, TEST_USER, TEST_API_KEY))
            try:
                result = _scenario(rig)
                assert result.outcome == "partial", result.message
                outcomes.append(_outcome(rig, result))
            finally:
                rig.crm.close()
                rig.store.close()
    one_at_a_time, concurrent = outcomes
    assert concurrent == one_at_a_time
    # The scenario did what it says: 9 updates and 4 creates landed, two records failed.
    assert one_at_a_time["counts"]["contacts"]["crm"] == {"created": 4, "updated": 9,
                                                           "deleted": 0}
    assert [name for name, _ in one_at_a_time["errors"]] == ["Ann08 Lee", "Ann09 Lee"]
    assert one_at_a_time["pending"] == ["Ann08 Lee", "Ann09 Lee"]


def test_a_failed_write_among_concurrent_ones_is_retried_and_the_others_land(rig):
    items = _linked(rig, 8)
    for name, item in items.items():
        rig.store.update(item.id, {"job_title": f"New {name}"})
    refused = items["Ann03"]
    rig.admin.inject_fault(f"/api/contacts/{refused.crm_id}", status=409, times=1,
                           method="PATCH")
    result = rig.sync(entities=C)
    assert result.outcome == "partial"
    assert [e.name for e in result.errors] == ["Ann03 Lee"]
    for name, item in items.items():
        attrs = rig.admin.get("contacts", item.crm_id)["attributes"]
        assert attrs["jobTitle"] == (None if item is refused else f"New {name}")
        assert base_value(rig.store, item.id, "job_title") == (
            None if item is refused else f"New {name}")
    # The refused write is retried next run (it is pending even though nothing changed).
    assert SyncState(rig.store.connection).pending("contacts", "local") == [refused.id]
    again = rig.sync(entities=C)
    assert again.outcome == "ok" and again.count("contacts", "crm", "updated") == 1
    assert rig.admin.get("contacts", refused.crm_id)["attributes"]["jobTitle"] == "New Ann03"
    assert_quiet(rig, C)


@pytest.fixture
def rig_without_retries(devserver, tmp_path) -> Any:
    """A rig whose client gives up at once on a dropped connection (no retries)."""
    rig = Rig(devserver, LocalStore(tmp_path / "local.db"),
              CrmClient(devserver.url, TEST_USER, TEST_API_KEY, retries=0))
    yield rig
    rig.crm.close()
    rig.store.close()


def test_a_run_that_loses_the_crm_mid_push_finishes_what_was_answered(rig_without_retries):
    rig = rig_without_retries
    items = _linked(rig, 10)
    order = [items[f"Ann{i:02}"] for i in range(10)]
    for item in order:   # edited in this order: pushed in this order
        rig.store.update(item.id, {"job_title": f"Moved {item.fields['first_name']}"})
    for i in range(3):
        rig.store.add("contacts", {"first_name": f"New{i}", "last_name": "Kim"})
    dropped = order[4]
    rig.admin.inject_fault(f"/api/contacts/{dropped.crm_id}", kind="drop", times=1,
                           method="PATCH")
    result = rig.sync(entities=C)
    assert result.outcome == "offline", result.message
    # The writes queued before the lost one were answered: their bases are the new values.
    for item in order[:4]:
        assert base_value(rig.store, item.id, "job_title") == \
            f"Moved {item.fields['first_name']}"
    # The next run sends what is left and converges: every value in the CRM, no duplicate.
    again = rig.sync(entities=C)
    assert again.outcome == "ok", again.message
    for item in order:
        assert rig.admin.get("contacts", item.crm_id)["attributes"]["jobTitle"] == \
            f"Moved {item.fields['first_name']}"
    assert rig.admin.count("contacts") == 13
    assert len(rig.local("contacts")) == 13
    assert not SyncState(rig.store.connection).pending("contacts", "local")
    assert_quiet(rig, C)
    assert load_reports(rig.store, runs=1)[0].outcome == "ok"


class LosesOneAnswer:
    """The real client, except that the create of one record (by last name) loses its answer
    after the server acted, on whichever thread sends it."""

    def __init__(self, crm: Any, last_name: str) -> None:
        self._crm = crm
        self._last_name = last_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._crm, name)

    def create(self, type: str, attributes: Any, *args: Any, **kwargs: Any) -> Any:
        res = self._crm.create(type, attributes, *args, **kwargs)
        if attributes.get("lastName") == self._last_name:
            raise OfflineError("connection dropped before the answer")
        return res


def test_creates_in_flight_keep_their_intents_and_a_lost_answer_is_not_created_twice(rig):
    _linked(rig, 2)
    new = [rig.store.add("contacts", {"first_name": "New", "last_name": f"Kim{i}"})
           for i in range(6)]
    real = rig.crm
    rig.crm = LosesOneAnswer(real, "Kim2")
    result = rig.sync(entities=C)
    assert result.outcome == "offline", result.message
    state = SyncState(rig.store.connection)
    # The lost one keeps its intent (the record may exist); those answered before it are
    # linked; none is created twice by the next run.
    assert new[2].id in state.intents("contacts")
    for item in new[:2]:
        assert rig.store.get(item.id).crm_id
        assert item.id not in state.intents("contacts")
    rig.crm = real
    again = rig.sync(entities=C)
    assert again.outcome == "ok", again.message
    assert rig.admin.count("contacts") == 8
    assert sorted(i.fields["last_name"] for i in rig.local("contacts")) == sorted(
        ["Lee", "Lee", *(f"Kim{i}" for i in range(6))])
    assert not SyncState(rig.store.connection).intents("contacts")
    assert_quiet(rig, C)


class CancelsAfterItsFirstWrite:
    """The real client; the user cancels the run once its first update has been answered."""

    def __init__(self, crm: Any, cancel: threading.Event) -> None:
        self._crm = crm
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._crm, name)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._crm.update(*args, **kwargs)
        finally:
            self._cancel.set()


def test_a_push_cancelled_mid_way_keeps_what_was_answered_and_converges(rig):
    items = _linked(rig, 120)   # more than one push batch (100)
    for item in items.values():
        rig.store.update(item.id, {"job_title": "Cancel me"})
    cancel = threading.Event()
    real = rig.crm
    rig.crm = CancelsAfterItsFirstWrite(real, cancel)
    result = rig.sync(entities=C, cancel=cancel)
    assert result.outcome == "cancelled", result.message
    written = [i for i in items.values()
               if rig.admin.get("contacts", i.crm_id)["attributes"]["jobTitle"] == "Cancel me"]
    assert 0 < len(written) < len(items)   # stopped part way: the second batch never went
    rig.crm = real
    again = rig.sync(entities=C)
    assert again.outcome == "ok", again.message
    for item in items.values():
        assert rig.admin.get("contacts", item.crm_id)["attributes"]["jobTitle"] == "Cancel me"
        assert base_value(rig.store, item.id, "job_title") == "Cancel me"
    assert not SyncState(rig.store.connection).pending("contacts", "local")
    assert_quiet(rig, C)
