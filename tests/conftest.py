"""Shared fixtures. The reference server runs for real on loopback (random port)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests must never touch the developer's real keyring or config.
os.environ.pop("TRAY_CLIENT_API_KEY", None)
os.environ.pop("TRAY_CLIENT_CLIENT_SECRET", None)

TEST_USER = "admin"
TEST_API_KEY = "test-api-key-0123456789abcdef"
TEST_CLIENT_ID = "test-oauth-client-id"
TEST_CLIENT_SECRET = "test-client-secret-fedcba9876543210"


@pytest.fixture
def devserver(tmp_path):
    """A fresh reference CRM server on 127.0.0.1:<random port> with an empty database."""
    from tray_client.devserver.testing import RunningServer

    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       client_id=TEST_CLIENT_ID, client_secret=TEST_CLIENT_SECRET) as srv:
        yield srv


@pytest.fixture
def oauth_server(tmp_path):
    """A reference server that speaks OAuth 2.0 only, as Oro 6.1 does (no WSSE)."""
    from tray_client.devserver.testing import RunningServer

    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       auth="oauth2", client_id=TEST_CLIENT_ID,
                       client_secret=TEST_CLIENT_SECRET) as srv:
        yield srv
