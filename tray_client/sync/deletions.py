"""Steps 1-3 of an entity's pass: deletions, before anything is pulled or pushed.

1. first sync / resync: unlinked local items that carry a ``crm_id`` are deleted (into the
   trash) — the seed's "records with a non-empty OroCRM_id are deleted first";
2. records deleted in the CRM (a removals feed where the CRM has one, and the ids check
   below) — behind the deletion guard (``too_many_deletions``) *before* anything is deleted;
3. linked items deleted locally: recreated from the CRM, or the link forgotten.

The rules: docs/sync-rules.md ("Deletions").

Records deleted in the CRM, found without a removals feed (real Oro has none).

Listing every id of a large CRM on every interval sync is what makes a no-op sync slow
(100,000 contacts: a hundred pages). The check here costs one small request instead:

- the CRM's count of records in scope (``X-Include-Total-Count``) is compared with what the
  client expects: the records it holds a link for plus the ``unheld`` ones — records in
  scope it holds no link for (another user's under *selected* sync, records a Local → CRM
  direction never pulls, records that failed to pull), measured at the last full listing;
- equal counts mean nothing linked was removed; any difference (or a server that gives no
  count) means a full ids listing, which also measures ``unheld`` afresh;
- a full listing is also made when one is due anyway: at most every ``RECONCILE_SECONDS``
  (a deletion balanced by a creation among the unheld records keeps the count equal) and on
  demand (a manual sync).

The check runs after the pull, when the records created in the CRM since the last sync are
linked already, so ordinary activity in the CRM does not cost a listing.

It is entity-agnostic: it needs an :class:`IdListing` (a count and the ids of the records in
scope) and the linked ids. ``CrmIdListing`` adapts ``CrmClient``, whose ``count`` and
``iter_ids`` answer for JSON:API types and for Oro's REST calendar events alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..crm import Resource
from ..crm.jsonapi import id_key
from ..errors import DeletionGuardError, IncompatibleServerError
from . import mapping
from .actions import DeleteLocal, ForgetLink
from .apply import apply
from .config import Direction
from .context import EntityPass, RunContext
from .pull import pull_record

RECONCILE_SECONDS = 3600  # a full ids listing at most this often (besides on demand)
GUARD_MIN = 10            # the deletion guard needs more than this many deletions ...
GUARD_SHARE = 0.5         # ... and more than this share of the entity's linked items


class IdListing(Protocol):
    """The CRM side of the check, for one entity in the user's scope."""

    def count(self) -> int | None:
        """How many records are in scope now; None when the server cannot say."""
        ...

    def iter_ids(self) -> Iterable[str]:
        """Every id in scope (none skipped even if records vanish during the walk)."""
        ...


@dataclass(frozen=True)
class CrmIdListing:
    """``IdListing`` over ``CrmClient.count`` / ``CrmClient.iter_ids`` for a JSON:API type."""

    crm: Any
    crm_type: str
    filters: Mapping[str, Any] = field(default_factory=dict)

    def count(self) -> int | None:
        try:
            count: int | None = self.crm.count(self.crm_type, filters=self.filters)
        except IncompatibleServerError:
            return None  # the server does not count: the ids decide
        return count

    def iter_ids(self) -> Iterable[str]:
        ids: Iterable[str] = self.crm.iter_ids(self.crm_type, filters=self.filters)
        return ids


@dataclass(frozen=True)
class DeletionCheck:
    """What the check found.

    ``removed``: linked ids no longer in the CRM. ``listed``: the ids were listed in full
    (the caller records the time). ``unheld``: records in scope the client holds no link
    for, to keep for the next check (None: unknown, the next check lists in full).
    """

    removed: frozenset[str]
    listed: bool
    unheld: int | None
    count: int | None = None


def removed_in_crm(listing: IdListing, *, linked_count: int,
                   linked_ids: Callable[[], set[str]], unheld: int | None,
                   full_due: bool) -> DeletionCheck:
    """Find the linked records that are gone from the CRM, as cheaply as it is safe.

    ``linked_count`` is how many links the client holds; ``linked_ids`` gives them (called
    only when the ids are listed). ``unheld`` comes from the previous check; ``full_due``
    forces a full listing (hourly, on demand). Raises what the listing raises (CrmError).
    """
    count: int | None = None
    if not full_due and unheld is not None:
        count = listing.count()
        if count is not None and count == linked_count + unheld:
            return DeletionCheck(frozenset(), False, unheld, count)
    present = set(listing.iter_ids())
    linked = linked_ids()
    return DeletionCheck(frozenset(linked - present), True, len(present - linked), count)


def unheld_after_first_sync(listing: IdListing, linked_count: int) -> int | None:
    """The baseline right after a first sync, without a listing: its pull has just read
    every record in scope, so whatever the CRM counts beyond the links is unheld."""
    count = listing.count()
    return None if count is None else max(0, count - linked_count)


def too_many_deletions(entity: str, would_delete: int, linked: int, *,
                       force: bool) -> DeletionGuardError | None:
    """The deletion guard: the error to stop the run with when deleting ``would_delete`` of
    ``linked`` items looks like a mistake (more than ``GUARD_MIN`` and more than
    ``GUARD_SHARE`` of them) and the user did not confirm (``force``); else None."""
    if force or would_delete <= GUARD_MIN or would_delete <= GUARD_SHARE * linked:
        return None
    return DeletionGuardError(
        f"This sync would delete {would_delete} of your {linked} linked "
        f"{entity} because they are gone from the CRM. Nothing was deleted. "
        "If this is intended, confirm (or run `tray-client sync --force-delete`).",
        entity=entity, would_delete=would_delete, linked=linked)


# -- 1. first sync -----------------------------------------------------------------------------

def first_sync_deletions(run: RunContext, ent: EntityPass, *, resync: bool) -> None:
    """On a first sync or resync, local items with a non-empty crm_id are
    deleted (into the trash) before CRM records are matched by key. Items linked by an
    earlier, interrupted pass of the same first sync keep their link and are spared
    (docs/sync-rules.md, "First sync and resync")."""
    # (On a resync the links are gone already; a plan must not count them either.)
    linked = {} if resync else run.state.linked_item_ids(ent.entity)
    doomed = [i for i in run.store.crm_ids(ent.entity) if i not in linked]
    reason = "resync" if resync else "first sync: item carries a crm_id"
    for item_id in doomed:
        item = run.store.get(item_id)
        if item is None:
            continue
        action = DeleteLocal(ent.entity, item.display_name, item_id=item.id,
                             crm_id=item.crm_id, reason=reason)
        if run.admit(action):
            apply(run, ent, action)


# -- 2. deleted in the CRM ---------------------------------------------------------------------

def crm_removals(run: RunContext, ent: EntityPass, *, force_delete: bool, started: str) -> None:
    """Step 2: records the CRM's removals feed reports, where it has one (real Oro has
    none: ``ent.feed`` becomes False and ``crm_ids_check`` after the pull decides)."""
    cur = ent.cursor
    removed: set[str] = set()
    newest = cur.removals_since
    if not ent.first:
        try:
            for removal in run.crm.iter_removals(ent.crm_type, cur.removals_since):
                removed.add(removal.id)
                if newest is None or removal.removed_at > newest:
                    newest = removal.removed_at
        except IncompatibleServerError:
            ent.feed = False  # real Oro: no feed; the ids check decides
    if removed:
        removed &= set(run.state.links_by_crm(ent.entity, sorted(removed)))
    _delete_gone(run, ent, removed, force_delete=force_delete)

    def advance_cursor() -> None:
        cur = run.state.cursor(ent.entity)
        cur.removals_since = newest or started
        run.state.put_cursor(cur)
        ent.cursor = cur

    run.commit(advance_cursor)


def crm_ids_check(run: RunContext, ent: EntityPass, *, force_delete: bool) -> None:
    """Step 2b, after the pull: linked records gone from the CRM, found by comparing
    counts and, when they differ or a full look is due, the ids (``removed_in_crm``)."""
    unheld_key = f"crm_unheld:{ent.entity}"
    listing = CrmIdListing(run.crm, ent.crm_type, ent.filters)
    if ent.feed and not ent.full_due and not ent.first:
        return  # the feed told us; the hourly full look is not due
    linked_count = run.state.link_count(ent.entity)
    if not linked_count or (ent.first and not ent.full_due):
        # Nothing linked, nothing to lose; or the first sync's pull has just read
        # everything: either way the count alone gives the baseline.
        check = DeletionCheck(frozenset(), False, unheld_after_first_sync(listing, linked_count))
    else:
        stored = run.state.meta(unheld_key)
        check = removed_in_crm(
            listing, linked_count=linked_count,
            linked_ids=lambda: run.state.linked_crm_ids(ent.entity),
            unheld=int(stored) if stored and stored.isdigit() else None,
            full_due=ent.full_due)
    removed = set(check.removed)
    if removed:
        # A listing read while records changed may miss some (Oro's REST API pages in no
        # order): what looks deleted is looked up by id before anything is deleted.
        # Events: an event moved out of the user's calendar is gone for this user.
        removed -= set(run.fetch(ent, sorted(removed, key=id_key)))
    _delete_gone(run, ent, removed, force_delete=force_delete)

    def keep_check() -> None:
        cur = run.state.cursor(ent.entity)
        if check.listed or ent.first:
            cur.ids_reconciled_at = time.time()
        run.state.put_cursor(cur)
        run.state.set_meta(unheld_key, "" if check.unheld is None else str(check.unheld))
        ent.cursor = cur

    run.commit(keep_check)


def _delete_gone(run: RunContext, ent: EntityPass, removed: set[str], *,
                 force_delete: bool) -> None:
    """Apply "deleted in the CRM" to these linked ids, behind the deletion guard."""
    if not removed:
        return
    # CRM → local keeps the items of deleted records (only the links go): nothing to guard.
    if ent.cfg.direction != Direction.CRM_TO_LOCAL:
        stop = too_many_deletions(ent.entity, len(removed), run.state.link_count(ent.entity),
                                  force=force_delete)
        if stop is not None:
            raise stop
    for crm_id in sorted(removed, key=id_key):
        link = run.state.link_by_crm(ent.entity, crm_id)
        if link is None:
            continue
        item = run.store.get(link.item_id)
        name = item.display_name if item else mapping.display_name(ent.entity, link.base)
        action: ForgetLink | DeleteLocal
        if ent.cfg.direction == Direction.CRM_TO_LOCAL or item is None:
            # CRM → local: "the record stays locally, unchanged": only the
            # link goes; the item keeps its crm_id (docs/sync-rules.md).
            action = ForgetLink(ent.entity, name, item_id=link.item_id, crm_id=crm_id,
                                reason="deleted in the CRM")
        else:
            action = DeleteLocal(ent.entity, name, item_id=link.item_id, crm_id=crm_id,
                                 reason="deleted in the CRM")
        if run.admit(action):
            apply(run, ent, action)


# -- 3. deleted locally ------------------------------------------------------------------------

def local_deletions(run: RunContext, ent: EntityPass) -> None:
    """Links whose local item is gone. Cheap path: the trash entries made since the last
    check; safety net: a full look at the reconciliation interval."""
    if ent.cfg.pulls and ent.phase == "push":
        return  # CRM → local and Both recreate the item: that is the pull's work
    # Every deletion bumps the store's revision: if it has not moved since the last check,
    # no item was deleted and the trash need not be read.
    seen_key = f"local_rev_seen:{ent.entity}"
    rev = str(run.store.max_rev())
    if not ent.full_due and run.state.meta(seen_key) == rev:
        return
    # Trash entries are numbered in the order they are made (never reused): only those
    # after the last check's are new. (Cost: the deletions since then, not the links held.)
    trash_key = f"local_trash_seen:{ent.entity}"
    entries = run.store.trash_entries_after(ent.entity, int(run.state.meta(trash_key) or 0))
    deleted = [item_id for _, item_id, reason in entries if reason != "sync_overwrite"]
    links = run.state.links_by_item(ent.entity, deleted)
    if ent.full_due:
        # The full look is due (hourly, on demand): links whose item is not there at all.
        links.update(run.state.links_without_item(ent.entity))
    gone = {i: crm_id for i, crm_id in links.items() if run.store.get(i) is None}
    if gone:
        _forget_or_recreate(run, ent, {crm_id: i for i, crm_id in gone.items()})

    def remember() -> None:
        run.state.set_meta(seen_key, rev)
        if entries:
            run.state.set_meta(trash_key, str(max(entry for entry, _, _ in entries)))

    run.commit(remember)


def _forget_or_recreate(run: RunContext, ent: EntityPass, by_crm: dict[str, str]) -> None:
    recreate = ent.cfg.pulls
    fetched: dict[str, Resource] = run.fetch(ent, list(by_crm)) if recreate else {}
    for crm_id, item_id in sorted(by_crm.items()):
        link = run.state.link_by_crm(ent.entity, crm_id)
        if link is None:
            continue
        res = fetched.get(crm_id)
        if recreate and res is not None and run.visible(ent, res):
            # CRM → local and Both: "deleted locally → recreated from the CRM".
            pull_record(run, ent, res, reason="recreated: deleted locally")
        else:
            # Local → CRM: "stays in the CRM"; the engine forgets the pair.
            action = ForgetLink(ent.entity, mapping.display_name(ent.entity, link.base),
                                item_id=item_id, crm_id=crm_id, reason="deleted locally")
            if run.admit(action):
                apply(run, ent, action)
