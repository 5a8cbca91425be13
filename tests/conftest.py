"""Shared fixtures. The reference server runs for real on loopback (random port)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests must never touch the developer's real keyring or config.
os.environ.pop("TRAY_CLIENT_API_KEY", None)

TEST_USER = "admin"
TEST_API_KEY = "test-api-key-0123456789abcdef"


@pytest.fixture
def devserver(tmp_path):
    """A fresh reference CRM server on 127.0.0.1:<random port> with an empty database."""
    from tray_client.devserver.testing import RunningServer

    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY) as srv:
        yield srv
