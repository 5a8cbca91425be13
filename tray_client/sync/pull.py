"""Step 4, the pull: CRM records changed since the cursor, each matched and merged.

The changed records are read in pages (ahead, on a helper thread: ``readahead``) and written
in batches of ``PULL_BATCH``, each in one transaction with the cursor. A record is matched by
its link, else by an unlinked item holding its crm_id, else by key (``matching``); a new
record waits in ``EntityPass.new_records`` to be inserted with the batch's others, and a
pair matched by key in ``EntityPass.matched`` to be linked with them (an item whose fields
stay as they are is written at the end of the pull, in the store's order:
``apply.write_links``). A pair
whose merge writes the CRM too runs after its batch commits (no HTTP inside a held write
lock), its CRM half first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from functools import partial
from itertools import islice
from typing import Any

from ..crm import Cursor, Resource
from ..crm.jsonapi import LazyResource, decode_document
from ..crm.rest_events import TYPE as EVENTS_TYPE
from ..errors import CrmError, StoreError
from . import mapping
from .actions import Action, CreateLocal, LinkLocal, UpdateLocal, UpdateRemote
from .apply import attempt, create_new_records, link_matched, skipped, write_links
from .config import Direction
from .context import EntityPass, RunContext, shifted
from .mapping import Canonical, MappingError
from .matching import effective_base, in_flight, key_index, local_match, own_uid, prefetch
from .merge import Merge, merge
from .pages import PageWorker
from .readahead import read_ahead
from .state import Link
from .writes import WriteQueue

log = logging.getLogger(__name__)

PULL_PAGE = 1000    # records a page (Oro's largest)
PULL_BATCH = 2000   # pulled records per transaction (committed with the cursor)
# Each commit writes every page its batch dirtied to the write-ahead log, and the new
# records' links and items land on random pages of two indexes (CRM ids come in updatedAt
# order): a batch dirties a page of each for every ~150 records already stored. So at
# 100,000 records a batch of 500 wrote ~5 MB, and SQLite then copied the log into the
# database (a checkpoint, due past 1,000 pages) after every commit. A batch of a page's
# records, and a log that may grow to PULL_CHECKPOINT_PAGES while a pull writes, copy each
# of those pages fewer times: 165 → 145 µs of CPU a demo contact at 100,000. Two pages'
# records a batch: 113 → 102–106 µs (A/B at 100,000, quiet machine; 5,000 a batch saved a
# little more CPU but stalled the read-ahead on each long commit and took 142 MB).
PULL_CHECKPOINT_PAGES = 8000
# SQLite's page cache while a pull writes. Its default, 2 MB, is ~500 pages: a first sync
# into a store of 100,000 contacts met the pages of the indexes it writes (links, CRM ids,
# revisions) again after they had left it, each read back by a system call. 8 MB: the
# sync process's system time 1.39–1.44 → 1.14 s, peak RSS +7 MB (16 MB: 1.06 s, +15 MB).
PULL_CACHE_KIB = 8192
# The read-ahead holds up to READ_AHEAD chunks of 250 records decoded here (2,000), and
# apart from those READ_AHEAD_LAZY chunks of a page worker's (8,000), which take a fourth
# of the memory until the engine reads them (~1.3 KB a demo contact, their mappings
# packed): the walk goes on while the engine builds its key index.
READ_AHEAD = 8
READ_AHEAD_LAZY = 32
# Pulled records between two collections of the young generations (the run pauses the
# automatic collector). A collection scans the young objects still alive, chiefly the
# pages the read-ahead holds, whatever the number of records written since: one every
# batch cost ~8 µs a demo contact, yet found almost nothing to free (the pull makes few
# reference cycles). Every 5,000 records: 3.3 µs a record of 100,000 (~17 ms each);
# every 10,000: 1.6 µs, peak RSS of that sync 94 → 102 MB (the young objects wait longer).
COLLECT_EVERY = 10000
EXACT_SAMPLE = 100   # local items looked at to choose the rows of their local texts (``_exact``)
TEXTS_TRIED = 2000   # partners met before the local texts may be given up (``_still_exact``)


def pull(run: RunContext, ent: EntityPass) -> None:
    """Pull what changed in the CRM since the cursor (records that failed last time first),
    then write the items of the links it left to the end (``apply.write_links``)."""
    try:
        _pull(run, ent)
    except BaseException:
        # Stopped by an error or a cancel: what it committed is kept, its items written
        # too (else the next run does it first).
        try:
            _write_links(run, ent)
        except StoreError:
            log.warning("The items of the %s linked so far are written next time",
                        ent.entity, exc_info=True)
        raise
    _write_links(run, ent)


def _write_links(run: RunContext, ent: EntityPass) -> None:
    if ent.unwritten:
        ent.unwritten = False
        # Said with the records read so far: the count the window shows stays where it was.
        run.progress(ent.entity, ent.pulled, "linking local items")
        write_links(run.store, run.state, ent.entity)


def _pull(run: RunContext, ent: EntityPass) -> None:
    retry = run.state.pending(ent.entity, "crm")
    if retry:
        fetched = run.fetch(ent, retry)
        for crm_id in retry:
            res = fetched.get(crm_id)
            if res is None:
                run.commit(partial(run.state.clear_pending, ent.entity, "crm", crm_id))
                continue
            pull_record(run, ent, res)
    cur = ent.cursor
    since = Cursor(cur.crm_updated_at, cur.crm_id or "") if cur.crm_updated_at else None
    batch: list[Resource] = []
    collected = 0
    # A large pull's pages are decoded and mapped by a worker process on the other core
    # (``pages``; not the events, which come from Oro's older REST API).
    worker = (PageWorker(ent.entity, cancel=run.cancel, exact=_exact(run, ent),
                         key_rows=_key_rows(run, ent))
              if ent.crm_type != EVENTS_TYPE else None)
    with _pull_connection_settings(run.store), worker or nullcontext():
        # The next pages are fetched (on a helper thread) while this one's records are
        # written: a large pull costs about the slower of the two, not their sum. Closed on
        # the way out, so no request outlives the pull (a cancel, an error); the worker is
        # stopped first then, so that a helper waiting on its answer does not wait on.
        with closing(read_ahead(run.crm.iter_changed(
                ent.crm_type, since, filters=ent.filters, include=ent.include,
                page_size=PULL_PAGE, decode=worker.decode if worker else decode_document),
                chunks=READ_AHEAD, light=_lazy, light_chunks=READ_AHEAD_LAZY)) as walk, \
                _stopped_on_error(worker):
            if ent.first and since is None and ent.key_index is None:
                # A first sync matches its records by key: the local key index is built
                # as soon as the walk has started (its first records in hand), while the
                # next pages are read, rather than after a whole batch has come.
                batch.extend(islice(walk, 1))
                key_index(run, ent)
            for res in walk:
                if len(batch) >= PULL_BATCH:
                    # More records follow: the cursor may not leave the last record's
                    # second yet (the next batch may hold more records of that second).
                    _pull_batch(run, ent, batch, final=False)
                    _still_exact(ent, worker)
                    ent.pulled += len(batch)
                    run.progress(ent.entity, ent.pulled, "reading changes from the CRM")
                    batch = []
                    if ent.pulled - collected >= COLLECT_EVERY:
                        collected = ent.pulled
                        run.collect_young()
                batch.append(res)
        if batch:  # flushed before appending, so the last batch is never empty
            _pull_batch(run, ent, batch, final=True)
            ent.pulled += len(batch)
            run.progress(ent.entity, ent.pulled, "reading changes from the CRM")
            run.collect_young()


def _exact(run: RunContext, ent: EntityPass) -> tuple[tuple[str, ...], str] | None:
    """What the page worker needs to answer each record's local text (``pages.local_texts``)
    on a first sync into a store that holds items of the entity already, whose records are
    matched by key: the rows of such an item and the default country. Else None.

    The rows are those a new local item is made of (a store filled by this client), or
    every row when most of the first ``EXACT_SAMPLE`` items hold a row the pass does not
    write (a user's own address book, with birthdays while Sync Birthdays is off). An item
    of the other kind takes the usual way: it is decoded and mapped."""
    if not ent.first or ent.entity != "contacts":   # ``new_local_fields`` makes contacts'
        return None
    sample = run.store.first_fields(ent.entity, EXACT_SAMPLE)
    if not sample:
        return None
    names = tuple(ent.names(create=True, to_local=True))
    every = tuple(row.name for row in ent.rows)
    extra = set(every) - set(names)
    if extra and 2 * sum(1 for fields in sample if not extra.isdisjoint(fields)) > len(sample):
        names = every
    return names, run.default_country


def _key_rows(run: RunContext, ent: EntityPass) -> tuple[str, ...] | None:
    """The rows of the pass's key, for the page worker to answer each record's key slot
    (``pages.key_slots``), on a first sync into a store that holds items of the entity
    (their records are matched by key: ``matching.prefetch``); else None. ``record_key``
    and its slot then run on the worker's core: the sync process 76–77 → 72 µs a record
    of a first sync into a full store (benchmarks/README.md)."""
    if not ent.first or not ent.key_rows or not run.store.first_fields(ent.entity, 1):
        return None
    return tuple(ent.key_rows)


def _still_exact(ent: EntityPass, worker: PageWorker | None) -> None:
    """Stop asking the worker for local texts once ``TEXTS_TRIED`` partners show that few
    hold them (under half: an address book written by another program, or edited): each
    costs the worker's core ~15 µs a record for nothing then."""
    if (worker is not None and worker.exact is not None and ent.texts_tried >= TEXTS_TRIED
            and 2 * ent.texts_held < ent.texts_tried):
        log.info("%d of %d %s partners hold their local text: the page worker makes none "
                 "from now on", ent.texts_held, ent.texts_tried, ent.entity)
        worker.exact = None


@contextmanager
def _stopped_on_error(worker: PageWorker | None) -> Iterator[None]:
    """Stop ``worker`` at once when the block raises."""
    try:
        yield
    except BaseException:
        if worker is not None:
            worker.stop()
        raise


@contextmanager
def _pull_connection_settings(store: Any) -> Iterator[None]:
    """While a pull writes, SQLite checkpoints its log past ``PULL_CHECKPOINT_PAGES``
    pages, not its default 1,000, and keeps up to ``PULL_CACHE_KIB`` of pages, not its
    default 2 MB (connection settings: durability is the same; both restored after)."""
    with store.lock:
        conn = store.connection
        old = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        old_cache = int(conn.execute("PRAGMA cache_size").fetchone()[0])
        conn.execute(f"PRAGMA wal_autocheckpoint = {PULL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA cache_size = -{PULL_CACHE_KIB}")
    try:
        yield
    finally:
        with store.lock:
            conn.execute(f"PRAGMA wal_autocheckpoint = {old}")
            conn.execute(f"PRAGMA cache_size = {old_cache}")


def _lazy(res: Resource) -> bool:
    return isinstance(res, LazyResource)


def _pull_batch(run: RunContext, ent: EntityPass, batch: list[Resource], *,
                final: bool) -> None:
    """Apply a batch of pulled records in one transaction, with the cursor (each record
    in its own savepoint, so one bad record does not undo the others)."""
    crm_first: list[Callable[[WriteQueue], None]] = []
    # A record read twice (the walk re-reads a boundary second) counts once, as read last.
    unique = list({res.id: res for res in batch}.values())
    with run.batch():
        ent.batch_links = run.state.links_by_crm(ent.entity, [r.id for r in unique])
        try:
            prefetch(run, ent, unique)
            for res in unique:
                deferred = pull_record(run, ent, res, batched=True)
                if deferred is not None:
                    crm_first.append(deferred)
            create_new_records(run, ent)
            link_matched(run, ent)
        finally:
            ent.batch_links, ent.new_records, ent.matched = None, {}, []
            ent.batch_canonical, ent.batch_slots, ent.batch_items = {}, {}, {}
            ent.batch_found = {}
            ent.handed_local = {}

        def advance_cursor() -> None:
            last = batch[-1]
            cur = run.state.cursor(ent.entity)
            if last.updated_at:
                cur.crm_updated_at = _cursor_after(run, last) if final else last.updated_at
                cur.crm_id = ""
            run.state.put_cursor(cur)
            ent.cursor = cur

        run.commit(advance_cursor)
    # Pairs whose merge writes the CRM too run outside the batch transaction (no HTTP
    # inside a held write lock), their CRM writes a few at a time (``writes``); each pair's
    # local half follows its CRM half, in order.
    if crm_first:
        with WriteQueue(run, ent, side="crm") as queue:
            for queue_pair in crm_first:
                queue_pair(queue)


def _cursor_after(run: RunContext, last: Resource) -> str:
    """The changed-since position after ``last`` (read from ``updatedAt >= it``).

    updatedAt has one-second resolution: a record may change again within the second t
    of the last record read, keeping the same stamp. While that second may still be
    open, the cursor stays at t and the next run re-reads the whole second (comparing
    with the base, so nothing is written twice). Once the server's clock (the Date of
    the answer just read) is two seconds past t, no write can carry t any more: the
    cursor moves to t + 1 s, so a run after a run re-reads nothing.
    """
    stamp = str(last.updated_at)
    try:
        if shifted(run.crm.server_time(), 0) >= shifted(stamp, 2):
            return shifted(stamp, 1)
    except (ValueError, CrmError):
        pass
    return stamp


def pull_record(run: RunContext, ent: EntityPass, res: Resource, *, reason: str = "",
                batched: bool = False) -> Callable[[WriteQueue], None] | None:
    """Plan (and apply) what one pulled CRM record needs. ``batched`` (inside a pulled
    batch's transaction): a new record waits in ``ent.new_records`` to be inserted with the
    batch's others, and a pair that needs a CRM write is returned as a callable to run
    after the batch commits."""
    if not run.visible(ent, res) or skipped(run, ent, res):
        return None
    crm = ent.batch_canonical.pop(res.id, None)   # mapped by ``prefetch``
    if crm is None:
        try:
            crm = mapping.from_crm_once(ent.entity, res)
        except MappingError as exc:
            run.record_error(ent, side="crm", ref=res.id, item_id=None, crm_id=res.id,
                             name=res.id, exc=exc)
            return None
    name = mapping.display_name(ent.entity, crm)
    if ent.batch_links is not None:
        link = ent.batch_links.get(res.id)
    else:
        link = run.state.link_by_crm(ent.entity, res.id)
    item = run.store.get(link.item_id) if link else None
    if link is not None and item is None:
        if ent.cfg.pulls:
            _recreate(run, ent, res, crm, name, reason or "recreated: deleted locally")
        return None
    base = effective_base(run, ent, link.base if link else None, crm, res.id,
                          link.item_id if link else None)
    if item is None:
        # Not linked: an unlinked item holding this crm_id, else one with the same key.
        item = local_match(run, ent, crm, res.id, own_uid(ent, res),
                           exact=getattr(res, "local_text", None))
        if item is None:
            _create_new(run, ent, res, crm, name, batched=batched)
            return None
        if item.id in ent.own_creates:
            # The record a killed run's create made: what that create sent is the base
            # (a local edit since then is not overwritten as if the pair were new).
            base = effective_base(run, ent, None, crm, res.id, item.id)
    if item.id in ent.handled:
        return None
    ent.handled.add(item.id)
    return _pull_pair(run, ent, res, crm, name, item, link, base, batched=batched)


def _recreate(run: RunContext, ent: EntityPass, res: Resource, crm: Canonical, name: str,
              reason: str) -> None:
    """A linked record whose local item is gone: created again from the CRM."""
    action = CreateLocal(ent.entity, name, crm_id=res.id, canonical=crm,
                         names=ent.names(create=True, to_local=True),
                         crm_updated_at=res.updated_at, reason=reason)
    if run.admit(action):
        attempt(run, ent, action, side="crm", ref=res.id, item_id=None)


def _create_new(run: RunContext, ent: EntityPass, res: Resource, crm: Canonical, name: str,
                *, batched: bool) -> None:
    """A CRM record with no partner: a new local item (with its batch's others)."""
    action = CreateLocal(ent.entity, name, crm_id=res.id, canonical=crm,
                         names=ent.names(create=True, to_local=True),
                         crm_updated_at=res.updated_at, fresh=True)
    if not run.admit(action):
        return
    if batched:
        ent.new_records[res.id] = action
    else:
        # store.add is atomic by itself: no savepoint of our own is needed.
        attempt(run, ent, action, side="crm", ref=res.id, item_id=None, savepoint=False)


def _pull_pair(run: RunContext, ent: EntityPass, res: Resource, crm: Canonical, name: str,
               item: Any, link: Link | None, base: Canonical | None, *,
               batched: bool) -> Callable[[WriteQueue], None] | None:
    """Merge a pulled record with its local partner; returns what queues the pair's writes
    after the batch when they include a CRM write (``batched``), else runs them now."""
    local = ent.handed_local.pop(item.id, None)   # mapped by ``local_match``
    if local is None:
        try:
            local = run.from_local(ent.entity, item.fields)
        except MappingError as exc:
            run.record_error(ent, side="crm", ref=res.id, item_id=item.id, crm_id=res.id,
                             name=name, exc=exc)
            return None
    if link is not None and base is not None and all(
            local.get(n) == base.get(n) == crm.get(n) for n in ent.active):
        # The boundary re-read or our own write: nothing changed. A base corrected for a
        # killed run's write is committed now (and that write forgotten): left stale, it
        # would make the user's next edit look like a conflict with the CRM.
        if base != link.base or in_flight(run, ent, res.id, item.id):
            run.settle_base(ent, item.id, res.id, base, res.updated_at, link.synced_rev)
        return None
    # An event where the user is only an attendee comes from the CRM but is never sent.
    read_only = mapping.crm_read_only(ent.entity, res)
    one_way = ent.cfg.direction == Direction.CRM_TO_LOCAL or read_only
    decision = merge(Direction.CRM_TO_LOCAL if one_way else Direction.BOTH, ent.cfg.policy,
                     ent.rows, local, crm, base)
    defer_push = bool(decision.to_crm) and _pushes_later(run, ent, item)
    if defer_push:
        # Those fields keep their old base, so the next push still sees them as changed
        # locally (and decides them then).
        for f in decision.to_crm:
            decision.base[f] = base.get(f) if base is not None else crm.get(f)
        decision.conflicts = [c for c in decision.conflicts if c.winner != "local"]
        decision.to_crm = {}
    actions = _pair_actions(ent, res, crm, name, item, link, decision, defer_push=defer_push)
    if not actions and link is not None and (
            decision.base != link.base or in_flight(run, ent, res.id, item.id)):
        # Nothing to write on either side, but the base moved (a one-way row, a killed
        # run's write recognised): keep it.
        run.settle_base(ent, item.id, res.id, decision.base, res.updated_at, link.synced_rev)
    todo = [a for a in actions if run.admit(a)]
    if not todo:
        if read_only:
            ent.handled.discard(item.id)  # the push says why its local edits stay local
        return None

    def apply_pair() -> None:
        for a in todo:
            if not attempt(run, ent, a, side="crm", ref=res.id, item_id=item.id):
                return  # the local half must not record a base the CRM does not hold

    if batched and any(isinstance(a, UpdateRemote) for a in todo):
        return partial(_queue_pair, todo, item.id, res.id)
    link_only = _plain_link(ent, todo, item) if batched else None
    if link_only is not None:
        ent.matched.append((link_only, item))  # linked with the batch's others
        return None
    apply_pair()
    return None


def _queue_pair(todo: list[Action], item_id: str, crm_id: str, queue: WriteQueue) -> None:
    queue.pair(todo, item_id=item_id, ref=crm_id)


def _plain_link(ent: EntityPass, todo: list[Action], item: Any) -> LinkLocal | None:
    """The link of a pair matched by key whose only write is that local link, with no
    conflict to report and no earlier create or crm_id of its own (the bulk case of a first
    sync into a full address book); None for any other pair."""
    action = todo[0] if len(todo) == 1 else None
    if (isinstance(action, LinkLocal) and not action.conflicts and not item.crm_id
            and item.id not in ent.own_creates):
        return action
    return None


def _pushes_later(run: RunContext, ent: EntityPass, item: Any) -> bool:
    """Whether a pulled pair's local changes wait for a push instead of going to the CRM
    now: a pull-only pass, a change the user dropped from the queue, or an item the user
    took out of a "selected" sync write nothing to the CRM."""
    return (ent.phase == "pull" or run.held_revs(ent.entity).get(item.id) == item.rev
            or (run.settings.sync_type == "selected" and not item.crm_sync))


def _pair_actions(ent: EntityPass, res: Resource, crm: Canonical, name: str, item: Any,
                  link: Link | None, decision: Merge, *, defer_push: bool) -> list[Action]:
    """The writes ``decision`` needs: the CRM half first, then the local half (which
    records the base; the CRM half does when it is the only one)."""
    actions: list[Action] = []
    local_half = bool(decision.to_local) or link is None
    if decision.to_crm:
        actions.append(UpdateRemote(
            ent.entity, name, item_id=item.id, crm_id=res.id, values=decision.to_crm,
            canonical={**crm, **decision.to_crm}, current=res,
            base=None if local_half else decision.base,
            conflicts=[] if local_half else decision.conflicts))
    if local_half or (not decision.to_crm and decision.conflicts):
        kind = LinkLocal if link is None else UpdateLocal
        actions.append(kind(
            ent.entity, name, item_id=item.id, crm_id=res.id, values=decision.to_local,
            base=decision.base, crm_updated_at=res.updated_at, conflicts=decision.conflicts,
            defer_push=defer_push))
    return actions
