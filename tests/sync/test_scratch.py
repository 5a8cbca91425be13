"""The pass's scratch indexes (``sync.scratch``): the same answers in memory and after they
moved to disk, and the key index hands each id out once, oldest first."""

from __future__ import annotations

import pytest

from tests.sync.helpers import assert_quiet
from tray_client.sync import scratch
from tray_client.sync.scratch import IdSet, KeyIndex

C = ["contacts"]


@pytest.mark.parametrize("spill_at", [1000, 3])
def test_id_set_answers_the_same_in_memory_and_on_disk(spill_at):
    ids = IdSet(spill_at=spill_at)
    assert "a" not in ids and len(ids) == 0
    ids.add("a")
    ids.update(["b", "c", "d", "a"])
    ids.add("e")
    assert ids.on_disk is (spill_at == 3)
    assert all(x in ids for x in "abcde") and "f" not in ids and 7 not in ids
    assert len(ids) == 5 and sorted(ids) == list("abcde")
    ids.discard("c")
    ids.discard("zz")
    assert "c" not in ids and len(ids) == 4
    ids.close()
    assert "a" not in ids and len(ids) == 0


@pytest.mark.parametrize("spill_at", [1000, 3])
def test_id_set_present_and_update_agree_with_in(spill_at):
    """``present`` (a page of ids asked at once) answers as ``in`` does, and ``update``
    (one statement once on disk, even when it crosses the move) keeps every id once."""
    ids = IdSet(spill_at=spill_at)
    ids.update(["a", "b"])
    ids.update(["c", "d", "e", "a", "f"])   # moves to disk midway when spill_at is 3
    assert ids.on_disk is (spill_at == 3)
    assert len(ids) == 6 and sorted(ids) == list("abcdef")
    asked = [f"x{n}" for n in range(1200)] + list("fedcba") + ["zz"]
    assert ids.present(asked) == {x for x in asked if x in ids} == set("abcdef")
    assert ids.present([]) == set()
    ids.discard("d")
    assert ids.present(["d", "e"]) == {"e"}
    ids.close()


@pytest.mark.parametrize("spill_at", [1000, 2])
def test_key_index_hands_each_id_out_once_oldest_first(spill_at):
    index = KeyIndex(spill_at=spill_at)
    assert not index and index.take("k") is None
    for slot, item_id in [("k", "1"), ("j", "2"), ("k", "3"), ("k", "4"), ("j", "5")]:
        index.add(slot, item_id)
    assert index.on_disk is (spill_at == 2)
    index.add("k", "6")   # added after the move to disk: still after the older ones
    assert index
    assert [index.take("k") for _ in range(5)] == ["1", "3", "4", "6", None]
    assert index.take("x") is None
    assert index.take("j") == "2" and index
    assert index.take("j") == "5" and not index
    index.close()
    assert not index


@pytest.mark.parametrize("spill_at", [1000, 2])
def test_key_index_candidates_are_read_without_being_taken(spill_at):
    """``candidates`` answers what some slots hold, oldest first, taking nothing: the takes
    that follow hand out the same ids in the same order, in memory or on disk."""
    index = KeyIndex(spill_at=spill_at)
    for slot, item_id in [("k", "1"), ("j", "2"), ("k", "3"), ("m", "4"), ("k", "5")]:
        index.add(slot, item_id)
    assert index.candidates(["k", "x", "j", "k"]) == {"k": ["1", "3", "5"], "j": ["2"]}
    assert index.take("k") == "1"
    assert index.candidates(["k", "m"]) == {"k": ["3", "5"], "m": ["4"]}
    assert [index.take("k") for _ in range(3)] == ["3", "5", None]
    assert index.take("j") == "2" and index.take("m") == "4" and not index
    assert index.candidates(["k", "j"]) == {}


def test_first_sync_into_a_full_store_links_by_key_with_the_indexes_on_disk(rig, monkeypatch):
    """Against the reference server: the indexes moved to disk at once, every local item is
    still linked to the CRM record with its key (the older of two equal keys first), the
    one without a partner is created in the CRM, nothing is duplicated."""
    monkeypatch.setattr(scratch, "SPILL_AT", 1)
    spilled: list[str] = []
    for cls in (IdSet, KeyIndex):
        original = cls._spill

        def spy(self, original=original, name=cls.__name__):
            spilled.append(name)
            original(self)
        monkeypatch.setattr(cls, "_spill", spy)
    names = [("Ann", "Lee"), ("Bo", "Ek"), ("Cy", "Ode"), ("Di", "Park")]
    crm_ids = {n: rig.admin.create("contacts", {"firstName": n[0], "lastName": n[1]})
               for n in names}
    items = {n: rig.store.add("contacts", {"first_name": n[0], "last_name": n[1]})
             for n in names}
    twin = rig.store.add("contacts", {"first_name": "Ann", "last_name": "Lee"})
    result = rig.sync(entities=C)
    assert result.outcome == "ok"
    assert {"IdSet", "KeyIndex"} <= set(spilled)
    for n in names:
        assert rig.store.get(items[n].id).crm_id == crm_ids[n]
    assert rig.store.get(twin.id).crm_id not in (None, "", *crm_ids.values())
    assert rig.admin.count("contacts") == 5 and len(rig.local("contacts")) == 5
    assert_quiet(rig, C)
