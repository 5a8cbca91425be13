"""WSSE authentication as Oro 6.0 checks it: right key, wrong key, reused nonce, stale Created,
a Created in the future (no tolerance), no header. Every refusal is Oro's WsseEntryPoint answer:
401, empty body, ``WWW-Authenticate: WSSE realm="Secured API", profile="UsernameToken"``."""

from __future__ import annotations

import datetime as dt
import os

import httpx
import pytest

from tray_client.devserver.auth import Unauthorized, WsseAuthenticator

from .wsse import wsse_headers

CHALLENGE = 'WSSE realm="Secured API", profile="UsernameToken"'


def _created(offset_seconds: float, now: float | None = None) -> str:
    moment = dt.datetime.fromtimestamp(now, dt.UTC) if now is not None else dt.datetime.now(dt.UTC)
    return (moment + dt.timedelta(seconds=offset_seconds)).isoformat(timespec="seconds")


def refused(response: httpx.Response) -> None:
    """Oro's WSSE refusal: 401, nothing in the body, the WSSE challenge."""
    assert response.status_code == 401, response.text
    assert response.content == b""
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_right_key_is_accepted_and_answers_carry_date_and_version(devserver):
    response = httpx.get(
        f"{devserver.url}/api/users", headers=wsse_headers(devserver.user, devserver.api_key)
    )
    assert response.status_code == 200
    assert response.headers["X-Server-Version"] == "5.1.0"
    assert response.headers["Date"].endswith("GMT")
    usernames = [u["attributes"]["username"] for u in response.json()["data"]]
    assert devserver.user in usernames


def test_wrong_key_is_an_empty_401_with_the_wsse_challenge(devserver):
    response = httpx.get(
        f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, "not-the-key")
    )
    refused(response)


def test_unknown_user_is_401(devserver):
    refused(
        httpx.get(
            f"{devserver.url}/api/contacts", headers=wsse_headers("nobody", devserver.api_key)
        )
    )


def test_second_demo_user_cannot_log_in_with_the_key(devserver):
    refused(
        httpx.get(
            f"{devserver.url}/api/contacts", headers=wsse_headers("mary.miller", devserver.api_key)
        )
    )


def test_reused_nonce_is_rejected(devserver):
    nonce = os.urandom(16)
    first = httpx.get(
        f"{devserver.url}/api/contacts",
        headers=wsse_headers(devserver.user, devserver.api_key, nonce=nonce),
    )
    assert first.status_code == 200
    refused(
        httpx.get(
            f"{devserver.url}/api/contacts",
            headers=wsse_headers(devserver.user, devserver.api_key, nonce=nonce),
        )
    )


def test_stale_created_is_rejected_but_within_lifetime_is_fine(devserver):
    refused(
        httpx.get(
            f"{devserver.url}/api/contacts",
            headers=wsse_headers(devserver.user, devserver.api_key, created=_created(-3700)),
        )
    )
    recent = httpx.get(
        f"{devserver.url}/api/contacts",
        headers=wsse_headers(devserver.user, devserver.api_key, created=_created(-3000)),
    )
    assert recent.status_code == 200


def test_created_in_the_future_is_refused_even_by_a_few_seconds(devserver):
    refused(
        httpx.get(
            f"{devserver.url}/api/contacts",
            headers=wsse_headers(devserver.user, devserver.api_key, created=_created(3)),
        )
    )
    now = httpx.get(
        f"{devserver.url}/api/contacts",
        headers=wsse_headers(devserver.user, devserver.api_key, created=_created(0)),
    )
    assert now.status_code == 200


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (1.0, "Future token detected."),
        (3700, "Future token detected."),
        (-3601, "Token has expired."),
    ],
)
def test_the_reasons_are_oros_and_the_future_check_has_no_leeway(offset, reason):
    now = 1_800_000_000.5   # half a second into a second: Created of the next second is future
    auth = WsseAuthenticator(lambda: "admin", "key", clock=lambda: now)
    headers = {"x-wsse": wsse_headers("admin", "key", created=_created(offset, now))["X-WSSE"]}
    with pytest.raises(Unauthorized) as caught:
        auth.authenticate(headers)
    assert caught.value.reason == reason
    same_second = {"x-wsse": wsse_headers("admin", "key", created=_created(-0.5, now))["X-WSSE"]}
    assert auth.authenticate(same_second) == "admin"
    with pytest.raises(Unauthorized) as caught:
        auth.authenticate(same_second)
    assert caught.value.reason == "Previously used nonce detected."


def test_created_with_z_suffix_and_other_offsets_is_accepted(devserver):
    created = (
        dt.datetime.now(dt.timezone(dt.timedelta(hours=2))) - dt.timedelta(seconds=1)
    ).isoformat(timespec="seconds")
    response = httpx.get(
        f"{devserver.url}/api/contacts",
        headers=wsse_headers(devserver.user, devserver.api_key, created=created),
    )
    assert response.status_code == 200
    zulu = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = httpx.get(
        f"{devserver.url}/api/contacts",
        headers=wsse_headers(devserver.user, devserver.api_key, created=zulu),
    )
    assert response.status_code == 200


def test_missing_or_malformed_header_is_401(devserver):
    refused(httpx.get(f"{devserver.url}/api/contacts"))
    refused(httpx.get(f"{devserver.url}/api/contacts", headers={"X-WSSE": "garbage"}))
    refused(
        httpx.get(
            f"{devserver.url}/api/contacts", headers={"X-WSSE": 'UsernameToken Username="admin"'}
        )
    )
    headers = wsse_headers(devserver.user, devserver.api_key)
    headers["X-WSSE"] = headers["X-WSSE"].replace('Nonce="', 'Nonce="%%%')
    refused(httpx.get(f"{devserver.url}/api/contacts", headers=headers))
    headers = wsse_headers(devserver.user, devserver.api_key, created="yesterday-ish")
    refused(httpx.get(f"{devserver.url}/api/contacts", headers=headers))


def test_every_api_route_needs_auth(devserver):
    for path in (
        "/api/contacts/1", "/api/configuration/outlook", "/api/removals", "/api/taskstatuses",
        "/api/unknown",
    ):
        refused(httpx.get(devserver.url + path))
