"""The per-field decision (DESIGN §6 "Conflicts"), on canonical dicts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tray_client.settings import MappingOverride, Settings
from tray_client.sync import mapping
from tray_client.sync import merge as merge_module
from tray_client.sync.config import (
    BOTH,
    CRM_TO_LOCAL,
    CRM_WINS,
    LOCAL_TO_CRM,
    LOCAL_WINS,
    ConflictPolicy,
    Direction,
    RowDirection,
)
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


# -- the fast path: both sides already equal ---------------------------------------------------

_VALUES = st.one_of(st.none(), st.sampled_from(["A", "B", " A", ""]), st.booleans(),
                    st.sampled_from([0, 1, 1.0]), st.lists(st.sampled_from(["a", "b"]), max_size=2))


@st.composite
def _pairs(draw):
    """Rows of tasks with any overrides, and a local side equal to the CRM's on most draws
    (values that compare equal across types too: 1, 1.0 and True), with any base."""
    overrides = {r.name: MappingOverride(enabled=draw(st.booleans()),
                                         direction=draw(st.sampled_from(list(RowDirection))))
                 for r in mapping.rows_for("tasks") if draw(st.booleans())}
    rows = mapping.effective_rows("tasks", Settings(mapping={"tasks": overrides}))
    names = [r.name for r in rows]
    crm = {n: draw(_VALUES) for n in names}
    local = dict(crm)
    for n in names:
        if draw(st.integers(0, 9)) == 0:
            local[n] = draw(_VALUES)      # now and then a field that differs
        elif crm[n] in (1, True) and draw(st.booleans()):
            local[n] = draw(st.sampled_from([1, 1.0, True]))   # equal, of another type
    base = draw(st.one_of(st.none(), st.fixed_dictionaries({n: _VALUES for n in names})))
    return rows, local, crm, base


@settings(max_examples=400, deadline=None)
@given(_pairs(), st.sampled_from(list(Direction)), st.sampled_from(list(ConflictPolicy)))
def test_merge_of_equal_sides_is_the_field_by_field_merge(pair, direction, policy):
    """``merge`` answers a pair whose sides agree on every field without deciding field by
    field (issue 17: the first sync into a full address book): the same writes, conflicts
    and base — the very values, of the side each field's base is taken from."""
    rows, local, crm, base = pair
    fast = merge(direction, policy, rows, local, crm, base)
    active = [r for r in rows if r.enabled and r.direction != RowDirection.ONCE]
    full = merge_module._merge_rows(direction, policy, active, local, crm, base)
    assert fast == full
    assert [(k, type(v)) for k, v in fast.base.items()] == [
        (k, type(v)) for k, v in full.base.items()]
