"""Sync rules: this computer's settings, the CRM's Outlook section on top (sync/rules.py),
the engine going by them against the reference server, and the interval bookkeeping."""

from __future__ import annotations

import pytest

from tray_client.errors import ConfigurationError
from tray_client.settings import Settings
from tray_client.sync.config import BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM, LOCAL_WINS, entity_config
from tray_client.sync.rules import (
    DueEntities,
    effective_rule,
    effective_rules,
    parse_rule_assignment,
    scheduler_intervals,
    section_values,
)

# The old Enterprise bundle's section as CrmClient.configuration() returns it (real shapes).
BUNDLE_SECTION = {
    "orocrm_version": "4.0.0",
    "contacts_enabled": True,
    "contacts_sync_direction": "OroCRMToOutlook",
    "contacts_conflict_resolution": "OutlookAlwaysWins",
    "contacts_sync_interval_orocrm": 600,
    "contacts_sync_interval_outlook": 60,
    "contacts_keys": [{"OroCRM": "lastName", "Outlook": "LastName"},
                      {"OroCRM": "emails", "Outlook": "Email1Address"}],
    "tasks_enabled": False,
    "calendar_events_enabled": True,
    "create_lead_dialog_layout": "<StackPanel />",
}


def test_without_a_section_the_rules_are_the_settings():
    settings = Settings()
    settings.rule("tasks").direction = LOCAL_TO_CRM
    settings.rule("tasks").keys = ["subject"]
    settings.rule("events").enabled = False
    rules = effective_rules(settings, {})
    assert rules["contacts"] == effective_rule(Settings(), None, "contacts")
    assert rules["contacts"].keys == ("lastName", "firstName", "birthday", "gender")
    assert (rules["contacts"].pull_interval, rules["contacts"].push_interval) == (120, 30)
    assert rules["tasks"].direction == LOCAL_TO_CRM and rules["tasks"].keys == ("subject",)
    assert rules["events"].enabled is False
    assert not any(rule.locked for rule in rules.values())


def test_the_bundle_section_overrides_what_it_sets_and_only_that():
    settings = Settings()
    settings.rule("contacts").direction = LOCAL_TO_CRM
    settings.rule("tasks").direction = CRM_TO_LOCAL
    settings.rule("events").conflict_resolution = LOCAL_WINS
    rules = effective_rules(settings, BUNDLE_SECTION)
    contacts = rules["contacts"]
    assert contacts.direction == CRM_TO_LOCAL and contacts.conflict_resolution == LOCAL_WINS
    assert contacts.keys == ("lastName", "emails")    # the OroCRM half of each pair
    assert (contacts.pull_interval, contacts.push_interval) == (600, 60)
    assert contacts.locked == {"enabled", "direction", "conflict_resolution", "keys",
                               "pull_interval", "push_interval"}
    # Tasks: the bundle has only the enabled flag (and the contacts intervals, which the
    # add-in ran every sync on); the direction stays this computer's.
    assert rules["tasks"].enabled is False and rules["tasks"].direction == CRM_TO_LOCAL
    assert rules["tasks"].locked == {"enabled", "pull_interval", "push_interval"}
    assert rules["events"].conflict_resolution == LOCAL_WINS
    assert "conflict_resolution" not in rules["events"].locked
    # The settings keep their own values (they apply again once the CRM stops setting them).
    assert settings.rule("contacts").direction == LOCAL_TO_CRM


@pytest.mark.parametrize("keys", [
    [{"OroCRM": "lastName", "Outlook": "LastName"}, {"OroCRM": "emails", "Outlook": "Email"}],
    ["lastName", "emails"],
    "lastName, emails",
    "lastName;emails",
])
def test_key_shapes_are_understood(keys):
    assert section_values({"contacts_keys": keys}, "contacts")["keys"] == ["lastName", "emails"]


def test_unusable_section_values():
    with pytest.raises(ConfigurationError) as info:
        section_values({"contacts_sync_direction": "Sideways"}, "contacts")
    assert info.value.title == "Unknown sync direction" and "Sideways" in info.value.message
    with pytest.raises(ConfigurationError) as info:
        entity_config({"tasks_conflict_resolution": "Coin"}, "tasks")
    assert info.value.title == "Unknown conflict resolution"
    # Intervals: nonsense ignored (this computer's apply), a tiny one raised to the minimum.
    values = section_values({"contacts_sync_interval_orocrm": "soon",
                             "contacts_sync_interval_outlook": 1}, "contacts")
    assert "pull_interval" not in values and values["push_interval"] == 5
    # An empty key list or null options set nothing.
    assert section_values({"contacts_keys": [], "contacts_sync_direction": None},
                          "contacts") == {}


def test_entity_config_is_the_engine_view_of_the_rule():
    settings = Settings()
    settings.rule("contacts").conflict_resolution = LOCAL_WINS
    cfg = entity_config({}, "contacts", settings)
    assert (cfg.direction, cfg.policy, cfg.pulls, cfg.pushes) == (BOTH, LOCAL_WINS, True, True)
    cfg = entity_config(BUNDLE_SECTION, "contacts", settings)
    assert (cfg.direction, cfg.policy, cfg.pulls, cfg.pushes) == (
        CRM_TO_LOCAL, LOCAL_WINS, True, False)


@pytest.mark.parametrize(("text", "expected"), [
    ("contacts.enabled=false", ("contacts", "enabled", False)),
    ("tasks.direction=outlooktoorocrm", ("tasks", "direction", LOCAL_TO_CRM)),
    ("events.conflict_resolution=OutlookAlwaysWins",
     ("events", "conflict_resolution", LOCAL_WINS)),
    ("contacts.keys=lastName, emails", ("contacts", "keys", ["lastName", "emails"])),
    ("contacts.keys=", ("contacts", "keys", ["lastName", "firstName", "birthday", "gender"])),
    ("tasks.pull_interval=600", ("tasks", "pull_interval", 600)),
])
def test_rule_assignments(text, expected):
    assert parse_rule_assignment(text) == expected


@pytest.mark.parametrize(("text", "words"), [
    ("contacts.direction", "expected ENTITY.KEY=VALUE"),
    ("leads.enabled=true", "the entity is one of"),
    ("contacts.colour=red", "the key is one of"),
    ("contacts.enabled=maybe", "true or false"),
    ("contacts.direction=Sideways", "must be one of Both"),
    ("contacts.keys=lastName,shoeSize", "unknown CRM field(s) shoeSize"),
    ("tasks.push_interval=1", "from 5 to 86400"),
    ("tasks.push_interval=soon", "whole number of seconds"),
])
def test_bad_rule_assignments(text, words):
    with pytest.raises(ConfigurationError) as info:
        parse_rule_assignment(text)
    assert words in info.value.message and info.value.title == "Invalid sync rule"


def test_due_entities_follow_each_entity_interval():
    now = [0.0]
    settings = Settings()
    settings.rule("contacts").pull_interval = 60
    settings.rule("tasks").pull_interval = 180
    settings.rule("events").enabled = False
    rules = effective_rules(settings, {})
    assert scheduler_intervals(rules) == (60, 30)   # the shortest of the enabled entities
    due = DueEntities(lambda: now[0])
    due.set_rules(rules)
    fired = []
    for tick in range(1, 7):                         # the pull job fires every 60 s
        now[0] = tick * 60.0 + 0.3                   # with a little timer jitter
        fired.append(due.take("pull"))
    assert fired == [["contacts"], ["contacts"], ["contacts", "tasks"], ["contacts"],
                     ["contacts"], ["contacts", "tasks"]]
    now[0] = 400.0
    due.mark_all()                                   # a full sync counts for both phases
    now[0] = 420.0
    assert due.take("pull") == [], "20 s after a full sync nothing is due for a pull"
    now[0] = 430.0
    assert due.take("push") == ["contacts", "tasks"]


# -- against the reference server ------------------------------------------------------------

def test_client_rules_drive_the_engine(rig):
    rig.rules_from = "client"
    rig.direction("contacts", CRM_TO_LOCAL)
    item = rig.store.add("contacts", {"first_name": "Only", "last_name": "Local"})
    rig.admin.create("contacts", {"firstName": "Only", "lastName": "Remote"})
    assert rig.sync(entities=["contacts"]).outcome == "ok"
    names = sorted(i.fields["last_name"] for i in rig.local("contacts"))
    assert names == ["Local", "Remote"]
    assert rig.store.get(item.id).crm_id is None, "CRM → local sends nothing"
    assert rig.admin.count("contacts") == 1


def test_the_server_section_wins_over_the_client_rule(rig):
    rig.settings.rule("contacts").direction = CRM_TO_LOCAL
    rig.admin.set_setting("contacts_sync_direction", LOCAL_TO_CRM)
    rig.store.add("contacts", {"first_name": "Sent", "last_name": "Up"})
    rig.admin.create("contacts", {"firstName": "Stays", "lastName": "There"})
    result = rig.sync(entities=["contacts"])
    assert result.outcome == "ok"
    assert [i.fields["last_name"] for i in rig.local("contacts")] == ["Up"]
    assert rig.admin.count("contacts") == 2


def test_server_keys_in_the_bundle_shape_match_records(rig):
    """The bundle's ``contacts_keys`` pairs: a local item with the same e-mail is linked,
    not duplicated (before, the pairs were read as no key at all)."""
    rig.rules_from = "server"
    rig.keys("contacts", ["emails"])
    crm_id = rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                           "emails": [{"email": "ann@x.org"}]})
    item = rig.store.add("contacts", {"first_name": "Anne", "last_name": "Lee-Smith",
                                      "emails": ["ANN@x.org"]})
    assert rig.sync(entities=["contacts"]).outcome == "ok"
    assert rig.store.get(item.id).crm_id == crm_id
    assert rig.admin.count("contacts") == 1 and len(rig.local("contacts")) == 1
