"""Rules of seeds 000/001 and DESIGN §5-§6 that the other test files left unchecked, against
the reference server (found by the audit of the engine against its specification)."""

from __future__ import annotations

import pytest

from tests.sync.helpers import LosesTheAnswer, assert_quiet, crm_attrs
from tray_client.sync import SyncEngine
from tray_client.sync.actions import BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM

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
    crm_id = rig.admin.create("tasks", {"subject": "Call back"})
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
