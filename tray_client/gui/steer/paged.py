"""A table model that never loads a whole table: pages come from a core query run in a
worker (``QThreadPool``), appended when the view scrolls near the end (``canFetchMore`` /
``fetchMore``).

``fetch(cursor, limit) -> list[row]`` is the core query (``cursor`` is ``None`` for the first
page); ``next_cursor(rows, loaded) -> cursor`` says where the next page starts (a keyset value
such as the last ``seq``, or simply the number of rows loaded, for ``OFFSET`` paging).
``reload()`` starts over (after a filter change); pages of an older generation that arrive
late are dropped, so a slow query never mixes its rows into a newer result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont
from shiboken6 import isValid

from ..workers import run_in_pool

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole

Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column:
    """One column: its header, the text of a row, and optionally a sort key, a tooltip and
    a colour (e.g. red for errors)."""

    header: str
    text: Callable[[Any], str]
    sort_key: Callable[[Any], Any] | None = None
    tooltip: Callable[[Any], str] | None = None
    color: Callable[[Any], str | None] | None = None
    link: bool = False


class PagedTableModel(QAbstractTableModel):
    """Rows of a core query, loaded page by page in workers.

    Signals: ``loaded(int)`` after a page arrived (number of rows added; 0 for an empty last
    page), ``failed(object)`` with the exception when a page could not be read.
    """

    loaded = Signal(int)
    failed = Signal(object)

    def __init__(self, columns: Sequence[Column], fetch: Callable[[Any, int], list[Any]],
                 next_cursor: Callable[[list[Any], int], Any], *, page: int = 500,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self._fetch = fetch
        self._next_cursor = next_cursor
        self.page = page
        self.rows: list[Any] = []
        self._cursor: Any = None
        self._more = True
        self._loading = False
        self._generation = 0

    # -- loading ------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._loading

    def set_fetch(self, fetch: Callable[[Any, int], list[Any]]) -> None:
        """Use another query (new filters) and reload."""
        self._fetch = fetch
        self.reload()

    def reload(self) -> None:
        """Forget the rows and load the first page again."""
        self._generation += 1
        self.beginResetModel()
        self.rows = []
        self._cursor = None
        self._more = True
        self._loading = False
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt API
        return not parent.isValid() and self._more and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008 - Qt API
        if parent.isValid() or not self._more or self._loading:
            return
        self._loading = True
        generation, cursor, fetch, page = self._generation, self._cursor, self._fetch, self.page
        run_in_pool(fetch, cursor, page,
                    on_result=lambda rows: self._on_page(generation, rows),
                    on_error=lambda exc: self._on_error(generation, exc))

    def _on_page(self, generation: int, rows: list[Any]) -> None:
        # The model may be gone (window closed) before a worker it started finishes.
        if not isValid(self) or generation != self._generation:
            return  # a page of a query that was replaced meanwhile
        self._loading = False
        self._more = len(rows) >= self.page
        if rows:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self.rows.extend(rows)
            self.endInsertRows()
            self._cursor = self._next_cursor(self.rows, len(self.rows))
        self.loaded.emit(len(rows))

    def _on_error(self, generation: int, exc: BaseException) -> None:
        if not isValid(self) or generation != self._generation:
            return
        self._loading = False
        self._more = False
        self.failed.emit(exc)

    def fetch_all(self) -> None:
        """Ask for the next page if there is one (tests and "load everything" use it)."""
        self.fetchMore(QModelIndex())

    # -- model ------------------------------------------------------------------------------

    def row_at(self, row: int) -> Any:
        return self.rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt API
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].header
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == ROW_ROLE:
            return row
        if role == SORT_ROLE:
            key = column.sort_key(row) if column.sort_key else column.text(row)
            return key if isinstance(key, (int, float)) else str(key).casefold()
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row) or None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column.link and column.text(row):
                return QBrush(QColor("#1a5fb4"))
            color = column.color(row) if column.color else None
            return QBrush(QColor(color)) if color else None
        if role == Qt.ItemDataRole.FontRole and column.link and column.text(row):
            font = QFont()
            font.setUnderline(True)
            return font
        return None


class ListTableModel(PagedTableModel):
    """A PagedTableModel whose query returns everything at once (short lists: the queue,
    the trash); still loaded in a worker."""

    def __init__(self, columns: Sequence[Column], fetch_all: Callable[[], list[Any]], *,
                 parent: QObject | None = None) -> None:
        super().__init__(columns, lambda _cursor, _limit: fetch_all(), lambda rows, n: n,
                         page=1 << 62, parent=parent)
