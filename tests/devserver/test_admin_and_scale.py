"""The in-process admin handle, concurrency, scale, and the server's import boundary."""

from __future__ import annotations

import ast
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import tray_client.devserver
from tray_client.devserver.jsonapi import ApiError

from .wsse import Api, ref


def test_admin_handle_round_trip(devserver):
    admin = devserver.admin
    contact = admin.create(
        "contacts",
        {
            "firstName": "Ann",
            "emails": [{"email": "a@x.org"}],
            "addresses": [{"city": "Oslo", "types": ["billing"]}, {"city": "Rome", "types": []}],
        },
        {"owner": "2", "assignedTo": {"data": {"type": "users", "id": "1"}}},
    )
    got = admin.get("contacts", contact)
    assert (
        got["attributes"]["firstName"] == "Ann" and got["attributes"]["primaryEmail"] == "a@x.org"
    )
    assert got["relationships"]["owner"]["data"] == {"type": "users", "id": "2"}
    assert got["relationships"]["assignedTo"]["data"] == {"type": "users", "id": "1"}
    assert [
        (a["attributes"]["city"], a["relationships"]["types"]["data"]) for a in got["addresses"]
    ] == [("Oslo", [{"type": "addresstypes", "id": "billing"}]), ("Rome", [])]
    admin.update(
        "contacts",
        contact,
        {"lastName": "Lee", "addresses": [{"city": "Paris", "types": ["shipping"]}]},
    )
    got = admin.get("contacts", contact)
    assert got["attributes"]["lastName"] == "Lee" and [
        a["attributes"]["city"] for a in got["addresses"]
    ] == ["Paris"]
    task = admin.create("tasks", {"subject": "T"}, {"status": "closed", "taskPriority": "high"})
    assert admin.get("tasks", task)["relationships"]["status"]["data"] == {
        "type": "taskstatuses",
        "id": "closed",
    }
    assert admin.ids("contacts") == [contact] and admin.count("tasks") == 1
    admin.delete("tasks", task)
    assert admin.count("tasks") == 0
    with pytest.raises(ApiError) as error:
        admin.create("leads", {"notes": "no name"})
    assert error.value.pointer == "/data/attributes/name"
    with pytest.raises(ApiError):
        admin.get("tasks", task)
    with pytest.raises(ValueError):
        admin.freeze_time("not a time")
    assert devserver.api_key not in repr(devserver)


def test_ids_sort_numerically(devserver):
    devserver.admin.bulk_contacts(12)
    assert devserver.admin.ids("contacts") == [str(i) for i in range(1, 13)]


def test_concurrent_requests_are_safe(devserver):
    def work(index: int) -> int:
        api = Api(devserver.url, devserver.user, devserver.api_key)
        try:
            for n in range(5):
                created = api.create("tasks", {"subject": f"t{index}-{n}"}, {
                    "status": ref("taskstatuses", "open"),
                    "taskPriority": ref("taskpriorities", "normal")})["data"]
                assert api.get(f"/tasks/{created['id']}").status_code == 200
                assert api.get("/tasks", params={"page[size]": "50"}).status_code == 200
            return 5
        finally:
            api.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(work, range(8))) == 40
    assert devserver.admin.count("tasks") == 40
    assert len(set(devserver.admin.ids("tasks"))) == 40


def test_listing_many_contacts_in_large_pages(api, devserver):
    # Every record once, in order, across pages of 1,000 (speed: benchmarks/bench_fetch.py).
    devserver.admin.bulk_contacts(20_000)
    items = api.all_pages(
        "/contacts", {"page[size]": "1000", "sort": "updatedAt,id", "include": "addresses"}
    )
    assert len(items) == 20_000
    assert len({item["id"] for item in items}) == 20_000


def test_devserver_imports_nothing_else_of_tray_client():
    package = Path(tray_client.devserver.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert not node.module.startswith("tray_client") or node.module.startswith(
                    "tray_client.devserver"
                ), source
            elif isinstance(node, ast.Import):
                assert all(
                    not a.name.startswith("tray_client")
                    or a.name.startswith("tray_client.devserver")
                    for a in node.names
                ), source
            elif isinstance(node, ast.ImportFrom) and node.level > 1:
                pytest.fail(f"{source.name} reaches outside the package")


def test_small_answers_are_not_held_back(api):
    # A keep-alive request must not wait for a delayed ACK (~40 ms each without TCP_NODELAY).
    api.get("/users")
    started = time.monotonic()
    for _ in range(30):
        assert api.get("/users").status_code == 200
    assert time.monotonic() - started < 1.0
