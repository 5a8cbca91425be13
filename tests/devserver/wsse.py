"""A tiny WSSE client for the server's tests (written here, independent of tray_client.crm)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from typing import Any

import httpx

MEDIA_TYPE = "application/vnd.api+json"


def wsse_headers(
    user: str, api_key: str, *, created: str | None = None, nonce: bytes | None = None
) -> dict[str, str]:
    """A fresh header pair: Oro's digest over a random nonce and the current time."""
    nonce = os.urandom(16) if nonce is None else nonce
    created = created or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    digest = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + api_key.encode()).digest()
    ).decode()
    token = (
        f'UsernameToken Username="{user}", PasswordDigest="{digest}", '
        f'Nonce="{base64.b64encode(nonce).decode()}", Created="{created}"'
    )
    return {"Authorization": 'WSSE profile="UsernameToken"', "X-WSSE": token, "Accept": MEDIA_TYPE}


class Api:
    """httpx with a fresh WSSE header on every request, against one running server."""

    def __init__(self, url: str, user: str, api_key: str, **client_options: Any) -> None:
        self.user = user
        self.api_key = api_key
        self.client = httpx.Client(base_url=url + "/api", timeout=20, **client_options)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        all_headers = wsse_headers(self.user, self.api_key)
        if json is not None or content is not None:
            all_headers["Content-Type"] = MEDIA_TYPE
        all_headers.update(headers or {})
        return self.client.request(
            method, path, json=json, params=params, headers=all_headers, content=content
        )

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def create(
        self,
        type_name: str,
        attributes: dict[str, Any],
        relationships: dict[str, Any] | None = None,
        included: list[Any] | None = None,
    ) -> dict[str, Any]:
        """POST a resource; assert 201 and return the whole response document."""
        data: dict[str, Any] = {"type": type_name, "attributes": attributes}
        if relationships:
            data["relationships"] = relationships
        body: dict[str, Any] = {"data": data}
        if included is not None:
            body["included"] = included
        response = self.post(f"/{type_name}", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def all_pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Follow links.next from the first page; every resource of every page, in order."""
        response = self.get(path, params=params)
        items: list[dict[str, Any]] = []
        while True:
            assert response.status_code == 200, response.text
            document = response.json()
            items.extend(document["data"])
            next_url = document["links"].get("next")
            if not next_url:
                return items
            response = self.get(next_url)

    def close(self) -> None:
        self.client.close()


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert a JSON:API error answer with this status; return its first error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    errors = response.json()["errors"]
    assert errors and errors[0]["status"] == str(status)
    return errors[0]


def ref(type_name: str, item_id: str) -> dict[str, Any]:
    """A to-one relationship member."""
    return {"data": {"type": type_name, "id": item_id}}
