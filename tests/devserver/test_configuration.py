"""GET /api/configuration/outlook: absent as on real Oro 5.x/6.x, unless an administrator
value is stored (``--setting``); then the old Enterprise bundle's section, in its shapes."""

from __future__ import annotations

import pytest

from tray_client.devserver.config import OPTIONS, pair, parse_setting
from tray_client.devserver.testing import RunningServer

from .wsse import Api, error_of

PREFIX = "oro_crm_pro_outlook."
DEFAULTS = {
    "contacts_enabled": True,
    "contacts_sync_direction": "Both",
    "contacts_conflict_resolution": "OroCRMAlwaysWins",
    "contacts_sync_interval_orocrm": 120,
    "contacts_sync_interval_outlook": 30,
    "contacts_keys": [
        {"OroCRM": "lastName", "Outlook": "LastName"},
        {"OroCRM": "firstName", "Outlook": "FirstName"},
        {"OroCRM": "birthday", "Outlook": "Birthday"},
        {"OroCRM": "gender", "Outlook": "Gender"},
    ],
    "tasks_enabled": True,
    "calendar_events_enabled": True,
}


def _options(api):
    document = api.get("/configuration/outlook", params={"include": "options"}).json()
    assert document["data"]["type"] == "configuration" and document["data"]["id"] == "outlook"
    linked = [o["id"] for o in document["data"]["relationships"]["options"]["data"]]
    assert linked == [o["id"] for o in document["included"]]
    return {o["id"]: o["attributes"] for o in document["included"]}


def test_no_section_by_default_as_real_oro(api):
    assert api.get("/configuration/outlook", params={"include": "options"}).json() == {"errors": [{
        "status": "404", "title": "not found http exception",
        "detail": "An entity with the requested identifier does not exist."}]}


def test_a_setting_brings_the_old_bundles_section_in_its_shapes(api, devserver):
    devserver.admin.set_setting("contacts_enabled", True)
    options = _options(api)
    for key, value in DEFAULTS.items():
        assert options[PREFIX + key]["value"] == value, key
    assert options[PREFIX + "contacts_enabled"]["dataType"] == "boolean"
    assert options[PREFIX + "contacts_sync_interval_orocrm"]["dataType"] == "integer"
    assert set(options[PREFIX + "contacts_enabled"]) == {
        "scope", "dataType", "value", "createdAt", "updatedAt",
    }
    # No direction, policy or keys for tasks and events; no add-in versions unless set.
    for key in (
        "tasks_sync_direction", "tasks_keys", "calendar_events_sync_direction",
        "calendar_events_conflict_resolution", "addin_min_supported_version",
        "addin_latest_version",
    ):
        assert PREFIX + key not in options
    # Layouts are XAML strings.
    for layout in (
        "side_bar_panel_layout", "create_lead_dialog_layout", "create_opportunity_dialog_layout",
        "create_case_dialog_layout",
    ):
        assert options[PREFIX + layout]["value"].startswith("<")


def test_options_come_only_with_include_options(api, devserver):
    devserver.admin.set_setting("contacts_enabled", True)
    for params in ({}, {"fields[configuration]": "options"}):
        document = api.get("/configuration/outlook", params=params).json()
        assert "included" not in document
        assert {"type": "configurationoptions", "id": PREFIX + "contacts_enabled"} in document[
            "data"
        ]["relationships"]["options"]["data"]
    both = api.get(
        "/configuration/outlook", params={"fields[configuration]": "options", "include": "options"}
    ).json()
    assert both["included"]


def test_admin_set_setting_overrides_and_persists(api, devserver, tmp_path):
    devserver.admin.set_setting("contacts_sync_direction", "OroCRMToOutlook")
    devserver.admin.set_setting(PREFIX + "tasks_enabled", False)
    devserver.admin.set_setting("contacts_sync_interval_orocrm", "300")
    devserver.admin.set_setting("addin_min_supported_version", "1.5")
    options = _options(api)
    assert options[PREFIX + "contacts_sync_direction"]["value"] == "OroCRMToOutlook"
    assert options[PREFIX + "tasks_enabled"]["value"] is False
    assert options[PREFIX + "contacts_sync_interval_orocrm"]["value"] == 300
    assert options[PREFIX + "addin_min_supported_version"]["value"] == "1.5"
    devserver.stop()
    devserver.start()
    assert _options(api)[PREFIX + "contacts_sync_direction"]["value"] == "OroCRMToOutlook"
    for key, value in (
        ("contacts_sync_direction", "Sideways"),
        ("no_such_key", 1),
        ("tasks_enabled", "maybe"),
        ("contacts_keys", 5),
        ("tasks_sync_direction", "Both"),
        ("contacts_keys", [{"Outlook": "X"}]),
    ):
        with pytest.raises(ValueError):
            devserver.admin.set_setting(key, value)


def test_settings_argument_of_running_server(tmp_path):
    settings = {"contacts_conflict_resolution": "OutlookAlwaysWins", "contacts_keys": ["lastName"]}
    with RunningServer(db_path=tmp_path / "c.db", settings=settings) as server:
        api = Api(server.url, server.user, server.api_key)
        options = _options(api)
        api.close()
    assert options[PREFIX + "contacts_conflict_resolution"]["value"] == "OutlookAlwaysWins"
    assert options[PREFIX + "contacts_keys"]["value"] == [
        {"OroCRM": "lastName", "Outlook": "LastName"}
    ]


def test_command_line_setting_syntax():
    assert parse_setting("contacts_enabled=false") == ("contacts_enabled", False)
    assert parse_setting(f"{PREFIX}contacts_sync_interval_outlook=45") == (
        "contacts_sync_interval_outlook",
        45,
    )
    assert parse_setting("contacts_keys=lastName, firstName") == (
        "contacts_keys",
        [pair("lastName"), pair("firstName")],
    )
    assert parse_setting('contacts_keys=[{"OroCRM": "emails", "Outlook": "Email1Address"}]') == (
        "contacts_keys", [{"OroCRM": "emails", "Outlook": "Email1Address"}])
    assert parse_setting("addin_latest_version=9.9.9") == ("addin_latest_version", "9.9.9")
    assert parse_setting('create_case_dialog_layout={"fields": []}') == (
        "create_case_dialog_layout",
        '{"fields": []}',
    )
    for bad in (
        "contacts_enabled", "contacts_sync_interval_orocrm=soon", "x=1", "tasks_keys=subject",
        "calendar_events_sync_direction=Both",
    ):
        with pytest.raises(ValueError):
            parse_setting(bad)
    assert set(DEFAULTS) <= set(OPTIONS)


def test_configuration_takes_only_include_and_fields(api, devserver):
    devserver.admin.set_setting("contacts_enabled", True)
    assert error_of(api.get("/configuration/outlook", params={"x": "1"}), 400)["source"] == {
        "parameter": "x"
    }
    assert error_of(api.get("/configuration/outlook", params={"include": "owner"}), 400)[
        "source"
    ] == {"parameter": "include"}
