"""``History``: this package bound to one store, as the facade hands it to the windows
(``Client.history``). Every method reads or writes the local database only (no network), so
the GUI calls them on workers without a CRM at hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .conflicts import ConflictEntry, list_conflicts, use_other_value
from .items import ItemRow, list_items
from .reports import (
    DaySummary,
    ReportFilter,
    ReportRow,
    RunSummary,
    daily_summary,
    export_csv_file,
    list_rows,
    list_runs,
)

if TYPE_CHECKING:
    from ..store import Item, LocalStore


class History:
    """Runs, report rows, conflicts, the per-day summary and the items' sync states of
    ``store``; the functions of ``tray_client.history`` with the store filled in."""

    def __init__(self, store: LocalStore) -> None:
        self.store = store

    def runs(self, *, offset: int = 0, limit: int = 200) -> list[RunSummary]:
        """Runs newest first (``list_runs``)."""
        return list_runs(self.store, offset=offset, limit=limit)

    def rows(self, flt: ReportFilter, *, after_seq: int | None = None,
             limit: int = 500) -> list[ReportRow]:
        """One page of the report rows matching ``flt`` (``list_rows``)."""
        return list_rows(self.store, flt, after_seq=after_seq, limit=limit)

    def conflicts(self, *, after_seq: int | None = None,
                  limit: int = 500) -> list[ConflictEntry]:
        """One page of the conflicts of all runs, newest first (``list_conflicts``)."""
        return list_conflicts(self.store, after_seq=after_seq, limit=limit)

    def daily_summary(self, *, days: int = 30) -> list[DaySummary]:
        """One entry per UTC day of the last ``days`` days (``daily_summary``)."""
        return daily_summary(self.store, days=days)

    def export_csv(self, flt: ReportFilter, path: Path) -> int:
        """The rows matching ``flt`` into the CSV file ``path`` (``export_csv_file``)."""
        return export_csv_file(self.store, flt, path)

    def use_other_value(self, seq: int) -> Item:
        """Bring back the losing value of conflict ``seq`` (``use_other_value``)."""
        item: Item = use_other_value(self.store, seq)
        return item

    def items(self, entity: str, *, search: str = "", after: tuple[str, str] | None = None,
              limit: int = 500, selected: bool = False) -> list[ItemRow]:
        """One page of ``entity``'s items with their sync states (``list_items``)."""
        return list_items(self.store, entity, search=search, after=after, limit=limit,
                          selected=selected)
