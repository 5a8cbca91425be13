"""Step 5, the push: local items changed since the watermark, compared with the base.

Changed items are read in batches of ``PUSH_BATCH``; the linked ones' CRM records are looked
up together (``filter[id]``) and each pair merged. An unlinked item is created in the CRM,
preceded by a committed intent so that a killed run never creates a record twice
(``matching.remote_match`` finds the record such a create made).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from ..crm import Resource
from . import mapping
from .actions import Action, CreateRemote, DeleteLocal, LinkRemote, UpdateLocal, UpdateRemote
from .apply import apply, skipped
from .config import Direction
from .context import EntityPass, RunContext
from .mapping import Canonical, MappingError
from .matching import effective_base, in_flight, remote_match
from .merge import merge
from .report import Flow
from .state import Link
from .writes import WriteQueue

PUSH_BATCH = 100   # local items per CRM look-up (filter[id]=…)


def push(run: RunContext, ent: EntityPass) -> None:
    """Push what changed locally since the watermark (items that failed last time first)."""
    watermark = 0 if ent.first and not ent.cursor.local_rev else ent.cursor.local_rev
    ceiling = run.store.max_rev()
    retry_ids = run.state.pending(ent.entity, "local")
    seen: set[str] = set()
    batch: list[Any] = []
    done = 0
    for item in _changed_items(run, ent, retry_ids, watermark):
        if item.id in seen:
            continue
        seen.add(item.id)
        batch.append(item)
        if len(batch) >= PUSH_BATCH:
            done += len(batch)
            _push_batch(run, ent, batch)
            run.progress(ent.entity, done, "sending local changes")
            batch = []
    if batch:
        done += len(batch)
        _push_batch(run, ent, batch)
        run.progress(ent.entity, done, "sending local changes")

    def advance_watermark() -> None:
        cur = run.state.cursor(ent.entity)
        # Everything up to the revision current at the start was read; writes made since
        # (ours included) are met next time and compared with the base.
        cur.local_rev = max(cur.local_rev, ceiling)
        run.state.put_cursor(cur)
        ent.cursor = cur

    run.commit(advance_watermark)


def _changed_items(run: RunContext, ent: EntityPass, retry_ids: list[str],
                   watermark: int) -> Iterator[Any]:
    """The items to retry, then those changed since ``watermark``."""
    for item_id in retry_ids:
        item = run.store.get(item_id)
        if item is None:
            _clear_pending_local(run, ent, item_id)
            continue
        yield item
    # Items this run wrote or linked already are passed over unread.
    yield from run.store.changed_since(ent.entity, watermark, skip=ent.handled)


def _clear_pending_local(run: RunContext, ent: EntityPass, item_id: str) -> None:
    if run.state.pending(ent.entity, "local"):
        run.commit(lambda: run.state.clear_pending(ent.entity, "local", item_id))


def _push_batch(run: RunContext, ent: EntityPass, batch: list[Any]) -> None:
    updates, creates = _sort_out(run, ent, batch)
    # The batch's CRM writes go a few at a time; everything local is applied in order.
    with WriteQueue(run, ent) as queue:
        if updates:
            _push_updates(run, ent, updates, queue)
        if creates:
            _push_creates(run, ent, creates, queue)
    run.collect_young()


def _sort_out(run: RunContext, ent: EntityPass, batch: list[Any]
              ) -> tuple[list[tuple[Any, Canonical, Link | None]], list[tuple[Any, Canonical]]]:
    """The batch's items with a local change to send: pairs to update (or items holding a
    crm_id, to adopt or delete) and items to create."""
    selected = run.settings.sync_type == "selected"
    updates: list[tuple[Any, Canonical, Link | None]] = []
    creates: list[tuple[Any, Canonical]] = []
    held = run.held_revs(ent.entity)
    for item in batch:
        if item.id in ent.handled or (selected and not item.crm_sync):
            continue
        if held.get(item.id) == item.rev:
            continue  # dropped from the queue by the user (until it changes again)
        link = run.state.link_by_item(item.id)
        if link is not None and item.rev == link.synced_rev:
            continue  # our own write, already in the base
        try:
            local = run.from_local(ent.entity, item.fields)
        except MappingError as exc:
            run.record_error(ent, side="local", ref=item.id, item_id=item.id,
                             crm_id=item.crm_id, name=item.display_name, exc=exc)
            continue
        if link is not None:
            # Unchanged since the base, unless a killed run's write may have changed the
            # CRM (the pair then needs a look at the CRM record).
            if all(local.get(n) == link.base.get(n) for n in ent.names(
                    create=False, to_local=False)) and not in_flight(
                        run, ent, link.crm_id, item.id):
                _clear_pending_local(run, ent, item.id)
                continue  # no mapped field changed locally
            updates.append((item, local, link))
        elif item.crm_id:
            updates.append((item, local, None))  # holds a crm_id: adopt or delete
        else:
            creates.append((item, local))
    return updates, creates


def _push_updates(run: RunContext, ent: EntityPass,
                  updates: list[tuple[Any, Canonical, Link | None]], queue: WriteQueue) -> None:
    ids = [link.crm_id if link else item.crm_id for item, _local, link in updates]
    current = run.fetch(ent, ids)
    for item, local, link in updates:
        crm_id = link.crm_id if link else item.crm_id
        ent.handled.add(item.id)
        res = current.get(crm_id)
        if res is None:
            # Local → CRM and Both: "crm_id no longer in the CRM → deleted locally".
            action = DeleteLocal(ent.entity, item.display_name, item_id=item.id,
                                 crm_id=crm_id, reason="no longer in the CRM")
            if run.admit(action):
                queue.later(partial(apply, run, ent, action))
            continue
        _push_pair(run, ent, item, local, res, link, queue)


def _push_pair(run: RunContext, ent: EntityPass, item: Any, local: Canonical, res: Resource,
               link: Link | None, queue: WriteQueue) -> None:
    """Merge one pair and queue its writes (the CRM half first)."""
    name = item.display_name
    if mapping.skip_reason(ent.entity, res) is not None:
        queue.later(partial(skipped, run, ent, res, item=item, link=link))
        return
    try:
        crm = mapping.from_crm(ent.entity, res)
    except MappingError:
        crm = {}  # a malformed CRM value is overwritten by the local one
    direction = Direction.LOCAL_TO_CRM if ent.cfg.direction == Direction.LOCAL_TO_CRM \
        else Direction.BOTH
    read_only = mapping.crm_read_only(ent.entity, res)
    if read_only:
        # Only an attendee: local edits stay local (never sent); CRM changes still come.
        direction = Direction.CRM_TO_LOCAL
    base = effective_base(run, ent, link.base if link else None, crm, res.id, item.id)
    decision = merge(direction, ent.cfg.policy, ent.rows, local, crm, base)
    actions: list[Action] = []
    if decision.to_crm or link is None:
        kind = UpdateRemote if link else LinkRemote
        actions.append(kind(ent.entity, name, item_id=item.id, crm_id=res.id,
                            values=decision.to_crm, canonical={**crm, **decision.to_crm},
                            current=res, base=None if decision.to_local else decision.base,
                            conflicts=[] if decision.to_local else decision.conflicts))
    if decision.to_local:
        actions.append(UpdateLocal(ent.entity, name, item_id=item.id, crm_id=res.id,
                                   values=decision.to_local, base=decision.base,
                                   crm_updated_at=res.updated_at,
                                   conflicts=decision.conflicts))
    if not actions:
        said = read_only and any(local.get(n) != crm.get(n)
                                 for n in ent.names(create=False, to_local=False))
        base = decision.base
        queue.later(partial(run.commit, lambda: _record_unchanged(run, ent, item, res, base,
                                                                  attendee=said)))
        return
    queue.pair([a for a in actions if run.admit(a)], item_id=item.id, ref=item.id)


def _record_unchanged(run: RunContext, ent: EntityPass, item: Any, res: Resource,
                      base: Canonical, *, attendee: bool) -> None:
    """A pair with nothing to write: its new base and revision (and, for an event whose
    user is only an attendee, why the local changes stay local)."""
    run.state.put_link(ent.entity, item.id, res.id, base, res.updated_at, item.rev)
    run.state.clear_pending(ent.entity, "local", item.id)
    if attendee:
        # Said once per local change (the item's revision is recorded above).
        run.report(ent, item_id=item.id, crm_id=res.id, name=item.display_name,
                   action="skipped", direction=Flow.LOCAL_TO_CRM, status="skipped",
                   message="only an attendee of this event: local changes are "
                           "kept on this computer and not sent to the CRM")


def _push_creates(run: RunContext, ent: EntityPass, creates: list[tuple[Any, Canonical]],
                  queue: WriteQueue) -> None:
    intents = run.state.intents(ent.entity)
    # A Local → CRM first sync links by key ("local values replace CRM") instead of creating.
    first_local_to_crm = ent.first and ent.cfg.direction == Direction.LOCAL_TO_CRM
    for item, local in creates:
        ent.handled.add(item.id)
        res = None
        if first_local_to_crm or item.id in intents:
            if ent.remote_index is None:
                # The CRM's records are read once per pass for these look-ups: after the
                # writes queued so far, as a push one pair at a time reads them.
                queue.flush()
            res = remote_match(run, ent, local, intents,
                               own=item.id if item.id in intents else None)
        if res is not None:
            _push_pair(run, ent, item, local, res, None, queue)
            continue
        action = CreateRemote(ent.entity, item.display_name, item_id=item.id,
                              canonical=local, names=ent.names(create=True, to_local=False))
        if run.admit(action):
            queue.pair([action], item_id=item.id, ref=item.id)
