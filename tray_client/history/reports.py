"""Paginated queries over the sync history (``sync_runs`` / ``sync_report``), the per-day
summary, CSV export and the retention purge.

Every query takes the LocalStore (for its connection and lock) and returns plain dataclasses.
Pages are windows: runs by ``LIMIT/OFFSET`` (thousands of runs at most), report rows by
keyset on ``seq`` (millions of rows: ``after_seq`` is the last ``seq`` of the previous page),
so no query ever loads a whole table and none needs a ``COUNT(*)`` over it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

from ..times import utc_text
from .schema import ensure_indexes

STATUSES = ("success", "error")
CSV_COLUMNS = ("run_id", "started_at", "entity", "name", "action", "direction", "status",
               "message", "item_id", "crm_id", "field", "local_value", "crm_value", "winner")


def _read(store: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    ensure_indexes(store.connection, store)
    with store.lock:
        rows: list[tuple[Any, ...]] = store.connection.execute(sql, params).fetchall()
    return rows


@dataclass(frozen=True)
class RunSummary:
    """One sync run as the runs list shows it."""

    run_id: str
    trigger: str
    started_at: str
    finished_at: str | None
    outcome: str            # ok | partial | offline | failed | guarded | cancelled | running
    message: str
    counts: dict[str, dict[str, dict[str, int]]]   # entity -> side -> created/updated/deleted

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, or None while unfinished."""
        if not self.finished_at:
            return None
        return (_parse(self.finished_at) - _parse(self.started_at)).total_seconds()

    @property
    def total(self) -> int:
        """Records created, updated or deleted on either side."""
        return sum(n for sides in self.counts.values() for kinds in sides.values()
                   for n in kinds.values())

    def entity_side_total(self, entity: str, side: str) -> int:
        """Changes of ``entity`` written on ``side`` (``local``: CRM → local, ``crm``: local →
        CRM)."""
        return sum(self.counts.get(entity, {}).get(side, {}).values())


@dataclass(frozen=True)
class ReportRow:
    """One per-record row of a run (conflict rows carry the field and both values)."""

    seq: int
    run_id: str
    entity: str
    item_id: str | None
    crm_id: str | None
    name: str
    action: str
    direction: str          # crm_to_local | local_to_crm
    status: str             # success | error | skipped (left untouched on both sides)
    message: str
    field: str | None = None
    local_value: Any = None
    crm_value: Any = None
    winner: str | None = None


@dataclass(frozen=True)
class ReportFilter:
    """Which report rows to show. Empty values mean "any"; ``text`` matches the record's
    name or the message, case-insensitively (ASCII case folding, as SQLite's LIKE)."""

    run_id: str | None = None
    status: str | None = None
    entity: str | None = None
    text: str = ""
    action: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("run_id", self.run_id), ("status", self.status),
                              ("entity", self.entity), ("action", self.action)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.text.strip():
            pattern = "%" + _escape_like(self.text.strip()) + "%"
            clauses.append("(name LIKE ? ESCAPE '\\' OR message LIKE ? ESCAPE '\\')")
            params.extend([pattern, pattern])
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


@dataclass(frozen=True)
class DaySummary:
    """Records synced and records failed on one (UTC) day."""

    day: str          # YYYY-MM-DD
    synced: int
    errors: int
    runs: int


@dataclass(frozen=True)
class PurgeResult:
    """What a retention purge deleted."""

    runs: int
    rows: int
    cutoff: str       # runs that started before this instant (UTC) were deleted


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parse(instant: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(instant)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


_RUN_COLUMNS = "run_id, trigger, started_at, finished_at, outcome, message, counts"


def _run(row: tuple[Any, ...]) -> RunSummary:
    run_id, trigger, started, finished, outcome, message, counts = row
    return RunSummary(run_id, trigger, started, finished, outcome or "running", message or "",
                      json.loads(counts) if counts else {})


def count_runs(store: Any) -> int:
    """How many runs the history holds."""
    return int(_read(store, "SELECT COUNT(*) FROM sync_runs")[0][0])


def list_runs(store: Any, *, offset: int = 0, limit: int = 200) -> list[RunSummary]:
    """Runs newest first, ``limit`` of them from position ``offset``."""
    rows = _read(store, f"SELECT {_RUN_COLUMNS} FROM sync_runs "
                        "ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
                 (int(limit), int(offset)))
    return [_run(r) for r in rows]


def get_run(store: Any, run_id: str) -> RunSummary | None:
    rows = _read(store, f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE run_id = ?", (run_id,))
    return _run(rows[0]) if rows else None


_ROW_COLUMNS = ("seq, run_id, entity, item_id, crm_id, name, action, direction, status, "
                "message, field, local_value, crm_value, winner")


def _row(r: tuple[Any, ...]) -> ReportRow:
    return ReportRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
                     None if r[11] is None else json.loads(r[11]),
                     None if r[12] is None else json.loads(r[12]), r[13])


def list_rows(store: Any, flt: ReportFilter, *, after_seq: int | None = None,
              limit: int = 500) -> list[ReportRow]:
    """Report rows matching ``flt``, one page of at most ``limit``.

    Order: within one run (``flt.run_id`` set) in the order they happened; across runs newest
    first. Pass the last row's ``seq`` as ``after_seq`` for the next page.
    """
    where, params = flt.where()
    ascending = bool(flt.run_id)
    if after_seq is not None:
        where += (" AND " if where else " WHERE ") + ("seq > ?" if ascending else "seq < ?")
        params.append(int(after_seq))
    order = "ASC" if ascending else "DESC"
    rows = _read(store, f"SELECT {_ROW_COLUMNS} FROM sync_report{where} ORDER BY seq {order} "
                        "LIMIT ?", (*params, int(limit)))
    return [_row(r) for r in rows]


def iter_rows(store: Any, flt: ReportFilter, *, page: int = 2000) -> Iterator[ReportRow]:
    """Every row matching ``flt``, streamed page by page (bounded memory)."""
    after: int | None = None
    while True:
        rows = list_rows(store, flt, after_seq=after, limit=page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].seq


def export_csv(store: Any, flt: ReportFilter, out: TextIO) -> int:
    """Write the rows matching ``flt`` as CSV (header ``CSV_COLUMNS``) to ``out``; return the
    number of rows. Values of conflict rows are written as JSON."""
    started: dict[str, str] = {}
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in iter_rows(store, flt):
        if row.run_id not in started:
            run = get_run(store, row.run_id)
            started[row.run_id] = run.started_at if run else ""
        writer.writerow([
            row.run_id, started[row.run_id], row.entity, row.name, row.action, row.direction,
            row.status, row.message, row.item_id or "", row.crm_id or "", row.field or "",
            "" if row.field is None else json.dumps(row.local_value, ensure_ascii=False),
            "" if row.field is None else json.dumps(row.crm_value, ensure_ascii=False),
            row.winner or ""])
        count += 1
    return count


def export_csv_file(store: Any, flt: ReportFilter, path: Path) -> int:
    """``export_csv`` into ``path``: written atomically and owner-only (0600), like every
    file that holds record names (``local export``, the store)."""
    from ..files import atomic_file

    with atomic_file(path, "w", encoding="utf-8", newline="") as out:
        return export_csv(store, flt, cast(TextIO, out))


def daily_summary(store: Any, *, days: int = 30, now: dt.datetime | None = None
                  ) -> list[DaySummary]:
    """One entry per UTC day of the last ``days`` days (oldest first, days without runs
    included with zeros): records synced (created/updated/deleted on either side, from the
    runs' counts) and record errors (report rows with status ``error``)."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    since = first.isoformat()
    totals: dict[str, list[int]] = {}
    for day, total in _read(
            store,
            "SELECT substr(r.started_at, 1, 10), (SELECT COALESCE(SUM(j.value), 0) FROM "
            "json_tree(COALESCE(r.counts, '{}')) j WHERE j.type = 'integer') "
            "FROM sync_runs r WHERE r.started_at >= ?", (since,)):
        entry = totals.setdefault(day, [0, 0])
        entry[0] += int(total or 0)
        entry[1] += 1
    errors = dict(_read(
        store,
        "SELECT substr(r.started_at, 1, 10), COUNT(*) FROM sync_report s "
        "JOIN sync_runs r ON r.run_id = s.run_id "
        "WHERE s.status = 'error' AND r.started_at >= ? GROUP BY 1", (since,)))
    result = []
    for offset in range(days):
        day = (first + dt.timedelta(days=offset)).isoformat()
        total, runs = totals.get(day, [0, 0])
        result.append(DaySummary(day, total, int(errors.get(day, 0)), runs))
    return result


def purge_history(store: Any, retention_days: int, *, now: dt.datetime | None = None
                  ) -> PurgeResult:
    """Forget runs that started more than ``retention_days`` days ago, with their report
    rows (``Settings.report_retention_days``; at least one day is always kept).

    Returns how many runs and rows were deleted. Runs one transaction.
    """
    cutoff = utc_text((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=max(1, retention_days)))
    ensure_indexes(store.connection, store)
    with store.transaction() as conn:
        rows = conn.execute("DELETE FROM sync_report WHERE run_id IN (SELECT run_id FROM "
                            "sync_runs WHERE started_at < ?)", (cutoff,)).rowcount
        runs = conn.execute("DELETE FROM sync_runs WHERE started_at < ?", (cutoff,)).rowcount
    return PurgeResult(runs=int(runs), rows=int(rows), cutoff=cutoff)
