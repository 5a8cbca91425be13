"""Field mapping between CRM resources and local items (docs/sync-rules.md, "Mapping").

Both sides are turned into one *canonical* dict per record: mapping row name -> value, in the
CRM's vocabulary and normalised (trimmed strings, ``None`` for empty, dates ``YYYY-MM-DD``,
instants as UTC ``YYYY-MM-DDTHH:MM:SSZ``, task status open/in_progress/closed). The engine
compares, merges and stores bases only in this form, so a lossy mapping (task statuses, name
fallbacks) never causes a write back and forth.

Public surface:

- ``ROWS[entity]``: the default rows; ``effective_rows(entity, settings)`` applies the user's
  overrides (and *Sync Birthdays*).
- ``from_crm(entity, resource)`` / ``from_local(entity, fields)``: canonical dicts with every
  row (enabled or not; keys may use disabled rows).
- ``to_local(entity, canonical, names, current)``: the local field values to write.
- ``to_crm(entity, canonical, names, current, ...)``: a ``CrmWrite`` (attributes,
  relationships, included) touching only the named rows.
- ``record_key(entity, canonical, key_fields)``: the normalised key tuple, or ``None``.

Malformed values raise ``MappingError`` (a ``ValueError``); the engine reports the record and
retries it next run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from .. import places
from ..store import fields as store_fields
from .crm_write import CrmWrite, to_crm
from .rows import (
    CRM_TYPES,
    DEFAULT_KEYS,
    DEFAULT_PRIORITY,
    DEFAULT_STATUS,
    DIRECTIONS,
    ENTITIES,
    PRIORITIES,
    ROWS,
    STATUS_TO_CRM,
    STATUS_TO_LOCAL,
    Canonical,
    EffectiveRow,
    MappingError,
    MappingRow,
    Regions,
    display_name,
    effective_rows,
    key_rows,
    record_key,
    rows_for,
)
from .values import (
    _bool,
    _crm_address,
    _date,
    _due_instant,
    _emails,
    _event_times,
    _gender,
    _instant,
    _local_address,
    _name_fallback,
    _ref_id,
    _text,
    crm_address_for,
    crm_addresses,
    crm_emails,
    crm_primary_phone,
)

__all__ = [
    "CRM_TYPES", "DEFAULT_KEYS", "DIRECTIONS", "ENTITIES", "ROWS", "Canonical", "CrmWrite",
    "EffectiveRow", "MappingError", "MappingRow", "Regions",
    "crm_address_for", "crm_primary_phone", "crm_read_only", "display_name", "effective_rows",
    "from_crm", "from_local", "key_rows", "local_key", "local_sources", "new_local_fields",
    "record_key",
    "rows_for", "skip_reason", "to_crm", "to_local",
]


# The contact rows read as plain text: (row name, CRM attribute); the local address each
# CRM address type fills.
_CONTACT_TEXT = tuple((row.name, row.crm_field) for row in ROWS["contacts"] if row.kind == "text")
_CONTACT_ADDRESSES = (("business_address", "billing"), ("home_address", "shipping"),
                      ("other_address", None))


def from_crm(entity: str, resource: Any) -> Canonical:
    """Canonical dict of a CRM ``Resource`` (every row, enabled or not).

    Raises MappingError for a malformed value.
    """
    attrs = resource.attributes
    rels = resource.relationships
    c: Canonical = {}
    if entity == "contacts":
        for name, crm_field in _CONTACT_TEXT:
            value = attrs.get(crm_field)
            # _text, its usual case inline (the same result)
            c[name] = (value.strip() or None) if type(value) is str else _text(value)
        c["emails"] = crm_emails(attrs.get("emails") or [])
        c["primary_phone"] = crm_primary_phone(attrs)[1]
        c["birthday"] = _date(attrs.get("birthday"))
        c["gender"] = _gender(attrs.get("gender"))
        addresses = crm_addresses(resource)
        for name, atype in _CONTACT_ADDRESSES:
            address = addresses.get(atype)
            c[name] = None if address is None else _crm_address(address)
        _name_fallback(c)
    elif entity == "tasks":
        c["subject"] = _text(attrs.get("subject"))
        c["notes"] = _text(attrs.get("description"))
        c["due_date"] = _instant(attrs.get("dueDate"))
        c["priority"] = _ref_id(rels.get("taskPriority")) or DEFAULT_PRIORITY
        c["status"] = _ref_id(rels.get("status")) or DEFAULT_STATUS
    elif entity == "events":
        c["subject"] = _text(attrs.get("title"))
        c["notes"] = _text(attrs.get("description"))
        c["all_day"] = _bool(attrs.get("allDay"))
        _event_times(c, attrs.get("start"), attrs.get("end"), crm=True)
    else:
        raise KeyError(entity)
    return c


def from_crm_once(entity: str, resource: Any) -> Canonical:
    """``from_crm(entity, resource)``, or the same mapping made by the page worker that
    decoded the record (``sync.pages``: ``LazyResource.canonical``), which is taken, so a
    second call maps the record again (each caller gets a dict of its own)."""
    canonical = getattr(resource, "canonical", None)
    if canonical is not None:
        resource.canonical = None
        return canonical  # type: ignore[no-any-return]
    return from_crm(entity, resource)


def skip_reason(entity: str, resource: Any) -> str | None:
    """Why a CRM record is left untouched on both sides (and listed as skipped), or None.

    Recurring events and their exceptions: the local store holds single events only, and
    syncing one occurrence would flatten the series (docs/sync-rules.md).
    """
    if entity != "events":
        return None
    attrs = resource.attributes
    if attrs.get("recurrence"):
        return ("recurring event: the local store cannot hold a recurrence yet, so it is left "
                "as it is on both sides")
    if attrs.get("recurringEventId") not in (None, ""):
        return ("exception of a recurring event: the local store cannot hold a recurrence yet, "
                "so it is left as it is on both sides")
    return None


def crm_read_only(entity: str, resource: Any) -> bool:
    """True for CRM records the user does not own and whose local edits are never sent:
    events where the user is only an attendee (an invitation: Oro's ``parentEventId``, or
    ``isOrganizer`` false). They still come from the CRM."""
    if entity != "events":
        return False
    attrs = resource.attributes
    return attrs.get("parentEventId") not in (None, "") or attrs.get("isOrganizer") is False


# -- local -> canonical ----------------------------------------------------------------------

def from_local(entity: str, fields: Mapping[str, Any], *, default_country: str = "") -> Canonical:
    """Canonical dict of a local item's fields (every row, enabled or not).

    ``default_country``: the alpha-2 code an address without a country is in (the setting).
    Raises MappingError for a malformed value (e.g. a start time that is no instant).
    """
    c: Canonical = {}
    if entity == "contacts":
        get = fields.get
        for name, local_field in _LOCAL_TEXT_ROWS:
            value = get(local_field)
            # _text, its usual case inline (the same result)
            c[name] = (value.strip() or None) if type(value) is str else _text(value)
        value = get("primary_phone")
        c["primary_phone"] = (value.strip() or None) if type(value) is str else _text(value)
        emails = get("emails") or []
        c["emails"] = _emails([emails] if isinstance(emails, str) else emails)
        c["birthday"] = _date(get("birthday"))
        c["gender"] = _gender(get("gender"))
        for name in ("business_address", "home_address", "other_address"):
            parts = get(name)
            # _local_address answers None for no parts (its usual case, not called)
            c[name] = _local_address(parts, default_country) if parts else None
        _name_fallback(c)
    elif entity == "tasks":
        c["subject"] = _text(fields.get("subject"))
        c["notes"] = _text(fields.get("notes"))
        c["due_date"] = _due_instant(fields.get("due_date"))
        priority = _text(fields.get("priority"))
        if priority is not None and priority not in PRIORITIES:
            raise MappingError(f"task priority must be low, normal or high, not {priority!r}")
        c["priority"] = priority or DEFAULT_PRIORITY
        status = _text(fields.get("status"))
        if status is not None and status not in STATUS_TO_CRM:
            raise MappingError(f"unknown task status {status!r}")
        c["status"] = DEFAULT_STATUS if status is None else STATUS_TO_CRM[status]
    elif entity == "events":
        c["subject"] = _text(fields.get("subject"))
        c["notes"] = _text(fields.get("notes"))
        c["all_day"] = _bool(fields.get("all_day"))
        _event_times(c, fields.get("start"), fields.get("end"))
    else:
        raise KeyError(entity)
    return c


def local_key(entity: str, fields: Mapping[str, Any], rows: list[str], *,
              default_country: str = "") -> tuple[Any, ...] | None:
    """``record_key(from_local(entity, fields), rows)``, with the same MappingError: for the
    few fields a key index reads of each item (``local_sources``), a contact's text rows,
    birthday and gender, only those are mapped; anything else takes that way."""
    if (entity != "contacts" or not _QUICK_KEY_FIELDS.issuperset(fields)
            or not _QUICK_KEY_FIELDS.issuperset(rows)):
        return record_key(from_local(entity, fields, default_country=default_country), rows)
    c: Canonical = {}
    for name, local_field in _LOCAL_TEXT_ROWS:
        if local_field in fields:   # an absent one maps to None, which ``get`` gives
            value = fields[local_field]
            c[name] = (value.strip() or None) if type(value) is str else _text(value)
    _name_fallback(c)
    if "birthday" in fields:
        c["birthday"] = _date(fields["birthday"])
    if "gender" in fields:
        c["gender"] = _gender(fields["gender"])
    return record_key(c, rows)


# A contact's text rows (name, local field), in ``ROWS`` order, as ``from_local`` reads them.
_LOCAL_TEXT_ROWS = tuple((row.name, row.local_field) for row in ROWS["contacts"]
                         if row.kind == "text")

# The local fields (each its own row's name) ``local_key`` maps by themselves.
_QUICK_KEY_FIELDS = frozenset([*(f for _, f in _LOCAL_TEXT_ROWS), "birthday", "gender"])
assert all(name == field for name, field in _LOCAL_TEXT_ROWS)

# Rows whose canonical value ``from_local`` makes from more than their own local field.
_LOCAL_SOURCES = {("contacts", "first_name"): ("first_name", "last_name"),  # the fallback
                  ("contacts", "last_name"): ("first_name", "last_name"),
                  ("events", "start"): ("start", "all_day"),
                  ("events", "end"): ("end", "all_day")}


def local_sources(entity: str, names: Iterable[str]) -> frozenset[str]:
    """The local fields ``from_local`` reads to make the canonical values of rows ``names``:
    given only those fields, it gives those rows the same values (a key from a few fields)."""
    by_name = {r.name: r.local_field for r in ROWS[entity]}
    return frozenset(f for n in names for f in _LOCAL_SOURCES.get((entity, n), (by_name[n],)))


# -- canonical -> local ----------------------------------------------------------------------

def to_local(entity: str, canonical: Canonical, names: Iterable[str], *,
             drop_empty: bool = False) -> dict[str, Any]:
    """Local field values for the rows ``names`` (empty values become ``None``; with
    ``drop_empty``, they are left out, as a new item's fields).

    Timed event instants are written in UTC with an explicit ``+00:00`` offset; all-day
    events as dates; task due dates in this computer's local time with its offset.
    """
    result: dict[str, Any] = {}
    if entity == "contacts":   # the contacts' case of the loop below, without its tests
        for name in names:
            value = canonical.get(name)
            if name == "emails":
                value = list(value or [])
            elif isinstance(value, dict):
                value = _address_names(value)
            elif value is None and drop_empty:
                continue
            result[name] = value
        return result
    for name in names:
        value = canonical.get(name)
        if entity == "tasks" and name == "status" and value is not None:
            value = STATUS_TO_LOCAL.get(value, "in_progress")
        elif entity == "events" and name in ("start", "end") and value is not None \
                and not canonical.get("all_day"):
            value = value.replace("Z", "+00:00")
        elif entity == "tasks" and name == "due_date" and value is not None:
            # The CRM's UTC instant as this computer's wall time and offset: the same moment,
            # shown on the day the user meant (Oro's UI enters it in the user's zone).
            value = dt.datetime.fromisoformat(value).astimezone().isoformat()
        elif name == "emails":
            value = list(value or [])
        elif isinstance(value, dict):
            value = _address_names(value)
        result[name] = value
    if drop_empty:
        return {k: v for k, v in result.items() if v is not None}
    return result


def new_local_fields(entity: str, canonical: Canonical,
                     names: Iterable[str]) -> dict[str, Any] | None:
    """The fields of a new local item made from ``canonical``: what
    ``store.normalize_fields(entity, to_local(entity, canonical, names, drop_empty=True))``
    returns, made in one pass (the first sync of a large address book is made of these).
    None where this pass cannot vouch for that result (another entity, a value of an
    unusual type or one the store would refuse): the caller takes the general way then,
    which also names the problem (tests/sync/test_mapping.py holds them equal)."""
    if entity != "contacts":
        return None
    key = tuple(names)
    plan = _NEW_FIELDS_PLANS.get(key)
    if plan is None:
        plan = _new_fields_plan(entity, key)
        if len(_NEW_FIELDS_PLANS) < 64:
            _NEW_FIELDS_PLANS[key] = plan
    if plan is False:
        return None
    result: dict[str, Any] = {}
    get = canonical.get
    try:
        for name, kind, normalize in plan:
            value = get(name)
            if value is None:
                continue
            if kind == "text":
                if type(value) is not str or "\r" in value:
                    return None
                value = value.strip() or None
            elif kind == "address":
                if type(value) is not dict:
                    return None
                value = normalize(name, _address_names(value))
            elif type(value) is dict or (kind == "emails" and type(value) is not list):
                return None   # to_local would change it first: the general way
            else:
                value = normalize(name, value)
            if value is not None:
                result[name] = value
    except Exception:   # a value the store refuses: the general way names it
        return None
    return result


_NEW_FIELDS_PLANS: dict[tuple[str, ...], Any] = {}


def _new_fields_plan(entity: str, names: tuple[str, ...]) -> Any:
    """``new_local_fields``'s steps for the rows ``names``: (field, kind, the store's
    normaliser of that kind) in the store's field order; False when a row is no local field
    of a kind that pass knows."""
    kinds = store_fields.FIELD_KINDS[entity]
    if any(kinds.get(n) not in ("text", "emails", "date", "gender", "address") for n in names):
        return False
    wanted = set(names)
    return [(name, kind, store_fields._NORMALIZERS[kind]) for name, kind in kinds.items()
            if name in wanted]


def _address_names(address: Mapping[str, Any]) -> dict[str, Any]:
    """A canonical address for the local side: country and region as names, not codes
    (a pulled address reads "United States", "California", as people write them)."""
    result = dict(address)
    key = (result.get("country"), result.get("region"))
    try:
        names = _PLACE_NAMES.get(key)
    except TypeError:   # a value that is no text: looked up (and refused) as ever
        names = _place_names(*key)
    if names is None:
        names = _place_names(*key)
        if len(_PLACE_NAMES) < 10000:
            _PLACE_NAMES[key] = names
    country, region = names
    if country is not _KEEP:
        if region is not _KEEP:
            result["region"] = region
        result["country"] = country
    return result


_KEEP = object()
# (country, region) of a canonical address -> the names ``_place_names`` gives them: a pull
# meets the same few places again and again (~3,000 instructions of look-ups a demo
# contact saved).
_PLACE_NAMES: dict[tuple[Any, Any], tuple[Any, Any]] = {}


def _place_names(country: Any, region: Any) -> tuple[Any, Any]:
    """The names an address's country and region codes become (``_KEEP``: left as they
    are): none unless the country is a code; the region's only when it is a code of it."""
    if not places.is_country_code(country):
        return _KEEP, _KEEP
    name = places.region_name(region) if places.is_region_code(country, region) else _KEEP
    return places.country_name(country), name
