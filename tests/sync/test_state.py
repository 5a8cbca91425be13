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
