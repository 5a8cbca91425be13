"""Collection query parameters (paging, sort, filters, sparse fields, include) -> SQL.

Everything a client can put in the query string is checked here; anything malformed or
unknown is a 400 naming the parameter, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .jsonapi import bad_request, is_record_id, normalize_timestamp
from .schema import EMAILS, PHONES, READONLY_TIMESTAMP, REMOVALS, RESOURCE_TYPES

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_FILTER_RE = re.compile(r"^filter\[([A-Za-z]+)\](?:\[([a-z]+)\])?$")
_FIELDS_RE = re.compile(r"^fields\[([a-z]+)\]$")

# Field kinds for filtering: how a value is parsed and which operators apply.
ID, TIMESTAMP, REF, STRING = "id", "timestamp", "ref", "string"
# emails/phones: ``expr`` is a template with ``{test}`` for the item value
COLLECTION = "collection"
SEARCH = "search"  # filter[searchText]: a part of the searchable text, case-insensitively

# The fields Oro indexes, per type: ApiBundle gives filters and sorters to identifiers,
# indexed fields and to-one associations only (platform 6.0 ``ApiBundle/Processor/GetConfig/
# CompleteFilters.php``, ``CompleteSorters.php``, ``Util/DoctrineHelper.php``). Indexes from
# the entities' ``#[ORM\Index]`` (crm 6.0 ``Contact.php``, ``Lead.php``, ``Opportunity.php``,
# ``CaseEntity.php``, ``ContactAddress.php``; ``OroCRMTaskBundle`` ``Task.php``; platform
# ``User.php``, whose ``username`` is unique). Anything else is a 400 "filter constraint"
# (or "sort constraint"), as Oro answers. Types not listed (calendar events, calendars: not
# in Oro's JSON:API at all) keep the server's lenient rules.
ORO_INDEXED: dict[str, tuple[str, ...]] = {
    "contacts": ("updatedAt", "lastName", "firstName"),
    "tasks": ("updatedAt", "dueDate"),
    "leads": ("createdAt", "updatedAt"),
    "opportunities": ("createdAt",),
    "cases": (),
    "contactaddresses": (),
    "users": ("username",),
}


@dataclass(frozen=True)
class FieldSpec:
    """A filterable/sortable field: its SQL expression and kind."""

    expr: str
    kind: str


@dataclass
class CollectionQuery:
    """A parsed collection request, ready for SQL."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    page_number: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    fields: frozenset[str] | None = None  # None: all; {"id"}: identifiers only
    include_addresses: bool = False

    @property
    def where_sql(self) -> str:
        return (" WHERE " + " AND ".join(self.where)) if self.where else ""

    @property
    def order_sql(self) -> str:
        return " ORDER BY " + ", ".join(self.order)

    @property
    def offset(self) -> int:
        return (self.page_number - 1) * self.page_size


def filter_specs(type_name: str) -> dict[str, FieldSpec]:
    """The filters a collection understands."""
    if type_name == REMOVALS:
        return {
            "id": FieldSpec("id", ID),
            "removedAt": FieldSpec("removed_at", TIMESTAMP),
            "entityType": FieldSpec("entity_type", STRING),
            "entityId": FieldSpec("entity_id", STRING),
        }
    rtype = RESOURCE_TYPES[type_name]
    indexed = ORO_INDEXED.get(type_name)
    specs = {"id": FieldSpec("id", ID)}
    if "updatedAt" in rtype.attribute_names:
        for name, column in (("createdAt", "created_at"), ("updatedAt", "updated_at")):
            if indexed is None or name in indexed:
                specs[name] = FieldSpec(column, TIMESTAMP)
    for name, column in rtype.filter_columns.items():
        specs[name] = FieldSpec(column, REF)
    for name in rtype.extra_filters:
        attr = rtype.attribute_map.get(name)
        if attr is not None and attr.kind in (EMAILS, PHONES):
            # Oro: filter[emails] has property_path emails.email (ContactBundle api.yml).
            key = "email" if attr.kind == EMAILS else "phone"
            specs[name] = FieldSpec(
                f"EXISTS (SELECT 1 FROM json_each(attributes, '$.{name}') WHERE "
                f"json_extract(value, '$.{key}') {{test}})",
                COLLECTION,
            )
        else:
            specs[name] = FieldSpec(f"json_extract(attributes, '$.{name}')", STRING)
    if rtype.search_fields:
        text = " || ' ' || ".join(
            f"coalesce(json_extract(attributes, '$.{name}'), '')" for name in rtype.search_fields
        )
        specs["searchText"] = FieldSpec(f"instr(lower({text}), lower(?)) > 0", SEARCH)
    return specs


def sort_specs(type_name: str) -> dict[str, str]:
    """Sortable fields and their SQL expressions (ids are integers, so they sort numerically)."""
    if type_name == REMOVALS:
        return {name: spec.expr for name, spec in filter_specs(REMOVALS).items()}
    rtype = RESOURCE_TYPES[type_name]
    indexed = ORO_INDEXED.get(type_name)
    specs = {"id": "id"}
    for attr in rtype.attributes:
        if indexed is not None and attr.name not in indexed:
            continue
        if attr.kind == READONLY_TIMESTAMP:
            specs[attr.name] = "created_at" if attr.name == "createdAt" else "updated_at"
        elif attr.kind not in (EMAILS, PHONES):
            specs[attr.name] = f"json_extract(attributes, '$.{attr.name}')"
    return specs


def field_names(type_name: str) -> frozenset[str]:
    """Names a sparse fieldset may list for a type."""
    if type_name == REMOVALS:
        return frozenset({"id", "entityType", "entityId", "removedAt"})
    rtype = RESOURCE_TYPES[type_name]
    return frozenset({"id"}) | rtype.attribute_names | frozenset(rtype.relationship_map)


def _page_param(name: str, value: str, upper: int | None) -> int:
    if not is_record_id(value) or int(value) < 1:
        raise bad_request(
            "page constraint", f'Expected a positive integer, got "{value}".', parameter=name
        )
    number = int(value)
    if upper is not None and number > upper:
        raise bad_request(
            "page size constraint", f"The page size must be at most {upper}.", parameter=name
        )
    return number


def parse_collection_params(type_name: str, items: list[tuple[str, str]]) -> CollectionQuery:
    """Parse a collection's query string (raises ApiError 400 on anything not understood)."""
    query = CollectionQuery()
    filters = filter_specs(type_name)
    sorts = sort_specs(type_name)
    sort_value = "id"
    for name, value in items:
        if name == "page[number]":
            query.page_number = _page_param(name, value, 10**9)
        elif name == "page[size]":
            query.page_size = _page_param(name, value, MAX_PAGE_SIZE)
        elif name == "sort":
            sort_value = value
        elif name == "include":
            includes = {part for part in value.split(",") if part}
            if type_name != "contacts" or includes - {"addresses"}:
                raise bad_request(
                    "include constraint",
                    f'Unsupported include "{value}" for {type_name}.',
                    parameter=name,
                )
            query.include_addresses = True
        elif (match := _FIELDS_RE.match(name)) is not None:
            target = match.group(1)
            wanted = frozenset(part for part in value.split(",") if part)
            if target == "contactaddresses" and type_name == "contacts":
                continue  # fields of included addresses: always sent whole
            if target != type_name or not wanted or wanted - field_names(type_name):
                raise bad_request(
                    "fields constraint", f'Unknown fields "{value}" for {target}.', parameter=name
                )
            query.fields = wanted
        elif (match := _FILTER_RE.match(name)) is not None:
            key, op = match.group(1), match.group(2) or "eq"
            spec = filters.get(key)
            if spec is None or op not in OPERATORS:
                # Oro's wording (ConfigurationTest::testTryToGetListWithSorting and friends).
                raise bad_request(
                    "filter constraint", "The filter is not supported.", parameter=name
                )
            _add_filter(query, spec, op, value, name)
        else:
            raise bad_request(
                "query parameter constraint",
                f'The parameter "{name}" is not supported.',
                parameter=name,
            )
    seen: set[str] = set()
    for part in sort_value.split(","):
        descending = part.startswith("-")
        key = part[1:] if descending else part
        expr = sorts.get(key)
        if expr is None or key in seen:
            raise bad_request(
                "sort constraint", f'Sorting by "{key}" field is not supported.', parameter="sort"
            )
        seen.add(key)
        query.order.append(f"{expr} {'DESC' if descending else 'ASC'}")
    if "id" not in seen:
        # Ties (one-second timestamps) must still page deterministically: id breaks them.
        query.order.append("id ASC")
    return query


def _add_filter(query: CollectionQuery, spec: FieldSpec, op: str, value: str, name: str) -> None:
    sql_op = OPERATORS[op]
    if spec.kind == TIMESTAMP:
        try:
            stamp = normalize_timestamp(value)
        except (ValueError, TypeError):
            raise bad_request(
                "filter constraint",
                f'Expected an ISO-8601 date-time, got "{value}".',
                parameter=name,
            ) from None
        query.where.append(f"{spec.expr} {sql_op} ?")
        query.params.append(stamp)
        return
    if spec.kind == SEARCH:
        if op != "eq" or not value.strip():
            raise bad_request(
                "filter constraint",
                "The searchText filter takes one non-empty value.",
                parameter=name,
            )
        query.where.append(spec.expr)
        query.params.append(value.strip())
        return
    values = [part.strip() for part in value.split(",")]
    if not value or any(not part for part in values):
        raise bad_request("filter constraint", "Expected a value.", parameter=name)
    if spec.kind == ID:
        if not all(is_record_id(part) for part in values):
            raise bad_request(
                "filter constraint", f'Expected integer ids, got "{value}".', parameter=name
            )
        params: list[Any] = [int(part) for part in values]
    else:
        params = values
    if spec.kind == COLLECTION:
        if op not in ("eq", "neq"):
            raise bad_request(
                "filter constraint", f'The operator "{op}" is not supported.', parameter=name
            )
        test = spec.expr.format(test=f"IN ({','.join('?' * len(params))})")
        query.where.append(test if op == "eq" else f"NOT {test}")
        query.params.extend(params)
        return
    if op in ("eq", "neq"):
        marks = ",".join("?" * len(params))
        query.where.append(f"{spec.expr} {'IN' if op == 'eq' else 'NOT IN'} ({marks})")
        query.params.extend(params)
    elif len(params) == 1:
        query.where.append(f"{spec.expr} {sql_op} ?")
        query.params.append(params[0])
    else:
        raise bad_request("filter constraint", f"\"{op}\" takes one value.", parameter=name)
