"""A run's per-entity indexes that must not grow with the number of records in memory.

A first sync into a store of 100,000 people handles 100,000 item ids (~12 MB as a Python
set) and indexes 100,000 unlinked items by key. The id set starts in memory and, past
``SPILL_AT`` ids, moves to a private on-disk SQLite database (``sqlite3.connect("")``: a
temporary file SQLite deletes when it is closed, its page cache bounded by ``CACHE_KIB``).
The key index holds 16 bytes an item in memory (1.6 MB for 100,000 people) and moves to
such a file past ``KEY_SPILL_AT`` items. Nothing in either is durable: it lives as long as
the entity's pass; a killed run leaves nothing behind.

Small runs (every interval run) never open the file.
"""

from __future__ import annotations

import heapq
import sqlite3
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

SPILL_AT = 20_000   # ids held in memory before the id set moves to disk
KEY_SPILL_AT = 1_000_000   # key index entries held in memory (16 bytes each)
HASH_BITS, SEQ_BITS = 40, 23   # a key index entry: its slot's hash and its seq, packed
HASH_MASK, SEQ_MASK = (1 << HASH_BITS) - 1, (1 << SEQ_BITS) - 1
_ADDS = 2_000     # ids added on disk, held in memory before they are written together
_RUN = 65_536      # key index entries sorted at a time while it is built
CACHE_KIB = 2048    # the scratch database's page cache


def slot_hash(slot: str) -> int:
    """A key slot's 40-bit hash (Python's string hash: the same within the process, the
    only place an index lives)."""
    return hash(slot) & HASH_MASK


def _scratch_db() -> sqlite3.Connection:
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")   # one transaction, never committed: nothing here is kept
    return db


class IdSet:
    """A set of item ids (``in``, ``add``, ``update``, ``discard``, ``len``).

    On disk, ids added wait in memory (up to ``_ADDS``) and are written together, and
    ``preload(ids)`` asks the file about many ids at once: ``in`` answers those from memory
    until the next ``preload`` (a pulled batch's items: one statement, not one each)."""

    def __init__(self, spill_at: int | None = None) -> None:
        self._mem: set[str] = set()   # in memory: every id; on disk: those not yet written
        self._absent: set[str] = set()   # known not to be in the file (``preload``)
        self._db: sqlite3.Connection | None = None
        self._spill_at = SPILL_AT if spill_at is None else spill_at

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def __contains__(self, item_id: object) -> bool:
        if item_id in self._mem:
            return True
        if self._db is None or item_id in self._absent:
            return False
        return self._db.execute("SELECT 1 FROM ids WHERE id = ?", (item_id,)).fetchone() is not None

    def add(self, item_id: str) -> None:
        self._mem.add(item_id)
        self._settle()

    def update(self, item_ids: Iterable[str]) -> None:
        self._mem.update(item_ids)
        self._settle()

    def _settle(self) -> None:
        """After adds: move to disk past ``spill_at`` ids; on disk, write the ids waiting in
        memory once they are ``_ADDS``."""
        if self._db is None:
            if len(self._mem) > self._spill_at:
                self._spill()
        elif len(self._mem) >= _ADDS:
            self._write()

    def preload(self, item_ids: Iterable[str]) -> None:
        """Ask the file about ``item_ids`` at once, for the ``in`` that follow (nothing in
        memory, where every answer is at hand)."""
        if self._db is None:
            return
        asked = [i for i in dict.fromkeys(item_ids) if i not in self._mem]
        self._absent = set(asked) - self._stored(asked)

    def present(self, item_ids: Sequence[str]) -> set[str]:
        """Those of ``item_ids`` in the set (on disk, one statement per 500 ids)."""
        found = {i for i in item_ids if i in self._mem}
        if self._db is not None:
            found |= self._stored(item_ids)
        return found

    def _stored(self, item_ids: Sequence[str]) -> set[str]:
        """Those of ``item_ids`` written to the file."""
        assert self._db is not None
        found: set[str] = set()
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start:start + 500]
            found.update(r[0] for r in self._db.execute(
                f"SELECT id FROM ids WHERE id IN ({','.join('?' * len(chunk))})", chunk))
        return found

    def discard(self, item_id: str) -> None:
        self._mem.discard(item_id)
        if self._db is not None:
            self._db.execute("DELETE FROM ids WHERE id = ?", (item_id,))
            self._absent.add(item_id)

    def __len__(self) -> int:
        if self._db is None:
            return len(self._mem)
        self._write()
        count: int = self._db.execute("SELECT count(*) FROM ids").fetchone()[0]
        return count

    def __iter__(self) -> Iterator[str]:
        if self._db is None:
            return iter(list(self._mem))
        self._write()
        return (r[0] for r in self._db.execute("SELECT id FROM ids").fetchall())

    def _write(self) -> None:
        """Write the ids added since the last write (on disk)."""
        if self._mem and self._db is not None:
            # In order: each page of the file's index is met once, not once per id.
            self._db.executemany("INSERT OR IGNORE INTO ids VALUES (?)",
                                 ((i,) for i in sorted(self._mem)))
            self._absent -= self._mem
            self._mem = set()

    def _spill(self) -> None:
        db = _scratch_db()
        db.execute("CREATE TABLE ids (id TEXT PRIMARY KEY) WITHOUT ROWID")
        self._db = db
        self._write()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._mem, self._absent = set(), set()


class KeyIndex:
    """Local items, by their store rowid, under key slots (strings), each slot's entries in
    the order they were added. ``lookup(slots)`` reads the live entries ``(seq, rowid)``
    under some slots, oldest first; ``take(seq)`` removes one.

    A slot is held as a 40-bit hash of its text, so a lookup may also answer the entries of
    another slot with the same hash (about one lookup in 10,000 of a first sync into
    100,000 people): the caller checks the key of what it reads (``matching.local_match``).
    In memory, an entry is two 8-byte integers: ``hash << SEQ_BITS | seq``, sorted for a
    binary search, and the rowid at ``seq`` (-1 once taken). A first sync into 100,000
    people holds 1.6 MB (a dict of the slots' text held 30 MB, and its SQLite copy on disk
    cost ~15 µs an item to write and read back). Past ``spill_at`` entries the index moves
    to a scratch database.
    """

    def __init__(self, spill_at: int | None = None) -> None:
        self._spill_at = KEY_SPILL_AT if spill_at is None else spill_at
        self._rowids = array("q")          # by seq: the item's rowid, -1 once taken
        self._runs: list[array[int]] = []  # sorted runs of packed entries
        self._tail = array("q")            # packed entries not yet sorted
        self._live = 0
        self._db: sqlite3.Connection | None = None
        self._pending: list[tuple[int, int]] = []   # (hash, rowid) added on disk, unwritten

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def __bool__(self) -> bool:
        return self._live > 0

    def add(self, slot: str, rowid: int) -> None:
        self._live += 1
        h = slot_hash(slot)
        if self._db is not None:
            self._pending.append((h, rowid))
            if len(self._pending) >= 500:
                self._flush()
            return
        seq = len(self._rowids)
        self._rowids.append(rowid)
        self._tail.append(h << SEQ_BITS | seq)
        if len(self._tail) >= _RUN:
            self._runs.append(array("q", sorted(self._tail)))
            self._tail = array("q")
        if self._live > self._spill_at:
            self._spill()

    def lookup(self, slots: Iterable[str]) -> dict[str, list[tuple[int, int]]]:
        """The live entries ``(seq, rowid)`` under each of ``slots`` (those holding any),
        oldest first, not taken. Slots with the same hash share one list."""
        by_hash: dict[int, list[str]] = {}
        for slot in dict.fromkeys(slots):
            by_hash.setdefault(slot_hash(slot), []).append(slot)
        found: dict[int, list[tuple[int, int]]] = {}
        if self._db is not None:
            self._flush()
            hashes = list(by_hash)
            for start in range(0, len(hashes), 500):
                chunk = hashes[start:start + 500]
                for seq, h, rowid in self._db.execute(
                        f"SELECT seq, h, rid FROM keyed WHERE h IN ({','.join('?' * len(chunk))}) "
                        "ORDER BY seq", chunk):
                    found.setdefault(h, []).append((seq, rowid))
        else:
            packed = self._sorted()
            rowids, end = self._rowids, len(packed)
            for h in by_hash:
                low = h << SEQ_BITS
                i = bisect_left(packed, low)
                entries = []
                while i < end and (value := packed[i]) >> SEQ_BITS == h:
                    seq = value & SEQ_MASK
                    if (rowid := rowids[seq]) >= 0:
                        entries.append((seq, rowid))
                    i += 1
                if entries:
                    found[h] = entries
        return {slot: entries for h, entries in found.items() for slot in by_hash[h]}

    def take(self, seq: int) -> None:
        """Remove the entry ``seq`` (nothing when it is gone already)."""
        if self._db is not None:
            self._flush()
            if self._db.execute("DELETE FROM keyed WHERE seq = ?", (seq,)).rowcount:
                self._live -= 1
        elif self._rowids[seq] >= 0:
            self._rowids[seq] = -1
            self._live -= 1

    def _sorted(self) -> array[int]:
        """The packed entries as one sorted array (the runs merged, once built)."""
        if self._tail:
            self._runs.append(array("q", sorted(self._tail)))
            self._tail = array("q")
        if len(self._runs) > 1:
            self._runs = [array("q", heapq.merge(*self._runs))]
        return self._runs[0] if self._runs else self._tail

    def _flush(self) -> None:
        """Write the entries added on disk since the last write (500 at a time, in order)."""
        if self._pending and self._db is not None:
            self._db.executemany("INSERT INTO keyed (h, rid) VALUES (?, ?)", self._pending)
            self._pending = []

    def _spill(self) -> None:
        db = _scratch_db()
        db.execute("CREATE TABLE keyed (seq INTEGER PRIMARY KEY, h INTEGER NOT NULL, "
                   "rid INTEGER NOT NULL)")
        db.execute("CREATE INDEX keyed_h ON keyed (h, seq)")
        rowids = self._rowids
        db.executemany("INSERT INTO keyed (seq, h, rid) VALUES (?, ?, ?)", (
            (value & SEQ_MASK, value >> SEQ_BITS, rowids[value & SEQ_MASK])
            for value in self._sorted() if rowids[value & SEQ_MASK] >= 0))
        self._db, self._rowids, self._runs, self._tail = db, array("q"), [], array("q")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._rowids, self._runs, self._tail = array("q"), [], array("q")
        self._live, self._pending = 0, []
