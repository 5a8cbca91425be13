"""The pull's bulk path (new CRM records of a batch inserted with one store call, pages read
ahead), against the reference server: one refused record never stops the others, a failed
bulk write falls back to one-by-one creates, a record read twice is created once."""

from __future__ import annotations

import json
import sqlite3

from tests.sync.helpers import assert_quiet
from tray_client.errors import StoreError
from tray_client.sync import pull as pull_module
from tray_client.sync import report_rows

C = ["contacts"]


def corrupt_contact(rig, crm_id: str, **attributes) -> None:
    """Store values the server's validation would refuse, behind its back."""
    db = sqlite3.connect(rig.server.db_path)
    row = db.execute("SELECT attributes FROM contacts WHERE id=?", (int(crm_id),)).fetchone()
    attrs = {**json.loads(row[0]), **attributes}
    db.execute("UPDATE contacts SET attributes=? WHERE id=?", (json.dumps(attrs), int(crm_id)))
    db.commit()
    db.close()


def test_many_new_records_are_created_linked_and_reported_once_each(rig, monkeypatch):
    monkeypatch.setattr(pull_module, "PULL_BATCH", 100)   # several batches
    rig.admin.bulk_contacts(350)
    result = rig.sync(entities=C)
    assert result.outcome == "ok"
    assert result.count("contacts", "local", "created") == 350
    items = rig.local("contacts")
    assert sorted(i.crm_id for i in items) == sorted(rig.admin.ids("contacts"))
    links = rig.store.connection.execute(
        "SELECT count(*), count(DISTINCT item_id), count(DISTINCT crm_id) FROM sync_links"
        " WHERE entity='contacts'").fetchone()
    assert links == (350, 350, 350)
    created = [r for r in report_rows(rig.store, result.run_id) if r["action"] == "created"]
    assert sorted(r["crm_id"] for r in created) == sorted(rig.admin.ids("contacts"))
    assert all(r["item_id"] and r["name"] for r in created)
    assert_quiet(rig, C)


def test_a_record_the_store_refuses_is_reported_and_the_batch_goes_on(rig):
    fine = [rig.admin.create("contacts", {"lastName": f"Fine {n}"}) for n in range(3)]
    bad = rig.admin.create("contacts", {"lastName": "Spaced"})
    # The CRM holds an e-mail address with a space in it: the mapping passes it on, the
    # local store refuses it.
    corrupt_contact(rig, bad, emails=[{"email": "not an@address.org"}])
    result = rig.sync(entities=C)
    assert result.outcome == "partial"
    (error,) = result.errors
    assert error.crm_id == bad and "contains a space" in error.message
    assert sorted(i.crm_id for i in rig.local("contacts")) == sorted(fine)
    assert result.count("contacts", "local", "created") == 3
    # Retried at every run; once the CRM record is fixed it comes through.
    assert rig.sync(entities=C).outcome == "partial"
    corrupt_contact(rig, bad, emails=[{"email": "fixed@address.org"}])
    rig.admin.update("contacts", bad, {"jobTitle": "Fixed"})
    result = rig.sync(entities=C)
    assert result.outcome == "ok", result.errors
    item = next(i for i in rig.local("contacts") if i.crm_id == bad)
    assert item.fields["emails"] == ["fixed@address.org"]
    assert_quiet(rig, C)


def test_a_failed_bulk_write_falls_back_to_one_by_one_creates(rig, monkeypatch, caplog):
    ids = [rig.admin.create("contacts", {"lastName": f"One {n}"}) for n in range(4)]

    def broken(*args, **kwargs):
        raise StoreError("The disk hiccuped.")

    monkeypatch.setattr(rig.store, "add_many", broken)
    result = rig.sync(entities=C)
    assert result.outcome == "ok"
    assert result.count("contacts", "local", "created") == 4
    assert sorted(i.crm_id for i in rig.local("contacts")) == sorted(ids)
    assert "one by one" in caplog.text
    assert_quiet(rig, C)


def test_a_record_read_twice_in_one_batch_is_created_once(rig):
    ids = [rig.admin.create("contacts", {"lastName": f"Twice {n}"}) for n in range(3)]

    class Stutters:
        """Every record comes twice, the second time with a newer job title (as when the
        walk re-reads a boundary second after the record changed)."""

        def __init__(self, crm):
            self._crm = crm

        def __getattr__(self, name):
            return getattr(self._crm, name)

        def iter_changed(self, *args, **kwargs):
            for res in self._crm.iter_changed(*args, **kwargs):
                yield res
                newer = self._crm.get("contacts", res.id, include=("addresses",))
                newer.attributes["jobTitle"] = "Read last"
                yield newer

    from tray_client.sync import SyncEngine

    result = SyncEngine(rig.store, Stutters(rig.crm), rig.settings).run(entities=C)
    assert result.outcome == "ok"
    assert result.count("contacts", "local", "created") == 3
    items = rig.local("contacts")
    assert sorted(i.crm_id for i in items) == sorted(ids)
    assert {i.fields.get("job_title") for i in items} == {"Read last"}


def test_the_run_pauses_the_cyclic_collector_and_restores_it(rig, monkeypatch):
    import gc

    monkeypatch.setattr(pull_module, "PULL_BATCH", 50)
    monkeypatch.setattr(pull_module, "COLLECT_EVERY", 100)
    rig.admin.bulk_contacts(400)
    passes: list[int] = []

    def watch(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(watch)
    try:
        assert gc.isenabled()
        result = rig.sync(entities=C)
    finally:
        gc.callbacks.remove(watch)
    assert result.outcome == "ok" and result.count("contacts", "local", "created") == 400
    assert gc.isenabled()
    # No full pass during the run; the young generations every COLLECT_EVERY records (after
    # every second batch of 50: 100, 200, 300, and once after the last batch), not after
    # every batch (8 of them).
    assert 2 not in passes and passes.count(1) == 4

    gc.disable()   # a caller that manages the collector itself keeps it as it was
    try:
        rig.admin.create("contacts", {"lastName": "Later"})
        assert rig.sync(entities=C).outcome == "ok"
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_report_reads_use_the_shared_connection_under_the_store_lock(rig):
    """Report windows read from worker threads while a sync may hold the connection: every
    statement they run must hold the store's lock (an unlocked read crashed a closing app)."""
    import threading

    from tray_client.history.schema import ensure_indexes
    from tray_client.sync import load_reports

    rig.admin.create("contacts", {"lastName": "Reported"})
    run_id = rig.sync(entities=C).run_id
    unlocked: list[str] = []
    errors: list[BaseException] = []

    def trace(sql: str) -> None:
        if not rig.store.lock._is_owned():
            unlocked.append(sql)

    def read() -> None:
        try:
            ensure_indexes(rig.store.connection, rig.store)
            assert load_reports(rig.store, 1)[0].run_id == run_id
            assert [r["action"] for r in report_rows(rig.store, run_id)] == ["created"]
        except BaseException as exc:  # re-raised on the test's thread
            errors.append(exc)

    rig.store.connection.set_trace_callback(trace)
    try:
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(10)
    finally:
        rig.store.connection.set_trace_callback(None)
    assert not errors, errors
    assert unlocked == [], unlocked


def test_a_pull_spaces_the_log_checkpoints_and_restores_the_setting(rig, monkeypatch):
    rig.admin.bulk_contacts(30)
    seen: list[tuple[int, int]] = []
    connections = []
    create = pull_module.create_new_records

    def settings(conn) -> tuple[int, int]:
        return (conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
                conn.execute("PRAGMA cache_size").fetchone()[0])

    def watching(run, ent):
        connections.append(run.store.connection)
        seen.append(settings(run.store.connection))
        create(run, ent)

    monkeypatch.setattr(pull_module, "create_new_records", watching)
    result = rig.sync(entities=C)
    assert result.outcome == "ok" and result.count("contacts", "local", "created") == 30
    assert seen == [(pull_module.PULL_CHECKPOINT_PAGES, -pull_module.PULL_CACHE_KIB)]
    # The connection's own settings (SQLite's defaults) again after the pull.
    assert settings(connections[0]) == (1000, -2000)


def _written(rig) -> dict:
    """What a first sync of the contacts wrote, by CRM id, without the ids and times each
    run makes anew: the items, their links (the rev each link records is the item's own),
    the report rows and the cursor."""
    conn = rig.store.connection
    items = {row[0]: row[1:] for row in conn.execute(
        "SELECT crm_id, fields, search, crm_sync, created_at = updated_at FROM items"
        " WHERE entity = 'contacts'")}
    links = {row[0]: row[1:] for row in conn.execute(
        "SELECT l.crm_id, l.base, l.crm_updated_at, l.synced_rev = i.rev, i.crm_id"
        " FROM sync_links l JOIN items i ON i.id = l.item_id WHERE l.entity = 'contacts'")}
    report = sorted(conn.execute(
        "SELECT r.crm_id, r.name, r.action, r.direction, r.status, r.message,"
        " i.crm_id IS r.crm_id FROM sync_report r LEFT JOIN items i ON i.id = r.item_id"))
    cursor = conn.execute("SELECT crm_updated_at, crm_id, first_sync_done FROM sync_cursors"
                          " WHERE entity = 'contacts'").fetchone()
    return {"items": items, "links": links, "report": report, "cursor": cursor}


def test_the_one_pass_create_path_writes_what_the_general_path_writes(
        tmp_path, make_rig, monkeypatch):
    """Demo contacts (addresses, several e-mails and phones, birthdays) and odd ones (a line
    break the store rewrites, an address the store keeps in its own order, an e-mail the
    store refuses): a first sync through the one-pass create path writes the very items,
    links, report rows and cursor that the general path (to_local, then the store's
    field-by-field normalisation) writes."""
    from tests.conftest import TEST_API_KEY, TEST_USER
    from tray_client.devserver.testing import RunningServer
    from tray_client.store import fields as store_fields
    from tray_client.store import local as local_module
    from tray_client.sync import mapping

    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       demo=240) as server:
        fast = make_rig(server, "fast.db")
        fast.admin.create("contacts", {"firstName": "Carla", "lastName": "Return",
                                       "description": "two\r\nlines\rand a third"})
        fast.admin.create("contacts", {"lastName": "Placed", "addresses": [
            {"street": " 1 Main St ", "city": "Austin", "postalCode": "73301",
             "types": ["billing"], "country": "US", "region": "US-TX"}]})
        bad = fast.admin.create("contacts", {"lastName": "Spaced"})
        corrupt_contact(fast, bad, emails=[{"email": "not an@address.org"}])
        monkeypatch.setattr(pull_module, "PULL_BATCH", 100)   # several batches
        result = fast.sync(entities=C)
        assert result.outcome == "partial" and [e.crm_id for e in result.errors] == [bad]

        general = make_rig(server, "general.db")

        def general_normalize(entity, fields):
            normalizers = {**store_fields._NORMALIZERS, "address": store_fields._address_checked,
                           "emails": store_fields._emails_checked}
            return store_fields._normalize_general(entity, fields, normalizers)

        monkeypatch.setattr(mapping, "new_local_fields", lambda *args: None)
        monkeypatch.setattr(local_module, "normalize_fields", general_normalize)
        result = general.sync(entities=C)
        assert result.outcome == "partial" and [e.crm_id for e in result.errors] == [bad]
        monkeypatch.undo()

        written = _written(fast)
        assert len(written["items"]) == 242
        assert written == _written(general)
        carla = next(i for i in fast.local("contacts") if i.fields.get("first_name") == "Carla")
        assert carla.fields["notes"] == "two\nlines\nand a third"
