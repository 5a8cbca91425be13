"""Validation as Oro does it (400 with a pointer at the field) and malformed input (400, never
500)."""

from __future__ import annotations

import pytest

from .wsse import error_of, ref

TASK_ENUMS = {
    "status": ref("taskstatuses", "open"),
    "taskPriority": ref("taskpriorities", "normal"),
}


def _pointer(response):
    return error_of(response, 400)["source"]["pointer"]


@pytest.mark.parametrize(
    ("type_name", "attributes", "relationships", "pointer"),
    [
        ("contacts", {"description": "no name"}, None, "/data/attributes/firstName"),
        ("contacts", {"firstName": "   "}, None, "/data/attributes/firstName"),
        ("leads", {"companyName": "Acme"}, None, "/data/attributes/name"),
        ("opportunities", {"name": "Deal"}, None, "/data/relationships/status/data"),
        (
            "opportunities",
            {"status": "won"},
            {"status": ref("opportunitystatuses", "won")},
            "/data/attributes/status",
        ),
        ("cases", {"description": "d"}, None, "/data/attributes/subject"),
        ("tasks", {"description": "d"}, None, "/data/attributes/subject"),
        # Oro's TaskBundle validation.yml: NotBlank on status and taskPriority, no defaults.
        (
            "tasks",
            {"subject": "T"},
            {"taskPriority": ref("taskpriorities", "normal")},
            "/data/relationships/status/data",
        ),
        (
            "tasks",
            {"subject": "T"},
            {"status": ref("taskstatuses", "open")},
            "/data/relationships/taskPriority/data",
        ),
        (
            "tasks",
            {"subject": "T"},
            {"status": ref("taskstatuses", "open"), "taskPriority": {"data": None}},
            "/data/relationships/taskPriority/data",
        ),
        (
            "calendarevents",
            {"title": "E", "start": "2026-12-01T10:00:00Z"},
            None,
            "/data/attributes/end",
        ),
        (
            "calendarevents",
            {"title": "E", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T09:00:00Z"},
            None,
            "/data/attributes/end",
        ),
        (
            "calendarevents",
            {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"},
            None,
            "/data/attributes/title",
        ),
    ],
)
def test_required_fields(api, type_name, attributes, relationships, pointer):
    body = {"data": {"type": type_name, "attributes": attributes}}
    if relationships:
        body["data"]["relationships"] = relationships
    assert _pointer(api.post(f"/{type_name}", json=body)) == pointer


def test_contacts_need_only_one_of_the_name_fields(api):
    for attributes in (
        {"firstName": "A"},
        {"lastName": "B"},
        {"emails": [{"email": "a@b.c"}]},
        {"phones": [{"phone": "1"}]},
    ):
        assert (
            api.post(
                "/contacts", json={"data": {"type": "contacts", "attributes": attributes}}
            ).status_code
            == 201
        )


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"firstName": "A", "gender": "other"}, "/data/attributes/gender"),
        ({"firstName": "A", "birthday": "1990-02-30"}, "/data/attributes/birthday"),
        ({"firstName": "A", "birthday": "12/01/1990"}, "/data/attributes/birthday"),
        (
            {"firstName": "A", "emails": [{"email": "not-an-email"}]},
            "/data/attributes/emails/0/email",
        ),
        (
            {"firstName": "A", "emails": [{"email": "a@b.c"}, {"email": "A@b.c"}]},
            "/data/attributes/emails/1/email",
        ),
        ({"firstName": "A", "emails": "a@b.c"}, "/data/attributes/emails"),
        ({"firstName": "A", "phones": [{"number": "1"}]}, "/data/attributes/phones/0"),
        ({"firstName": 42}, "/data/attributes/firstName"),
        ({"firstName": "x" * 256}, "/data/attributes/firstName"),
        ({"firstName": "A", "shoeSize": 42}, "/data/attributes/shoeSize"),
    ],
)
def test_contact_attribute_values(api, attributes, pointer):
    assert (
        _pointer(
            api.post("/contacts", json={"data": {"type": "contacts", "attributes": attributes}})
        )
        == pointer
    )


def test_enum_values_dates_and_numbers_are_checked(api):
    body = {
        "data": {
            "type": "tasks",
            "attributes": {"subject": "S"},
            "relationships": {**TASK_ENUMS, "status": ref("taskstatuses", "done")},
        }
    }
    assert _pointer(api.post("/tasks", json=body)) == "/data/relationships/status/data/id"
    body = {
        "data": {
            "type": "tasks",
            "attributes": {"subject": "S"},
            "relationships": {**TASK_ENUMS, "status": ref("taskpriorities", "high")},
        }
    }
    assert _pointer(api.post("/tasks", json=body)) == "/data/relationships/status/data/type"
    body = {
        "data": {
            "type": "tasks",
            "attributes": {"subject": "S", "dueDate": "tomorrow"},
            "relationships": TASK_ENUMS,
        }
    }
    assert _pointer(api.post("/tasks", json=body)) == "/data/attributes/dueDate"
    status = {"status": ref("opportunitystatuses", "won")}
    for attributes, pointer in (
        ({"name": "O", "probability": 1.5}, "/data/attributes/probability"),
        ({"name": "O", "budgetAmountValue": "lots"}, "/data/attributes/budgetAmountValue"),
        ({"name": "O", "budgetAmountCurrency": "dollars"}, "/data/attributes/budgetAmountCurrency"),
        ({"name": "O", "closeDate": "2026-13-01"}, "/data/attributes/closeDate"),
    ):
        body = {
            "data": {"type": "opportunities", "attributes": attributes, "relationships": status}
        }
        assert _pointer(api.post("/opportunities", json=body)) == pointer
    body = {
        "data": {
            "type": "calendarevents",
            "attributes": {
                "title": "E",
                "start": "2026-12-01T10:00:00Z",
                "end": "2026-12-01T11:00:00Z",
                "allDay": "yes",
            },
        }
    }
    assert _pointer(api.post("/calendarevents", json=body)) == "/data/attributes/allDay"


def test_relationships_must_exist_and_be_known(api):
    body = {
        "data": {
            "type": "contacts",
            "attributes": {"firstName": "A"},
            "relationships": {"owner": ref("users", "99")},
        }
    }
    assert _pointer(api.post("/contacts", json=body)) == "/data/relationships/owner/data"
    body = {
        "data": {
            "type": "contacts",
            "attributes": {"firstName": "A"},
            "relationships": {"manager": ref("users", "1")},
        }
    }
    assert _pointer(api.post("/contacts", json=body)) == "/data/relationships/manager"
    body = {
        "data": {
            "type": "contacts",
            "attributes": {"firstName": "A"},
            "relationships": {"owner": {"type": "users", "id": "1"}},
        }
    }
    assert _pointer(api.post("/contacts", json=body)) == "/data/relationships/owner"


def test_patch_cannot_blank_a_required_field(api, devserver):
    lead = devserver.admin.create("leads", {"name": "L"})
    body = {"data": {"type": "leads", "id": lead, "attributes": {"name": None}}}
    assert _pointer(api.patch(f"/leads/{lead}", json=body)) == "/data/attributes/name"
    contact = devserver.admin.create("contacts", {"firstName": "A"})
    body = {"data": {"type": "contacts", "id": contact, "attributes": {"firstName": None}}}
    assert _pointer(api.patch(f"/contacts/{contact}", json=body)) == "/data/attributes/firstName"
    # nothing written
    assert devserver.admin.get("contacts", contact)["attributes"]["firstName"] == "A"


def test_included_addresses_are_validated(api, devserver):
    def post(included, listed):
        rels = {"addresses": {"data": [{"type": "contactaddresses", "id": i} for i in listed]}}
        return api.post(
            "/contacts",
            json={
                "data": {
                    "type": "contacts",
                    "attributes": {"firstName": "A"},
                    "relationships": rels,
                },
                "included": included,
            },
        )

    assert (
        _pointer(
            post([{"type": "contactaddresses", "id": "n1", "attributes": {"zip": "1"}}], ["n1"])
        )
        == "/included/0/attributes/zip"
    )
    assert _pointer(post([{"type": "contacts", "id": "n1"}], ["n1"])) == "/included/0/type"
    us = {"country": {"data": {"type": "countries", "id": "US"}}}
    assert (
        _pointer(
            post(
                [
                    {
                        "type": "contactaddresses",
                        "id": "n1",
                        "attributes": {"city": "X"},
                        "relationships": us,
                    }
                ],
                [],
            )
        )
        == "/included/0"
    )
    assert _pointer(post([], ["n9"])) == "/data/relationships/addresses/data/0"
    types = {**us, "types": {"data": [{"type": "addresstypes", "id": "home"}]}}
    assert (
        _pointer(post([{"type": "contactaddresses", "id": "n1", "relationships": types}], ["n1"]))
        == "/included/0/relationships/types/data/0/id"
    )
    other = devserver.admin.create("contacts", {"firstName": "B", "addresses": [{"city": "Oslo"}]})
    foreign = devserver.admin.get("contacts", other)["addresses"][0]["id"]
    included = [
        {
            "type": "contactaddresses",
            "id": foreign,
            "meta": {"update": True},
            "attributes": {"city": "Stolen"},
        }
    ]
    assert _pointer(post(included, [foreign])) == "/included/0/id"
    assert devserver.admin.count("contacts") == 1  # nothing half-written
    body = {"data": {"type": "tasks", "attributes": {"subject": "S"}}, "included": []}
    assert _pointer(api.post("/tasks", json=body)) == "/included"


@pytest.mark.parametrize(
    ("content", "pointer"),
    [
        (b"{not json", "/"),
        (b"[1, 2]", "/"),
        (b'{"data": "x"}', "/data"),
        (b'{"data": {"type": "tasks", "attributes": {"subject": "S"}}}', "/data/type"),
        (b'{"data": {"attributes": {"firstName": "A"}}}', "/data/type"),
        (
            b'{"data": {"type": "contacts", "id": "5", "attributes": {"firstName": "A"}}}',
            "/data/id",
        ),
        (b'{"data": {"type": "contacts", "attributes": ["firstName"]}}', "/data/attributes"),
        (b'{"data": {"type": "contacts", "attributes": {"firstName": "A"}}, "extra": 1}', "/extra"),
        (b"\xff\xfe garbage", "/"),
    ],
)
def test_malformed_bodies_are_400(api, content, pointer):
    assert _pointer(api.post("/contacts", content=content)) == pointer


def test_patch_id_mismatch_and_wrong_content_type(api, devserver):
    contact = devserver.admin.create("contacts", {"firstName": "A"})
    body = {"data": {"type": "contacts", "id": "999", "attributes": {"firstName": "B"}}}
    assert _pointer(api.patch(f"/contacts/{contact}", json=body)) == "/data/id"
    body = {"data": {"type": "contacts", "attributes": {"firstName": "B"}}}
    assert _pointer(api.patch(f"/contacts/{contact}", json=body)) == "/data/id"
    response = api.post(
        "/contacts",
        content=b'{"data": {"type": "contacts", "attributes": {"firstName": "A"}}}',
        headers={"Content-Type": "text/plain"},
    )
    assert "Content-Type" in error_of(response, 400)["detail"]
    response = api.post(
        "/contacts",
        content=b"",
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    error_of(response, 400)


def test_read_only_timestamps_in_a_write_are_ignored(api):
    body = {
        "data": {
            "type": "tasks",
            "attributes": {
                "subject": "S",
                "createdAt": "2000-01-01T00:00:00Z",
                "updatedAt": "bogus",
            },
            "relationships": TASK_ENUMS,
        }
    }
    response = api.post("/tasks", json=body)
    assert response.status_code == 201
    assert response.json()["data"]["attributes"]["createdAt"] > "2020"


def _address_error(api, attributes, relationships):
    item = {
        "type": "contactaddresses",
        "id": "n1",
        "attributes": attributes,
        "relationships": relationships,
    }
    rels = {"addresses": {"data": [{"type": "contactaddresses", "id": "n1"}]}}
    response = api.post(
        "/contacts",
        json={
            "data": {"type": "contacts", "attributes": {"firstName": "A"}, "relationships": rels},
            "included": [item],
        },
    )
    return error_of(response, 400)


def test_addresses_as_oro_checks_them(api, devserver):
    """ORO-API.md §6: country is a required relationship; region a relationship that must
    belong to it; customRegion only where the country has no regions; no such attributes as
    country/region (Oro: "extra fields constraint")."""
    country = {"country": {"data": {"type": "countries", "id": "US"}}}
    error = _address_error(api, {"city": "Boston"}, {})
    assert (error["title"], error["source"]["pointer"]) == (
        "not blank constraint",
        "/included/0/relationships/country/data",
    )
    error = _address_error(api, {"city": "Boston", "country": "US"}, country)
    assert (
        error["title"] == "extra fields constraint"
        and error["detail"] == 'This form should not contain extra fields: "country".'
    )
    error = _address_error(
        api,
        {"city": "Boston"},
        {**country, "region": {"data": {"type": "regions", "id": "MX-GUA"}}},
    )
    assert (error["title"], error["detail"]) == (
        "valid region constraint",
        "Region Guanajuato does not belong to country United States",
    )
    error = _address_error(api, {"city": "Boston", "customRegion": "Somewhere"}, country)
    assert (error["title"], error["detail"]) == (
        "region text constraint",
        "Custom region can be used only for countries without predefined regions.",
    )
    error = _address_error(
        api, {"city": "X"}, {"country": {"data": {"type": "countries", "id": "XX"}}}
    )
    assert error["source"]["pointer"] == "/included/0/relationships/country/data/id"
    assert devserver.admin.count("contacts") == 0
    # Isle of Man has no regions: a free-text region is fine there.
    isle = {"country": {"data": {"type": "countries", "id": "IM"}}}
    item = {
        "type": "contactaddresses",
        "id": "n1",
        "attributes": {"city": "Douglas", "customRegion": "Onchan"},
        "relationships": isle,
    }
    rels = {"addresses": {"data": [{"type": "contactaddresses", "id": "n1"}]}}
    response = api.post(
        "/contacts",
        json={
            "data": {"type": "contacts", "attributes": {"firstName": "A"}, "relationships": rels},
            "included": [item],
        },
    )
    assert response.status_code == 201, response.text
    (address,) = response.json()["included"]
    assert address["attributes"]["customRegion"] == "Onchan"
    assert address["relationships"]["country"]["data"] == {"type": "countries", "id": "IM"}


def test_countries_and_regions_are_served_as_oro_does(api):
    country = api.get("/countries/US").json()["data"]
    assert country["attributes"] == {"iso3Code": "USA", "name": "United States"}
    assert {"type": "regions", "id": "US-CA"} in country["relationships"]["regions"]["data"]
    region = api.get("/regions/GB-ABD").json()["data"]
    assert region == {
        "type": "regions",
        "id": "GB-ABD",
        "attributes": {"code": "ABD", "name": "Aberdeenshire"},
        "relationships": {"country": {"data": {"type": "countries", "id": "GB"}}},
    }
    page = api.get("/regions", params={"filter[country]": "DE", "page[size]": "100"}).json()
    assert len(page["data"]) == 16 and "next" not in page["links"]
    first = api.get("/countries").json()
    assert len(first["data"]) == 10 and "next" in first["links"]  # Oro's default page size
    assert api.get("/countries/XX").status_code == 404
    assert api.delete("/countries/US").status_code == 405
