"""The field-mapping tab: rows per entity, overrides saved through the facade, Reset to
defaults, and end to end: a disabled or one-way row changes what the next sync sends."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.gui.mapping_tab import MappingTab
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
    assert tab.row_values("events")["notes"] == (False, "two_way")    # off by default
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


def test_save_and_reset(qtbot, fake_client):
    tab = MappingTab(fake_client)
    qtbot.addWidget(tab)
    tab.set_row("contacts", "job_title", enabled=False)
    with qtbot.waitSignal(tab.saved):
        tab.save_button.click()
    stored = json.loads(fake_client.paths.settings_file.read_text())
    assert stored["mapping"] == {"contacts": {"job_title": {"enabled": False,
                                                            "direction": "two_way"}}}
    assert fake_client.settings.url == "https://crm.example.org"   # the rest kept
    tab.entity_tabs.setCurrentIndex(0)
    tab.reset_button.click()
    assert tab.row_values("contacts")["job_title"] == (True, "two_way")
    assert tab.apply() and fake_client.settings.mapping == {}


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
    tab = MappingTab(client)
    qtbot.addWidget(tab)
    tab.set_row("contacts", "job_title", enabled=False)
    assert tab.apply()
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
    assert tab.apply() and client.settings.mapping == {}
    assert client.sync(entities=["contacts"]).outcome == "ok"
    assert client.store.get(item.id).fields["job_title"] == "CRM title"
    assert devserver.admin.get("contacts", crm_id)["attributes"]["jobTitle"] == "CRM title"


def test_crm_to_local_row_keeps_local_edits_out_of_the_crm(qtbot, client, devserver):
    crm_id = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                                 "jobTitle": "Buyer"})
    client.sync(entities=["contacts"])
    (item,) = client.store.list("contacts")
    tab = MappingTab(client)
    qtbot.addWidget(tab)
    tab.set_row("contacts", "job_title", direction="crm_to_local")
    assert tab.apply()
    client.store.update(item.id, {"job_title": "Local title"})
    client.sync(entities=["contacts"])
    assert devserver.admin.get("contacts", crm_id)["attributes"]["jobTitle"] == "Buyer"
    devserver.admin.update("contacts", crm_id, {"jobTitle": "CRM title"})
    client.sync(entities=["contacts"])
    assert client.store.get(item.id).fields["job_title"] == "CRM title"
