"""Field names, validation and normalisation of local items (DESIGN §4).

Every write to the store goes through :func:`normalize_fields` (a whole field dict) or
:func:`merge_fields` (a partial change on top of existing fields), so that what is stored is
always canonical:

- strings are trimmed, line breaks are LF; an empty string (or ``None``) means "absent" and is
  not stored;
- ``emails`` is a list of strings (a comma-separated string is accepted too);
- addresses are dicts with the keys ``street city postal_code region country``;
- ``birthday`` is an ISO date ``YYYY-MM-DD``;
- task ``due_date`` is an ISO-8601 date-time with a UTC offset (as event bounds: Oro keeps
  ``dueDate`` as a date-time), or an ISO date (meaning the start of that day here);
- event ``start``/``end`` are ISO-8601 date-times with a UTC offset (``Z`` becomes
  ``+00:00``; whole seconds, whole-minute offsets), or ISO dates when ``all_day`` is true; the
  all-day ``end`` is exclusive (the day after the last day), as in iCalendar;
- events always carry ``all_day`` (``False`` unless set), so two equal events compare equal;
- ``gender`` is ``male|female``, task ``priority`` ``low|normal|high``, task ``status``
  ``not_started|in_progress|completed|waiting|deferred``.

Anything else raises :class:`~tray_client.errors.StoreError` naming the field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timezone
from typing import Any

from ..errors import StoreError

ENTITIES = ("contacts", "tasks", "events")

ADDRESS_FIELDS = ("business_address", "home_address", "other_address")
ADDRESS_PARTS = ("street", "city", "postal_code", "region", "country")
GENDERS = ("male", "female")
PRIORITIES = ("low", "normal", "high")
STATUSES = ("not_started", "in_progress", "completed", "waiting", "deferred")

# Field kind per entity, in display order. Kinds: text, emails, date, gender, address,
# priority, status, instant (event start/end), due (a task's due date-time, or a date), bool.
FIELD_KINDS: dict[str, dict[str, str]] = {
    "contacts": {
        "first_name": "text", "middle_name": "text", "last_name": "text", "suffix": "text",
        "emails": "emails", "primary_phone": "text", "job_title": "text",
        "birthday": "date", "gender": "gender", "business_fax": "text",
        "business_address": "address", "home_address": "address", "other_address": "address",
        "notes": "text",
    },
    "tasks": {
        "subject": "text", "priority": "priority", "due_date": "due", "status": "status",
        "notes": "text",
    },
    "events": {
        "subject": "text", "start": "instant", "end": "instant", "all_day": "bool",
        "location": "text", "notes": "text",
    },
}

_TRUE = ("true", "1", "yes", "on")
_MISSING = object()
_SPACE = re.compile(r"\s")
_FALSE = ("false", "0", "no", "off")


def check_entity(entity: str) -> str:
    """Return ``entity`` if it is one of ENTITIES, else raise StoreError."""
    if entity not in FIELD_KINDS:
        raise StoreError(f"Unknown item type {entity!r}; use one of {', '.join(ENTITIES)}.",
                         title="Unknown item type")
    return entity


def _field_error(field: str, message: str) -> StoreError:
    return StoreError(f"{field}: {message}", title=f"Invalid value for {field}")


def parse_bool(value: Any, field: str = "value") -> bool:
    """``True/False``, 0/1 or the strings true/false/1/0/yes/no/on/off (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _field_error(field, f"expected true or false, got {value!r}.")


def _text(field: str, value: Any) -> str | None:
    if not isinstance(value, str):
        raise _field_error(field, f"expected text, got {type(value).__name__}.")
    if "\r" not in value:   # nothing to replace (the usual case: the same result)
        return value.strip() or None
    # One line-break convention (LF), as vCard and iCalendar read their escaped breaks back.
    return value.replace("\r\n", "\n").replace("\r", "\n").strip() or None


def _emails(field: str, value: Any) -> list[str] | None:
    if type(value) is list:
        # The usual case (a list of text), checked with one search over all its addresses;
        # anything else (and any error, so that the first problem is the one named) takes
        # the general loop below.
        try:
            result = [address for part in value if (address := part.strip())]
        except (AttributeError, TypeError):
            result = None
        if result is not None and all(type(part) is str for part in value) \
                and not _SPACE.search("@".join(result)):
            return result or None
    return _emails_checked(field, value)


def _emails_checked(field: str, value: Any) -> list[str] | None:
    if isinstance(value, str):
        parts: Iterable[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        raise _field_error(field, "expected a list of e-mail addresses or a comma-separated "
                                  "string.")
    result = []
    for part in parts:
        if not isinstance(part, str):
            raise _field_error(field, f"every e-mail address must be text, got {part!r}.")
        address = part.strip()
        if address:
            if _SPACE.search(address):
                raise _field_error(field, f"{address!r} is not an e-mail address "
                                          "(it contains a space).")
            result.append(address)
    return result or None


def _date(field: str, value: Any) -> str | None:
    if isinstance(value, datetime):
        raise _field_error(field, "expected a date (YYYY-MM-DD), not a date and time.")
    if isinstance(value, date):
        return value.isoformat()
    text = _text(field, value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise _field_error(field, f"{text!r} is not a date; write it as YYYY-MM-DD "
                                  "(for example 1980-04-23).") from None


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> str | None:
    if type(value) is str and value in choices:   # already canonical: the same result
        return value
    text = _text(field, value)
    if text is None:
        return None
    normal = text.lower().replace(" ", "_").replace("-", "_")
    if normal not in choices:
        raise _field_error(field, f"{text!r} is not allowed; use one of {', '.join(choices)}.")
    return normal


def _address(
    field: str, value: Any, base: Mapping[str, Any] | None = None
) -> dict[str, str] | None:
    if type(value) is dict and not base:
        # The usual case, in one pass in canonical order: known parts, text without a CR
        # (anything else takes the general loop below, which names the problem).
        result: dict[str, str] = {}
        found = 0
        for part in ADDRESS_PARTS:
            raw = value.get(part, _MISSING)
            if raw is _MISSING:
                continue
            found += 1
            if raw is None:
                continue
            if type(raw) is not str or "\r" in raw:
                break
            if text := raw.strip():
                result[part] = text
        else:
            if found == len(value):
                return result or None
    return _address_checked(field, value, base)


def _address_checked(
    field: str, value: Any, base: Mapping[str, Any] | None = None
) -> dict[str, str] | None:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise _field_error(field, "expected an address with the parts "
                                  f"{', '.join(ADDRESS_PARTS)}.")
    result: dict[str, str] = dict(base) if base else {}
    for part, raw in value.items():
        if part not in ADDRESS_PARTS:
            raise StoreError(f"Unknown address part {field}.{part}; use one of "
                             f"{', '.join(ADDRESS_PARTS)}.", title=f"Unknown field {field}.{part}")
        if type(raw) is str and "\r" not in raw:   # _text's usual case, inline
            text = raw.strip() or None
        else:
            text = None if raw is None else _text(f"{field}.{part}", raw)
        if text is None:
            result.pop(part, None)
        else:
            result[part] = text
    # Canonical part order keeps stored JSON (and comparisons of it) stable.
    ordered = {p: result[p] for p in ADDRESS_PARTS if p in result}
    return ordered or None


def _instant(field: str, value: Any) -> str | None:
    """An event bound: ISO datetime with offset, or an ISO date (checked later vs all_day)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        return value.isoformat()
    else:
        text = _text(field, value)
        if text is None:
            return None
        if len(text) == 10:
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                pass
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise _field_error(field, f"{text!r} is not an ISO-8601 date and time; write it "
                                      "like 2026-11-23T10:00:00+01:00 (or a date, "
                                      "YYYY-MM-DD).") from None
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise _field_error(field, f"{dt.isoformat()} has no UTC offset; add one, for example "
                                  f"{dt.isoformat()}+01:00 (or Z for UTC).")
    offset = dt.utcoffset()
    assert offset is not None
    if offset.total_seconds() % 60:
        raise _field_error(field, f"{dt.isoformat()}: the UTC offset must be whole minutes.")
    # Calendars (iCalendar, the CRM) keep whole seconds: so does the store, so that a value
    # survives every round trip unchanged.
    dt = dt.replace(microsecond=0)
    # A non-zero offset is kept (not a named zone): the instant and its local wall time survive.
    dt = dt.replace(tzinfo=timezone(offset) if offset else UTC)
    return dt.isoformat()


def _bool_value(field: str, value: Any) -> bool | None:
    if isinstance(value, str) and not value.strip():
        return None
    return parse_bool(value, field)


# The normaliser of each field kind: (field name, a value that is not None) -> canonical.
_NORMALIZERS: dict[str, Any] = {
    "text": _text,
    "emails": _emails,
    "date": _date,
    "gender": lambda field, value: _choice(field, value, GENDERS),
    "priority": lambda field, value: _choice(field, value, PRIORITIES),
    "status": lambda field, value: _choice(field, value, STATUSES),
    "address": _address,
    "instant": _instant,
    "due": _instant,
    "bool": _bool_value,
}
assert {kind for kinds in FIELD_KINDS.values() for kind in kinds.values()} <= _NORMALIZERS.keys()


def normalize_value(entity: str, field: str, value: Any) -> Any:
    """Return the canonical value of one field (``None`` = absent). Raises StoreError."""
    kinds = FIELD_KINDS[check_entity(entity)]
    kind = kinds.get(field)
    if kind is None:
        raise StoreError(f"{entity} have no field {field!r}; known fields: "
                         f"{', '.join(kinds)}.", title=f"Unknown field {field}")
    if value is None:
        return None
    return _NORMALIZERS[kind](field, value)


def _check_event(fields: dict[str, Any]) -> dict[str, Any]:
    """Cross-field rules of events: all_day present; bounds match it; end not before start."""
    all_day = bool(fields.get("all_day", False))
    fields["all_day"] = all_day
    for name in ("start", "end"):
        value = fields.get(name)
        if value is None:
            continue
        is_date = len(value) == 10
        if all_day and not is_date:
            # An all-day event keeps only the day, read in the value's own offset.
            fields[name] = value[:10]
        elif not all_day and is_date:
            raise _field_error(name, f"{value} is a date but the event is not all-day; give a "
                                     "time with an offset (2026-11-23T10:00:00+01:00) or set "
                                     "all_day=true.")
    start, end = fields.get("start"), fields.get("end")
    if start is not None and end is not None:
        if all_day:
            before = end < start
        else:
            before = datetime.fromisoformat(end) < datetime.fromisoformat(start)
        if before:
            raise _field_error("end", f"the event ends ({end}) before it starts ({start}).")
    return fields


def _finish(entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    order = FIELD_KINDS[entity]
    get = fields.get
    result = {name: value for name in order if (value := get(name)) is not None}
    if entity == "events":
        result = _check_event(result)
        result = {name: result[name] for name in order if name in result}
    return result


def normalize_fields(entity: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a whole field dict and return its canonical form (absent fields dropped).

    Raises StoreError naming the first unknown field or bad value.
    """
    kinds = FIELD_KINDS.get(entity) or FIELD_KINDS[check_entity(entity)]
    if type(fields) is not dict and not isinstance(fields, Mapping):
        raise StoreError("Item fields must be a mapping of field names to values.")
    # One pass in canonical order (what ``_finish`` orders), each value sent to its kind's
    # normaliser. Should it meet a problem (an unknown field, a bad value), the general
    # pass below runs instead: it meets the fields in their given order, so the error
    # names the same field as ever.
    result = {}
    found = 0
    get = fields.get
    try:
        for name, kind in kinds.items():
            value = get(name, _MISSING)
            if value is _MISSING:
                continue
            found += 1
            if value is None:
                continue
            if kind == "text" and type(value) is str and "\r" not in value:
                value = value.strip() or None   # _text's usual case, inline
            else:
                value = _NORMALIZERS[kind](name, value)
            if value is not None:
                result[name] = value
    except Exception:   # the general pass below raises what it meets first
        found = -1
    if found == len(fields):
        return _finish(entity, result) if entity == "events" else result
    return _normalize_general(entity, fields)


def _normalize_general(entity: str, fields: Mapping[str, Any],
                       normalizers: Mapping[str, Any] = _NORMALIZERS) -> dict[str, Any]:
    """``normalize_fields``, each field in its given order (the first problem raises)."""
    kinds = FIELD_KINDS[entity]
    result = {}
    for name, value in fields.items():
        kind = kinds.get(name)
        if kind is None or value is None:
            result[name] = normalize_value(entity, name, value)   # raises for an unknown name
        else:
            result[name] = normalizers[kind](name, value)
    return _finish(entity, result)


def merge_fields(entity: str, existing: Mapping[str, Any],
                 changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a partial change to canonical ``existing`` fields and return the new canonical dict.

    A change of ``None`` or ``""`` removes the field; an address given as a dict is merged
    part by part into the existing address (a part set to ``""``/``None`` is removed).
    Raises StoreError like :func:`normalize_fields`.
    """
    check_entity(entity)
    merged: dict[str, Any] = copy.deepcopy(dict(existing))
    kinds = FIELD_KINDS[entity]
    for name, value in changes.items():
        if kinds.get(name) == "address" and isinstance(value, Mapping):
            merged[name] = _address(name, value, base=merged.get(name))
        else:
            merged[name] = normalize_value(entity, name, value)
    return _finish(entity, merged)


def parse_assignments(entity: str,
                      assignments: Iterable[str]) -> tuple[dict[str, Any], bool | None]:
    """Parse CLI ``FIELD=VALUE`` strings (DESIGN §9) into a change dict for ``merge_fields``.

    ``emails=a@x.org,b@y.org`` gives a list, ``business_address.city=Paris`` one address
    part, ``FIELD=`` removes the field, ``crm_sync=true`` is returned separately (``None``
    when not given). Raises StoreError for a missing ``=``, an unknown field or a bad value.
    """
    kinds = FIELD_KINDS[check_entity(entity)]
    changes: dict[str, Any] = {}
    crm_sync: bool | None = None
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise StoreError(f"{assignment!r} is not FIELD=VALUE (for example "
                             "first_name=Ann).", title="Invalid assignment")
        if name == "crm_sync":
            crm_sync = parse_bool(value, "crm_sync")
            continue
        field, dot, part = name.partition(".")
        if dot:
            if kinds.get(field) != "address":
                raise StoreError(f"{name}: only addresses have dotted parts "
                                 f"({', '.join(ADDRESS_FIELDS)}).", title=f"Unknown field {name}")
            target = changes.setdefault(field, {})
            if not isinstance(target, dict):
                raise StoreError(f"{name}: {field} was already set as a whole.",
                                 title="Invalid assignment")
            target[part] = value
        else:
            # Validate now so the error names the assignment the user typed.
            normalize_value(entity, field, value if kinds.get(field) != "address" else None)
            if kinds.get(field) == "address":
                if value.strip():
                    raise StoreError(f"{field}: set its parts, e.g. {field}.city=Paris "
                                     f"(parts: {', '.join(ADDRESS_PARTS)}); {field}= clears it.",
                                     title=f"Invalid value for {field}")
                changes[field] = None
            else:
                changes[field] = value
    return changes, crm_sync


def apply_assignments(entity: str, existing_fields: Mapping[str, Any],
                      assignments: Iterable[str]) -> tuple[dict[str, Any], bool | None]:
    """``--set FIELD=VALUE`` on top of ``existing_fields``: (new canonical fields, crm_sync|None).

    Use the result with ``LocalStore.add`` (existing ``{}``) or ``LocalStore.replace_fields``;
    or pass ``parse_assignments``'s change dict to ``LocalStore.update``. Raises StoreError,
    also for a value the CRM would refuse (``check_for_crm`` of the fields assigned).
    """
    changes, crm_sync = parse_assignments(entity, assignments)
    merged = merge_fields(entity, existing_fields, changes)
    check_for_crm(entity, {name: merged[name] for name in changes if name in merged})
    return merged, crm_sync


# Local text fields that are multi-line in the CRM: text columns, and the street (vCard and
# the CRM's street + street2 hold more than one line).
_MULTILINE = {"notes": 65535, "street": 500}


def check_for_crm(entity: str, fields: Mapping[str, Any]) -> None:
    """Refuse (StoreError naming the field) a canonical value the CRM would refuse at the
    next sync: an e-mail address that is not one, a text too long for its CRM column, a
    control character, a line break in a one-line field. The rules are the create forms'
    (``tray_client.outbox.validation``), so an entry is judged the same way everywhere."""
    from ..outbox.validation import MAX_STRING, email_problem, text_problem

    kinds = FIELD_KINDS[check_entity(entity)]
    for name, value in fields.items():
        kind = kinds.get(name)
        if kind == "emails":
            for address in value or ():
                if problem := email_problem(address):
                    raise _field_error(name, problem)
        elif kind == "text" and isinstance(value, str):
            limit = _MULTILINE.get(name, MAX_STRING)
            if problem := text_problem(value, multiline=name in _MULTILINE, limit=limit):
                raise _field_error(name, problem)
        elif kind == "address" and isinstance(value, Mapping):
            for part, text in value.items():
                limit = _MULTILINE.get(part, MAX_STRING)
                if problem := text_problem(str(text), multiline=part in _MULTILINE,
                                           limit=limit):
                    raise _field_error(f"{name}.{part}", problem)


def display_name(entity: str, fields: Mapping[str, Any]) -> str:
    """A short human name: contact "First Last" (else e-mail, phone), task/event subject."""
    if entity == "contacts":
        name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
        if name:
            return name
        emails = fields.get("emails") or []
        if emails:
            return str(emails[0])
        return str(fields.get("primary_phone") or "(no name)")
    return str(fields.get("subject") or "(no subject)")


def search_text(entity: str, fields: Mapping[str, Any]) -> str:
    """The case-folded text that ``LocalStore.list(search=...)`` matches against."""
    get = fields.get
    if entity == "contacts":
        parts = [get("first_name"), get("middle_name"), get("last_name"), get("suffix"),
                 get("job_title"), get("primary_phone"), *(get("emails") or ())]
    else:
        parts = [get("subject"), get("location")]
    return "\n".join([str(p) for p in parts if p]).casefold()
