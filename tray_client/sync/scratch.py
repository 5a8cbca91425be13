"""A run's per-entity indexes that must not grow with the number of records in memory.

A first sync into a store of 100,000 people handled 100,000 item ids (~12 MB as a Python
set) and indexed 100,000 unlinked items by key (~30 MB as a dict of lists): the largest
part of its peak RSS. Both start in memory and, past ``SPILL_AT`` entries, move to a
private on-disk SQLite database (``sqlite3.connect("")``: a temporary file SQLite deletes
when it is closed, its page cache bounded by ``CACHE_KIB``). Nothing in it is durable:
it lives as long as the entity's pass; a killed run leaves nothing behind.

Small runs (every interval run) never open the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence

SPILL_AT = 20_000   # entries held in memory before the index moves to disk
CACHE_KIB = 2048    # the scratch database's page cache


def _scratch_db() -> sqlite3.Connection:
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")   # one transaction, never committed: nothing here is kept
    return db


class IdSet:
    """A set of item ids (``in``, ``add``, ``update``, ``discard``, ``len``)."""

    def __init__(self, spill_at: int | None = None) -> None:
        self._mem: set[str] = set()
        self._db: sqlite3.Connection | None = None
        self._spill_at = SPILL_AT if spill_at is None else spill_at

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def __contains__(self, item_id: object) -> bool:
        if item_id in self._mem:
            return True
        if self._db is None:
            return False
        return self._db.execute("SELECT 1 FROM ids WHERE id = ?", (item_id,)).fetchone() is not None

    def add(self, item_id: str) -> None:
        if self._db is None:
            self._mem.add(item_id)
            if len(self._mem) > self._spill_at:
                self._spill()
        else:
            self._db.execute("INSERT OR IGNORE INTO ids VALUES (?)", (item_id,))

    def update(self, item_ids: Iterable[str]) -> None:
        pending = iter(item_ids)
        if self._db is None:
            for item_id in pending:
                self.add(item_id)
                if self._db is not None:
                    break   # moved to disk: the rest in one statement
        if self._db is not None:
            self._db.executemany("INSERT OR IGNORE INTO ids VALUES (?)",
                                 ((item_id,) for item_id in pending))

    def present(self, item_ids: Sequence[str]) -> set[str]:
        """Those of ``item_ids`` in the set (on disk, one statement per 500 ids)."""
        found = {i for i in item_ids if i in self._mem}
        if self._db is not None:
            for start in range(0, len(item_ids), 500):
                chunk = item_ids[start:start + 500]
                found.update(r[0] for r in self._db.execute(
                    f"SELECT id FROM ids WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def discard(self, item_id: str) -> None:
        self._mem.discard(item_id)
        if self._db is not None:
            self._db.execute("DELETE FROM ids WHERE id = ?", (item_id,))

    def __len__(self) -> int:
        if self._db is None:
            return len(self._mem)
        count: int = self._db.execute("SELECT count(*) FROM ids").fetchone()[0]
        return count

    def __iter__(self) -> Iterator[str]:
        if self._db is None:
            return iter(list(self._mem))
        return (r[0] for r in self._db.execute("SELECT id FROM ids").fetchall())

    def _spill(self) -> None:
        db = _scratch_db()
        db.execute("CREATE TABLE ids (id TEXT PRIMARY KEY) WITHOUT ROWID")
        db.executemany("INSERT INTO ids VALUES (?)", ((i,) for i in self._mem))
        self._db, self._mem = db, set()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._mem = set()


class KeyIndex:
    """Item ids by key slot (a string), each slot's ids in the order they were added;
    ``take(slot)`` hands them out one at a time, oldest first. ``candidates(slots)`` reads
    what some slots hold without taking it (a pulled batch's partners, read at once)."""

    def __init__(self, spill_at: int | None = None) -> None:
        self._mem: dict[str, list[str]] = {}
        self._size = 0   # ids held, in memory and on disk
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[str, str]] = []   # added on disk, not yet written
        self._spill_at = SPILL_AT if spill_at is None else spill_at

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def __bool__(self) -> bool:
        return self._size > 0

    def add(self, slot: str, item_id: str) -> None:
        self._size += 1
        if self._db is None:
            self._mem.setdefault(slot, []).append(item_id)
            if self._size > self._spill_at:
                self._spill()
        else:
            self._pending.append((slot, item_id))
            if len(self._pending) >= 500:
                self._flush()

    def _flush(self) -> None:
        """Write the ids added on disk since the last write (500 at a time, in order)."""
        if self._pending and self._db is not None:
            self._db.executemany("INSERT INTO keyed (slot, item_id) VALUES (?, ?)",
                                 self._pending)
            self._pending = []

    def take(self, slot: str) -> str | None:
        """The oldest id left under ``slot``, removed from it; None when none is left."""
        ids = self._mem.get(slot)
        if ids:
            item_id = ids.pop(0)
            if not ids:
                del self._mem[slot]
            self._size -= 1
            return item_id
        if self._db is None:
            return None
        self._flush()
        row = self._db.execute(
            "DELETE FROM keyed WHERE seq = (SELECT seq FROM keyed WHERE slot = ? ORDER BY seq "
            "LIMIT 1) RETURNING item_id", (slot,)).fetchone()
        if row is None:
            return None
        self._size -= 1
        found: str = row[0]
        return found

    def candidates(self, slots: Iterable[str]) -> dict[str, list[str]]:
        """The ids under each of ``slots`` (those holding any), oldest first, not taken.
        On disk, they are moved to memory with one statement per 500 slots: the ``take``
        calls that follow find them there (ids a batch leaves, under a key two local items
        share, stay in memory: a few)."""
        wanted = list(dict.fromkeys(slots))
        if self._db is not None:
            self._flush()
            rows: list[tuple[int, str, str]] = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                rows += self._db.execute(
                    f"DELETE FROM keyed WHERE slot IN ({','.join('?' * len(chunk))}) "
                    "RETURNING seq, slot, item_id", chunk).fetchall()
            # Older than any still on disk, and newer than any of the slot's already in
            # memory: appended, in their order, they keep each slot's order.
            for _seq, slot, item_id in sorted(rows):
                self._mem.setdefault(slot, []).append(item_id)
        return {slot: list(self._mem[slot]) for slot in wanted if slot in self._mem}

    def _spill(self) -> None:
        db = _scratch_db()
        db.execute("CREATE TABLE keyed (seq INTEGER PRIMARY KEY, slot TEXT NOT NULL, "
                   "item_id TEXT NOT NULL)")
        db.execute("CREATE INDEX keyed_slot ON keyed (slot, seq)")
        # Slot by slot keeps each slot's order (seq grows with the insertion).
        db.executemany("INSERT INTO keyed (slot, item_id) VALUES (?, ?)",
                       ((slot, i) for slot, ids in self._mem.items() for i in ids))
        self._db, self._mem = db, {}

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._mem, self._size, self._pending = {}, 0, []
