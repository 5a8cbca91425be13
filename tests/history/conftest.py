"""Fixtures for the history tests: a real LocalStore with sync history written through the
engine's own state API (fast), and a real client side against the reference server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tests.rig import Rig
from tray_client.crm import CrmClient
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync.state import SyncState


def add_run(store: LocalStore, run_id: str, started: str, *, finished: str | None = None,
            outcome: str = "ok", counts: dict[str, Any] | None = None,
            rows: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
    """Record one run and its report rows as the engine does."""
    state = SyncState(store.connection)
    with store.transaction():
        state.migrate()
        state.start_run(run_id, "manual", started)
        for row in rows:
            row = dict(row)
            entity = row.pop("entity", "contacts")
            state.add_report_row(run_id, entity, item_id=row.pop("item_id", None),
                                 crm_id=row.pop("crm_id", None), name=row.pop("name", "x"),
                                 action=row.pop("action", "update-local"),
                                 direction=row.pop("direction", "crm_to_local"), **row)
        state.finish_run(run_id, finished or started, outcome, "", counts or {})


def counts(entity: str = "contacts", side: str = "local", created: int = 0,
           updated: int = 0, deleted: int = 0) -> dict[str, Any]:
    return {entity: {side: {"created": created, "updated": updated, "deleted": deleted}}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "local.db") as s:
        yield s


@pytest.fixture
def rig(devserver, tmp_path: Path) -> Iterator[Rig]:
    store = LocalStore(tmp_path / "rig.db")
    crm = CrmClient(devserver.url, TEST_USER, TEST_API_KEY)
    try:
        yield Rig(devserver, store, crm)
    finally:
        crm.close()
        store.close()


@pytest.fixture
def make_client(tmp_path: Path, monkeypatch) -> Iterator[Callable[[Any], Any]]:
    """A real facade (Client) configured for a running reference server."""
    from tray_client.client import Client

    made: list[Any] = []
    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)

    def make(server: Any) -> Any:
        client = Client(tmp_path / f"home{len(made)}")
        client.save_settings(Settings(url=server.url, user=TEST_USER))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


__all__ = ["add_run", "counts", "json"]
