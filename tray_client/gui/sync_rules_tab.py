"""The *Sync rules* settings tab (DESIGN §3, §6, §8): per entity, whether it syncs, the
direction, who wins a conflict, the key fields and the two intervals; and the default country
of contact addresses (Oro requires one; ORO-API.md §6).

The values are this computer's (``Settings.sync_rules``), except where the CRM's Outlook
section sets them (``sync.rules``): those cells show the CRM's value, cannot be edited, and
the row says "set by the CRM administrator". The user's own value of a locked cell is kept
and applies again if the CRM stops setting it. The locks come from the section the last sync
read, and are refreshed when the dialog loads the server configuration
(``SettingsDialog.server_configuration_loaded``).

Use it inside the settings dialog with ``SyncRulesTab.attach(dialog)``: it is one of the
dialog's ``SettingsSection``s (``load``, ``apply_to``, ``validate``), so the dialog's Save
saves the rules and its Cancel leaves them; an unknown key field blocks Save with a message
under the table.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .. import places
from ..errors import ConfigurationError, TrayClientError
from ..settings import (
    MAX_RULE_INTERVAL,
    MIN_RULE_INTERVAL,
    RULE_DIRECTIONS,
    RULE_ENTITIES,
    RULE_POLICIES,
    ConflictPolicy,
    Direction,
    Settings,
    SyncRule,
    default_sync_rules,
    locale_country,
)
from ..sync.rules import EffectiveRule, rule_value
from .facade import ClientFacade

log = logging.getLogger(__name__)

ENTITY_LABELS = {"contacts": "Contacts", "tasks": "Tasks", "events": "Calendar events"}
DIRECTION_LABELS = {Direction.BOTH: "Both ways", Direction.CRM_TO_LOCAL: "CRM → this computer",
                    Direction.LOCAL_TO_CRM: "This computer → CRM"}
POLICY_LABELS = {ConflictPolicy.CRM_WINS: "The CRM wins",
                 ConflictPolicy.LOCAL_WINS: "This computer wins"}
SET_BY_CRM = "the CRM administrator (greyed values)"
SET_BY_CLIENT = "this computer"
LOCK_TIP = ("Set by the CRM administrator in the CRM's Outlook settings; it cannot be changed "
            "here. Your own value is kept and applies if the CRM stops setting it.")
COLUMNS = ("Sync", "Direction", "On conflict", "Key fields", "Pull every", "Push every",
           "Set by")


class _RuleRow:
    """The widgets of one entity's rule."""

    def __init__(self, entity: str, on_change: Any) -> None:
        self.entity = entity
        self.enabled = QCheckBox(ENTITY_LABELS[entity])
        self.direction = QComboBox()
        self.direction.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for value in RULE_DIRECTIONS:
            self.direction.addItem(DIRECTION_LABELS[value], value)
        self.policy = QComboBox()
        self.policy.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for value in RULE_POLICIES:
            self.policy.addItem(POLICY_LABELS[value], value)
        self.keys = QLineEdit()
        self.keys.setPlaceholderText("CRM field names, comma-separated")
        # Wide enough for the longest default key list to show whole.
        self.keys.setMinimumWidth(self.keys.fontMetrics().horizontalAdvance(
            "lastName, firstName, birthday, gender") + 16)
        self.pull = self._seconds()
        self.push = self._seconds()
        self.set_by = QLabel()
        self.set_by.setWordWrap(True)
        self.set_by.setMinimumWidth(self.set_by.fontMetrics().horizontalAdvance(
            "the CRM administrator") + 8)
        self.locked: frozenset[str] = frozenset()
        self.widgets: dict[str, QWidget] = {
            "enabled": self.enabled, "direction": self.direction,
            "conflict_resolution": self.policy, "keys": self.keys,
            "pull_interval": self.pull, "push_interval": self.push}
        self.enabled.toggled.connect(on_change)
        self.direction.currentIndexChanged.connect(on_change)
        self.policy.currentIndexChanged.connect(on_change)
        self.keys.textEdited.connect(on_change)
        self.pull.valueChanged.connect(on_change)
        self.push.valueChanged.connect(on_change)

    @staticmethod
    def _seconds() -> QSpinBox:
        box = QSpinBox()
        box.setRange(MIN_RULE_INTERVAL, MAX_RULE_INTERVAL)
        box.setSuffix(" s")
        box.setAccelerated(True)
        return box

    def show(self, own: SyncRule, effective: EffectiveRule) -> None:
        """Own values in the free cells, the CRM's in the locked ones."""
        def pick(key: str) -> Any:
            return getattr(effective, key) if key in effective.locked else getattr(own, key)

        for widget in self.widgets.values():
            widget.blockSignals(True)
        self.enabled.setChecked(bool(pick("enabled")))
        self.direction.setCurrentIndex(max(0, self.direction.findData(pick("direction"))))
        self.policy.setCurrentIndex(max(0, self.policy.findData(pick("conflict_resolution"))))
        self.keys.setText(", ".join(pick("keys") or effective.keys))
        self.pull.setValue(int(pick("pull_interval")))
        self.push.setValue(int(pick("push_interval")))
        for widget in self.widgets.values():
            widget.blockSignals(False)
        self.lock(effective.locked)

    def lock(self, locked: frozenset[str]) -> None:
        for key, widget in self.widgets.items():
            widget.setEnabled(key not in locked)
            widget.setToolTip(LOCK_TIP if key in locked else "")
        self.set_by.setText(SET_BY_CRM if locked else SET_BY_CLIENT)
        self.set_by.setToolTip(LOCK_TIP if locked else "Edit the values here.")
        self.locked = locked

    def values(self) -> dict[str, Any]:
        """The shown values as text/typed (keys still to be checked)."""
        return {"enabled": self.enabled.isChecked(), "direction": self.direction.currentData(),
                "conflict_resolution": self.policy.currentData(), "keys": self.keys.text(),
                "pull_interval": self.pull.value(), "push_interval": self.push.value()}


class SyncRulesTab(QWidget):
    """The rules per entity, a ``SettingsSection`` of the settings dialog. Signal:
    ``changed()`` on any edit."""

    changed = Signal()

    def __init__(self, client: ClientFacade, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self._section: dict[str, Any] | None = None   # None: the one the last sync read
        grid = QGridLayout()
        for column, title in enumerate(COLUMNS):
            header = QLabel(f"<b>{title}</b>")
            grid.addWidget(header, 0, column)
        self.rows: dict[str, _RuleRow] = {}
        for line, entity in enumerate(RULE_ENTITIES, start=1):
            row = _RuleRow(entity, lambda *_args: self.changed.emit())
            self.rows[entity] = row
            for column, widget in enumerate((row.enabled, row.direction, row.policy, row.keys,
                                             row.pull, row.push, row.set_by)):
                grid.addWidget(widget, line, column)
        grid.setColumnStretch(3, 2)
        grid.setColumnStretch(6, 1)
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        # Contact addresses: Oro requires a country; a local address without one is in this.
        self.country_combo = QComboBox()
        self.country_combo.setEditable(False)
        locale_code = locale_country()
        self.country_combo.addItem(
            f"This computer's locale ({places.country_name(locale_code)})" if locale_code
            else "This computer's locale (none: such addresses are not sent)", "")
        for code, name in places.country_choices():
            self.country_combo.addItem(name, code)
        self.country_combo.currentIndexChanged.connect(lambda *_args: self.changed.emit())
        country_row = QHBoxLayout()
        country_row.addWidget(QLabel("Country of contact addresses that name none:"))
        country_row.addWidget(self.country_combo)
        country_row.addStretch(1)
        self.note = QLabel(
            "Key fields identify a record that is not linked yet (for example lastName, "
            "firstName, birthday, gender for contacts). Pull: how often changes are read "
            "from the CRM; push: how often local changes are sent.")
        self.note.setWordWrap(True)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every rule this computer sets back to the defaults")
        self.reset_button.clicked.connect(self.reset)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.status_label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.source_label)
        layout.addWidget(self.note)
        layout.addLayout(country_row)
        layout.addStretch(1)
        layout.addLayout(buttons)
        self.load(client.settings)

    # -- values -----------------------------------------------------------------------------

    def load(self, settings: Settings, section: dict[str, Any] | None = None) -> None:
        """Show ``settings``' rules with the CRM section's on top (``section`` None: the one
        the last sync read)."""
        if section is not None:
            self._section = section
        try:
            effective = self.client.sync_rules(self._section, settings)
            problem = ""
        except TrayClientError as exc:
            # The section holds a value this client does not know: show ours, say why.
            effective = self.client.sync_rules({}, settings)
            problem = f" {exc.title}: {exc.message}"
        for entity, row in self.rows.items():
            row.show(settings.rule(entity), effective[entity])
        self.country_combo.blockSignals(True)
        self.country_combo.setCurrentIndex(max(0, self.country_combo.findData(
            settings.default_country)))
        self.country_combo.blockSignals(False)
        if any(rule.locked for rule in effective.values()):
            text = ("The CRM has Outlook settings: the greyed values are set by the CRM "
                    "administrator and cannot be changed here.")
        else:
            text = ("The CRM sets no sync rules (Oro 5 and 6 have no Outlook settings): "
                    "these are this computer's.")
        self.source_label.setText(text + problem)

    def set_server_configuration(self, config: dict[str, Any]) -> None:
        """New locks from a freshly read section; the user's unsaved edits stay."""
        try:
            current = self.edited(self.client.settings)
        except ConfigurationError:
            current = self.client.settings
        self.load(current, config)

    def edited(self, settings: Settings, *, strict: bool = True) -> Settings:
        """A copy of ``settings`` with the rules as shown; locked cells keep the settings'
        own values. Raises ConfigurationError naming a bad value (an unknown key field);
        with ``strict=False`` a bad value keeps the settings' own instead."""
        rules: dict[str, SyncRule] = {}
        for entity, row in self.rows.items():
            own = settings.rule(entity)
            rule = dataclasses.replace(own, keys=list(own.keys))
            for key, value in row.values().items():
                if key in row.locked:
                    continue
                try:
                    setattr(rule, key, rule_value(entity, key, value))
                except ConfigurationError:
                    if strict:
                        raise
            rules[entity] = rule
        return dataclasses.replace(settings, sync_rules=rules,
                                   default_country=self.country_combo.currentData() or "")

    def apply_to(self, settings: Settings) -> None:
        """Write the rules as shown into ``settings`` (the dialog's draft; SettingsSection).
        A value ``validate`` refuses is left as the settings hold it."""
        settings.sync_rules = self.edited(settings, strict=False).sync_rules
        settings.default_country = self.country_combo.currentData() or ""

    def validate(self) -> bool:
        """Say what is wrong under the table; False blocks the dialog's Save."""
        try:
            self.edited(self.client.settings)
        except ConfigurationError as exc:
            self.status_label.setText(f"Not saved: {exc.message}")
            self.status_label.setStyleSheet("color: #c62828;")
            return False
        self.status_label.setText("")
        self.status_label.setStyleSheet("")
        return True

    def set_rule(self, entity: str, key: str, value: Any) -> None:
        """Change one cell as a user would (tests and scripted setups)."""
        row = self.rows[entity]
        widget = row.widgets[key]
        if not widget.isEnabled():
            raise PermissionError(f"{entity}.{key} is set by the CRM administrator")
        if key == "enabled":
            row.enabled.setChecked(bool(value))
        elif key in ("direction", "conflict_resolution"):
            combo = row.direction if key == "direction" else row.policy
            index = combo.findData(value)
            if index < 0:
                raise ValueError(f"unknown {key} {value!r}")
            combo.setCurrentIndex(index)
        elif key == "keys":
            row.keys.setText(value if isinstance(value, str) else ", ".join(value))
            row.keys.textEdited.emit(row.keys.text())   # as typing would
        else:
            (row.pull if key == "pull_interval" else row.push).setValue(int(value))

    # -- actions ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Every rule this computer sets back to the defaults (saved with Save)."""
        settings = dataclasses.replace(self.client.settings, sync_rules=default_sync_rules())
        self.load(settings)
        self.changed.emit()

    def attach(self, dialog: Any, title: str = "Sync rules") -> int:
        """Add this tab to the settings dialog (saved with its Save, left by its Cancel) and
        take the locks from the server configuration it loads. Returns the tab index."""
        index = int(dialog.add_tab(self, title))
        # Room for every column whole (the dialog was sized for narrower tabs).
        dialog.setMinimumWidth(max(dialog.minimumWidth(), self.minimumSizeHint().width() + 40))
        dialog.server_configuration_loaded.connect(self.set_server_configuration)
        return index
