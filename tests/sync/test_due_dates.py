"""Task due dates are date-times (Oro's ``dueDate``): time and zone kept both ways, no day
shift, whatever the computer's time zone; a bare local date is the start of that day here."""

from __future__ import annotations

import pytest

from tests.sync.helpers import assert_quiet
from tray_client.store.ical import offsets_of, read_icalendar, write_icalendar
from tray_client.store.interchange_types import Record
from tray_client.store.model import Item
from tray_client.sync.values import _instant

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"]


@pytest.mark.parametrize("zone", ZONES)
def test_a_crm_due_date_arrives_on_the_day_and_time_the_crm_user_meant(rig, local_zone, zone):
    local_zone(zone)
    # Entered in Oro's UI as 24 Nov 00:00 Europe/Berlin: Oro stores 23 Nov 23:00 UTC.
    rig.admin.create("tasks", {"subject": "Call Ann", "dueDate": "2026-11-23T23:00:00Z"},
                     {"status": "open", "taskPriority": "normal"})
    assert rig.sync().outcome == "ok"
    task = rig.only_local("tasks")
    due = task.fields["due_date"]
    assert _instant(due) == "2026-11-23T23:00:00Z"   # the same moment, not a day
    if zone == "Europe/Berlin":
        assert due == "2026-11-24T00:00:00+01:00"            # the day the user meant
    assert_quiet(rig)                                        # no bounce in any zone


@pytest.mark.parametrize("zone", ZONES)
def test_a_local_due_date_and_time_reaches_the_crm_as_that_moment(rig, local_zone, zone):
    local_zone(zone)
    rig.store.add("tasks", {"subject": "Send quote", "due_date": "2026-12-01T15:30:00+01:00"})
    rig.sync()
    [crm_id] = rig.admin.ids("tasks")
    assert rig.admin.get("tasks", crm_id)["attributes"]["dueDate"] == "2026-12-01T14:30:00Z"
    assert_quiet(rig)
    # And back: a change in the CRM keeps its time.
    rig.admin.update("tasks", crm_id, {"dueDate": "2026-12-02T08:15:00Z"})
    rig.sync()
    assert _instant(rig.only_local("tasks").fields["due_date"]) == "2026-12-02T08:15:00Z"


def test_a_bare_local_date_is_the_start_of_that_day_here(rig, local_zone):
    local_zone("Europe/Berlin")
    rig.store.add("tasks", {"subject": "Renew", "due_date": "2026-12-10"})
    rig.sync()
    [crm_id] = rig.admin.ids("tasks")
    # Midnight in Berlin: shown in Oro (for a Berlin user) on 10 Dec, not 9 Dec.
    assert rig.admin.get("tasks", crm_id)["attributes"]["dueDate"] == "2026-12-09T23:00:00Z"
    assert rig.only_local("tasks").fields["due_date"] == "2026-12-10"   # left as typed
    assert_quiet(rig)


def test_due_date_times_survive_an_icalendar_round_trip():
    item = Item(id="1", entity="tasks", crm_id=None, crm_sync=True,
                fields={"subject": "Call", "due_date": "2026-11-24T00:00:00+01:00"},
                created_at="", updated_at="", rev=1)
    text = b"".join(write_icalendar("tasks", [item], offsets_of([item]))).decode()
    [record] = [r for r in read_icalendar(text) if isinstance(r, Record)]
    assert record.fields["due_date"] == "2026-11-24T00:00:00+01:00"
