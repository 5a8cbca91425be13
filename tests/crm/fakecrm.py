"""An in-memory collection endpoint for httpx.MockTransport, with hooks to change the data
between page requests. Used to test paging algorithms under churn that the real reference
server cannot be made to produce at an exact moment."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tray_client.crm.jsonapi import id_key, parse_instant


@dataclass
class FakeCollection:
    type: str = "contacts"
    records: dict[str, str] = field(default_factory=dict)   # id -> updatedAt
    requests: list[httpx.Request] = field(default_factory=list)
    before_page: Callable[[FakeCollection, int], None] | None = None  # hook(self, call no.)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before_page:
            self.before_page(self, len(self.requests))
        q = request.url.params
        rows = list(self.records.items())
        if "filter[updatedAt][gte]" in q:
            bound = parse_instant(q["filter[updatedAt][gte]"])
            rows = [r for r in rows if parse_instant(r[1]) >= bound]
        if q.get("sort") == "id":
            rows.sort(key=lambda r: id_key(r[0]))
        else:
            rows.sort(key=lambda r: (parse_instant(r[1]), id_key(r[0])))
        size, number = int(q.get("page[size]", "10")), int(q.get("page[number]", "1"))
        page = rows[(number - 1) * size: number * size]
        body: dict[str, Any] = {"data": [
            {"type": self.type, "id": rid, "attributes": {"updatedAt": ts}} for rid, ts in page],
            "links": {"self": str(request.url)}}
        if number * size < len(rows):
            body["links"]["next"] = "http://next"
        return httpx.Response(200, content=json.dumps(body).encode(),
                              headers={"Content-Type": "application/vnd.api+json"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
