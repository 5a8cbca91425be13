"""DESIGN §6 "Outcomes the user must see": one test per row and direction, driving the real
engine and a real LocalStore against the real reference server on loopback.

Every test runs twice: with the sync rules set on this computer (real Oro has no Outlook
section) and with them set by the server's Outlook section (the old Enterprise bundle)."""

from __future__ import annotations

import pytest

from tests.sync.helpers import assert_quiet, crm_attrs
from tray_client.errors import StoreError
from tray_client.store import LocalStore
from tray_client.sync.config import BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM, LOCAL_WINS
from tray_client.sync.state import SyncState

C = ["contacts"]
ALL = [CRM_TO_LOCAL, LOCAL_TO_CRM, BOTH]


@pytest.fixture(params=["client", "server"])
def rig(devserver, make_rig, request):
    rig = make_rig(devserver)
    rig.rules_from = request.param
    return rig


def linked_pair(rig, direction):
    """A contact present on both sides and linked by a first sync in ``direction``."""
    rig.direction("contacts", direction)
    if direction == LOCAL_TO_CRM:
        item = rig.store.add("contacts", {"first_name": "Ann", "last_name": "Lee",
                                          "job_title": "Buyer"})
        rig.sync(entities=C)
        item = rig.store.get(item.id)
        assert item.crm_id
        return item.crm_id, item.id
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                           "jobTitle": "Buyer"})
    rig.sync(entities=C)
    item = rig.only_local("contacts")
    assert item.crm_id == crm_id
    return crm_id, item.id


# -- record exists only in the CRM ------------------------------------------------------------

@pytest.mark.parametrize("direction, created", [(CRM_TO_LOCAL, True), (LOCAL_TO_CRM, False),
                                                (BOTH, True)])
def test_record_only_in_crm(rig, direction, created):
    rig.direction("contacts", direction)
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                           "emails": [{"email": "ann@x.org"}]})
    result = rig.sync(entities=C)
    assert result.outcome == "ok"
    items = rig.local("contacts")
    if created:
        (item,) = items
        assert item.crm_id == crm_id and item.crm_sync
        assert item.fields["emails"] == ["ann@x.org"]
    else:
        assert items == []
    assert_quiet(rig, C)


# -- item exists only locally -----------------------------------------------------------------

@pytest.mark.parametrize("direction, created", [(CRM_TO_LOCAL, False), (LOCAL_TO_CRM, True),
                                                (BOTH, True)])
def test_item_only_local(rig, direction, created):
    rig.direction("contacts", direction)
    item = rig.store.add("contacts", {"first_name": "Bo", "last_name": "Ek",
                                      "primary_phone": "+46 1"})
    rig.sync(entities=C)
    if created:
        (crm_id,) = rig.admin.ids("contacts")
        assert rig.store.get(item.id).crm_id == crm_id
        attrs = crm_attrs(rig, "contacts", crm_id)
        assert attrs["lastName"] == "Ek" and attrs["phones"] == [{"phone": "+46 1"}]
    else:
        assert rig.admin.ids("contacts") == []
        assert rig.store.get(item.id).crm_id is None
    assert_quiet(rig, C)


# -- exists on both sides (first sync, key match) ---------------------------------------------

@pytest.mark.parametrize("direction", ALL)
def test_exists_on_both_sides_first_sync(rig, direction):
    rig.direction("contacts", direction)
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                           "jobTitle": "CRM title"})
    item = rig.store.add("contacts", {"first_name": "ann", "last_name": " LEE ",
                                      "job_title": "Local title"})
    rig.sync(entities=C)
    assert rig.admin.ids("contacts") == [crm_id]          # matched by key: no duplicate
    assert [i.id for i in rig.local("contacts")] == [item.id]
    local = rig.store.get(item.id)
    assert local.crm_id == crm_id
    if direction == LOCAL_TO_CRM:
        assert crm_attrs(rig, "contacts", crm_id)["jobTitle"] == "Local title"
        assert local.fields["job_title"] == "Local title"
    else:
        assert local.fields["job_title"] == "CRM title"
        assert crm_attrs(rig, "contacts", crm_id)["jobTitle"] == "CRM title"
    assert_quiet(rig, C)


# -- updated in the CRM -----------------------------------------------------------------------

@pytest.mark.parametrize("direction", ALL)
def test_updated_in_crm(rig, direction):
    crm_id, item_id = linked_pair(rig, direction)
    rig.admin.update("contacts", crm_id, {"jobTitle": "Director"})
    rig.sync(entities=C)
    local = rig.store.get(item_id)
    if direction == LOCAL_TO_CRM:
        # Stays; the local values win the next time the item changes.
        assert local.fields["job_title"] == "Buyer"
        assert crm_attrs(rig, "contacts", crm_id)["jobTitle"] == "Director"
        assert_quiet(rig, C)
        rig.store.update(item_id, {"middle_name": "M"})
        rig.sync(entities=C)
        attrs = crm_attrs(rig, "contacts", crm_id)
        assert attrs["jobTitle"] == "Buyer" and attrs["middleName"] == "M"
    else:
        assert local.fields["job_title"] == "Director"
    assert_quiet(rig, C)


# -- updated locally --------------------------------------------------------------------------

@pytest.mark.parametrize("direction, sent", [(CRM_TO_LOCAL, False), (LOCAL_TO_CRM, True),
                                             (BOTH, True)])
def test_updated_locally(rig, direction, sent):
    crm_id, item_id = linked_pair(rig, direction)
    rig.store.update(item_id, {"job_title": "Local edit"})
    rig.sync(entities=C)
    assert rig.store.get(item_id).fields["job_title"] == "Local edit"   # stays local
    expected = "Local edit" if sent else "Buyer"
    assert crm_attrs(rig, "contacts", crm_id)["jobTitle"] == expected
    assert_quiet(rig, C)


# -- updated on both sides --------------------------------------------------------------------

@pytest.mark.parametrize("direction, policy, winner", [
    (CRM_TO_LOCAL, None, "crm"), (LOCAL_TO_CRM, None, "local"),
    (BOTH, None, "crm"), (BOTH, LOCAL_WINS, "local")])
def test_updated_on_both_sides(rig, direction, policy, winner):
    if policy:
        rig.policy("contacts", policy)
    crm_id, item_id = linked_pair(rig, direction)
    rig.store.update(item_id, {"job_title": "Local edit", "middle_name": "Local only"})
    rig.admin.update("contacts", crm_id, {"jobTitle": "CRM edit", "description": "CRM only"})
    result = rig.sync(entities=C)
    local = rig.store.get(item_id).fields
    attrs = crm_attrs(rig, "contacts", crm_id)
    wanted = "CRM edit" if winner == "crm" else "Local edit"
    assert local["job_title"] == wanted and attrs["jobTitle"] == wanted
    conflict = next(c for c in result.conflicts if c.field == "job_title")
    assert (conflict.local_value, conflict.crm_value, conflict.winner) == (
        "Local edit", "CRM edit", winner)
    if direction == BOTH:
        # Fields changed on one side only take that side's value.
        assert local["notes"] == attrs["description"] == "CRM only"
        assert local["middle_name"] == attrs["middleName"] == "Local only"
        assert len(result.conflicts) == 1
    assert_quiet(rig, C)


# -- deleted locally --------------------------------------------------------------------------

@pytest.mark.parametrize("direction", ALL)
def test_deleted_locally(rig, direction):
    crm_id, item_id = linked_pair(rig, direction)
    rig.store.delete(item_id)
    rig.sync(entities=C)
    assert rig.admin.ids("contacts") == [crm_id]      # stays in the CRM in every direction
    if direction == LOCAL_TO_CRM:
        assert rig.local("contacts") == []
    else:
        item = rig.only_local("contacts")             # recreated from the CRM
        assert item.crm_id == crm_id and item.id != item_id
        assert item.fields["job_title"] == "Buyer"
    assert_quiet(rig, C)


# -- deleted in the CRM -----------------------------------------------------------------------

@pytest.mark.parametrize("direction, kept", [(CRM_TO_LOCAL, True), (LOCAL_TO_CRM, False),
                                             (BOTH, False)])
def test_deleted_in_crm(rig, direction, kept):
    crm_id, item_id = linked_pair(rig, direction)
    before = rig.store.get(item_id)
    rig.admin.delete("contacts", crm_id)
    rig.sync(entities=C)
    after = rig.store.get(item_id)
    if kept:
        assert after is not None and after.fields == before.fields and after.rev == before.rev
    else:
        assert after is None
        trashed = [e for e in rig.store.trash_list() if e.item.id == item_id]
        assert trashed and trashed[0].reason == "sync_delete"   # restorable
    assert_quiet(rig, C)


# -- several local items match the key --------------------------------------------------------

@pytest.mark.parametrize("direction", [CRM_TO_LOCAL, BOTH])
def test_several_local_items_match(rig, direction):
    rig.direction("contacts", direction)
    first = rig.store.add("contacts", {"first_name": "Ann", "last_name": "Lee", "notes": "1"})
    second = rig.store.add("contacts", {"first_name": "Ann", "last_name": "Lee", "notes": "2"})
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                           "jobTitle": "Buyer"})
    rig.sync(entities=C)
    # The oldest is the one updated and linked; the other is left as it was.
    assert rig.store.get(first.id).crm_id == crm_id
    assert rig.store.get(first.id).fields["job_title"] == "Buyer"
    other = rig.store.get(second.id)
    if direction == CRM_TO_LOCAL:
        assert other.crm_id is None and "job_title" not in other.fields
    else:
        # Both: the other one is a new local item, so it is created in the CRM.
        assert other.crm_id not in (None, crm_id)
    assert_quiet(rig, C)


def test_a_local_deletion_is_found_without_reading_every_link(rig, monkeypatch):
    # Issue 17: the check reads the trash entries made since the last one, not all links
    # (100,000 of them at CRM scale, on every run after any local change).
    crm_id, item_id = linked_pair(rig, LOCAL_TO_CRM)
    other = rig.store.add("contacts", {"first_name": "Bo", "last_name": "Berg"})
    rig.sync(entities=C)
    rig.store.delete(item_id)

    def every_link(*args, **kwargs):
        raise AssertionError("read every link")

    monkeypatch.setattr(SyncState, "linked_item_ids", every_link)
    rig.sync(entities=C, trigger="interval")
    assert [i.id for i in rig.local("contacts")] == [other.id]
    assert rig.engine().state.link_by_crm("contacts", crm_id) is None   # forgotten
    assert rig.admin.ids("contacts") != []                              # stays in the CRM
    monkeypatch.undo()
    assert_quiet(rig, C)


def test_the_hourly_look_finds_a_link_whose_item_left_no_trash_entry(rig):
    # The safety net: an item gone without a trash entry (the entry purged, another program
    # writing the file) is found by the full look, which a manual sync makes.
    crm_id, item_id = linked_pair(rig, LOCAL_TO_CRM)
    with rig.store.transaction() as conn:
        conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
    rig.sync(entities=C, trigger="interval")
    assert rig.engine().state.link_by_crm("contacts", crm_id) is not None  # not seen yet
    rig.sync(entities=C, trigger="manual")
    assert rig.engine().state.link_by_crm("contacts", crm_id) is None
    assert_quiet(rig, C)


def _full_address_book(rig):
    """Three people on both sides, unlinked locally; one has another job title in the CRM."""
    rig.direction("contacts", CRM_TO_LOCAL)
    crm_ids, items = [], []
    for first, title in (("Ann", "Buyer"), ("Bo", "CEO"), ("Cy", "CTO")):
        crm_ids.append(rig.admin.create("contacts", {"firstName": first, "lastName": "Lee",
                                                     "jobTitle": title}))
        items.append(rig.store.add("contacts", {
            "first_name": first, "last_name": "Lee",
            "job_title": "Old title" if first == "Cy" else title}))
    return crm_ids, items


def _assert_linked(rig, crm_ids, items):
    for crm_id, item in zip(crm_ids, items, strict=True):
        assert rig.store.get(item.id).crm_id == crm_id
    assert rig.store.get(items[2].id).fields["job_title"] == "CTO"
    # The local value the CRM's replaced is kept in the trash, restorable.
    [kept] = [e for e in rig.store.trash_list() if e.reason == "sync_overwrite"]
    assert kept.item.id == items[2].id and kept.item.fields["job_title"] == "Old title"
    assert rig.admin.ids("contacts") == sorted(crm_ids, key=int)   # nothing created
    assert_quiet(rig, C)


def test_pairs_matched_by_key_are_linked_together(rig, monkeypatch):
    # Issue 17: a first sync into a full address book links each batch's pairs with one
    # store call (store.link one by one took ~13 statements a pair).
    crm_ids, items = _full_address_book(rig)

    def one_by_one(*args, **kwargs):
        raise AssertionError("linked one by one")

    monkeypatch.setattr(LocalStore, "link", one_by_one)
    result = rig.sync(entities=C)
    monkeypatch.undo()
    assert result.count("contacts", "local", "updated") == 1
    assert result.count("contacts", "local", "created") == 0
    rows = rig.engine().state.db.execute(
        "SELECT action, message FROM sync_report WHERE run_id = ? ORDER BY item_id",
        (result.run_id,)).fetchall()
    assert sorted(rows) == [("linked", ""), ("linked", ""), ("linked", "job_title")]
    _assert_linked(rig, crm_ids, items)


def test_pairs_are_linked_one_by_one_when_linking_them_together_fails(rig, monkeypatch):
    crm_ids, items = _full_address_book(rig)

    def refused(*args, **kwargs):
        raise StoreError("refused", title="Test")

    monkeypatch.setattr(LocalStore, "link_many", refused)
    result = rig.sync(entities=C)
    monkeypatch.undo()
    assert result.outcome == "ok" and result.count("contacts", "local", "updated") == 1
    _assert_linked(rig, crm_ids, items)
