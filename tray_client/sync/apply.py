"""Applying planned actions: one function per kind of action (``APPLY``).

Each function commits its item write together with its sync state (link, base, pending,
report row) in one store transaction, so a run killed at any instant loses nothing and the
next run converges. ``attempt`` turns a record-level failure into a report row and a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from itertools import pairwise
from typing import Any

from ..crm import Resource
from ..errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServerError,
    StoreError,
    ValidationError,
)
from ..store import LocalStore
from . import mapping
from .actions import (
    Action,
    CreateLocal,
    CreateRemote,
    DeleteLocal,
    ForgetLink,
    LinkLocal,
    LinkRemote,
    UpdateLocal,
    UpdateRemote,
)
from .config import RowDirection
from .context import EntityPass, RunContext
from .mapping import Canonical, MappingError
from .report import Flow
from .state import Link, SyncState

log = logging.getLogger(__name__)

# Items ``write_links`` writes a transaction (each commit holds the store's write lock:
# ~40 ms for 10,000 here, so the GUI's edits wait at most that long).
WRITE_LINKS_CHUNK = 10000
# A batch of pairs whose items come in the store's order this much of the time is linked
# with its batch; any other leaves its plain links to the pass at the end (``link_matched``).
IN_ORDER_SHARE = 0.9

# Errors that concern one record: reported and retried, never stopping the run.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError, ConflictError, ForbiddenError, NotFoundError, ServerError, MappingError,
    StoreError)


def apply(run: RunContext, ent: EntityPass, action: Action) -> None:
    """Apply one action (raises what its kind raises)."""
    APPLY[type(action)](run, ent, action)


def attempt(run: RunContext, ent: EntityPass, action: Action, *, side: str, ref: str,
            item_id: str | None, savepoint: bool = True) -> bool:
    """Apply one action; a record-level failure becomes a report row and a retry (False).

    ``savepoint``: inside a pulled batch's transaction, the action gets a savepoint of its
    own, so that its failure undoes only its own writes.
    """
    run.check_cancel()
    try:
        if savepoint and run.store.connection.in_transaction:
            with run.store.transaction():  # a savepoint inside the batch
                apply(run, ent, action)
        else:
            apply(run, ent, action)
        return True
    except RECORD_ERRORS as exc:
        crm_id = ref if side == "crm" else None
        run.record_error(ent, side=side, ref=ref, item_id=item_id, crm_id=crm_id,
                         name=action.name, exc=exc)
        return False


def skipped(run: RunContext, ent: EntityPass, res: Resource, *, item: Any = None,
            link: Link | None = None) -> bool:
    """A record left untouched on both sides (a recurring event): listed in the report as
    skipped each time it is met. A pushed item's revision is recorded as handled (its
    base kept), so an unchanged item is not met again at every push."""
    reason = mapping.skip_reason(ent.entity, res)
    if reason is None:
        return False

    def keep() -> None:
        name = item.display_name if item is not None else str(
            res.attributes.get("title") or res.attributes.get("subject") or res.id)
        if item is not None and link is not None:
            run.state.put_link(ent.entity, item.id, res.id, link.base,
                               link.crm_updated_at, item.rev)
        if item is not None:
            run.state.clear_pending(ent.entity, "local", item.id)
        run.state.clear_pending(ent.entity, "crm", res.id)
        run.report(ent, item_id=item.id if item is not None else None, crm_id=res.id,
                   name=name, action="skipped",
                   direction=Flow.LOCAL_TO_CRM if item is not None else Flow.CRM_TO_LOCAL,
                   status="skipped", message=reason)

    run.commit(keep)
    return True


# -- local writes ------------------------------------------------------------------------------

def delete_local(run: RunContext, ent: EntityPass, action: DeleteLocal) -> None:
    with run.store.transaction():
        if run.store.get(action.item_id) is not None:
            run.store.delete(action.item_id, reason="sync_delete", run_id=run.result.run_id)
            run.count(ent.entity, "local", "deleted")
        if action.crm_id:
            run.state.drop_link(ent.entity, action.crm_id)
        run.state.clear_pending(ent.entity, "local", action.item_id)
        run.report(ent, item_id=action.item_id, crm_id=action.crm_id, name=action.name,
                   action="deleted", direction=Flow.CRM_TO_LOCAL, message=action.reason)


def forget_link(run: RunContext, ent: EntityPass, action: ForgetLink) -> None:
    with run.store.transaction():
        run.state.drop_link(ent.entity, action.crm_id)
        run.report(ent, item_id=action.item_id, crm_id=action.crm_id, name=action.name,
                   action="unlinked", direction=Flow.CRM_TO_LOCAL, message=action.reason)


def create_local(run: RunContext, ent: EntityPass, action: CreateLocal) -> None:
    fields = mapping.to_local(ent.entity, action.canonical, action.names, drop_empty=True)
    # A transaction of its own, unless one (or a savepoint of the batch) is already open.
    own = nullcontext() if run.store.connection.in_transaction else run.store.transaction()
    with own:
        # A fresh record (no link, no item holding its id: known from the pull's index)
        # needs no look-ups; the first sync of a large CRM is made of these.
        old = None if action.fresh else run.state.link_by_crm(ent.entity, action.crm_id)
        holder = None if action.fresh else run.store.find_by_crm_id(ent.entity, action.crm_id)
        if holder is not None:
            # A stale item still holds this crm_id (its link is gone): it would block the
            # new item; it goes to the trash, as on a first sync.
            run.store.delete(holder.id, reason="sync_delete", run_id=run.result.run_id)
        item = run.store.add(ent.entity, fields, crm_sync=True, crm_id=action.crm_id)
        if old is not None:
            run.state.drop_link(ent.entity, action.crm_id)
        base = _base_after_create(run, ent, action.canonical, item)
        run.state.put_link(ent.entity, item.id, action.crm_id, base, action.crm_updated_at,
                           item.rev)
        run.state.clear_pending(ent.entity, "crm", action.crm_id)
        run.count(ent.entity, "local", "created")
        run.report(ent, item_id=item.id, crm_id=action.crm_id, name=action.name,
                   action="created", direction=Flow.CRM_TO_LOCAL, message=action.reason)
    ent.handled.add(item.id)


def create_new_records(run: RunContext, ent: EntityPass) -> None:
    """Create the local items of the batch's new CRM records (``ent.new_records``) with one
    store call and their links and report rows with one statement each: the first sync
    of a large CRM is made of these. A record the store refuses (a bad value) is reported
    and retried next run like any other; should the bulk write itself fail, each record
    is created on its own."""
    actions = list(ent.new_records.values())
    ent.new_records = {}
    if not actions:
        return
    entries: list[Any] = []
    for a in actions:
        clean = mapping.new_local_fields(ent.entity, a.canonical, a.names)
        entries.append(
            (mapping.to_local(ent.entity, a.canonical, a.names, drop_empty=True), a.crm_id)
            if clean is None else (clean, a.crm_id, True))
    local_only = _local_only_rows(ent)
    active = ent.active
    try:
        with run.store.transaction():  # a savepoint of the batch
            results = run.store.add_many(ent.entity, entries, crm_sync=True)
            # The links and report rows of the items created, in one pass.
            created: list[str] = []
            links: list[tuple[str, str, Canonical, str | None, int]] = []
            report: list[tuple[str | None, str | None, str, str, str, str]] = []
            for a, item in zip(actions, results, strict=True):
                if isinstance(item, StoreError):
                    continue
                crm = a.canonical
                base = (_base_after_create(run, ent, crm, item, local_only) if local_only
                        else {n: crm.get(n) for n in active})
                created.append(item.id)
                links.append((item.id, a.crm_id, base, a.crm_updated_at, item.rev))
                report.append((item.id, a.crm_id, a.name, "created", Flow.CRM_TO_LOCAL,
                               a.reason))
                run.state.clear_pending(ent.entity, "crm", a.crm_id)
            run.state.put_links(ent.entity, links)
            run.state.add_report_rows(run.result.run_id, ent.entity, report)
    except StoreError:
        log.warning("Bulk insert of %d new %s failed; creating them one by one",
                    len(actions), ent.entity, exc_info=True)
        for a in actions:
            attempt(run, ent, a, side="crm", ref=a.crm_id, item_id=None)
        return
    run.result.counts[ent.entity]["local"]["created"] += len(created)
    ent.handled.update(created)
    for a, r in zip(actions, results, strict=True):
        if isinstance(r, StoreError):
            run.record_error(ent, side="crm", ref=a.crm_id, item_id=None, crm_id=a.crm_id,
                             name=a.name, exc=r)


def link_matched(run: RunContext, ent: EntityPass) -> None:
    """Link the batch's pairs matched by key (``ent.matched``: plain links, no conflict)
    with one store call and their links and report rows with one statement each, as
    ``update_local`` links one pair. Should the bulk write fail (an item gone, a bad value),
    each pair is linked on its own.

    Unless the batch's items come in the store's order (``_in_stored_order``), an item
    whose fields stay as they are is written at the end of the pull (``write_links``): its
    link is committed now with the revision reserved for it, and the item's id in
    ``sync_unwritten``, in the same transaction."""
    matched, ent.matched = ent.matched, []
    if not matched:
        return
    later = not _in_stored_order([item.id for _, item in matched])
    try:
        with run.store.transaction():  # a savepoint of the batch
            entries = []
            for action, item in matched:
                fields = None
                if action.values:
                    fields = _with_values(ent.entity, item.fields, action.values)
                    # Local values being replaced are kept in the trash (restorable).
                    run.store.snapshot_to_trash(item, "sync_overwrite", run.result.run_id)
                entries.append((item, action.crm_id, fields))
            items = run.store.link_many(entries, later=later)
            if later:
                ent.unwritten = True
                run.state.add_unwritten(ent.entity, [
                    (item.id, item.crm_id, item.rev) for (_, _, fields), item
                    in zip(entries, items, strict=True) if fields is None])
            run.state.put_links(ent.entity, [
                (item.id, a.crm_id, a.base, a.crm_updated_at, -1 if a.defer_push else item.rev)
                for (a, _), item in zip(matched, items, strict=True)])
            for (a, _), item in zip(matched, items, strict=True):
                run.state.clear_pending(ent.entity, "crm", a.crm_id)
                run.state.clear_pending(ent.entity, "local", item.id)
            run.state.add_report_rows(run.result.run_id, ent.entity, [
                (item.id, a.crm_id, a.name, "linked", Flow.CRM_TO_LOCAL,
                 ", ".join(sorted(a.values)))
                for (a, _), item in zip(matched, items, strict=True)])
    except StoreError:
        log.warning("Bulk link of %d %s failed; linking them one by one", len(matched),
                    ent.entity, exc_info=True)
        for action, item in matched:
            attempt(run, ent, action, side="crm", ref=action.crm_id, item_id=item.id)
        return
    run.result.counts[ent.entity]["local"]["updated"] += sum(1 for a, _ in matched if a.values)


def _in_stored_order(item_ids: list[str]) -> bool:
    """Whether a batch's partners, in the order the CRM sent their records, mostly come in
    the order the store holds them (item ids grow with the time of creation, as the rowids
    do): at least ``IN_ORDER_SHARE`` of neighbours ascending. An address book made from the
    CRM's own records is; one the user made over the years is not. Such a batch's items lie
    on neighbouring pages, and writing them with the batch is cheaper than the pass at the
    end, which runs alone (100,000 demo contacts in the CRM's order, the sync process's CPU:
    `UPDATE`s with their batches 10.6 µs a record, against 2.3 there plus 12.4 in the pass)."""
    if len(item_ids) < 2:
        return True
    ascending = sum(a < b for a, b in pairwise(item_ids))
    return ascending >= IN_ORDER_SHARE * (len(item_ids) - 1)


def write_links(store: LocalStore, state: SyncState, entity: str) -> int:
    """Write the items of the links ``link_matched`` left (``sync_unwritten``), then forget
    them; returns how many.

    Why at the end: a pull comes in the CRM's order, and a store built in another order (a
    user's own address book) has each pulled record's partner on a page of its own. Linking
    each batch's items in its own commit wrote those pages to the log again and again (every
    batch dirtied a page in every few); one pass over all of them in the store's order
    writes each page once. Called at the end of every pull (also one stopped by an error or
    a cancel), and before anything else by the next run (or plan) when a run was killed
    first. A plan (the queue's, in the app's process) may run it while a sync runs in
    another: each writes the rows it read, which is harmless twice, and forgets only those.
    """
    with store.lock:
        rows, last = state.unwritten(entity)   # in item id order: the store's
    for start in range(0, len(rows), WRITE_LINKS_CHUNK):
        store.write_links(rows[start:start + WRITE_LINKS_CHUNK])
    if rows:
        with store.transaction():
            state.drop_unwritten(entity, last)
    return len(rows)


def _local_only_rows(ent: EntityPass) -> list[str]:
    """The active rows that go from local to CRM only."""
    return [r.name for r in ent.rows if r.direction == RowDirection.LOCAL_TO_CRM
            and r.name in ent.active]


def _base_after_create(run: RunContext, ent: EntityPass, crm: Canonical, item: Any,
                       local_only: list[str] | None = None) -> Canonical:
    # The new item holds the CRM's values of every row written; a local→CRM-only row is
    # not written, so its local value is the base.
    if local_only is None:
        local_only = _local_only_rows(ent)
    base = {n: crm.get(n) for n in ent.active}
    if local_only:
        local = run.from_local(ent.entity, item.fields)
        for n in local_only:
            base[n] = local.get(n)
    return base


def _with_values(entity: str, fields: dict[str, Any], values: Canonical) -> dict[str, Any]:
    """``fields`` with the mapped ``values`` written over them (a None value removes)."""
    result = dict(fields)
    for k, v in mapping.to_local(entity, values, list(values)).items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = v
    return result


def update_local(run: RunContext, ent: EntityPass, action: UpdateLocal) -> None:
    linking = isinstance(action, LinkLocal)
    with run.store.transaction():
        item = run.store.get(action.item_id)
        if item is None:
            raise StoreError(f"The local item {action.item_id} disappeared during the sync.")
        fields = None
        if action.values:
            fields = _with_values(ent.entity, item.fields, action.values)
            if linking or action.conflicts:
                # Local values being replaced are kept in the trash (restorable).
                run.store.snapshot_to_trash(item, "sync_overwrite", run.result.run_id)
        if linking or item.crm_id != action.crm_id:
            # One write: the values, the crm_id, and the crm_sync flag (items the CRM
            # links get it; sync type "selected" pushes them).
            item = run.store.link(item.id, action.crm_id, fields=fields)
        elif fields is not None:
            # A linked item keeps its flag: the user may have taken it out of the sync.
            item = run.store.replace_fields(item.id, fields)
        # A deferred push must not look like our own write to the next push (rev -1).
        run.state.put_link(ent.entity, item.id, action.crm_id, action.base,
                           action.crm_updated_at, -1 if action.defer_push else item.rev)
        run.state.clear_pending(ent.entity, "crm", action.crm_id)
        run.state.clear_pending(ent.entity, "local", item.id)
        if linking and item.id in ent.own_creates:
            run.state.drop_intent(item.id)  # its create's record is found: no retry
        if action.values:
            run.count(ent.entity, "local", "updated")
        run.report(ent, item_id=item.id, crm_id=action.crm_id, name=action.name,
                   action="linked" if linking else "updated", direction=Flow.CRM_TO_LOCAL,
                   message=", ".join(sorted(action.values)), conflicts=action.conflicts)


# -- CRM writes --------------------------------------------------------------------------------

def update_remote(run: RunContext, ent: EntityPass, action: UpdateRemote) -> None:
    res = prepare_update_remote(run, ent, action)()
    assert res is not None
    finish_update_remote(run, ent, action, res)


def prepare_update_remote(run: RunContext, ent: EntityPass, action: UpdateRemote, *,
                          unread: bool = False) -> Callable[[], Resource | None]:
    """The CRM half of ``action`` up to its request: the write is built and its values are
    committed as a write in flight (on the sync's thread); returns the request, which only
    talks to the CRM and so may run on another thread (``writes.WriteQueue``). ``unread``:
    the request answers None where the CRM's answer is not the record (an event's PUT):
    the caller reads it back (``CrmClient.read_back``)."""
    if not action.values:
        current: Resource = action.current
        return lambda: current
    write = mapping.to_crm(ent.entity, action.canonical, list(action.values),
                           action.current, regions=run.lookups.regions)
    # Remember what is being written: if the run dies before the new base is
    # committed, the next run recognises these values as its own, not as CRM edits.
    with run.store.transaction():
        run.state.put_write(ent.entity, action.crm_id, action.values)
    send = run.crm.update_unread if unread else run.crm.update
    crm_type, crm_id, current = ent.crm_type, action.crm_id, action.current
    return lambda: send(crm_type, crm_id, write.attributes, write.relationships or None,
                        write.included or None, current=current)


def finish_update_remote(run: RunContext, ent: EntityPass, action: UpdateRemote,
                         res: Resource) -> None:
    """After the CRM applied ``action`` (``res``: the record as it stored it): the count,
    and the new base when no local half follows."""
    linking = isinstance(action, LinkRemote)
    if action.values:
        run.count(ent.entity, "crm", "updated")
    if action.base is None and not linking:
        return  # the local half of the pair records the base
    with run.store.transaction():
        item = run.store.get(action.item_id)
        if item is None:
            raise StoreError(f"The local item {action.item_id} disappeared during the sync.")
        if item.crm_id != action.crm_id:
            run.store.set_crm_id(item.id, action.crm_id)
            item = run.store.get(item.id)
        if action.base is None:
            base = _base_after_remote(run, ent, res, item)
        else:
            base = _settle(run, ent, res, item, action.base)
        item = run.store.get(action.item_id)
        assert item is not None
        run.state.put_link(ent.entity, item.id, action.crm_id, base, res.updated_at, item.rev)
        run.state.drop_intent(item.id)
        run.state.clear_pending(ent.entity, "local", item.id)
        run.report(ent, item_id=item.id, crm_id=action.crm_id, name=action.name,
                   action="linked" if linking else "updated", direction=Flow.LOCAL_TO_CRM,
                   message=", ".join(sorted(action.values)), conflicts=action.conflicts)


def _settle(run: RunContext, ent: EntityPass, res: Resource, item: Any,
            base: Canonical) -> Canonical:
    """After a CRM write: if the CRM stored a value other than the one sent (a default,
    a normalisation), take it on both sides so the next sync has nothing to do."""
    try:
        stored = mapping.from_crm(ent.entity, res)
    except MappingError:
        return base
    fix = {r.name: stored.get(r.name) for r in ent.rows
           if r.to_local and r.name in base and stored.get(r.name) != base[r.name]
           and r.direction != RowDirection.LOCAL_TO_CRM}
    if fix:
        local_now = run.from_local(ent.entity, item.fields)
        if any(local_now.get(k) != v for k, v in fix.items()):
            run.store.replace_fields(item.id, _with_values(ent.entity, item.fields, fix))
        base = {**base, **fix}
    return base


def _base_after_remote(run: RunContext, ent: EntityPass, res: Resource,
                       item: Any) -> Canonical:
    local = run.from_local(ent.entity, item.fields)
    base = {n: local.get(n) for n in ent.active}
    return _settle(run, ent, res, item, base)


def create_remote(run: RunContext, ent: EntityPass, action: CreateRemote) -> None:
    finish_create_remote(run, ent, action, prepare_create_remote(run, ent, action)())


def prepare_create_remote(run: RunContext, ent: EntityPass, action: CreateRemote
                          ) -> Callable[[], Resource]:
    """The create up to its request: the record is built and the create's intent committed
    (on the sync's thread); returns the request, which may run on another thread."""
    item_id = action.item_id
    # Built first: a record Oro would refuse (an address without a country …) is a
    # MappingError for this item, with no intent left behind.
    calendar = run.lookups.calendar_id() if ent.entity == "events" else ""
    write = mapping.to_crm(ent.entity, action.canonical, action.names, None,
                           calendar_id=calendar or None, regions=run.lookups.regions)
    if ent.entity == "events":
        # The event's uid is the item's id: a create whose answer was lost is recognised
        # by it even when its key fields were edited in the CRM since (``matching.own_uid``).
        write.attributes["uid"] = item_id
    # The intent is committed before the request: if the answer is lost (killed, network),
    # the next run looks for the record by key before creating it again.
    when = run.crm.server_time()
    with run.store.transaction():
        run.state.add_intent(ent.entity, item_id, when)
        run.state.put_write(ent.entity, f"item:{item_id}",
                            {n: action.canonical.get(n) for n in action.names})
    crm, crm_type = run.crm, ent.crm_type
    return lambda: crm.create(crm_type, write.attributes, write.relationships or None,
                              write.included or None)


def finish_create_remote(run: RunContext, ent: EntityPass, action: CreateRemote,
                         res: Resource) -> None:
    """After the CRM created the record ``res``: the item's crm_id, link and base."""
    item_id = action.item_id
    with run.store.transaction():
        current = run.store.get(item_id)
        if current is None:
            # Deleted locally while we were creating: keep the CRM record (local
            # deletions never delete in the CRM) and forget nothing: no link to make.
            run.state.drop_intent(item_id)
            return
        run.store.set_crm_id(item_id, res.id)
        current = run.store.get(item_id)
        base = _base_after_remote(run, ent, res, current)
        current = run.store.get(item_id)
        run.state.put_link(ent.entity, item_id, res.id, base, res.updated_at,
                           current.rev if current else 0)
        run.state.drop_intent(item_id)
        run.state.clear_pending(ent.entity, "local", item_id)
        run.count(ent.entity, "crm", "created")
        run.report(ent, item_id=item_id, crm_id=res.id, name=action.name,
                   action="created", direction=Flow.LOCAL_TO_CRM)


APPLY: dict[type[Action], Callable[[RunContext, EntityPass, Any], None]] = {
    DeleteLocal: delete_local,
    ForgetLink: forget_link,
    CreateLocal: create_local,
    UpdateLocal: update_local,
    LinkLocal: update_local,
    CreateRemote: create_remote,
    UpdateRemote: update_remote,
    LinkRemote: update_remote,
}
