"""WSSE authentication: right key, wrong key, reused nonce, stale/future Created, no header."""

from __future__ import annotations

import datetime as dt
import os

import httpx

from .wsse import error_of, wsse_headers


def _created(offset_seconds: int) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="seconds")


def test_right_key_is_accepted_and_answers_carry_date_and_version(devserver):
    response = httpx.get(f"{devserver.url}/api/users", headers=wsse_headers(devserver.user, devserver.api_key))
    assert response.status_code == 200
    assert response.headers["X-Server-Version"] == "5.1.0"
    assert response.headers["Date"].endswith("GMT")
    usernames = [u["attributes"]["username"] for u in response.json()["data"]]
    assert devserver.user in usernames


def test_wrong_key_is_401_without_echoing_secrets(devserver):
    headers = wsse_headers(devserver.user, "not-the-key")
    response = httpx.get(f"{devserver.url}/api/contacts", headers=headers)
    error = error_of(response, 401)
    assert "Wrong username or API key" in error["detail"]
    assert devserver.api_key not in response.text
    assert "WSSE" in response.headers["WWW-Authenticate"]


def test_unknown_user_is_401(devserver):
    response = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers("nobody", devserver.api_key))
    error_of(response, 401)


def test_second_demo_user_cannot_log_in_with_the_key(devserver):
    response = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers("mary.miller", devserver.api_key))
    error_of(response, 401)


def test_reused_nonce_is_rejected(devserver):
    nonce = os.urandom(16)
    first = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, nonce=nonce))
    assert first.status_code == 200
    again = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, nonce=nonce))
    assert "already been used" in error_of(again, 401)["detail"]


def test_stale_created_is_rejected_but_within_lifetime_is_fine(devserver):
    old = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, created=_created(-3700)))
    assert "expired" in error_of(old, 401)["detail"]
    recent = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, created=_created(-3000)))
    assert recent.status_code == 200


def test_future_created_is_rejected_beyond_five_minutes(devserver):
    far = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, created=_created(400)))
    assert "future" in error_of(far, 401)["detail"]
    near = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, created=_created(200)))
    assert near.status_code == 200


def test_created_with_z_suffix_and_other_offsets_is_accepted(devserver):
    created = dt.datetime.now(dt.timezone(dt.timedelta(hours=2))).isoformat(timespec="seconds")
    response = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, created=created))
    assert response.status_code == 200
    zulu = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = httpx.get(f"{devserver.url}/api/contacts", headers=wsse_headers(devserver.user, devserver.api_key, created=zulu))
    assert response.status_code == 200


def test_missing_or_malformed_header_is_401(devserver):
    error_of(httpx.get(f"{devserver.url}/api/contacts"), 401)
    error_of(httpx.get(f"{devserver.url}/api/contacts", headers={"X-WSSE": "garbage"}), 401)
    error_of(httpx.get(f"{devserver.url}/api/contacts", headers={"X-WSSE": 'UsernameToken Username="admin"'}), 401)
    headers = wsse_headers(devserver.user, devserver.api_key)
    headers["X-WSSE"] = headers["X-WSSE"].replace('Nonce="', 'Nonce="%%%')
    error_of(httpx.get(f"{devserver.url}/api/contacts", headers=headers), 401)
    headers = wsse_headers(devserver.user, devserver.api_key, created="yesterday-ish")
    error_of(httpx.get(f"{devserver.url}/api/contacts", headers=headers), 401)


def test_every_api_route_needs_auth(devserver):
    for path in ("/api/contacts/1", "/api/configuration/outlook", "/api/removals", "/api/taskstatuses", "/api/unknown"):
        error_of(httpx.get(devserver.url + path), 401)
