"""The sync state's JSON columns (bases, counts, values sent) hold exactly what the
standard library writes with sorted keys."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tray_client.sync.state import _dumps

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.text(), _JSON_VALUES, max_size=6))
def test_the_state_json_is_what_the_standard_library_writes(value: dict[str, Any]) -> None:
    expected = json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                                ensure_ascii=False).encode(value)
    assert _dumps(value) == expected


def test_put_links_writes_what_put_link_writes_one_by_one(tmp_path) -> None:
    """Issue 17: ``put_links`` writes a batch's links in the order of their item ids (each
    pair once), and a call that names an item or a record twice in its given order, the
    last one winning as with ``put_link`` one by one."""
    from tray_client.store import LocalStore
    from tray_client.sync.state import SyncState

    rows = [("item-c", "1", {"a": 1}, "2026-01-01T00:00:00Z", 3),
            ("item-a", "2", {"a": 2}, None, 4),
            ("item-b", "3", {}, "2026-01-02T00:00:00Z", -1)]
    twice = [*rows, ("item-d", "1", {"a": 5}, None, 6), ("item-a", "9", {"a": 7}, None, 8),
             ("item-0", "3", {"a": 9}, None, 10)]

    def written(batch: list[Any], one_by_one: bool) -> list[Any]:
        with LocalStore(tmp_path / f"{one_by_one}{len(batch)}.db") as store:
            with store.transaction() as conn:
                state = SyncState(conn)
                state.migrate()
                if one_by_one:
                    for row in batch:
                        state.put_link("contacts", *row)
                else:
                    state.put_links("contacts", batch)
            return sorted(store.connection.execute(
                "SELECT entity, item_id, crm_id, base, crm_updated_at, synced_rev "
                "FROM sync_links").fetchall())

    for batch in (rows, twice):
        assert written(batch, False) == written(batch, True)
    # Each later row replaced the one holding its record or its item.
    assert [r[1:3] for r in written(twice, False)] == [
        ("item-0", "3"), ("item-a", "9"), ("item-d", "1")]
