"""A first sync into a local store that already holds the CRM's people, unlinked (issue 17):
its fast paths write exactly what the record-by-record path writes, against the reference
server. Each run starts from a copy of one store, so item ids and revisions compare."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tray_client.store import LocalStore
from tray_client.sync import mapping, scratch
from tray_client.sync import pull as pull_module

C = ["contacts"]

# (first name, last name, job title in the CRM, job title locally or None: no local item);
# three CRM records share a key that two local items hold (the oldest is linked first).
PEOPLE = [("Ann", "Lee", "Buyer", "Buyer"), ("Bo", "Ek", "CEO", "CEO"),
          ("Cy", "Ode", "CTO", "Old title"), ("Di", "Park", "Chair", "Chair"),
          ("Eve", "Tam", "Sales", "Sales"), ("Eve", "Tam", "Support", "Support"),
          ("Eve", "Tam", "Legal", None), ("Fay", "Ng", "Dev", None),
          ("Gus", "Orr", None, "Intern"), ("Hal", "Ito", "Ops", "Ops")]


def _snapshot(store: LocalStore, run_id: str, known: set[str]) -> dict[str, Any]:
    """What the run wrote; the items it created (new random ids, new times) named by their
    CRM record."""
    db = store.connection
    new = {i: f"new {c}" for i, c in db.execute("SELECT id, crm_id FROM items")
           if i not in known}

    def rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return [tuple(new.get(v, v) for v in row) for row in db.execute(sql, params)]

    items = [(new.get(i, i), *rest, None if i in new else created, rev) for i, *rest, created, rev
             in db.execute("SELECT id, entity, crm_id, crm_sync, fields, search, created_at, "
                           "rev FROM items")]
    return {
        "items": sorted(items, key=str),
        "trash": rows("SELECT item_id, entity, crm_id, crm_sync, fields, created_at, "
                      "updated_at, rev, reason FROM trash ORDER BY entry_id"),
        "links": rows("SELECT * FROM sync_links ORDER BY entity, crm_id"),
        "report": rows("SELECT entity, item_id, crm_id, name, action, direction, status, "
                       "message, field, local_value, crm_value, winner FROM sync_report "
                       "WHERE run_id = ? ORDER BY seq", run_id),
        "pending": rows("SELECT * FROM sync_pending ORDER BY 1, 2, 3"),
        "rev": store.max_rev(),
    }


@pytest.mark.parametrize("spill_at", [None, 1, "every key hashed alike"])
def test_the_fast_paths_write_what_the_record_by_record_path_writes(
        devserver, make_rig, tmp_path, monkeypatch, spill_at):
    """Partners read a batch at a time (``matching.prefetch``) and local items indexed by
    their key fields only (``mapping.local_sources``) against the same sync with both
    turned off: the same items, revisions, trash entries, links and bases, report rows.
    So too with the indexes on disk, and when every key's hash collides (the index then
    answers every item for every key: the key of each item read tells them apart)."""
    if spill_at == "every key hashed alike":
        monkeypatch.setattr(scratch, "slot_hash", lambda slot: 12345)
    elif spill_at is not None:
        monkeypatch.setattr(scratch, "SPILL_AT", spill_at)
        monkeypatch.setattr(scratch, "KEY_SPILL_AT", spill_at)
    monkeypatch.setattr(pull_module, "PULL_BATCH", 3)   # several batches
    admin = make_rig(devserver, "admin.db").admin
    for first, last, crm_title, _ in PEOPLE:
        admin.create("contacts", {"firstName": first, "lastName": last,
                                  **({"jobTitle": crm_title} if crm_title else {})})
    origin = LocalStore(tmp_path / "origin.db")
    for first, last, _, local_title in PEOPLE:
        if local_title is not None:
            origin.add("contacts", {"first_name": f" {first}", "last_name": last,
                                    "job_title": local_title})
    # A leftover of another address book: it carries a crm_id but has no link.
    origin.add("contacts", {"first_name": "Old", "last_name": "Copy"},
               crm_id=admin.ids("contacts")[0])
    known = {item.id for item in origin.iter_items("contacts")}
    origin.close()
    for name in ("fast.db", "plain.db"):
        shutil.copy(tmp_path / "origin.db", tmp_path / name)

    fast = make_rig(devserver, "fast.db")
    reads: list[str] = []
    real_get = LocalStore.get

    def counted(store: LocalStore, item_id: str) -> Any:
        reads.append(item_id)
        return real_get(store, item_id)

    monkeypatch.setattr(LocalStore, "get", counted)
    fast_result = fast.sync(entities=C)
    monkeypatch.setattr(LocalStore, "get", real_get)
    assert fast_result.outcome == "ok", fast_result.as_dict()
    linked = {row[0] for row in fast.store.connection.execute(
        "SELECT item_id FROM sync_report WHERE action = 'linked'")}
    assert len(linked) == 8 and not linked & set(reads), "a partner was read on its own"

    plain = make_rig(devserver, "plain.db")
    monkeypatch.setattr(pull_module, "prefetch", lambda run, ent, batch: None)
    monkeypatch.setattr(mapping, "local_sources",
                        lambda entity, names: frozenset(r.local_field
                                                        for r in mapping.rows_for(entity)))
    plain_result = plain.sync(entities=C)
    assert plain_result.outcome == "ok", plain_result.as_dict()

    assert fast_result.counts == plain_result.counts
    fast_rows = _snapshot(fast.store, fast_result.run_id, known)
    plain_rows = _snapshot(plain.store, plain_result.run_id, known)
    assert fast_rows == plain_rows
    # What the scenario holds: pairs linked, two with the CRM's titles (the local ones in
    # the trash), the leftover in the trash, two CRM records without a partner created.
    assert fast_result.count("contacts", "local", "updated") == 2
    assert fast_result.count("contacts", "local", "deleted") == 1
    assert fast_result.count("contacts", "local", "created") == 2
    assert {row[-1] for row in fast_rows["trash"]} == {"sync_overwrite", "sync_delete"}
