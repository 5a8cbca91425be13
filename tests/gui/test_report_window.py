"""The sync report window over a real store (history written as the engine writes it), and
"Use the other value" end to end against the reference server."""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat

import pytest

from tests.history.conftest import add_run, counts
from tray_client.gui.report_window import DayChart, ReportWindow
from tray_client.history import DaySummary


@pytest.fixture
def client(tmp_path, monkeypatch):
    from tests.conftest import TEST_API_KEY
    from tray_client.client import Client

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    with Client(tmp_path / "home") as c:
        yield c


def _today(hour: int) -> str:
    return dt.datetime.now(dt.UTC).replace(hour=hour, minute=0, second=0).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _history(store) -> None:
    add_run(store, "r1", _today(1), finished=_today(1)[:-3] + "09Z",
            counts=counts(created=2), rows=[
                {"name": "Ann Lee", "message": "created"},
                {"name": "Bob Ray", "status": "error", "action": "error",
                 "message": "lastName: too long"},
                {"entity": "tasks", "name": "Call", "message": "subject"}])
    add_run(store, "r2", _today(2), counts=counts("tasks", "crm", updated=3),
            rows=[{"entity": "tasks", "name": "Write", "message": "ok"}])


def _open(qtbot, client) -> ReportWindow:
    window = ReportWindow(client)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.runs_model.rowCount() == 2 and not window.rows_model.loading
                    and bool(window.chart.days), timeout=5000)
    return window


def _rows(window) -> list[str]:
    return [window.rows_model.row_at(i).name for i in range(window.rows_model.rowCount())]


def test_runs_list_and_rows_of_the_selected_run_with_filters(qtbot, client):
    _history(client.store)
    window = _open(qtbot, client)
    model = window.runs_model
    assert model.data(model.index(0, 2)) == "Sync Now"
    assert model.row_at(0).run_id == "r2"
    headers = [model.headerData(i, __import__("PySide6.QtCore").QtCore.Qt.Orientation.Horizontal)
               for i in range(model.columnCount())]
    assert headers == ["Started", "Duration", "Trigger", "Result", "Changed here",
                       "Changed in the CRM", "Message"]
    assert model.data(model.index(0, headers.index("Changed in the CRM"))) == "3 updated"
    assert model.data(model.index(0, headers.index("Changed here"))) == "0"
    assert model.data(model.index(1, headers.index("Changed here"))) == "2 created"
    assert model.data(model.index(1, 1)) == "9 s"
    assert sorted(_rows(window)) == ["Ann Lee", "Bob Ray", "Call", "Write"]

    with qtbot.waitSignal(window.rows_loaded):
        window.runs_view.selectRow(1)       # run r1
    assert _rows(window) == ["Ann Lee", "Bob Ray", "Call"]
    with qtbot.waitSignal(window.rows_loaded):
        window.status_filter.setCurrentIndex(window.status_filter.findData("error"))
    assert _rows(window) == ["Bob Ray"]
    with qtbot.waitSignal(window.rows_loaded):
        window.status_filter.setCurrentIndex(0)
    with qtbot.waitSignal(window.rows_loaded):
        window.entity_filter.setCurrentIndex(window.entity_filter.findData("tasks"))
    assert _rows(window) == ["Call"]
    with qtbot.waitSignal(window.rows_loaded):
        window.entity_filter.setCurrentIndex(0)
    window.text_filter.setText("ann")
    with qtbot.waitSignal(window.rows_loaded):
        window.text_filter.returnPressed.emit()
    assert _rows(window) == ["Ann Lee"]
    with qtbot.waitSignal(window.rows_loaded):
        window.all_runs_button.click()
    assert window.selected_run() is None and _rows(window) == ["Ann Lee"]


def test_export_writes_the_filtered_rows(qtbot, client, tmp_path, monkeypatch):
    _history(client.store)
    window = _open(qtbot, client)
    with qtbot.waitSignal(window.rows_loaded):
        window.status_filter.setCurrentIndex(window.status_filter.findData("error"))
    target = tmp_path / "out.csv"
    monkeypatch.setattr("tray_client.gui.report_window.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), "CSV files (*.csv)"))
    old_umask = os.umask(0o022)
    try:
        with qtbot.waitSignal(window.exported) as signal:
            window.export_button.click()
    finally:
        os.umask(old_umask)
    assert signal.args == [1]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600   # record names: owner-only
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.csv")] == []
    (row,) = list(csv.DictReader(target.open(encoding="utf-8")))
    assert (row["name"], row["status"], row["message"]) == ("Bob Ray", "error",
                                                            "lastName: too long")


def test_per_day_summary_and_chart_bars(qtbot, client):
    _history(client.store)
    window = _open(qtbot, client)
    today = window.chart.days[-1]
    assert (today.synced, today.errors, today.runs) == (5, 1, 2)
    assert "2 run(s), 5 record(s) synced, 1 error(s)" in window.summary_label.text()
    chart = DayChart()
    qtbot.addWidget(chart)
    chart.resize(300, 200)
    chart.set_days([DaySummary("2026-11-01", 10, 0, 1), DaySummary("2026-11-02", 5, 5, 2)])
    (s1, e1), (s2, e2) = chart.bar_rects()
    assert s1.height() == pytest.approx(2 * s2.height()) and e1.height() == 0
    assert e2.height() == pytest.approx(s2.height()) and s1.x() < s2.x()
    chart.grab()   # paints without error


def test_use_the_other_value_then_sync_sends_it(qtbot, devserver, tmp_path, monkeypatch):
    from tests.conftest import TEST_API_KEY, TEST_USER
    from tray_client.client import Client
    from tray_client.settings import Settings

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    with Client(tmp_path / "e2e") as client:
        client.save_settings(Settings(url=devserver.url, user=TEST_USER))
        crm_id = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                                     "jobTitle": "Buyer"})
        client.sync(entities=["contacts"])
        (item,) = client.store.list("contacts")
        client.store.update(item.id, {"job_title": "Local edit"})
        devserver.admin.update("contacts", crm_id, {"jobTitle": "CRM edit"})
        client.sync(entities=["contacts"])
        window = ReportWindow(client)
        qtbot.addWidget(window)
        qtbot.waitUntil(lambda: window.conflicts_model.rowCount() == 1, timeout=5000)
        model = window.conflicts_model
        assert [model.data(model.index(0, c)) for c in range(6)] == [
            "Contacts", "Ann Lee", "job_title", "Local edit", "CRM edit", "CRM"]
        assert window.conflicts_empty.isHidden() and not window.use_other_button.isEnabled()
        window.conflicts_view.selectRow(0)
        assert window.use_other_button.isEnabled()
        with qtbot.waitSignal(window.value_used) as signal:
            window.use_other_button.click()
        assert signal.args[0].fields["job_title"] == "Local edit"
        assert "the next sync sends it" in window.status_label.text()
        client.sync(entities=["contacts"])
        assert devserver.admin.get("contacts", crm_id)["attributes"]["jobTitle"] == "Local edit"


def test_rows_load_page_by_page(qtbot, client):
    add_run(client.store, "big", _today(1), rows=[{"name": f"P{i}"} for i in range(1200)])
    window = ReportWindow(client)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.rows_model.rowCount() == 500, timeout=5000)
    assert window.rows_model.canFetchMore()
    with qtbot.waitSignal(window.rows_loaded):
        window.rows_model.fetch_all()
    with qtbot.waitSignal(window.rows_loaded):
        window.rows_model.fetch_all()
    names = [r.name for r in window.rows_model.rows]
    assert len(names) == 1200 == len(set(names))
    assert not window.rows_model.canFetchMore()


def test_runs_are_readable_created_and_deleted_apart_the_right_trigger(qtbot, client):
    from PySide6.QtCore import Qt

    store = client.store
    both = {"contacts": {"local": {"created": 30000, "updated": 0, "deleted": 30000},
                         "crm": {"created": 0, "updated": 0, "deleted": 0}}}
    add_run(store, "r1", _today(1), finished=_today(1)[:-3] + "40Z", counts=both)
    add_run(store, "r2", _today(2), counts=counts(created=1))
    with store.transaction():
        store.connection.execute("UPDATE sync_runs SET trigger = 'resync' WHERE run_id = 'r1'")
    window = _open(qtbot, client)
    window.show()
    model = window.runs_model
    assert model.data(model.index(1, 2)) == "Resync"
    assert model.data(model.index(1, 4)) == "30,000 created, 30,000 deleted"   # not 60,000
    header = window.runs_view.horizontalHeader()
    metrics = window.runs_view.fontMetrics()
    for column in range(model.columnCount() - 1):          # headers and dates not cut
        text = model.headerData(column, Qt.Orientation.Horizontal)
        value = model.data(model.index(1, column))
        assert header.sectionSize(column) >= metrics.horizontalAdvance(text), text
        assert header.sectionSize(column) >= metrics.horizontalAdvance(value), value
    with qtbot.waitSignal(window.rows_loaded):
        window.runs_view.selectRow(1)
    grid = window.counts_table
    assert not grid.isHidden()
    cells = [[grid.item(r, c).text() for c in range(6)] for r in range(3)]
    assert cells[0] == ["30,000", "0", "30,000", "0", "0", "0"] and cells[1] == ["0"] * 6


def test_conflicts_tab_says_when_it_is_empty_and_disables_its_action(qtbot, client):
    _history(client.store)
    window = _open(qtbot, client)
    qtbot.waitUntil(lambda: not window.conflicts_model.loading, timeout=5000)
    window._conflicts_changed()
    assert not window.conflicts_empty.isHidden() and window.conflicts_view.isHidden()
    assert "No conflicts" in window.conflicts_empty.text()
    assert not window.use_other_button.isEnabled()


def test_day_chart_axis_has_round_values():
    chart = DayChart()
    chart.set_days([DaySummary("2026-11-29", 1234, 3, 1), DaySummary("2026-11-30", 10, 0, 1)])
    assert chart.axis_top() == 2000
    chart.set_days([DaySummary("2026-11-30", 0, 0, 1)])
    assert chart.axis_top() == 1


def test_skipped_records_have_a_filter_of_their_own(qtbot, client):
    add_run(client.store, "r1", _today(1), counts=counts(), rows=[
        {"entity": "events", "name": "Weekly", "status": "skipped", "action": "skipped",
         "message": "recurring event: left as it is on both sides"},
        {"entity": "events", "name": "Lunch", "message": "created"}])
    window = ReportWindow(client)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.runs_model.rowCount() == 1 and not window.rows_model.loading,
                    timeout=5000)
    with qtbot.waitSignal(window.rows_loaded):
        window.status_filter.setCurrentIndex(window.status_filter.findData("skipped"))
    assert _rows(window) == ["Weekly"]
    assert window.rows_model.row_at(0).status == "skipped"
