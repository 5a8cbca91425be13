"""The per-field decision (DESIGN §6 "Conflicts"), on canonical dicts."""

from __future__ import annotations

from tray_client.settings import MappingOverride, Settings
from tray_client.sync import mapping
from tray_client.sync.config import BOTH, CRM_TO_LOCAL, CRM_WINS, LOCAL_TO_CRM, LOCAL_WINS
from tray_client.sync.merge import merge

ROWS = mapping.effective_rows("tasks", Settings())
BASE = {"subject": "A", "priority": "normal", "due_date": None, "status": "open"}


def test_field_changed_on_one_side_takes_that_side():
    m = merge(BOTH, CRM_WINS, ROWS, {**BASE, "subject": "L"}, {**BASE, "priority": "high"}, BASE)
    assert m.to_crm == {"subject": "L"} and m.to_local == {"priority": "high"}
    assert not m.conflicts
    assert m.base["subject"] == "L" and m.base["priority"] == "high"


def test_both_changed_crm_wins_records_both_values():
    m = merge(BOTH, CRM_WINS, ROWS, {**BASE, "subject": "L"}, {**BASE, "subject": "C"}, BASE)
    assert m.to_local == {"subject": "C"} and not m.to_crm
    (c,) = m.conflicts
    assert (c.field, c.local_value, c.crm_value, c.winner) == ("subject", "L", "C", "crm")


def test_both_changed_local_wins():
    m = merge(BOTH, LOCAL_WINS, ROWS, {**BASE, "subject": "L"}, {**BASE, "subject": "C"}, BASE)
    assert m.to_crm == {"subject": "L"} and not m.to_local
    assert m.conflicts[0].winner == "local"


def test_both_changed_to_the_same_value_is_no_conflict():
    m = merge(BOTH, CRM_WINS, ROWS, {**BASE, "subject": "X"}, {**BASE, "subject": "X"}, BASE)
    assert not (m.to_crm or m.to_local or m.conflicts)


def test_first_link_crm_values_replace_local():
    m = merge(BOTH, LOCAL_WINS, ROWS, {**BASE, "status": "closed"}, BASE, None)
    assert m.to_local == {"status": "open"} and not m.to_crm and not m.conflicts


def test_crm_to_local_overwrites_all_fields_when_the_record_changed():
    local = {**BASE, "subject": "L"}
    m = merge(CRM_TO_LOCAL, LOCAL_WINS, ROWS, local, {**BASE, "priority": "high"}, BASE)
    assert m.to_local == {"subject": "A", "priority": "high"} and not m.to_crm
    assert [c.field for c in m.conflicts] == ["subject"]   # the lost local edit is recorded


def test_crm_to_local_leaves_a_local_edit_when_the_crm_did_not_change():
    m = merge(CRM_TO_LOCAL, CRM_WINS, ROWS, {**BASE, "subject": "L"}, BASE, BASE)
    assert not (m.to_local or m.to_crm or m.conflicts)


def test_local_to_crm_overwrites_the_crm_when_the_item_changed():
    m = merge(LOCAL_TO_CRM, CRM_WINS, ROWS, {**BASE, "subject": "L"},
              {**BASE, "priority": "high"}, BASE)
    assert m.to_crm == {"subject": "L", "priority": "normal"} and not m.to_local
    assert [c.field for c in m.conflicts] == ["priority"]


def test_row_direction_limits_the_flow():
    settings = Settings(mapping={"tasks": {"subject": MappingOverride(direction="crm_to_local"),
                                           "priority": MappingOverride(enabled=False)}})
    rows = mapping.effective_rows("tasks", settings)
    m = merge(BOTH, LOCAL_WINS, rows, {**BASE, "subject": "L", "priority": "low"},
              {**BASE, "subject": "C"}, BASE)
    # subject may only flow CRM → local, so the CRM value wins whatever the policy.
    assert m.to_local == {"subject": "C"} and not m.to_crm
    assert "priority" not in m.base


def test_once_rows_never_update():
    settings = Settings(mapping={"tasks": {"subject": MappingOverride(direction="once")}})
    rows = mapping.effective_rows("tasks", settings)
    m = merge(BOTH, CRM_WINS, rows, {**BASE, "subject": "L"}, {**BASE, "subject": "C"}, BASE)
    assert not (m.to_local or m.to_crm)
