"""GET /api/configuration/outlook: every key with its default; overrides kept in the db."""

from __future__ import annotations

import pytest

from tray_client.devserver.config import OPTIONS, parse_setting
from tray_client.devserver.testing import RunningServer

from .wsse import Api, error_of

PREFIX = "oro_crm_pro_outlook."
DEFAULTS = {
    "contacts_enabled": True,
    "contacts_sync_direction": "Both",
    "contacts_conflict_resolution": "OroCRMAlwaysWins",
    "contacts_sync_interval_orocrm": 120,
    "contacts_sync_interval_outlook": 30,
    "contacts_keys": ["lastName", "firstName", "birthday", "gender"],
    "tasks_enabled": True,
    "tasks_sync_direction": "Both",
    "tasks_conflict_resolution": "OroCRMAlwaysWins",
    "tasks_keys": ["subject", "taskPriority"],
    "calendar_events_enabled": True,
    "calendar_events_sync_direction": "Both",
    "calendar_events_conflict_resolution": "OroCRMAlwaysWins",
    "calendar_events_keys": ["title", "start", "end", "allDay"],
}


def _options(api):
    document = api.get("/configuration/outlook").json()
    assert document["data"]["type"] == "configuration" and document["data"]["id"] == "outlook"
    linked = [o["id"] for o in document["data"]["relationships"]["options"]["data"]]
    assert linked == [o["id"] for o in document["included"]]
    return {o["id"]: o["attributes"] for o in document["included"]}


def test_every_design_key_has_its_default(api):
    options = _options(api)
    for key, value in DEFAULTS.items():
        assert options[PREFIX + key]["value"] == value
    assert options[PREFIX + "contacts_enabled"]["dataType"] == "boolean"
    assert options[PREFIX + "contacts_sync_interval_orocrm"]["dataType"] == "integer"
    for key in ("addin_latest_version", "addin_latest_version_url", "addin_min_supported_version"):
        assert isinstance(options[PREFIX + key]["value"], str) and options[PREFIX + key]["value"]


def test_dialog_layouts_follow_oros_create_forms(api):
    options = _options(api)
    lead = options[PREFIX + "create_lead_dialog_layout"]["value"]["fields"]
    assert lead[0] == {"name": "name", "label": "Lead name", "kind": "attribute", "type": "string", "required": True}
    assert {"name": "status", "label": "Status", "kind": "relationship", "type": "enum", "enum": "leadstatuses", "required": False} in lead
    opportunity = {f["name"]: f for f in options[PREFIX + "create_opportunity_dialog_layout"]["value"]["fields"]}
    assert opportunity["name"]["required"] and opportunity["status"]["required"] and opportunity["status"]["enum"] == "opportunitystatuses"
    assert opportunity["probability"]["type"] == "percent" and opportunity["budgetAmountValue"]["type"] == "money"
    case = {f["name"]: f for f in options[PREFIX + "create_case_dialog_layout"]["value"]["fields"]}
    assert case["subject"]["required"] and case["priority"]["enum"] == "casepriorities"
    kinds = {"string", "text", "email", "phone", "date", "integer", "percent", "money", "enum"}
    for layout in ("create_lead_dialog_layout", "create_opportunity_dialog_layout", "create_case_dialog_layout"):
        assert all(f["type"] in kinds for f in options[PREFIX + layout]["value"]["fields"])


def test_admin_set_setting_overrides_and_persists(api, devserver, tmp_path):
    devserver.admin.set_setting("contacts_sync_direction", "OroCRMToOutlook")
    devserver.admin.set_setting(PREFIX + "tasks_enabled", False)
    devserver.admin.set_setting("contacts_sync_interval_orocrm", "300")
    options = _options(api)
    assert options[PREFIX + "contacts_sync_direction"]["value"] == "OroCRMToOutlook"
    assert options[PREFIX + "tasks_enabled"]["value"] is False
    assert options[PREFIX + "contacts_sync_interval_orocrm"]["value"] == 300
    devserver.stop()
    devserver.start()
    assert _options(api)[PREFIX + "contacts_sync_direction"]["value"] == "OroCRMToOutlook"
    for key, value in (("contacts_sync_direction", "Sideways"), ("no_such_key", 1), ("tasks_enabled", "maybe"), ("contacts_keys", 5)):
        with pytest.raises(ValueError):
            devserver.admin.set_setting(key, value)


def test_settings_argument_of_running_server(tmp_path):
    settings = {"calendar_events_conflict_resolution": "OutlookAlwaysWins", "contacts_keys": ["lastName"]}
    with RunningServer(db_path=tmp_path / "c.db", settings=settings) as server:
        api = Api(server.url, server.user, server.api_key)
        options = _options(api)
        api.close()
    assert options[PREFIX + "calendar_events_conflict_resolution"]["value"] == "OutlookAlwaysWins"
    assert options[PREFIX + "contacts_keys"]["value"] == ["lastName"]


def test_command_line_setting_syntax():
    assert parse_setting("contacts_enabled=false") == ("contacts_enabled", False)
    assert parse_setting(f"{PREFIX}contacts_sync_interval_outlook=45") == ("contacts_sync_interval_outlook", 45)
    assert parse_setting("contacts_keys=lastName, firstName") == ("contacts_keys", ["lastName", "firstName"])
    assert parse_setting('tasks_keys=["subject"]') == ("tasks_keys", ["subject"])
    assert parse_setting("addin_latest_version=9.9.9") == ("addin_latest_version", "9.9.9")
    assert parse_setting('create_case_dialog_layout={"fields": []}') == ("create_case_dialog_layout", {"fields": []})
    for bad in ("contacts_enabled", "contacts_sync_interval_orocrm=soon", "x=1", "create_case_dialog_layout={"):
        with pytest.raises(ValueError):
            parse_setting(bad)
    assert set(DEFAULTS) <= set(OPTIONS)


def test_configuration_takes_no_parameters(api):
    assert error_of(api.get("/configuration/outlook", params={"x": "1"}), 400)["source"] == {"parameter": "x"}
