"""Local items with their sync state, page by page, for the local items window.

Sync state of an item (``ItemRow.state``):

- ``failed``: the item (or its CRM record) is in ``sync_pending``: the last run could not sync
  it and retries it; ``reason`` is the error.
- ``synced``: linked, and not written since the last sync wrote or read it
  (``items.rev == sync_links.synced_rev``).
- ``held``: its pending change was dropped from the queue (``sync_holds`` holds this rev).
- ``local``: not sent because it is excluded (sync type *selected* and ``crm_sync`` off).
- ``pending``: anything else (new, or edited since the last sync): the next push sends it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..store import Item
from .schema import ensure_indexes

# Oro's web routes of the synced records (ContactBundle /contact/view/{id}, TaskBundle
# /task/view/{id}, CalendarBundle /calendar/event/view/{id}).
WEB_PATHS = {"contacts": "contact/view/{id}", "tasks": "task/view/{id}",
             "events": "calendar/event/view/{id}"}

STATES = ("synced", "pending", "failed", "held", "local")
MARKS = {"synced": "✓ synced", "pending": "pending", "failed": "✗ failed", "held": "held",
         "local": "local only"}


def record_url(base_url: str, entity: str, crm_id: str) -> str:
    """The CRM web page of a synced record, e.g. ``https://crm.example/contact/view/12``."""
    return f"{base_url.rstrip('/')}/{WEB_PATHS[entity].format(id=crm_id)}"


@dataclass(frozen=True)
class ItemRow:
    item: Item
    state: str          # one of STATES
    reason: str = ""    # the error, for ``failed``

    @property
    def mark(self) -> str:
        return MARKS[self.state] + (f": {self.reason}" if self.reason else "")


_SQL = (
    "SELECT i.id, i.entity, i.crm_id, i.crm_sync, i.fields, i.created_at, i.updated_at, i.rev,"
    " l.synced_rev,"
    " (SELECT p.message FROM sync_pending p WHERE p.entity = i.entity AND"
    "   ((p.side = 'local' AND p.ref = i.id) OR (p.side = 'crm' AND p.ref = i.crm_id))"
    "   LIMIT 1),"
    " h.rev"
    " FROM items i LEFT JOIN sync_links l ON l.item_id = i.id"
    " LEFT JOIN sync_holds h ON h.entity = i.entity AND h.item_id = i.id"
)


def _state(row: tuple[Any, ...], selected: bool) -> ItemRow:
    item = Item(id=row[0], entity=row[1], crm_id=row[2], crm_sync=bool(row[3]),
                fields=json.loads(row[4]), created_at=row[5], updated_at=row[6], rev=row[7])
    synced_rev, pending, held = row[8], row[9], row[10]
    if pending is not None:
        return ItemRow(item, "failed", str(pending))
    if synced_rev is not None and int(synced_rev) == item.rev:
        return ItemRow(item, "synced")
    if held is not None and int(held) == item.rev:
        return ItemRow(item, "held")
    if selected and not item.crm_sync:
        return ItemRow(item, "local")
    return ItemRow(item, "pending")


def list_items(store: Any, entity: str, *, search: str = "", after: tuple[str, str] | None = None,
               limit: int = 500, selected: bool = False) -> list[ItemRow]:
    """Items of ``entity`` ordered by creation, one keyset page after ``after``
    (``(created_at, id)`` of the previous page's last item), with their sync state.

    ``search`` matches the store's display text (names, e-mails, subject…) case-insensitively.
    ``selected``: sync type *selected* (items without ``crm_sync`` are "local only").
    """
    ensure_indexes(store.connection, store)
    clauses = ["i.entity = ?"]
    params: list[Any] = [entity]
    if search.strip():
        clauses.append("instr(i.search, ?) > 0")
        params.append(search.strip().casefold())
    if after is not None:
        clauses.append("(i.created_at, i.id) > (?, ?)")
        params.extend(after)
    sql = f"{_SQL} WHERE {' AND '.join(clauses)} ORDER BY i.created_at, i.id LIMIT ?"
    with store.lock:
        rows = store.connection.execute(sql, (*params, int(limit))).fetchall()
    return [_state(r, selected) for r in rows]


def item_row(store: Any, item_id: str, *, selected: bool = False) -> ItemRow | None:
    """One item with its sync state, or None."""
    ensure_indexes(store.connection, store)
    with store.lock:
        row = store.connection.execute(f"{_SQL} WHERE i.id = ?", (item_id,)).fetchone()
    return None if row is None else _state(row, selected)
