"""The sync state, kept in the local store's database in tables of its own.

Tables (their definitions and schema version: ``schema``; created or upgraded inside one
transaction):

- ``sync_links``: one row per linked pair: entity, local item id, CRM id, the *base* (the
  canonical values both sides agreed on at the last sync, JSON), the CRM record's updatedAt
  and the item's rev written by the last sync (so the engine skips its own writes).
- ``sync_cursors``: per entity: the CRM changed-since cursor ``(updatedAt, id)``, the removals
  cursor, the local rev watermark, the last full ids reconciliation, and whether the first
  sync finished.
- ``sync_runs`` / ``sync_report``: every run and its per-record rows (action, direction,
  status, message, conflict field with both values as JSON).
- ``sync_pending``: records that failed and are retried next run.
- ``sync_intents``: creates in the CRM that were started and not yet linked, so that a run
  killed after the CRM answered does not create the record twice.
- ``sync_writes``: the values of a CRM write in flight, so that a run killed after the CRM
  applied it recognises them as its own (not as a CRM edit) next time.
- ``sync_unwritten``: links a pull committed whose local items are not written yet (their
  ``crm_id``, flag and the revision reserved for each; ``apply.write_links`` writes them at
  the end of the pull, in the store's order, or the next run first when a run was killed).
- ``sync_holds``: a pending local change the user dropped from the queue (``history.queue``):
  the engine skips pushing an item whose current rev equals its hold; any later write gives
  the item a new rev, so the hold no longer applies.

Every method runs on the store's connection inside the caller's transaction; none commits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from . import schema


@dataclass
class Link:
    entity: str
    item_id: str
    crm_id: str
    base: dict[str, Any]
    crm_updated_at: str | None
    synced_rev: int


@dataclass
class EntityCursor:
    entity: str
    crm_updated_at: str | None = None
    crm_id: str | None = None
    removals_since: str | None = None
    local_rev: int = 0
    ids_reconciled_at: float | None = None
    first_sync_done: bool = False


# One encoder for every call (json.dumps with options builds a new one each time).
# What ``json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
# writes, in a quarter of its time (msgspec; tests/sync/test_state.py checks the bytes).
_encoder = msgspec.json.Encoder(order="sorted")


def _dumps(value: Any) -> str:
    return _encoder.encode(value).decode()


class SyncState:
    """Typed access to the sync tables on ``connection`` (the store's)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection
        self._maybe_pending: bool | None = None   # skip clear_pending while none exist
        self._maybe_writes: bool | None = None    # skip write look-ups while none exist

    def exists(self) -> bool:
        """Whether the sync tables were created (by a sync) in this database."""
        return self._has_table("sync_runs")

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                               (name,)).fetchone() is not None

    def migrate(self) -> None:
        """Create the tables on first use; refuse a newer schema than this code knows."""
        schema.migrate(self.db)

    # -- small values ----------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM sync_meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO sync_meta (key, value) VALUES (?, ?)",
                        (key, value))

    # -- links -----------------------------------------------------------------------------

    def _link(self, row: tuple[Any, ...] | None) -> Link | None:
        if row is None:
            return None
        return Link(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5])

    _LINK_COLS = "entity, item_id, crm_id, base, crm_updated_at, synced_rev"

    def link_by_crm(self, entity: str, crm_id: str) -> Link | None:
        return self._link(self.db.execute(
            f"SELECT {self._LINK_COLS} FROM sync_links WHERE entity=? AND crm_id=?",
            (entity, crm_id)).fetchone())

    def link_by_item(self, item_id: str) -> Link | None:
        return self._link(self.db.execute(
            f"SELECT {self._LINK_COLS} FROM sync_links WHERE item_id=?", (item_id,)).fetchone())

    def links_by_crm(self, entity: str, crm_ids: Sequence[str]) -> dict[str, Link]:
        """crm_id -> link, for those of ``crm_ids`` that are linked (read in chunks)."""
        result: dict[str, Link] = {}
        for start in range(0, len(crm_ids), 500):
            chunk = crm_ids[start:start + 500]
            for row in self.db.execute(
                    f"SELECT {self._LINK_COLS} FROM sync_links WHERE entity=? AND crm_id IN "
                    f"({','.join('?' * len(chunk))})", (entity, *chunk)):
                link = self._link(row)
                assert link is not None
                result[link.crm_id] = link
        return result

    def links(self, entity: str) -> Iterator[Link]:
        for row in self.db.execute(
                f"SELECT {self._LINK_COLS} FROM sync_links WHERE entity=?", (entity,)):
            link = self._link(row)
            assert link is not None
            yield link

    def linked_item_ids(self, entity: str) -> dict[str, str]:
        """item_id -> crm_id of every link of ``entity``."""
        return dict(self.db.execute(
            "SELECT item_id, crm_id FROM sync_links WHERE entity=?", (entity,)).fetchall())

    def links_by_item(self, entity: str, item_ids: Sequence[str]) -> dict[str, str]:
        """item_id -> crm_id, for those of ``item_ids`` that are linked (read in chunks)."""
        result: dict[str, str] = {}
        ids = list(dict.fromkeys(item_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            result.update(self.db.execute(
                f"SELECT item_id, crm_id FROM sync_links WHERE entity=? AND item_id IN "
                f"({','.join('?' * len(chunk))})", (entity, *chunk)).fetchall())
        return result

    def links_without_item(self, entity: str) -> dict[str, str]:
        """item_id -> crm_id of the links whose local item is not in the store (the sync
        tables live in the store's database)."""
        return dict(self.db.execute(
            "SELECT item_id, crm_id FROM sync_links WHERE entity=? AND item_id NOT IN "
            "(SELECT id FROM items)", (entity,)).fetchall())

    def linked_crm_ids(self, entity: str) -> set[str]:
        return {r[0] for r in self.db.execute(
            "SELECT crm_id FROM sync_links WHERE entity=?", (entity,))}

    def link_count(self, entity: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM sync_links WHERE entity=?",
                                   (entity,)).fetchone()[0])

    def put_link(self, entity: str, item_id: str, crm_id: str, base: dict[str, Any],
                 crm_updated_at: str | None, synced_rev: int) -> None:
        """Insert or replace the link of ``item_id`` (and of ``crm_id``)."""
        self.put_links(entity, [(item_id, crm_id, base, crm_updated_at, synced_rev)])

    def put_links(self, entity: str,
                  rows: Sequence[tuple[str, str, dict[str, Any], str | None, int]]) -> None:
        """``put_link`` for many ``(item_id, crm_id, base, crm_updated_at, synced_rev)``."""
        # OR REPLACE drops any row in the way on either unique key (the item's or the CRM's).
        self.db.executemany(
            "INSERT OR REPLACE INTO sync_links (entity, item_id, crm_id, base, crm_updated_at,"
            " synced_rev) VALUES (?, ?, ?, ?, ?, ?)",
            [(entity, item_id, crm_id, _dumps(base), updated, rev)
             for item_id, crm_id, base, updated, rev in rows])
        if self._writes_exist():
            # A committed base supersedes any write in flight for this pair.
            for item_id, crm_id, *_rest in rows:
                self.drop_writes(entity, crm_id, f"item:{item_id}")

    def drop_link(self, entity: str, crm_id: str) -> None:
        self.db.execute("DELETE FROM sync_links WHERE entity=? AND crm_id=?", (entity, crm_id))

    def drop_links(self, entity: str) -> None:
        self.db.execute("DELETE FROM sync_links WHERE entity=?", (entity,))

    # -- links whose items are written at the end of the pull -------------------------------

    def add_unwritten(self, entity: str, rows: Sequence[tuple[str, str, int]]) -> None:
        """Remember links ``(item_id, crm_id, reserved rev)`` whose items are not written yet
        (committed with the links themselves)."""
        self.db.executemany(
            "INSERT INTO sync_unwritten (entity, item_id, crm_id, rev) VALUES (?, ?, ?, ?)",
            [(entity, item_id, crm_id, rev) for item_id, crm_id, rev in rows])

    def unwritten(self, entity: str) -> tuple[list[tuple[str, str, int]], int]:
        """``(item_id, crm_id, reserved rev)`` of the links of ``entity`` whose items are not
        written yet, in the items' id order; and the last of their row numbers, for
        ``drop_unwritten`` (rows added later get higher ones)."""
        rows = self.db.execute(
            "SELECT rowid, item_id, crm_id, rev FROM sync_unwritten WHERE entity=? "
            "ORDER BY item_id", (entity,)).fetchall()
        return [tuple(r[1:]) for r in rows], max((r[0] for r in rows), default=0)

    def unwritten_entities(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT entity FROM sync_unwritten")]

    def drop_unwritten(self, entity: str, up_to: int) -> None:
        """Forget the rows of ``entity`` that ``unwritten`` read (row numbers up to
        ``up_to``): not those a pull still running in another process added since."""
        self.db.execute("DELETE FROM sync_unwritten WHERE entity=? AND rowid <= ?",
                        (entity, up_to))

    # -- cursors ---------------------------------------------------------------------------

    def cursor(self, entity: str) -> EntityCursor:
        row = self.db.execute(
            "SELECT crm_updated_at, crm_id, removals_since, local_rev, ids_reconciled_at,"
            " first_sync_done FROM sync_cursors WHERE entity=?", (entity,)).fetchone()
        if row is None:
            return EntityCursor(entity)
        return EntityCursor(entity, row[0], row[1], row[2], int(row[3]), row[4], bool(row[5]))

    def put_cursor(self, cur: EntityCursor) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sync_cursors (entity, crm_updated_at, crm_id, removals_since,"
            " local_rev, ids_reconciled_at, first_sync_done) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cur.entity, cur.crm_updated_at, cur.crm_id, cur.removals_since, cur.local_rev,
             cur.ids_reconciled_at, int(cur.first_sync_done)))

    def drop_cursor(self, entity: str) -> None:
        self.db.execute("DELETE FROM sync_cursors WHERE entity=?", (entity,))

    # -- pending retries -------------------------------------------------------------------

    def add_pending(self, entity: str, side: str, ref: str, message: str) -> None:
        """Remember a failed record (``side``: ``crm`` = a CRM id to re-read, ``local`` = an
        item id to push again)."""
        self._maybe_pending = True
        self.db.execute(
            "INSERT INTO sync_pending (entity, side, ref, message) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (entity, side, ref) DO UPDATE SET message=excluded.message, "
            "attempts=attempts+1", (entity, side, ref, message))

    def clear_pending(self, entity: str, side: str, ref: str) -> None:
        if self._maybe_pending is None:
            self._maybe_pending = self.pending_count() > 0
        if not self._maybe_pending:
            return
        self.db.execute("DELETE FROM sync_pending WHERE entity=? AND side=? AND ref=?",
                        (entity, side, ref))

    def pending(self, entity: str, side: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT ref FROM sync_pending WHERE entity=? AND side=? ORDER BY ref",
            (entity, side))]

    def pending_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM sync_pending").fetchone()[0])

    # -- CRM writes in flight --------------------------------------------------------------

    def put_write(self, entity: str, ref: str, values: dict[str, Any]) -> None:
        """Record the values of a CRM write about to be sent under ``ref``.

        A write still recorded under ``ref`` (its run was killed before the new base was
        committed) may have been applied by the CRM: its values are kept beside the new ones,
        never replaced, so the next run still recognises either as its own.
        """
        self._maybe_writes = True
        sent = self._sent(entity, ref)
        if values not in sent:
            sent.append(values)
        self.db.execute("INSERT OR REPLACE INTO sync_writes (entity, ref, vals) VALUES (?,?,?)",
                        (entity, ref, _dumps(sent)))

    def _sent(self, entity: str, ref: str) -> list[dict[str, Any]]:
        """The writes recorded under ``ref``, oldest first (a row is a list of value dicts;
        a row written before that held one dict)."""
        row = self.db.execute("SELECT vals FROM sync_writes WHERE entity=? AND ref=?",
                              (entity, ref)).fetchone()
        if row is None:
            return []
        sent = json.loads(row[0])
        return sent if isinstance(sent, list) else [sent]

    def writes_for(self, entity: str, *refs: str | None) -> dict[str, list[Any]]:
        """field -> every value sent for it by the writes in flight under ``refs``, or {}."""
        if not self._writes_exist():
            return {}
        result: dict[str, list[Any]] = {}
        for ref in refs:
            if ref is None:
                continue
            for values in self._sent(entity, ref):
                for f, value in values.items():
                    result.setdefault(f, []).append(value)
        return result

    def _writes_exist(self) -> bool:
        if self._maybe_writes is None:
            self._maybe_writes = self.db.execute(
                "SELECT 1 FROM sync_writes LIMIT 1").fetchone() is not None
        return self._maybe_writes

    def drop_writes(self, entity: str, *refs: str) -> None:
        if not self._writes_exist():
            return
        for ref in refs:
            self.db.execute("DELETE FROM sync_writes WHERE entity=? AND ref=?", (entity, ref))

    # -- create intents --------------------------------------------------------------------

    def add_intent(self, entity: str, item_id: str, started_at: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO sync_intents (entity, item_id, started_at)"
                        " VALUES (?, ?, ?)", (entity, item_id, started_at))

    def intents(self, entity: str) -> dict[str, str]:
        return dict(self.db.execute(
            "SELECT item_id, started_at FROM sync_intents WHERE entity=?", (entity,)).fetchall())

    def drop_intent(self, item_id: str) -> None:
        self.db.execute("DELETE FROM sync_intents WHERE item_id=?", (item_id,))

    # -- runs and report rows --------------------------------------------------------------

    def start_run(self, run_id: str, trigger: str, started_at: str) -> None:
        self.db.execute("INSERT INTO sync_runs (run_id, trigger, started_at) VALUES (?, ?, ?)",
                        (run_id, trigger, started_at))

    def finish_run(self, run_id: str, finished_at: str, outcome: str, message: str,
                   counts: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE sync_runs SET finished_at=?, outcome=?, message=?, counts=? WHERE run_id=?",
            (finished_at, outcome, message, _dumps(counts), run_id))

    def add_report_row(self, run_id: str, entity: str, *, item_id: str | None,
                       crm_id: str | None, name: str, action: str, direction: str,
                       status: str = "success", message: str = "", field: str | None = None,
                       local_value: Any = None, crm_value: Any = None,
                       winner: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO sync_report (run_id, entity, item_id, crm_id, name, action, direction,"
            " status, message, field, local_value, crm_value, winner)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, entity, item_id, crm_id, name, action, direction, status, message, field,
             None if field is None else _dumps(local_value),
             None if field is None else _dumps(crm_value), winner))

    def add_report_rows(self, run_id: str, entity: str,
                        rows: Sequence[tuple[str | None, str | None, str, str, str, str]]) -> None:
        """Plain (successful, conflict-free) report rows:
        ``(item_id, crm_id, name, action, direction, message)`` each."""
        self.db.executemany(
            "INSERT INTO sync_report (run_id, entity, item_id, crm_id, name, action, direction,"
            " status, message) VALUES (?, ?, ?, ?, ?, ?, ?, 'success', ?)",
            [(run_id, entity, *row) for row in rows])

    def runs(self, limit: int) -> list[tuple[Any, ...]]:
        return self.db.execute(
            "SELECT run_id, trigger, started_at, finished_at, outcome, message, counts"
            " FROM sync_runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)).fetchall()

    def report_rows(self, run_id: str) -> list[sqlite3.Row | tuple[Any, ...]]:
        return self.db.execute(
            "SELECT entity, item_id, crm_id, name, action, direction, status, message, field,"
            " local_value, crm_value, winner FROM sync_report WHERE run_id=? ORDER BY seq",
            (run_id,)).fetchall()

    # -- holds (changes dropped from the queue) -----------------------------------------------

    def hold(self, entity: str, item_id: str, rev: int, held_at: str) -> None:
        """Hold ``item_id``'s change at ``rev``: the push skips it while the item has it."""
        self.db.execute("INSERT INTO sync_holds (entity, item_id, rev, held_at) VALUES "
                        "(?,?,?,?) ON CONFLICT (entity, item_id) DO UPDATE SET "
                        "rev = excluded.rev, held_at = excluded.held_at",
                        (entity, item_id, rev, held_at))

    def release(self, entity: str, item_id: str) -> bool:
        """Forget ``item_id``'s hold; True when there was one."""
        return self.db.execute("DELETE FROM sync_holds WHERE entity = ? AND item_id = ?",
                               (entity, item_id)).rowcount > 0

    def held_revs(self, entity: str) -> dict[str, int]:
        """item_id -> held rev for ``entity`` ({} in a database no sync or hold touched)."""
        if not self._has_table("sync_holds"):
            return {}
        rows = self.db.execute("SELECT item_id, rev FROM sync_holds WHERE entity = ?",
                               (entity,)).fetchall()
        return {item_id: int(rev) for item_id, rev in rows}

    def purge_runs(self, older_than: str) -> None:
        """Forget runs (and their rows) that started before ``older_than`` (ISO UTC)."""
        self.db.execute("DELETE FROM sync_report WHERE run_id IN (SELECT run_id FROM sync_runs"
                        " WHERE started_at < ?)", (older_than,))
        self.db.execute("DELETE FROM sync_runs WHERE started_at < ?", (older_than,))
