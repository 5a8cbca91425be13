"""The field-mapping tab: rows per entity, overrides saved through the facade, Reset to
defaults, and end to end: a disabled or one-way row changes what the next sync sends."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QPushButton

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.gui.mapping_tab import MappingTab
from tray_client.gui.settings_dialog import SettingsDialog
from tray_client.settings import MappingOverride, Settings
from tray_client.sync.mapping import rows_for


def test_rows_defaults_and_overrides(qtbot, fake_client):
    fake_client.settings.mapping = {"tasks": {"notes": MappingOverride(True, "crm_to_local")}}
    tab = MappingTab(fake_client)
    qtbot.addWidget(tab)
    assert tab.tables["contacts"].rowCount() == len(rows_for("contacts"))
    assert tab.tables["contacts"].item(0, 1).text() == "firstName"
    assert tab.tables["contacts"].item(11, 1).text() == "addresses (billing)"
    assert tab.row_values("tasks")["notes"] == (True, "crm_to_local")
    assert tab.row_values("events")["notes"] == (True, "two_way")     # on by default (issue 14)
    assert tab.overrides() == {"tasks": {"notes": MappingOverride(True, "crm_to_local")}}
    changes = []
    tab.changed.connect(lambda: changes.append(1))
    tab.set_row("contacts", "job_title", enabled=False)
    tab.set_row("contacts", "gender", direction="once")
    assert len(changes) == 2
    assert tab.overrides()["contacts"] == {
        "job_title": MappingOverride(False, "two_way"),
        "gender": MappingOverride(True, "once")}
    # Back to its default: no override stored for that row.
    tab.set_row("contacts", "gender", direction="two_way")
    assert set(tab.overrides()["contacts"]) == {"job_title"}
    with pytest.raises(KeyError):
        tab.set_row("contacts", "nope", enabled=True)


def in_dialog(qtbot, client) -> tuple[SettingsDialog, MappingTab]:
    dialog = SettingsDialog(client)
    qtbot.addWidget(dialog)
    tab = MappingTab(client)
    tab.attach(dialog)
    return dialog, tab


def test_one_save_the_dialogs_and_reset(qtbot, fake_client):
    dialog, tab = in_dialog(qtbot, fake_client)
    # One Save: the dialog's (the tab has none of its own, nor a "Saved" of its own).
    assert [b.text() for b in tab.findChildren(QPushButton)] == ["Reset to defaults"]
    tab.set_row("contacts", "job_title", enabled=False)
    assert fake_client.settings.mapping == {}        # nothing saved before Save
    with qtbot.waitSignal(dialog.saved):
        dialog.buttons.accepted.emit()
    stored = json.loads(fake_client.paths.settings_file.read_text())
    assert stored["mapping"] == {"contacts": {"job_title": {"enabled": False,
                                                            "direction": "two_way"}}}
    assert fake_client.settings.url == "https://crm.example.org"   # the rest kept
    tab.entity_tabs.setCurrentIndex(0)
    tab.reset_button.click()
    assert tab.row_values("contacts")["job_title"] == (True, "two_way")
    assert dialog.apply() and fake_client.settings.mapping == {}


def test_cancel_keeps_the_saved_mapping(qtbot, fake_client):
    dialog, tab = in_dialog(qtbot, fake_client)
    tab.set_row("contacts", "job_title", enabled=False)
    dialog.reject()
    assert fake_client.settings.mapping == {}
    assert not fake_client.paths.settings_file.exists()


def test_attach_adds_the_tab_and_saves_with_the_dialog(qtbot, fake_client):
    from tray_client.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    tab = MappingTab(fake_client)
    index = tab.attach(dialog)
    assert dialog.tabs.tabText(index) == "Field mapping"
    tab.set_row("tasks", "due_date", direction="local_to_crm")
    assert dialog.apply()
    assert fake_client.settings.mapping == {"tasks": {"due_date": MappingOverride(
        True, "local_to_crm")}}


@pytest.fixture
def client(devserver, tmp_path, monkeypatch):
    from tray_client.client import Client

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    with Client(tmp_path / "home") as c:
        c.save_settings(Settings(url=devserver.url, user=TEST_USER))
        yield c


def test_disabled_row_is_left_alone_by_the_next_sync(qtbot, client, devserver):
    crm_id = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                                 "jobTitle": "Buyer"})
    client.sync(entities=["contacts"])
    (item,) = client.store.list("contacts")
    dialog, tab = in_dialog(qtbot, client)
    tab.set_row("contacts", "job_title", enabled=False)
    assert dialog.apply()
    client.store.update(item.id, {"job_title": "Local title", "middle_name": "Mia"})
    result = client.sync(entities=["contacts"])
    assert result.outcome == "ok"
    attrs = devserver.admin.get("contacts", crm_id)["attributes"]
    assert attrs["jobTitle"] == "Buyer" and attrs["middleName"] == "Mia"
    # Nor does a CRM change of that field reach the local item.
    devserver.admin.update("contacts", crm_id, {"jobTitle": "CRM title"})
    client.sync(entities=["contacts"])
    assert client.store.get(item.id).fields["job_title"] == "Local title"
    # Enabled again (Reset to defaults): the field syncs again. The pair has no base for it
    # (it was off), so it is matched afresh: the CRM's value replaces the local one (DESIGN
    # §6, "exists on both sides") and both sides agree.
    tab.entity_tabs.setCurrentIndex(0)
    tab.reset_button.click()
    assert dialog.apply() and client.settings.mapping == {}
    assert client.sync(entities=["contacts"]).outcome == "ok"
    assert client.store.get(item.id).fields["job_title"] == "CRM title"
    assert devserver.admin.get("contacts", crm_id)["attributes"]["jobTitle"] == "CRM title"


def test_crm_to_local_row_keeps_local_edits_out_of_the_crm(qtbot, client, devserver):
    crm_id = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                                 "jobTitle": "Buyer"})
    client.sync(entities=["contacts"])
    (item,) = client.store.list("contacts")
    dialog, tab = in_dialog(qtbot, client)
    tab.set_row("contacts", "job_title", direction="crm_to_local")
    assert dialog.apply()
    client.store.update(item.id, {"job_title": "Local title"})
    client.sync(entities=["contacts"])
    assert devserver.admin.get("contacts", crm_id)["attributes"]["jobTitle"] == "Buyer"
    devserver.admin.update("contacts", crm_id, {"jobTitle": "CRM title"})
    client.sync(entities=["contacts"])
    assert client.store.get(item.id).fields["job_title"] == "CRM title"
