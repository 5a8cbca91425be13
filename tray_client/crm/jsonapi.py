"""JSON:API documents as plain dataclasses, tolerant of the shapes real Oro sends.

Real Oro adds attributes and relationships we do not use (``skype``, ``activityTargets``,
``meta``, ...); they are kept as received. A document that is not JSON:API at all (an HTML
login page, a proxy's error page) raises ``NotJsonApi`` so the caller can say "wrong URL"
instead of crashing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from ..errors import FieldError

MEDIA_TYPE = "application/vnd.api+json"


_decoder = msgspec.json.Decoder()


def decode_json(content: bytes) -> Any:
    """Decode a JSON answer body: msgspec (about a fourth less CPU than ``json.loads`` on a
    page of contacts; benchmarks/README.md), and the standard library for what msgspec
    refuses (``NaN``, ``1e400``, lone surrogates), so the result never differs; a body
    neither accepts raises ``json.JSONDecodeError`` (a ValueError) from the standard
    library, with the ``doc`` and ``pos`` its callers read. (orjson was not taken: it turns
    integers beyond 64 bits into floats.)"""
    try:
        return _decoder.decode(content)
    except msgspec.DecodeError:
        return json.loads(content)


class NotJsonApi(ValueError):
    """The body is not a JSON:API document (the message says what was wrong)."""


class Ref(msgspec.Struct, frozen=True, gc=False):
    """A resource identifier: ``{"type": ..., "id": ...}`` (immutable, hashable; a msgspec
    struct, so ``decode_document`` makes it straight from the JSON, and the collector never
    tracks it: it holds two strings)."""

    type: str
    id: str


@dataclass(slots=True, weakref_slot=True)
class Resource:
    """One resource object. For the document's primary data, ``included`` maps ``(type, id)``
    to the document's included resources; an included resource itself gets an empty one
    (pointing it at the dict that holds it would make every page a reference cycle, which
    only a full garbage collection frees: a sync pauses those, so its memory grew with
    every page read)."""

    type: str
    id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    relationships: dict[str, Ref | list[Ref] | None] = field(default_factory=dict)
    included: dict[tuple[str, str], Resource] = field(default_factory=dict, repr=False)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def related(self, name: str) -> list[Resource]:
        """The included resources a relationship points at (missing ones are skipped)."""
        rel = self.relationships.get(name)
        refs = rel if isinstance(rel, list) else ([rel] if rel is not None else [])
        found = []
        for r in refs:
            res = self.included.get((r.type, r.id))
            if res is not None:
                found.append(res)
        return found

    def related_id(self, name: str) -> str | None:
        """The id of a to-one relationship, or None."""
        rel = self.relationships.get(name)
        return rel.id if isinstance(rel, Ref) else None

    @property
    def updated_at(self) -> str | None:
        value = self.attributes.get("updatedAt")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Cursor:
    """A position in ``(updatedAt, id)`` order; ``id=""`` sorts before every id of that time."""

    updated_at: str
    id: str


@dataclass(frozen=True)
class Removal:
    """A record the CRM deleted (from the removals feed)."""

    type: str
    id: str
    removed_at: str


@dataclass(frozen=True)
class EnumValue:
    """One value of an enum resource (``taskstatuses``, ``leadsources`` ...)."""

    id: str
    label: str
    default: bool = False


@dataclass
class Document:
    """A parsed top-level document."""

    data: list[Resource] | Resource | None
    included: dict[tuple[str, str], Resource]
    links: dict[str, Any]
    meta: dict[str, Any]

    @property
    def next_link(self) -> str | None:
        link = self.links.get("next")
        if isinstance(link, dict):  # JSON:API allows link objects: {"href": ...}
            link = link.get("href")
        return link if isinstance(link, str) and link else None


# -- parsing ---------------------------------------------------------------------------------
#
# Two ways to the same result. ``_plain_resource`` takes the shape real Oro always sends (a
# dict with text type and id, object attributes, relationships of ``{"data": identifier |
# [identifiers] | null}`` with text types and ids) in one pass, sharing one ``Ref`` per
# identifier within a document; it answers None at the first thing it does not expect, and
# ``_checked_resource`` (the general path: any JSON value, coerced or refused with where it
# was) parses that resource instead. tests/crm/test_jsonapi.py checks both agree.

def _ref(obj: Any, where: str) -> Ref:
    if not isinstance(obj, dict) or "type" not in obj or "id" not in obj:
        raise NotJsonApi(f"{where}: a resource identifier needs a type and an id")
    return Ref(str(obj["type"]), str(obj["id"]))


def _relationship(obj: Any, where: str) -> Ref | list[Ref] | None:
    if not isinstance(obj, dict):
        raise NotJsonApi(f"{where}: a relationship must be an object")
    data = obj.get("data")
    if data is None:
        return None
    if isinstance(data, list):
        return [_ref(item, where) for item in data]
    return _ref(data, where)


def _checked_resource(obj: Any, where: str) -> Resource:
    if not isinstance(obj, dict) or "type" not in obj:
        raise NotJsonApi(f"{where}: a resource object needs a type")
    # Oro always sends ids; a resource without one (never in a response) gets "".
    attributes = obj.get("attributes") or {}
    relationships = obj.get("relationships") or {}
    if not isinstance(attributes, dict) or not isinstance(relationships, dict):
        raise NotJsonApi(f"{where}: attributes and relationships must be objects")
    return Resource(
        type=str(obj["type"]),
        id=str(obj.get("id", "")),
        attributes=dict(attributes),
        relationships={name: _relationship(rel, f"{where}.relationships.{name}")
                       for name, rel in relationships.items()},
        meta=dict(obj.get("meta") or {}),
    )


def _plain_ref(obj: Any, refs: dict[tuple[str, str], Ref]) -> Ref | None:
    if type(obj) is not dict:
        return None
    type_, id_ = obj.get("type"), obj.get("id")
    if type(type_) is not str or type(id_) is not str:
        return None
    key = (type_, id_)
    ref = refs.get(key)
    if ref is None:
        ref = refs[key] = Ref(type_, id_)
    return ref


def _plain_resource(obj: Any, refs: dict[tuple[str, str], Ref],
                    included: dict[tuple[str, str], Resource]) -> Resource | None:
    """``obj`` parsed as ``_checked_resource`` would, when it has the plain shape; else None."""
    if type(obj) is not dict:
        return None
    type_ = obj.get("type")
    id_ = obj.get("id", "")
    attributes = obj.get("attributes") or {}
    relationships = obj.get("relationships") or {}
    meta = obj.get("meta") or {}
    if (type(type_) is not str or type(id_) is not str or type(attributes) is not dict
            or type(relationships) is not dict or type(meta) is not dict):
        return None
    rels: dict[str, Ref | list[Ref] | None] = {}
    for name, rel in relationships.items():
        if type(rel) is not dict:
            return None
        data = rel.get("data")
        if data is None:
            rels[name] = None
        elif type(data) is list:
            many = [_plain_ref(item, refs) for item in data]
            if None in many:
                return None
            rels[name] = many  # type: ignore[assignment]
        else:
            one = _plain_ref(data, refs)
            if one is None:
                return None
            rels[name] = one
    return Resource(type_, id_, dict(attributes), rels, included, dict(meta))


def parse_resource(obj: Any, where: str = "data") -> Resource:
    """Parse one resource object (without the document's ``included``)."""
    return _plain_resource(obj, {}, {}) or _checked_resource(obj, where)


def parse_document(body: Any) -> Document:
    """Parse a decoded JSON body; raise ``NotJsonApi`` if it is not a JSON:API document."""
    if not isinstance(body, dict) or not ({"data", "errors", "meta"} & body.keys()):
        raise NotJsonApi("the answer has no data, errors or meta member")
    refs: dict[tuple[str, str], Ref] = {}   # one Ref per identifier of the document
    included: dict[tuple[str, str], Resource] = {}
    for index, obj in enumerate(body.get("included") or []):
        res = (_plain_resource(obj, refs, {})
               or _checked_resource(obj, f"included[{index}]"))
        included[(res.type, res.id)] = res
    raw = body.get("data")
    data: list[Resource] | Resource | None
    if isinstance(raw, list):
        data = []
        for index, obj in enumerate(raw):
            plain = _plain_resource(obj, refs, included)
            if plain is None:
                plain = _checked_resource(obj, f"data[{index}]")
                plain.included = included
            data.append(plain)
    elif raw is None:
        data = None
    else:
        data = _checked_resource(raw, "data")
        data.included = included
    links = body.get("links") or {}
    meta = body.get("meta") or {}
    return Document(data=data, included=included,
                    links=links if isinstance(links, dict) else {},
                    meta=meta if isinstance(meta, dict) else {})


# -- decoding and parsing in one step ------------------------------------------------------
#
# The plain shape again, as types msgspec decodes a body into (in C, and with the collector
# never tracking the structs); ``decode_document`` turns them into the same ``Document``
# ``parse_document(decode_json(content))`` gives, and takes that path for any body they do
# not describe (tests/crm/test_jsonapi.py checks both agree).

class _Relationship(msgspec.Struct, gc=False):
    data: Ref | list[Ref] | None = None


class _Resource(msgspec.Struct, gc=False):
    type: str
    id: str = ""
    attributes: dict[str, Any] | None = None
    relationships: dict[str, _Relationship] | None = None
    meta: dict[str, Any] | None = None


class _Body(msgspec.Struct, gc=False):
    data: list[_Resource] | _Resource | msgspec.UnsetType | None = msgspec.UNSET
    errors: Any = msgspec.UNSET
    meta: Any = msgspec.UNSET
    included: list[_Resource] | None = None
    links: Any = None


_body_decoder = msgspec.json.Decoder(_Body)


def _resource(raw: _Resource, included: dict[tuple[str, str], Resource]) -> Resource:
    rels = raw.relationships
    return Resource(raw.type, raw.id, raw.attributes or {},
                    {name: rel.data for name, rel in rels.items()} if rels else {},
                    included, raw.meta or {})


def decode_document(content: bytes) -> Document:
    """``parse_document(decode_json(content))``, decoded straight into resources when the
    body has the plain shape. Raises what that raises."""
    try:
        body = _body_decoder.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError):   # anything else: the general path
        return parse_document(decode_json(content))
    if body.data is msgspec.UNSET and body.errors is msgspec.UNSET \
            and body.meta is msgspec.UNSET:
        raise NotJsonApi("the answer has no data, errors or meta member")
    included: dict[tuple[str, str], Resource] = {}
    for raw in body.included or ():
        res = _resource(raw, {})
        included[(res.type, res.id)] = res
    data: list[Resource] | Resource | None
    if isinstance(body.data, list):
        data = [_resource(raw, included) for raw in body.data]
    elif isinstance(body.data, _Resource):
        data = _resource(body.data, included)
    else:
        data = None
    return Document(data, included, *_links_and_meta(body))


def _links_and_meta(body: _Body | _RawBody) -> tuple[dict[str, Any], dict[str, Any]]:
    """A decoded body's links and meta, each ``{}`` unless an object."""
    links, meta = body.links or {}, body.meta or {}
    return links if isinstance(links, dict) else {}, meta if isinstance(meta, dict) else {}


# -- pages decoded in another process -------------------------------------------------------
#
# A large pull decodes its pages in a worker process (``tray_client.sync.pages``), on the
# machine's other core: the worker takes a page of the plain shape apart (``split_page``),
# and this process gets each record as a ``LazyResource`` that holds its id and updatedAt,
# and its page's body, decoded here only when something reads the rest.

class _RawBody(msgspec.Struct, gc=False):
    """``_Body`` with each resource left as its JSON text (decoded one by one)."""

    data: list[msgspec.Raw] | msgspec.UnsetType | None = msgspec.UNSET
    errors: Any = msgspec.UNSET
    meta: Any = msgspec.UNSET
    included: list[msgspec.Raw] | None = None
    links: Any = None


_raw_body_decoder = msgspec.json.Decoder(_RawBody)
_resource_decoder = msgspec.json.Decoder(_Resource)


def split_page(content: bytes) -> tuple[dict[str, Any], dict[str, Any],
                                         list[Resource]] | None:
    """A collection page of the plain shape: its links, its meta and its records, each as
    ``decode_document`` makes it (its resources decoded one by one: quicker than whole, for
    the worker); None for any other body (an error document, a single resource, what the
    plain types do not describe), which ``decode_document`` handles."""
    try:
        body = _raw_body_decoder.decode(content)
        if not isinstance(body.data, list):
            return None
        included: dict[tuple[str, str], Resource] = {}
        for text in body.included or ():
            res = _resource(_resource_decoder.decode(text), {})
            included[(res.type, res.id)] = res
        records = [_resource(_resource_decoder.decode(text), included) for text in body.data]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return (*_links_and_meta(body), records)


class LazyResource(Resource):
    """A record of a page decoded by the worker process: ``type``, ``id`` and
    ``updated_at`` at hand; its attributes, relationships, included resources and meta
    taken, when one of them is first read, from ``page.resource(index)``: the record as
    ``decode_document`` makes it from the page's body, decoded once for the page (the same
    values: tests/sync/test_pages.py). And ``canonical``, the worker's ``mapping.from_crm``
    of it (None: not mapped there), which the worker sends a little after the page
    (``page.wait()`` returns once ``canonical`` is set). With it, ``local_text``: the stored
    text of a local item whose fields map to that mapping (``sync.pages.local_texts``), or
    None; and ``key_slot``, the slot of its key in the pull's key index
    (``sync.pages.key_slots``), or None."""

    __slots__ = ("_index", "_page", "_stamp", "canonical", "key_slot", "local_text")

    canonical: dict[str, Any] | None
    local_text: Any
    key_slot: str | None
    _index: int
    _stamp: str | None
    _page: Any

    @classmethod
    def made(cls, type: str, id: str, stamp: str | None, index: int,
             page: Any) -> LazyResource:
        self = cls.__new__(cls)
        self.type, self.id, self._stamp, self._index, self._page = type, id, stamp, index, page
        return self

    @property
    def updated_at(self) -> str | None:
        try:
            return self._stamp
        except AttributeError:   # made whole (dataclasses.replace): as a Resource
            return Resource.updated_at.fget(self)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> Any:
        # Called only for an unset slot.
        if name in ("canonical", "local_text", "key_slot"):
            try:
                page = object.__getattribute__(self, "_page")
            except AttributeError:   # made whole (dataclasses.replace): none
                return None
            page.wait()
            return object.__getattribute__(self, name)
        if name not in ("attributes", "relationships", "included", "meta"):
            raise AttributeError(name)
        page = object.__getattribute__(self, "_page")
        whole = page.resource(object.__getattribute__(self, "_index"))
        self.attributes, self.relationships = whole.attributes, whole.relationships
        self.included, self.meta = whole.included, whole.meta
        return object.__getattribute__(self, name)


def parse_errors(body: Any) -> list[FieldError]:
    """The ``errors`` array as FieldErrors (empty when the body has none)."""
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return []
    result = []
    for obj in body["errors"]:
        if not isinstance(obj, dict):
            continue
        raw_source = obj.get("source")
        source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
        result.append(FieldError(
            title=str(obj.get("title") or obj.get("code") or "error"),
            detail=str(obj.get("detail") or ""),
            pointer=source.get("pointer"),
            parameter=source.get("parameter"),
        ))
    return result


def document_body(type: str, attributes: dict[str, Any] | None,
                  relationships: dict[str, Any] | None = None,
                  included: list[dict[str, Any]] | None = None,
                  id: str | None = None) -> dict[str, Any]:
    """A request document for create (no id) or update (id) in the wire shape."""
    data: dict[str, Any] = {"type": type}
    if id is not None:
        data["id"] = str(id)
    if attributes:
        data["attributes"] = attributes
    if relationships:
        data["relationships"] = relationships
    body: dict[str, Any] = {"data": data}
    if included:
        body["included"] = included
    return body


# -- ordering --------------------------------------------------------------------------------

_DIGITS = re.compile(r"[0-9]+")


def id_key(value: str) -> tuple[int, int, str]:
    """Sort key for ids: "" first, then numeric ids by value, then other strings."""
    if value == "":
        return (-1, 0, "")
    if _DIGITS.fullmatch(value):
        return (0, int(value), "")
    return (1, 0, value)


def parse_instant(value: str) -> datetime:
    """Parse an ISO-8601 instant (``Z`` or an offset; naive means UTC)."""
    moment = datetime.fromisoformat(value.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def position(updated_at: str, id: str) -> tuple[datetime, tuple[int, int, str]]:
    """Comparable position of a record in ``(updatedAt, id)`` order."""
    return (parse_instant(updated_at), id_key(id))
