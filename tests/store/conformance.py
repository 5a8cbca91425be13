"""The store conformance tests (after vdirsyncer's ``tests/storage``): every store
implementation inherits ``StoreConformance`` and provides a ``store`` fixture whose store
uses the ``clock`` fixture. The sync engine relies on exactly this behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from tray_client.errors import StoreError
from tray_client.store import ENTITIES, LocalStore

CONTACT = {"first_name": "Ann", "last_name": "Lee", "emails": ["ann@example.org"],
           "business_address": {"street": "1 Main St", "city": "Springfield"}}
TASK = {"subject": "Call Ann", "priority": "high", "due_date": "2026-12-01",
        "status": "not_started"}
EVENT = {"subject": "Review", "start": "2026-11-23T10:00:00+01:00",
         "end": "2026-11-23T11:00:00+01:00", "location": "Room 4"}
SAMPLES: dict[str, dict[str, Any]] = {"contacts": CONTACT, "tasks": TASK, "events": EVENT}


class StoreConformance:
    # -- CRUD -------------------------------------------------------------------------------

    @pytest.mark.parametrize("entity", ENTITIES)
    def test_add_then_get_returns_same_item(self, store: LocalStore, entity: str) -> None:
        item = store.add(entity, SAMPLES[entity])
        again = store.get(item.id)
        assert again == item
        assert again is not None and again.entity == entity and again.crm_id is None
        for name, value in SAMPLES[entity].items():
            assert again.fields[name] == value

    def test_creation_order_is_insertion_order_even_if_clock_stalls(
            self, store: LocalStore, clock: Any) -> None:
        clock.advance(days=1)
        first = store.add("tasks", {"subject": "first"})
        clock.advance(days=-1)  # the clock steps back (NTP, suspend)
        second = store.add("tasks", {"subject": "second"})
        assert second.created_at > first.created_at
        assert [i.id for i in store.iter_items("tasks")] == [first.id, second.id]

    def test_get_unknown_id_is_none(self, store: LocalStore) -> None:
        assert store.get("no-such-id") is None

    def test_add_with_item_id_and_crm_id(self, store: LocalStore) -> None:
        item = store.add("contacts", CONTACT, item_id="fixed-id", crm_id="12", crm_sync=False)
        assert (item.id, item.crm_id, item.crm_sync) == ("fixed-id", "12", False)
        assert store.find_by_crm_id("contacts", "12") == item
        assert store.find_by_crm_id("tasks", "12") is None

    def test_duplicate_item_id_is_refused(self, store: LocalStore) -> None:
        store.add("tasks", TASK, item_id="same")
        with pytest.raises(StoreError, match="already exists"):
            store.add("tasks", TASK, item_id="same")
        assert store.count("tasks") == 1

    def test_one_local_item_per_crm_record(self, store: LocalStore) -> None:
        store.add("contacts", CONTACT, crm_id="7")
        other = store.add("contacts", {"first_name": "Bo"})
        with pytest.raises(StoreError, match="already linked"):
            store.add("contacts", CONTACT, crm_id="7")
        with pytest.raises(StoreError, match="already linked"):
            store.set_crm_id(other.id, "7")
        # The same CRM id in another entity is a different record.
        store.add("tasks", TASK, crm_id="7")

    def test_update_merges_and_removes(self, store: LocalStore) -> None:
        item = store.add("contacts", CONTACT)
        updated = store.update(item.id, {"job_title": "CTO", "last_name": "",
                                         "business_address": {"city": "Paris"}})
        assert updated.fields["job_title"] == "CTO"
        assert "last_name" not in updated.fields
        assert updated.fields["business_address"] == {"street": "1 Main St", "city": "Paris"}
        assert updated.fields["first_name"] == "Ann"
        assert store.get(item.id) == updated

    def test_update_crm_sync_flag(self, store: LocalStore) -> None:
        item = store.add("tasks", TASK)
        assert store.update(item.id, {}, crm_sync=False).crm_sync is False
        assert store.get(item.id).crm_sync is False  # type: ignore[union-attr]

    def test_replace_fields_replaces_whole_dict(self, store: LocalStore) -> None:
        item = store.add("contacts", CONTACT)
        replaced = store.replace_fields(item.id, {"first_name": "Zed"})
        assert replaced.fields == {"first_name": "Zed"}
        assert replaced.created_at == item.created_at
        assert replaced.updated_at > item.updated_at

    def test_unchanged_write_keeps_revision(self, store: LocalStore) -> None:
        item = store.add("events", EVENT)
        assert store.replace_fields(item.id, dict(EVENT)).rev == item.rev
        assert store.update(item.id, {"subject": "Review"}).rev == item.rev
        assert store.max_rev() == item.rev

    def test_update_missing_item_raises(self, store: LocalStore) -> None:
        with pytest.raises(StoreError, match="no local item"):
            store.update("missing", {"subject": "x"})
        with pytest.raises(StoreError, match="no local item"):
            store.delete("missing")

    def test_set_crm_id_links_and_unlinks(self, store: LocalStore) -> None:
        item = store.add("tasks", TASK)
        store.set_crm_id(item.id, "99")
        linked = store.get(item.id)
        assert linked is not None and linked.crm_id == "99" and linked.rev > item.rev
        store.set_crm_id(item.id, None)
        assert store.get(item.id).crm_id is None  # type: ignore[union-attr]
        assert store.find_by_crm_id("tasks", "99") is None

    def test_list_search_is_case_insensitive_on_display_fields(self, store: LocalStore) -> None:
        ann = store.add("contacts", CONTACT)
        jo = store.add("contacts", {"first_name": "Jörg", "emails": ["JOERG@Example.com"]})
        store.add("contacts", {"first_name": "Max", "notes": "knows ann"})
        assert store.list("contacts", search="ANN") == [ann]
        assert store.list("contacts", search="jörg") == [jo]
        assert store.list("contacts", search="joerg@example") == [jo]
        assert len(store.list("contacts")) == 3
        assert store.list("contacts", search="nobody") == []

    def test_iter_items_orders_by_creation_and_streams(self, store: LocalStore) -> None:
        ids = store.bulk_add("tasks", ({"subject": f"t{i}"} for i in range(1200)))
        assert [item.id for item in store.iter_items("tasks")] == ids
        assert store.count("tasks") == 1200 and store.count("events") == 0

    def test_iter_items_tolerates_writes_during_iteration(self, store: LocalStore) -> None:
        store.bulk_add("tasks", ({"subject": f"t{i}"} for i in range(600)))
        seen = 0
        for item in store.iter_items("tasks"):
            store.update(item.id, {"notes": "seen"})
            seen += 1
        assert seen == 600
        assert all(i.fields["notes"] == "seen" for i in store.iter_items("tasks"))

    def test_to_json_and_display_name(self, store: LocalStore) -> None:
        contact = store.add("contacts", CONTACT, crm_id="5")
        assert contact.to_json() == {"id": contact.id, "entity": "contacts", "crm_id": "5",
                                     "crm_sync": True, **CONTACT}
        assert contact.display_name == "Ann Lee"
        assert store.add("contacts", {"emails": "x@y.org"}).display_name == "x@y.org"
        assert store.add("tasks", TASK).display_name == "Call Ann"

    # -- validation -------------------------------------------------------------------------

    @pytest.mark.parametrize(("entity", "fields", "fragment"), [
        ("contacts", {"nickname": "A"}, "nickname"),
        ("contacts", {"birthday": "23/04/1980"}, "birthday"),
        ("contacts", {"gender": "robot"}, "gender"),
        ("contacts", {"home_address": {"planet": "Mars"}}, "home_address.planet"),
        ("contacts", {"first_name": 42}, "first_name"),
        ("tasks", {"priority": "urgent"}, "priority"),
        ("tasks", {"status": "done"}, "status"),
        ("tasks", {"due_date": "tomorrow"}, "due_date"),
        ("events", {"start": "2026-11-23 10h"}, "start"),
        ("events", {"start": "2026-11-23T10:00:00"}, "offset"),
        ("events", {"all_day": "maybe"}, "all_day"),
        ("events", {"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T09:00:00Z"}, "end"),
    ])
    def test_bad_fields_raise_store_error_naming_field(self, store: LocalStore, entity: str,
                                                       fields: dict[str, Any],
                                                       fragment: str) -> None:
        with pytest.raises(StoreError) as info:
            store.add(entity, fields)
        assert fragment in str(info.value)
        assert store.count(entity) == 0
        assert store.max_rev() == 0

    def test_unknown_entity(self, store: LocalStore) -> None:
        with pytest.raises(StoreError, match="Unknown item type"):
            store.add("notes", {"subject": "x"})

    # -- revisions --------------------------------------------------------------------------

    def test_rev_is_monotonic_across_all_writes(self, store: LocalStore) -> None:
        seen = [store.max_rev()]
        a = store.add("contacts", CONTACT)
        seen.append(store.max_rev())
        store.update(a.id, {"job_title": "Boss"})
        seen.append(store.max_rev())
        store.replace_fields(a.id, {"first_name": "Ann"})
        seen.append(store.max_rev())
        store.set_crm_id(a.id, "3")
        seen.append(store.max_rev())
        store.delete(a.id)
        seen.append(store.max_rev())
        assert seen == sorted(set(seen)), "every write must bump the revision"

    def test_rev_never_goes_back_after_deleting_newest(self, store: LocalStore) -> None:
        store.add("tasks", TASK)
        newest = store.add("tasks", TASK)
        store.delete(newest.id)
        after = store.add("tasks", TASK)
        assert after.rev > newest.rev

    def test_changed_since(self, store: LocalStore) -> None:
        a = store.add("tasks", {"subject": "a"})
        b = store.add("tasks", {"subject": "b"})
        store.add("events", EVENT)
        mark = store.max_rev()
        assert list(store.changed_since("tasks", mark)) == []
        store.update(a.id, {"notes": "changed"})
        assert [i.id for i in store.changed_since("tasks", mark)] == [a.id]
        assert [i.id for i in store.changed_since("tasks", 0)] == [b.id, a.id]

    def test_changed_since_skips_writes_made_while_iterating(self, store: LocalStore) -> None:
        store.bulk_add("tasks", ({"subject": f"t{i}"} for i in range(700)))
        touched = [item.id for item in store.changed_since("tasks", 0)
                   if store.update(item.id, {"notes": "n"})]
        assert len(touched) == 700 == len(set(touched))

    # -- transactions -----------------------------------------------------------------------

    def test_transaction_rolls_back_on_exception(self, store: LocalStore) -> None:
        kept = store.add("tasks", TASK)
        rev = store.max_rev()
        with pytest.raises(RuntimeError), store.transaction():
            store.add("tasks", TASK)
            store.update(kept.id, {"subject": "changed"})
            store.delete(kept.id)
            raise RuntimeError("boom")
        assert store.count("tasks") == 1
        assert store.get(kept.id) == kept
        assert store.max_rev() == rev
        assert store.trash_list() == []

    def test_nested_transaction_is_a_savepoint(self, store: LocalStore) -> None:
        with store.transaction():
            outer = store.add("tasks", {"subject": "outer"})
            with pytest.raises(StoreError), store.transaction():
                store.add("tasks", {"subject": "inner"})
                store.add("tasks", {"priority": "bogus"})
            with store.transaction():
                inner = store.add("tasks", {"subject": "inner kept"})
        assert [i.id for i in store.iter_items("tasks")] == [outer.id, inner.id]

    def test_raw_sql_joins_the_transaction(self, store: LocalStore) -> None:
        store.connection.execute("CREATE TABLE IF NOT EXISTS sync_links (item_id TEXT)")
        with pytest.raises(ValueError), store.transaction() as conn:
            item = store.add("tasks", TASK)
            conn.execute("INSERT INTO sync_links VALUES (?)", (item.id,))
            raise ValueError
        assert store.connection.execute("SELECT COUNT(*) FROM sync_links").fetchone()[0] == 0
        with store.transaction() as conn:
            item = store.add("tasks", TASK)
            conn.execute("INSERT INTO sync_links VALUES (?)", (item.id,))
        assert store.connection.execute("SELECT item_id FROM sync_links").fetchall() == [
            (item.id,)]

    def test_store_usable_after_failed_transaction(self, store: LocalStore) -> None:
        with pytest.raises(KeyError), store.transaction():
            raise KeyError
        assert store.add("tasks", TASK).rev == 1

    # -- trash ------------------------------------------------------------------------------

    def test_delete_moves_full_item_to_trash(self, store: LocalStore) -> None:
        item = store.add("contacts", CONTACT, crm_id="4")
        store.delete(item.id, reason="sync_delete", run_id="run-1")
        assert store.get(item.id) is None
        [entry] = store.trash_list()
        assert entry.item == item
        assert (entry.reason, entry.run_id) == ("sync_delete", "run-1")

    def test_unknown_trash_reason(self, store: LocalStore) -> None:
        item = store.add("tasks", TASK)
        with pytest.raises(StoreError, match="reason"):
            store.delete(item.id, reason="because")
        assert store.get(item.id) is not None

    def test_restore_keeps_id_and_unlinks(self, store: LocalStore) -> None:
        item = store.add("contacts", CONTACT, crm_id="4", crm_sync=False)
        store.delete(item.id)
        [entry] = store.trash_list()
        restored = store.trash_restore(entry.entry_id)
        assert restored.id == item.id and restored.created_at == item.created_at
        assert restored.crm_id is None and restored.crm_sync is False
        assert restored.fields == item.fields and restored.rev > item.rev
        assert store.trash_list() == []
        with pytest.raises(StoreError, match="no trash entry"):
            store.trash_restore(entry.entry_id)

    def test_restore_snapshot_of_existing_item_makes_new_item(self, store: LocalStore) -> None:
        item = store.add("tasks", TASK, crm_id="8")
        entry_id = store.snapshot_to_trash(item, "sync_overwrite", "run-2")
        store.replace_fields(item.id, {"subject": "from CRM"})
        restored = store.trash_restore(entry_id)
        assert restored.id != item.id and restored.crm_id is None
        assert restored.fields == TASK
        assert store.get(item.id).fields == {"subject": "from CRM"}  # type: ignore[union-attr]
        assert store.count("tasks") == 2

    def test_trash_purge_after_30_days(self, store: LocalStore, clock: Any) -> None:
        old = store.add("tasks", {"subject": "old"})
        store.delete(old.id)
        clock.advance(days=20)
        young = store.add("tasks", {"subject": "young"})
        store.delete(young.id)
        clock.advance(days=11)
        assert store.trash_purge() == 1
        assert [e.item.id for e in store.trash_list()] == [young.id]
        clock.advance(days=30)
        assert store.trash_purge(older_than_days=30) == 1
        assert store.trash_list() == []
