"""Reading and writing CRM records: the behaviour behind every resource route.

:class:`Records` validates writes (Oro's rules), stamps ``createdAt``/``updatedAt``, keeps
the removals feed, writes contact addresses through ``included``, and serialises rows into
JSON:API resource objects. The HTTP app and the in-process admin handle both use it.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from . import places
from .database import Database
from .jsonapi import ApiError, bad_request, decode_stored, is_record_id
from .places import DICTIONARIES
from .query import CollectionQuery
from .schema import (
    EMAILS,
    ENUM_OPTION_TYPES,
    ENUMS,
    FLOAT_TYPES,
    ORDERED_DICTIONARIES,
    PHONES,
    REMOVALS,
    RESOURCE_TYPES,
    ResourceType,
)
from .validation import (
    Ref,
    check_attributes,
    check_ref,
    check_relationships,
    check_required,
    settle_primary,
)

Resource = dict[str, Any]
ADDRESS_TYPE = RESOURCE_TYPES["contactaddresses"]
# Many-to-many relationships kept in a link table: (type, relationship) -> (table, own column, other
# column).
LINKS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("contacts", "accounts"): ("account_contacts", "contact_id", "account_id"),
    ("accounts", "contacts"): ("account_contacts", "account_id", "contact_id"),
}


def not_found(type_name: str, record_id: str) -> ApiError:
    """404 for a record (or type) that does not exist."""
    return ApiError(
        404, "not found http exception", f'The {type_name} "{record_id}" does not exist.'
    )


def parse_id(type_name: str, record_id: str) -> int:
    """A URL id as the integer key; anything else cannot exist (404)."""
    if not is_record_id(record_id):
        raise not_found(type_name, record_id)
    return int(record_id)


class Records:
    """Record operations on one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading ------------------------------------------------------------------------
    def get(self, type_name: str, record_id: str) -> tuple[Resource, list[Resource]]:
        """One resource and, for contacts, its addresses (for ``included``). 404 if absent."""
        if type_name in DICTIONARIES:
            return places.get(type_name, record_id), []
        if type_name in ENUMS:
            for resource in self.enum_resources(type_name):
                if resource["id"] == record_id:
                    return resource, []
            raise not_found(type_name, record_id)
        key = parse_id(type_name, record_id)
        table = REMOVALS if type_name == REMOVALS else type_name
        with self.db.read() as conn:
            row = conn.execute(f"SELECT * FROM {table} WHERE id=?", (key,)).fetchone()
            if row is None:
                raise not_found(type_name, record_id)
            if type_name == REMOVALS:
                return _removal(row), []
            addresses = self._addresses(conn, [key]) if type_name == "contacts" else {}
            linked = self._linked(conn, type_name, [key])
        resource = self._serialize(RESOURCE_TYPES[type_name], row, addresses, linked)
        return resource, addresses.get(key, [])

    def page(
        self, type_name: str, query: CollectionQuery, *, want_total: bool = False
    ) -> tuple[list[Any], list[Any], bool, int | None]:
        """One page: (resources, included, more pages follow, total count or None). The
        resources are dicts or, where msgspec encodes the answer whole, Structs that encode
        to the same JSON (``_serialize_rows``)."""
        table = type_name
        ids_only = query.fields == frozenset({"id"})
        columns = "id" if ids_only else "*"
        sql = f"SELECT {columns} FROM {table}{query.where_sql}{query.order_sql} LIMIT ? OFFSET ?"
        with self.db.read() as conn:
            rows = conn.execute(sql, [*query.params, query.page_size + 1, query.offset]).fetchall()
            more = len(rows) > query.page_size
            rows = rows[: query.page_size]
            total = None
            if want_total:
                total = conn.execute(
                    f"SELECT COUNT(*) FROM {table}{query.where_sql}", query.params
                ).fetchone()[0]
            if ids_only:
                return [{"type": type_name, "id": str(row[0])} for row in rows], [], more, total
            if type_name == REMOVALS:
                resources = [_removal(row) for row in rows]
                return _sparse(resources, query.fields), [], more, total
            # One query for the whole page's addresses, never one per contact. Resources
            # as Structs where msgspec writes the answer (no float) and no sparse fieldset
            # filters them; the page's addresses are built alike (included addresses are
            # always whole).
            structs = query.fields is None and type_name not in FLOAT_TYPES
            addresses = (
                self._addresses(
                    conn,
                    [row[0] for row in rows],
                    serialize=functools.partial(_serialize_rows, structs=structs),
                )
                if type_name == "contacts"
                else {}
            )
            linked = self._linked(conn, type_name, [row[0] for row in rows])
        resources = _serialize_rows(
            RESOURCE_TYPES[type_name], rows, addresses, linked, structs=structs
        )
        included = (
            [a for row in rows for a in addresses.get(row[0], [])]
            if query.include_addresses
            else []
        )
        return _sparse(resources, query.fields), included, more, total

    def enum_resources(self, type_name: str) -> list[Resource]:
        """An enum's items as Oro serves them, in id order (Oro's order without ``sort``):
        enum options ``{name, priority, default}``, dictionaries ``{label[, order]}``."""
        if type_name not in ENUM_OPTION_TYPES:
            return dictionary_resources(type_name)
        return [
            {
                "type": type_name,
                "id": item_id,
                "attributes": {"name": name, "priority": priority, "default": default},
            }
            for item_id, name, priority, default in self.db.enum_options(type_name)
        ]

    def ids(self, type_name: str) -> list[str]:
        """Every id of a type, ascending."""
        with self.db.read() as conn:
            return [str(row[0]) for row in conn.execute(f"SELECT id FROM {type_name} ORDER BY id")]

    def count(self, type_name: str) -> int:
        """How many records a type holds."""
        with self.db.read() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {type_name}").fetchone()[0])

    def _addresses(
        self,
        conn: sqlite3.Connection,
        contact_ids: list[int],
        *,
        serialize: Callable[..., list[Any]] | None = None,
    ) -> dict[int, list[Any]]:
        """The addresses of these contacts, by contact id, in id order; ``serialize`` turns
        rows into resources (a page's: ``_serialize_rows``; one contact's: ``_serialize``)."""
        result: dict[int, list[Any]] = {}
        for start in range(0, len(contact_ids), 900):  # stay under SQLite's variable limit
            chunk = [str(cid) for cid in contact_ids[start : start + 900]]
            marks = ",".join("?" * len(chunk))
            # In the owner index's order: each contact's addresses are still in id order,
            # and SQLite no longer sorts the page's (a temporary B-tree; with the same in
            # _linked, ~3 % of a page's instructions, 137k → 133k a demo contact).
            rows = conn.execute(
                f"SELECT * FROM contactaddresses WHERE owner IN ({marks}) ORDER BY owner, id",
                chunk,
            ).fetchall()
            if serialize is None:
                resources = [self._serialize(ADDRESS_TYPE, row, {}) for row in rows]
            else:
                resources = serialize(ADDRESS_TYPE, rows, {}, {})
            for row, resource in zip(rows, resources, strict=True):
                result.setdefault(int(row[3]), []).append(resource)
        return result

    @staticmethod
    def _linked(
        conn: sqlite3.Connection, type_name: str, ids: list[int]
    ) -> dict[str, dict[int, list[str]]]:
        """Link-table relationships of these records: relationship -> record id -> linked ids."""
        result: dict[str, dict[int, list[str]]] = {}
        for (owner_type, name), (table, own, other) in LINKS.items():
            if owner_type != type_name:
                continue
            found: dict[int, list[str]] = result.setdefault(name, {})
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                marks = ",".join("?" * len(chunk))
                # Each record's ids in order, read in the order of the index on (own,
                # other) rather than sorted (see _addresses).
                for own_id, other_id in conn.execute(
                    f"SELECT {own}, {other} FROM {table} WHERE {own} IN ({marks}) "
                    f"ORDER BY {own}, {other}",
                    chunk,
                ):
                    found.setdefault(int(own_id), []).append(str(other_id))
        return result

    @staticmethod
    def _write_links(
        conn: sqlite3.Connection, type_name: str, key: int, rels: dict[str, Any]
    ) -> None:
        """Replace the link-table rows of the link relationships given in ``rels``."""
        for (owner_type, name), (table, own, other) in LINKS.items():
            if owner_type != type_name or name not in rels:
                continue
            conn.execute(f"DELETE FROM {table} WHERE {own}=?", (key,))
            conn.executemany(
                f"INSERT OR IGNORE INTO {table} ({own}, {other}) VALUES (?,?)",
                [(key, int(ref["id"])) for ref in rels[name] or []],
            )

    @staticmethod
    def _serialize(
        rtype: ResourceType,
        row: sqlite3.Row | tuple[Any, ...],
        addresses: dict[int, list[Resource]],
        linked: dict[str, dict[int, list[str]]] | None = None,
    ) -> Resource:
        record_id, attributes_json, relationships_json = row[0], row[1], row[2]
        stored = json.loads(attributes_json)
        attributes: dict[str, Any] = {}
        for attr in rtype.attributes:
            if attr.name == "createdAt":
                attributes["createdAt"] = row[6]
            elif attr.name == "updatedAt":
                attributes["updatedAt"] = row[7]
            else:
                attributes[attr.name] = stored.get(attr.name)
        rels_stored = json.loads(relationships_json)
        relationships: dict[str, Any] = {}
        for rel in rtype.relationships:
            if rtype.name == "contacts" and rel.name == "addresses":
                data: Any = [
                    {"type": "contactaddresses", "id": a["id"]}
                    for a in addresses.get(record_id, [])
                ]
            elif (rtype.name, rel.name) in LINKS:
                data = [
                    {"type": rel.target, "id": i}
                    for i in (linked or {}).get(rel.name, {}).get(record_id, [])
                ]
            else:
                data = rels_stored.get(rel.name, [] if rel.many else None)
            relationships[rel.name] = {"data": data}
        resource: Resource = {"type": rtype.name, "id": str(record_id), "attributes": attributes}
        if relationships:
            resource["relationships"] = relationships
        return resource

    # -- writing ------------------------------------------------------------------------
    def create(
        self,
        type_name: str,
        attributes: Any,
        relationships: Any,
        included: Any = None,
        *,
        user_id: str = "1",
    ) -> tuple[Resource, list[Resource]]:
        """Create a record (POST). Returns the stored resource and, for contacts, its addresses."""
        rtype = self._writable(type_name)
        given_attrs = check_attributes(rtype, attributes, "/data/attributes")
        skip = ("addresses",) if type_name == "contacts" else ()
        given_rels = check_relationships(rtype, relationships, "/data/relationships", skip=skip)
        _no_included(type_name, included)
        with self.db.write() as conn:
            record = {k: v for k, v in given_attrs.items() if v is not None}
            if type_name == "contacts":
                settle_primary(record, given_attrs)
            rels: dict[str, Any] = {}
            for rel in rtype.relationships:
                if rel.name in given_rels:
                    rels[rel.name] = given_rels[rel.name]
                elif rel.default is not None and not rel.many:
                    rels[rel.name] = self._default_ref(conn, rel.target or "", rel.default, user_id)
            check_required(rtype, record, rels)
            if type_name == "contactaddresses":
                places.check_address(record, rels, "/data")
            self._check_refs_exist(conn, rtype, given_rels)
            if type_name == "opportunities":
                _settle_customer(conn, rels, given_rels)
            now = self.db.now()
            stored_rels = {
                k: v for k, v in rels.items() if k != "addresses" and (type_name, k) not in LINKS
            }
            cursor = conn.execute(
                f"INSERT INTO {type_name} (attributes, relationships, owner, assigned_to, "
                "calendar, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                (
                    json.dumps({k: v for k, v in record.items() if v is not None}),
                    json.dumps(stored_rels),
                    *_columns(rtype, rels),
                    now,
                    now,
                ),
            )
            new_id = int(cursor.lastrowid or 0)
            self._write_links(conn, type_name, new_id, rels)
            if type_name == "contacts":
                self._write_addresses(conn, new_id, set(), included, relationships, now)
            # Like Oro, a write to /api/contactaddresses leaves its contact's updatedAt alone
            # (no JSON:API processor bumps it; ORO-API.md §5): see docs/protocol.md.
            # The answer is read in the same transaction (no second one per request).
            return self.get(type_name, str(new_id))

    def update(
        self,
        type_name: str,
        record_id: str,
        attributes: Any,
        relationships: Any,
        included: Any = None,
    ) -> tuple[Resource, list[Resource]]:
        """Change a record (PATCH): given attributes/relationships replace, the rest stays."""
        rtype = self._writable(type_name)
        key = parse_id(type_name, record_id)
        given_attrs = check_attributes(rtype, attributes, "/data/attributes")
        skip = ("addresses",) if type_name == "contacts" else ()
        given_rels = check_relationships(rtype, relationships, "/data/relationships", skip=skip)
        _no_included(type_name, included)
        with self.db.write() as conn:
            row = conn.execute(
                f"SELECT attributes, relationships FROM {type_name} WHERE id=?", (key,)
            ).fetchone()
            if row is None:
                raise not_found(type_name, record_id)
            record = json.loads(row[0])
            record.update(given_attrs)
            if type_name == "contacts":
                settle_primary(record, given_attrs)
            record = {k: v for k, v in record.items() if v is not None}
            rels = json.loads(row[1])
            rels.update(given_rels)
            check_required(rtype, record, rels)
            if type_name == "contactaddresses":
                places.check_address(record, rels, "/data")
            self._check_refs_exist(conn, rtype, given_rels)
            if type_name == "opportunities":
                _settle_customer(conn, rels, given_rels)
            now = self.db.now()
            stored_rels = {k: v for k, v in rels.items() if (type_name, k) not in LINKS}
            conn.execute(
                f"UPDATE {type_name} SET attributes=?, relationships=?, owner=?, assigned_to=?, "
                "calendar=?, updated_at=? WHERE id=?",
                (json.dumps(record), json.dumps(stored_rels), *_columns(rtype, rels), now, key),
            )
            self._write_links(conn, type_name, key, given_rels)
            if type_name == "contacts":
                existing = {
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM contactaddresses WHERE owner=?", (str(key),)
                    )
                }
                self._write_addresses(conn, key, existing, included, relationships, now)
            return self.get(type_name, record_id)

    def delete(self, type_name: str, record_id: str) -> None:
        """Delete a record (DELETE) and note it in the removals feed; a contact takes its
        addresses."""
        self._writable(type_name)
        key = parse_id(type_name, record_id)
        with self.db.write() as conn:
            row = conn.execute(
                f"SELECT relationships FROM {type_name} WHERE id=?", (key,)
            ).fetchone()
            if row is None:
                raise not_found(type_name, record_id)
            now = self.db.now()
            conn.execute(f"DELETE FROM {type_name} WHERE id=?", (key,))
            self._write_links(
                conn,
                type_name,
                key,
                {name: [] for (owner_type, name) in LINKS if owner_type == type_name},
            )
            removals = [(type_name, str(key), now)]
            if type_name == "contacts":
                address_ids = [
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM contactaddresses WHERE owner=?", (str(key),)
                    )
                ]
                conn.execute("DELETE FROM contactaddresses WHERE owner=?", (str(key),))
                removals += [("contactaddresses", str(a), now) for a in address_ids]
            conn.executemany(
                "INSERT INTO removals (entity_type, entity_id, removed_at) VALUES (?,?,?)", removals
            )

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def _writable(type_name: str) -> ResourceType:
        rtype = RESOURCE_TYPES.get(type_name)
        if rtype is None or not rtype.writable:
            raise ApiError(
                405,
                "action not allowed exception",
                f"The {type_name} resource is read-only.",
                headers={"Allow": "GET"},
            )
        return rtype

    def _default_ref(
        self, conn: sqlite3.Connection, target: str, default: str, user_id: str
    ) -> Ref | None:
        if default == "@user":
            return {"type": "users", "id": user_id}
        if default == "@calendar":
            row = conn.execute(
                "SELECT id FROM calendars WHERE owner=? ORDER BY id LIMIT 1", (user_id,)
            ).fetchone()
            return {"type": "calendars", "id": str(row[0])} if row else None
        return {"type": target, "id": default}

    @staticmethod
    def _check_refs_exist(
        conn: sqlite3.Connection, rtype: ResourceType, rels: dict[str, Any]
    ) -> None:
        for name, value in rels.items():
            refs = value if isinstance(value, list) else [value] if value else []
            for index, ref in enumerate(refs):
                where = f"/data/relationships/{name}/data" + (
                    f"/{index}" if isinstance(value, list) else ""
                )
                if ref["type"] in ENUM_OPTION_TYPES:
                    known = [
                        r[0]
                        for r in conn.execute(
                            "SELECT id FROM enum_options WHERE enum=? ORDER BY priority, id",
                            (ref["type"],),
                        )
                    ]
                    if ref["id"] not in known:
                        raise bad_request(
                            "choice constraint",
                            f"The value you selected is not a valid choice ({', '.join(known)}).",
                            pointer=f"{where}/id",
                        )
                    continue
                if ref["type"] not in RESOURCE_TYPES:
                    continue  # dictionaries were checked already
                if (
                    not is_record_id(ref["id"])
                    or conn.execute(
                        f"SELECT 1 FROM {ref['type']} WHERE id=?", (int(ref["id"]),)
                    ).fetchone()
                    is None
                ):
                    raise bad_request(
                        "form constraint",
                        f'The {ref["type"]} "{ref["id"]}" does not exist.',
                        pointer=where,
                    )

    def _write_addresses(
        self,
        conn: sqlite3.Connection,
        contact_id: int,
        existing: set[int],
        included: Any,
        relationships: Any,
        now: str,
    ) -> None:
        """Apply a contact write's ``included`` addresses and ``relationships.addresses``.

        An included item naming an address of this contact with ``meta.update`` updates it;
        any other id is a temporary id of a new address. A given ``addresses`` list is the
        whole set: addresses not in it are removed.
        """
        items = [] if included is None else included
        if not isinstance(items, list):
            raise bad_request(
                "request data constraint", "included must be a list.", pointer="/included"
            )
        updates: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        new: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {}
        for index, item in enumerate(items):
            where = f"/included/{index}"
            if not isinstance(item, dict):
                raise bad_request(
                    "request data constraint", "An included item must be an object.", pointer=where
                )
            if item.get("type") != "contactaddresses":
                raise bad_request(
                    "entity type constraint",
                    "Only contactaddresses can be included.",
                    pointer=f"{where}/type",
                )
            item_id = item.get("id")
            if not isinstance(item_id, str) or not item_id:
                raise bad_request(
                    "request data constraint",
                    "An included item needs a string id.",
                    pointer=f"{where}/id",
                )
            unknown = set(item) - {"type", "id", "attributes", "relationships", "meta"}
            if unknown:
                raise bad_request(
                    "request data constraint", f"Unknown members {sorted(unknown)}.", pointer=where
                )
            meta = item.get("meta") or {}
            if not isinstance(meta, dict):
                raise bad_request(
                    "request data constraint", "meta must be an object.", pointer=f"{where}/meta"
                )
            attrs = check_attributes(ADDRESS_TYPE, item.get("attributes"), f"{where}/attributes")
            rels = check_relationships(
                ADDRESS_TYPE, item.get("relationships"), f"{where}/relationships", skip=("owner",)
            )
            if meta.get("update") is True:
                if not is_record_id(item_id) or int(item_id) not in existing:
                    raise bad_request(
                        "entity constraint",
                        f'The contact has no address "{item_id}".',
                        pointer=f"{where}/id",
                    )
                row = conn.execute(
                    "SELECT attributes, relationships FROM contactaddresses WHERE id=?",
                    (int(item_id),),
                ).fetchone()
                merged_rels = {**json.loads(row[1]), **rels}
                places.check_address({**json.loads(row[0]), **attrs}, merged_rels, where)
                updates[int(item_id)] = (attrs, rels)
            else:
                if item_id in new:
                    raise bad_request(
                        "entity constraint",
                        f'The id "{item_id}" is included twice.',
                        pointer=f"{where}/id",
                    )
                places.check_address(attrs, rels, where)
                new[item_id] = (index, attrs, rels)
        listed: set[str] | None = None
        member = relationships.get("addresses") if isinstance(relationships, dict) else None
        if member is not None:
            data = member.get("data")
            if not isinstance(data, list):
                raise bad_request(
                    "request data constraint",
                    "This relationship takes a list.",
                    pointer="/data/relationships/addresses/data",
                )
            rel = RESOURCE_TYPES["contacts"].relationship_map["addresses"]
            listed = set()
            for index, ref in enumerate(data):
                checked = check_ref(ref, rel, f"/data/relationships/addresses/data/{index}")
                known = checked["id"] in new or (
                    is_record_id(checked["id"]) and int(checked["id"]) in existing
                )
                if not known:
                    raise bad_request(
                        "form constraint",
                        f'The contact has no address "{checked["id"]}".',
                        pointer=f"/data/relationships/addresses/data/{index}",
                    )
                listed.add(checked["id"])
            for temp_id, (index, _, _) in new.items():
                if temp_id not in listed:
                    raise bad_request(
                        "request data constraint",
                        "The entity should have a relationship with the primary entity.",
                        pointer=f"/included/{index}",
                    )
        owner = json.dumps({"owner": {"type": "contacts", "id": str(contact_id)}})
        for address_id, (attrs, rels) in updates.items():
            row = conn.execute(
                "SELECT attributes, relationships FROM contactaddresses WHERE id=?", (address_id,)
            ).fetchone()
            record = {**json.loads(row[0]), **attrs}
            stored_rels = {**json.loads(row[1]), **rels}
            conn.execute(
                "UPDATE contactaddresses SET attributes=?, relationships=?, updated_at=? WHERE "
                "id=?",
                (
                    json.dumps({k: v for k, v in record.items() if v is not None}),
                    json.dumps(stored_rels),
                    now,
                    address_id,
                ),
            )
        for _, attrs, rels in new.values():
            stored_rels = {
                **json.loads(owner),
                "types": rels.get("types", []),
                "country": rels.get("country"),
                "region": rels.get("region"),
            }
            conn.execute(
                "INSERT INTO contactaddresses (attributes, relationships, owner, created_at, "
                "updated_at) VALUES (?,?,?,?,?)",
                (
                    json.dumps({k: v for k, v in attrs.items() if v is not None}),
                    json.dumps(stored_rels),
                    str(contact_id),
                    now,
                    now,
                ),
            )
        if listed is not None:
            gone = [a for a in existing if str(a) not in listed]
            for address_id in gone:
                conn.execute("DELETE FROM contactaddresses WHERE id=?", (address_id,))
            conn.executemany(
                "INSERT INTO removals (entity_type, entity_id, removed_at) VALUES "
                "('contactaddresses', ?, ?)",
                [(str(a), now) for a in gone],
            )


# How _serialize_rows builds a relationship: read from the stored JSON, the contact's
# addresses (from contactaddresses.owner) or a link table.
_STORED, _ADDRESSES, _LINKED = 0, 1, 2


# The Structs of a page's resources (``structs``). None is tracked by the collector: a page
# of 1,000 demo contacts with addresses made ~50,000 tracked dicts, which young collections
# walked through (the difference between the timings below with the server's collector
# settings and the default ones).
class _Ref(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """A resource identifier object, ``{"type","id"}``: encoded in that order, whatever
    order it was decoded from (see ``_serialize_structs``)."""

    type: str
    id: str


class _Data(msgspec.Struct, gc=False):
    """A relationship object, ``{"data": ...}``."""

    data: Any


class _Email(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """An item of ``emails`` as the API stores it: ``{"email": ...}``, nothing else (one
    key, so no order to keep)."""

    email: str


class _Phone(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """An item of ``phones`` as the API stores it: ``{"phone": ...}``, nothing else."""

    phone: str


# Attribute kinds whose stored values decode into Structs; every other attribute is Any.
_ATTRIBUTE_TYPES: dict[str, Any] = {EMAILS: list[_Email] | None, PHONES: list[_Phone] | None}


@dataclass(frozen=True)
class _Shape:
    """What _serialize_rows needs of a resource type, worked out once."""

    plain: tuple[str, ...]  # attributes read from the stored JSON, in the type's order
    stamps: tuple[tuple[str, int], ...]  # createdAt / updatedAt and their row columns
    relationships: tuple[tuple[str, int, bool, str | None], ...]  # name, how, to-many, target
    # The attributes object as a msgspec Struct: every attribute a field (None by default)
    # in the type's order, so decoding the stored JSON into it and encoding it writes what
    # the dict of the general path writes, without building that dict.
    attributes: type[msgspec.Struct]
    decoder: msgspec.json.Decoder[Any]
    # The resource object and its relationships object as Structs: fields in the order the
    # general path writes its dict's keys. A type without relationships has no
    # "relationships" field (the general path leaves the key out).
    resource: type[msgspec.Struct]
    relationship_objects: type[msgspec.Struct] | None
    # The relationships read from the stored JSON (name, to-many), in the type's order, and
    # a decoder of the stored JSON straight into them: a Struct of these fields and no
    # other, each a ``_Ref`` or null, to-many ones a list of ``_Ref`` or null.
    stored: tuple[tuple[str, bool], ...]
    stored_decoder: msgspec.json.Decoder[Any]
    # The other relationships: (position among all, how, name, target), in order.
    derived: tuple[tuple[int, int, str, str | None], ...]

    def general_attributes(self, text: str) -> msgspec.Struct:
        """The stored attributes as the Struct, read the general way (``decode_stored`` +
        ``.get``): for text that ``decoder`` refuses."""
        get = decode_stored(text).get
        return self.attributes(**{name: get(name) for name in self.plain})

    def general_stored_values(self, text: str) -> tuple[Any, ...]:
        """The stored relationships' values, in order, read as the general path reads them
        (``.get(name, [] if to-many else None)`` of the decoded object)."""
        stored = decode_stored(text)
        return tuple(stored.get(name, [] if many else None) for name, many in self.stored)


@functools.cache
def _shape(rtype: ResourceType) -> _Shape | None:
    """The type's shape, or None when its timestamps are not its last attributes (then
    attribute order needs the general path) or a relationship is named "type" (JSON:API
    forbids it; ``_serialize_structs``'s check of the stored text relies on it)."""
    names = [a.name for a in rtype.attributes]
    stamps = [(n, 6 if n == "createdAt" else 7) for n in names if n in ("createdAt", "updatedAt")]
    plain = names[: len(names) - len(stamps)]
    if any(n in ("createdAt", "updatedAt") for n in plain):
        return None
    if any(rel.name == "type" for rel in rtype.relationships):
        return None
    relationships = tuple(
        (
            rel.name,
            _ADDRESSES
            if (rtype.name, rel.name) == ("contacts", "addresses")
            else _LINKED
            if (rtype.name, rel.name) in LINKS
            else _STORED,
            rel.many,
            rel.target,
        )
        for rel in rtype.relationships
    )
    attributes = msgspec.defstruct(
        f"{rtype.name}_attributes",
        [(a.name, _ATTRIBUTE_TYPES.get(a.kind, Any), None) for a in rtype.attributes],
        gc=False,
    )
    resource_fields: list[tuple[str, Any]] = [
        ("type", str),
        ("id", str),
        ("attributes", attributes),
    ]
    relationship_objects = None
    if relationships:
        relationship_objects = msgspec.defstruct(
            f"{rtype.name}_relationships",
            [(name, _Data) for name, *_ in relationships],
            gc=False,
        )
        resource_fields.append(("relationships", relationship_objects))
    stored = tuple((name, many) for name, how, many, _ in relationships if how == _STORED)
    stored_relationships = msgspec.defstruct(
        f"{rtype.name}_stored_relationships",
        [
            (name, list[_Ref] | None, []) if many else (name, _Ref | None, None)
            for name, many in stored
        ],
        gc=False,
        forbid_unknown_fields=True,
    )
    derived = tuple(
        (position, how, name, target)
        for position, (name, how, _, target) in enumerate(relationships)
        if how != _STORED
    )
    return _Shape(
        plain=tuple(plain),
        stamps=tuple(stamps),
        relationships=relationships,
        attributes=attributes,
        decoder=msgspec.json.Decoder(attributes),
        resource=msgspec.defstruct(f"{rtype.name}_resource", resource_fields, gc=False),
        relationship_objects=relationship_objects,
        stored=stored,
        stored_decoder=msgspec.json.Decoder(stored_relationships),
        derived=derived,
    )


def _serialize_rows(
    rtype: ResourceType,
    rows: list[Any],
    addresses: dict[int, list[Any]],
    linked: dict[str, dict[int, list[str]]],
    *,
    structs: bool = False,
) -> list[Any]:
    """A page of rows as resources: exactly what ``Records._serialize`` makes of each row
    (tests/devserver/test_fast_paths.py compares them), with the per-type work done once
    and the stored JSON decoded by msgspec. A page of 1,000 demo contacts with their
    addresses: ~60 → ~25 µs a contact (benchmarks/README.md, issue 17).

    ``structs``: each resource a tree of msgspec Structs that encodes to the same JSON as
    the dict (``_serialize_structs``), for answers that msgspec encodes whole (not for
    sparse fieldsets, which filter dicts); ``addresses`` then holds such resources too."""
    shape = _shape(rtype)
    if shape is None:
        return [Records._serialize(rtype, row, addresses, linked) for row in rows]
    if structs:
        return _serialize_structs(shape, rtype.name, rows, addresses, linked)
    type_name = rtype.name
    plain, stamps = shape.plain, shape.stamps
    resources: list[Resource] = []
    for row in rows:
        record_id = row[0]
        get = decode_stored(row[1]).get
        attributes = {name: get(name) for name in plain}
        for name, column in stamps:
            attributes[name] = row[column]
        resource: Resource = {"type": type_name, "id": str(record_id), "attributes": attributes}
        rels_stored = decode_stored(row[2])  # also without relationships, as the general path
        if shape.relationships:
            relationships: dict[str, Any] = {}
            for name, how, many, target in shape.relationships:
                if how == _STORED:
                    data: Any = rels_stored.get(name, [] if many else None)
                elif how == _ADDRESSES:
                    data = [
                        {"type": "contactaddresses", "id": a["id"]}
                        for a in addresses.get(record_id, ())
                    ]
                else:
                    data = [
                        {"type": target, "id": i} for i in linked.get(name, {}).get(record_id, ())
                    ]
                relationships[name] = {"data": data}
            resource["relationships"] = relationships
        resources.append(resource)
    return resources


def _serialize_structs(
    shape: _Shape,
    type_name: str,
    rows: list[Any],
    addresses: dict[int, list[Any]],
    linked: dict[str, dict[int, list[str]]],
) -> list[msgspec.Struct]:
    """``_serialize_rows(structs=True)``: the resources as the shape's Structs.

    The stored relationships are decoded straight into ``_Ref`` Structs when the text is
    of the shape the API writes, read the general way (``general_stored_values``)
    otherwise, so that the values never differ (tests/devserver/test_fast_paths.py). The
    typed decoder takes only the stored relationships at the top, each a null, a ref or
    (to-many) a list of refs, a ref a string ``type`` and ``id`` and nothing else. A ref
    decoded into a Struct forgets its key order, so the text must also show ``type``
    first in every ref: its ``{`` count is the top's one plus one per ``{"type"`` (text
    that only a ref can start: a ``{`` inside a string followed by a quote would end the
    string before ``type"``, which is no JSON, and the top's first key is a relationship,
    never "type"). Another key order, spaces, escapes, a ``{`` inside a string, unknown
    keys, other values all fail the decoder or the count.

    Pages of 1,000 demo contacts with their addresses, the whole page path in-process
    (SQL, serialising, encoding, freeing), against dicts with Struct attributes: 30–32 →
    21–23 µs a contact with the server's collector settings (cli.GC_THRESHOLDS), 36–41
    → 21–23 with the default ones; instructions 159k → 137k a contact for the Structs,
    → 127k with this loop's work inlined and the ``ORDER BY`` of ``_addresses``, → 125k
    with emails and phones as Structs (benchmarks/README.md, issue 17)."""
    decode, general_attributes = shape.decoder.decode, shape.general_attributes
    stored_decode, general_stored_values = (
        shape.stored_decoder.decode,
        shape.general_stored_values,
    )
    resource_type, relationship_objects = shape.resource, shape.relationship_objects
    astuple = msgspec.structs.astuple
    stamps = shape.stamps
    stamped = stamps == (("createdAt", 6), ("updatedAt", 7))  # every type's but two
    # Where each derived relationship's ids come from: (position, by record id, type,
    # whether they are resources (a contact's addresses) or ids).
    sources = [
        (position, addresses, "contactaddresses", True)
        if how == _ADDRESSES
        else (position, linked.get(name, {}), target, False)
        for position, how, name, target in shape.derived
    ]
    resources: list[msgspec.Struct] = []
    for row in rows:
        record_id = row[0]
        attributes: Any
        try:
            attributes = decode(row[1])
        except msgspec.DecodeError:
            attributes = general_attributes(row[1])
        if stamped:
            attributes.createdAt = row[6]
            attributes.updatedAt = row[7]
        else:
            for name, column in stamps:
                setattr(attributes, name, row[column])
        if relationship_objects is None:
            decode_stored(row[2])  # as the general path does: a row of no JSON fails alike
            resources.append(resource_type(type_name, str(record_id), attributes))
            continue
        text = row[2]
        try:
            stored = stored_decode(text)
        except msgspec.DecodeError:
            stored = None
        if stored is not None and text.count("{") == text.count('{"type"') + 1:
            values = list(map(_Data, astuple(stored)))
        else:
            values = list(map(_Data, general_stored_values(text)))
        for position, found, target, of_resources in sources:
            items = found.get(record_id)
            if not items:
                data = []
            elif of_resources:
                data = [_Ref(target, a.id) for a in items]
            else:
                data = [_Ref(target, i) for i in items]
            values.insert(position, _Data(data))
        resources.append(
            resource_type(type_name, str(record_id), attributes, relationship_objects(*values))
        )
    return resources


def _columns(
    rtype: ResourceType, rels: dict[str, Any]
) -> tuple[str | None, str | None, str | None]:
    """The indexed owner / assigned_to / calendar columns mirrored from relationships."""
    values: dict[str, str | None] = {"owner": None, "assigned_to": None, "calendar": None}
    for rel in rtype.relationships:
        ref = rels.get(rel.name)
        if rel.column and isinstance(ref, dict):
            values[rel.column] = ref["id"]
    return values["owner"], values["assigned_to"], values["calendar"]


def _no_included(type_name: str, included: Any) -> None:
    if included is not None and type_name != "contacts":
        raise bad_request(
            "request data constraint",
            f"{type_name} take no included resources.",
            pointer="/included",
        )


def _removal(row: Any) -> Resource:
    return {
        "type": REMOVALS,
        "id": str(row[0]),
        "attributes": {"entityType": row[1], "entityId": row[2], "removedAt": row[3]},
    }


def _sparse(resources: list[Resource], fields: frozenset[str] | None) -> list[Resource]:
    if fields is None:
        return resources
    for resource in resources:
        resource["attributes"] = {
            k: v for k, v in resource.get("attributes", {}).items() if k in fields
        }
        if "relationships" in resource:
            resource["relationships"] = {
                k: v for k, v in resource["relationships"].items() if k in fields
            }
            if not resource["relationships"]:
                del resource["relationships"]
        if not resource["attributes"]:
            del resource["attributes"]
    return resources


def dictionary_resources(type_name: str) -> list[Resource]:
    """A dictionary entity's items in id order (Oro's order without ``sort``): ``label``, and
    ``order`` where the entity has one; never a ``default``."""
    resources = []
    for order, (item_id, label) in enumerate(ENUMS[type_name], start=1):
        attributes: dict[str, Any] = {"label": label}
        if type_name in ORDERED_DICTIONARIES:
            attributes["order"] = order
        resources.append({"type": type_name, "id": item_id, "attributes": attributes})
    return sorted(resources, key=lambda r: r["id"])


def _settle_customer(conn: sqlite3.Connection, rels: dict[str, Any], given: dict[str, Any]) -> None:
    """Oro's opportunity customer association (SalesBundle Customer entity, OpportunityTest):
    an account or a customer is required; a customer alone brings its account; an account
    given alone replaces the customer; both given must agree."""
    if "account" in given and "customer" not in given:
        rels["customer"] = None
    account, customer = rels.get("account"), rels.get("customer")
    if not account and not customer:
        raise bad_request("form constraint", "Either an account or a customer should be set.")
    if customer:
        row = conn.execute(
            "SELECT relationships FROM b2bcustomers WHERE id=?", (int(customer["id"]),)
        ).fetchone()
        owner = json.loads(row[0]).get("account") if row else None
        if owner and account and "account" in given and owner != account:
            raise bad_request(
                "form constraint",
                "The customer should be a part of the specified account.",
                pointer="/data/relationships/customer/data",
            )
        rels["account"] = owner or account
