"""Issue 17: a pull commits the links of the pairs it matched by key batch by batch, and,
unless a batch's items come in the store's order, writes their items (crm_id, flag,
revision) once at its end, in the store's order (``apply.write_links``). Against the
reference server: the items come out as linking them in their batch wrote them; an edit
made meanwhile is kept and sent; a run stopped or killed before or during that pass leaves
nothing half done for the next run."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.sync.helpers import assert_quiet
from tests.sync.test_crash import run_worker
from tests.sync.test_full_store import PEOPLE, _snapshot
from tray_client.errors import StoreError
from tray_client.store import LocalStore
from tray_client.sync import SyncEngine, apply
from tray_client.sync import pull as pull_module
from tray_client.sync.state import SyncState

C = ["contacts"]
N = 12


def _full_store(rig: Any) -> None:
    """``N`` CRM contacts and the same people locally, unlinked, added in the other order
    (a user's own address book is not in the CRM's order)."""
    for k in range(N):
        rig.admin.create("contacts", {"firstName": "P", "lastName": f"Person {k:02d}"})
    for k in reversed(range(N)):
        rig.store.add("contacts", {"first_name": "P", "last_name": f"Person {k:02d}"})


def _pairs(store: LocalStore) -> list[tuple[Any, ...]]:
    """(link's crm_id, item's crm_id, link's revision, item's revision, item's flag)."""
    return store.connection.execute(
        "SELECT l.crm_id, i.crm_id, l.synced_rev, i.rev, i.crm_sync FROM sync_links l "
        "JOIN items i ON i.id = l.item_id WHERE l.entity = 'contacts'").fetchall()


def _unwritten(store: LocalStore) -> int:
    return int(store.connection.execute("SELECT count(*) FROM sync_unwritten").fetchone()[0])


def _assert_written(rig: Any, count: int = N) -> None:
    """Every link's item carries the link's crm_id and revision and the flag; no link is
    left to write; no item twice."""
    pairs = _pairs(rig.store)
    assert len(pairs) == count
    assert all(lc == ic and sr == rev and flag == 1 for lc, ic, sr, rev, flag in pairs), pairs
    assert _unwritten(rig.store) == 0
    assert rig.store.count("contacts") == N
    linked = [i.crm_id for i in rig.local("contacts") if i.crm_id]
    assert len(linked) == count and set(linked) <= set(rig.admin.ids("contacts"))


def _spy_on_the_pass(monkeypatch: Any, before: Any = None) -> list[tuple[int, int, int]]:
    """Record (links, items with a crm_id, rows left to write) when the pull's pass starts;
    ``before(store)`` runs first."""
    seen: list[tuple[int, int, int]] = []
    real = pull_module.write_links

    def spy(store: LocalStore, state: Any, entity: str) -> int:
        db = store.connection
        seen.append((len(_pairs(store)), int(db.execute(
            "SELECT count(*) FROM items WHERE crm_id IS NOT NULL").fetchone()[0]),
            _unwritten(store)))
        if before is not None:
            before(store)
        return real(store, state, entity)

    monkeypatch.setattr(pull_module, "write_links", spy)
    return seen


class _Progress:
    """A sync observer that keeps the progress it is told."""

    def __init__(self) -> None:
        self.said: list[tuple[str, int, str]] = []

    def on_state(self, state: str) -> None:
        pass

    def on_progress(self, entity: str, done: int, total: int | None, message: str) -> None:
        self.said.append((entity, done, message))

    def on_finished(self, result: Any) -> None:
        pass


def test_items_matched_by_key_are_written_once_at_the_end_of_the_pull(rig, monkeypatch):
    monkeypatch.setattr(pull_module, "PULL_BATCH", 5)   # three batches
    _full_store(rig)
    seen = _spy_on_the_pass(monkeypatch)
    progress = _Progress()
    result = SyncEngine(rig.store, rig.crm, rig.settings, observer=progress).run(entities=C)
    assert result.outcome == "ok", result.as_dict()
    assert result.count("contacts", "local", "created") == 0
    # Each batch committed its links; the items waited for the pass, once.
    assert seen == [(N, 0, N)]
    # The progress says so, with the count it had (the window's count stays where it was).
    said = [s for s in progress.said if s[2] != "done"]
    assert said[-2:] == [("contacts", N, "reading changes from the CRM"),
                         ("contacts", N, "linking local items")]
    _assert_written(rig)
    assert_quiet(rig, C)


def test_a_batch_in_the_stores_order_is_linked_with_its_batch(rig, monkeypatch):
    """Partners that come in the order the store holds them (an address book made from the
    CRM's own records) lie on neighbouring pages: written with their batch, no pass."""
    monkeypatch.setattr(pull_module, "PULL_BATCH", 5)
    for k in range(N):
        rig.admin.create("contacts", {"firstName": "P", "lastName": f"Person {k:02d}"})
        rig.store.add("contacts", {"first_name": "P", "last_name": f"Person {k:02d}"})
    seen = _spy_on_the_pass(monkeypatch)
    written: list[int] = []
    real = LocalStore.link_many

    def counted(store: LocalStore, entries: Any, *, later: bool = False) -> Any:
        written.append(len(entries) if not later else 0)
        return real(store, entries, later=later)

    monkeypatch.setattr(LocalStore, "link_many", counted)
    result = rig.sync(entities=C)
    assert result.outcome == "ok", result.as_dict()
    assert seen == [] and written == [5, 5, 2]
    _assert_written(rig)
    assert_quiet(rig, C)


def test_the_items_come_out_as_linking_them_in_their_batch_writes_them(
        devserver, make_rig, tmp_path, monkeypatch):
    """The same first sync into a full store, its plain links written at the end against
    written in their batch (``link_many`` without ``later``): the same items and revisions,
    trash, links and bases, report rows."""
    monkeypatch.setattr(pull_module, "PULL_BATCH", 3)
    admin = make_rig(devserver, "admin.db").admin
    for first, last, crm_title, _ in PEOPLE:
        admin.create("contacts", {"firstName": first, "lastName": last,
                                  **({"jobTitle": crm_title} if crm_title else {})})
    origin = LocalStore(tmp_path / "origin.db")
    for first, last, _, local_title in reversed(PEOPLE):
        if local_title is not None:
            origin.add("contacts", {"first_name": first, "last_name": last,
                                    "job_title": local_title})
    known = {item.id for item in origin.iter_items("contacts")}
    origin.close()
    for name in ("late.db", "batch.db"):
        shutil.copy(tmp_path / "origin.db", tmp_path / name)
    late = make_rig(devserver, "late.db")
    monkeypatch.setattr(apply, "_in_stored_order", lambda ids: False)   # every batch
    seen = _spy_on_the_pass(monkeypatch)
    late_result = late.sync(entities=C)
    assert late_result.outcome == "ok", late_result.as_dict()
    # Ann, Bo, Di and Hal keep their fields: linked at the end; four others are rewritten.
    assert [left for _, _, left in seen] == [4]

    real = LocalStore.link_many

    def in_the_batch(store: LocalStore, entries: Any, *, later: bool = False) -> Any:
        return real(store, entries)

    monkeypatch.setattr(LocalStore, "link_many", in_the_batch)
    batch = make_rig(devserver, "batch.db")
    batch_result = batch.sync(entities=C)
    assert batch_result.outcome == "ok", batch_result.as_dict()
    assert late_result.counts == batch_result.counts
    assert (_snapshot(late.store, late_result.run_id, known)
            == _snapshot(batch.store, batch_result.run_id, known))
    # Cy Ode's and Gus Orr's titles, and the Eve Tams' (the oldest local one, "Support", is
    # linked to the first CRM record, "Sales", and the other way round).
    assert late_result.count("contacts", "local", "updated") == 4


def test_an_edit_made_while_the_pull_runs_keeps_its_revision_and_is_sent(rig, monkeypatch):
    """The user edits an item whose link is committed and whose item is not written yet
    (another connection, as the app's window): the pass keeps the edit's newer revision, so
    the next sync sends the edit instead of taking it for the sync's own write."""
    _full_store(rig)
    edited: list[str] = []

    def edit(store: LocalStore) -> None:
        other = LocalStore(store.path)
        try:
            item = next(i for i in other.list("contacts")
                        if i.fields["last_name"] == "Person 03")
            other.update(item.id, {"job_title": "Edited meanwhile"})
            edited.append(item.id)
        finally:
            other.close()

    _spy_on_the_pass(monkeypatch, before=edit)
    assert rig.sync(entities=C).outcome == "ok"
    item = rig.store.get(edited[0])
    link = rig.engine().state.link_by_item(item.id)
    assert item.crm_id == link.crm_id and item.rev > link.synced_rev
    result = rig.sync(entities=C)
    assert result.count("contacts", "crm", "updated") == 1, result.as_dict()
    assert rig.crm_contact(item.crm_id)["jobTitle"] == "Edited meanwhile"
    assert_quiet(rig, C)


@pytest.mark.parametrize("then", ["sync", "plan"])
def test_links_a_stopped_run_left_unwritten_are_written_before_anything_else(
        rig, monkeypatch, then):
    """A run that never reached its pass (killed): its links are committed, its items not.
    The next run (or plan) writes them first, before the first-sync deletions and the key
    index look at the items: nothing is matched again, deleted or created."""
    monkeypatch.setattr(pull_module, "PULL_BATCH", 5)
    _full_store(rig)
    monkeypatch.setattr(pull_module, "write_links", lambda store, state, entity: 0)
    assert rig.sync(entities=C).outcome == "ok"
    assert len(_pairs(rig.store)) == N and _unwritten(rig.store) == N
    assert not [i for i in rig.local("contacts") if i.crm_id]
    monkeypatch.undo()
    # The first sync was not recorded as done: the next one is a first sync again.
    rig.engine().state.db.execute("UPDATE sync_cursors SET first_sync_done = 0")
    if then == "plan":
        plan = rig.engine().plan(entities=C)
        assert not plan.actions, plan.actions
        _assert_written(rig)
    result = rig.sync(entities=C)
    assert result.outcome == "ok", result.as_dict()
    assert result.changes == 0, result.counts
    _assert_written(rig)
    assert_quiet(rig, C)


def test_a_pull_stopped_by_an_error_writes_what_it_linked(rig, monkeypatch):
    monkeypatch.setattr(pull_module, "PULL_BATCH", 5)
    _full_store(rig)
    real = pull_module._pull_batch
    calls = []

    def second_fails(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("The disk is full.", title="Disk full")
        real(*args, **kwargs)

    monkeypatch.setattr(pull_module, "_pull_batch", second_fails)
    result = rig.sync(entities=C)
    assert result.outcome == "failed" and "disk is full" in result.message
    _assert_written(rig, count=5)
    monkeypatch.undo()
    assert rig.sync(entities=C).outcome == "ok"
    _assert_written(rig)
    assert_quiet(rig, C)


def test_writing_the_links_forgets_only_the_rows_it_read(rig, monkeypatch):
    """The app's queue makes a plan (which writes the links a pull left) while the sync
    process's pull commits its next batch: the rows added meanwhile stay, for that pull's
    own pass."""
    a = rig.store.add("contacts", {"last_name": "A"})
    b = rig.store.add("contacts", {"last_name": "B"})
    state = rig.engine().state
    first, second = rig.store.link_many([(a, "1", None), (b, "2", None)], later=True)
    with rig.store.transaction():
        state.add_unwritten("contacts", [(first.id, "1", first.rev)])
    real = LocalStore.write_links

    def meanwhile(store: LocalStore, rows: Any) -> int:
        written = real(store, rows)
        other = LocalStore(store.path)   # the other process's pull
        try:
            with other.transaction():
                SyncState(other.connection).add_unwritten("contacts",
                                                          [(second.id, "2", second.rev)])
        finally:
            other.close()
        return written

    monkeypatch.setattr(LocalStore, "write_links", meanwhile)
    assert apply.write_links(rig.store, state, "contacts") == 1
    assert state.unwritten("contacts")[0] == [(second.id, "2", second.rev)]
    monkeypatch.undo()
    assert apply.write_links(rig.store, state, "contacts") == 1
    assert [rig.store.get(i.id).crm_id for i in (a, b)] == ["1", "2"]
    assert state.unwritten("contacts") == ([], 0)


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_sync_killed_in_its_pass_leaves_the_next_run_nothing_half_done(
        devserver, make_rig, kill_at):
    """SIGKILLed as the pass starts, or after its first transaction of 4 items: the next
    run writes every item, and a second one has nothing to do."""
    rig = make_rig(devserver)
    _full_store(rig)
    outcome = run_worker(devserver.url, rig.store.path,
                         link_pass={"chunk": 4, "kill_at": kill_at})
    assert outcome == "killed"
    left = _unwritten(rig.store)
    assert left == N
    written = [i for i in rig.local("contacts") if i.crm_id]
    assert len(written) == (0 if kill_at == 1 else 4)
    result = rig.sync(entities=C)
    assert result.outcome == "ok", result.as_dict()
    assert result.changes == 0, result.counts
    _assert_written(rig)
    assert_quiet(rig, C)
