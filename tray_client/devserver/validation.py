"""Checks and normalises what a client writes, the way Oro's validators would.

Every failure is an :class:`ApiError` 400 whose pointer names the offending member, so a
client can show the user which field is wrong.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from . import places
from .jsonapi import bad_request, normalize_timestamp, parse_date
from .places import DICTIONARIES
from .schema import (
    BOOLEAN,
    CURRENCY,
    DATE,
    DATETIME,
    EMAILS,
    ENUM_OPTION_TYPES,
    ENUMS,
    GENDER,
    MONEY,
    PERCENT,
    PHONES,
    READONLY_TIMESTAMP,
    STRING,
    TEXT,
    Attribute,
    Relationship,
    ResourceType,
)

MAX_STRING = 255
MAX_TEXT = 65535
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

Ref = dict[str, str]  # {"type": ..., "id": ...}


def check_attributes(rtype: ResourceType, attributes: Any, pointer: str) -> dict[str, Any]:
    """Validate an ``attributes`` member; return the normalised values that were given.

    Read-only timestamps (createdAt, updatedAt) are accepted and dropped, so a client may
    send back a resource it read. Unknown names and bad values raise ApiError 400.
    """
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise bad_request(
            "request data constraint", "attributes must be an object", pointer=pointer
        )
    result: dict[str, Any] = {}
    for name, value in attributes.items():
        spec = rtype.attribute_map.get(name)
        where = f"{pointer}/{name}"
        if spec is None:
            raise bad_request(
                "extra fields constraint",
                f'This form should not contain extra fields: "{name}".',
                pointer=where,
            )
        if spec.kind == READONLY_TIMESTAMP:
            continue
        result[name] = _check_value(spec, value, where)
    return result


def _check_value(spec: Attribute, value: Any, where: str) -> Any:
    """One attribute value, normalised; None stays None (clears the field)."""
    if value is None:
        return None
    kind = spec.kind
    if kind in (STRING, TEXT):
        if not isinstance(value, str):
            raise bad_request(
                "type constraint", "This value should be of type string.", pointer=where
            )
        limit = MAX_STRING if kind == STRING else MAX_TEXT
        if len(value) > limit:
            raise bad_request(
                "length constraint",
                f"This value is too long. It should have {limit} characters or less.",
                pointer=where,
            )
        return value
    if kind == DATE:
        try:
            return parse_date(value)
        except ValueError:
            raise bad_request(
                "date constraint", "This value is not a valid date (YYYY-MM-DD).", pointer=where
            ) from None
    if kind == DATETIME:
        try:
            return normalize_timestamp(value)
        except (ValueError, TypeError):
            raise bad_request(
                "datetime constraint",
                "This value is not a valid datetime (ISO-8601).",
                pointer=where,
            ) from None
    if kind == BOOLEAN:
        if not isinstance(value, bool):
            raise bad_request(
                "type constraint", "This value should be of type boolean.", pointer=where
            )
        return value
    if kind == PERCENT:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise bad_request(
                "range constraint", "This value should be a number between 0 and 1.", pointer=where
            )
        return float(value)
    if kind == MONEY:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise bad_request(
                "type constraint", "This value should be a decimal number.", pointer=where
            )
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise bad_request(
                "type constraint", "This value should be a decimal number.", pointer=where
            ) from None
        if not amount.is_finite() or amount < 0 or amount >= Decimal("1e15"):
            raise bad_request(
                "range constraint", "This value should be a positive amount.", pointer=where
            )
        return f"{amount:.4f}"
    if kind == CURRENCY:
        if not isinstance(value, str) or not _CURRENCY_RE.match(value):
            raise bad_request(
                "currency constraint", "This value is not a valid currency code.", pointer=where
            )
        return value
    if kind == GENDER:
        if value not in ("male", "female"):
            raise bad_request(
                "choice constraint",
                "The value you selected is not a valid choice (male, female).",
                pointer=where,
            )
        return value
    if kind == EMAILS:
        return _check_collection(
            value, "email", where, _EMAIL_RE, "This value is not a valid email address."
        )
    if kind == PHONES:
        return _check_collection(value, "phone", where, None, "This value should not be blank.")
    raise AssertionError(f"unhandled attribute kind {kind}")  # a schema mistake, not input


def _check_collection(
    value: Any, key: str, where: str, pattern: re.Pattern[str] | None, message: str
) -> list[dict[str, str]]:
    """``[{"email": ...}]`` / ``[{"phone": ...}]``: well-formed, no blanks, no duplicates."""
    if not isinstance(value, list):
        raise bad_request(
            "type constraint",
            f'This value should be a list of {{"{key}": …}} objects.',
            pointer=where,
        )
    items: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        item_where = f"{where}/{index}/{key}"
        if not isinstance(item, dict) or set(item) != {key} or not isinstance(item[key], str):
            raise bad_request(
                "type constraint",
                f'Each item should be an object with one string "{key}".',
                pointer=f"{where}/{index}",
            )
        text = item[key].strip()
        if not text or (pattern is not None and not pattern.match(text)) or len(text) > MAX_STRING:
            raise bad_request(f"{key} constraint", message, pointer=item_where)
        if text.casefold() in seen:
            raise bad_request(
                "unique collection item constraint",
                f"This {key} is listed twice.",
                pointer=item_where,
            )
        seen.add(text.casefold())
        items.append({key: text})
    return items


def check_ref(value: Any, rel: Relationship, where: str) -> Ref:
    """One resource identifier ``{"type", "id"}`` of a relationship (enum ids are checked)."""
    if not isinstance(value, dict) or "type" not in value or "id" not in value:
        raise bad_request(
            "request data constraint", 'A resource identifier needs "type" and "id".', pointer=where
        )
    rtype, rid = value["type"], value["id"]
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = str(rid)  # lenient: numeric ids sent as numbers
    if not isinstance(rtype, str) or not isinstance(rid, str) or not rid:
        raise bad_request(
            "request data constraint", '"type" and "id" must be strings.', pointer=where
        )
    if rel.target is not None and rtype != rel.target:
        raise bad_request(
            "relationship constraint",
            f'The type should be "{rel.target}".',
            pointer=f"{where}/type",
        )
    if rtype in DICTIONARIES and not places.exists(rtype, rid):
        raise bad_request(
            "form constraint", f'The {rtype} "{rid}" does not exist.', pointer=f"{where}/id"
        )
    if rel.target is None and rel.targets and rtype not in rel.targets:
        raise bad_request(
            "relationship constraint",
            f"The type should be one of: {', '.join(rel.targets)}.",
            pointer=f"{where}/type",
        )
    # Enum options live in the database (Records checks them); dictionaries are fixed.
    if (
        rtype in ENUMS
        and rtype not in ENUM_OPTION_TYPES
        and rid not in {item_id for item_id, _ in ENUMS[rtype]}
    ):
        choices = ", ".join(item_id for item_id, _ in ENUMS[rtype])
        raise bad_request(
            "choice constraint",
            f"The value you selected is not a valid choice ({choices}).",
            pointer=f"{where}/id",
        )
    return {"type": rtype, "id": rid}


def check_relationships(
    rtype: ResourceType, relationships: Any, pointer: str, *, skip: tuple[str, ...] = ()
) -> dict[str, Ref | list[Ref] | None]:
    """Validate a ``relationships`` member; return the given ones as refs (None clears).

    Names in ``skip`` are left to the caller (contact addresses are written through
    ``included``).
    """
    if relationships is None:
        return {}
    if not isinstance(relationships, dict):
        raise bad_request(
            "request data constraint", "relationships must be an object", pointer=pointer
        )
    result: dict[str, Ref | list[Ref] | None] = {}
    for name, member in relationships.items():
        where = f"{pointer}/{name}"
        rel = rtype.relationship_map.get(name)
        if rel is None:
            raise bad_request(
                "extra fields constraint",
                f'This form should not contain extra fields: "{name}".',
                pointer=where,
            )
        if not isinstance(member, dict) or "data" not in member:
            raise bad_request(
                "request data constraint", 'A relationship needs a "data" member.', pointer=where
            )
        if name in skip:
            continue
        data = member["data"]
        if rel.many:
            if not isinstance(data, list):
                raise bad_request(
                    "request data constraint",
                    "This relationship takes a list.",
                    pointer=f"{where}/data",
                )
            refs = [check_ref(item, rel, f"{where}/data/{i}") for i, item in enumerate(data)]
            result[name] = list({(r["type"], r["id"]): r for r in refs}.values())
        elif data is None:
            result[name] = None
        else:
            result[name] = check_ref(data, rel, f"{where}/data")
    return result


def check_required(
    rtype: ResourceType,
    attributes: dict[str, Any],
    relationships: dict[str, Any],
    pointer: str = "/data",
) -> None:
    """Required members of a whole (merged) record; Oro's "not blank" constraint."""
    for spec in rtype.attributes:
        if spec.required and _blank(attributes.get(spec.name)):
            raise bad_request(
                "not blank constraint",
                "This value should not be blank.",
                pointer=f"{pointer}/attributes/{spec.name}",
            )
    for rel in rtype.relationships:
        if rel.required and not relationships.get(rel.name):
            raise bad_request(
                "not blank constraint",
                "This value should not be blank.",
                pointer=f"{pointer}/relationships/{rel.name}/data",
            )
    if rtype.required_one_of and all(
        _blank(attributes.get(name)) for name in rtype.required_one_of
    ):
        names = ", ".join(rtype.required_one_of)
        raise bad_request(
            "not blank constraint",
            f"At least one of the fields {names} must be defined.",
            pointer=f"{pointer}/attributes/{rtype.required_one_of[0]}",
        )
    if rtype.name == "calendarevents":
        start, end = attributes.get("start"), attributes.get("end")
        if start and end and end < start:  # wire timestamps compare as text
            raise bad_request(
                "range constraint",
                "The end must not be before the start.",
                pointer=f"{pointer}/attributes/end",
            )


def _blank(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == []
        or (isinstance(value, str) and not value.strip())
    )


def settle_primary(attributes: dict[str, Any], given: dict[str, Any]) -> None:
    """Keep ``primaryEmail``/``primaryPhone`` one of the list, the first by default.

    A primary that names an item not in the list adds it at the front (Oro's setter adds the
    e-mail and marks it primary).
    """
    for list_name, primary_name, key in (
        ("emails", "primaryEmail", "email"),
        ("phones", "primaryPhone", "phone"),
    ):
        items: list[dict[str, str]] = list(attributes.get(list_name) or [])
        primary = given.get(primary_name) if primary_name in given else attributes.get(primary_name)
        values = [item[key] for item in items]
        if primary and primary not in values:
            if primary_name in given:
                items.insert(0, {key: primary})
                values.insert(0, primary)
            else:
                primary = None  # the old primary was removed from the list
        if not primary:
            primary = values[0] if values else None
        attributes[list_name] = items or None
        attributes[primary_name] = primary
