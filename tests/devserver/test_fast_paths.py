"""The reference server's fast paths answer exactly what its general paths answer.

Pages are serialised by ``records._serialize_rows`` (per-type work done once, stored JSON
decoded by msgspec) and answers encoded by msgspec (``jsonapi.encode_document``); single
records keep the general ``Records._serialize`` and the standard library's ``json``. These
tests compare the two on the demo data of every type, on odd stored values, and on the wire
(pages against single GETs, body bytes against ``json.dumps``), errors included.
"""

from __future__ import annotations

import functools
import json
import math

import msgspec
import pytest

from tray_client.devserver.database import Database
from tray_client.devserver.demo import load_demo
from tray_client.devserver.jsonapi import decode_stored, encode_document
from tray_client.devserver.records import ADDRESS_TYPE, Records, _Ref, _serialize_rows
from tray_client.devserver.schema import FLOAT_TYPES, RESOURCE_TYPES

from .wsse import Api


def _json_bytes(document: object) -> bytes:
    """What the server wrote before msgspec: the standard library's bytes."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


ODD_VALUES = [
    "plain",
    "\x00\x01\x1f\x7f control",
    "a\nb\tc\r\x08\x0c",
    "\u2028\u2029 line separators",
    "é ü 日本 😀",
    "</script> \\ \" /",
    "",
    0,
    -17,
    2**63,
    2**70,
    -(2**65),
    True,
    False,
    None,
    [],
    {},
    {"nested": [{"email": "a@example.com", "b": [1, "x", None]}]},
]


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_encode_document_writes_the_bytes_json_writes(value):
    document = {"data": {"type": "contacts", "id": "1", "attributes": {"x": value}}}
    assert encode_document(document, floats=False) == _json_bytes(document)
    assert encode_document(document) == _json_bytes(document)


@pytest.mark.parametrize("value", [0.1, 0.5, 1.0, -0.0, 1e16, 1e-7, 1e300, math.inf, math.nan])
def test_a_document_that_may_hold_floats_is_written_by_json(value):
    document = {"data": {"attributes": {"probability": value}}}
    assert encode_document(document) == _json_bytes(document)


def test_a_lone_surrogate_fails_as_the_json_path_fails():
    document = {"data": {"attributes": {"firstName": "\ud800"}}}
    with pytest.raises(UnicodeEncodeError):
        _json_bytes(document)
    with pytest.raises(UnicodeEncodeError):
        encode_document(document, floats=False)


def test_a_lone_surrogate_in_a_struct_fails_as_in_a_dict():
    """A page's resources are Structs: the fallback writes them as their dicts, so a lone
    surrogate fails there as it does in a dict (and a plain Struct is written alike)."""
    class Name(msgspec.Struct):
        firstName: str

    with pytest.raises(UnicodeEncodeError):
        encode_document({"data": [Name("\ud800")]}, floats=False)
    assert encode_document({"data": [Name("Zoë")]}) == _json_bytes(
        {"data": [{"firstName": "Zoë"}]})


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [1.5, {"c": "\\u00e9\\u2028"}], "d": null, "e": true}',
        '{"a": 1, "a": 2}',
        '{"big": 123456789012345678901234567890, "neg": -0}',
        '{"nan": NaN, "inf": Infinity}',
        '{"huge": 1e400}',
        '{"lone": "\\ud800"}',
        '"\\ud83d\\ude00"',
        "[]",
    ],
)
def test_decode_stored_gives_what_json_loads_gives(text):
    expected, got = json.loads(text), decode_stored(text)
    assert repr(got) == repr(expected)  # repr: nan != nan, and -0.0 against 0 shows


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """A database with the demo data of every type, plus rows with odd stored JSON."""
    db = Database(tmp_path_factory.mktemp("fast") / "crm.db")
    db.frozen_time = "2026-11-01T10:00:00Z"
    load_demo(db, 120)
    with db.write() as conn:
        # Values the API never stores but a hand-edited database may hold: the fast path
        # must fall back to what json.loads makes of them.
        conn.execute(
            "INSERT INTO contacts (attributes, relationships, owner, created_at, updated_at) "
            "VALUES (?, ?, '1', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')",
            ('{"firstName": "Odd", "lastName": "\\u00e9\\u2028", "extra": NaN, "more": 1e400}',
             '{"owner": {"type": "users", "id": "1"}, "unknown": 1}'),
        )
        conn.execute(
            "INSERT INTO contacts (attributes, relationships, owner, created_at, updated_at) "
            "VALUES (?, '{}', '1', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')",
            ('{"firstName": "Lone", "lastName": "\\ud800"}',),
        )
        conn.execute(
            "INSERT INTO contacts (attributes, relationships, owner, created_at, updated_at) "
            "VALUES ('{}', '{}', NULL, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')"
        )
    yield db
    db.close()


def _encodable(resource: dict) -> bool:
    try:
        _json_bytes(resource)
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("type_name", sorted(RESOURCE_TYPES))
def test_a_page_of_rows_serialises_as_each_row_alone(demo_db, type_name):
    records = Records(demo_db)
    with demo_db.read() as conn:
        rows = conn.execute(f"SELECT * FROM {type_name} ORDER BY id").fetchall()
        ids = [row[0] for row in rows]
        addresses = records._addresses(conn, ids) if type_name == "contacts" else {}
        linked = records._linked(conn, type_name, ids)
        # The Structs' page takes its addresses as Structs too (Records.page does).
        struct_addresses = (
            records._addresses(conn, ids, serialize=functools.partial(_serialize_rows,
                                                                      structs=True))
            if type_name == "contacts"
            else {}
        )
    assert rows or type_name in ("cases",), f"no {type_name} in the demo data"
    rtype = RESOURCE_TYPES[type_name]
    general = [Records._serialize(rtype, row, addresses, linked) for row in rows]
    fast = _serialize_rows(rtype, rows, addresses, linked)
    assert repr(fast) == repr(general)  # repr: dict order and nan too
    structs = _serialize_rows(rtype, rows, struct_addresses, linked, structs=True)
    assert repr(msgspec.to_builtins(structs)) == repr(general)
    # The bytes of a page, but for the row with a lone surrogate: neither encoder writes it
    # (test_a_lone_surrogate_fails_as_the_json_path_fails).
    keep = [i for i, resource in enumerate(general) if _encodable(resource)]
    assert len(keep) >= len(general) - 1
    expected = _json_bytes({"data": [general[i] for i in keep]})
    if type_name not in FLOAT_TYPES:
        structs_document = {"data": [structs[i] for i in keep]}
        assert encode_document(structs_document, floats=False) == expected
    assert encode_document({"data": [fast[i] for i in keep]}, floats=type_name in FLOAT_TYPES) \
        == expected
    if type_name == "contacts":
        assert any(addresses.values()) and any(linked.get("accounts", {}).values())


def test_a_page_of_structs_is_never_tracked_by_the_collector(demo_db):
    import gc

    records = Records(demo_db)
    with demo_db.read() as conn:
        rows = conn.execute("SELECT * FROM contacts ORDER BY id LIMIT 20").fetchall()
        ids = [row[0] for row in rows]
        addresses = records._addresses(
            conn, ids, serialize=functools.partial(_serialize_rows, structs=True)
        )
        linked = records._linked(conn, "contacts", ids)
    resources = _serialize_rows(RESOURCE_TYPES["contacts"], rows, addresses, linked,
                                structs=True)
    for resource in [*resources, *(a for found in addresses.values() for a in found)]:
        relationships = resource.relationships
        assert not gc.is_tracked(resource) and not gc.is_tracked(resource.attributes)
        assert not gc.is_tracked(relationships)
        for name in relationships.__struct_fields__:
            data = getattr(relationships, name)
            assert not gc.is_tracked(data)
            for ref in data.data if isinstance(data.data, list) else [data.data]:
                assert ref is None or (isinstance(ref, _Ref) and not gc.is_tracked(ref))


def test_addresses_and_linked_ids_come_in_id_order(tmp_path):
    # The page's queries read them in index order (owner, id): each record's list must
    # still be in id order, as one query per record sorted by id gives it.
    db = Database(tmp_path / "order.db")
    load_demo(db, 60)
    with db.write() as conn:
        owners = ["1", "10", "2", "1", "10", "1"]  # later ids, owners out of order as text
        conn.executemany(
            "INSERT INTO contactaddresses (attributes, relationships, owner, created_at, "
            "updated_at) VALUES (?, ?, ?, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            [('{"city": "Late"}', json.dumps({"owner": {"type": "contacts", "id": owner}}),
              owner) for owner in owners],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO account_contacts (account_id, contact_id) VALUES (?, ?)",
            [(account, contact) for account in (3, 1, 2) for contact in (2, 1, 10)],
        )
    records = Records(db)
    with db.read() as conn:
        contacts = [row[0] for row in conn.execute("SELECT id FROM contacts ORDER BY id DESC")]
        accounts = [row[0] for row in conn.execute("SELECT id FROM accounts")]
        for serialize in (None, functools.partial(_serialize_rows, structs=True)):
            found = records._addresses(conn, contacts, serialize=serialize)
            for contact in contacts:
                expected = [str(row[0]) for row in conn.execute(
                    "SELECT id FROM contactaddresses WHERE owner=? ORDER BY id", (str(contact),))]
                got = [a["id"] if isinstance(a, dict) else a.id for a in found.get(contact, [])]
                assert got == expected
        assert len(found[1]) >= 4 and len(found[10]) >= 3
        by_contact = records._linked(conn, "contacts", contacts)["accounts"]
        by_account = records._linked(conn, "accounts", accounts)["contacts"]
        for own, other, ids, got in [("contact_id", "account_id", contacts, by_contact),
                                     ("account_id", "contact_id", accounts, by_account)]:
            for key in ids:
                expected = [str(row[0]) for row in conn.execute(
                    f"SELECT {other} FROM account_contacts WHERE {own}=? ORDER BY {other}",
                    (key,))]
                assert got.get(key, []) == expected
        assert by_contact[1] == ["1", "2", "3"] or len(by_contact[1]) > 3
    db.close()


def _row(record_id: int, attributes: str, relationships: str, owner: str | None = "1") -> tuple:
    """A stored row as ``SELECT *`` reads it."""
    return (record_id, attributes, relationships, owner, None, None, "2026-01-01T00:00:00Z",
            "2026-01-02T00:00:00Z")


def _both_ways(rtype, row, addresses=(), linked=None):
    """``Records._serialize`` of the row against ``_serialize_rows(structs=True)`` of it:
    the same builtins and the same answer bytes (``encode_document`` as the server calls it
    for types without floats; a non-finite float that a hand-edited row may hold is
    written as msgspec writes it either way), or the same exception. Returns the Structs
    and the bytes (None where no encoder writes them: a lone surrogate, which fails the
    request either way). ``addresses``: the contact's address rows."""
    linked = linked or {}
    general_addresses = {row[0]: [Records._serialize(ADDRESS_TYPE, a, {}) for a in addresses]}
    struct_addresses = {row[0]: _serialize_rows(ADDRESS_TYPE, list(addresses), {}, {},
                                                structs=True)}

    def run(serialize):
        try:
            resource = serialize()
        except Exception as exc:  # the same failure either way
            return type(exc), None, None
        try:
            body = encode_document({"data": resource}, floats=False)
        except (UnicodeEncodeError, TypeError):  # json's fallback takes no Structs
            body = None
        return resource, body

    general = run(lambda: Records._serialize(rtype, row, general_addresses, linked))
    fast = run(lambda: _serialize_rows(rtype, [row], struct_addresses, linked, structs=True)[0])
    if len(general) == 3 or len(fast) == 3:
        assert general == fast
        return general[0], None
    assert repr(msgspec.to_builtins(fast[0])) == repr(general[0])
    assert fast[1] == general[1]
    return fast[0], general[1]


OWNER = {"type": "contacts", "id": "1"}
PLAIN_ADDRESS_RELATIONSHIPS = json.dumps(
    {"owner": OWNER, "types": [{"type": "addresstypes", "id": "billing"}],
     "country": {"type": "countries", "id": "DE"}, "region": {"type": "regions", "id": "DE-BE"}}
)
SWAPPED_REF = json.dumps({"owner": {"id": "1", "type": "contacts"}})  # a ref's keys reversed
# Stored relationships of an address (owner, types, country, region) as the API writes them
# and as a hand-edited database may hold them.
ODD_ADDRESS_RELATIONSHIPS = [
    PLAIN_ADDRESS_RELATIONSHIPS,
    json.dumps({"owner": OWNER, "types": [], "country": None, "region": None}),
    "{}",
    json.dumps({"types": None}),
    json.dumps({"region": {"type": "regions", "id": "DE-BE"}, "owner": OWNER}),  # key order
    SWAPPED_REF,
    json.dumps({"owner": OWNER, "types": [{"type": "addresstypes", "id": "billing"},
                                          {"id": "shipping", "type": "addresstypes"}]}),
    json.dumps({"owner": {"type": "contacts", "id": "1", "meta": {"x": 1}}}),
    json.dumps({"owner": {"type": "contacts", "id": "1", "meta": 1}}),
    json.dumps({"type": "x", "owner": {"id": "1", "type": "contacts"}}),  # a top-level "type"
    json.dumps({"owner": {"id": "1", "type": "contacts"}, "unknown": {"type": "x"}}),
    json.dumps({"owner": OWNER, "unknown": {"type": "x", "id": "1"}}),
    json.dumps({"owner": OWNER, "unknown": None}),
    json.dumps({"owner": {"type": "contacts", "id": 1}}),  # a number id
    json.dumps({"owner": {"type": "contacts"}}),
    json.dumps({"owner": [OWNER]}),  # a to-one as a list
    json.dumps({"types": {"type": "addresstypes", "id": "billing"}}),  # a to-many as one
    json.dumps({"types": [None, "x", 3]}),
    json.dumps({"country": "DE", "region": 7, "owner": True}),
    json.dumps({"owner": {"type": "contacts", "id": "{\"type\": 1}"}}),
    json.dumps({"owner": {"type": "contacts", "id": "a{\"type"}}),
    json.dumps({"owner": {"type": "kontakte", "id": "é ü 日本 😀 \u2028"}}),
    json.dumps({"owner": {"type": "kontakte", "id": "é ü 日本 😀"}}, ensure_ascii=False),
    json.dumps({"owner": {"type": "contacts", "id": "\ud800"}}),  # a lone surrogate
    json.dumps({"owner": {"type": "contacts", "id": "</script>\"\\"}}),
    '{"owner":{"type":"contacts","id":"1"},"types":[]}',  # compact
    '{ "owner" : { "id" : "1" , "type" : "contacts" } }',
    '{"owner": { "id": "1", "type": "contacts"}}',
    r'{"owner": {"\u0069d": "1", "type": "contacts"}}',  # an escaped key
    r'{"owner": {"typ\u0065": "contacts", "id": "1"}}',
    r'{"owner": {"type": "\u0063ontacts", "id": "\u0031"}}',
    '{"owner": {"type": "contacts", "id": "1", "type": "users"}}',  # a repeated key
    '{"owner": {"id": "1", "type": "contacts", "id": "2"}}',
    '{"owner": {"type": "a", "id": "1"}, "owner": {"id": "2", "type": "b"}}',
    '{"owner": {"type": "contacts", "id": "1"}, "region": NaN}',
    '{"owner": {"type": "contacts", "id": "1"}, "region": 1e400}',
    '{"owner": 123456789012345678901234567890}',
    "[]",
    "null",
    '"owner"',
    "not json",
]


@pytest.mark.parametrize("text", ODD_ADDRESS_RELATIONSHIPS)
def test_stored_relationships_serialise_as_the_general_path_reads_them(text):
    row = _row(7, '{"city": "Berlin"}', text)
    _both_ways(ADDRESS_TYPE, row)


@pytest.mark.parametrize("text", ODD_ADDRESS_RELATIONSHIPS)
def test_a_contacts_stored_and_derived_relationships_keep_their_order(text):
    # A contact: owner and assignedTo stored, addresses and accounts derived, after them;
    # an account: its linked contacts between two stored relationships.
    text = text.replace('"types"', '"assignedTo"').replace('"country"', '"addresses"')
    addresses = [_row(3, '{"city": "Köln"}', PLAIN_ADDRESS_RELATIONSHIPS),
                 _row(5, "{}", SWAPPED_REF)]
    for found in ([], addresses[:1], addresses):
        _both_ways(RESOURCE_TYPES["contacts"], _row(1, '{"firstName": "Ann"}', text), found,
                   {"accounts": {1: ["4", "2"]}})
    _both_ways(RESOURCE_TYPES["contacts"], _row(1, "{}", text), addresses, {})
    account_text = text.replace('"assignedTo"', '"defaultContact"')
    _both_ways(RESOURCE_TYPES["accounts"], _row(1, '{"name": "Acme"}', account_text), (),
               {"contacts": {1: ["9", "10"]}})


def test_the_plain_shape_is_decoded_into_refs_and_any_other_read_the_general_way():
    # So that the fast way is taken where it can be, and only there.
    resource, body = _both_ways(ADDRESS_TYPE, _row(7, "{}", PLAIN_ADDRESS_RELATIONSHIPS))
    assert isinstance(resource.relationships.owner.data, _Ref)
    assert isinstance(resource.relationships.types.data[0], _Ref)
    assert body.startswith(b'{"data":{"type":"contactaddresses","id":"7","attributes":{')
    assert b'"relationships":{"owner":{"data":{"type":"contacts","id":"1"}},"types":' in body
    resource, body = _both_ways(ADDRESS_TYPE, _row(7, "{}", SWAPPED_REF))
    assert resource.relationships.owner.data == {"id": "1", "type": "contacts"}
    assert b'"owner":{"data":{"id":"1","type":"contacts"}},"types":{"data":[]}' in body
    assert b'"country":{"data":null}' in body


ODD_CONTACT_ATTRIBUTES = [
    json.dumps({"firstName": "Ann", "emails": [{"email": "a@example.com"}],
                "phones": [{"phone": "+1 555"}, {"phone": "+1 556"}]}),
    json.dumps({"emails": [], "phones": None}),
    json.dumps({"emails": [{"email": "a@example.com", "primary": True}]}),
    json.dumps({"emails": [{}]}),
    json.dumps({"emails": [{"email": 1}]}),
    json.dumps({"emails": "a@example.com", "phones": {"phone": "1"}}),
    json.dumps({"emails": [None], "phones": [["1"]]}),
    json.dumps({"phones": [{"number": "1"}]}),
    '{"emails": [{"email": "a@example.com", "email": "b@example.com"}]}',
    r'{"emails": [{"\u0065mail": "\u00e9 \u65e5"}], "phones": [{"phone": "\u2028"}]}',
    '{"emails": [{"email": "é 日本 \u2028"}]}',
    json.dumps({"lastName": "é ü 日本 😀", "emails": [{"email": "ü@example.com"}]},
               ensure_ascii=False),
    json.dumps({"emails": [{"email": "\ud800"}]}),
    json.dumps({"firstName": "Ann", "createdAt": "1999", "updatedAt": None, "x": [1, {}]}),
    '{"firstName": "Ann", "emails": [{"email": "a@example.com"}], "x": NaN}',
    "[]",
    "not json",
]


@pytest.mark.parametrize("text", ODD_CONTACT_ATTRIBUTES)
def test_stored_attributes_serialise_as_the_general_path_reads_them(text):
    _both_ways(RESOURCE_TYPES["contacts"], _row(1, text, json.dumps({"owner": OWNER})))


@pytest.mark.parametrize("type_name", ["users", "calendars"])
def test_types_without_relationships_or_timestamps_serialise_alike(type_name):
    rtype = RESOURCE_TYPES[type_name]
    attributes = json.dumps({a.name: f"{a.name} é" for a in rtype.attributes})
    relationships = json.dumps({"owner": {"type": "users", "id": "1"}})
    for text in ("{}", relationships):
        resource, body = _both_ways(rtype, _row(2, attributes, text))
        start = b'{"data":{"type":"%s","id":"2","attributes":{"' % type_name.encode()
        assert body.startswith(start)
        if not rtype.relationships:
            assert b'"relationships"' not in body
            assert resource.__struct_fields__ == ("type", "id", "attributes")
    assert _both_ways(rtype, _row(2, attributes, "not json")) == (json.JSONDecodeError, None)


def test_addresses_serialise_the_same_on_both_paths(demo_db):
    records = Records(demo_db)
    with demo_db.read() as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM contacts")]
        general = records._addresses(conn, ids)
        fast = records._addresses(conn, ids, serialize=_serialize_rows)
        structs = records._addresses(
            conn, ids, serialize=functools.partial(_serialize_rows, structs=True)
        )
    assert general and repr(fast) == repr(general)
    assert repr(msgspec.to_builtins(structs)) == repr(general)
    assert all(a["type"] == ADDRESS_TYPE.name for found in fast.values() for a in found)


PAGE_QUERIES = [
    {},
    {"include": "addresses", "page[size]": "1000", "sort": "updatedAt,id"},
    {"include": "addresses", "page[size]": "40", "page[number]": "2", "sort": "-updatedAt"},
    {"include": "addresses", "fields[contacts]": "firstName,lastName,addresses",
     "page[size]": "30"},
    {"include": "addresses", "fields[contacts]": "firstName", "page[size]": "30"},
    {"fields[contacts]": "emails,phones,owner,accounts", "page[size]": "30"},
    {"fields[contacts]": "updatedAt", "page[size]": "30"},
    {"include": "addresses", "fields[contactaddresses]": "city", "page[size]": "30"},
    {"filter[updatedAt][gte]": "2026-06-01T00:00:00Z", "sort": "updatedAt,id",
     "include": "addresses", "page[size]": "1000"},
    {"filter[searchText]": "an", "include": "addresses", "page[size]": "100"},
    {"sort": "lastName,-firstName", "page[size]": "50"},
]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    from tray_client.devserver.testing import RunningServer

    with RunningServer(db_path=tmp_path_factory.mktemp("srv") / "crm.db", api_key="k",
                       demo=150, jsonapi_calendar=True) as srv:
        api = Api(srv.url, srv.user, srv.api_key)
        yield api
        api.client.close()


def _sparse(resource: dict, fields: str | None) -> dict:
    if fields is None:
        return resource
    wanted = set(fields.split(","))
    out = {k: v for k, v in resource.items() if k not in ("attributes", "relationships")}
    for member in ("attributes", "relationships"):
        kept = {k: v for k, v in resource.get(member, {}).items() if k in wanted}
        if kept:
            out[member] = kept
    return out


def _query_id(params: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items()) or "plain"


@pytest.mark.parametrize("params", PAGE_QUERIES, ids=_query_id)
def test_each_contact_of_a_page_is_its_single_get(demo_server, params):
    answer = demo_server.get("/contacts", params=params)
    assert answer.status_code == 200
    document = answer.json()
    assert answer.content == _json_bytes(document)
    assert document["data"]
    fields = params.get("fields[contacts]")
    included = []
    for resource in document["data"]:
        single = demo_server.get(f"/contacts/{resource['id']}", params={"include": "addresses"})
        assert single.content == _json_bytes(single.json())
        assert resource == _sparse(single.json()["data"], fields)
        included += single.json().get("included", [])
    if "include" in params:
        assert document["included"] == included
        for address in included[:20]:
            alone = demo_server.get(f"/contactaddresses/{address['id']}").json()["data"]
            assert address == alone
    else:
        assert "included" not in document


@pytest.mark.parametrize("type_name", ["tasks", "calendarevents", "accounts", "leads",
                                       "opportunities", "users", "calendars"])
def test_pages_of_other_types_are_their_single_gets(demo_server, type_name):
    answer = demo_server.get(f"/{type_name}", params={"page[size]": "100", "sort": "-id"})
    assert answer.status_code == 200
    assert answer.content == _json_bytes(answer.json())
    data = answer.json()["data"]
    assert data
    for resource in data[:40]:
        assert resource == demo_server.get(f"/{type_name}/{resource['id']}").json()["data"]


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/contacts", {"filter[bogus]": "1"}, 400),
        ("/contacts", {"sort": "bogus"}, 400),
        ("/contacts", {"page[size]": "1001"}, 400),
        ("/contacts", {"include": "bogus"}, 400),
        ("/contacts/999999", {}, 404),
        ("/nosuchtype", {}, 404),
    ],
)
def test_error_answers_are_the_bytes_json_writes(demo_server, path, params, status):
    answer = demo_server.get(path, params=params)
    assert answer.status_code == status
    assert answer.content == _json_bytes(answer.json())
    assert answer.json()["errors"][0]["status"] == str(status)


def test_a_known_user_id_is_kept_so_requests_skip_the_look_up(tmp_path):
    db = Database(tmp_path / "u.db", username="ann")
    assert db.known_user_id("ann") is None  # not looked up yet
    assert db.user_id("ann") == "1" and db.known_user_id("ann") == "1"
    assert db.user_id("mary.miller") == "2" and db.known_user_id("mary.miller") == "2"
    assert db.user_id("nobody") is None and db.known_user_id("nobody") is None
    db.close()


def test_requests_after_the_first_answer_as_before(demo_server):
    # The first request looks the user up (thread pool), the next ones take the kept id:
    # the same answers, and a wrong user is still refused.
    first = demo_server.get("/userprofile")
    assert first.status_code == 200 and demo_server.get("/userprofile").json() == first.json()
    url = str(demo_server.client.base_url).rstrip("/").removesuffix("/api")
    wrong = Api(url, "mary.miller", "k")
    try:
        assert wrong.get("/userprofile").status_code == 401
    finally:
        wrong.client.close()


def test_the_server_process_collects_young_objects_rarely():
    # Only the server's own process (cli.main): a page's ~50,000 containers no longer make
    # ~170 young collections. Restored afterwards: this is the test process.
    import gc

    from tray_client.devserver.cli import GC_THRESHOLDS, tune_collector

    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] >= 50_000
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_connections_read_the_database_through_a_memory_map(tmp_path):
    from tray_client.devserver.database import MMAP_SIZE

    db = Database(tmp_path / "m.db")
    assert db.connection().execute("PRAGMA mmap_size").fetchone()[0] == MMAP_SIZE > 0
    db.close()


def _oro_time_general(value: str | None) -> str | None:
    """``rest_events.oro_time`` before its fast path: fromisoformat, UTC, strftime."""
    import datetime as dt

    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@pytest.mark.parametrize("value", [
    None, "", "2026-12-14T22:00:00Z", "2026-01-01T00:00:00Z", "2026-02-28T23:59:59Z",
    "2024-02-29T12:00:00Z", "2026-12-31T10:00:00Z", "0001-01-01T00:00:00Z", "0999-05-01T10:00:00Z",
    "2026-12-14T22:00:00+00:00", "2026-12-14T23:00:00+01:00", "2026-12-14T22:00:00",
    "2026-12-14T22:00:00.250Z", "2026-12-14", "2026-12-14T22:00Z",
])
def test_oro_time_gives_what_its_general_way_gives(value):
    from tray_client.devserver.rest_events import oro_time

    assert oro_time(value) == _oro_time_general(value)


@pytest.mark.parametrize("value", ["2026-02-30T10:00:00Z", "2026-13-01T10:00:00Z",
                                   "2026-12-14T24:00:00Z", "2026-12-14T22:60:00Z", "junk"])
def test_oro_time_refuses_what_its_general_way_refuses(value):
    from tray_client.devserver.rest_events import oro_time

    with pytest.raises(ValueError):
        _oro_time_general(value)
    with pytest.raises(ValueError):
        oro_time(value)


def test_oro_time_fast_path_on_every_second_form():
    import datetime as dt
    import random

    from tray_client.devserver.rest_events import oro_time

    rng = random.Random(17)
    base = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    for _ in range(5000):
        when = base + dt.timedelta(seconds=rng.randrange(0, 100 * 365 * 86400))
        text = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert oro_time(text) == _oro_time_general(text), text


@pytest.mark.parametrize("record_id", [1, 2, 17, 999, 100_000, 2**40, "42"])
def test_an_events_default_uid_is_its_uuid5(record_id):
    import uuid

    from tray_client.devserver.rest_events import _event_uid

    assert _event_uid(record_id) == str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                   f"calendarevent:{record_id}"))
