"""Fixtures for the sync tests: a real LocalStore in tmp_path, a real CrmClient talking to the
reference server on loopback, and a small helper that runs the real engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.crm import CrmClient
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import SyncEngine, SyncResult


@dataclass
class Rig:
    """One user's client side against one reference server."""

    server: Any
    store: LocalStore
    crm: CrmClient
    settings: Settings = field(default_factory=Settings)

    @property
    def admin(self) -> Any:
        return self.server.admin

    def engine(self) -> SyncEngine:
        return SyncEngine(self.store, self.crm, self.settings)

    def sync(self, **kwargs: Any) -> SyncResult:
        return self.engine().run(**kwargs)

    def direction(self, entity: str, value: str) -> None:
        prefix = {"contacts": "contacts", "tasks": "tasks", "events": "calendar_events"}[entity]
        self.admin.set_setting(f"{prefix}_sync_direction", value)

    def policy(self, entity: str, value: str) -> None:
        prefix = {"contacts": "contacts", "tasks": "tasks", "events": "calendar_events"}[entity]
        self.admin.set_setting(f"{prefix}_conflict_resolution", value)

    def local(self, entity: str) -> list[Any]:
        return self.store.list(entity)

    def only_local(self, entity: str) -> Any:
        items = self.local(entity)
        assert len(items) == 1, items
        return items[0]


@pytest.fixture
def make_rig(tmp_path) -> Iterator[Callable[[Any], Rig]]:
    """Build a Rig for a running server (the store lives in tmp_path)."""
    made: list[Rig] = []

    def make(server: Any, name: str = "local.db") -> Rig:
        store = LocalStore(tmp_path / name)
        crm = CrmClient(server.url, TEST_USER, TEST_API_KEY)
        rig = Rig(server, store, crm)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.crm.close()
        rig.store.close()


@pytest.fixture
def rig(devserver, make_rig) -> Rig:
    return make_rig(devserver)
