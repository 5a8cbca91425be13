"""iter_changed / iter_ids under churn: records changing or vanishing between page requests
must never make the walk skip a record (DESIGN §11 "changes missed")."""

from __future__ import annotations

import random

import pytest

from tray_client.crm import CrmClient, Cursor
from tray_client.crm.client import _next_window

from .fakecrm import FakeCollection

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:00:01Z"
LATER = "2026-01-01T00:10:00Z"


def client(fake: FakeCollection) -> CrmClient:
    return CrmClient("http://crm.test", "admin", "k", transport=fake.transport())


def test_tie_group_larger_than_a_page_is_walked_completely_in_order() -> None:
    fake = FakeCollection(records={str(i): T0 for i in range(1, 251)})
    fake.records.update({str(i): T1 for i in range(251, 301)})
    got = [r.id for r in client(fake).iter_changed("contacts", None, page_size=40)]
    assert got == [str(i) for i in range(1, 301)]


def test_cursor_in_the_middle_of_a_tie_group() -> None:
    fake = FakeCollection(records={str(i): T0 for i in range(1, 101)})
    got = [r.id for r in client(fake).iter_changed("contacts", Cursor(T0, "37"), page_size=10)]
    assert got == [str(i) for i in range(38, 101)]
    # The boundary re-read: Cursor(t, "") returns everything at t.
    again = [r.id for r in client(fake).iter_changed("contacts", Cursor(T0, ""), page_size=10)]
    assert again == [str(i) for i in range(1, 101)]


def test_records_changed_before_the_position_during_a_tie_walk_skip_nothing() -> None:
    ids = [str(i) for i in range(1, 201)]
    fake = FakeCollection(records={i: T0 for i in ids})
    moved: list[str] = []

    def churn(coll: FakeCollection, call: int) -> None:
        # Between pages, records already read leave the tie group (they were edited): the
        # remaining offsets shift down, which would skip records without the overlap check.
        if call in (3, 4, 6):
            for rid in [i for i in ids if coll.records[i] == T0][:7]:
                coll.records[rid] = LATER
                moved.append(rid)

    fake.before_page = churn
    got = list(client(fake).iter_changed("contacts", None, page_size=20))
    assert {r.id for r in got} == set(ids)
    keys = [(r.updated_at, int(r.id)) for r in got]
    assert keys == sorted(set(keys))  # strictly increasing: in order, no duplicates
    assert {r.id for r in got if r.updated_at == LATER} == set(moved)


def test_without_overlapping_pages_the_churn_would_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: plain offset paging loses records under the same churn."""
    import tray_client.crm.client as module

    monkeypatch.setattr(module, "_next_window",
                        lambda seen, size: (size, seen // size + 1, False))
    ids = [str(i) for i in range(1, 201)]
    fake = FakeCollection(records={i: T0 for i in ids})

    def churn(coll: FakeCollection, call: int) -> None:
        if call == 3:
            for rid in ids[:7]:
                coll.records[rid] = LATER

    fake.before_page = churn
    got = {r.id for r in client(fake).iter_changed("contacts", None, page_size=20)}
    assert set(ids) - got  # records skipped


@pytest.mark.parametrize("seed", range(5))
def test_random_churn_never_loses_an_unchanged_record(seed: int) -> None:
    rng = random.Random(seed)
    stamps = [f"2026-01-01T00:00:{s:02d}Z" for s in range(5)]
    fake = FakeCollection(records={str(i): rng.choice(stamps) for i in range(1, 401)})
    untouched = set(fake.records)

    def churn(coll: FakeCollection, call: int) -> None:
        for rid in rng.sample(sorted(coll.records), 5):
            coll.records[rid] = f"2026-01-01T00:{10 + call:02d}:00Z"
            untouched.discard(rid)

    fake.before_page = churn
    got = [r for r in client(fake).iter_changed("contacts", None, page_size=25)]
    seen = {r.id for r in got}
    assert untouched <= seen
    keys = [(r.updated_at, int(r.id)) for r in got]
    assert keys == sorted(keys)  # strictly ordered, no duplicates
    assert len(keys) == len(set(keys))


def test_iter_ids_survives_deletions_during_the_walk() -> None:
    fake = FakeCollection(records={str(i): T0 for i in range(1, 3001)})
    survivors = set(fake.records)

    def delete_some(coll: FakeCollection, call: int) -> None:
        if call in (2, 3):
            for rid in sorted(coll.records, key=int)[:5]:  # already-listed records vanish
                del coll.records[rid]
                survivors.discard(rid)

    fake.before_page = delete_some
    got = list(client(fake).iter_ids("contacts"))
    assert survivors <= set(got)
    assert len(got) == len(set(got))
    assert all(r.url.params["fields[contacts]"] == "id" for r in fake.requests)


def test_a_listing_that_shrinks_below_the_next_page_loses_nothing() -> None:
    fake = FakeCollection(records={str(i): T0 for i in range(1, 121)})

    def delete_read_ones(coll: FakeCollection, call: int) -> None:
        if call == 4:  # once ids 1-90 were read (the 2nd call re-queries at T0), they vanish
            for rid in sorted(coll.records, key=int)[:90]:
                del coll.records[rid]

    fake.before_page = delete_read_ones
    got = [r.id for r in client(fake).iter_changed("contacts", None, page_size=50)]
    assert got == [str(i) for i in range(1, 121)]
    assert fake.requests[4].url.params["page[number]"] == "1"  # the re-read after the gap


@pytest.mark.parametrize("size", [1, 2, 3, 7, 10, 100, 500, 1000])
def test_next_window_always_gets_past_the_position(size: int) -> None:
    for seen in [*range(1, 300), 4999, 5000, 100000, 100001]:
        page, number, overlapping = _next_window(seen, size)
        start, end = (number - 1) * page, number * page
        assert 1 <= page <= size
        assert start <= seen < end  # progress, and nothing between the position and the page
        assert overlapping == (start < seen)
