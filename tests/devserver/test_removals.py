"""GET /api/removals (``--removals-feed``, an extension): what was deleted, when, filterable
and paged. Real Oro has no such feed; without the flag it is a 404 (test_crud)."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.devserver.testing import RunningServer

from .wsse import error_of


@pytest.fixture
def devserver(tmp_path):
    """The reference server with its removals feed on."""
    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER, api_key=TEST_API_KEY,
                       removals_feed=True) as srv:
        yield srv


def test_deletions_appear_in_the_feed(api, devserver):
    admin = devserver.admin
    admin.freeze_time("2026-02-01T00:00:00Z")
    contact = admin.create("contacts", {"firstName": "A", "addresses": [{"city": "Oslo"}]})
    task = admin.create("tasks", {"subject": "T"}, {"status": "open", "taskPriority": "normal"})
    admin.freeze_time("2026-02-01T00:00:10Z")
    assert api.delete(f"/contacts/{contact}").status_code == 204
    admin.freeze_time("2026-02-01T00:00:20Z")
    admin.delete("tasks", task)
    admin.freeze_time(None)

    everything = api.get("/removals", params={"sort": "removedAt,id"}).json()["data"]
    assert [(r["attributes"]["entityType"], r["attributes"]["entityId"]) for r in everything][
        ::2
    ] == [("contacts", contact), ("tasks", task)]
    assert {r["attributes"]["entityType"] for r in everything} == {
        "contacts",
        "contactaddresses",
        "tasks",
    }

    contacts = api.get("/removals", params={"filter[entityType]": "contacts"}).json()["data"]
    assert contacts == [
        {
            "type": "removals",
            "id": contacts[0]["id"],
            "attributes": {
                "entityType": "contacts",
                "entityId": contact,
                "removedAt": "2026-02-01T00:00:10Z",
            },
        }
    ]
    later = api.get("/removals", params={"filter[removedAt][gt]": "2026-02-01T00:00:10Z"}).json()[
        "data"
    ]
    assert [r["attributes"]["entityId"] for r in later] == [task]
    same = api.get(
        "/removals",
        params={
            "filter[removedAt][gte]": "2026-02-01T00:00:10Z",
            "filter[entityType]": "contacts,tasks",
        },
    ).json()["data"]
    assert len(same) == 2
    one = api.get(f"/removals/{contacts[0]['id']}").json()["data"]
    assert one["attributes"]["entityId"] == contact


def test_feed_is_paged(api, devserver):
    devserver.admin.bulk_contacts(25)
    for contact in devserver.admin.ids("contacts"):
        devserver.admin.delete("contacts", contact)
    first = api.get(
        "/removals", params={"page[size]": "10", "filter[entityType]": "contacts"}
    ).json()
    assert len(first["data"]) == 10 and "next" in first["links"]
    items = api.all_pages("/removals", {"page[size]": "10", "filter[entityType]": "contacts"})
    assert sorted(int(r["attributes"]["entityId"]) for r in items) == list(range(1, 26))
    counted = api.get("/removals", headers={"X-Include": "totalCount"})
    assert counted.headers["X-Include-Total-Count"] == "25"


def test_feed_rejects_bad_filters(api):
    assert error_of(api.get("/removals", params={"filter[removedAt][gt]": "soon"}), 400)[
        "source"
    ] == {"parameter": "filter[removedAt][gt]"}
    assert error_of(api.get("/removals", params={"filter[owner]": "1"}), 400)["source"] == {
        "parameter": "filter[owner]"
    }
