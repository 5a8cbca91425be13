"""A large pull's page worker (``sync.pages``), against the reference server's demo data on
loopback and a real worker process: the records it hands back are what ``decode_document``
and ``mapping.from_crm`` make; every body it does not take is decoded here, with the same
result or error; a pull with it writes exactly what a pull without it writes, also when the
worker dies or cannot start; small pulls never start one."""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tests.sync.test_full_store import _snapshot
from tray_client.crm.jsonapi import LazyResource, NotJsonApi, decode_document
from tray_client.devserver.database import Database
from tray_client.devserver.demo import load_demo
from tray_client.devserver.testing import RunningServer
from tray_client.store import LocalStore
from tray_client.sync import mapping, matching, pages, scratch
from tray_client.sync import pull as pull_module
from tray_client.sync.config import CRM_TO_LOCAL
from tray_client.sync.mapping import MappingError
from tray_client.sync.readahead import read_ahead

ROOT = Path(__file__).resolve().parents[2]
DEMO = 120   # demo contacts, tasks and events: several pages of 20
# Local texts of every contact row, addresses without a country in Germany.
EVERY = tuple(row.name for row in mapping.rows_for("contacts"))
EXACT = (EVERY, "DE")
KEY_ROWS = {"contacts": ("last_name", "first_name", "emails"), "tasks": ("subject",)}


@pytest.fixture
def demo_server(tmp_path):
    """The reference server with its realistic demo data (addresses, several e-mails and
    phones, birthdays; tasks; events)."""
    load_demo(Database(tmp_path / "crm.db", username=TEST_USER), DEMO)
    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER,
                       api_key=TEST_API_KEY) as srv:
        yield srv


def page_bodies(crm: Any, type_: str, include: tuple[str, ...] = ()) -> list[bytes]:
    """The bodies of a walk's pages, as the pull reads them (20 records a page)."""
    bodies: list[bytes] = []

    def keep(content: bytes) -> Any:
        bodies.append(content)
        return decode_document(content)

    list(crm.iter_changed(type_, None, include=include, page_size=20, decode=keep))
    return bodies


def same_record(lazy: Any, plain: Any) -> None:
    assert (lazy.type, lazy.id, lazy.updated_at) == (plain.type, plain.id, plain.updated_at)
    assert lazy.attributes == plain.attributes
    assert lazy.relationships == plain.relationships
    assert lazy.meta == plain.meta
    for name in plain.relationships:
        assert lazy.related(name) == plain.related(name)
        assert lazy.related_id(name) == plain.related_id(name)


@pytest.mark.parametrize(("type_", "entity", "include"),
                         [("contacts", "contacts", ("addresses",)), ("tasks", "tasks", ())])
def test_the_worker_hands_back_what_decode_document_and_from_crm_make(
        demo_server, make_rig, type_, entity, include):
    rig = make_rig(demo_server)
    bodies = page_bodies(rig.crm, type_, include)
    assert len(bodies) >= 6
    exact = EXACT if entity == "contacts" else None
    key_rows = KEY_ROWS[entity]
    with pages.PageWorker(entity, start_after=1, wait_ready=True, exact=exact,
                          key_rows=key_rows) as worker:
        docs = [worker.decode(body) for body in bodies]
        # The first page was decoded here (it started the worker), the others there.
        assert worker.pages_sent == len(bodies) - 1
    assert not any(isinstance(r, LazyResource) for r in docs[0].data)
    lazy_count = 0
    for body, doc in zip(bodies, docs, strict=True):
        plain = decode_document(body)
        assert doc.next_link == plain.next_link and doc.meta == plain.meta
        assert len(doc.data) == len(plain.data)
        for lazy, res in zip(doc.data, plain.data, strict=True):
            if isinstance(lazy, LazyResource):
                lazy_count += 1
                # The local text came along when asked for (``local_texts``' own tests).
                assert lazy.local_text == (None if exact is None else pages.local_texts(
                    entity, [mapping.from_crm(entity, res)], exact)[0])
                # So did its key's slot, as the pull makes it.
                assert lazy.key_slot == matching.key_slot(mapping.from_crm(entity, res),
                                                          key_rows)
                assert lazy.key_slot
                # The mapping came along; taken once, then made again from the record.
                assert mapping.from_crm_once(entity, lazy) == mapping.from_crm(entity, res)
                assert lazy.canonical is None
                assert mapping.from_crm_once(entity, lazy) == mapping.from_crm(entity, res)
            same_record(lazy, res)
    assert lazy_count == sum(len(d.data) for d in docs[1:])
    if entity == "contacts":   # the demo contacts' addresses came through
        assert any(r.related("addresses") for d in docs[1:] for r in d.data)


def test_the_worker_sends_no_json_back_and_a_page_is_decoded_once(demo_server, make_rig):
    """The worker's first answer names the records (a few bytes each, not their JSON);
    the page keeps its body until one of its records is read whole, then its records,
    decoded once."""
    rig = make_rig(demo_server)
    body = page_bodies(rig.crm, "contacts", ("addresses",))[1]
    answer = pages.split(body)[0]
    assert all(len(record) == 3 for record in answer[2])
    assert len(pickle.dumps(answer)) < len(body) / 10
    page = pages._Page()
    doc = page.document(answer, body=body)
    assert page._body is body and page._data is None
    plain = decode_document(body)
    same_record(doc.data[3], plain.data[3])
    assert page._body is None and len(page._data or ()) == len(plain.data)
    for lazy, res in zip(doc.data, plain.data, strict=True):
        same_record(lazy, res)


def test_pages_read_while_the_worker_starts_are_decoded_here_alike(demo_server, make_rig,
                                                                  monkeypatch):
    """Until the worker says it is ready, pages are decoded here into the same light
    records (the pull maps them); a worker still starting is stopped at once."""
    import time

    rig = make_rig(demo_server)
    bodies = page_bodies(rig.crm, "contacts", ("addresses",))
    monkeypatch.setattr(pages, "worker_command", lambda: (
        [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ)))
    started = time.monotonic()
    with pages.PageWorker("contacts", start_after=1) as worker:
        docs = [worker.decode(body) for body in bodies]
        assert worker.pages_sent == 0
    assert time.monotonic() - started < 10
    for body, doc in zip(bodies[1:], docs[1:], strict=True):
        for lazy, res in zip(doc.data, decode_document(body).data, strict=True):
            assert isinstance(lazy, LazyResource) and lazy.canonical is None
            assert mapping.from_crm_once("contacts", lazy) == mapping.from_crm("contacts", res)
            same_record(lazy, res)


def test_bodies_the_worker_does_not_take_are_decoded_here_alike(demo_server, make_rig):
    rig = make_rig(demo_server)
    first = page_bodies(rig.crm, "contacts", ("addresses",))[0]
    odd = [
        b'{"errors": [{"status": "400", "title": "bad", "detail": "no"}]}',
        b'{"data": {"type": "contacts", "id": "1", "attributes": {"lastName": "One"}}}',
        b'{"data": [{"type": "contacts", "id": "2", "attributes": {"n": NaN}}]}',
        b'{"data": [{"type": "contacts", "id": "4", "relationships": {"x": {"data": 5}}}]}',
        b'{"meta": {}}',
        b'{"data": [{"type": "contacts", "id": "6"}',
        b"<html>login</html>",
        b'{"links": {}}',
    ]
    with pages.PageWorker("contacts", start_after=1, wait_ready=True) as worker:
        worker.decode(first)   # starts it
        for body in odd:
            try:
                expected: Any = decode_document(body)
            except (ValueError, NotJsonApi) as exc:
                with pytest.raises(type(exc)) as raised:
                    worker.decode(body)
                assert str(raised.value) == str(exc)
                continue
            got = worker.decode(body)
            assert got == expected
            records = got.data if isinstance(got.data, list) else [got.data]
            assert not any(isinstance(r, LazyResource) for r in records)
        # A value of no fixed size (an integer beyond 64 bits) comes through the worker alike.
        big = b'{"data": [{"type": "contacts", "id": "3", "attributes": {"n": %d}}]}' % 2 ** 70
        (lazy,) = worker.decode(big).data
        assert isinstance(lazy, LazyResource)
        same_record(lazy, decode_document(big).data[0])
        # Still answering after all that.
        sent = worker.pages_sent
        again = worker.decode(first)
        assert worker.pages_sent == sent + 1
    for lazy, res in zip(again.data, decode_document(first).data, strict=True):
        same_record(lazy, res)


def test_a_record_that_does_not_map_is_mapped_again_where_it_is_reported(demo_server,
                                                                         make_rig):
    rig = make_rig(demo_server)
    body = page_bodies(rig.crm, "contacts", ("addresses",))[0]
    body = body.replace(b'"birthday":"', b'"birthday":"31.02.', 1)
    plain = decode_document(body)
    bad = [r for r in plain.data if str(r.attributes.get("birthday", "")).startswith("31.02.")]
    assert len(bad) == 1
    with pytest.raises(MappingError) as expected:
        mapping.from_crm("contacts", bad[0])
    with pages.PageWorker("contacts", start_after=1, wait_ready=True) as worker:
        worker.decode(body)
        doc = worker.decode(body)
    lazy = next(r for r in doc.data if r.id == bad[0].id)
    assert isinstance(lazy, LazyResource) and lazy.canonical is None
    with pytest.raises(MappingError) as raised:
        mapping.from_crm_once("contacts", lazy)
    assert str(raised.value) == str(expected.value)


# -- local texts ------------------------------------------------------------------------------

def test_an_item_holding_a_local_text_maps_to_the_record_and_its_diff(demo_server, make_rig,
                                                                       tmp_path):
    """For each demo contact, of every row and of the rows a pull writes with Sync Birthdays
    off: the text is what the store keeps for the item a pull makes of the record, and that
    item, read back and mapped, gives the record's values with the diff applied."""
    rig = make_rig(demo_server)
    records = [r for body in page_bodies(rig.crm, "contacts", ("addresses",))
               for r in decode_document(body).data]
    mapped = [mapping.from_crm("contacts", r) for r in records]
    store = LocalStore(tmp_path / "texts.db")
    no_birthday = tuple(name for name in EVERY if name != "birthday")
    try:
        for names in (EVERY, no_birthday):
            answers = pages.local_texts("contacts", mapped, (names, "DE"))
            assert len(answers) == len(mapped) >= DEMO
            for crm, answer in zip(mapped, answers, strict=True):
                assert answer is not None   # the demo's records all take the shortcut
                text, diff = answer
                made = store.add("contacts", mapping.new_local_fields("contacts", crm, names))
                stored = store.connection.execute("SELECT fields FROM items WHERE id = ?",
                                                  (made.id,)).fetchone()[0]
                assert stored == text
                item = store.get(made.id)
                assert item is not None
                assert mapping.from_local("contacts", item.fields,
                                          default_country="DE") == {**crm, **(diff or {})}
                if names == EVERY:
                    assert diff is None
                else:
                    assert diff == ({"birthday": None} if crm["birthday"] else None)
    finally:
        store.close()


def test_a_local_text_says_where_the_item_maps_otherwise_or_there_is_none():
    """An address without a country: the item's is in the default country (the diff). A
    value the shortcut cannot vouch for, or an item that would map to other rows: none."""
    crm = mapping.from_local("contacts", {
        "first_name": "Ann", "last_name": "Lee", "emails": ["ann@example.test"],
        "business_address": {"street": "Hauptstraße 1", "city": "Berlin"}})
    assert crm["business_address"] == {"street": "Hauptstraße 1", "city": "Berlin"}
    ((text, diff),) = pages.local_texts("contacts", [crm], EXACT)
    assert json.loads(text) == {"first_name": "Ann", "last_name": "Lee",
                                "emails": ["ann@example.test"],
                                "business_address": {"street": "Hauptstraße 1",
                                                     "city": "Berlin"}}
    assert diff == {"business_address": {"street": "Hauptstraße 1", "city": "Berlin",
                                         "country": "DE"}}
    assert mapping.from_local("contacts", json.loads(text), default_country="DE") == {
        **crm, **diff}
    # No default country: the very values.
    assert pages.local_texts("contacts", [crm], (EVERY, "")) == [(text, None)]
    # A carriage return (the store rewrites it), a row the item would not have, nothing.
    odd = [{**crm, "job_title": "Buyer\r\nand seller"}, {**crm, "shoe_size": "42"}, None]
    assert pages.local_texts("contacts", odd, EXACT) == [None, None, None]
    # Tasks and events have no shortcut.
    task = mapping.from_local("tasks", {"subject": "Call"})
    assert pages.local_texts("tasks", [task], (("subject",), "")) == [None]


def test_a_key_slot_is_the_slot_the_pull_looks_under():
    """``key_slots``: each mapping's slot as ``matching._slots`` makes it ("" for an empty
    key, which has none), None for no mapping or a key that cannot be made."""
    rows = ("last_name", "first_name", "emails")
    ann = mapping.from_local("contacts", {"first_name": " Ann ", "last_name": "LEE",
                                          "emails": ["Ann@Example.test"]})
    nobody = mapping.from_local("contacts", {"job_title": "Buyer"})
    odd = {**ann, "first_name": {1: "a", "b": "c"}}   # parts that do not sort
    slots = pages.key_slots([ann, nobody, None, odd], rows)
    assert slots == [matching._slot(mapping.record_key(ann, rows)), "", None, None]
    assert slots[0] == repr(("lee", "ann", ("ann@example.test",)))
    # The pull looks under the worker's slot alone unless an item has a create intent.
    ent = SimpleNamespace(own_creates=set(), key_rows=list(rows))
    assert matching._slots(ent, ann, None, slots[0]) == [slots[0]]   # type: ignore[arg-type]
    assert matching._slots(ent, nobody, None, "") == []   # type: ignore[arg-type]
    assert matching._slots(ent, ann, None) == [slots[0]]   # type: ignore[arg-type]
    ent.own_creates = {"item-1"}
    ent.names = lambda *, create, to_local: list(rows)   # a create sends every key row
    assert matching._slots(ent, ann, "item-1", slots[0]) == [   # type: ignore[arg-type]
        matching._slot(("uid", "item-1")), slots[0]]


# -- whole pulls ------------------------------------------------------------------------------

# Local edits made to a full store's contacts before its first sync (``_pull_both_ways``):
# a changed job title, a note, an address without its country (in the default country
# then, DE), an e-mail and a phone with spaces around them.
EDITS = [{"job_title": "Edited here"}, {"notes": "Met at the fair"},
         {"home_address": {"street": "Hauptstraße 1", "city": "Berlin"}},
         {"emails": [" spaced@example.test "], "primary_phone": " +49 30 1234 "}]


def _pull_both_ways(demo_server, make_rig, tmp_path, monkeypatch, *, full: bool,
                    sabotage: Any = None, birthdays: bool = False, edit_all: bool = False,
                    own_birthdays: bool = True, one_way: bool = False,
                    ) -> tuple[Any, Any, list[pages.PageWorker]]:
    """The contacts and tasks pulled with page workers (from each pull's second page) and
    without, into copies of one store (empty, or holding every CRM record unlinked, a few
    contacts edited: ``EDITS``), found to write the same; the result and rig of the pull
    with workers, and its workers. ``birthdays``: Sync Birthdays on in both; ``edit_all``:
    every contact edited; ``own_birthdays``: the store's contacts hold their birthdays;
    ``one_way``: contacts CRM → local in both (neither writes the CRM the other reads)."""
    monkeypatch.setattr(pull_module, "PULL_PAGE", 20)
    monkeypatch.setattr(pull_module, "PULL_BATCH", 30)
    origin = LocalStore(tmp_path / "origin.db")
    if full:   # the CRM's people and tasks, as another program left them: unlinked
        source = make_rig(demo_server, "source.db")
        # With their birthdays, part of the contacts' key (as a user's own address book
        # holds them; the rigs below leave Sync Birthdays off, as it is by default).
        source.settings.sync_birthdays = own_birthdays
        assert source.sync(entities=["contacts", "tasks"]).outcome == "ok"
        for entity in ("contacts", "tasks"):
            for n, item in enumerate(source.local(entity)):
                edit = EDITS[n // 30] if entity == "contacts" and n % 30 == 7 else {}
                if entity == "contacts" and edit_all:
                    edit = {"job_title": f"Edited here {n}"}
                origin.add(entity, {**item.fields, **edit})
    known = {i.id for e in ("contacts", "tasks") for i in origin.iter_items(e)}
    origin.close()
    for name in ("worker.db", "plain.db"):
        shutil.copy(tmp_path / "origin.db", tmp_path / name)

    used: list[pages.PageWorker] = []
    real_init = pages.PageWorker.__init__

    def init(self: pages.PageWorker, entity: str, **kwargs: Any) -> None:
        real_init(self, entity, **kwargs)
        used.append(self)

    monkeypatch.setattr(pages.PageWorker, "__init__", init)
    monkeypatch.setattr(pages, "START_AFTER", 1)
    monkeypatch.setattr(pages, "WAIT_READY", True)
    if sabotage is not None:
        sabotage(monkeypatch)
    mapped: list[str] = []   # items mapped in this process (``from_local``)
    real_from_local = mapping.from_local

    def from_local(entity: str, fields: Any, **kwargs: Any) -> Any:
        mapped.append(entity)
        return real_from_local(entity, fields, **kwargs)

    monkeypatch.setattr(mapping, "from_local", from_local)
    given: list[str] = []   # key slots the pull took from the worker
    real_slots = matching._slots

    def slots(ent: Any, crm: Any, uid: Any, slot: Any = None) -> Any:
        if slot is not None:
            given.append(slot)
        return real_slots(ent, crm, uid, slot)

    monkeypatch.setattr(matching, "_slots", slots)
    with_worker = make_rig(demo_server, "worker.db")
    with_worker.settings.sync_birthdays = birthdays
    with_worker.settings.default_country = "DE"
    if one_way:
        with_worker.direction("contacts", CRM_TO_LOCAL)
    result = with_worker.sync(entities=["contacts", "tasks"])
    with_worker.mapped = mapped.count("contacts")
    with_worker.slots_given = len(given)
    monkeypatch.setattr(pages, "START_AFTER", 10 ** 9)
    mapped.clear()
    plain = make_rig(demo_server, "plain.db")
    plain.settings.sync_birthdays = birthdays
    plain.settings.default_country = "DE"
    if one_way:
        plain.direction("contacts", CRM_TO_LOCAL)
    plain_result = plain.sync(entities=["contacts", "tasks"])
    plain.mapped = mapped.count("contacts")
    assert result.outcome == plain_result.outcome == "ok", (result.as_dict(),
                                                            plain_result.as_dict())
    assert result.counts == plain_result.counts
    assert (_snapshot(with_worker.store, result.run_id, known)
            == _snapshot(plain.store, plain_result.run_id, known))
    if full and sabotage is None and not edit_all:
        # The worker's local texts spared the pull mapping the partners that hold them:
        # those of its first page only (decoded here, before the worker ran), the edited
        # ones and those a key shared with an edited one handed out are mapped.
        assert plain.mapped >= DEMO
        assert with_worker.mapped <= 20 + 2 * len(EDITS), (with_worker.mapped, plain.mapped)
    return result, with_worker, used[:2]


@pytest.mark.parametrize(("full", "birthdays"), [(False, False), (True, False), (True, True)],
                         ids=["empty store", "full store", "full store, Sync Birthdays on"])
def test_a_pull_with_the_worker_writes_what_a_pull_without_it_writes(
        demo_server, make_rig, tmp_path, monkeypatch, full, birthdays):
    result, rig, used = _pull_both_ways(demo_server, make_rig, tmp_path, monkeypatch,
                                        full=full, birthdays=birthdays)
    # One worker a pull of contacts and of tasks (none for events), each decoding all but
    # the first page (the walk re-reads the pages' boundary seconds: more than 120 / 20).
    assert [w.entity for w in used] == ["contacts", "tasks"]
    assert all(w.pages_sent >= DEMO // 20 - 1 for w in used)
    # Local texts are asked for on a first sync into a full store only: of every row when
    # the items hold a row the pass does not write (birthdays, Sync Birthdays off).
    every = tuple(row.name for row in mapping.rows_for("contacts"))
    assert used[0].exact == (None if not full else (every, "DE"))
    assert used[1].exact is None   # tasks: no shortcut (``new_local_fields``)
    # Key slots too, for both: the records are matched by key then.
    for worker in used:
        assert (worker.key_rows is not None) is full
    if full:
        assert rig.slots_given >= DEMO   # all but the first page of contacts and of tasks
    edited = {"contacts": len(EDITS) if full else 0, "tasks": 0}
    for entity in ("contacts", "tasks"):
        assert result.count(entity, "local", "created") == (0 if full else DEMO)
        linked = rig.store.connection.execute(
            "SELECT count(*) FROM sync_links WHERE entity = ?", (entity,)).fetchone()[0]
        assert linked == DEMO
        if full:
            # The edited contacts take the CRM's values (a pair just matched).
            assert result.count(entity, "local", "updated") == edited[entity]


def test_local_texts_match_no_item_of_another_key_when_every_key_hashes_alike(
        demo_server, make_rig, tmp_path, monkeypatch):
    """The store's contacts without their birthdays, which are part of the key (Sync
    Birthdays off): an item holding a record's local text maps to another key (the diff
    has the birthday). With every key's hash alike, the index answers every item for every
    key: the pull with the worker still links only what the pull without it links."""
    def collide(patch: Any) -> None:
        patch.setattr(scratch, "slot_hash", lambda slot: 12345)

    result, _, used = _pull_both_ways(demo_server, make_rig, tmp_path, monkeypatch,
                                      full=True, own_birthdays=False, sabotage=collide,
                                      one_way=True)
    every = tuple(row.name for row in mapping.rows_for("contacts"))
    assert used[0].exact == (tuple(n for n in every if n != "birthday"), "DE")
    # A contact with a birthday matches no item (each is created); one without, its own.
    assert 0 < result.count("contacts", "local", "created") < DEMO


def test_the_worker_stops_making_local_texts_that_few_partners_hold(
        demo_server, make_rig, tmp_path, monkeypatch, caplog):
    """Every contact edited here: once TEXTS_TRIED partners showed that under half hold
    their local text, the worker is asked for none; the pull writes what it writes
    without the worker all the same."""
    monkeypatch.setattr(pull_module, "TEXTS_TRIED", 40)
    caplog.set_level(logging.INFO, logger="tray_client.sync.pull")
    _, _, used = _pull_both_ways(demo_server, make_rig, tmp_path, monkeypatch, full=True,
                                 edit_all=True)
    assert used[0].entity == "contacts" and used[0].exact is None
    held = re.search(r"(\d+) of (\d+) contacts partners hold their local text", caplog.text)
    assert held is not None and held[1] == "0" and int(held[2]) >= 40


def test_a_worker_that_dies_mid_pull_loses_nothing(demo_server, make_rig, tmp_path,
                                                   monkeypatch, caplog):
    def kill_after_two_pages(patch: Any) -> None:
        real = pages.PageWorker._remote

        def remote(self: pages.PageWorker, content: bytes) -> Any:
            doc = real(self, content)
            if self.pages_sent == 2 and self._process is not None:
                self._process.kill()   # its mappings of this page never come
            return doc

        patch.setattr(pages.PageWorker, "_remote", remote)

    caplog.set_level(logging.WARNING, logger="tray_client.sync.pages")
    _, _, used = _pull_both_ways(demo_server, make_rig, tmp_path, monkeypatch, full=True,
                                 sabotage=kill_after_two_pages)
    assert [w.pages_sent for w in used] == [2, 2]
    assert "page worker stopped answering" in caplog.text


def test_a_worker_that_cannot_start_leaves_the_pages_to_the_pull(demo_server, make_rig,
                                                                 tmp_path, monkeypatch):
    def no_worker(patch: Any) -> None:
        patch.setattr(pages, "worker_command",
                      lambda: ([str(tmp_path / "no-such-program")], dict(os.environ)))

    _, _, used = _pull_both_ways(demo_server, make_rig, tmp_path, monkeypatch, full=False,
                                 sabotage=no_worker)
    assert [w.pages_sent for w in used] == [0, 0]


# A worker that says it is ready, then never answers (hung).
_HUNG = ("import pickle, struct, sys, time; ready = pickle.dumps('ready'); "
         "sys.stdout.buffer.write(struct.pack('!Q', len(ready)) + ready); "
         "sys.stdout.buffer.flush(); time.sleep(120)")


def test_a_cancel_ends_the_wait_for_a_worker_that_does_not_answer(demo_server, make_rig,
                                                                   monkeypatch):
    """The user cancels while the read-ahead waits on a hung worker's answer, and while the
    pull waits on a page's mappings: neither waits on (ANSWER_TIMEOUT is a minute); the
    page is decoded here, alike, and the worker stopped."""
    import threading
    import time

    rig = make_rig(demo_server)
    bodies = page_bodies(rig.crm, "contacts", ("addresses",))
    monkeypatch.setattr(pages, "worker_command",
                        lambda: ([sys.executable, "-c", _HUNG], dict(os.environ)))
    cancel = threading.Event()
    with pages.PageWorker("contacts", start_after=1, wait_ready=True,
                          cancel=cancel) as worker:
        worker.decode(bodies[0])   # decoded here; the worker starts and is ready
        assert worker._process is not None and worker._ready.is_set()
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        doc = worker.decode(bodies[1])
        assert time.monotonic() - started < 5
        assert worker._process is None and worker.pages_sent == 0
    for lazy, res in zip(doc.data, decode_document(bodies[1]).data, strict=True):
        same_record(lazy, res)

    page = pages._Page(cancel)   # its mappings never come
    doc = page.document(pages.split(bodies[2])[0], body=bodies[2])
    started = time.monotonic()
    assert [r.canonical for r in doc.data] == [None] * len(doc.data)
    assert time.monotonic() - started < 1


def test_a_pull_cancelled_while_its_worker_hangs_stops_at_once_and_loses_nothing(
        demo_server, make_rig, monkeypatch):
    """A whole sync: the user cancels while the page worker hangs; the run ends cancelled
    within seconds (not after the worker's minute), and the next sync takes everything."""
    import threading
    import time

    monkeypatch.setattr(pull_module, "PULL_PAGE", 20)
    monkeypatch.setattr(pages, "START_AFTER", 1)
    monkeypatch.setattr(pages, "WAIT_READY", True)
    real_command = pages.worker_command
    monkeypatch.setattr(pages, "worker_command",
                        lambda: ([sys.executable, "-c", _HUNG], dict(os.environ)))
    rig = make_rig(demo_server)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    result = rig.sync(entities=["contacts"], cancel=cancel)
    assert result.outcome == "cancelled", result.as_dict()
    assert time.monotonic() - started < 15
    monkeypatch.setattr(pages, "worker_command", real_command)
    again = rig.sync(entities=["contacts"])
    assert again.outcome == "ok", again.as_dict()
    assert len(list(rig.store.iter_items("contacts"))) == DEMO


def test_small_pulls_start_no_worker(rig, monkeypatch):
    started: list[Any] = []
    monkeypatch.setattr(pages.subprocess, "Popen",
                        lambda *a, **k: started.append(a) or pytest.fail("a worker started"))
    rig.admin.bulk_contacts(60)
    result = rig.sync(entities=["contacts"])
    assert result.outcome == "ok" and result.count("contacts", "local", "created") == 60
    assert started == []


# -- the worker process -----------------------------------------------------------------------

def test_the_frozen_app_starts_the_worker_with_its_flag(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    argv, _ = pages.worker_command()
    assert argv == [sys.executable, pages.WORKER_FLAG]


def test_the_worker_gets_no_secret(monkeypatch):
    """The worker signs nothing: the secrets the environment may hold are not passed on
    (the rest is, its locale and proxies among them)."""
    for name in pages.SECRET_VARIABLES:
        monkeypatch.setenv(name, "s3cret-" + name)
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    _, env = pages.worker_command()
    assert not any(v.startswith("s3cret-") for v in env.values())
    assert env["LANG"] == "de_DE.UTF-8"
    assert str(ROOT) in env["PYTHONPATH"].split(os.pathsep)


def test_the_installer_entry_runs_the_worker(demo_server, make_rig):
    """installer/tray_client_entry.py (the frozen app's script) with ``--page-worker``
    answers pages as the worker does."""
    body = page_bodies(make_rig(demo_server).crm, "contacts", ("addresses",))[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "installer/tray_client_entry.py"),
                             pages.WORKER_FLAG], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert pages.read_message(proc.stdout) == "ready"
        pages.write_message(proc.stdin, ("contacts", body, EXACT, KEY_ROWS["contacts"]))
        links, meta, records = pages.read_message(proc.stdout)
        assert (links, meta) == (decode_document(body).links, decode_document(body).meta)
        canonicals, texts, slots = pickle.loads(pages.read_message(proc.stdout))
    finally:
        proc.stdin.close()
        assert proc.wait(10) == 0   # its end of input ends it
        proc.stdout.close()
    plain = decode_document(body).data
    assert [r[1] for r in records] == [r.id for r in plain]
    assert canonicals == [mapping.from_crm("contacts", r) for r in plain]
    assert texts == pages.local_texts("contacts", canonicals, EXACT)
    assert all(text is not None for text in texts)
    assert slots == pages.key_slots(canonicals, KEY_ROWS["contacts"])
    assert all(slots)


def test_the_worker_answers_page_after_page_with_its_collector_paused(demo_server, make_rig,
                                                                     monkeypatch):
    """``serve`` in this process: every page answered alike while the collector is paused
    (and run every COLLECT_EVERY pages); the caller's collector as it was afterwards."""
    import gc
    import io

    bodies = page_bodies(make_rig(demo_server).crm, "contacts", ("addresses",))[:3]
    monkeypatch.setattr(pages, "COLLECT_EVERY", 2)
    requests = io.BytesIO()
    for n, body in enumerate(bodies):   # local texts and key slots asked for with some
        pages.write_message(requests, ("contacts", body, EXACT if n % 2 else None,
                                       None if n % 2 else KEY_ROWS["contacts"]))
    requests.seek(0)
    answers = io.BytesIO()
    collections: list[str] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(phase)

    gc.callbacks.append(watch)
    try:
        pages.serve(requests, answers)
        assert not gc.isenabled()
    finally:
        gc.callbacks.remove(watch)
        gc.enable()
    assert len(collections) == 1   # after the second page only
    answers.seek(0)
    assert pages.read_message(answers) == "ready"
    for n, body in enumerate(bodies):
        _links, _meta, records = pages.read_message(answers)
        plain = decode_document(body).data
        assert [r[1] for r in records] == [r.id for r in plain]
        mapped, texts, slots = pickle.loads(pages.read_message(answers))
        assert mapped == [mapping.from_crm("contacts", r) for r in plain]
        assert texts == (pages.local_texts("contacts", mapped, EXACT) if n % 2 else None)
        assert slots == (None if n % 2 else pages.key_slots(mapped, KEY_ROWS["contacts"]))


def test_the_read_ahead_holds_more_light_items_than_heavy_ones():
    import threading

    pulled: list[str] = []
    gate = threading.Event()

    def source(kind: str) -> Any:
        for n in range(1000):
            pulled.append(kind)
            yield (kind, n)

    for kind, limit in (("light", 10 * 8 + 10 + 1 + 10), ("heavy", 10 * 2 + 10 + 1 + 10)):
        pulled.clear()
        walk = read_ahead(source(kind), chunk=10, chunks=2,
                          light=lambda item: item[0] == "light", light_chunks=8)
        assert next(walk) == (kind, 0)
        gate.wait(0.3)                 # give the helper every chance to run ahead
        assert len(pulled) <= limit
        assert len(pulled) >= limit - 10 - 1   # and it did run ahead that far
        walk.close()
