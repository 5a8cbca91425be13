"""Report queries, per-day summary, CSV export and retention purge on a real store."""

from __future__ import annotations

import csv
import datetime as dt
import io

from tray_client import history
from tray_client.history import ReportFilter

from .conftest import add_run, counts


def test_runs_newest_first_paged_with_counts_and_duration(store):
    for i in range(25):
        add_run(store, f"r{i:02}", f"2026-11-{1 + i:02}T10:00:00Z",
                finished=f"2026-11-{1 + i:02}T10:00:07Z",
                counts=counts(created=i, updated=1))
    assert history.count_runs(store) == 25
    first = history.list_runs(store, limit=10)
    second = history.list_runs(store, offset=10, limit=10)
    assert [r.run_id for r in first][:3] == ["r24", "r23", "r22"]
    assert second[0].run_id == "r14"
    assert first[0].total == 25 and first[0].duration_seconds == 7.0
    assert first[0].entity_side_total("contacts", "local") == 25
    assert first[0].entity_side_total("contacts", "crm") == 0


def test_unfinished_run_is_running(store):
    from tray_client.sync.state import SyncState

    with store.transaction():
        SyncState(store.connection).migrate()
        SyncState(store.connection).start_run("open", "manual", "2026-11-02T00:00:00Z")
    run = history.get_run(store, "open")
    assert run is not None and run.outcome == "running" and run.duration_seconds is None


def _rows(n_ok: int, n_err: int, entity: str = "contacts") -> list[dict]:
    rows = [{"entity": entity, "name": f"Ann {i}", "message": "job_title"} for i in range(n_ok)]
    rows += [{"entity": entity, "name": f"Bob {i}", "status": "error", "action": "error",
              "message": "firstName: too long"} for i in range(n_err)]
    return rows


def test_filters_by_run_status_entity_and_text(store):
    add_run(store, "a", "2026-11-01T10:00:00Z", rows=_rows(3, 2) + _rows(1, 1, "tasks"))
    add_run(store, "b", "2026-11-02T10:00:00Z", rows=_rows(4, 0))
    assert len(history.list_rows(store, ReportFilter(run_id="a"))) == 7
    errors = history.list_rows(store, ReportFilter(status="error"))
    assert len(errors) == 3 and {r.status for r in errors} == {"error"}
    tasks = history.list_rows(store, ReportFilter(run_id="a", entity="tasks"))
    assert [r.entity for r in tasks] == ["tasks", "tasks"]
    bobs = history.list_rows(store, ReportFilter(text="bob"))
    assert len(bobs) == 3 and all(r.name.startswith("Bob") for r in bobs)
    assert len(history.list_rows(store, ReportFilter(text="TOO LONG", entity="tasks"))) == 1
    # LIKE wildcards typed by the user are literal.
    assert history.list_rows(store, ReportFilter(text="%")) == []
    # Within a run rows come in the order they happened; across runs newest first.
    assert [r.name for r in history.list_rows(store, ReportFilter(run_id="a"))][:2] == [
        "Ann 0", "Ann 1"]
    assert history.list_rows(store, ReportFilter())[0].run_id == "b"


def test_keyset_pages_cover_every_row_once(store):
    add_run(store, "big", "2026-11-01T10:00:00Z", rows=_rows(1234, 0))
    seen: list[int] = []
    after = None
    while True:
        page = history.list_rows(store, ReportFilter(run_id="big"), after_seq=after, limit=500)
        seen += [r.seq for r in page]
        if len(page) < 500:
            break
        after = page[-1].seq
    assert len(seen) == 1234 and seen == sorted(set(seen))
    assert sum(1 for _ in history.iter_rows(store, ReportFilter(), page=100)) == 1234


def test_daily_summary_counts_synced_records_and_errors_per_day(store):
    add_run(store, "d1a", "2026-11-20T08:00:00Z", counts=counts(created=3, updated=2),
            rows=_rows(0, 2))
    add_run(store, "d1b", "2026-11-20T18:00:00Z",
            counts={**counts(created=1), **counts("tasks", "crm", deleted=4)})
    add_run(store, "d3", "2026-11-22T08:00:00Z", counts=counts(updated=7), rows=_rows(1, 1))
    add_run(store, "old", "2026-10-01T08:00:00Z", counts=counts(updated=99))
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    days = history.daily_summary(store, days=4, now=now)
    assert [d.day for d in days] == ["2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"]
    assert [(d.synced, d.errors, d.runs) for d in days] == [
        (0, 0, 0), (10, 2, 2), (0, 0, 0), (7, 1, 1)]


def test_csv_export_writes_the_filtered_rows(store):
    conflict = {"name": "Cy", "action": "conflict", "field": "job_title", "local_value": "Boss",
                "crm_value": "Chief, \"Big\"", "winner": "crm",
                "message": "job_title: the CRM value won"}
    add_run(store, "a", "2026-11-01T10:00:00Z", rows=[*_rows(3, 2), conflict])
    out = io.StringIO()
    n = history.export_csv(store, ReportFilter(run_id="a", status="error"), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert n == 2 == len(rows)
    assert rows[0]["name"] == "Bob 0" and rows[0]["status"] == "error"
    assert rows[0]["started_at"] == "2026-11-01T10:00:00Z"
    assert rows[0]["message"] == "firstName: too long"
    out = io.StringIO()
    history.export_csv(store, ReportFilter(text="Cy"), out)
    (conflict,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert conflict["crm_value"] == '"Chief, \\"Big\\""' and conflict["winner"] == "crm"
    assert tuple(csv.reader(io.StringIO(out.getvalue())).__next__()) == history.CSV_COLUMNS


def test_retention_purge_forgets_old_runs_and_their_rows(store):
    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    add_run(store, "old", "2026-08-01T10:00:00Z", rows=_rows(5, 1))
    add_run(store, "edge", "2026-08-27T13:00:00Z", rows=_rows(1, 0))
    add_run(store, "new", "2026-11-25T01:00:00Z", rows=_rows(2, 0))
    result = history.purge_history(store, 90, now=now)
    assert (result.runs, result.rows) == (1, 6)
    assert [r.run_id for r in history.list_runs(store)] == ["new", "edge"]
    assert {r.run_id for r in history.list_rows(store, ReportFilter())} == {"new", "edge"}
    # Zero days still keeps the last day.
    assert history.purge_history(store, 0, now=now).runs == 1
    assert [r.run_id for r in history.list_runs(store)] == ["new"]
