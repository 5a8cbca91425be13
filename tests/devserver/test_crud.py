"""Create, read, update, delete for every resource over HTTP, as a client would."""

from __future__ import annotations

import re

import pytest

from .wsse import error_of, ref

TASK_ENUMS = {
    "status": ref("taskstatuses", "open"),
    "taskPriority": ref("taskpriorities", "normal"),
}

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

WRITABLE = {
    "contacts": ({"firstName": "Ann", "lastName": "Lee"}, {}, {"jobTitle": "CFO"}),
    "tasks": (
        {"subject": "Call Ann", "dueDate": "2026-12-01T09:30:00+01:00"},
        TASK_ENUMS,
        {"subject": "Call Ann back"},
    ),
    "calendarevents": (
        {
            "title": "Demo",
            "start": "2026-12-01T10:00:00Z",
            "end": "2026-12-01T11:00:00Z",
            "allDay": False,
        },
        {},
        {"title": "Demo 2"},
    ),
    "leads": (
        {"name": "Acme lead", "emails": [{"email": "x@acme.test"}]},
        {},
        {"companyName": "Acme"},
    ),
    "opportunities": (
        {
            "name": "Deal",
            "probability": 0.5,
            "budgetAmountValue": "1500",
            "budgetAmountCurrency": "USD",
        },
        {"status": ref("opportunitystatuses", "negotiation"), "account": ref("accounts", "1")},
        {"closeDate": "2027-01-31"},
    ),
    "cases": (
        {"subject": "Broken"},
        {
            "source": ref("casesources", "email"),
            "status": ref("casestatuses", "open"),
            "priority": ref("casepriorities", "normal"),
        },
        {"resolution": "Replaced"},
    ),
    "accounts": ({"name": "Acme Corp"}, {}, {"name": "Acme Corporation"}),
    "b2bcustomers": (
        {"name": "Acme Retail"},
        {"account": ref("accounts", "1")},
        {"name": "Acme Retail EMEA"},
    ),
}
CASE_ENUMS = {
    "source": ref("casesources", "phone"),
    "status": ref("casestatuses", "open"),
    "priority": ref("casepriorities", "normal"),
}


@pytest.mark.parametrize("type_name", sorted(WRITABLE))
def test_create_get_patch_delete(api, devserver, type_name):
    attributes, relationships, change = WRITABLE[type_name]
    assert devserver.admin.create("accounts", {"name": "Account one"}) == "1"
    created = api.create(type_name, attributes, relationships)["data"]
    record_id = created["id"]
    assert created["type"] == type_name and record_id.isdigit()
    assert STAMP.match(created["attributes"]["createdAt"]) and STAMP.match(
        created["attributes"]["updatedAt"]
    )

    fetched = api.get(f"/{type_name}/{record_id}")
    assert fetched.status_code == 200
    assert fetched.json()["data"] == created

    patched = api.patch(
        f"/{type_name}/{record_id}",
        json={"data": {"type": type_name, "id": record_id, "attributes": change}},
    )
    assert patched.status_code == 200, patched.text
    for key, value in change.items():
        assert patched.json()["data"]["attributes"][key] == value
    # What was not sent stays.
    for key in attributes:
        if key not in change and key in ("name", "subject", "firstName"):
            assert patched.json()["data"]["attributes"][key] == attributes[key]
    assert devserver.admin.get(type_name, record_id)["attributes"][next(iter(change))] == next(
        iter(change.values())
    )

    assert api.delete(f"/{type_name}/{record_id}").status_code == 204
    error_of(api.get(f"/{type_name}/{record_id}"), 404)
    error_of(api.delete(f"/{type_name}/{record_id}"), 404)
    error_of(
        api.patch(
            f"/{type_name}/{record_id}",
            json={"data": {"type": type_name, "id": record_id, "attributes": change}},
        ),
        404,
    )


def test_created_records_belong_to_the_current_user_with_enum_defaults(api):
    task = api.create("tasks", {"subject": "Owned"}, TASK_ENUMS)["data"]
    assert task["relationships"]["owner"]["data"] == {"type": "users", "id": "1"}
    assert task["relationships"]["status"]["data"] == {"type": "taskstatuses", "id": "open"}
    assert task["relationships"]["taskPriority"]["data"] == {
        "type": "taskpriorities",
        "id": "normal",
    }
    lead = api.create("leads", {"name": "L"})["data"]
    assert lead["relationships"]["status"]["data"]["id"] == "new"
    event = api.create(
        "calendarevents",
        {"title": "E", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:00:00Z"},
    )["data"]
    calendars = api.get("/calendars", params={"filter[owner]": "1"}).json()["data"]
    assert event["relationships"]["calendar"]["data"] == {
        "type": "calendars",
        "id": calendars[0]["id"],
    }


def test_values_are_normalised_like_oro(api):
    task = api.create(
        "tasks", {"subject": "T", "dueDate": "2026-12-01T09:30:00.123+01:00"}, TASK_ENUMS
    )["data"]
    assert task["attributes"]["dueDate"] == "2026-12-01T08:30:00Z"
    account = api.create("accounts", {"name": "A"})["data"]["id"]
    opportunity = api.create(
        "opportunities",
        {"name": "O", "budgetAmountValue": 99.5},
        {"status": ref("opportunitystatuses", "won"), "account": ref("accounts", account)},
    )["data"]
    assert opportunity["attributes"]["budgetAmountValue"] == "99.5000"


def test_updated_at_changes_on_every_write_and_created_at_stays(api, devserver):
    devserver.admin.freeze_time("2026-01-01T00:00:00Z")
    contact = api.create("contacts", {"firstName": "Ann"})["data"]
    devserver.admin.freeze_time("2026-01-02T00:00:00+00:00")
    patched = api.patch(
        f"/contacts/{contact['id']}",
        json={"data": {"type": "contacts", "id": contact["id"], "attributes": {"lastName": "Lee"}}},
    ).json()["data"]
    assert patched["attributes"]["createdAt"] == "2026-01-01T00:00:00Z"
    assert patched["attributes"]["updatedAt"] == "2026-01-02T00:00:00Z"
    devserver.admin.freeze_time(None)
    again = api.patch(
        f"/contacts/{contact['id']}",
        json={"data": {"type": "contacts", "id": contact["id"], "attributes": {}}},
    ).json()["data"]
    assert again["attributes"]["updatedAt"] > "2026-01-02T00:00:00Z"


def test_relationships_to_users_and_contacts(api):
    contact = api.create(
        "contacts",
        {"lastName": "Lee"},
        {"owner": ref("users", "2"), "assignedTo": ref("users", "1")},
    )["data"]
    assert contact["relationships"]["owner"]["data"]["id"] == "2"
    assert contact["relationships"]["assignedTo"]["data"]["id"] == "1"
    case = api.create(
        "cases",
        {"subject": "S"},
        {
            **CASE_ENUMS,
            "relatedContact": ref("contacts", contact["id"]),
            "priority": ref("casepriorities", "high"),
        },
    )["data"]
    assert case["relationships"]["relatedContact"]["data"]["id"] == contact["id"]
    cleared = api.patch(
        f"/contacts/{contact['id']}",
        json={
            "data": {
                "type": "contacts",
                "id": contact["id"],
                "relationships": {"assignedTo": {"data": None}},
            }
        },
    )
    assert cleared.json()["data"]["relationships"]["assignedTo"]["data"] is None


def test_contact_emails_phones_and_primary(api):
    contact = api.create(
        "contacts",
        {
            "firstName": "Ann",
            "emails": [{"email": "a@x.org"}, {"email": "b@y.org"}],
            "phones": [{"phone": "+1 555"}],
        },
    )["data"]
    assert contact["attributes"]["primaryEmail"] == "a@x.org"
    assert contact["attributes"]["primaryPhone"] == "+1 555"
    body = {
        "data": {"type": "contacts", "id": contact["id"], "attributes": {"primaryEmail": "b@y.org"}}
    }
    assert (
        api.patch(f"/contacts/{contact['id']}", json=body).json()["data"]["attributes"][
            "primaryEmail"
        ]
        == "b@y.org"
    )
    body = {
        "data": {
            "type": "contacts",
            "id": contact["id"],
            "attributes": {"emails": [{"email": "c@z.org"}]},
        }
    }
    attributes = api.patch(f"/contacts/{contact['id']}", json=body).json()["data"]["attributes"]
    assert (
        attributes["emails"] == [{"email": "c@z.org"}] and attributes["primaryEmail"] == "c@z.org"
    )


def test_contact_addresses_are_written_through_included(api, devserver):
    included = [
        {
            "type": "contactaddresses",
            "id": "a1",
            "attributes": {"street": "1 Main St", "city": "Boston"},
            "relationships": {
                "types": {"data": [{"type": "addresstypes", "id": "billing"}]},
                "country": ref("countries", "US"),
                "region": ref("regions", "US-MA"),
            },
        },
        {
            "type": "contactaddresses",
            "id": "a2",
            "attributes": {"city": "Paris"},
            "relationships": {
                "types": {"data": [{"type": "addresstypes", "id": "shipping"}]},
                "country": ref("countries", "FR"),
            },
        },
    ]
    rels = {
        "addresses": {
            "data": [
                {"type": "contactaddresses", "id": "a1"},
                {"type": "contactaddresses", "id": "a2"},
            ]
        }
    }
    document = api.create("contacts", {"firstName": "Ann"}, rels, included)
    contact = document["data"]
    address_ids = [a["id"] for a in contact["relationships"]["addresses"]["data"]]
    assert len(address_ids) == 2 and all(i.isdigit() for i in address_ids)
    by_city = {a["attributes"]["city"]: a for a in document["included"]}
    assert by_city["Boston"]["relationships"]["types"]["data"] == [
        {"type": "addresstypes", "id": "billing"}
    ]
    assert by_city["Boston"]["relationships"]["owner"]["data"] == {
        "type": "contacts",
        "id": contact["id"],
    }
    assert by_city["Boston"]["relationships"]["country"]["data"] == {
        "type": "countries",
        "id": "US",
    }
    assert by_city["Boston"]["relationships"]["region"]["data"] == {
        "type": "regions",
        "id": "US-MA",
    }
    assert by_city["Paris"]["relationships"]["region"]["data"] is None

    # Update one (meta.update), drop the other (not listed), add a new one.
    boston = by_city["Boston"]["id"]
    body = {
        "data": {
            "type": "contacts",
            "id": contact["id"],
            "relationships": {
                "addresses": {
                    "data": [
                        {"type": "contactaddresses", "id": boston},
                        {"type": "contactaddresses", "id": "new"},
                    ]
                }
            },
        },
        "included": [
            {
                "type": "contactaddresses",
                "id": boston,
                "meta": {"update": True},
                "attributes": {"city": "Cambridge"},
            },
            {
                "type": "contactaddresses",
                "id": "new",
                "attributes": {"city": "Rome"},
                "relationships": {"country": ref("countries", "IT")},
            },
        ],
    }
    response = api.patch(f"/contacts/{contact['id']}", json=body)
    assert response.status_code == 200, response.text
    stored = devserver.admin.get("contacts", contact["id"])
    cities = sorted(a["attributes"]["city"] for a in stored["addresses"])
    assert cities == ["Cambridge", "Rome"]
    cambridge = next(a for a in stored["addresses"] if a["attributes"]["city"] == "Cambridge")
    assert cambridge["id"] == boston and cambridge["attributes"]["street"] == "1 Main St"
    assert by_city["Paris"]["id"] not in [a["id"] for a in stored["addresses"]]

    # GET with include=addresses puts them in `included`; without, only the linkage.
    with_include = api.get(f"/contacts/{contact['id']}", params={"include": "addresses"}).json()
    assert sorted(a["attributes"]["city"] for a in with_include["included"]) == [
        "Cambridge",
        "Rome",
    ]
    assert "included" not in api.get(f"/contacts/{contact['id']}").json()

    # A PATCH without the addresses relationship leaves them alone.
    api.patch(
        f"/contacts/{contact['id']}",
        json={"data": {"type": "contacts", "id": contact["id"], "attributes": {"lastName": "Lee"}}},
    )
    assert len(devserver.admin.get("contacts", contact["id"])["addresses"]) == 2


def test_contactaddresses_route_leaves_the_contact_updated_at_alone(api, devserver):
    """Like Oro (no JSON:API processor bumps it; ORO-API.md §5): writes to /contactaddresses
    change the address, not its contact's updatedAt."""
    devserver.admin.freeze_time("2026-01-01T00:00:00Z")
    contact_id = devserver.admin.create("contacts", {"firstName": "Ann"})
    devserver.admin.freeze_time("2026-01-01T00:00:05Z")
    address = api.create(
        "contactaddresses",
        {"city": "Oslo"},
        {
            "owner": ref("contacts", contact_id),
            "types": {"data": [{"type": "addresstypes", "id": "billing"}]},
            "country": ref("countries", "NO"),
        },
    )["data"]
    assert address["attributes"]["updatedAt"] == "2026-01-01T00:00:05Z"
    assert (
        devserver.admin.get("contacts", contact_id)["attributes"]["updatedAt"]
        == "2026-01-01T00:00:00Z"
    )
    devserver.admin.freeze_time("2026-01-01T00:00:07Z")
    body = {
        "data": {"type": "contactaddresses", "id": address["id"], "attributes": {"city": "Bergen"}}
    }
    assert api.patch(f"/contactaddresses/{address['id']}", json=body).status_code == 200
    devserver.admin.freeze_time("2026-01-01T00:00:09Z")
    assert api.delete(f"/contactaddresses/{address['id']}").status_code == 204
    contact = devserver.admin.get("contacts", contact_id)
    assert (
        contact["addresses"] == [] and contact["attributes"]["updatedAt"] == "2026-01-01T00:00:00Z"
    )


def test_deleting_a_contact_deletes_its_addresses(api, devserver):
    contact_id = devserver.admin.create(
        "contacts", {"firstName": "Ann", "addresses": [{"city": "Oslo", "types": ["billing"]}]}
    )
    assert devserver.admin.count("contactaddresses") == 1
    assert api.delete(f"/contacts/{contact_id}").status_code == 204
    assert devserver.admin.count("contactaddresses") == 0


@pytest.mark.parametrize("type_name", ["users", "calendars", "taskstatuses", "addresstypes"])
def test_read_only_resources_refuse_writes(api, type_name):
    error_of(
        api.post(f"/{type_name}", json={"data": {"type": type_name, "attributes": {"name": "x"}}}),
        405,
    )
    error_of(api.delete(f"/{type_name}/1"), 405)


def test_users_calendars_and_enums_are_listed(api):
    users = api.get("/users").json()["data"]
    assert [u["id"] for u in users] == ["1", "2"]
    assert api.get("/users", params={"filter[username]": "admin"}).json()["data"][0]["id"] == "1"
    assert api.get("/users/2").json()["data"]["attributes"]["username"] == "mary.miller"
    calendars = api.get("/calendars").json()["data"]
    assert sorted(c["relationships"]["owner"]["data"]["id"] for c in calendars) == ["1", "2"]
    # Oro's display order (priority / order); the lists come in id order, as Oro's without a sort.
    enum_options = {
        "taskstatuses": ["open", "in_progress", "closed"],
        "leadstatuses": ["new", "qualified", "canceled"],
        "leadsources": ["demand_generation"],  # a fresh install has only this one
        "opportunitystatuses": [
            "in_progress", "identification_alignment", "needs_analysis", "solution_development",
            "negotiation", "won", "lost",
        ],
    }
    for enum, ids in enum_options.items():
        data = api.get(f"/{enum}").json()["data"]
        assert [item["id"] for item in data] == sorted(ids)
        assert all(set(item["attributes"]) == {"name", "priority", "default"} for item in data)
        assert [
            item["id"] for item in sorted(data, key=lambda i: i["attributes"]["priority"])
        ] == ids
        assert [item["id"] for item in data if item["attributes"]["default"]] == [ids[0]]
    dictionaries = {
        "taskpriorities": ["low", "normal", "high"],
        "casestatuses": ["open", "in_progress", "resolved", "closed"],
        "casepriorities": ["low", "normal", "high"],
    }
    for enum, ids in dictionaries.items():
        data = api.get(f"/{enum}").json()["data"]
        assert [item["id"] for item in data] == sorted(ids)
        assert all(set(item["attributes"]) == {"label", "order"} for item in data)
        assert [item["id"] for item in sorted(data, key=lambda i: i["attributes"]["order"])] == ids
    for enum, ids in {
        "casesources": ["email", "other", "phone", "web"],
        "addresstypes": ["billing", "shipping"],
    }.items():
        data = api.get(f"/{enum}").json()["data"]
        assert [item["id"] for item in data] == ids
        assert all(set(item["attributes"]) == {"label"} for item in data)
    assert api.get("/taskpriorities/high").json()["data"]["attributes"] == {
        "label": "High",
        "order": 3,
    }
    error_of(api.get("/taskpriorities/urgent"), 404)


def test_unknown_routes_and_ids_are_json_404(api, devserver):
    error_of(api.get("/widgets"), 404)
    error_of(api.get("/contacts/abc"), 404)
    error_of(api.get("/contacts/999"), 404)
    error_of(api.get("/contacts/1/extra/path"), 404)
    # As Oro: a type that is not an API resource, and the removals feed (an extension, off).
    assert error_of(api.get("/widgets"), 404) == {
        "status": "404",
        "title": "entity type constraint",
        "detail": "Unknown entity type: widgets.",
    }
    assert error_of(api.get("/removals"), 404)["title"] == "entity type constraint"
    # Outside /api Oro answers with its back office's HTML page.
    page = api.client.get(devserver.url + "/nothing/here")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


def test_wrong_method_is_json_405(api):
    error_of(api.request("PUT", "/contacts/1", json={}), 405)
    error_of(api.request("DELETE", "/contacts"), 405)


def test_date_header_follows_a_frozen_clock(api, devserver):
    devserver.admin.freeze_time("2026-01-02T03:04:05Z")
    assert api.get("/users").headers["Date"] == "Fri, 02 Jan 2026 03:04:05 GMT"
    devserver.admin.inject_fault("/api/users", status=503)
    assert api.get("/users").headers["Date"] == "Fri, 02 Jan 2026 03:04:05 GMT"
    devserver.admin.freeze_time(None)
    assert api.get("/users").headers["Date"].endswith("GMT")
    assert api.get("/users").headers["Date"] != "Fri, 02 Jan 2026 03:04:05 GMT"
