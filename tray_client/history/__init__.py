"""See and steer the sync (no Qt): report queries, per-day summary, CSV export, retention
purge, conflicts and "use the other value", the queue of pending changes and its holds, and
local items with their sync state.

Everything here reads the engine's tables (``tray_client.sync.state``) on the store's
connection and adds only indexes and one table of its own (``sync_holds``, see ``schema``).
"""

from __future__ import annotations

from .conflicts import ConflictEntry, get_conflict, list_conflicts, use_other_value
from .items import MARKS, STATES, ItemRow, item_row, list_items, record_url
from .queue import (
    CHANGE,
    OUTBOX,
    QueueEntry,
    describe_action,
    drop,
    entries_from_plan,
    held_revs,
    hold,
    outbox_entries,
    pending_changes,
    release,
)
from .reports import (
    CSV_COLUMNS,
    DaySummary,
    PurgeResult,
    ReportFilter,
    ReportRow,
    RunSummary,
    count_runs,
    daily_summary,
    export_csv,
    export_csv_file,
    get_run,
    iter_rows,
    list_rows,
    list_runs,
    purge_history,
)
from .schema import ensure_indexes
from .view import History

__all__ = [
    "CHANGE", "CSV_COLUMNS", "MARKS", "OUTBOX", "STATES", "ConflictEntry", "DaySummary",
    "History", "ItemRow", "PurgeResult", "QueueEntry", "ReportFilter", "ReportRow",
    "RunSummary", "count_runs", "daily_summary", "describe_action", "drop", "ensure_indexes",
    "entries_from_plan", "export_csv", "export_csv_file", "get_conflict", "get_run",
    "held_revs", "hold", "item_row", "iter_rows", "list_conflicts", "list_items", "list_rows",
    "list_runs", "outbox_entries", "pending_changes", "purge_history", "record_url", "release",
    "use_other_value",
]
