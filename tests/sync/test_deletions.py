"""Records deleted in the CRM without a removals feed (real Oro): the count check, the full
ids listing when counts differ, hourly and on demand; and the feed where a server has one."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.devserver.testing import RunningServer
from tray_client.sync.deletions import removed_in_crm, too_many_deletions


class Spy:
    """Counts the ids listings and count requests a CrmClient makes."""

    def __init__(self, crm: Any) -> None:
        self.listings: list[str] = []
        self.counts: list[str] = []
        self._iter_ids, self._count = crm.iter_ids, crm.count
        crm.iter_ids, crm.count = self.iter_ids, self.count

    def iter_ids(self, type: str, **kwargs: Any) -> Iterator[str]:
        self.listings.append(type)
        return self._iter_ids(type, **kwargs)

    def count(self, type: str, **kwargs: Any) -> int | None:
        self.counts.append(type)
        return self._count(type, **kwargs)


def _contacts(rig, n: int) -> list[str]:
    return [rig.admin.create("contacts", {"firstName": f"C{i}", "lastName": "Doe"})
            for i in range(n)]


def interval(rig):
    return rig.sync(phase="pull", trigger="interval")


def test_a_no_op_interval_sync_lists_no_ids(rig) -> None:
    _contacts(rig, 12)
    assert rig.sync().outcome == "ok"
    spy = Spy(rig.crm)
    for _ in range(3):
        assert interval(rig).outcome == "ok"
    assert "contacts" in spy.counts
    assert spy.listings == []


def test_a_deletion_in_the_crm_changes_the_count_and_is_found(rig) -> None:
    ids = _contacts(rig, 5)
    rig.sync()
    spy = Spy(rig.crm)
    rig.admin.delete("contacts", ids[2])
    result = interval(rig)
    assert result.outcome == "ok"
    assert spy.listings == ["contacts"]
    assert len(rig.local("contacts")) == 4
    assert result.counts["contacts"]["local"]["deleted"] == 1
    spy.listings.clear()
    interval(rig)
    assert spy.listings == []  # the baseline is right again


def test_a_deletion_balanced_by_a_creation_is_still_found(rig) -> None:
    ids = _contacts(rig, 5)
    rig.sync()
    rig.admin.delete("contacts", ids[0])
    rig.admin.create("contacts", {"firstName": "New", "lastName": "One"})
    interval(rig)  # the pull links the new one first: the count is one short
    names = sorted(i.fields["first_name"] for i in rig.local("contacts"))
    assert names == ["C1", "C2", "C3", "C4", "New"]


def test_creations_in_the_crm_cost_no_listing(rig) -> None:
    _contacts(rig, 3)
    rig.sync()
    spy = Spy(rig.crm)
    _contacts(rig, 2)
    interval(rig)
    assert len(rig.local("contacts")) == 5
    assert spy.listings == []


def test_unheld_records_are_part_of_the_expectation(rig) -> None:
    # Selected sync: a colleague's contacts are counted by the CRM but never held here.
    rig.settings.sync_type = "selected"
    mine = _contacts(rig, 3)
    rig.admin.create("contacts", {"firstName": "Theirs"}, {"owner": "2"})
    rig.sync()
    assert len(rig.local("contacts")) == 3
    spy = Spy(rig.crm)
    interval(rig)
    interval(rig)
    assert spy.listings == []  # 4 in the CRM = 3 held + 1 unheld (the first sync's count)
    rig.admin.delete("contacts", mine[0])
    interval(rig)
    assert spy.listings == ["contacts"] and len(rig.local("contacts")) == 2


def test_full_listing_hourly_and_on_a_manual_sync(rig) -> None:
    _contacts(rig, 3)
    rig.sync()
    spy = Spy(rig.crm)
    rig.sync(trigger="manual")  # Sync Now / `tray-client sync`: a full look on demand
    assert spy.listings == ["contacts"]
    spy.listings.clear()
    interval(rig)
    assert spy.listings == []
    cursor = rig.engine().state.cursor("contacts")
    cursor.ids_reconciled_at = time.time() - 3700
    with rig.store.transaction():
        rig.engine().state.put_cursor(cursor)
    interval(rig)
    assert spy.listings == ["contacts"]


def test_a_server_without_a_count_is_listed_every_time(rig) -> None:
    _contacts(rig, 3)
    rig.sync()
    spy = Spy(rig.crm)
    rig.crm.count = lambda *a, **k: None  # type: ignore[method-assign]
    interval(rig)
    interval(rig)
    assert spy.listings == ["contacts", "contacts"]


def test_the_removals_feed_is_used_where_a_server_has_one(tmp_path, make_rig) -> None:
    with RunningServer(db_path=tmp_path / "feed.db", user=TEST_USER, api_key=TEST_API_KEY,
                       removals_feed=True) as server:
        rig = make_rig(server)
        ids = _contacts(rig, 4)
        rig.sync()
        spy = Spy(rig.crm)
        rig.admin.delete("contacts", ids[1])
        result = interval(rig)
        assert result.counts["contacts"]["local"]["deleted"] == 1
        # Contacts go by the feed alone (events, on Oro's REST API, have none: counted).
        assert spy.listings == [] and "contacts" not in spy.counts


class FakeListing:
    """An entity-agnostic listing (as a REST adapter for calendar events would give)."""

    def __init__(self, ids: Iterable[str], count: int | None) -> None:
        self.ids, self.total, self.listed = list(ids), count, 0

    def count(self) -> int | None:
        return self.total

    def iter_ids(self) -> Iterable[str]:
        self.listed += 1
        return iter(self.ids)


@pytest.mark.parametrize(("count", "unheld", "due", "listed"), [
    (5, 0, False, 0),      # counts agree: nothing removed, nothing listed
    (6, 1, False, 0),      # one unheld record besides the five held
    (4, 0, False, 1),      # one fewer: list
    (5, None, False, 1),   # no baseline yet: list
    (5, 0, True, 1),       # due: list anyway
    (None, 0, False, 1),   # the server cannot count: list
])
def test_removed_in_crm_lists_only_when_needed(count, unheld, due, listed) -> None:
    linked = {"1", "2", "3", "4", "5"}
    present = ["1", "2", "3", "4", "5", "9"][: (count or 5) + (1 if unheld else 0)]
    listing = FakeListing(present if count != 4 else ["1", "2", "4", "5"], count)
    check = removed_in_crm(listing, linked_count=5, linked_ids=lambda: set(linked),
                           unheld=unheld, full_due=due)
    assert listing.listed == listed and check.listed == bool(listed)
    if count == 4:
        assert check.removed == {"3"} and check.unheld == 0
    else:
        assert check.removed == frozenset()


def test_the_deletion_guard_stops_only_a_large_unconfirmed_share():
    assert too_many_deletions("contacts", 10, 12, force=False) is None      # not more than 10
    assert too_many_deletions("contacts", 11, 22, force=False) is None      # not over half
    stop = too_many_deletions("contacts", 12, 22, force=False)
    assert stop is not None and (stop.would_delete, stop.linked) == (12, 22)
    assert "12 of your 22 linked contacts" in stop.message
    assert too_many_deletions("contacts", 12, 22, force=True) is None       # confirmed
