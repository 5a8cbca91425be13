"""The facade keeps sign-in state in memory for every CRM client it makes: one OAuth token per
application and secret (the GUI's workers and the sync share it), one WSSE clock per CRM."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_USER
from tests.test_credentials import MemoryKeyring
from tray_client.client import Client
from tray_client.crm.auth import ServerClock


@pytest.fixture
def client(tmp_path, oauth_server):
    facade = Client(tmp_path / "home", keyring_backend=MemoryKeyring())
    settings = facade.settings
    settings.url, settings.user = oauth_server.url, TEST_USER
    settings.auth, settings.client_id = "oauth2", TEST_CLIENT_ID
    facade.save_settings(settings)
    facade.set_client_secret(TEST_CLIENT_SECRET)
    yield facade
    facade.close()


def test_every_crm_client_of_the_facade_shares_one_token(client, oauth_server):
    for _ in range(3):
        with client.crm() as crm:
            crm.current_user()
    assert client.check_connection().kind.value != "auth"
    assert oauth_server.admin.tokens_issued() == 1


def test_a_new_secret_starts_a_new_token_and_a_typed_one_is_not_kept(client, oauth_server):
    with client.crm() as crm:
        crm.current_user()
    verdict = client.check_connection(client.settings, client_secret="typed-but-wrong")
    assert verdict.title == "OAuth application not accepted"
    assert oauth_server.admin.tokens_issued() == 1
    with client.crm() as crm:          # the stored secret's token is still the one in use
        crm.current_user()
    assert oauth_server.admin.tokens_issued() == 1


def test_the_wsse_clock_is_learned_once_per_crm(tmp_path, devserver):
    facade = Client(tmp_path / "home", keyring_backend=MemoryKeyring())
    try:
        settings = facade.settings
        settings.url, settings.user = devserver.url, TEST_USER
        facade.save_settings(settings)
        facade.set_api_key(devserver.api_key)
        with facade.crm() as crm:
            crm.current_user()
            clock = crm.auth.clock
        assert clock.known
        with facade.crm() as crm:
            assert crm.auth.clock is clock
        assert isinstance(clock, ServerClock) and abs(clock.offset) < 2
    finally:
        facade.close()
