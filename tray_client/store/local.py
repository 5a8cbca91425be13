"""LocalStore: the SQLite item store (the "Outlook" side of a sync).

Concurrency: the database runs in WAL mode with a busy timeout, so the CLI and the tray app
(two processes) can use one file at once: readers never block, writers wait their turn. Within
a process one connection is shared by all threads (``check_same_thread=False``) and every use
of it holds ``self.lock`` (re-entrant); a transaction holds it from BEGIN to COMMIT, so another
thread's writes cannot slip into it.

Crash safety: every write is one SQLite transaction (or a savepoint of an enclosing one);
a process killed at any instant leaves the last committed state. ``synchronous=NORMAL`` in WAL
mode keeps that guarantee for a killed process (only an OS crash may lose the newest commits,
never consistency).

Revisions: ``meta.rev`` is a global counter bumped by every write (add, update, replace,
link, delete, restore) and stored on the item written, so ``changed_since(entity, rev)`` finds
every item written after a point. It is kept in ``meta``, not derived from ``MAX(items.rev)``,
so it never goes backwards when the newest item is deleted.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self, cast

import msgspec
from uuid_utils import uuid7

from ..errors import InterchangeError, LocalDatabaseError, StoreError
from .fields import check_entity, merge_fields, normalize_fields, search_text
from .interchange_types import Record, Skipped
from .model import TRASH_REASONS, ImportProblem, ImportResult, Item, TrashEntry
from .schema import migrate

log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 30.0
TRASH_DAYS = 30
_BATCH = 500  # rows per read batch of the streaming iterators

_ITEM_COLUMNS = "id, entity, crm_id, crm_sync, fields, created_at, updated_at, rev"

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    """A new item id: a UUIDv7 (RFC 9562), ordered by creation time, so that new items are
    appended to the id index instead of landing on random pages of it (at 100,000 items that
    makes a bulk insert about four times cheaper; see benchmarks/README.md)."""
    return str(uuid7())


# Compact JSON with non-ASCII kept readable, keys in insertion order (normalize_fields orders
# the fields canonically): the bytes ``json.JSONEncoder(ensure_ascii=False,
# separators=(",", ":"))`` writes, in a quarter of its time (msgspec; checked against it in
# tests/store/test_local_store.py).
_encoder = msgspec.json.Encoder()


def _dumps(value: Mapping[str, Any]) -> str:
    return _encoder.encode(value).decode()


def _last(row: tuple[Any, ...]) -> Any:
    return row[-1]


def _already_linked(crm_id: str, holder: str) -> StoreError:
    return StoreError(f"CRM record {crm_id} is already linked to local item {holder}.",
                      title="Already linked")


_decoder = msgspec.json.Decoder()


def _loads(text: str) -> Any:
    """Stored JSON read back: msgspec (about half the time of ``json.loads`` on a contact's
    fields, read for every item a sync or a listing meets), and the standard library for
    what msgspec refuses (``NaN``, ``1e400``, lone surrogates), so the result never differs
    (tests/store/test_local_store.py)."""
    try:
        return _decoder.decode(text)
    except (msgspec.DecodeError, UnicodeError):
        return json.loads(text)


def _some_fields_decoder(names: Collection[str]) -> Callable[[str], dict[str, Any]]:
    """A function reading stored fields JSON into a dict of only the fields among ``names``
    (in the order of ``names``): what ``_loads`` would read, then filtered; msgspec skips the
    other fields without building them."""
    wanted = list(dict.fromkeys(names))

    def general(text: str) -> dict[str, Any]:
        fields = _loads(text)
        return {n: fields[n] for n in wanted if n in fields}

    if not all(n.isidentifier() for n in wanted):
        return general
    decoder = msgspec.json.Decoder(msgspec.defstruct(
        "SomeFields", [(n, Any, msgspec.UNSET) for n in wanted]))

    def decode(text: str) -> dict[str, Any]:
        try:
            found = decoder.decode(text)
        except (msgspec.DecodeError, UnicodeError):
            return general(text)
        return {n: v for n in wanted if (v := getattr(found, n)) is not msgspec.UNSET}

    return decode


def _item(row: tuple[Any, ...]) -> Item:
    return Item(id=row[0], entity=row[1], crm_id=row[2], crm_sync=bool(row[3]),
                fields=_loads(row[4]), created_at=row[5], updated_at=row[6], rev=row[7])


def fields_text(fields: Mapping[str, Any]) -> str:
    """The text the store keeps for ``fields`` (normalized ones, ``normalize_fields``)."""
    return _dumps(fields)


def _item_values(item: Item) -> tuple[Any, ...]:
    return (item.id, item.entity, item.crm_id, item.crm_sync, item.fields, item.created_at,
            item.updated_at, item.rev)


class StoredItem(Item):
    """An Item read with its fields' stored text (``text``), decoded into ``fields`` when
    they are first read. A first sync's key partner whose text is exactly what its CRM
    record maps to (``sync.pages``: ``LazyResource.local_text``) is linked without its
    fields ever being decoded or mapped (~9 µs a demo contact)."""

    text: str
    _decoded: dict[str, Any] | None

    def __init__(self, row: tuple[Any, ...]) -> None:
        self.id, self.entity, self.crm_id = row[0], row[1], row[2]
        self.crm_sync, self.text, self._decoded = bool(row[3]), row[4], None
        self.created_at, self.updated_at, self.rev = row[5], row[6], row[7]

    @property
    def fields(self) -> dict[str, Any]:
        if self._decoded is None:
            self._decoded = _loads(self.text)
        return self._decoded

    @fields.setter
    def fields(self, value: dict[str, Any]) -> None:
        self._decoded = value

    def __eq__(self, other: object) -> bool:
        # Equal to an Item with the same values (a dataclass compares its own class only).
        if not isinstance(other, Item):
            return NotImplemented
        return _item_values(self) == _item_values(other)

    __hash__ = None  # type: ignore[assignment]   # as Item's (mutable, compared by value)

    def relinked(self, crm_id: str, updated_at: str, rev: int) -> StoredItem:
        """The same item with a new link, flag, time and revision (its fields as they are,
        still undecoded if they were)."""
        other = StoredItem((self.id, self.entity, crm_id, True, self.text, self.created_at,
                            updated_at, rev))
        other._decoded = self._decoded
        return other


class LocalStore:
    """The local item store. See the module docstring for concurrency and crash safety.

    ``clock`` (a function returning an aware ``datetime``) is injectable for tests; the
    trash is purged of entries older than 30 days on open unless ``purge_trash=False``.
    Raises StoreError when the file cannot be opened, is not a database, or was written by a
    newer client.
    """

    def __init__(self, path: str | os.PathLike[str], *, clock: Clock | None = None,
                 purge_trash: bool = True) -> None:
        self.path = Path(path)
        self._clock: Clock = clock or _utc_now
        self.lock = threading.RLock()
        self._depth = 0
        self._last_now: datetime | None = None
        # Set when opening found something the user should hear about (an empty file).
        self.open_warning: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # Personal data: owner-only from the first byte (SQLite copies the mode to
                # its -wal and -shm files).
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            else:
                self._keep_if_empty()
            self.connection: sqlite3.Connection = sqlite3.connect(
                str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise LocalDatabaseError(f"Cannot open the local database {self.path}: {exc}.",
                             title="Local database unavailable") from exc
        try:
            with self._sql_errors():
                conn = self.connection
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                migrate(conn, self.path)
            if purge_trash:
                self.trash_purge(TRASH_DAYS)
        except BaseException:
            self.connection.close()
            raise

    def _keep_if_empty(self) -> None:
        """A store file of zero bytes (a failed copy, a full disk) would silently open as a
        new, empty store: keep a copy of the original beside it and say so. (SQLite writes
        its header when it creates a store, so a store this client made is never empty; a
        non-empty -wal file is left for SQLite to recover.)"""
        wal = self.path.with_name(self.path.name + "-wal")
        if self.path.stat().st_size or (wal.exists() and wal.stat().st_size):
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = self.path.with_name(f"{self.path.name}.empty-{stamp}")
        shutil.copy2(self.path, kept)
        self.open_warning = (
            f"The local database {self.path} was empty (0 bytes: a failed copy or a full "
            f"disk?). The original was kept as {kept} and a new, empty store was started; "
            "restore a backup of the file to get your items back.")

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _sql_errors(self) -> Iterator[None]:
        """Convert sqlite3 errors to StoreError at the call site."""
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"The change conflicts with data in the local database: {exc}.",
                             title="Local database conflict") from exc
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise LocalDatabaseError(
                    f"The local database {self.path} stayed busy for "
                    f"{BUSY_TIMEOUT_SECONDS:.0f} s (another program is writing to it); try "
                    "again.", title="Local database busy") from exc
            raise LocalDatabaseError(f"The local database {self.path} could not be used: {exc}.",
                             title="Local database error") from exc
        except sqlite3.ProgrammingError as exc:
            # A programming slip (closed store, bad SQL from a caller), not a damaged file.
            raise LocalDatabaseError(f"The local database {self.path} cannot be used: {exc}.",
                             title="Local database closed or misused") from exc
        except sqlite3.DatabaseError as exc:
            raise LocalDatabaseError(f"The local database {self.path} is damaged or is not a "
                             f"database: {exc}.", title="Local database damaged") from exc

    def _now(self) -> str:
        """The current time as stored; strictly increasing within this store object, so
        creation order is insertion order even when the clock does not move between writes
        (or steps back)."""
        now = self._clock().astimezone(UTC)
        if self._last_now is not None and now <= self._last_now:
            now = self._last_now + timedelta(microseconds=1)
        self._last_now = now
        return now.isoformat(timespec="microseconds")

    def _times(self, count: int) -> builtins.list[str]:
        """``count`` stored times, as ``count`` calls of ``_now`` with the clock standing
        still would give them: one clock reading, then a microsecond more each (a bulk
        insert's items keep their insertion order, at a fraction of the cost)."""
        first = self._now()
        if count <= 1:
            return [first][:count]
        start = self._last_now
        assert start is not None
        self._last_now = start + timedelta(microseconds=count - 1)
        micro = start.microsecond
        if micro + count <= 1_000_000 and first[19] == "." and first[26:] == "+00:00":
            # The usual case: only the six digits of the microseconds change.
            head = first[:20]
            return [f"{head}{m:06d}+00:00" for m in range(micro, micro + count)]
        return [(start + timedelta(microseconds=k)).isoformat(timespec="microseconds")
                for k in range(count)]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self.lock:
            self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction (``BEGIN IMMEDIATE``); nested use is a SAVEPOINT.

        Yields ``self.connection``: raw SQL run on it inside the block (the sync package's own
        tables) commits or rolls back together with the item writes. An exception rolls back
        the block (only the savepoint when nested) and propagates. Holds ``self.lock``
        throughout, so other threads of this process wait.
        """
        with self.lock:
            conn = self.connection
            if self._depth == 0:
                # IMMEDIATE takes the write lock now, so a concurrent writer waits at BEGIN
                # (busy_timeout) instead of failing later on a lock upgrade.
                with self._sql_errors():
                    conn.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                else:
                    try:
                        with self._sql_errors():
                            conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                finally:
                    self._depth = 0
            else:
                name = f"store_sp{self._depth}"
                with self._sql_errors():
                    conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute(f"ROLLBACK TO {name}")
                        conn.execute(f"RELEASE {name}")
                    raise
                else:
                    with self._sql_errors():
                        conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self.transaction() as conn, self._sql_errors():
            yield conn

    def _next_rev(self, conn: sqlite3.Connection, count: int = 1) -> int:
        """Reserve ``count`` revisions; return the last one (the first is ``last-count+1``)."""
        row = conn.execute("UPDATE meta SET value = value + ? WHERE key = 'rev' RETURNING value",
                           (count,)).fetchone()
        return int(row[0])

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock, self._sql_errors():
            return self.connection.execute(sql, tuple(params)).fetchall()

    def _require(self, conn: sqlite3.Connection, item_id: str) -> Item:
        row = conn.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?",
                           (item_id,)).fetchone()
        if row is None:
            raise StoreError(f"There is no local item with id {item_id!r} (it may have been "
                             "deleted; see the trash).", title="Item not found")
        return _item(row)

    # -- reading ----------------------------------------------------------------------------

    def get(self, item_id: str) -> Item | None:
        """The item with this id, or None."""
        rows = self._query(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))
        return _item(rows[0]) if rows else None

    def find_by_crm_id(self, entity: str, crm_id: str) -> Item | None:
        """The item linked to CRM record ``crm_id`` (at most one per entity), or None."""
        rows = self._query(f"SELECT {_ITEM_COLUMNS} FROM items WHERE entity = ? AND crm_id = ?",
                           (check_entity(entity), str(crm_id)))
        return _item(rows[0]) if rows else None

    def crm_ids(self, entity: str) -> dict[str, str]:
        """Item id -> crm_id of the items of ``entity`` that carry one, in creation order
        (their fields are not read)."""
        return dict(self._query("SELECT id, crm_id FROM items WHERE entity = ? AND crm_id IS "
                                "NOT NULL ORDER BY created_at, id", (check_entity(entity),)))

    def count(self, entity: str) -> int:
        """How many items of ``entity`` there are."""
        return int(self._query("SELECT COUNT(*) FROM items WHERE entity = ?",
                               (check_entity(entity),))[0][0])

    def first_fields(self, entity: str, limit: int) -> builtins.list[dict[str, Any]]:
        """The fields of up to ``limit`` items of ``entity``, the first created."""
        return [_loads(row[0]) for row in self._query(
            "SELECT fields FROM items WHERE entity = ? ORDER BY created_at, id LIMIT ?",
            (check_entity(entity), limit))]

    def max_rev(self) -> int:
        """The newest revision handed out (0 for a new store); never decreases."""
        return int(self._query("SELECT value FROM meta WHERE key = 'rev'")[0][0])

    def list(self, entity: str, *, search: str | None = None) -> list[Item]:
        """Items of ``entity`` ordered by creation; ``search`` matches display fields
        (names, e-mails, job title, phone; subject, location) case-insensitively."""
        return list(self.iter_items(entity, search=search))

    def iter_items(self, entity: str, *, search: str | None = None) -> Iterator[Item]:
        """Stream the items of ``entity`` ordered by (created_at, id), in batches, so memory
        stays flat however many there are; ``search`` as in ``list``.

        The lock is held per batch, not across yields, so the caller may write to the store
        while iterating; items created meanwhile appear if they sort after the position.
        """
        for row in self._iter_rows(entity, _ITEM_COLUMNS, search):
            yield _item(row)

    def iter_some_fields(self, entity: str, names: Collection[str]
                         ) -> Iterator[tuple[int, str, str | None, dict[str, Any]]]:
        """Stream ``(rowid, id, crm_id, fields)`` of the items of ``entity`` as ``iter_items``
        does, ``fields`` holding only the item's fields among ``names``: the sync's key index
        needs a few fields of every item, and decoding only those costs a fraction of
        decoding whole items. ``rowid`` (SQLite's: the store never vacuums, which could
        renumber them) reads the item back with ``get_many_by_rowid``."""
        decode = _some_fields_decoder(names)
        for item_id, crm_id, text, _created, rowid in self._iter_rows(
                entity, "id, crm_id, fields, created_at, rowid", None):
            yield rowid, item_id, crm_id, decode(text)

    def get_many_by_rowid(self, rowids: Iterable[int], *,
                          lazy: bool = False) -> dict[int, Item]:
        """The items with these rowids (``iter_some_fields``) that exist, by rowid (one
        query per 500). ``lazy``: as ``StoredItem``s, their fields decoded when read."""
        wanted = list(dict.fromkeys(rowids))
        found: dict[int, Item] = {}
        make = StoredItem if lazy else _item
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for row in self._query(f"SELECT {_ITEM_COLUMNS}, rowid FROM items WHERE rowid IN "
                                   f"({','.join('?' * len(chunk))})", chunk):
                found[row[8]] = make(row)
        return found

    def _iter_rows(self, entity: str, columns: str, search: str | None
                   ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``columns`` (the last one ``created_at``, after ``id`` first) of the items
        of ``entity`` in (created_at, id) order, read in batches (``iter_items``)."""
        check_entity(entity)
        needle = search.strip().casefold() if search and search.strip() else None
        match = " AND instr(search, ?) > 0" if needle is not None else ""
        extra: tuple[str, ...] = (needle,) if needle is not None else ()
        created = columns.split(", ").index("created_at")
        last: tuple[str, str] | None = None
        while True:
            if last is None:
                rows = self._query(f"SELECT {columns} FROM items WHERE entity = ?"
                                   f"{match} ORDER BY created_at, id LIMIT ?",
                                   (entity, *extra, _BATCH))
            else:
                rows = self._query(f"SELECT {columns} FROM items WHERE entity = ?"
                                   f"{match} AND (created_at, id) > (?, ?) "
                                   "ORDER BY created_at, id LIMIT ?",
                                   (entity, *extra, last[0], last[1], _BATCH))
            yield from rows
            if len(rows) < _BATCH:
                return
            last = (rows[-1][created], rows[-1][0])

    def changed_since(self, entity: str, rev: int, *,
                      skip: Container[str] = ()) -> Iterator[Item]:
        """Stream the items of ``entity`` written after revision ``rev``, oldest write first.

        Only writes up to the revision current when iteration starts are included: an item
        written during the iteration gets a newer revision and shows up in the next call.
        Items whose id is in ``skip`` (read as the iteration goes) are passed over unread:
        with a non-empty ``skip``, each page's ids and revisions are read first,
        and only the rows of the items kept (the push after a first sync skips every item
        the pull just wrote). A ``skip`` with a ``present(ids)`` method (the sync's
        ``IdSet``) is asked once a page.
        """
        check_entity(entity)
        ceiling = self.max_rev()
        position = rev
        if not skip:
            while True:
                rows = self._query(f"SELECT {_ITEM_COLUMNS} FROM items WHERE entity = ? AND "
                                   "rev > ? AND rev <= ? ORDER BY rev LIMIT ?",
                                   (entity, position, ceiling, _BATCH))
                yield from map(_item, rows)
                if len(rows) < _BATCH:
                    return
                position = rows[-1][7]
        present = getattr(skip, "present", None)
        while True:
            heads = self._query("SELECT id, rev FROM items WHERE entity = ? AND rev > ? AND "
                                "rev <= ? ORDER BY rev LIMIT ?",
                                (entity, position, ceiling, _BATCH))
            ids = [head[0] for head in heads]
            passed = present(ids) if present is not None else {i for i in ids if i in skip}
            kept = [i for i in ids if i not in passed]
            if kept:
                rows = self._query(
                    f"SELECT {_ITEM_COLUMNS} FROM items WHERE id IN "
                    f"({','.join('?' * len(kept))}) AND entity = ? AND rev > ? AND rev <= ? "
                    "ORDER BY rev", (*kept, entity, position, heads[-1][1]))
                # (An id the consumer adds to ``skip`` meanwhile is passed over too.)
                yield from (_item(row) for row in rows if row[0] not in skip)
            if len(heads) < _BATCH:
                return
            position = heads[-1][1]

    # -- writing ----------------------------------------------------------------------------

    def add(self, entity: str, fields: Mapping[str, Any], *, crm_sync: bool = True,
            crm_id: str | None = None, item_id: str | None = None) -> Item:
        """Validate and insert a new item; return it.

        Raises StoreError for an unknown field or bad value (naming it), a duplicate
        ``item_id``, or a ``crm_id`` already linked to another item of ``entity``.
        """
        check_entity(entity)
        clean = normalize_fields(entity, fields)
        with self._write() as conn:
            return self._insert(conn, entity, clean, crm_sync=crm_sync,
                                crm_id=crm_id or None, item_id=item_id or _new_id(),
                                created_at=None)

    def _insert(self, conn: sqlite3.Connection, entity: str, clean: dict[str, Any], *,
                crm_sync: bool, crm_id: str | None, item_id: str,
                created_at: str | None) -> Item:
        if conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone():
            raise StoreError(f"A local item with id {item_id!r} already exists.",
                             title="Duplicate item id")
        if crm_id is not None:
            self._check_crm_id_free(conn, entity, str(crm_id), item_id)
        now = self._now()
        rev = self._next_rev(conn)
        item = Item(id=item_id, entity=entity, crm_id=None if crm_id is None else str(crm_id),
                    crm_sync=bool(crm_sync), fields=clean, created_at=created_at or now,
                    updated_at=now, rev=rev)
        conn.execute(f"INSERT INTO items ({_ITEM_COLUMNS}, search) VALUES (?,?,?,?,?,?,?,?,?)",
                     (item.id, entity, item.crm_id, int(item.crm_sync), _dumps(clean),
                      item.created_at, item.updated_at, rev, search_text(entity, clean)))
        return item

    def _check_crm_id_free(self, conn: sqlite3.Connection, entity: str, crm_id: str,
                           item_id: str) -> None:
        row = conn.execute("SELECT id FROM items WHERE entity = ? AND crm_id = ? AND id != ?",
                           (entity, crm_id, item_id)).fetchone()
        if row:
            raise _already_linked(crm_id, row[0])

    def _insert_many(self, conn: sqlite3.Connection, entity: str,
                     rows: builtins.list[tuple[dict[str, Any], str | None]], *,
                     crm_sync: bool) -> builtins.list[Item]:
        """Insert validated ``(clean fields, crm_id)`` rows with one ``executemany``; the
        revisions are reserved in one step. The caller checks that the crm_ids are free."""
        if not rows:
            return []
        last = self._next_rev(conn, len(rows))
        rev = last - len(rows)
        flag, sync = bool(crm_sync), int(crm_sync)
        items: builtins.list[Item] = []
        values = []
        for (clean, crm_id), now in zip(rows, self._times(len(rows)), strict=True):
            rev += 1
            item_id = _new_id()
            items.append(Item(item_id, entity, crm_id, flag, clean, now, now, rev))
            values.append((item_id, entity, crm_id, sync, _dumps(clean), now, now, rev,
                           search_text(entity, clean)))
        conn.executemany(f"INSERT INTO items ({_ITEM_COLUMNS}, search) "
                         "VALUES (?,?,?,?,?,?,?,?,?)", values)
        return items

    def bulk_add(self, entity: str, items: Iterable[Mapping[str, Any]], *,
                 crm_sync: bool = True) -> builtins.list[str]:
        """Validate and insert many new unlinked items in one transaction; return their ids.

        Fast path for imports and benchmarks: revisions are reserved per chunk. All or
        nothing: a bad item raises StoreError (prefixed with its 1-based position) and
        nothing is inserted.
        """
        check_entity(entity)
        ids: builtins.list[str] = []
        chunk: builtins.list[tuple[dict[str, Any], str | None]] = []
        with self._write() as conn:
            for position, fields in enumerate(items, 1):
                try:
                    chunk.append((normalize_fields(entity, fields), None))
                except StoreError as exc:
                    raise StoreError(f"item {position}: {exc.message}", title=exc.title) from exc
                if len(chunk) >= 1000:
                    ids += [i.id for i in self._insert_many(conn, entity, chunk,
                                                            crm_sync=crm_sync)]
                    chunk.clear()
            ids += [i.id for i in self._insert_many(conn, entity, chunk, crm_sync=crm_sync)]
        return ids

    def add_many(self, entity: str,
                 entries: Iterable[tuple[Mapping[str, Any], str | None]
                                   | tuple[dict[str, Any], str | None, bool]], *,
                 crm_sync: bool = True) -> builtins.list[Item | StoreError]:
        """Validate and insert many new items, each with its ``crm_id`` (or ``None``), in one
        transaction (a savepoint inside the caller's); the sync's fast path for new records.
        An entry ``(fields, crm_id, True)`` vouches that ``fields`` are canonical already
        (what ``normalize_fields`` returns for them, e.g. ``mapping.new_local_fields``): they
        are stored as they are.

        Returns, position by position, the stored ``Item`` or the ``StoreError`` that kept
        that entry out (a bad field, a ``crm_id`` already held by an item of ``entity`` or
        given twice): one bad entry never stops the others.
        """
        check_entity(entity)
        results: builtins.list[Item | StoreError | None] = []
        good: builtins.list[tuple[int, dict[str, Any], str | None]] = []
        for fields, crm_id, *canonical in entries:
            try:
                clean = cast(dict[str, Any], fields) if canonical and canonical[0] \
                    else normalize_fields(entity, fields)
            except StoreError as exc:
                results.append(exc)
                continue
            good.append((len(results), clean, None if crm_id in (None, "") else str(crm_id)))
            results.append(None)
        with self._write() as conn:
            try:
                # Optimistic: the unique index refuses a crm_id already held; the usual case
                # (a sync's new records) needs no look-up.
                with self.transaction():
                    items = self._insert_many(conn, entity, [(c, i) for _, c, i in good],
                                              crm_sync=crm_sync)
                placed = [
                    (position, item) for (position, _, _), item in zip(good, items, strict=True)
                ]
            except sqlite3.IntegrityError:
                placed = self._insert_checked(conn, entity, good, results, crm_sync=crm_sync)
            for position, item in placed:
                results[position] = item
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _insert_checked(self, conn: sqlite3.Connection, entity: str,
                        good: builtins.list[tuple[int, dict[str, Any], str | None]],
                        results: builtins.list[Item | StoreError | None], *,
                        crm_sync: bool) -> builtins.list[tuple[int, Item]]:
        """``add_many``'s careful path: an entry whose crm_id is held (by an item, or by an
        earlier entry) gets its StoreError in ``results``; the others are inserted and
        returned with their positions."""
        wanted = [crm_id for _, _, crm_id in good if crm_id is not None]
        taken: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            taken.update(conn.execute(
                f"SELECT crm_id, id FROM items WHERE entity = ? AND crm_id IN "
                f"({','.join('?' * len(chunk))})", (entity, *chunk)).fetchall())
        rows: builtins.list[tuple[dict[str, Any], str | None]] = []
        positions: builtins.list[int] = []
        for position, clean, crm_id in good:
            if crm_id is not None:
                if crm_id in taken:
                    results[position] = _already_linked(
                        crm_id, taken[crm_id] or "another entry of this batch")
                    continue
                taken[crm_id] = ""
            rows.append((clean, crm_id))
            positions.append(position)
        inserted = self._insert_many(conn, entity, rows, crm_sync=crm_sync)
        return list(zip(positions, inserted, strict=True))

    def _rewrite(self, conn: sqlite3.Connection, item: Item, fields: dict[str, Any],
                 crm_sync: bool, crm_id: str | None) -> Item:
        if fields == item.fields and crm_sync == item.crm_sync and crm_id == item.crm_id:
            return item  # nothing changes: no new revision, so no spurious sync work
        rev = self._next_rev(conn)
        now = self._now()
        conn.execute("UPDATE items SET fields = ?, search = ?, crm_sync = ?, crm_id = ?, "
                     "updated_at = ?, rev = ? WHERE id = ?",
                     (_dumps(fields), search_text(item.entity, fields), int(crm_sync), crm_id,
                      now, rev, item.id))
        return Item(id=item.id, entity=item.entity, crm_id=crm_id, crm_sync=crm_sync,
                    fields=fields, created_at=item.created_at, updated_at=now, rev=rev)

    def update(self, item_id: str, fields: Mapping[str, Any], *,
               crm_sync: bool | None = None) -> Item:
        """Partial update: merge ``fields`` into the item (see ``fields.merge_fields``: ``None``
        or ``""`` removes a field, an address dict merges by part); ``crm_sync`` when given.

        Returns the item as stored. A change that changes nothing writes nothing (same rev).
        Raises StoreError for a missing item or a bad field.
        """
        with self._write() as conn:
            item = self._require(conn, item_id)
            merged = merge_fields(item.entity, item.fields, fields)
            return self._rewrite(conn, item, merged,
                                 item.crm_sync if crm_sync is None else bool(crm_sync),
                                 item.crm_id)

    def replace_fields(self, item_id: str, fields: Mapping[str, Any]) -> Item:
        """Replace the item's whole field dict (sync writes); validated like ``add``.

        Returns the item as stored; writes nothing when the fields are unchanged.
        """
        with self._write() as conn:
            item = self._require(conn, item_id)
            clean = normalize_fields(item.entity, fields)
            return self._rewrite(conn, item, clean, item.crm_sync, item.crm_id)

    def set_crm_id(self, item_id: str, crm_id: str | None) -> None:
        """Link the item to CRM record ``crm_id`` (``None`` unlinks). Bumps its revision.

        Raises StoreError for a missing item or a ``crm_id`` linked to another item.
        """
        with self._write() as conn:
            item = self._require(conn, item_id)
            new = str(crm_id) if crm_id not in (None, "") else None
            if new is not None:
                self._check_crm_id_free(conn, item.entity, new, item.id)
            if new != item.crm_id:
                self._rewrite(conn, item, item.fields, item.crm_sync, new)

    def link(self, item_id: str, crm_id: str, *,
             fields: Mapping[str, Any] | None = None) -> Item:
        """Link the item to CRM record ``crm_id`` and mark it synced by the CRM
        (``crm_sync``), replacing its fields with ``fields`` when given (validated like
        ``add``): the sync's linking step as one write and one revision (none when nothing
        changes). Returns the item as stored.

        Raises StoreError for a missing item, a bad field or a ``crm_id`` linked to another
        item.
        """
        with self._write() as conn:
            item = self._require(conn, item_id)
            clean = item.fields if fields is None else normalize_fields(item.entity, fields)
            new = str(crm_id)
            if new != item.crm_id:
                self._check_crm_id_free(conn, item.entity, new, item.id)
            return self._rewrite(conn, item, clean, True, new)

    def link_many(self, entries: Iterable[tuple[Item, str, Mapping[str, Any] | None]],
                  *, later: bool = False) -> builtins.list[Item]:
        """``link`` for many ``(item, crm_id, fields or None)`` in one transaction (a
        savepoint inside the caller's), with one statement for all: the sync's fast path
        for a first sync into a full address book. ``item`` is the item as stored now.

        ``later``: an entry without fields is only checked and given its revision here, and
        written by ``write_links`` (the sync writes those once a pull is done, in the store's
        order: see ``write_links``); the caller keeps ``(id, crm_id, rev)`` of each.

        Returns the items as stored (or as ``write_links`` will store them), in order. All
        or nothing: raises StoreError for a bad field, an item gone, or a crm_id linked to
        another item (or given twice).
        """
        rows = [(item, str(crm_id),
                 None if fields is None else normalize_fields(item.entity, fields))
                for item, crm_id, fields in entries]
        if not rows:
            return []
        with self._write() as conn:
            wanted: dict[tuple[str, str], str] = {}
            for item, crm_id, _ in rows:
                if wanted.setdefault((item.entity, crm_id), item.id) != item.id:
                    raise _already_linked(crm_id, wanted[(item.entity, crm_id)])
            for entity in {e for e, _ in wanted}:
                ids = [c for e, c in wanted if e == entity]
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    for crm_id, holder in conn.execute(
                            f"SELECT crm_id, id FROM items WHERE entity = ? AND crm_id IN "
                            f"({','.join('?' * len(chunk))})", (entity, *chunk)):
                        if holder != wanted[(entity, crm_id)]:
                            raise _already_linked(crm_id, holder)
            last = self._next_rev(conn, len(rows))
            linked: builtins.list[Item] = []
            rewritten, kept = [], []
            now = self._now()   # one write: one time
            for offset, (item, crm_id, clean) in enumerate(rows, last - len(rows) + 1):
                if clean is None and isinstance(item, StoredItem):
                    linked.append(item.relinked(crm_id, now, offset))   # not decoded
                else:
                    linked.append(Item(id=item.id, entity=item.entity, crm_id=crm_id,
                                       crm_sync=True,
                                       fields=item.fields if clean is None else clean,
                                       created_at=item.created_at, updated_at=now,
                                       rev=offset))
                if clean is None:
                    # Its fields stay as stored (and so does their search text): only the
                    # link, the flag and the revision change.
                    if not later:
                        kept.append((crm_id, now, offset, item.id))
                else:
                    rewritten.append((_dumps(clean), search_text(item.entity, clean), crm_id,
                                      now, offset, item.id))
            # Written in the order of the items' ids, not in the order they came (the
            # CRM's): the ids this store makes grow with the time of creation, as do the
            # rowids and the revisions before this write, so the rows, the id index and
            # the old revisions' index entries are met in their stored order. A first
            # sync into an address book built in another order than the CRM's: 39 → 34 µs
            # of SQLite a contact at 100,000 (benchmarks/README.md, "What changed").
            rewritten.sort(key=_last)
            kept.sort(key=_last)
            count = conn.executemany(
                "UPDATE items SET fields = ?, search = ?, crm_sync = 1, crm_id = ?, "
                "updated_at = ?, rev = ? WHERE id = ?", rewritten).rowcount
            count += conn.executemany(
                "UPDATE items SET crm_sync = 1, crm_id = ?, updated_at = ?, rev = ? "
                "WHERE id = ?", kept).rowcount
            if count != len(rewritten) + len(kept):
                raise StoreError("A local item to link is gone.", title="Item not found")
            return linked

    def write_links(self, rows: Iterable[tuple[str, str, int]]) -> int:
        """Write links that ``link_many(later=True)`` left: for each ``(item_id, crm_id,
        rev)`` the item's crm_id, its flag and the revision reserved, unless the item has a
        newer one (an edit made since keeps its own revision, so it is still a change to
        send). In one transaction, in the order given: the caller sorts by item id, the
        store's order (ids, rowids and revisions grow with the time of creation), so that
        each page of the items and of their revision index is written once.

        Writing a row twice is harmless (the sync repeats the rows of a run killed while
        writing them). An item gone since is skipped; so is a crm_id another item holds
        now (logged: the link stays, the item shows none). Returns the items written.
        """
        statement = ("UPDATE items SET crm_sync = 1, crm_id = ?, updated_at = ?, "
                     "rev = max(rev, ?) WHERE id = ?")
        with self._write() as conn:
            now = self._now()
            values = [(crm_id, now, rev, item_id) for item_id, crm_id, rev in rows]
            try:
                with self.transaction():   # a savepoint: one held crm_id undoes only this
                    return int(conn.executemany(statement, values).rowcount)
            except sqlite3.IntegrityError:
                pass
            written = 0
            for row in values:
                try:
                    written += conn.execute(statement, row).rowcount
                except sqlite3.IntegrityError:
                    log.warning("CRM record %s is linked to local item %s, but another "
                                "item holds its id; that item keeps it", row[0], row[3])
            return written

    def delete(self, item_id: str, *, reason: str = "user", run_id: str | None = None) -> None:
        """Move the item, with all its content, to the trash and remove it.

        ``reason`` is ``user``, ``sync_delete`` or ``sync_overwrite``. Bumps ``max_rev``.
        Raises StoreError for a missing item or an unknown reason.
        """
        self._check_reason(reason)
        with self._write() as conn:
            item = self._require(conn, item_id)
            self._trash(conn, item, reason, run_id)
            conn.execute("DELETE FROM items WHERE id = ?", (item_id,))
            self._next_rev(conn)

    # -- trash ------------------------------------------------------------------------------

    @staticmethod
    def _check_reason(reason: str) -> None:
        if reason not in TRASH_REASONS:
            raise StoreError(f"Unknown trash reason {reason!r}; use one of "
                             f"{', '.join(TRASH_REASONS)}.", title="Invalid trash reason")

    def _trash(self, conn: sqlite3.Connection, item: Item, reason: str,
               run_id: str | None) -> int:
        cursor = conn.execute(
            "INSERT INTO trash (item_id, entity, crm_id, crm_sync, fields, created_at, "
            "updated_at, rev, reason, run_id, trashed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (item.id, item.entity, item.crm_id, int(item.crm_sync), _dumps(item.fields),
             item.created_at, item.updated_at, item.rev, reason, run_id, self._now()))
        return int(cursor.lastrowid or 0)

    def snapshot_to_trash(self, item: Item, reason: str = "sync_overwrite",
                          run_id: str | None = None) -> int:
        """Keep a copy of ``item`` as it is now (before a sync overwrites it); return the
        trash entry id. The item itself is not changed."""
        self._check_reason(reason)
        with self._write() as conn:
            return self._trash(conn, item, reason, run_id)

    def trash_list(self) -> builtins.list[TrashEntry]:
        """Trash entries, newest first."""
        rows = self._query(
            "SELECT entry_id, item_id, entity, crm_id, crm_sync, fields, created_at, "
            "updated_at, rev, reason, run_id, trashed_at FROM trash "
            "ORDER BY trashed_at DESC, entry_id DESC")
        return [TrashEntry(entry_id=r[0], item=_item(r[1:9]), reason=r[9], run_id=r[10],
                           trashed_at=r[11]) for r in rows]

    def trash_entries_after(self, entity: str, entry_id: int) -> builtins.list[
            tuple[int, str, str]]:
        """``(entry_id, item_id, reason)`` of the trash entries of ``entity`` made after
        entry ``entry_id`` (entry ids grow with every entry and are never reused), oldest
        first."""
        return [(int(r[0]), str(r[1]), str(r[2])) for r in self._query(
            "SELECT entry_id, item_id, reason FROM trash WHERE entity = ? AND entry_id > ? "
            "ORDER BY entry_id", (check_entity(entity), int(entry_id)))]

    def trash_restore(self, entry_id: int) -> Item:
        """Bring a trashed item back as a local, *unlinked* item and drop the entry.

        Rule: the item keeps its old id (and creation time) when no item has that id now;
        otherwise (e.g. a snapshot of an item a sync overwrote, which still exists) it comes
        back as a new item with a new id. Either way ``crm_id`` is cleared: the CRM record it
        was linked to may since have changed or be gone, so the next sync treats it as a new
        local item (and matches it by key rather than duplicating). ``crm_sync`` is kept.
        Raises StoreError for an unknown entry.
        """
        with self._write() as conn:
            row = conn.execute(
                "SELECT item_id, entity, crm_sync, fields, created_at FROM trash "
                "WHERE entry_id = ?", (entry_id,)).fetchone()
            if row is None:
                raise StoreError(f"There is no trash entry {entry_id}.",
                                 title="Trash entry not found")
            item_id, entity, crm_sync, fields_json, created_at = row
            taken = conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone()
            item = self._insert(conn, entity, json.loads(fields_json), crm_sync=bool(crm_sync),
                                crm_id=None,
                                item_id=_new_id() if taken else item_id,
                                created_at=None if taken else created_at)
            conn.execute("DELETE FROM trash WHERE entry_id = ?", (entry_id,))
            return item

    def trash_purge(self, older_than_days: int = TRASH_DAYS) -> int:
        """Delete trash entries older than ``older_than_days``; return how many."""
        cutoff = (self._clock() - timedelta(days=older_than_days)).astimezone(UTC)
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM trash WHERE trashed_at < ?",
                                  (cutoff.isoformat(timespec="microseconds"),))
            return int(cursor.rowcount)

    # -- interchange ------------------------------------------------------------------------

    def import_file(self, path: str | os.PathLike[str], *, keep_crm_ids: bool = False,
                    crm_sync: bool = True) -> ImportResult:
        """Import a vCard (.vcf: contacts) or iCalendar (.ics: events, tasks) file.

        Every good entry is imported even when others are bad: bad entries (too large ones
        included, see ``interchange_types``) become ``ImportResult.errors`` (position, name,
        reason), and what an imported entry lost on the way (a recurrence, an unknown time
        zone) ``ImportResult.warnings``. The file is read line by line. Items come in unlinked
        unless ``keep_crm_ids`` (then an ``X-CRM-ID`` already linked is an error for that entry).
        All imported items are written in one transaction. Raises InterchangeError when the file
        cannot be read or is neither vCard nor iCalendar.
        """
        from . import interchange  # (icalendar and vobject: imported when needed, ~0.3 s)

        entries = interchange.read_file(Path(path))
        result = ImportResult()
        # Items without a crm_id cannot collide: they are inserted 1,000 at a time.
        waiting: builtins.list[tuple[str, dict[str, Any], Record]] = []

        def flush(conn: sqlite3.Connection) -> None:
            for entity in dict.fromkeys(e for e, _, _ in waiting):
                batch = [(clean, record) for e, clean, record in waiting if e == entity]
                items = self._insert_many(conn, entity, [(clean, None) for clean, _ in batch],
                                          crm_sync=crm_sync)
                for item, (_, record) in zip(items, batch, strict=True):
                    self._imported(result, item, record)
            waiting.clear()

        with self._write() as conn:
            for record in entries:
                if isinstance(record, ImportProblem):
                    result.errors.append(record)
                    continue
                if isinstance(record, Skipped):
                    result.skipped += 1
                    continue
                try:
                    clean = normalize_fields(record.entity, record.fields)
                    if not clean or clean == {"all_day": False}:
                        result.skipped += 1
                        continue
                    if not (keep_crm_ids and record.crm_id):
                        waiting.append((record.entity, clean, record))
                        if len(waiting) >= 1000:
                            flush(conn)
                        continue
                    flush(conn)  # (file order kept)
                    with self.transaction():
                        item = self._insert(
                            conn, record.entity, clean, crm_sync=crm_sync,
                            crm_id=record.crm_id, item_id=_new_id(), created_at=None)
                except StoreError as exc:
                    result.errors.append(ImportProblem(record.index, record.name, exc.message))
                    continue
                self._imported(result, item, record)
            flush(conn)
        return result

    @staticmethod
    def _imported(result: ImportResult, item: Item, record: Record) -> None:
        result.created += 1
        result.item_ids.append(item.id)
        result.warnings.extend(ImportProblem(record.index, record.name, warning)
                               for warning in record.warnings)

    def export_file(self, entity: str, path: str | os.PathLike[str]) -> int:
        """Write every item of ``entity`` to ``path`` (contacts as vCard 3.0, tasks and events
        as iCalendar); return how many. The CRM id goes into ``X-CRM-ID``. The file is
        written atomically. Raises InterchangeError (unwritable path, wrong extension)."""
        from . import interchange

        check_entity(entity)
        target = Path(path)
        suffix = target.suffix.lower()
        expected = interchange.EXTENSIONS[entity]
        if suffix and suffix not in expected:
            raise InterchangeError(f"{entity} are exported as {' or '.join(expected)}, not "
                                   f"{suffix}.", title="Wrong file type")
        return interchange.write_file(entity, self.iter_items(entity), target)
