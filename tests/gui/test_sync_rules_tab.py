"""The *Sync rules* tab: this computer's rules, editable, saved with the Settings dialog's
Save and left by its Cancel; the rules a CRM's Outlook section sets shown locked, "set by the
CRM administrator"; and end to end over the real facade and reference server."""

from __future__ import annotations

import pytest

from tray_client.gui.settings_dialog import SettingsDialog
from tray_client.gui.sync_rules_tab import SET_BY_CLIENT, SET_BY_CRM, SyncRulesTab
from tray_client.settings import load_settings


def make_tab(qtbot, client) -> SyncRulesTab:
    """The tab inside a settings dialog (``tab.dialog``), as the app shows it."""
    dialog = SettingsDialog(client)
    qtbot.addWidget(dialog)
    tab = SyncRulesTab(client)
    tab.attach(dialog)
    tab.dialog = dialog
    return tab


def test_shows_and_saves_this_computers_rules(qtbot, fake_client):
    fake_client.settings.rule("tasks").direction = "OutlookToOroCRM"
    tab = make_tab(qtbot, fake_client)
    contacts, tasks = tab.rows["contacts"], tab.rows["tasks"]
    assert contacts.enabled.isChecked() and contacts.direction.currentText() == "Both ways"
    assert contacts.policy.currentText() == "The CRM wins"
    assert contacts.keys.text() == "lastName, firstName, birthday, gender"
    assert (contacts.pull.value(), contacts.push.value()) == (120, 30)
    assert tasks.direction.currentText() == "This computer → CRM"
    assert {row.set_by.text() for row in tab.rows.values()} == {SET_BY_CLIENT}
    assert "these are this computer's" in tab.source_label.text()

    changes = []
    tab.changed.connect(lambda: changes.append(1))
    tab.set_rule("events", "enabled", False)
    tab.set_rule("contacts", "conflict_resolution", "OutlookAlwaysWins")
    tab.set_rule("contacts", "keys", "lastName, emails")
    tab.set_rule("tasks", "pull_interval", 600)
    assert len(changes) == 4
    assert fake_client.settings.rule("events").enabled is True, "nothing saved before Save"
    assert tab.dialog.apply() is True
    saved = fake_client.settings
    assert saved.rule("events").enabled is False
    assert saved.rule("contacts").conflict_resolution == "OutlookAlwaysWins"
    assert saved.rule("contacts").keys == ["lastName", "emails"]
    assert saved.rule("tasks").pull_interval == 600
    assert saved.rule("tasks").direction == "OutlookToOroCRM"


def test_a_bad_key_field_is_not_saved_and_says_why(qtbot, fake_client):
    tab = make_tab(qtbot, fake_client)
    tab.set_rule("contacts", "keys", "lastName, shoeSize")
    tab.set_rule("tasks", "enabled", False)
    assert tab.dialog.apply() is False
    assert "shoeSize" in tab.status_label.text()
    assert tab.dialog.tabs.currentWidget() is tab
    assert fake_client.settings.rule("tasks").enabled is True
    assert fake_client.settings.rule("contacts").keys == ["lastName", "firstName", "birthday",
                                                          "gender"]


def test_rules_the_crm_section_sets_are_locked(qtbot, fake_client):
    fake_client.settings.rule("contacts").direction = "OroCRMToOutlook"
    tab = make_tab(qtbot, fake_client)
    tab.set_rule("tasks", "push_interval", 90)          # an edit not saved yet
    tab.set_server_configuration({
        "contacts_sync_direction": "OutlookToOroCRM",
        "contacts_keys": [{"OroCRM": "lastName", "Outlook": "LastName"}],
        "contacts_sync_interval_orocrm": 300, "tasks_enabled": False})
    contacts, tasks = tab.rows["contacts"], tab.rows["tasks"]
    assert contacts.set_by.text() == SET_BY_CRM == "the CRM administrator (greyed values)"
    assert contacts.direction.currentText() == "This computer → CRM"
    assert not contacts.direction.isEnabled() and not contacts.keys.isEnabled()
    assert "CRM administrator" in contacts.direction.toolTip()
    assert contacts.keys.text() == "lastName" and contacts.pull.value() == 300
    assert contacts.policy.isEnabled() and contacts.push.isEnabled()
    assert not tasks.enabled.isChecked() and not tasks.enabled.isEnabled()
    assert tasks.push.value() == 90, "the unsaved edit survives the new locks"
    assert "greyed values are set by the CRM administrator" in tab.source_label.text()
    with pytest.raises(PermissionError):
        tab.set_rule("contacts", "direction", "Both")
    # Saving keeps this computer's own value under a lock (it applies again without one).
    assert tab.dialog.apply() is True
    assert fake_client.settings.rule("contacts").direction == "OroCRMToOutlook"
    assert fake_client.settings.rule("contacts").pull_interval == 120
    assert fake_client.settings.rule("tasks").push_interval == 90
    # The CRM stops setting them: editable again, with this computer's values.
    tab.set_server_configuration({})
    assert contacts.direction.isEnabled()
    assert contacts.direction.currentText() == "CRM → this computer"


def test_an_unknown_crm_value_is_said_not_guessed(qtbot, fake_client):
    tab = make_tab(qtbot, fake_client)
    tab.set_server_configuration({"contacts_sync_direction": "Sideways"})
    assert "Unknown sync direction" in tab.source_label.text()
    assert tab.rows["contacts"].direction.isEnabled()


def test_reset_to_defaults(qtbot, fake_client):
    fake_client.settings.rule("events").enabled = False
    tab = make_tab(qtbot, fake_client)
    assert not tab.rows["events"].enabled.isChecked()
    tab.reset()
    assert tab.rows["events"].enabled.isChecked()
    assert tab.dialog.apply() and fake_client.settings.rule("events").enabled is True


def test_cancel_leaves_the_rules(qtbot, fake_client):
    tab = make_tab(qtbot, fake_client)
    tab.set_rule("contacts", "direction", "OutlookToOroCRM")
    tab.dialog.reject()
    assert fake_client.settings.rule("contacts").direction == "Both"


def test_in_the_dialog_with_the_real_server(qtbot, real_client, devserver):
    """Over the real facade: the dialog's server configuration locks the rows the reference
    server's Outlook section sets; the dialog's Save saves the rules too."""
    devserver.admin.set_setting("contacts_conflict_resolution", "OutlookAlwaysWins")
    dialog = SettingsDialog(real_client)
    qtbot.addWidget(dialog)
    tab = SyncRulesTab(real_client)
    index = tab.attach(dialog)
    assert dialog.tabs.tabText(index) == "Sync rules"
    with qtbot.waitSignal(dialog.server_configuration_loaded, timeout=10000):
        dialog.load_server_configuration()
    contacts = tab.rows["contacts"]
    assert contacts.set_by.text() == SET_BY_CRM
    assert contacts.policy.currentText() == "This computer wins"
    assert not contacts.policy.isEnabled()
    dialog.accept()
    # The dialog's Save saved the rules: this computer's own value under the lock is kept.
    saved = load_settings(real_client.paths.settings_file)
    assert saved.rule("contacts").conflict_resolution == "OroCRMAlwaysWins"


def test_default_country_is_shown_and_saved(qtbot, fake_client, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.setenv(name, "it_IT.UTF-8")
    tab = make_tab(qtbot, fake_client)
    combo = tab.country_combo
    assert combo.currentData() == "" and combo.currentText() == "This computer's locale (Italy)"
    combo.setCurrentIndex(combo.findData("DE"))
    assert combo.currentText() == "Germany"
    assert tab.dialog.apply() is True
    assert fake_client.settings.default_country == "DE"
    assert fake_client.settings.effective_default_country == "DE"
    tab.load(fake_client.settings)
    assert tab.country_combo.currentText() == "Germany"
