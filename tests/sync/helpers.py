"""Helpers shared by the end-to-end sync tests."""

from __future__ import annotations

from typing import Any

from tray_client.errors import OfflineError
from tray_client.sync import SyncResult
from tray_client.sync.state import SyncState

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def assert_quiet(rig: Any, entities: list[str] | None = None) -> SyncResult:
    """A sync right after a sync writes nothing: no local revision, no CRM write.

    Every CRM write is made to fail (400) while this sync runs, so an attempted write shows
    up as a record error instead of going unnoticed.
    """
    rev = rig.store.max_rev()
    for method in WRITE_METHODS:
        rig.admin.inject_fault("/api/", status=400, times=None, method=method)
    try:
        result = rig.sync(entities=entities)
    finally:
        rig.admin.clear_faults()
    assert result.outcome == "ok", result.as_dict()
    assert result.changes == 0, result.counts
    assert not result.errors
    assert rig.store.max_rev() == rev, "the second sync wrote to the local store"
    return result


_NO_BASE = object()


def base_value(store: Any, item_id: str, field: str) -> Any:
    """The field's value in the item's base (what both sides agreed on at the last sync); a
    marker equal to no value when the item has no link. A local edit that sets this value is
    no change since the last sync (docs/sync-rules.md, Vocabulary): a CRM change of the field
    then replaces it with no conflict."""
    state = SyncState(store.connection)
    link = state.link_by_item(item_id) if state.exists() else None
    return link.base.get(field) if link is not None else _NO_BASE


def crm_attrs(rig: Any, type_name: str, crm_id: str) -> dict[str, Any]:
    return rig.admin.get(type_name, crm_id)["attributes"]


class LosesTheAnswer:
    """The real client, except that a create's answer is lost after the server acted."""

    def __init__(self, crm: Any) -> None:
        self._crm = crm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._crm, name)

    def create(self, *args: Any, **kwargs: Any) -> Any:
        self._crm.create(*args, **kwargs)
        raise OfflineError("connection dropped before the answer")
