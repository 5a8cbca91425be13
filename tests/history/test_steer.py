"""Use the other value, holds, the queue and item sync states, end to end against the
reference server (real engine, real store, real HTTP on loopback)."""

from __future__ import annotations

import inspect

import pytest

from tray_client import history
from tray_client.sync import context as context_module

C = ["contacts"]


@pytest.fixture
def holds_enforced():
    """The engine itself skips held items (RunContext.held_revs); nothing to patch."""
    assert "held_revs" in inspect.getsource(context_module)


def linked_contact(rig) -> tuple[str, str]:
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                           "jobTitle": "Buyer"})
    rig.sync(entities=C)
    (item,) = rig.store.list("contacts")
    assert item.crm_id == crm_id
    return crm_id, item.id


@pytest.mark.parametrize("policy, winner", [(None, "crm"), ("OutlookAlwaysWins", "local")])
def test_use_other_value_makes_the_losing_value_win_at_the_next_sync(rig, policy, winner):
    if policy:
        rig.admin.set_setting("contacts_conflict_resolution", policy)
    crm_id, item_id = linked_contact(rig)
    rig.store.update(item_id, {"job_title": "Local edit"})
    rig.admin.update("contacts", crm_id, {"jobTitle": "CRM edit"})
    result = rig.sync(entities=C)
    (conflict,) = history.list_conflicts(rig.store, run_id=result.run_id)
    assert conflict.row.field == "job_title" and conflict.row.winner == winner
    loser = "Local edit" if winner == "crm" else "CRM edit"
    assert conflict.losing_value == loser
    assert rig.crm_contact(crm_id)["jobTitle"] != loser

    item = history.use_other_value(rig.store, conflict.seq)
    assert item.fields["job_title"] == loser
    second = rig.sync(entities=C)
    assert second.outcome == "ok" and not second.conflicts
    assert rig.crm_contact(crm_id)["jobTitle"] == loser
    assert rig.store.get(item_id).fields["job_title"] == loser
    # Settled: a sync after that writes nothing.
    assert rig.sync(entities=C).changes == 0


def test_use_other_value_of_a_missing_item_or_conflict_is_a_clear_error(rig, store):
    from tray_client.errors import StoreError

    crm_id, item_id = linked_contact(rig)
    rig.store.update(item_id, {"job_title": "Local edit"})
    rig.admin.update("contacts", crm_id, {"jobTitle": "CRM edit"})
    result = rig.sync(entities=C)
    (conflict,) = history.list_conflicts(rig.store, run_id=result.run_id)
    rig.store.delete(item_id)
    with pytest.raises(StoreError, match="no longer exists"):
        history.use_other_value(rig.store, conflict.seq)
    with pytest.raises(StoreError, match="no conflict"):
        history.use_other_value(rig.store, 999_999)


def test_held_change_is_not_sent_and_a_later_edit_is(rig, holds_enforced):
    crm_id, item_id = linked_contact(rig)
    item = rig.store.update(item_id, {"job_title": "Draft"})
    assert history.item_row(rig.store, item_id).state == "pending"
    assert history.hold(rig.store, "contacts", item_id) == item.rev
    assert history.held_revs(rig.store.connection, "contacts") == {item_id: item.rev}
    assert history.item_row(rig.store, item_id).state == "held"
    rig.sync(entities=C)
    assert rig.crm_contact(crm_id)["jobTitle"] == "Buyer"
    rig.sync(entities=C)   # the hold keeps holding on later runs
    assert rig.crm_contact(crm_id)["jobTitle"] == "Buyer"
    rig.store.update(item_id, {"job_title": "Final"})
    rig.sync(entities=C)
    assert rig.crm_contact(crm_id)["jobTitle"] == "Final"
    assert history.item_row(rig.store, item_id).state == "synced"


def test_released_hold_sends_the_change(rig, holds_enforced):
    crm_id, item_id = linked_contact(rig)
    rig.store.update(item_id, {"job_title": "Draft"})
    history.hold(rig.store, "contacts", item_id)
    assert history.release(rig.store, "contacts", item_id)
    assert not history.release(rig.store, "contacts", item_id)
    rig.sync(entities=C)
    assert rig.crm_contact(crm_id)["jobTitle"] == "Draft"


def test_held_revs_without_any_hold_is_empty(store):
    assert history.held_revs(store.connection, "contacts") == {}


def test_item_states_synced_pending_failed_local(rig):
    _crm_id, item_id = linked_contact(rig)
    new = rig.store.add("contacts", {"first_name": "Neu", "last_name": "Ling"})
    off = rig.store.add("contacts", {"first_name": "Off", "last_name": "Line"}, crm_sync=False)
    rows = {r.item.id: r for r in history.list_items(rig.store, "contacts", selected=True)}
    assert rows[item_id].state == "synced" and rows[item_id].mark == "✓ synced"
    assert rows[new.id].state == "pending"
    assert rows[off.id].state == "local"
    assert history.list_items(rig.store, "contacts")[2].state == "pending"
    # A push the CRM rejects: failed, with the CRM's reason.
    rig.admin.inject_fault("/api/contacts", status=400, times=None, method="POST")
    try:
        result = rig.sync(entities=C)
    finally:
        rig.admin.clear_faults()
    assert result.errors
    failed = history.item_row(rig.store, new.id)
    assert failed.state == "failed" and failed.reason and failed.mark.startswith("✗ failed: ")
    # Search and keyset paging.
    assert [r.item.id for r in history.list_items(rig.store, "contacts", search="LING")] == [
        new.id]
    first = history.list_items(rig.store, "contacts", limit=2)
    rest = history.list_items(rig.store, "contacts", limit=2,
                              after=(first[-1].item.created_at, first[-1].item.id))
    assert len(first) + len(rest) == 3
    assert {r.item.id for r in first}.isdisjoint(r.item.id for r in rest)


def test_record_url_follows_oro_routes():
    assert history.record_url("https://crm.example/", "contacts", "12") == (
        "https://crm.example/contact/view/12")
    assert history.record_url("https://x/admin", "tasks", "3") == "https://x/admin/task/view/3"
    assert history.record_url("https://x", "events", "9") == "https://x/calendar/event/view/9"


def test_queue_lists_push_plan_and_outbox_entries(devserver, make_client, holds_enforced):
    client = make_client(devserver)
    crm_id = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee"})
    client.sync(entities=C)
    (item,) = client.store.list("contacts")
    client.store.update(item.id, {"job_title": "Boss"})
    new = client.store.add("tasks", {"subject": "Call Ann", "priority": "high"})
    entry = client.outbox().add("lead", {"name": "Big deal"})
    queue = client.pending_changes()
    changes = {e.key: e for e in queue if e.kind == history.CHANGE}
    assert changes[item.id].action == "update-remote"
    assert changes[item.id].description == "Update the CRM record: job_title"
    assert changes[item.id].crm_id == crm_id and changes[item.id].rev == client.store.get(
        item.id).rev
    assert changes[new.id].action == "create-remote"
    assert changes[new.id].description == "Create it in the CRM"
    (outbox,) = [e for e in queue if e.kind == history.OUTBOX]
    assert outbox.key == str(entry.id) and outbox.name == "Big deal"
    assert outbox.description == "Create the lead in the CRM at the next sync"
    # Holding the change takes it out of the next plan.
    history.hold(client.store, "contacts", item.id)
    assert item.id not in {e.key for e in client.pending_changes()}
