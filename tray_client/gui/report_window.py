"""The sync report window (DESIGN §8, seeds 003/004).

Tabs:

- *Runs*: every run (start, duration, trigger, result, counts per entity and direction),
  newest first; below it the per-record rows of the selected run (or of all runs when none is
  selected), with filters (status, entity, text) and *Export CSV…*.
- *Per day*: records synced and errors per day, as bars (QPainter) and numbers.
- *Conflicts*: decided conflicts with both values; *Use the other value* writes the losing
  value into the local item so that the next sync sends it (``History.use_other_value``).
- *Queue*: pending local changes and the outbox (``QueueView``).

Every query runs in a worker and loads page by page, so the window opens at once however long
the history is. ``client`` is the facade (``ClientFacade``); the window reads through its
``history`` (``tray_client.history.History``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from ..errors import error_text
from ..history import ConflictEntry, DaySummary, ReportFilter, ReportRow, RunSummary
from ..sync import Flow, Outcome
from .facade import ClientFacade
from .plain_text import plain_label
from .queue_view import QueueView
from .steer.paged import Column, PagedTableModel
from .workers import run_in_pool

ENTITY_LABELS = {"contacts": "Contacts", "tasks": "Tasks", "events": "Events"}
ERROR_COLOR = "#c01c28"
MAX_COLUMN_WIDTH = 360


TRIGGER_WORDS = {"manual": "Sync Now", "automatic": "Automatic", "startup": "At start",
                 "resync": "Resync", "settings": "Settings saved"}
OUTCOME_WORDS = {"ok": "OK", "partial": "Some records failed", "offline": "CRM unreachable",
                 "failed": "Failed", "guarded": "Stopped before deleting",
                 "cancelled": "Stopped", "running": "Running"}
ACTION_WORDS = {"created": "created", "updated": "updated", "deleted": "deleted"}
COUNT_HEADERS = [("local", kind, f"{kind.capitalize()} here") for kind in ACTION_WORDS] + [
    ("crm", kind, f"{kind.capitalize()} in CRM") for kind in ACTION_WORDS]


def _clock(instant: str | None) -> str:
    """An ISO instant in the user's locale (short date and time, local time)."""
    if not instant:
        return ""
    try:
        when = dt.datetime.fromisoformat(instant)
    except ValueError:
        return instant
    from PySide6.QtCore import QDateTime, QLocale

    moment = QDateTime.fromSecsSinceEpoch(int(when.timestamp()))
    return QLocale().toString(moment, QLocale.FormatType.ShortFormat)


def _day(iso_day: str) -> str:
    """'30 Nov' (the locale's day and month) for '2026-11-30'."""
    from PySide6.QtCore import QDate, QLocale

    date = QDate.fromString(iso_day, Qt.DateFormat.ISODate)
    if not date.isValid():
        return iso_day
    return QLocale().toString(date, "d MMM")


def _duration(run: RunSummary) -> str:
    seconds = run.duration_seconds
    if seconds is None:
        return "running" if run.outcome == "running" else ""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _value(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return json.dumps(value)


def _changes(run: RunSummary, side: str) -> str:
    """'3 created, 10,965 deleted' on one side (every entity), '0' when nothing changed."""
    totals = {kind: sum((run.counts.get(e, {}).get(side, {}) or {}).get(kind, 0) or 0
                        for e in ENTITY_LABELS) for kind in ACTION_WORDS}
    parts = [f"{n:,} {ACTION_WORDS[kind]}" for kind, n in totals.items() if n]
    return ", ".join(parts) or "0"


def _changes_tip(run: RunSummary, side: str) -> str:
    lines = []
    for entity, label in ENTITY_LABELS.items():
        kinds = run.counts.get(entity, {}).get(side, {}) or {}
        lines.append(f"{label}: " + ", ".join(f"{kinds.get(k, 0) or 0:,} {w}"
                                              for k, w in ACTION_WORDS.items()))
    return "\n".join(lines)


def _changes_column(side: str, header: str) -> Column:
    # Created, updated and deleted stay apart (a resync's 30,000 deleted and 30,000
    # created are not 60,000 of anything); per entity in the tooltip and the grid below.
    return Column(header, lambda r: _changes(r, side),
                  sort_key=lambda r: sum(r.entity_side_total(e, side) for e in ENTITY_LABELS),
                  tooltip=lambda r: _changes_tip(r, side))


def _run_columns() -> list[Column]:
    return [
        Column("Started", lambda r: _clock(r.started_at), sort_key=lambda r: r.started_at),
        Column("Duration", _duration, sort_key=lambda r: r.duration_seconds or 0),
        Column("Trigger", lambda r: TRIGGER_WORDS.get(r.trigger, r.trigger.capitalize())),
        Column("Result", lambda r: OUTCOME_WORDS.get(r.outcome, r.outcome),
               tooltip=lambda r: r.message,
               color=lambda r: (ERROR_COLOR if r.outcome in (Outcome.FAILED, Outcome.PARTIAL)
                                else None)),
        _changes_column("local", "Changed here"),
        _changes_column("crm", "Changed in the CRM"),
        Column("Message", lambda r: r.message, tooltip=lambda r: r.message),
    ]


ROW_COLUMNS = (
    Column("Type", lambda r: ENTITY_LABELS.get(r.entity, r.entity)),
    Column("Name", lambda r: r.name),
    Column("Action", lambda r: r.action.capitalize()),
    Column("Direction", lambda r: "CRM → local" if r.direction == Flow.CRM_TO_LOCAL
           else "local → CRM"),
    Column("Status", lambda r: r.status.capitalize(),
           color=lambda r: ERROR_COLOR if r.status == "error" else None),
    Column("Message", lambda r: r.message, tooltip=lambda r: r.message),
)

CONFLICT_COLUMNS = (
    Column("Type", lambda c: ENTITY_LABELS.get(c.row.entity, c.row.entity)),
    Column("Name", lambda c: c.row.name),
    Column("Field", lambda c: c.row.field or ""),
    Column("Local value", lambda c: _value(c.row.local_value)),
    Column("CRM value", lambda c: _value(c.row.crm_value)),
    Column("Winner", lambda c: "CRM" if c.row.winner == "crm" else "local"),
)


def _table(model: Any) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setWordWrap(False)      # dates and counts on one line; the columns fit them
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return view


class DayChart(QWidget):
    """Bars per day: records synced (blue) and errors (red), scaled to the busiest day."""

    SYNCED = QColor("#3584e4")
    ERRORS = QColor("#e01b24")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.days: list[DaySummary] = []
        self.setMinimumHeight(160)

    def set_days(self, days: list[DaySummary]) -> None:
        self.days = list(days)
        self.setToolTip("\n".join(f"{d.day}: {d.synced} synced, {d.errors} errors"
                                  for d in self.days if d.runs or d.errors))
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(600, 200)

    AXIS_WIDTH = 56.0   # room for the value labels left of the bars

    def axis_top(self) -> int:
        """The axis' top value: the busiest day rounded up to 1, 2 or 5 × 10ⁿ."""
        peak = max([1] + [max(d.synced, d.errors) for d in self.days])
        step = 1
        while True:
            for factor in (1, 2, 5):
                if peak <= step * factor:
                    return step * factor
            step *= 10

    def bar_rects(self) -> list[tuple[QRectF, QRectF]]:
        """Synced and error bars per day, in widget coordinates (the paint geometry)."""
        if not self.days:
            return []
        margin, label_h = 8.0, 18.0
        left = self.AXIS_WIDTH
        width = max(1.0, self.width() - margin - left)
        height = max(1.0, self.height() - 2 * margin - label_h)
        top = self.axis_top()
        slot = width / len(self.days)
        bar = max(1.0, slot * 0.4)
        base = margin + height
        rects = []
        for i, day in enumerate(self.days):
            x = left + i * slot + (slot - 2 * bar) / 2
            hs = height * day.synced / top
            he = height * day.errors / top
            rects.append((QRectF(x, base - hs, bar, hs), QRectF(x + bar, base - he, bar, he)))
        return rects

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), self.palette().base())
            rects = self.bar_rects()
            if not rects:
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No runs yet.")
                return
            for synced, errors in rects:
                painter.fillRect(synced, self.SYNCED)
                painter.fillRect(errors, self.ERRORS)
            # The value axis: gridlines at 0, half and the top, labelled.
            painter.setPen(self.palette().mid().color())
            margin, label_h = 8.0, 18.0
            height = max(1.0, self.height() - 2 * margin - label_h)
            top = self.axis_top()
            for share in (0.0, 0.5, 1.0):
                y = margin + height * (1 - share)
                painter.drawLine(int(self.AXIS_WIDTH - 4), int(y), self.width() - 8, int(y))
                painter.drawText(QRectF(0, y - 9, self.AXIS_WIDTH - 8, 18),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                                 f"{round(top * share):,}")
            # A few date labels under the bars (first, middle, last) keep it readable.
            painter.setPen(self.palette().text().color())
            n = len(self.days)
            for i in sorted({0, n // 2, n - 1}):
                x = rects[i][0].x()
                painter.drawText(QRectF(x - 40, self.height() - 20, 100, 18),
                                 Qt.AlignmentFlag.AlignLeft, _day(self.days[i].day))
        finally:
            painter.end()


class ReportWindow(QWidget):
    """The sync report. Signals: ``runs_loaded()``, ``rows_loaded()``, ``summary_loaded()``,
    ``conflicts_loaded()``, ``exported(int)`` (rows written), ``value_used(object)`` (the
    updated Item), ``failed(str)`` (also shown in the status line)."""

    runs_loaded = Signal()
    rows_loaded = Signal()
    summary_loaded = Signal()
    conflicts_loaded = Signal()
    exported = Signal(int)
    value_used = Signal(object)
    failed = Signal(str)

    SUMMARY_DAYS = 30

    def __init__(self, client: ClientFacade, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.setWindowTitle("Sync Report")
        self.resize(1000, 650)
        history = client.history

        self.runs_model = PagedTableModel(
            _run_columns(), lambda offset, limit: history.runs(offset=offset or 0,
                                                            limit=limit),
            lambda _rows, loaded: loaded, page=200, parent=self)
        self.runs_view = _table(self.runs_model)
        self.runs_model.loaded.connect(lambda _n: self._fit_columns(self.runs_view))
        self.runs_model.loaded.connect(lambda _n: self.runs_loaded.emit())

        self.rows_model = PagedTableModel(ROW_COLUMNS, self._rows_fetch(ReportFilter()),
                                          lambda rows, _n: rows[-1].seq, page=500, parent=self)
        self.rows_view = _table(self.rows_model)
        self.rows_model.loaded.connect(lambda _n: self._fit_columns(self.rows_view))
        self.rows_model.loaded.connect(lambda _n: self.rows_loaded.emit())

        self.status_filter = QComboBox()
        for text, value in (("Any status", ""), ("Success", "success"), ("Error", "error"),
                            ("Skipped", "skipped")):   # left alone: recurring events, invitations
            self.status_filter.addItem(text, value)
        self.entity_filter = QComboBox()
        self.entity_filter.addItem("Any type", "")
        for entity, label in ENTITY_LABELS.items():
            self.entity_filter.addItem(label, entity)
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("Search name or message")
        self.text_filter.setClearButtonEnabled(True)
        self.all_runs_button = QPushButton("All runs")
        self.all_runs_button.setToolTip("Show the rows of every run, newest first")
        self.export_button = QPushButton("Export CSV…")
        self.status_filter.currentIndexChanged.connect(self.apply_filters)
        self.entity_filter.currentIndexChanged.connect(self.apply_filters)
        self.text_filter.returnPressed.connect(self.apply_filters)
        self.text_filter.textChanged.connect(self._text_changed)
        self.all_runs_button.clicked.connect(self.runs_view.clearSelection)
        self.export_button.clicked.connect(self.export_dialog)
        self.runs_view.selectionModel().selectionChanged.connect(self.apply_filters)

        filters = QHBoxLayout()
        for w in (self.status_filter, self.entity_filter, self.text_filter,
                  self.all_runs_button, self.export_button):
            filters.addWidget(w)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        # The selected run's changes per entity, each kind and side apart (0 shown as 0).
        self.counts_table = QTableWidget(len(ENTITY_LABELS), len(COUNT_HEADERS))
        self.counts_table.setObjectName("runCounts")
        self.counts_table.setHorizontalHeaderLabels([h for _s, _k, h in COUNT_HEADERS])
        self.counts_table.setVerticalHeaderLabels(list(ENTITY_LABELS.values()))
        self.counts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.counts_table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.counts_table.setVisible(False)
        lower_layout.addWidget(self.counts_table)
        self.rows_title = plain_label("Records of all runs")
        lower_layout.addWidget(self.rows_title)
        lower_layout.addLayout(filters)
        lower_layout.addWidget(self.rows_view)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.runs_view)
        splitter.addWidget(lower)

        self.chart = DayChart()
        self.summary_label = plain_label()
        self.summary_label.setWordWrap(True)
        summary = QWidget()
        summary_layout = QVBoxLayout(summary)
        legend = QLabel(f'<span style="color:{DayChart.SYNCED.name()}">■</span> records synced '
                        f'&nbsp; <span style="color:{DayChart.ERRORS.name()}">■</span> errors '
                        f"(last {self.SUMMARY_DAYS} days)")
        summary_layout.addWidget(legend)
        summary_layout.addWidget(self.chart, 1)
        summary_layout.addWidget(self.summary_label)

        self.conflicts_model = PagedTableModel(
            CONFLICT_COLUMNS, lambda after, limit: history.conflicts(after_seq=after,
                                                                     limit=limit),
            lambda rows, _n: rows[-1].seq, page=500, parent=self)
        self.conflicts_view = _table(self.conflicts_model)
        self.conflicts_model.loaded.connect(lambda _n: self.conflicts_loaded.emit())
        self.use_other_button = QPushButton("Use the other value")
        self.use_other_button.setToolTip("Write the value that lost into the local item; the "
                                         "next sync sends it to the CRM.")
        self.use_other_button.clicked.connect(self.use_other_value)
        self.conflicts_empty = plain_label(
            "No conflicts. When a record is changed on both sides between two syncs, the "
            "sync decides by the conflict resolution setting and lists it here with both "
            "values, so you can use the other one.", wrap=True)
        self.conflicts_empty.setObjectName("conflictsEmpty")
        self.use_other_button.setEnabled(False)   # until a conflict is selected
        self.conflicts_model.loaded.connect(lambda _n: self._conflicts_changed())
        self.conflicts_view.selectionModel().selectionChanged.connect(
            lambda *_: self._conflicts_changed())
        conflicts = QWidget()
        conflicts_layout = QVBoxLayout(conflicts)
        conflicts_layout.addWidget(self.conflicts_empty)
        conflicts_layout.addWidget(self.conflicts_view)
        row = QHBoxLayout()
        row.addWidget(self.use_other_button)
        row.addStretch(1)
        conflicts_layout.addLayout(row)

        self.queue_view = QueueView(client, autoload=False)

        self.tabs = QTabWidget()
        self.tabs.addTab(splitter, "Runs")
        self.tabs.addTab(summary, "Per day")
        self.tabs.addTab(conflicts, "Conflicts")
        self.queue_tab = self.tabs.addTab(self.queue_view, "Queue")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.status_label = plain_label()
        self.status_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.status_label)

        for model in (self.runs_model, self.rows_model, self.conflicts_model):
            model.failed.connect(self._on_error)
        self._queue_loaded = False
        self.refresh()

    # -- loading ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload runs, rows, the per-day summary and the conflicts (each in a worker)."""
        self.runs_model.reload()
        self.apply_filters()
        self.conflicts_model.reload()
        run_in_pool(self.client.history.daily_summary, days=self.SUMMARY_DAYS,
                    on_result=self._on_summary, on_error=self._on_error)

    @staticmethod
    def _fit_columns(view: QTableView) -> None:
        """Every column as wide as its header and values (dates, counts, names readable);
        the last (the message) takes the rest."""
        header = view.horizontalHeader()
        for column in range(header.count() - 1):   # the last one stretches
            view.resizeColumnToContents(column)
            # A long message is whole in its tooltip; it does not push the others away.
            header.resizeSection(column, min(header.sectionSize(column), MAX_COLUMN_WIDTH))

    def _tab_changed(self, index: int) -> None:
        # The queue asks the CRM: only when the user looks at it.
        if index == self.queue_tab and not self._queue_loaded:
            self._queue_loaded = True
            self.queue_view.refresh()

    def selected_run(self) -> RunSummary | None:
        rows = self.runs_view.selectionModel().selectedRows()
        return self.runs_model.row_at(rows[0].row()) if rows else None

    def current_filter(self) -> ReportFilter:
        run = self.selected_run()
        return ReportFilter(run_id=run.run_id if run else None,
                            status=self.status_filter.currentData() or None,
                            entity=self.entity_filter.currentData() or None,
                            text=self.text_filter.text())

    def _rows_fetch(self, flt: ReportFilter) -> Any:
        history = self.client.history
        return lambda after, limit: history.rows(flt, after_seq=after, limit=limit)

    def apply_filters(self, *_args: Any) -> None:
        """Show the rows matching the filters (of the selected run, or of all runs)."""
        flt = self.current_filter()
        run = self.selected_run()
        self.rows_title.setText(f"Records of the run started {_clock(run.started_at)}" if run
                                else "Records of all runs (newest first)")
        self.counts_table.setVisible(run is not None)
        if run is not None:
            for r, entity in enumerate(ENTITY_LABELS):
                for c, (side, kind, _header) in enumerate(COUNT_HEADERS):
                    n = (run.counts.get(entity, {}).get(side, {}) or {}).get(kind, 0) or 0
                    cell = QTableWidgetItem(f"{n:,}")
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                    self.counts_table.setItem(r, c, cell)
        self.rows_model.set_fetch(self._rows_fetch(flt))

    def _text_changed(self, text: str) -> None:
        if not text:
            self.apply_filters()  # the clear button: show everything again at once

    def _on_summary(self, days: list[DaySummary]) -> None:
        self.chart.set_days(days)
        synced = sum(d.synced for d in days)
        errors = sum(d.errors for d in days)
        runs = sum(d.runs for d in days)
        self.summary_label.setText(f"{runs} run(s), {synced} record(s) synced, {errors} "
                                   f"error(s) in the last {len(days)} days.")
        self.summary_loaded.emit()

    # -- actions ----------------------------------------------------------------------------

    def export_dialog(self) -> None:
        """Ask for a file and export the filtered rows to it as CSV."""
        path, _ = QFileDialog.getSaveFileName(self, "Export sync report", "sync-report.csv",
                                              "CSV files (*.csv)")
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Export the rows matching the current filters to ``path`` (in a worker)."""
        flt = self.current_filter()
        self.status_label.setText("Exporting…")
        run_in_pool(self.client.history.export_csv, flt, path, on_result=self._on_exported,
                    on_error=self._on_error)

    def _on_exported(self, count: int) -> None:
        self.status_label.setText(f"Exported {count} row(s).")
        self.exported.emit(count)

    def _conflicts_changed(self) -> None:
        empty = self.conflicts_model.rowCount() == 0
        self.conflicts_empty.setVisible(empty)
        self.conflicts_view.setVisible(not empty)
        self.use_other_button.setEnabled(self.selected_conflict() is not None)

    def selected_conflict(self) -> ConflictEntry | None:
        rows = self.conflicts_view.selectionModel().selectedRows()
        return self.conflicts_model.row_at(rows[0].row()) if rows else None

    def use_other_value(self) -> None:
        """Write the selected conflict's losing value into the local item (in a worker)."""
        conflict = self.selected_conflict()
        if conflict is None:
            self.status_label.setText("Select a conflict first.")
            return
        def used(item: Any) -> None:
            if isValid(self):
                self._on_used(conflict, item)

        run_in_pool(self.client.history.use_other_value, conflict.seq, on_result=used,
                    on_error=self._on_error)

    def _on_used(self, conflict: ConflictEntry, item: Any) -> None:
        self.status_label.setText(
            f"{conflict.row.name}: {conflict.row.field} is now "
            f"{_value(conflict.losing_value)!r} locally; the next sync sends it.")
        self.value_used.emit(item)

    def _on_error(self, exc: BaseException) -> None:
        text = error_text(exc)
        self.status_label.setText(text)
        self.failed.emit(text)


__all__ = ["DayChart", "ReportRow", "ReportWindow"]
