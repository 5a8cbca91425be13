"""Parsing real Oro documents (fixtures transcribed from Oro's own tests) and ordering keys."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import pytest

from tray_client.crm.jsonapi import (
    Cursor,
    NotJsonApi,
    Ref,
    decode_json,
    document_body,
    id_key,
    parse_document,
    parse_errors,
    position,
)

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> object:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_oro_contact_parses_with_all_its_extra_fields() -> None:
    doc = parse_document(load("get_contact"))
    contact = doc.data
    assert not isinstance(contact, list) and contact is not None
    assert (contact.type, contact.id) == ("contacts", "1")
    assert contact.attributes["firstName"] == "Contact 1"
    assert contact.attributes["birthday"] == "1973-03-07"
    assert [e["email"] for e in contact.attributes["emails"]] == [
        "contact1_1@example.com", "contact1_2@example.com"]
    assert contact.attributes["primaryPhone"] == "5556661112"
    assert contact.attributes["skype"] is None  # attributes we do not use are kept
    assert contact.updated_at == "2017-03-02T08:30:12Z"
    assert contact.relationships["owner"] == Ref("users", "1")
    assert contact.related_id("owner") == "1"
    assert contact.relationships["assignedTo"] is None
    assert contact.relationships["addresses"] == []
    assert contact.related("addresses") == []
    assert contact.related_id("picture") is None


def test_oro_task_parses_enum_relationships() -> None:
    task = parse_document(load("get_task")).data
    assert task is not None and not isinstance(task, list)
    assert task.attributes["subject"] == "Meet James"
    assert task.attributes["dueDate"] == "2017-04-10T09:00:00Z"
    assert task.related_id("taskPriority") == "normal"
    assert task.related_id("status") == "open"
    assert task.relationships["activityTargets"] == [Ref("contacts", "1")]


def test_oro_task_collection_parses_in_order() -> None:
    tasks = parse_document(load("cget_task")).data
    assert isinstance(tasks, list)
    assert [t.id for t in tasks] == ["1", "2", "3"]
    assert tasks[1].attributes["description"] is None
    assert tasks[1].relationships["activityTargets"] == [Ref("contacts", "1"), Ref("contacts", "2")]
    assert tasks[2].relationships["activityTargets"] == []


def test_oro_contact_addresses_parse_with_types_and_custom_fields() -> None:
    addresses = parse_document(load("cget_contact_address")).data
    assert isinstance(addresses, list) and len(addresses) == 5
    billing = addresses[0]
    assert billing.relationships["types"] == [Ref("addresstypes", "billing")]
    assert billing.relationships["country"] == Ref("countries", "US")
    assert addresses[2].attributes["customField1"] == "val1"
    assert addresses[4].attributes["street"] is None


def test_included_resources_are_reachable_through_relationships() -> None:
    body = {"data": {"type": "contacts", "id": "12", "attributes": {"firstName": "Ann"},
                     "relationships": {"addresses": {"data": [
                         {"type": "contactaddresses", "id": "7"},
                         {"type": "contactaddresses", "id": "8"}]}}},
            "included": [{"type": "contactaddresses", "id": "7", "attributes": {"city": "Paris"},
                          "relationships": {"types": {"data": [
                              {"type": "addresstypes", "id": "billing"}]}}}]}
    contact = parse_document(body).data
    assert contact is not None and not isinstance(contact, list)
    related = contact.related("addresses")
    assert [a.attributes["city"] for a in related] == ["Paris"]  # id 8 not included: skipped
    assert related[0].relationships["types"] == [Ref("addresstypes", "billing")]


def test_a_parsed_page_is_freed_without_the_cyclic_collector() -> None:
    # A sync pauses the cyclic garbage collector: a page whose resources point back at the
    # dict that holds them is never freed then, and memory grows with every page read.
    body = {"data": [{"type": "contacts", "id": str(i), "relationships": {"addresses": {
        "data": [{"type": "contactaddresses", "id": str(i)}]}}} for i in range(3)],
            "included": [{"type": "contactaddresses", "id": str(i),
                          "attributes": {"city": "Paris"}} for i in range(3)]}
    gc.disable()
    try:
        doc = parse_document(body)
        assert isinstance(doc.data, list)
        assert doc.data[1].related("addresses")[0].attributes["city"] == "Paris"
        refs = [weakref.ref(r) for r in doc.data] + [weakref.ref(r) for r in
                                                      doc.included.values()]
        del doc
        assert all(ref() is None for ref in refs)
    finally:
        gc.enable()


@pytest.mark.parametrize("body", [b'{"data": [{"id": "1", "name": "Zo\\u00eb"}], "n": 1.5}',
                                  b'{"big": 123456789012345678901234567890}',
                                  b'{"x": NaN}', b'{"f": 1e400}', b'"\\ud800"',
                                  b'[]', b'null'])
def test_decode_json_gives_what_the_standard_library_gives(body: bytes) -> None:
    assert repr(decode_json(body)) == repr(json.loads(body))


def test_decode_json_refuses_a_cut_off_body_like_the_standard_library() -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        decode_json(b'{"data": [{"id": "1"')
    assert info.value.doc == '{"data": [{"id": "1"'


def test_oro_error_document_gives_field_errors() -> None:
    errors = parse_errors(load("error_validation"))
    assert [e.field for e in errors] == ["subject", None, "filter[id]"]
    assert errors[0].title == "not blank constraint"
    assert errors[0].detail == "This value should not be blank."
    assert errors[0].pointer == "/data/attributes/subject"
    assert errors[2].parameter == "filter[id]"


@pytest.mark.parametrize("body", [
    "<html>login</html>", None, [], {"hello": "world"}, {"data": {"id": "1"}},
    {"data": [{"type": "x", "relationships": {"a": "not an object"}}]},
])
def test_non_jsonapi_bodies_are_rejected(body: object) -> None:
    with pytest.raises(NotJsonApi):
        parse_document(body)


def test_links_next_as_string_or_link_object() -> None:
    assert parse_document({"data": [], "links": {"next": "http://x/2"}}).next_link == "http://x/2"
    assert parse_document({"data": [], "links": {"next": {"href": "http://x/2"}}}).next_link
    assert parse_document({"data": [], "links": {"self": "http://x/1"}}).next_link is None


def test_document_body_shapes() -> None:
    assert document_body("tasks", {"subject": "a"}) == {
        "data": {"type": "tasks", "attributes": {"subject": "a"}}}
    body = document_body("contacts", {"firstName": "A"},
                         {"addresses": {"data": [{"type": "contactaddresses", "id": "new1"}]}},
                         [{"type": "contactaddresses", "id": "new1", "attributes": {"city": "X"}}],
                         id="5")
    assert body["data"]["id"] == "5" and body["included"][0]["id"] == "new1"


def test_ids_compare_numerically_and_empty_id_first() -> None:
    assert sorted(["10", "9", "100", "", "abc"], key=id_key) == ["", "9", "10", "100", "abc"]
    assert position("2026-01-01T00:00:00Z", "9") < position("2026-01-01T00:00:00Z", "10")
    assert position("2026-01-01T00:00:00+00:00", "10") < position("2026-01-01T01:00:00+01:00", "11")
    assert Cursor("2026-01-01T00:00:00Z", "").id == ""


# -- the plain-shape fast path gives what the general path gives -------------------------------

def _checked_document(body: dict) -> tuple[object, dict]:
    """``parse_document``'s result built with the general path only."""
    from tray_client.crm import jsonapi

    included = {}
    for index, obj in enumerate(body.get("included") or []):
        res = jsonapi._checked_resource(obj, f"included[{index}]")
        included[(res.type, res.id)] = res
    raw = body.get("data")
    if isinstance(raw, list):
        data = [jsonapi._checked_resource(obj, f"data[{i}]") for i, obj in enumerate(raw)]
        for res in data:
            res.included = included
    else:
        data = jsonapi._checked_resource(raw, "data")
        data.included = included
    return data, included


IRREGULAR = [
    {"type": "contacts", "id": 12, "attributes": {"firstName": "Ann"}},       # a numeric id
    {"type": "contacts"},                                                      # no id at all
    {"type": "contacts", "id": "3", "attributes": None, "relationships": None, "meta": None},
    {"type": "contacts", "id": "4", "attributes": [], "meta": {"title": "Four"}},
    {"type": "contacts", "id": "5", "relationships": {
        "owner": {"data": {"type": "users", "id": 1}},                        # numeric id
        "tags": {"data": []}, "assignedTo": {"data": None}, "picture": {}}},
    {"type": "contacts", "id": "6", "relationships": {
        "accounts": {"data": [{"type": "accounts", "id": "1"}, {"type": "accounts", "id": 2}]}}},
    {"type": 7, "id": "7"},                                                    # a numeric type
    {"type": "contacts", "id": None},                                          # a null id
]


@pytest.mark.parametrize("name", ["get_contact", "cget_task", "cget_contact_address",
                                  "get_task"])
def test_fast_path_parses_oro_fixtures_as_the_general_path(name: str) -> None:
    body = load(name)
    assert isinstance(body, dict)
    assert parse_document(body).data == _checked_document(body)[0]


def test_fast_path_and_general_path_agree_on_irregular_resources() -> None:
    plain = {"type": "contacts", "id": "1", "attributes": {"lastName": "Plain"},
             "relationships": {"owner": {"data": {"type": "users", "id": "1"}},
                               "addresses": {"data": [{"type": "contactaddresses", "id": "9"}]}}}
    body = {"data": [plain, *IRREGULAR],
            "included": [{"type": "contactaddresses", "id": "9", "attributes": {"city": "Rome"},
                          "relationships": {"owner": {"data": {"type": "contacts", "id": 1}}}},
                         {"type": "contactaddresses", "id": "10"}]}
    doc = parse_document(body)
    data, included = _checked_document(body)
    assert doc.data == data and doc.included == included
    assert isinstance(doc.data, list)
    assert [r.id for r in doc.data] == ["1", "12", "", "3", "4", "5", "6", "7", "None"]
    assert all(r.included is doc.included for r in doc.data)
    assert doc.data[0].related("addresses")[0].relationships["owner"] == Ref("contacts", "1")


def test_plain_resources_take_the_fast_path_and_share_their_identifiers(monkeypatch) -> None:
    from tray_client.crm import jsonapi

    def refused(obj, where):
        raise AssertionError(f"general path taken for {where}")

    monkeypatch.setattr(jsonapi, "_checked_resource", refused)
    owner = {"owner": {"data": {"type": "users", "id": "1"}}}
    doc = parse_document({"data": [{"type": "contacts", "id": str(i), "relationships": owner}
                                   for i in range(3)]})
    assert isinstance(doc.data, list)
    assert doc.data[0].relationships["owner"] is doc.data[2].relationships["owner"]


def test_an_irregular_resource_is_refused_with_where_it_was() -> None:
    body = {"data": [{"type": "x", "id": "1"},
                     {"type": "x", "id": "2", "relationships": {"a": {"data": {"id": "3"}}}}]}
    with pytest.raises(NotJsonApi, match=r"data\[1\]\.relationships\.a"):
        parse_document(body)


# -- decode_document: decoded straight into resources, or the general path --------------------

def _both(content: bytes) -> tuple[object, object]:
    """What decode_document gives and what parse_document(decode_json()) gives: a Document,
    or the type and message of what it raised."""
    from tray_client.crm.jsonapi import decode_document

    def run(parse):
        try:
            doc = parse(content)
        except (ValueError, NotJsonApi) as exc:
            return type(exc), str(exc)
        return doc.data, doc.included, doc.links, doc.meta

    return run(decode_document), run(lambda c: parse_document(decode_json(c)))


@pytest.mark.parametrize("name", ["get_contact", "cget_task", "cget_contact_address",
                                  "get_task", "error_validation"])
def test_decode_document_gives_what_the_general_path_gives_for_oro_fixtures(name) -> None:
    typed, general = _both((FIXTURES / f"{name}.json").read_bytes())
    assert typed == general


@pytest.mark.parametrize("body", [
    {"data": IRREGULAR},
    *({"data": [resource]} for resource in IRREGULAR),
    {"data": [{"type": "contacts", "id": "1", "attributes": {"n": 1.5, "big": 2 ** 70}}],
     "included": [{"type": "contactaddresses", "id": "2", "meta": {"m": [1]}}],
     "links": {"next": "http://x/2"}, "meta": {"totalCount": 3}},
    {"data": None}, {"data": []}, {"meta": None}, {"errors": []}, {"data": [], "links": []},
    {"data": [], "meta": "text"}, {"data": [], "included": {}}, {"data": [], "included": None},
    {"data": {"type": "contacts", "id": "1", "relationships": {"owner": None}}},
    {"data": {"id": "1"}}, {"hello": "world"}, {"data": {}}, [], "text", None,
    {"data": [{"type": "x", "id": "1", "attributes": {"a": 1}, "attributes2": {}}],
     "included": [{"type": "y", "id": "1", "relationships": {"r": {"data": [],
                                                                   "links": {}}}}]},
])
def test_decode_document_gives_what_the_general_path_gives(body) -> None:
    typed, general = _both(json.dumps(body).encode())
    assert typed == general


@pytest.mark.parametrize("content", [b'{"data": [], "meta": {"x": NaN}}', b'{"data": [',
                                     b'<html>login</html>', b'', b'{"data": [], "data": null}'])
def test_decode_document_on_bodies_msgspec_refuses(content: bytes) -> None:
    typed, general = _both(content)
    assert typed == general


def test_decode_document_decodes_plain_pages_without_the_general_path(monkeypatch) -> None:
    from tray_client.crm import jsonapi

    def refused(*args):
        raise AssertionError("general path taken")

    monkeypatch.setattr(jsonapi, "parse_document", refused)
    content = (FIXTURES / "cget_contact_address.json").read_bytes()
    doc = jsonapi.decode_document(content)
    assert isinstance(doc.data, list) and doc.data
    assert all(isinstance(r, jsonapi.Resource) for r in doc.data)
