"""Fixtures of the store tests: a fresh store on disk and a clock the test can move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tray_client.store import LocalStore


class FakeClock:
    """A settable clock for LocalStore(clock=...); starts at a fixed instant."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        # Every reading moves on a microsecond, so timestamps stay strictly ordered.
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "store.db"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[LocalStore]:
    with LocalStore(db_path, clock=clock) as opened:
        yield opened
