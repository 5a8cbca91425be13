"""Fixtures for the reference server's tests: a server (tests/conftest.py) and a WSSE client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .wsse import Api


@pytest.fixture
def devserver(tmp_path):
    """The reference server with its JSON:API calendar on (``--jsonapi-calendar``): these
    tests cover that extension too. Oro's default (no JSON:API calendar, events on the REST
    API) is tested in test_rest_events.py."""
    from tests.conftest import TEST_API_KEY, TEST_USER
    from tray_client.devserver.testing import RunningServer

    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       jsonapi_calendar=True) as srv:
        yield srv


@pytest.fixture
def api(devserver) -> Iterator[Api]:
    """A WSSE-signing client for the ``devserver`` fixture."""
    client = Api(devserver.url, devserver.user, devserver.api_key)
    yield client
    client.close()
