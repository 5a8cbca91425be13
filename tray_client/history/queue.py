"""The queue of pending local changes: what the next push would do, plus the outbox.

- Pending changes come from ``SyncEngine.plan(phase="push")`` (it needs the CRM, so callers
  run ``pending_changes`` in a worker): one ``QueueEntry`` per planned action, with a sentence
  saying what it would do.
- Outbox entries (leads, opportunities, cases typed in the side panel) that are queued or
  failed.

*Drop* of a pending change holds the item's current revision in the sync state's
``sync_holds`` (``SyncState.hold``); the engine skips pushing an item whose rev equals its hold
(``SyncState.held_revs``), until the item changes again
(a new write gives it a new rev). The change is not undone locally: the user's edit stays in
the item, it just does not go to the CRM; a later edit sends the item's whole mapped state.
*Drop* of an outbox entry removes it (``Outbox.drop``); ``drop`` does either.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..store import Item, LocalStore
from ..sync.state import SyncState
from ..times import utc_text
from .items import item_row
from .schema import ensure_indexes

if TYPE_CHECKING:
    from ..crm import CrmClient
    from ..settings import Settings

CHANGE = "change"
OUTBOX = "outbox"


@dataclass(frozen=True)
class QueueEntry:
    """One line of the queue view."""

    kind: str                 # "change" (a planned sync action) | "outbox"
    key: str                  # item id (change) or outbox entry id (outbox), for drop
    entity: str               # contacts/tasks/events, or lead/opportunity/case
    name: str
    action: str               # the plan's verb, or the outbox state
    description: str          # what it would do, in words
    item_id: str | None = None
    crm_id: str | None = None
    rev: int | None = None    # the item's rev when the plan was made (what drop holds)
    problem: str = ""         # why the last try failed (the CRM's answer), if it did


_WORDS = {
    "create-remote": "create it in the CRM",
    "update-remote": "update the CRM record",
    "link-remote": "link it to the matching CRM record and update that record",
    "update-local": "update the local item from the CRM",
    "link-local": "link it to a CRM record and update it from the CRM",
    "create-local": "create a local item from the CRM",
    "delete-local": "delete the local item (into the trash)",
    "forget-link": "forget the link between the item and the CRM record",
}


def describe_action(action: Any) -> str:
    """A sentence for one plan action (``tray_client.sync.actions``)."""
    verb = getattr(action, "verb", "act")
    text = _WORDS.get(verb, verb)
    values = getattr(action, "values", None)
    if values:
        text += ": " + ", ".join(sorted(values))
    reason = getattr(action, "reason", "")
    if reason:
        text += f" ({reason})"
    return text[:1].upper() + text[1:]


def entries_from_plan(store: Any, plan: Any) -> list[QueueEntry]:
    """Queue entries for the actions of a push plan (in plan order)."""
    entries = []
    for action in plan:
        item_id = getattr(action, "item_id", None) or None
        item: Item | None = store.get(item_id) if item_id else None
        row = item_row(store, item_id) if item_id else None
        entries.append(QueueEntry(
            CHANGE, item_id or f"crm:{getattr(action, 'crm_id', '')}", action.entity,
            action.name, action.verb, describe_action(action), item_id,
            getattr(action, "crm_id", None) or (item.crm_id if item else None),
            item.rev if item else None,
            row.reason if row is not None and row.state == "failed" else ""))
    return entries


def outbox_entries(outbox: Any) -> list[QueueEntry]:
    """Queue entries for the outbox records still to send (queued or failed)."""
    entries = []
    for e in outbox.list(None, states=("queued", "failed", "sending")):
        what = {"queued": f"Create the {e.kind} in the CRM at the next sync",
                "sending": "Being sent to the CRM now",
                "failed": f"Not sent: {e.message or 'the CRM refused it'}"}[e.state]
        entries.append(QueueEntry(OUTBOX, str(e.id), e.kind, e.title, e.state, what,
                                  problem=e.message if e.state == "failed" else ""))
    return entries


def pending_changes(store: LocalStore, crm: CrmClient, settings: Settings) -> list[QueueEntry]:
    """The whole queue: what the next push would do, then the outbox (slow: reads the CRM;
    call it in a worker; ``Client.pending_changes`` does). Raises CrmError when the CRM cannot
    be read."""
    from ..outbox import Outbox
    from ..sync import SyncEngine

    # The plan reads through a connection of its own: the shared one belongs to whichever
    # thread holds the store's lock (a sync may be running), and the plan reads the CRM in
    # between its reads, so it must not hold that lock throughout.
    with LocalStore(store.path, purge_trash=False) as reader:
        plan = SyncEngine(reader, crm, settings).plan(phase="push")
    return entries_from_plan(store, plan) + outbox_entries(Outbox.for_store(store))


def drop(store: LocalStore, entry: QueueEntry) -> None:
    """*Drop* of a queue entry: a change is held at the item's rev (``hold``), an outbox entry
    removed. Raises StoreError for a change without a local item (a CRM-side change),
    OutboxError for an outbox entry that is gone or being sent."""
    from ..outbox import Outbox

    if entry.kind == CHANGE:
        if entry.item_id is None:
            raise StoreError("This change comes from the CRM side and cannot be dropped here.",
                             title="Cannot drop")
        hold(store, entry.entity, entry.item_id, entry.rev)
    else:
        Outbox.for_store(store).drop(int(entry.key))


# -- holds (kept by the sync state: tray_client.sync.state) -------------------------------------

def hold(store: LocalStore, entity: str, item_id: str, rev: int | None = None) -> int:
    """Drop an item's pending change from the queue: hold its current rev (or ``rev``).

    Returns the held rev. Raises StoreError when the item does not exist.
    """
    ensure_indexes(store.connection, store)
    if rev is None:
        item = store.get(item_id)
        if item is None:
            raise StoreError(f"There is no local item with id {item_id!r}.",
                             title="Item not found")
        rev = item.rev
    with store.transaction() as conn:
        SyncState(conn).hold(entity, item_id, int(rev), utc_text())
    return int(rev)


def release(store: LocalStore, entity: str, item_id: str) -> bool:
    """Forget a hold (the change goes out at the next push); True when there was one."""
    ensure_indexes(store.connection, store)
    with store.transaction() as conn:
        return SyncState(conn).release(entity, item_id)


def held_revs(connection: sqlite3.Connection, entity: str) -> dict[str, int]:
    """item_id -> held rev for ``entity`` (``SyncState.held_revs``): the engine skips pushing
    an item whose rev equals its hold."""
    return SyncState(connection).held_revs(entity)
