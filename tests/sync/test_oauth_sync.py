"""A sync that outlives its OAuth access token: 20,000 contacts pulled with tokens that live
one second (renewed before expiry) and are also revoked now and then (renewed on the 401),
through the real facade against the reference server over loopback; no record fails."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import TEST_API_KEY, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_USER
from tests.test_credentials import MemoryKeyring
from tray_client.client import Client
from tray_client.devserver.testing import RunningServer


@pytest.mark.slow
def test_token_expiry_in_the_middle_of_a_20000_record_sync_fails_no_record(tmp_path):
    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       auth="oauth2", client_id=TEST_CLIENT_ID,
                       client_secret=TEST_CLIENT_SECRET, token_lifetime=1) as server:
        server.admin.bulk_contacts(20000)
        client = Client(tmp_path / "home", keyring_backend=MemoryKeyring())
        settings = client.settings
        settings.url, settings.user = server.url, TEST_USER
        settings.auth, settings.client_id = "oauth2", TEST_CLIENT_ID
        client.save_settings(settings)
        client.set_client_secret(TEST_CLIENT_SECRET)

        done = threading.Event()

        def revoke_now_and_then() -> None:
            while not done.wait(0.4):
                server.admin.expire_tokens()

        revoker = threading.Thread(target=revoke_now_and_then)
        revoker.start()
        try:
            result = client.sync(entities=["contacts"], trigger="manual")
        finally:
            done.set()
            revoker.join()
            client.close()
        assert result.outcome == "ok", result.message
        assert not result.errors
        assert result.counts["contacts"]["local"]["created"] == 20000
        assert server.admin.tokens_issued() >= 3
