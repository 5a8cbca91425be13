"""Decided conflicts from the report, and "use the other value".

The engine records every decided conflict as a report row (``action='conflict'``) with the
field's canonical row name, both values in the canonical (CRM) vocabulary and the winner.

Rule of ``use_other_value``: the losing value is written into the *local item* through the
store (converted with ``sync.mapping.to_local``), whichever side lost. The item gets a new
revision and differs from the sync base in that field only, so the next push sends it to the
CRM as an ordinary local edit ("changed only locally": it wins without a new conflict). This
works wherever local changes flow to the CRM: entity direction *Both* or *local → CRM*, and
the row enabled with direction *two-way* or *local → CRM*. Where they do not (a *CRM → local*
entity or row), the local item keeps the chosen value and the CRM is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from ..sync import mapping
from .reports import ReportFilter, ReportRow, list_rows
from .schema import ensure_indexes


@dataclass(frozen=True)
class ConflictEntry:
    """One decided field, as the report window lists it."""

    row: ReportRow

    @property
    def seq(self) -> int:
        return self.row.seq

    @property
    def losing_value(self) -> Any:
        """The value that did not win (the one ``use_other_value`` brings back)."""
        return self.row.local_value if self.row.winner == "crm" else self.row.crm_value


def list_conflicts(store: Any, *, run_id: str | None = None, entity: str | None = None,
                   after_seq: int | None = None, limit: int = 500) -> list[ConflictEntry]:
    """Conflict rows (of one run, or of all runs newest first), one page."""
    flt = ReportFilter(run_id=run_id, entity=entity, action="conflict")
    return [ConflictEntry(r) for r in list_rows(store, flt, after_seq=after_seq, limit=limit)
            if r.field is not None]


def get_conflict(store: Any, seq: int) -> ConflictEntry:
    """The conflict row ``seq``; raises StoreError when there is none."""
    ensure_indexes(store.connection, store)
    with store.lock:
        row = store.connection.execute(
            "SELECT run_id FROM sync_report WHERE seq = ? AND action = 'conflict' "
            "AND field IS NOT NULL", (int(seq),)).fetchone()
    if row is None:
        raise StoreError(f"There is no conflict {seq} in the sync report (it may have been "
                         "purged).", title="Conflict not found")
    rows = list_rows(store, ReportFilter(run_id=row[0], action="conflict"),
                     after_seq=int(seq) - 1, limit=1)
    return ConflictEntry(rows[0])


def use_other_value(store: Any, seq: int) -> Any:
    """Write the losing value of conflict ``seq`` into the local item, so the next sync sends
    it (see the module docstring for the rule). Returns the updated ``Item``.

    The item is found by its id, else by its CRM id. Raises StoreError when the conflict or
    the item no longer exists, or the value does not fit the local field any more.
    """
    conflict = get_conflict(store, seq)
    row = conflict.row
    item = store.get(row.item_id) if row.item_id else None
    if item is None and row.crm_id:
        item = store.find_by_crm_id(row.entity, row.crm_id)
    if item is None:
        raise StoreError(f"The local item of {row.name or row.entity!r} no longer exists "
                         "(see the trash).", title="Item not found")
    field = row.field
    assert field is not None
    try:
        current = mapping.from_local(row.entity, item.fields)
    except mapping.MappingError:
        current = {}
    # An event time is written as a date or an instant depending on all_day, which may have
    # been part of the same conflict; the item's current all_day decides otherwise.
    canonical = {**current, field: conflict.losing_value}
    values = mapping.to_local(row.entity, canonical, [field])
    local_field = next((r.local_field for r in mapping.rows_for(row.entity)
                        if r.name == field), field)
    fields = dict(item.fields)
    value = values.get(field)
    if value is None or value == [] or value == "":
        fields.pop(local_field, None)
    else:
        fields[local_field] = value
    # replace_fields, not update: an address must be replaced whole, not merged by part.
    return store.replace_fields(item.id, fields)
