"""The *Field mapping* settings tab (DESIGN §5, seeds 002/004).

Per entity, every mapping row: CRM field ↔ local field, its description, an *enabled*
checkbox and a direction (sync once / CRM → local / local → CRM / two-way). *Reset to
defaults* puts the shown entity's rows back to the seed's defaults. The tab is a section of
the settings dialog (``SettingsSection``): ``apply_to`` writes ``Settings.mapping`` into the
dialog's draft, which the dialog's one *Save* saves — only rows that differ from their
default are stored, so a later change of a default reaches users who never touched that row.

Use it inside the settings dialog with ``MappingTab.attach(dialog)``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..settings import MappingOverride, RowDirection, Settings
from ..sync.mapping import ENTITIES, MappingRow, rows_for
from .facade import ClientFacade

DIRECTION_LABELS = {RowDirection.ONCE: "Sync once", RowDirection.CRM_TO_LOCAL: "CRM → local",
                    RowDirection.LOCAL_TO_CRM: "local → CRM", RowDirection.TWO_WAY: "Two-way"}
ENTITY_LABELS = {"contacts": "Contacts", "tasks": "Tasks", "events": "Events"}
COL_ENABLED, COL_CRM, COL_LOCAL, COL_DESCRIPTION, COL_DIRECTION = range(5)


def overrides_from(rows: dict[str, dict[str, tuple[bool, str]]]
                   ) -> dict[str, dict[str, MappingOverride]]:
    """``Settings.mapping`` for the given ``entity -> row -> (enabled, direction)``: only the
    rows that differ from their defaults."""
    result: dict[str, dict[str, MappingOverride]] = {}
    for entity, values in rows.items():
        for row in rows_for(entity):
            enabled, direction = values.get(row.name, (row.default_enabled,
                                                       row.default_direction))
            if (enabled, direction) != (row.default_enabled, row.default_direction):
                result.setdefault(entity, {})[row.name] = MappingOverride(enabled, direction)
    return result


class MappingTab(QWidget):
    """Mapping rows per entity. Signal: ``changed()`` on any edit."""

    changed = Signal()

    def __init__(self, client: ClientFacade, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.entity_tabs = QTabWidget()
        self.tables: dict[str, QTableWidget] = {}
        for entity in ENTITIES:
            table = QTableWidget(0, 5)
            table.setHorizontalHeaderLabels(["On", "CRM field", "Local field", "Description",
                                             "Direction"])
            table.verticalHeader().hide()
            table.horizontalHeader().setSectionResizeMode(COL_DESCRIPTION,
                                                          QHeaderView.ResizeMode.Stretch)
            table.itemChanged.connect(lambda _item: self.changed.emit())
            self.tables[entity] = table
            self.entity_tabs.addTab(table, ENTITY_LABELS[entity])
        self.note = QLabel("Rows that are off are never written on either side. Birthday also "
                           "needs Sync birthdays (Sync tab). Sync once sets a field when the "
                           "record is created and never after. Changes are saved with the "
                           "dialog's Save.")
        self.note.setWordWrap(True)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put the rows of the shown type back to the defaults")
        self.reset_button.clicked.connect(self.reset_current)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.entity_tabs)
        layout.addWidget(self.note)
        layout.addLayout(buttons)
        self.load(client.settings)

    # -- values -----------------------------------------------------------------------------

    def load(self, settings: Settings) -> None:
        """Show the rows with ``settings.mapping`` applied."""
        for entity in ENTITIES:
            overrides = settings.mapping.get(entity, {})
            values = {name: (o.enabled, o.direction) for name, o in overrides.items()}
            self._fill(entity, values)

    def _fill(self, entity: str, values: dict[str, tuple[bool, str]]) -> None:
        table = self.tables[entity]
        table.blockSignals(True)
        rows = rows_for(entity)
        table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            enabled, direction = values.get(row.name, (row.default_enabled,
                                                       row.default_direction))
            check = QTableWidgetItem()
            check.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            check.setCheckState(Qt.CheckState.Checked if enabled else Qt.CheckState.Unchecked)
            check.setData(Qt.ItemDataRole.UserRole, row.name)
            table.setItem(i, COL_ENABLED, check)
            for column, text in ((COL_CRM, self._crm_label(row)), (COL_LOCAL, row.local_field),
                                 (COL_DESCRIPTION, row.description)):
                cell = QTableWidgetItem(text)
                cell.setFlags(Qt.ItemFlag.ItemIsEnabled)
                table.setItem(i, column, cell)
            combo = QComboBox()
            for value, label in DIRECTION_LABELS.items():
                combo.addItem(label, value)
            combo.setCurrentIndex(max(0, combo.findData(direction)))
            combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
            table.setCellWidget(i, COL_DIRECTION, combo)
        table.blockSignals(False)

    @staticmethod
    def _crm_label(row: MappingRow) -> str:
        if row.kind == "address":
            return f"addresses ({row.address_type or 'no type'})"
        return row.crm_field

    @staticmethod
    def _check(table: QTableWidget, row: int) -> QTableWidgetItem:
        item = table.item(row, COL_ENABLED)
        assert item is not None, "every row has its checkbox item"
        return item

    def row_values(self, entity: str) -> dict[str, tuple[bool, str]]:
        """row name -> (enabled, direction) as shown."""
        table = self.tables[entity]
        result = {}
        for i in range(table.rowCount()):
            check = self._check(table, i)
            combo = table.cellWidget(i, COL_DIRECTION)
            assert isinstance(combo, QComboBox)
            result[check.data(Qt.ItemDataRole.UserRole)] = (
                check.checkState() == Qt.CheckState.Checked, combo.currentData())
        return result

    def set_row(self, entity: str, name: str, *, enabled: bool | None = None,
                direction: str | None = None) -> None:
        """Change one row as a user would (tests and scripted setups)."""
        table = self.tables[entity]
        for i in range(table.rowCount()):
            check = self._check(table, i)
            if check.data(Qt.ItemDataRole.UserRole) != name:
                continue
            if enabled is not None:
                check.setCheckState(Qt.CheckState.Checked if enabled
                                    else Qt.CheckState.Unchecked)
            if direction is not None:
                combo = table.cellWidget(i, COL_DIRECTION)
                assert isinstance(combo, QComboBox)
                index = combo.findData(direction)
                if index < 0:
                    raise ValueError(f"unknown direction {direction!r}")
                combo.setCurrentIndex(index)
            return
        raise KeyError(f"{entity}.{name}")

    def overrides(self) -> dict[str, dict[str, MappingOverride]]:
        """``Settings.mapping`` as shown (only rows that differ from the defaults)."""
        return overrides_from({e: self.row_values(e) for e in ENTITIES})

    # -- actions ----------------------------------------------------------------------------

    def reset_current(self) -> None:
        """Put the shown entity's rows back to the defaults (saved with the dialog's Save)."""
        entity = ENTITIES[self.entity_tabs.currentIndex()]
        self._fill(entity, {})
        self.changed.emit()

    def apply_to(self, settings: Settings) -> None:
        """Write the shown rows into ``settings.mapping`` (the dialog's draft)."""
        settings.mapping = self.overrides()

    def attach(self, dialog: Any, title: str = "Field mapping") -> int:
        """Add this tab to the settings dialog, saved with the dialog's Save. Returns the
        tab index."""
        return int(dialog.add_tab(self, title))
