"""Benchmark of the sync history views at scale (10,000 runs, 1,000,000 report rows).

    python benchmarks/bench_report.py [--runs 10000] [--rows 1000000] [--keep DIR]

Fills a fresh store with that much history by bulk SQL inserts into the engine's tables
(``sync_runs``/``sync_report``, as ``SyncState`` writes them), plus 20,000 contacts, then
prints a table: index creation, the core queries the windows run (first pages, filters,
per-day summary, CSV export of one run, retention purge) and the time until the report and
items windows (offscreen) show their first pages. Times are wall-clock on this machine; they
are for comparing versions, not for timed tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tray_client import history
from tray_client.history import ReportFilter
from tray_client.store import LocalStore
from tray_client.sync.state import SyncState

ENTITIES = ("contacts", "tasks", "events")


def timed(label: str, rows: list[tuple[str, float, str]], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    rows.append((label, time.perf_counter() - start, _short(result)))
    return result


def _short(result: Any) -> str:
    if isinstance(result, list):
        return f"{len(result)} rows"
    return str(result)[:40]


def fill(store: LocalStore, runs: int, rows: int, contacts: int) -> None:
    """Bulk-insert ``runs`` runs over the last 90 days and ``rows`` report rows spread over
    them (1 in 20 an error, 1 in 50 a conflict)."""
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    per_run = max(1, rows // runs)
    with store.transaction() as conn:
        SyncState(conn).migrate()
        run_rows = []
        for r in range(runs):
            started = now - dt.timedelta(minutes=(runs - r) * 90 * 24 * 60 / runs)
            counts = {e: {s: {k: rng.randint(0, 5) for k in ("created", "updated", "deleted")}
                          for s in ("local", "crm")} for e in ENTITIES}
            run_rows.append((f"run{r:06d}", "scheduled", started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                             (started + dt.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "ok", "", json.dumps(counts)))
        conn.executemany("INSERT INTO sync_runs (run_id, trigger, started_at, finished_at, "
                         "outcome, message, counts) VALUES (?,?,?,?,?,?,?)", run_rows)

        def report() -> Iterator[tuple[Any, ...]]:
            for i in range(rows):
                run = f"run{min(runs - 1, i // per_run):06d}"
                entity = ENTITIES[i % 3]
                if i % 50 == 0:
                    yield (run, entity, f"item{i}", str(i), f"Person {i}", "conflict",
                           "crm_to_local", "success", "job_title: the CRM value won",
                           "job_title", '"Local"', '"CRM"', "crm")
                elif i % 20 == 0:
                    yield (run, entity, f"item{i}", str(i), f"Person {i}", "error",
                           "local_to_crm", "error", "firstName: too long", None, None, None,
                           None)
                else:
                    yield (run, entity, f"item{i}", str(i), f"Person {i}", "update-local",
                           "crm_to_local", "success", "job_title", None, None, None, None)

        conn.executemany("INSERT INTO sync_report (run_id, entity, item_id, crm_id, name, "
                         "action, direction, status, message, field, local_value, crm_value, "
                         "winner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", report())
    store.bulk_add("contacts", ({"first_name": f"First{i}", "last_name": f"Last{i % 977}",
                                 "emails": [f"p{i}@example.org"]} for i in range(contacts)))


def open_window(make: Callable[[], Any], ready: Callable[[Any], bool]) -> float:
    """Seconds from constructing a window to its first pages being shown."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    start = time.perf_counter()
    window = make()
    window.show()
    while not ready(window):
        app.processEvents()
        if time.perf_counter() - start > 60:
            raise TimeoutError("window did not load in 60 s")
        time.sleep(0.001)
    took = time.perf_counter() - start
    window.close()
    window.deleteLater()
    app.processEvents()
    return took


class _BenchClient:
    """The part of the facade the windows use (no CRM needed for these views)."""

    def __init__(self, store: LocalStore) -> None:
        from tray_client.settings import Settings

        self.store = store
        self.settings = Settings(url="https://crm.example.org", user="bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build the store in DIR and keep it")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    table: list[tuple[str, float, str]] = []
    with LocalStore(folder / "bench.db") as store:
        timed(f"fill {args.runs:,} runs, {args.rows:,} rows, {args.contacts:,} contacts",
              table, lambda: fill(store, args.runs, args.rows, args.contacts))
        timed("ensure_indexes (first time)", table,
              lambda: history.ensure_indexes(store.connection, store))
        runs = timed("runs: first page (200)", table, lambda: history.list_runs(store, limit=200))
        timed("runs: page at offset 9,800", table,
              lambda: history.list_runs(store, offset=max(0, args.runs - 200), limit=200))
        run_id = runs[len(runs) // 2].run_id
        timed("rows of one run", table,
              lambda: history.list_rows(store, ReportFilter(run_id=run_id)))
        first = timed("rows of all runs: first page", table,
                      lambda: history.list_rows(store, ReportFilter()))
        timed("rows of all runs: next page (keyset)", table,
              lambda: history.list_rows(store, ReportFilter(), after_seq=first[-1].seq))
        timed("errors of all runs: first page", table,
              lambda: history.list_rows(store, ReportFilter(status="error")))
        timed("tasks errors: first page", table,
              lambda: history.list_rows(store, ReportFilter(status="error", entity="tasks")))
        timed("text 'Person 99999' over all rows", table,
              lambda: history.list_rows(store, ReportFilter(text="Person 99999")))
        timed("rare text (scans every row)", table,
              lambda: history.list_rows(store, ReportFilter(text="no such name")))
        timed("conflicts: first page", table, lambda: history.list_conflicts(store))
        timed("per-day summary (30 days)", table, lambda: history.daily_summary(store))
        timed("per-day summary (90 days)", table, lambda: history.daily_summary(store, days=90))
        timed("CSV export of one run", table,
              lambda: history.export_csv(store, ReportFilter(run_id=run_id), io.StringIO()))
        timed("items page with sync state (500)", table,
              lambda: history.list_items(store, "contacts"))
        timed("items search", table,
              lambda: history.list_items(store, "contacts", search="last976"))

        from tray_client.gui.items_window import ItemsWindow
        from tray_client.gui.report_window import ReportWindow

        client = _BenchClient(store)
        table.append(("report window open (first pages shown)", open_window(
            lambda: ReportWindow(client),
            lambda w: w.runs_model.rowCount() > 0 and w.rows_model.rowCount() > 0
            and w.conflicts_model.rowCount() > 0 and bool(w.chart.days)), ""))
        table.append(("items window open (first pages shown)", open_window(
            lambda: ItemsWindow(client),
            lambda w: w.tabs_by_entity["contacts"].model.rowCount() > 0
            and not w.trash_tab.model.loading), ""))
        timed("retention purge (keep 45 of 90 days)", table,
              lambda: history.purge_history(store, 45))
    width = max(len(label) for label, _t, _r in table)
    print(f"{'step':{width}}  {'seconds':>9}  result")
    for label, seconds, result in table:
        print(f"{label:{width}}  {seconds:9.3f}  {result}")
    if not args.keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
