"""Calendar events on an Oro 6.1-like server (OAuth only): the REST API's requests carry the
same bearer token as the JSON:API's, through the real facade over loopback."""

from __future__ import annotations

import httpx

from tests.conftest import TEST_API_KEY, TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_USER
from tests.devserver.wsse import wsse_headers
from tests.test_credentials import MemoryKeyring
from tray_client.client import Client
from tray_client.devserver.testing import RunningServer


def test_events_sync_over_oauth(tmp_path):
    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       auth="oauth2", client_id=TEST_CLIENT_ID,
                       client_secret=TEST_CLIENT_SECRET) as server:
        crm_id = server.admin.rest_events.add({
            "title": "Kick-off", "start": "2026-04-01T09:00:00Z", "end": "2026-04-01T10:00:00Z",
            "allDay": False, "calendar": 1})
        # Oro 6.1 has no WSSE on its old REST API either.
        wsse = httpx.get(f"{server.url}/api/rest/latest/calendars/default",
                         headers=wsse_headers(TEST_USER, TEST_API_KEY))
        assert wsse.status_code == 401
        client = Client(tmp_path / "home", keyring_backend=MemoryKeyring())
        try:
            settings = client.settings
            settings.url, settings.user = server.url, TEST_USER
            settings.auth, settings.client_id = "oauth2", TEST_CLIENT_ID
            client.save_settings(settings)
            client.set_client_secret(TEST_CLIENT_SECRET)
            assert client.check_connection().events == "events: OK"
            item = client.store.add("events", {"subject": "Retro",
                                               "start": "2026-04-02T15:00:00+02:00",
                                               "end": "2026-04-02T16:00:00+02:00"})
            result = client.sync(entities=["events"])
            assert result.outcome == "ok", result.message
            assert [i.crm_id for i in client.store.list("events")
                    if i.id != item.id] == [crm_id]
            created = client.store.get(item.id).crm_id
            assert server.admin.rest_events.get(created, "1")["start"] == \
                "2026-04-02T13:00:00+00:00"
        finally:
            client.close()
