"""Rules of seeds 000/001 and DESIGN §5-§6 that the other test files left unchecked, against
the reference server (found by the audit of the engine against its specification)."""

from __future__ import annotations

import pytest

from tests.sync.helpers import LosesTheAnswer, assert_quiet, crm_attrs
from tray_client.sync import SyncEngine
from tray_client.sync.config import BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM

C = ["contacts"]


# -- the deletion guard -------------------------------------------------------------------------

def test_guard_leaves_a_crm_to_local_run_alone_when_it_deletes_nothing(rig):
    # CRM → local: "deleted in the CRM → stays locally, unchanged". Nothing is deleted, so the
    # guard ("a run that would delete more than half ...") has nothing to stop.
    rig.direction("contacts", CRM_TO_LOCAL)
    ids = [rig.admin.create("contacts", {"lastName": f"P{n}"}) for n in range(14)]
    rig.sync(entities=C)
    for crm_id in ids[:12]:
        rig.admin.delete("contacts", crm_id)
    result = rig.sync(entities=C)
    assert result.outcome == "ok"
    assert len(rig.local("contacts")) == 14
    assert_quiet(rig, C)


# -- idempotent creates with a key field the sync does not carry ----------------------------------

@pytest.mark.parametrize("direction", [LOCAL_TO_CRM, BOTH])
def test_lost_create_answer_with_an_unsynced_birthday_is_not_repeated(rig, direction):
    # Sync Birthdays is off (the default): the create does not send the local birthday, so
    # the CRM record it made has none. The record must still be recognised as this item's
    # (Local → CRM: by the push; Both: by the pull's key matching, which runs first).
    rig.direction("contacts", direction)
    rig.store.add("contacts", {"last_name": "Seed"})
    rig.sync(entities=C)
    item = rig.store.add("contacts", {"first_name": "Lost", "last_name": "Answer",
                                      "birthday": "1980-02-03"})
    result = SyncEngine(rig.store, LosesTheAnswer(rig.crm), rig.settings).run(entities=C)
    assert result.outcome == "offline" and rig.admin.count("contacts") == 2
    rig.sync(entities=C)
    assert rig.admin.count("contacts") == 2 and len(rig.local("contacts")) == 2
    assert rig.store.get(item.id).crm_id in rig.admin.ids("contacts")
    assert rig.store.get(item.id).fields["birthday"] == "1980-02-03"   # not touched
    assert_quiet(rig, C)


# -- sync type "selected" -----------------------------------------------------------------------

def test_selected_sync_type_sends_nothing_of_an_item_the_user_unflagged(rig):
    # DESIGN §6: *selected* pushes only local items whose crm_sync flag is set. A linked item
    # the user took out of the sync still receives the CRM's changes (the record is theirs),
    # but its local edits stay local, and a pull does not set the flag again.
    rig.settings.sync_type = "selected"
    crm_id = rig.admin.create("contacts", {"lastName": "Mine", "jobTitle": "Buyer"})
    rig.sync(entities=C)
    item = rig.only_local("contacts")
    assert item.crm_sync
    rig.store.update(item.id, {"job_title": "Private edit"}, crm_sync=False)
    rig.admin.update("contacts", crm_id, {"description": "From the CRM"})
    rig.sync(entities=C)
    local = rig.store.get(item.id)
    assert local.fields["notes"] == "From the CRM" and local.fields["job_title"] == "Private edit"
    assert not local.crm_sync
    assert crm_attrs(rig, "contacts", crm_id)["jobTitle"] == "Buyer"
    assert_quiet(rig, C)


# -- tasks: the key (subject, priority) -----------------------------------------------------------

T = ["tasks"]


def test_task_without_a_priority_matches_the_crm_tasks_normal_priority(rig):
    # An Outlook task always has a priority (Normal unless set), and so has a CRM task: a local
    # task with none is a Normal one, so it matches by key instead of being duplicated.
    crm_id = rig.admin.create("tasks", {"subject": "Call back"},
                              {"status": "open", "taskPriority": "normal"})
    item = rig.store.add("tasks", {"subject": "call back", "due_date": "2026-12-01"})
    rig.sync(entities=T)
    assert rig.admin.ids("tasks") == [crm_id]
    assert [i.id for i in rig.local("tasks")] == [item.id]
    assert rig.store.get(item.id).crm_id == crm_id
    assert_quiet(rig, T)


def test_lost_create_answer_of_a_task_without_a_priority_is_not_repeated(rig):
    rig.direction("tasks", LOCAL_TO_CRM)
    rig.store.add("tasks", {"subject": "Seed"})
    rig.sync(entities=T)
    item = rig.store.add("tasks", {"subject": "Lost answer"})
    result = SyncEngine(rig.store, LosesTheAnswer(rig.crm), rig.settings).run(entities=T)
    assert result.outcome == "offline" and rig.admin.count("tasks") == 2
    rig.sync(entities=T)
    assert rig.admin.count("tasks") == 2
    assert rig.store.get(item.id).crm_id in rig.admin.ids("tasks")
    assert_quiet(rig, T)


# -- rules that had no test -----------------------------------------------------------------------

def test_key_fields_come_from_the_crm_configuration(rig):
    # Seed 000: "Fields of a key can be chosen ... and defined in the back-office".
    rig.admin.set_setting("contacts_keys", ["emails"])
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                           "emails": [{"email": "ann@x.org"}]})
    item = rig.store.add("contacts", {"first_name": "A.", "last_name": "Lee",
                                      "emails": ["ANN@x.org"]})
    rig.sync(entities=C)
    assert rig.admin.ids("contacts") == [crm_id]
    assert rig.store.get(item.id).crm_id == crm_id
    assert rig.store.get(item.id).fields["first_name"] == "Ann"   # CRM values replace local
    assert_quiet(rig, C)


@pytest.mark.parametrize("local, crm_first, crm_last", [
    ({"last_name": "Smith"}, "Smith", "Smith"), ({"first_name": "Cher"}, "Cher", "Cher")])
def test_missing_first_or_last_name_uses_the_other_in_the_crm(rig, local, crm_first, crm_last):
    # Seed 001: no first name in Outlook → the last name is used for both in OroCRM (and the
    # other way round); the local item is left as the user wrote it.
    item = rig.store.add("contacts", dict(local))
    rig.sync(entities=C)
    attrs = crm_attrs(rig, "contacts", rig.store.get(item.id).crm_id)
    assert (attrs["firstName"], attrs["lastName"]) == (crm_first, crm_last)
    assert rig.store.get(item.id).fields == local
    assert_quiet(rig, C)


@pytest.mark.parametrize("direction", [CRM_TO_LOCAL, LOCAL_TO_CRM])
def test_first_sync_deletes_items_carrying_a_crm_id_in_each_direction(rig, direction):
    # Seed 000, both directions: on the first sync, records with an OroCRM_id are deleted.
    rig.direction("contacts", direction)
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee"})
    stale = rig.store.add("contacts", {"first_name": "Ann", "last_name": "Lee"}, crm_id=crm_id)
    rig.sync(entities=C)
    assert rig.store.get(stale.id) is None
    assert any(e.item.id == stale.id and e.reason == "sync_delete"
               for e in rig.store.trash_list())
    assert rig.admin.ids("contacts") == [crm_id]
    if direction == CRM_TO_LOCAL:
        assert rig.only_local("contacts").crm_id == crm_id    # then matched anew: recreated
    else:
        assert rig.local("contacts") == []
    assert_quiet(rig, C)


def test_once_row_is_set_when_the_crm_record_is_created_locally_and_never_after(rig):
    from tray_client.settings import MappingOverride

    rig.settings.mapping = {"contacts": {"notes": MappingOverride(direction="once")}}
    crm_id = rig.admin.create("contacts", {"lastName": "Once", "description": "at creation"})
    rig.sync(entities=C)
    assert rig.only_local("contacts").fields["notes"] == "at creation"
    rig.admin.update("contacts", crm_id, {"description": "later", "jobTitle": "touch"})
    rig.sync(entities=C)
    local = rig.only_local("contacts").fields
    assert local["notes"] == "at creation" and local["job_title"] == "touch"
    assert_quiet(rig, C)


# -- events: only the user's own calendar ---------------------------------------------------------

def test_event_moved_to_another_calendar_is_no_longer_written(rig):
    # Seed 001: "Only a calendar assigned to the specified user is mapped". An event moved to a
    # colleague's calendar is gone from the user's: a local edit must not change it; the
    # item goes as for a record deleted in the CRM (Both: deleted locally, into the trash).
    crm_id = rig.admin.create("calendarevents", {"title": "Standup",
                                                 "start": "2026-03-01T09:00:00Z",
                                                 "end": "2026-03-01T09:15:00Z"})
    rig.sync(entities=["events"])
    item = rig.only_local("events")
    rig.admin.update("calendarevents", crm_id, {}, {"calendar": "2"})
    rig.store.update(item.id, {"subject": "Local edit"})
    rig.sync(entities=["events"])
    assert crm_attrs(rig, "calendarevents", crm_id)["title"] == "Standup"
    assert rig.store.get(item.id) is None
    assert any(e.item.id == item.id and e.reason == "sync_delete"
               for e in rig.store.trash_list())
    assert_quiet(rig, ["events"])
