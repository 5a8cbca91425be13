"""The store's SQLite schema and its migrations.

The schema version lives in the ``meta`` table (key ``schema_version``). Opening a database
applies the missing migrations, in order, inside one ``BEGIN IMMEDIATE`` transaction, so a
crash mid-migration leaves the old schema intact and a concurrent opener waits rather than
migrating twice. Migrations only ever add: they never drop user data. A database written by
a newer client (higher version) is refused untouched.

The sync package keeps its own tables (and its own version key) in the same database.
"""

from __future__ import annotations

import sqlite3

from ..errors import LocalDatabaseError

META_DDL = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)"

# Index i holds the statements that take a database from version i to version i + 1.
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: items and the global revision counter.
    (
        """CREATE TABLE items (
            id TEXT PRIMARY KEY,
            entity TEXT NOT NULL,
            crm_id TEXT,
            crm_sync INTEGER NOT NULL DEFAULT 1,
            fields TEXT NOT NULL,          -- canonical JSON (see store.fields)
            search TEXT NOT NULL DEFAULT '',  -- case-folded display text for list(search=)
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            rev INTEGER NOT NULL
        )""",
        "CREATE INDEX items_entity_rev ON items (entity, rev)",
        # One local item per CRM record: a second link would duplicate it on the next sync.
        ("CREATE UNIQUE INDEX items_entity_crm_id ON items (entity, crm_id) "
         "WHERE crm_id IS NOT NULL"),
        "CREATE INDEX items_entity_created ON items (entity, created_at, id)",
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('rev', 0)",
    ),
    # 2: the trash (items deleted or overwritten, kept 30 days).
    (
        """CREATE TABLE trash (
            entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
            item_id TEXT NOT NULL,
            entity TEXT NOT NULL,
            crm_id TEXT,
            crm_sync INTEGER NOT NULL,
            fields TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            rev INTEGER NOT NULL,
            reason TEXT NOT NULL,
            run_id TEXT,
            trashed_at TEXT NOT NULL
        )""",
        "CREATE INDEX trash_trashed_at ON trash (trashed_at)",
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's store schema version (0 for a new, empty database)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, path: object, *, target: int = SCHEMA_VERSION) -> int:
    """Bring ``conn`` (autocommit mode) to ``target``; return the version found before.

    Raises StoreError when the database is newer than this client knows.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise LocalDatabaseError(
                f"The local database {path} was written by a newer version of CRM Tray Client "
                f"(store schema {found}; this version knows up to {SCHEMA_VERSION}). Upgrade "
                "the client to use it; the file was left untouched.",
                title="Local database too new")
        if found < target:
            conn.execute(META_DDL)
            for statements in MIGRATIONS[found:target]:
                for statement in statements:
                    conn.execute(statement)
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (target,))
        conn.execute("COMMIT")
        return found
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
