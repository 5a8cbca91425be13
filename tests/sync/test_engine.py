"""Engine behaviour beyond the outcome table, against the reference server: first sync and
resync, sync type, guards, bad records, offline, incremental cursors, crash-safe creates,
tasks and events, plans, reports, observers and cancellation."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from tests.sync.helpers import LosesTheAnswer, assert_quiet, crm_attrs
from tray_client.errors import DeletionGuardError, OfflineError
from tray_client.sync import CreateLocal, CreateRemote, SyncEngine, load_reports
from tray_client.sync.config import BOTH, LOCAL_TO_CRM

C = ["contacts"]


def test_assert_quiet_notices_a_write(rig):
    # The helper every test relies on must be able to fail.
    item = rig.store.add("contacts", {"last_name": "Quiet"})
    rig.sync(entities=C)
    rig.store.update(item.id, {"job_title": "changed"})
    with pytest.raises(AssertionError):
        assert_quiet(rig, C)


# -- first sync and resync ----------------------------------------------------------------------

def test_first_sync_deletes_items_carrying_a_crm_id_then_matches_by_key(rig):
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee"})
    stale = rig.store.add("contacts", {"last_name": "Imported"}, crm_id="999")
    keyed = rig.store.add("contacts", {"first_name": "Ann", "last_name": "Lee"})
    rig.sync(entities=C)
    assert rig.store.get(stale.id) is None
    assert any(e.item.id == stale.id for e in rig.store.trash_list())
    assert rig.store.get(keyed.id).crm_id == crm_id
    assert rig.admin.count("contacts") == 1
    assert_quiet(rig, C)


def test_resync_relinks_by_key_without_duplicates(rig):
    rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee"})
    rig.store.add("contacts", {"first_name": "Bo", "last_name": "Ek"})
    rig.sync(entities=C)
    assert rig.admin.count("contacts") == 2 and len(rig.local("contacts")) == 2
    result = rig.sync(entities=C, resync=True)
    assert result.outcome == "ok"
    # Every linked item went to the trash and came back from the CRM: no duplicates.
    assert rig.admin.count("contacts") == 2
    items = rig.local("contacts")
    assert sorted(i.crm_id for i in items) == sorted(rig.admin.ids("contacts"))
    assert len([e for e in rig.store.trash_list() if e.reason == "sync_delete"]) == 2
    assert_quiet(rig, C)


def test_local_to_crm_resync_deletes_linked_items(rig):
    rig.direction("contacts", LOCAL_TO_CRM)
    item = rig.store.add("contacts", {"last_name": "Solo"})
    rig.sync(entities=C)
    rig.sync(entities=C, resync=True)
    # "crm_id set and this is a resync → the local item is deleted"; the CRM keeps it.
    assert rig.store.get(item.id) is None and rig.admin.count("contacts") == 1
    assert_quiet(rig, C)


# -- sync type "selected" -------------------------------------------------------------------------

def test_selected_sync_type(rig):
    rig.settings.sync_type = "selected"
    mine = rig.admin.create("contacts", {"lastName": "Mine"})
    assigned = rig.admin.create("contacts", {"lastName": "Assigned"},
                                {"owner": "2", "assignedTo": "1"})
    rig.admin.create("contacts", {"lastName": "Colleague"}, {"owner": "2"})
    flagged = rig.store.add("contacts", {"last_name": "Flagged"}, crm_sync=True)
    private = rig.store.add("contacts", {"last_name": "Private"}, crm_sync=False)
    rig.sync(entities=C)
    names = {i.fields["last_name"]: i for i in rig.local("contacts")}
    assert set(names) == {"Mine", "Assigned", "Flagged", "Private"}
    assert names["Mine"].crm_id == mine and names["Assigned"].crm_id == assigned
    assert all(names[n].crm_sync for n in ("Mine", "Assigned"))
    assert rig.store.get(flagged.id).crm_id is not None
    assert rig.store.get(private.id).crm_id is None
    assert rig.admin.count("contacts") == 4
    assert_quiet(rig, C)


# -- the deletion guard ---------------------------------------------------------------------------

def test_mass_deletion_is_guarded_until_forced(rig):
    ids = [rig.admin.create("contacts", {"lastName": f"P{n}"}) for n in range(14)]
    rig.sync(entities=C)
    for crm_id in ids[:12]:
        rig.admin.delete("contacts", crm_id)
    with pytest.raises(DeletionGuardError) as err:
        rig.sync(entities=C)
    assert (err.value.would_delete, err.value.linked) == (12, 14)
    assert len(rig.local("contacts")) == 14                 # nothing was deleted
    assert load_reports(rig.store, 1)[0].outcome == "guarded"
    result = rig.sync(entities=C, force_delete=True)
    assert result.count("contacts", "local", "deleted") == 12
    assert len(rig.local("contacts")) == 2
    assert_quiet(rig, C)


def test_few_deletions_pass_the_guard(rig):
    ids = [rig.admin.create("contacts", {"lastName": f"P{n}"}) for n in range(4)]
    rig.sync(entities=C)
    for crm_id in ids[:3]:   # more than half, but not more than 10
        rig.admin.delete("contacts", crm_id)
    assert rig.sync(entities=C).count("contacts", "local", "deleted") == 3


# -- one bad record -------------------------------------------------------------------------------

def test_bad_local_record_is_reported_and_retried(rig):
    good = rig.store.add("contacts", {"last_name": "Good"})
    # A contact with nothing the CRM requires (name, e-mail or phone): the CRM answers 400.
    bad = rig.store.add("contacts", {"job_title": "Nameless"})
    result = rig.sync(entities=C)
    assert result.outcome == "partial"
    (error,) = result.errors
    assert error.item_id == bad.id and error.direction == "local_to_crm" and error.message
    assert rig.store.get(good.id).crm_id is not None
    # Retried next run (not only when it changes again): fixed, it goes through.
    assert rig.sync(entities=C).outcome == "partial"
    rig.store.update(bad.id, {"last_name": "Fixed"})
    assert rig.sync(entities=C).outcome == "ok"
    assert rig.store.get(bad.id).crm_id is not None
    assert_quiet(rig, C)


def test_record_rejected_once_goes_through_on_the_retry(rig):
    item = rig.store.add("contacts", {"last_name": "Flaky"})
    rig.admin.inject_fault("/api/contacts", status=400, times=1, method="POST")
    assert rig.sync(entities=C).outcome == "partial"
    result = rig.sync(entities=C)       # the item did not change: the retry list brings it
    assert result.outcome == "ok" and result.count("contacts", "crm", "created") == 1
    assert rig.store.get(item.id).crm_id is not None


def test_malformed_crm_value_is_reported_and_the_rest_syncs(rig):
    rig.admin.create("contacts", {"lastName": "Fine"})
    bad = rig.admin.create("contacts", {"lastName": "Odd"})
    # The server validates dates, so corrupt the stored value behind its back.
    import json
    import sqlite3

    db = sqlite3.connect(rig.server.db_path)
    row = db.execute("SELECT attributes FROM contacts WHERE id=?", (int(bad),)).fetchone()
    attrs = json.loads(row[0])
    attrs["birthday"] = "31/02/1990"
    db.execute("UPDATE contacts SET attributes=? WHERE id=?", (json.dumps(attrs), int(bad)))
    db.commit()
    db.close()
    result = rig.sync(entities=C)
    assert result.outcome == "partial"
    assert [e.crm_id for e in result.errors] == [bad]
    assert [i.fields["last_name"] for i in rig.local("contacts")] == ["Fine"]
    assert rig.sync(entities=C).outcome == "partial"        # retried, still bad


# -- offline and failures -------------------------------------------------------------------------

def test_offline_run_ends_offline_and_the_next_one_converges(rig):
    rig.store.add("contacts", {"last_name": "Later"})
    rig.server.stop()
    try:
        result = rig.sync(entities=C)
    finally:
        rig.server.start()
    assert result.outcome == "offline" and result.message
    assert rig.sync(entities=C).outcome == "ok"
    assert rig.admin.count("contacts") == 1


def test_bad_api_key_fails_the_run_with_a_message(rig):
    from tests.conftest import TEST_USER
    from tray_client.crm import CrmClient

    rig.crm = CrmClient(rig.server.url, TEST_USER, "wrong-key-wrong-key")
    result = rig.sync(entities=C)
    assert result.outcome == "failed" and "wrong-key" not in result.message
    assert result.message


def test_unknown_direction_fails_the_run(rig):
    rig.admin.set_setting("contacts_sync_direction", "Both")
    engine = rig.engine()
    from tray_client.errors import ConfigurationError
    from tray_client.sync.config import entity_config

    with pytest.raises(ConfigurationError):
        entity_config({"contacts_sync_direction": "Sideways"}, "contacts")
    assert engine.run(entities=C).outcome == "ok"


# -- incremental ----------------------------------------------------------------------------------

def test_change_within_the_cursor_second_is_not_missed(rig):
    rig.admin.freeze_time("2026-11-25T10:00:00Z")
    try:
        crm_id = rig.admin.create("contacts", {"lastName": "Tick"})
        rig.sync(entities=C)
        # Same second as the cursor: a one-second-resolution updatedAt does not move.
        rig.admin.update("contacts", crm_id, {"jobTitle": "Changed in the same second"})
        rig.sync(entities=C)
    finally:
        rig.admin.freeze_time(None)
    assert rig.only_local("contacts").fields["job_title"] == "Changed in the same second"


def test_pull_and_push_phases(rig):
    item = rig.store.add("contacts", {"last_name": "Phase"})
    rig.sync(entities=C)        # the first sync is always complete
    crm_id = rig.store.get(item.id).crm_id
    rig.store.update(item.id, {"job_title": "local"})
    rig.admin.update("contacts", crm_id, {"description": "crm"})
    rig.sync(entities=C, phase="pull")
    assert crm_attrs(rig, "contacts", crm_id)["jobTitle"] is None
    assert rig.store.get(item.id).fields["notes"] == "crm"
    rig.sync(entities=C, phase="push")
    assert crm_attrs(rig, "contacts", crm_id)["jobTitle"] == "local"
    assert_quiet(rig, C)


# -- crash-safe creates ---------------------------------------------------------------------------

def test_create_whose_answer_was_lost_is_linked_not_repeated(rig):
    rig.direction("contacts", LOCAL_TO_CRM)
    rig.store.add("contacts", {"last_name": "Seed"})
    rig.sync(entities=C)
    item = rig.store.add("contacts", {"first_name": "Lost", "last_name": "Answer"})
    result = SyncEngine(rig.store, LosesTheAnswer(rig.crm), rig.settings).run(entities=C)
    assert result.outcome == "offline"
    assert rig.admin.count("contacts") == 2 and rig.store.get(item.id).crm_id is None
    rig.sync(entities=C)
    assert rig.admin.count("contacts") == 2        # linked to the record, not created again
    assert rig.store.get(item.id).crm_id in rig.admin.ids("contacts")
    assert_quiet(rig, C)


# -- tasks and events -----------------------------------------------------------------------------

def test_tasks_roundtrip_with_lossy_statuses(rig):
    item = rig.store.add("tasks", {"subject": "Call back", "status": "waiting",
                                   "priority": "high", "due_date": "2026-12-01"})
    rig.sync(entities=["tasks"])
    crm_id = rig.store.get(item.id).crm_id
    doc = rig.admin.get("tasks", crm_id)
    assert doc["relationships"]["status"]["data"]["id"] == "in_progress"
    assert doc["relationships"]["taskPriority"]["data"]["id"] == "high"
    assert rig.store.get(item.id).fields["status"] == "waiting"      # not bounced back
    assert_quiet(rig, ["tasks"])
    rig.admin.update("tasks", crm_id, {}, {"status": "closed"})
    rig.sync(entities=["tasks"])
    assert rig.store.get(item.id).fields["status"] == "completed"
    assert_quiet(rig, ["tasks"])


@pytest.mark.parametrize("override", [{"enabled": False}, {"direction": "crm_to_local"}])
def test_a_task_create_carries_priority_and_status_when_their_rows_are_off(rig, override):
    # Oro refuses a task without status or taskPriority (TaskBundle validation.yml): with those
    # rows disabled (or CRM → local only) the create still sends the seed's defaults.
    from tray_client.settings import MappingOverride

    rig.settings.mapping = {"tasks": {"priority": MappingOverride(**override),
                                      "status": MappingOverride(**override)}}
    item = rig.store.add("tasks", {"subject": "Rows off", "priority": "high",
                                   "status": "completed"})
    result = rig.sync(entities=["tasks"])
    assert not result.errors
    crm_id = rig.store.get(item.id).crm_id
    assert crm_id is not None
    rels = rig.admin.get("tasks", crm_id)["relationships"]
    assert rels["taskPriority"]["data"] == {"type": "taskpriorities", "id": "normal"}
    assert rels["status"]["data"] == {"type": "taskstatuses", "id": "open"}


def test_events_only_from_the_users_calendar_and_times_kept(rig):
    mine = rig.admin.create("calendarevents", {"title": "Standup",
                                               "start": "2026-03-01T09:00:00Z",
                                               "end": "2026-03-01T09:15:00Z", "allDay": False})
    other_calendar = rig.admin.get("calendars", "2") if "2" in rig.admin.ids("calendars") \
        else None
    if other_calendar is not None:
        rig.admin.create("calendarevents", {"title": "Not mine", "start": "2026-03-01T09:00:00Z",
                                            "end": "2026-03-01T10:00:00Z"}, {"calendar": "2"})
    local = rig.store.add("events", {"subject": "Offsite", "start": "2026-03-02T10:00:00+01:00",
                                     "end": "2026-03-02T12:00:00+01:00"})
    holiday = rig.store.add("events", {"subject": "Holiday", "start": "2026-07-14",
                                       "end": "2026-07-14", "all_day": True})
    rig.sync(entities=["events"])
    subjects = sorted(i.fields["subject"] for i in rig.local("events"))
    assert subjects == ["Holiday", "Offsite", "Standup"]
    pulled = next(i for i in rig.local("events") if i.fields["subject"] == "Standup")
    assert pulled.crm_id == mine and pulled.fields["start"].startswith("2026-03-01T09:00:00")
    attrs = crm_attrs(rig, "calendarevents", rig.store.get(local.id).crm_id)
    assert attrs["start"] == "2026-03-02T09:00:00Z"
    holiday_attrs = crm_attrs(rig, "calendarevents", rig.store.get(holiday.id).crm_id)
    assert holiday_attrs["allDay"] is True and holiday_attrs["start"].startswith("2026-07-14")
    assert_quiet(rig, ["events"])


# -- contacts: untouched unmapped data ------------------------------------------------------------

def test_local_phone_edit_keeps_other_phones_and_addresses(rig):
    crm_id = rig.admin.create("contacts", {
        "lastName": "Multi", "phones": [{"phone": "111"}, {"phone": "222"}],
        "addresses": [{"city": "Paris", "types": ["billing"], "primary": True},
                      {"city": "Second billing", "types": ["billing"]}]})
    rig.sync(entities=C)
    item = rig.only_local("contacts")
    assert item.fields["primary_phone"] == "111"
    assert item.fields["business_address"]["city"] == "Paris"
    rig.store.update(item.id, {"primary_phone": "999", "business_address": {"city": "Lyon"}})
    rig.sync(entities=C)
    doc = rig.admin.get("contacts", crm_id)
    assert doc["attributes"]["phones"] == [{"phone": "999"}, {"phone": "222"}]
    cities = sorted(a["attributes"]["city"] for a in doc["addresses"])
    assert cities == ["Lyon", "Second billing"]
    assert_quiet(rig, C)


def test_birthdays_sync_only_when_on(rig):
    crm_id = rig.admin.create("contacts", {"lastName": "Born", "birthday": "1980-02-03"})
    rig.sync(entities=C)
    assert "birthday" not in rig.only_local("contacts").fields
    rig.settings.sync_birthdays = True
    rig.admin.update("contacts", crm_id, {"jobTitle": "touch"})
    rig.sync(entities=C)
    assert rig.only_local("contacts").fields["birthday"] == "1980-02-03"
    assert_quiet(rig, C)


# -- plan, report, observer, cancel ---------------------------------------------------------------

def test_plan_is_printable_and_writes_nothing(rig):
    rig.admin.create("contacts", {"lastName": "Remote"})
    rig.store.add("contacts", {"last_name": "Local"})
    rev, count = rig.store.max_rev(), rig.admin.count("contacts")
    plan = rig.engine().plan(entities=C)
    kinds = sorted(type(a).__name__ for a in plan)
    assert kinds == ["CreateLocal", "CreateRemote"]
    assert "create-local" in str(plan) and "'Remote'" in str(plan)
    assert isinstance(plan.of(CreateLocal)[0], CreateLocal)
    assert isinstance(plan.of(CreateRemote)[0], CreateRemote)
    assert rig.store.max_rev() == rev and rig.admin.count("contacts") == count
    rig.sync(entities=C)
    assert len(rig.engine().plan(entities=C)) == 0


def _sync_tables(rig) -> dict[str, list[tuple]]:
    conn = rig.store.connection
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'sync_%' ORDER BY name")]
    return {n: sorted(conn.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names}


def test_a_plan_writes_no_sync_state_and_takes_no_write_lock(rig):
    gone = rig.admin.create("contacts", {"lastName": "Gone"})
    changed = rig.admin.create("contacts", {"lastName": "Changed"})
    rig.sync(entities=C)
    rig.admin.delete("contacts", gone)
    rig.admin.update("contacts", changed, {"jobTitle": "New title"})
    rig.admin.create("contacts", {"lastName": "Fresh"})
    rig.store.add("contacts", {"last_name": "Local"})
    engine = rig.engine()
    before = _sync_tables(rig)
    # Another connection holds the write lock: a plan must not need it.
    writer = sqlite3.connect(rig.store.path, timeout=0.1)
    writer.execute("BEGIN IMMEDIATE")
    try:
        plan = engine.plan(entities=C)
    finally:
        writer.rollback()
        writer.close()
    assert sorted(type(a).__name__ for a in plan) == [
        "CreateLocal", "CreateRemote", "DeleteLocal", "UpdateLocal"]
    assert _sync_tables(rig) == before


def test_reports_keep_runs_rows_and_conflicts(rig):
    crm_id = rig.admin.create("contacts", {"lastName": "Rep", "jobTitle": "A"})
    rig.sync(entities=C)
    item = rig.only_local("contacts")
    rig.store.update(item.id, {"job_title": "L"})
    rig.admin.update("contacts", crm_id, {"jobTitle": "C"})
    result = rig.sync(entities=C)
    (loaded, earlier) = load_reports(rig.store, 2)
    assert loaded.run_id == result.run_id and loaded.outcome == "ok"
    assert earlier.counts["contacts"]["local"]["created"] == 1
    (conflict,) = loaded.conflicts
    assert (conflict.field, conflict.local_value, conflict.crm_value) == ("job_title", "L", "C")
    from tray_client.sync import report_rows

    rows = report_rows(rig.store, result.run_id)
    assert {r["action"] for r in rows} >= {"updated", "conflict"}
    # The overwritten local value is also restorable from the trash.
    assert any(e.reason == "sync_overwrite" and e.item.fields.get("job_title") == "L"
               for e in rig.store.trash_list())


class Recorder:
    def __init__(self) -> None:
        self.states: list[str] = []
        self.progress: list[tuple[str, int]] = []
        self.finished = None

    def on_state(self, state: str) -> None:
        self.states.append(state)

    def on_progress(self, entity, done, total, message) -> None:
        self.progress.append((entity, done))

    def on_finished(self, result) -> None:
        self.finished = result


def test_observer_hears_state_progress_and_finish(rig):
    rig.admin.create("contacts", {"lastName": "Obs"})
    rec = Recorder()
    result = SyncEngine(rig.store, rig.crm, rig.settings, observer=rec).run(entities=C)
    assert rec.states == ["syncing", "ok"] and rec.finished is result
    assert ("contacts", 1) in rec.progress


def test_cancel_between_actions(rig):
    for n in range(5):
        rig.store.add("contacts", {"last_name": f"C{n}"})
    cancel = threading.Event()
    cancel.set()
    result = rig.engine().run(entities=C, cancel=cancel)
    assert result.outcome == "cancelled" and rig.admin.count("contacts") == 0
    assert rig.sync(entities=C).outcome == "ok" and rig.admin.count("contacts") == 5
    assert_quiet(rig, C)


def test_both_entities_and_direction_config_read_every_run(rig):
    rig.admin.set_setting("tasks_enabled", False)
    rig.admin.create("tasks", {"subject": "Skipped"}, {"status": "open", "taskPriority": "normal"})
    rig.sync()
    assert rig.local("tasks") == []
    rig.admin.set_setting("tasks_enabled", True)
    rig.sync()
    assert [t.fields["subject"] for t in rig.local("tasks")] == ["Skipped"]
    rig.direction("contacts", BOTH)


def test_push_phase_leaves_a_local_deletion_to_the_pull(rig):
    crm_id = rig.admin.create("contacts", {"lastName": "Kept"})
    rig.sync(entities=C)
    rig.store.delete(rig.only_local("contacts").id)
    rig.sync(entities=C, phase="push")            # Both: not forgotten by a push pass ...
    assert rig.local("contacts") == []
    rig.sync(entities=C, phase="pull")            # ... but recreated by the next pull
    assert rig.only_local("contacts").crm_id == crm_id
    assert_quiet(rig, C)


def test_reports_of_a_store_that_never_synced(tmp_path):
    from tray_client.store import LocalStore

    with LocalStore(tmp_path / "fresh.db") as store:
        assert load_reports(store, 5) == []


def test_run_dying_between_batches_of_one_second_loses_nothing(rig, monkeypatch):
    from tray_client.sync import pull as pull_module

    monkeypatch.setattr(pull_module, "PULL_BATCH", 2)
    rig.admin.freeze_time("2026-01-01T08:00:00Z")   # all five share one updatedAt second
    try:
        for n in range(5):
            rig.admin.create("contacts", {"lastName": f"Same second {n}"})
    finally:
        rig.admin.freeze_time(None)

    class DiesAfterThree:
        def __init__(self, crm):
            self._crm = crm

        def __getattr__(self, name):
            return getattr(self._crm, name)

        def iter_changed(self, *args, **kwargs):
            for n, res in enumerate(self._crm.iter_changed(*args, **kwargs)):
                if n == 3:
                    raise OfflineError("network gone")
                yield res

    result = SyncEngine(rig.store, DiesAfterThree(rig.crm), rig.settings).run(entities=C)
    assert result.outcome == "offline" and len(rig.local("contacts")) == 2
    rig.sync(entities=C)
    assert len(rig.local("contacts")) == 5
    assert_quiet(rig, C)


def test_local_deletion_after_quiet_runs_is_still_noticed(rig):
    crm_id = rig.admin.create("contacts", {"lastName": "Watched"})
    rig.sync(entities=C)
    assert_quiet(rig, C)
    assert_quiet(rig, C)     # the trash is not read while the store's revision stands still
    rig.store.delete(rig.only_local("contacts").id)
    rig.sync(entities=C)
    assert rig.only_local("contacts").crm_id == crm_id


def test_disabled_and_once_rows(rig):
    from tray_client.settings import MappingOverride

    rig.settings.mapping = {"contacts": {
        "job_title": MappingOverride(enabled=False),
        "notes": MappingOverride(direction="once"),
        "middle_name": MappingOverride(direction="crm_to_local")}}
    item = rig.store.add("contacts", {"last_name": "Rows", "job_title": "Local only",
                                      "notes": "at creation", "middle_name": "Loc"})
    rig.sync(entities=C)
    crm_id = rig.store.get(item.id).crm_id
    attrs = crm_attrs(rig, "contacts", crm_id)
    assert attrs["jobTitle"] is None             # disabled: never sent
    assert attrs["description"] == "at creation"  # once: set when created
    assert attrs["middleName"] is None           # CRM → local only: not sent
    rig.store.update(item.id, {"notes": "later", "middle_name": "Changed"})
    rig.admin.update("contacts", crm_id, {"jobTitle": "CRM only", "middleName": "From CRM"})
    rig.sync(entities=C)
    attrs = crm_attrs(rig, "contacts", crm_id)
    local = rig.store.get(item.id).fields
    assert attrs["description"] == "at creation" and local["notes"] == "later"
    assert local["job_title"] == "Local only"    # disabled: never pulled either
    assert local["middle_name"] == "From CRM"    # the CRM → local row took the CRM's value
    assert_quiet(rig, C)
