"""The history package's own table and the indexes its queries need.

The engine owns ``sync_runs``/``sync_report``/``sync_pending``/``sync_links``/``sync_holds``
(``tray_client.sync.state``); this package reads them, writes holds through ``SyncState``
and adds indexes with ``CREATE INDEX IF NOT EXISTS`` (harmless to the engine: indexes change
no behaviour).
"""

from __future__ import annotations

import sqlite3
from contextlib import nullcontext
from typing import Any

from ..sync.state import SyncState

_DDL = (
    # Report rows by status or entity across all runs, newest first (the "errors" view).
    "CREATE INDEX IF NOT EXISTS history_report_status ON sync_report (status, seq)",
    "CREATE INDEX IF NOT EXISTS history_report_entity ON sync_report (entity, seq)",
    # Conflicts of a run / of all runs (action='conflict' rows carry both values).
    "CREATE INDEX IF NOT EXISTS history_report_action ON sync_report (action, seq)",
    # Per-day error counts join errors to their run.
    "CREATE INDEX IF NOT EXISTS history_report_status_run ON sync_report (status, run_id)",
    # The per-item sync state of the items window joins links by item and pending by ref.
    "CREATE INDEX IF NOT EXISTS history_pending_ref ON sync_pending (ref)",
)

_ready: set[tuple[int, str]] = set()


def ensure_indexes(connection: sqlite3.Connection, store: Any | None = None) -> None:
    """Create the engine's tables (if no sync ran yet) and this package's indexes.

    Idempotent and cheap after the first call per connection. ``store`` (a LocalStore), when
    given, provides the transaction and lock; otherwise the statements run in autocommit mode.
    Raises sqlite3.Error only for a broken database.
    """
    # Every use of a store's connection holds its lock (another thread may be in a sync).
    with store.lock if store is not None else nullcontext():
        key = (id(connection), _database_name(connection))
        if key in _ready:
            return
        if store is not None:
            with store.transaction():
                _create(connection)
        else:
            _create(connection)
        _ready.add(key)


def _database_name(connection: sqlite3.Connection) -> str:
    row = connection.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row else ""


def _create(connection: sqlite3.Connection) -> None:
    SyncState(connection).migrate()
    for ddl in _DDL:
        connection.execute(ddl)
