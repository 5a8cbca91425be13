"""The reference server's SQLite database: schema, connections, transactions, settings.

One connection per thread (WAL, so readers never wait for the writer) and one process-wide
write lock, so concurrent requests never meet ``database is locked``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .jsonapi import utc_now
from .schema import ENUM_DEFAULTS, ENUM_OPTION_TYPES, ENUMS, RESOURCE_TYPES

SCHEMA_VERSION = 1
MMAP_SIZE = 1 << 30  # the most of the database file each connection maps
# Oro's REST listing of events has no ORDER BY (the database's order); a fixed scramble of
# the ids stands in for it (rest_events.py), read from the calendarevents_listing index.
EVENT_ORDER = "(id * 2654435761) % 4294967296, id"
SECOND_USER = {
    "username": "mary.miller",
    "firstName": "Mary",
    "lastName": "Miller",
    "email": "mary.miller@example.com",
}


class Database:
    """The server's store. Thread-safe: every thread gets its own connection."""

    def __init__(self, path: str | Path, *, username: str = "admin") -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        # While set, every write stamps this time instead of the clock (tests make ties).
        self.frozen_time: str | None = None
        # username -> id of the users found so far: users are written only while the
        # database opens (_ensure_user), so every request can skip the look-up.
        self._user_ids: dict[str, str] = {}
        self._create_schema(username)

    # -- connections and transactions -------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode; transactions are explicit)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            # Reads from a memory map instead of a read() call and a copy per page: a page
            # of 1,000 contacts at 100,000 reads across a ~200 MB file (~4 µs a contact).
            conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the process-wide lock; nested calls join the outer one."""
        conn = self.connection()
        with self._write_lock:
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several statements (WAL)."""
        conn = self.connection()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this database opened (on any thread)."""
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    def now(self) -> str:
        """The timestamp the next write gets: the frozen time, else the clock."""
        return self.frozen_time or utc_now()

    # -- schema -----------------------------------------------------------------------
    def _create_schema(self, username: str) -> None:
        with self.write() as conn:
            for name in RESOURCE_TYPES:
                # Every resource type has the same shape: JSON attributes/relationships plus
                # indexed columns for what collections filter and sort on.
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} ("
                    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                    " attributes TEXT NOT NULL, relationships TEXT NOT NULL,"
                    " owner TEXT, assigned_to TEXT, calendar TEXT,"
                    " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
                )
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_updated ON {name}(updated_at, id)")
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_owner ON {name}(owner)")
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_assigned ON {name}(assigned_to)")
                conn.execute(f"CREATE INDEX IF NOT EXISTS {name}_calendar ON {name}(calendar)")
            # Oro's parent and recurring_event columns are foreign keys, indexed: an event's
            # invitations and exceptions are found without reading every event (the
            # expressions are those of rest_events.py's queries, so SQLite uses these).
            for column in ("parentEventId", "recurringEventId"):
                conn.execute(f"CREATE INDEX IF NOT EXISTS calendarevents_{column} ON "
                             f"calendarevents(json_extract(attributes,'$.{column}'))")
            # The REST listing's order (EVENT_ORDER) read from an index, with the changed-since
            # filters' columns in it: a page no longer sorts every event of the calendar
            # (~150 ms a page at 20,000 events, ~1 s at 100,000).
            conn.execute(
                "CREATE INDEX IF NOT EXISTS calendarevents_listing ON calendarevents("
                f"calendar, {EVENT_ORDER}, updated_at, created_at)"
            )
            # A changed-since listing (``updatedAt>=T``, the sync's incremental walk and its
            # read-back of pushed events) reads only the events changed since T, sorting
            # them, while they are few (rest_events.py, ``EventStore.listing``); ~25 ms a
            # listing at 100,000 events otherwise, each scanning the calendar's whole index.
            conn.execute(
                "CREATE INDEX IF NOT EXISTS calendarevents_changed ON calendarevents("
                "calendar, updated_at, created_at)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS removals (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, removed_at TEXT NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS removals_at ON removals(removed_at, id)")
            conn.execute(
                "CREATE INDEX IF NOT EXISTS removals_type ON removals(entity_type, removed_at)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            # Oro's account <-> contact many-to-many, served as contacts.accounts and
            # accounts.contacts.
            conn.execute(
                "CREATE TABLE IF NOT EXISTS account_contacts (account_id INTEGER NOT NULL, "
                "contact_id INTEGER NOT NULL, PRIMARY KEY (account_id, contact_id))"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS account_contacts_contact ON "
                "account_contacts(contact_id, account_id)"
            )
            # Enum options (extend enums) live in the database like Oro's, so values can be added.
            conn.execute(
                "CREATE TABLE IF NOT EXISTS enum_options (enum TEXT NOT NULL, id TEXT NOT NULL, "
                "name TEXT NOT NULL, priority INTEGER NOT NULL, is_default INTEGER NOT NULL "
                "DEFAULT 0, PRIMARY KEY (enum, id))"
            )
            for enum in sorted(ENUM_OPTION_TYPES):
                if (
                    conn.execute(
                        "SELECT 1 FROM enum_options WHERE enum=? LIMIT 1", (enum,)
                    ).fetchone()
                    is None
                ):
                    conn.executemany(
                        "INSERT INTO enum_options (enum, id, name, priority, is_default) VALUES "
                        "(?,?,?,?,?)",
                        [
                            (enum, item_id, name, priority, int(item_id == ENUM_DEFAULTS[enum]))
                            for priority, (item_id, name) in enumerate(ENUMS[enum], start=1)
                        ],
                    )
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            now = self.now()
            self._ensure_user(
                conn,
                1,
                {
                    "username": username,
                    "firstName": "John",
                    "lastName": "Admin",
                    "email": f"{username}@example.com",
                },
                now,
            )
            self._ensure_user(conn, 2, dict(SECOND_USER), now)

    def _ensure_user(
        self, conn: sqlite3.Connection, user_id: int, attributes: dict[str, Any], now: str
    ) -> None:
        """Users 1 (the configured one) and 2 (a colleague) and a default calendar each."""
        row = conn.execute("SELECT attributes FROM users WHERE id=?", (user_id,)).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO users (id, attributes, relationships, created_at, updated_at) "
                "VALUES (?,?,?,?,?)",
                (user_id, json.dumps(attributes), "{}", now, now),
            )
        elif json.loads(row[0]).get("username") != attributes["username"]:
            # A database reused with another --user: user 1 takes the new name.
            stored = json.loads(row[0])
            stored["username"] = attributes["username"]
            conn.execute(
                "UPDATE users SET attributes=?, updated_at=? WHERE id=?",
                (json.dumps(stored), now, user_id),
            )
        if (
            conn.execute("SELECT 1 FROM calendars WHERE owner=?", (str(user_id),)).fetchone()
            is None
        ):
            name = f"{attributes.get('firstName', '')} {attributes.get('lastName', '')}".strip()
            conn.execute(
                "INSERT INTO calendars (attributes, relationships, owner, created_at, "
                "updated_at) VALUES (?,?,?,?,?)",
                (
                    json.dumps({"name": name}),
                    json.dumps({"owner": {"type": "users", "id": str(user_id)}}),
                    str(user_id),
                    now,
                    now,
                ),
            )

    # -- enum options -----------------------------------------------------------------
    def enum_options(self, enum: str) -> list[tuple[str, str, int, bool]]:
        """(id, name, priority, default) of an enum's options, in id order (Oro's order
        without ``sort``)."""
        with self.read() as conn:
            rows = conn.execute(
                "SELECT id, name, priority, is_default FROM enum_options WHERE enum=? ORDER BY id",
                (enum,),
            )
            return [(row[0], row[1], int(row[2]), bool(row[3])) for row in rows]

    def add_enum_options(self, enum: str, options: list[tuple[str, str]]) -> None:
        """Add options (id, name) with priorities 1, 2, … as Oro's fixtures do; known ids stay."""
        with self.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO enum_options (enum, id, name, priority, is_default) "
                "VALUES (?,?,?,?,0)",
                [
                    (enum, item_id, name, priority)
                    for priority, (item_id, name) in enumerate(options, start=1)
                ],
            )

    # -- settings ---------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Every stored configuration override (key without prefix -> JSON value)."""
        with self.read() as conn:
            return {
                key: json.loads(value)
                for key, value in conn.execute("SELECT key, value FROM settings")
            }

    def set_setting(self, key: str, value: Any) -> None:
        """Store one configuration override (already validated by the caller)."""
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                (key, json.dumps(value)),
            )

    def user_id(self, username: str) -> str | None:
        """The id of the user with this username, or None."""
        with self.read() as conn:
            row = conn.execute(
                "SELECT id FROM users WHERE json_extract(attributes, '$.username') = ?", (username,)
            ).fetchone()
        if row is None:
            return None
        self._user_ids[username] = str(row[0])
        return str(row[0])

    def known_user_id(self, username: str) -> str | None:
        """The id ``user_id`` found for this username before, without touching the database
        (so the event loop may ask); None when it has not been looked up yet."""
        return self._user_ids.get(username)
