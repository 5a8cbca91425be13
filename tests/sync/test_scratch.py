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


def _take_oldest(index: KeyIndex, slot: str) -> int | None:
    """As ``local_match`` does: the oldest live entry under ``slot``, taken."""
    entries = index.lookup([slot]).get(slot)
    if not entries:
        return None
    seq, rowid = entries[0]
    index.take(seq)
    return rowid


@pytest.mark.parametrize("spill_at", [1000, 2])
def test_key_index_hands_each_id_out_once_oldest_first(spill_at):
    index = KeyIndex(spill_at=spill_at)
    assert not index and index.lookup(["k"]) == {}
    for slot, rowid in [("k", 1), ("j", 2), ("k", 3), ("k", 4), ("j", 5)]:
        index.add(slot, rowid)
    assert index.on_disk is (spill_at == 2)
    index.add("k", 6)   # added after the move to disk: still after the older ones
    assert index
    assert [_take_oldest(index, "k") for _ in range(5)] == [1, 3, 4, 6, None]
    assert _take_oldest(index, "x") is None
    assert _take_oldest(index, "j") == 2 and index
    assert _take_oldest(index, "j") == 5 and not index
    index.close()
    assert not index


@pytest.mark.parametrize("spill_at", [1000, 2])
def test_key_index_lookup_reads_without_taking(spill_at):
    """``lookup`` answers the live entries of some slots, oldest first, taking nothing;
    ``take`` removes one entry, once."""
    index = KeyIndex(spill_at=spill_at)
    for slot, rowid in [("k", 1), ("j", 2), ("k", 3), ("m", 4), ("k", 5)]:
        index.add(slot, rowid)
    found = index.lookup(["k", "x", "j", "k"])
    assert {s: [r for _, r in e] for s, e in found.items()} == {"k": [1, 3, 5], "j": [2]}
    index.take(found["k"][0][0])
    index.take(found["k"][0][0])   # gone already: nothing more is taken
    assert index
    found = index.lookup(["k", "m"])
    assert {s: [r for _, r in e] for s, e in found.items()} == {"k": [3, 5], "m": [4]}
    for seq, _ in [*found["k"], *found["m"], *index.lookup(["j"])["j"]]:
        index.take(seq)
    assert not index and index.lookup(["k", "j", "m"]) == {}


@pytest.mark.parametrize("spill_at", [10**6, 50])
def test_key_index_keeps_each_slots_order_across_sorted_runs(spill_at, monkeypatch):
    """Built in several sorted runs (merged at the first lookup) and, past ``spill_at``,
    moved to disk: every slot still answers its rowids in the order they were added."""
    monkeypatch.setattr(scratch, "_RUN", 7)
    index = KeyIndex(spill_at=spill_at)
    added: dict[str, list[int]] = {}
    for rowid in range(200):
        slot = f"key {rowid * 7 % 13}"
        index.add(slot, rowid)
        added.setdefault(slot, []).append(rowid)
    assert index.on_disk is (spill_at == 50)
    found = index.lookup(added)
    assert {s: [r for _, r in e] for s, e in found.items()} == added


@pytest.mark.parametrize("spill_at", [1000, 2])
def test_slots_with_the_same_hash_share_their_entries(spill_at, monkeypatch):
    """Two slots whose hashes collide answer the same entries, in one list (the caller
    tells them apart by the key of the item it reads)."""
    monkeypatch.setattr(scratch, "slot_hash", lambda slot: 7)
    index = KeyIndex(spill_at=spill_at)
    for slot, rowid in [("a", 1), ("b", 2), ("a", 3)]:
        index.add(slot, rowid)
    found = index.lookup(["a", "b"])
    assert found["a"] is found["b"] and [r for _, r in found["a"]] == [1, 2, 3]


def test_first_sync_into_a_full_store_links_by_key_with_the_indexes_on_disk(rig, monkeypatch):
    """Against the reference server: the indexes moved to disk at once, every local item is
    still linked to the CRM record with its key (the older of two equal keys first), the
    one without a partner is created in the CRM, nothing is duplicated."""
    monkeypatch.setattr(scratch, "SPILL_AT", 1)
    monkeypatch.setattr(scratch, "KEY_SPILL_AT", 1)
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
