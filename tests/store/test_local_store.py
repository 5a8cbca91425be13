"""LocalStore: the conformance suite plus what only the SQLite store has (file, schema,
processes, crashes)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tray_client.errors import StoreError
from tray_client.store import SCHEMA_VERSION, LocalStore
from tray_client.store.local import StoredItem
from tray_client.store.schema import MIGRATIONS, migrate

from .conformance import TASK, StoreConformance


class TestLocalStore(StoreConformance):
    """The conformance suite against the SQLite store (``store`` fixture in conftest)."""


class TestReopenedLocalStore(StoreConformance):
    """The same suite on a store file that was created, filled, emptied and reopened, so
    nothing depends on a fresh file (revision kept in meta, migrations a no-op)."""

    @pytest.fixture
    def store(self, db_path: Path, clock):  # type: ignore[no-untyped-def]
        with LocalStore(db_path, clock=clock):
            pass
        with LocalStore(db_path, clock=clock) as opened:
            yield opened


def test_wal_mode_busy_timeout_and_owner_only_file(store: LocalStore, db_path: Path) -> None:
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.connection.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError) as info:
        LocalStore(path)
    assert str(path) in info.value.message
    assert path.read_bytes().startswith(b"this is not sqlite")


def _make_old_database(path: Path, version: int) -> None:
    """A database as an older client left it: migrations up to ``version`` only."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, target=version)
    conn.execute(
        "INSERT INTO items (id, entity, crm_id, crm_sync, fields, created_at, updated_at, rev)"
        " VALUES ('old-1', 'tasks', '31', 1, '{\"subject\":\"Old task\"}', "
        "'2025-01-01T00:00:00.000000+00:00', '2025-01-01T00:00:00.000000+00:00', 5)")
    conn.execute("UPDATE meta SET value = 5 WHERE key = 'rev'")
    conn.close()


def test_opening_an_older_schema_migrates_and_keeps_data(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    _make_old_database(db_path, 1)
    with LocalStore(db_path) as store:
        item = store.get("old-1")
        assert item is not None and item.fields == {"subject": "Old task"}
        assert item.crm_id == "31" and store.max_rev() == 5
        store.delete("old-1")  # the trash table came with migration 2
        assert [e.item.id for e in store.trash_list()] == ["old-1"]
        version = store.connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        assert version == SCHEMA_VERSION == len(MIGRATIONS)


def test_a_newer_schema_is_refused_untouched(db_path: Path) -> None:
    with LocalStore(db_path) as store:
        store.add("tasks", TASK)
        store.connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                                 (SCHEMA_VERSION + 1,))
    before = db_path.read_bytes()
    with pytest.raises(StoreError) as info:
        LocalStore(db_path)
    assert "newer version" in info.value.message and "Upgrade" in info.value.message
    assert info.value.title == "Local database too new"
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 1
    conn.close()
    assert len(db_path.read_bytes()) == len(before)


def test_trash_is_purged_on_open(db_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    with LocalStore(db_path, clock=clock) as store:
        store.delete(store.add("tasks", TASK).id)
    clock.advance(days=29)
    with LocalStore(db_path, clock=clock) as store:
        assert len(store.trash_list()) == 1
    clock.advance(days=2)
    with LocalStore(db_path, clock=clock) as store:
        assert store.trash_list() == []


def test_threads_share_one_store(store: LocalStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(100):
                with store.transaction():
                    item = store.add("tasks", {"subject": f"{n}-{i}"})
                    store.update(item.id, {"notes": "x"})
                list(store.iter_items("tasks"))
        except BaseException as exc:  # asserted below, from the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count("tasks") == 400
    assert store.max_rev() == 800


_WRITER = textwrap.dedent("""
    import sys
    from tray_client.store import LocalStore
    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = LocalStore(path)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for i in range(count):
        with store.transaction():
            item = store.add("contacts", {"first_name": name, "last_name": str(i)})
            store.update(item.id, {"job_title": "writer"})
        if i % 10 == 0:
            sum(1 for _ in store.iter_items("contacts"))
    store.close()
    print("done", flush=True)
""")


def test_two_processes_write_concurrently(db_path: Path) -> None:
    LocalStore(db_path).close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db_path), name, "150"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
             for name in ("alpha", "beta")]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "locked" not in err
    with LocalStore(db_path) as store:
        items = list(store.iter_items("contacts"))
        assert len(items) == 300
        assert sorted(i.fields["first_name"] for i in items).count("alpha") == 150
        revs = [i.rev for i in items]
        assert len(set(revs)) == 300 and store.max_rev() == 600


_CRASHER = textwrap.dedent("""
    import sys
    from tray_client.store import LocalStore
    store = LocalStore(sys.argv[1])
    store.connection.execute("CREATE TABLE IF NOT EXISTS side (n INTEGER)")
    print("ready", flush=True)
    n = 0
    while True:
        with store.transaction() as conn:
            for _ in range(10):
                item = store.add("tasks", {"subject": f"task {n}"})
                store.update(item.id, {"notes": "edited"})
                conn.execute("INSERT INTO side VALUES (?)", (n,))
                n += 1
        print(n, flush=True)  # committed so far
""")


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.1])
def test_killed_writer_leaves_a_consistent_database(db_path: Path, delay: float) -> None:
    db_path.parent.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", _CRASHER, str(db_path)],
                            stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    committed = 0
    while committed < 30:  # a few transactions are in, whatever the machine's load
        committed = int(proc.stdout.readline())
    time.sleep(delay)  # then kill it at some instant of its write loop
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with LocalStore(db_path) as store:
        conn = store.connection
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = store.count("tasks")
        side = conn.execute("SELECT COUNT(*) FROM side").fetchone()[0]
        assert count >= committed and count % 10 == 0 and side == count
        assert all(i.fields.get("notes") == "edited" for i in store.iter_items("tasks"))
        assert store.max_rev() == 2 * count
        store.add("tasks", TASK)  # and it is writable again


def test_bulk_add_is_all_or_nothing(store: LocalStore) -> None:
    rows = [{"subject": "ok"}] * 1500 + [{"subject": "bad", "priority": "???"}]
    with pytest.raises(StoreError, match="item 1501"):
        store.bulk_add("tasks", rows)
    assert store.count("tasks") == 0 and store.max_rev() == 0


def test_add_many_inserts_the_good_entries_and_returns_each_ones_outcome(
        store: LocalStore) -> None:
    held = store.add("contacts", {"last_name": "Holder"}, crm_id="7")
    before = store.max_rev()
    results = store.add_many("contacts", [
        ({"last_name": "One"}, "1"),
        ({"last_name": "Bad", "gender": "robot"}, "2"),   # a bad value
        ({"last_name": "Taken"}, "7"),                    # crm_id held by another item
        ({"last_name": "Two"}, "3"),
        ({"last_name": "Again"}, "3"),                    # crm_id given twice
        ({"last_name": "Unlinked"}, None),
    ])
    one, bad, taken, two, again, unlinked = results
    assert isinstance(bad, StoreError) and "gender" in bad.message
    assert isinstance(taken, StoreError) and held.id in taken.message
    assert isinstance(again, StoreError) and "another entry" in again.message
    for item, crm_id in ((one, "1"), (two, "3"), (unlinked, None)):
        assert not isinstance(item, StoreError)
        assert store.get(item.id) == item and item.crm_id == crm_id
    # One revision per inserted item, in entry order; nothing else was written.
    assert [one.rev, two.rev, unlinked.rev] == [before + 1, before + 2, before + 3]
    assert store.max_rev() == before + 3 and store.count("contacts") == 4


@pytest.mark.parametrize("start", [
    datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999_998, tzinfo=UTC),   # the microseconds carry over
    datetime(2026, 11, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))),   # not UTC
])
@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_bulk_times_are_the_times_of_as_many_writes_with_the_clock_still(
        tmp_path: Path, start: datetime, count: int) -> None:
    """A bulk insert reads the clock once (``_times``): what ``count`` single writes would
    store if the clock did not move between them, each a microsecond after the last."""
    with LocalStore(tmp_path / "a.db", clock=lambda: start) as bulk, \
            LocalStore(tmp_path / "b.db", clock=lambda: start) as single:
        for _ in range(2):   # the second round starts after the first's last time
            assert bulk._times(count) == [single._now() for _ in range(count)]


def test_add_many_stamps_items_in_insertion_order(store: LocalStore) -> None:
    items = store.add_many("tasks", [({"subject": str(n)}, str(n)) for n in range(5)])
    stamps = [item.created_at for item in items]   # type: ignore[union-attr]
    assert stamps == sorted(set(stamps))
    assert all(item.updated_at == item.created_at for item in items)   # type: ignore[union-attr]
    assert [store.get(i.id) for i in items] == items   # type: ignore[union-attr]
    later = store.add("tasks", {"subject": "later"})
    assert later.created_at > stamps[-1]


def test_add_many_of_nothing_writes_nothing(store: LocalStore) -> None:
    assert store.add_many("tasks", []) == []
    assert store.max_rev() == 0


def test_add_many_inside_a_transaction_rolls_back_with_it(store: LocalStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_many("tasks", [({"subject": "a"}, "1"), ({"subject": "b"}, "2")])
        raise RuntimeError("the caller's batch failed")
    assert store.count("tasks") == 0 and store.find_by_crm_id("tasks", "1") is None


def test_link_sets_crm_id_flag_and_fields_in_one_revision(store: LocalStore) -> None:
    item = store.add("contacts", {"last_name": "Lee", "job_title": "Old"}, crm_sync=False)
    other = store.add("contacts", {"last_name": "Other"}, crm_id="9")
    linked = store.link(item.id, "5", fields={"last_name": "Lee", "job_title": "New"})
    assert (linked.crm_id, linked.crm_sync, linked.fields["job_title"]) == ("5", True, "New")
    assert linked.rev == item.rev + 2 and store.get(item.id) == linked   # one write only
    assert store.link(item.id, "5") == linked                          # no change, no write
    with pytest.raises(StoreError, match=other.id):
        store.link(item.id, "9")
    with pytest.raises(StoreError, match="gender"):
        store.link(item.id, "5", fields={"gender": "robot"})
    assert store.get(item.id) == linked


class _Undo(Exception):
    """Raised to roll a transaction back once its writes were looked at."""


def _item_rows(store: LocalStore) -> list[tuple[Any, ...]]:
    return store.connection.execute(
        "SELECT id, entity, crm_id, crm_sync, fields, search, created_at, rev FROM items "
        "ORDER BY id").fetchall()


@pytest.mark.parametrize("order", ["as added", "reversed"])
def test_link_many_writes_what_link_writes_one_by_one(store: LocalStore, order: str) -> None:
    """Issue 17: ``link_many`` leaves a linked item's fields as stored when none are given
    (no new JSON, no new search text) and still writes what ``link`` writes, row for row,
    each item's revision in the order given (its statements run in the items' id order)."""
    kept = store.add("contacts", {"first_name": "Zoë", "last_name": "Ång",
                                  "emails": ["z@example.org"],
                                  "home_address": {"city": "Köln", "country": "DE"}},
                     crm_sync=False)
    changed = store.add("contacts", {"last_name": "Lee", "job_title": "Old"})
    plain = store.add("tasks", {"subject": "Call back"})
    also = store.add("contacts", {"last_name": "Also kept"})
    entries = [(kept, "7", None), (changed, "8", {"last_name": "Lee", "job_title": "New"}),
               (plain, "9", None), (also, "10", None)]
    if order == "reversed":
        entries.reverse()

    with pytest.raises(_Undo), store.transaction():
        one_by_one = [store.link(i.id, c, fields=f) for i, c, f in entries]
        written = _item_rows(store)
        raise _Undo
    together = store.link_many(entries)
    assert _item_rows(store) == written
    assert [(i.id, i.crm_id, i.crm_sync, i.fields, i.rev) for i in together] == [
        (i.id, i.crm_id, i.crm_sync, i.fields, i.rev) for i in one_by_one]
    assert together == [store.get(i.id) for i, _, _ in entries]


def test_items_read_with_their_text_are_decoded_when_their_fields_are_read(
        store: LocalStore) -> None:
    """Issue 17: ``get_many_by_rowid(lazy=True)`` gives each item with its fields' stored
    text, decoded on first read into what the plain read gives; ``link_many`` links such an
    item without decoding it, writing what it writes for a plain one."""
    added = [store.add("contacts", {"first_name": "Zoë", "last_name": "Ång",
                                    "emails": ["z@example.org"],
                                    "home_address": {"city": "Köln", "country": "DE"}}),
             store.add("contacts", {"last_name": "Lee", "job_title": "Old"}),
             store.add("tasks", {"subject": "Call back"})]
    rowids = dict(store.connection.execute("SELECT id, rowid FROM items"))
    wanted = [rowids[item.id] for item in added]
    plain = store.get_many_by_rowid(wanted)
    lazy = store.get_many_by_rowid(wanted, lazy=True)
    assert list(lazy) == list(plain) == wanted
    for rowid, item in lazy.items():
        assert isinstance(item, StoredItem) and item._decoded is None
        assert item.text == store.connection.execute(
            "SELECT fields FROM items WHERE rowid = ?", (rowid,)).fetchone()[0]
        same = plain[rowid]
        assert (item.id, item.entity, item.crm_id, item.crm_sync, item.created_at,
                item.updated_at, item.rev) == (same.id, same.entity, same.crm_id,
                                               same.crm_sync, same.created_at,
                                               same.updated_at, same.rev)
        assert item._decoded is None
        assert item.fields == same.fields and item._decoded is not None
        assert item.display_name == same.display_name
        assert item == same and same == item   # compared by value, either way round
    assert lazy[wanted[0]] != plain[wanted[1]] and plain[wanted[1]] != lazy[wanted[0]]

    lazy = store.get_many_by_rowid(wanted, lazy=True)
    entries = [(plain[wanted[0]], "7", None), (plain[wanted[1]], "8", {"last_name": "Lee"}),
               (plain[wanted[2]], "9", None)]
    with pytest.raises(_Undo), store.transaction():
        expected = store.link_many(entries)
        written = _item_rows(store)
        raise _Undo
    together = store.link_many([(lazy[rowids[item.id]], c, f)
                                for item, c, f in entries])
    assert _item_rows(store) == written
    assert isinstance(together[0], StoredItem) and together[0]._decoded is None
    assert [(i.id, i.crm_id, i.crm_sync, i.fields, i.rev) for i in together] == [
        (i.id, i.crm_id, i.crm_sync, i.fields, i.rev) for i in expected]


def test_first_fields_are_those_of_the_first_items_made(store: LocalStore) -> None:
    for n in range(5):
        store.add("contacts", {"last_name": f"Person {n}"})
    store.add("tasks", {"subject": "Not a contact"})
    assert store.first_fields("contacts", 3) == [{"last_name": f"Person {n}"}
                                                 for n in range(3)]
    assert store.first_fields("events", 3) == []


def test_links_left_for_later_are_written_as_link_many_writes_them(store: LocalStore) -> None:
    """``link_many(later=True)`` writes the entries with new fields and only reserves the
    others' revisions; ``write_links`` then writes those rows as ``link_many`` would have:
    crm_id, flag, the reserved revision (the search text and fields untouched)."""
    kept = store.add("contacts", {"first_name": "Zoë", "last_name": "Ång"}, crm_sync=False)
    changed = store.add("contacts", {"last_name": "Lee", "job_title": "Old"})
    also = store.add("tasks", {"subject": "Call back"})
    entries = [(also, "9", None), (changed, "8", {"last_name": "Lee", "job_title": "New"}),
               (kept, "7", None)]

    with pytest.raises(_Undo), store.transaction():
        now = store.link_many(entries)
        written = _item_rows(store)
        raise _Undo
    later = store.link_many(entries, later=True)
    assert [(i.id, i.crm_id, i.rev) for i in later] == [(i.id, i.crm_id, i.rev) for i in now]
    # Only the entry with new fields is written; the others wait, as they were.
    assert store.get(changed.id) == later[1]
    assert store.get(kept.id) == kept and store.get(also.id) == also
    assert store.max_rev() == max(i.rev for i in now)
    left = sorted((i.id, i.crm_id, i.rev) for i in later if i.id != changed.id)
    assert store.write_links(left) == 2
    assert _item_rows(store) == written
    # Written again (a run killed while writing them repeats them): the same.
    assert store.write_links(left) == 2
    assert _item_rows(store) == written


def test_writing_a_link_late_keeps_a_newer_edit_and_skips_what_it_cannot_write(
        store: LocalStore) -> None:
    """An item edited after its revision was reserved keeps its own newer revision (so the
    edit still counts as a change to send); an item deleted since is passed over; a crm_id
    another item took since stays with that item, and the other rows are still written."""
    edited = store.add("contacts", {"last_name": "Edited"}, crm_sync=False)
    gone = store.add("contacts", {"last_name": "Gone"})
    taken = store.add("contacts", {"last_name": "Taken"})
    plain = store.add("contacts", {"last_name": "Plain"})
    later = store.link_many([(i, str(n), None) for n, i in enumerate(
        (edited, gone, taken, plain), 1)], later=True)
    revs = {i.id: i.rev for i in later}
    newer = store.update(edited.id, {"job_title": "Boss"})
    assert newer.rev > revs[edited.id]
    store.delete(gone.id)
    holder = store.add("contacts", {"last_name": "Holder"}, crm_id="3")
    assert store.write_links(sorted((i.id, i.crm_id, i.rev) for i in later)) == 2
    after = store.get(edited.id)
    assert (after.crm_id, after.crm_sync, after.rev) == ("1", True, newer.rev)
    assert after.fields["job_title"] == "Boss"
    assert store.get(gone.id) is None
    assert store.get(taken.id).crm_id is None and store.get(holder.id).crm_id == "3"
    assert (store.get(plain.id).crm_id, store.get(plain.id).rev) == ("4", revs[plain.id])


def test_changed_since_passes_over_the_skipped_items(store: LocalStore) -> None:
    mark = store.max_rev()
    kept = store.add("tasks", {"subject": "kept"})
    skipped = store.add("tasks", {"subject": "skipped"})
    later = store.add("tasks", {"subject": "later"})
    seen = [i.id for i in store.changed_since("tasks", mark, skip={skipped.id})]
    assert seen == [kept.id, later.id]


@pytest.mark.parametrize("spill_at", [100_000, 10])
def test_changed_since_with_a_skip_reads_the_same_items_as_without(store: LocalStore,
                                                                    spill_at: int) -> None:
    """The skip's fast path (a page's ids and revisions first, then the rows of those kept,
    the skip asked once a page) yields exactly the items, in the same order and with the
    same contents, that filtering the plain stream yields: over several pages, with a skip
    in memory, on disk, as a plain set, and an id added to the skip while iterating."""
    from tray_client.sync.scratch import IdSet

    mark = store.max_rev()
    ids = store.bulk_add("tasks", ({"subject": f"t{n}"} for n in range(1300)))
    store.add("contacts", {"first_name": "Other", "last_name": "Entity"})
    for n in range(0, 1300, 7):
        store.update(ids[n], {"notes": "later"})   # revisions out of creation order
    everything = list(store.changed_since("tasks", mark))
    assert len(everything) == 1300
    skipped = {i for n, i in enumerate(ids) if n % 3 and n % 11}
    as_set = IdSet(spill_at=spill_at)
    as_set.update(sorted(skipped))
    assert as_set.on_disk is (spill_at == 10)
    expected = [i for i in everything if i.id not in skipped]
    for skip in (as_set, skipped, frozenset(skipped)):
        assert list(store.changed_since("tasks", mark, skip=skip)) == expected
    # An id added to the skip while iterating is passed over, as by the plain stream.
    late = expected[-1].id
    seen = []
    for item in store.changed_since("tasks", mark, skip=as_set):
        seen.append(item.id)
        as_set.add(late)
    assert seen == [i.id for i in expected[:-1]]
    assert list(store.changed_since("tasks", mark, skip=set(ids))) == []
    as_set.close()


def test_item_ids_sort_in_creation_order(store: LocalStore) -> None:
    # Time-ordered ids (UUIDv7) keep new rows at the end of the id index: bulk inserts
    # stay cheap at 100,000 items (benchmarks/README.md).
    ids = [store.add("tasks", {"subject": f"t{n}"}).id for n in range(20)]
    ids += store.bulk_add("tasks", ({"subject": f"b{n}"} for n in range(20)))
    ids += [r.id for r in store.add_many("tasks", [({"subject": "m"}, None)] * 20)]
    assert ids == sorted(ids) and len(set(ids)) == 60


def test_fields_are_stored_as_readable_json(store: LocalStore, db_path: Path) -> None:
    store.add("contacts", {"first_name": "Zoë"})
    raw = store.connection.execute("SELECT fields FROM items").fetchone()[0]
    assert json.loads(raw) == {"first_name": "Zoë"} and "Zoë" in raw


def test_use_after_close_is_a_clear_store_error(db_path: Path) -> None:
    store = LocalStore(db_path)
    store.close()
    with pytest.raises(StoreError) as info:
        store.get("x")
    assert info.value.title == "Local database closed or misused"


def test_crm_ids_lists_the_items_carrying_one_in_creation_order(store: LocalStore) -> None:
    first = store.add("contacts", {"first_name": "A"}, crm_id="7")
    store.add("contacts", {"first_name": "B"})
    third = store.add("contacts", {"first_name": "C"})
    store.set_crm_id(third.id, "3")
    store.add("tasks", {"subject": "T"}, crm_id="7")
    assert list(store.crm_ids("contacts").items()) == [(first.id, "7"), (third.id, "3")]


def test_trash_entries_after_lists_newer_entries_of_one_entity(store: LocalStore) -> None:
    a = store.add("contacts", {"first_name": "A"})
    b = store.add("contacts", {"first_name": "B"})
    t = store.add("tasks", {"subject": "T"})
    store.delete(a.id)
    store.delete(t.id)
    store.snapshot_to_trash(store.get(b.id))
    entries = store.trash_entries_after("contacts", 0)
    assert [(item_id, reason) for _, item_id, reason in entries] == [
        (a.id, "user"), (b.id, "sync_overwrite")]
    assert store.trash_entries_after("contacts", entries[0][0]) == entries[1:]


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(), _JSON_VALUES, max_size=6))
def test_the_stored_json_is_what_the_standard_library_writes(value: dict[str, Any]) -> None:
    from tray_client.store.local import _dumps

    expected = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(value)
    assert _dumps(value) == expected


@example('\ud800 lone')
@example(10 ** 30)
@example({"x": [1e308 * 10, -0.0, 1.5]})
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12))
def test_stored_json_is_read_back_as_the_standard_library_reads_it(value: Any) -> None:
    """Issue 17: items are read with msgspec; the same values, of the same types, as
    ``json.loads`` (floats, NaN, huge numbers and lone surrogates included)."""
    from tray_client.store.local import _loads

    text = json.dumps(value, ensure_ascii=False)
    for variant in (text, json.dumps(value)):   # \\u escapes too (lone surrogates)
        expected = json.loads(variant)
        read = _loads(variant)
        assert repr(read) == repr(expected)
        assert json.dumps(read) == json.dumps(expected)


def test_iter_some_fields_reads_what_iter_items_holds_of_those_fields(store: LocalStore) -> None:
    """Issue 17: the sync's key index reads a few fields of every item; the same values as
    the whole items hold, in the same order, any field missing left out."""
    store.add("contacts", {"first_name": "Zoë", "last_name": "Ång", "gender": "female",
                           "emails": ["z@example.org"]}, crm_id="4")
    store.add("contacts", {"last_name": "Lee", "home_address": {"city": "Köln"}})
    store.add("tasks", {"subject": "Call"})
    store.connection.execute(   # as an older writer may have left it: spaces, \\u escapes
        "UPDATE items SET fields = ? WHERE crm_id = '4'",
        ('{"first_name": "Zo\\u00eb", "last_name": "\\u00c5ng", "gender": "female"}',))
    for names in (["last_name", "first_name", "birthday", "gender"], ["home_address"],
                  ["not a name", "last_name"]):
        expected = [(i.id, i.crm_id, {n: i.fields[n] for n in names if n in i.fields})
                    for i in store.iter_items("contacts")]
        read = list(store.iter_some_fields("contacts", names))
        assert [row[1:] for row in read] == expected
        # Each rowid reads its item back whole.
        by_rowid = store.get_many_by_rowid([row[0] for row in read] + [10**9])
        assert [by_rowid[row[0]] for row in read] == list(store.iter_items("contacts"))
        assert len(by_rowid) == len(read)
