"""The sync state's tables (described in ``state``) and their schema version.

``migrate`` creates them on first use and completes an older file; it refuses a file written
by a newer version. It runs inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3

from ..errors import LocalDatabaseError

SCHEMA_VERSION = 1

TABLES = (
    "CREATE TABLE IF NOT EXISTS sync_meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS sync_links (
        entity TEXT NOT NULL,
        item_id TEXT NOT NULL,
        crm_id TEXT NOT NULL,
        base TEXT NOT NULL,
        crm_updated_at TEXT,
        synced_rev INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (entity, crm_id))""",
    "CREATE UNIQUE INDEX IF NOT EXISTS sync_links_item ON sync_links (item_id)",
    """CREATE TABLE IF NOT EXISTS sync_cursors (
        entity TEXT PRIMARY KEY,
        crm_updated_at TEXT,
        crm_id TEXT,
        removals_since TEXT,
        local_rev INTEGER NOT NULL DEFAULT 0,
        ids_reconciled_at REAL,
        first_sync_done INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS sync_runs (
        run_id TEXT PRIMARY KEY,
        trigger TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT,
        message TEXT,
        counts TEXT)""",
    "CREATE INDEX IF NOT EXISTS sync_runs_started ON sync_runs (started_at)",
    """CREATE TABLE IF NOT EXISTS sync_report (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        entity TEXT NOT NULL,
        item_id TEXT,
        crm_id TEXT,
        name TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        direction TEXT NOT NULL,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        field TEXT,
        local_value TEXT,
        crm_value TEXT,
        winner TEXT)""",
    "CREATE INDEX IF NOT EXISTS sync_report_run ON sync_report (run_id)",
    """CREATE TABLE IF NOT EXISTS sync_pending (
        entity TEXT NOT NULL,
        side TEXT NOT NULL,
        ref TEXT NOT NULL,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (entity, side, ref))""",
    # ref: a crm_id (an update) or "item:<id>" (a create); values: canonical values sent.
    """CREATE TABLE IF NOT EXISTS sync_writes (
        entity TEXT NOT NULL,
        ref TEXT NOT NULL,
        vals TEXT NOT NULL,
        PRIMARY KEY (entity, ref))""",
    """CREATE TABLE IF NOT EXISTS sync_intents (
        entity TEXT NOT NULL,
        item_id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL)""",
    # Links committed by a pull whose items are written at its end (``state.add_unwritten``).
    # No key: rows are appended in the CRM's order and read once, sorted.
    """CREATE TABLE IF NOT EXISTS sync_unwritten (
        entity TEXT NOT NULL,
        item_id TEXT NOT NULL,
        crm_id TEXT NOT NULL,
        rev INTEGER NOT NULL)""",
    # Created by the history package before it moved here: same table, same columns.
    """CREATE TABLE IF NOT EXISTS sync_holds (
        entity TEXT NOT NULL,
        item_id TEXT NOT NULL,
        rev INTEGER NOT NULL,
        held_at TEXT NOT NULL,
        PRIMARY KEY (entity, item_id))""",
)


def migrate(db: sqlite3.Connection) -> None:
    """Create the tables on first use; refuse a newer schema than this code knows.

    Raises LocalDatabaseError for a newer schema.
    """
    db.execute(TABLES[0])
    row = db.execute("SELECT value FROM sync_meta WHERE key='schema'").fetchone()
    version = int(row[0]) if row else 0
    if version > SCHEMA_VERSION:
        raise LocalDatabaseError(
            f"The sync state was written by a newer version (schema {version}).",
            title="Newer sync state")
    for ddl in TABLES[1:]:
        db.execute(ddl)   # all IF NOT EXISTS: cheap, and completes older files
    if version < SCHEMA_VERSION:
        db.execute("INSERT OR REPLACE INTO sync_meta (key, value) VALUES ('schema', ?)",
                   (str(SCHEMA_VERSION),))
