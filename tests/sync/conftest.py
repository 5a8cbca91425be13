"""Fixtures for the sync tests: a real LocalStore in tmp_path, a real CrmClient talking to the
reference server on loopback, and a small helper that runs the real engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tests.rig import Rig
from tray_client.crm import CrmClient
from tray_client.store import LocalStore


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


@pytest.fixture
def local_zone(monkeypatch) -> Iterator[Callable[[str], None]]:
    """Set this process's time zone (``TZ`` + ``time.tzset``); restored afterwards."""
    import time

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()   # TZ as it was
    time.tzset()
