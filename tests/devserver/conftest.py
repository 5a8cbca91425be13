"""Fixtures for the reference server's tests: a server (tests/conftest.py) and a WSSE client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .wsse import Api


@pytest.fixture
def api(devserver) -> Iterator[Api]:
    """A WSSE-signing client for the ``devserver`` fixture."""
    client = Api(devserver.url, devserver.user, devserver.api_key)
    yield client
    client.close()
