"""Normalising single values into their canonical form, and reading parts of CRM records.

Helpers of ``mapping`` and ``crm_write``: trimmed text, ``YYYY-MM-DD`` dates, UTC instants,
e-mail lists, genders, addresses (country and region as ISO codes), the primary phone.
Malformed values raise ``MappingError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from .. import places
from ..crm.jsonapi import id_key
from ..times import utc_text
from .rows import Canonical, MappingError

_ADDRESS_PARTS = ("street", "city", "postal_code", "region", "country")
# Address parts that are plain attributes on both sides; country and region are Oro
# relationships (``countries`` ISO 3166-1 alpha-2, ``regions`` ISO 3166-2) or ``customRegion``.
_ADDRESS_CRM = {"street": "street", "city": "city", "postal_code": "postalCode"}


# -- normalisers ---------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    if type(value) is str:   # the usual case first (the same result as below)
        return value.strip() or None
    if value is None:
        return None
    if not isinstance(value, (str, int, float)):
        raise MappingError(f"expected text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _date(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        if len(text) > 10:
            # A datetime where a date is expected (some Oro versions send dueDate so): its
            # calendar date as written, not shifted to UTC, is what the user entered.
            return dt.datetime.fromisoformat(text).date().isoformat()
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise MappingError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _instant(value: Any) -> str | None:
    """UTC instant ``YYYY-MM-DDTHH:MM:SSZ``; a value without offset is taken as UTC."""
    text = _text(value)
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{text!r} is not a date and time (ISO-8601)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return utc_text(when.astimezone(dt.UTC))


def _due_instant(value: Any) -> str | None:
    """A local task's due date as a UTC instant: a date-time as it is; a bare date is the
    start of that day here (Oro's ``dueDate`` is a date-time; its UI means local days)."""
    text = _text(value)
    if text is not None and len(text) == 10:
        day = _date(text)
        return None if day is None else _instant(
            _local_midnight(dt.date.fromisoformat(day)).isoformat())
    return _instant(text)


def _emails(values: Iterable[Any]) -> list[str]:
    result: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = (value.strip() or None) if type(value) is str else _text(value)  # _text inline
        if text:
            folded = text.casefold()
            if folded not in seen:
                seen.add(folded)
                result.append(text)
    return result


def _gender(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.lower()
    if text not in ("male", "female"):
        raise MappingError(f"gender must be male or female, not {text!r}")
    return text


def _address(parts: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not parts:
        return None
    result = {}
    get = parts.get
    for k in _ADDRESS_PARTS:
        value = get(k)
        # _text, its usual case inline (the same result)
        text = (value.strip() or None) if type(value) is str else _text(value)
        if text is not None:
            result[k] = text
    return result or None


def _local_address(parts: Mapping[str, Any] | None, default_country: str) -> dict[str, str] | None:
    """A local address in canonical form: country as its alpha-2 code (the default country
    when none is given), region as its ISO 3166-2 code; text nobody knows stays text (the
    write refuses it then, per record: see ``_address_parts``)."""
    address = _address(parts)
    if address is None:
        return None
    typed = address.get("country")
    code = places.country_code(typed) if typed else (default_country or None)
    if code is not None:
        address["country"] = code
    region = address.get("region")
    if region is not None and code is not None:
        address["region"] = places.region_code(code, region) or region
    return address


def _crm_address(address: Any) -> dict[str, str] | None:
    """A CRM address in canonical form (its region relationship, else its customRegion):
    its parts in ``_ADDRESS_PARTS`` order, empty ones left out, None when none is left."""
    attrs, rels = address.attributes, address.relationships
    result: dict[str, str] = {}
    for part, value in (
            ("street", attrs.get("street")), ("city", attrs.get("city")),
            ("postal_code", attrs.get("postalCode")),
            ("region", _ref_id(rels.get("region")) or attrs.get("customRegion")),
            ("country", _ref_id(rels.get("country")))):
        # _text, its usual case inline (the same result)
        text = (value.strip() or None) if type(value) is str else _text(value)
        if text is not None:
            result[part] = text
    return result or None


def crm_emails(values: Iterable[Any]) -> list[str]:
    """The e-mail addresses of a CRM record's ``emails`` (objects with an ``email``, or
    plain values): ``_emails`` of them."""
    return _emails(value.get("email") if type(value) is dict or isinstance(value, Mapping)
                   else value for value in values)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _name_fallback(canonical: Canonical) -> None:
    # docs/sync-rules.md, "Vocabulary": no first name -> the last name is used for both; no
    # last name -> the first.
    # Applied to both sides so that the canonical forms agree and nothing bounces.
    first, last = canonical.get("first_name"), canonical.get("last_name")
    if first is None and last is not None:
        canonical["first_name"] = last
    elif last is None and first is not None:
        canonical["last_name"] = first


def _event_times(canonical: Canonical, start: Any, end: Any, *, crm: bool = False) -> None:
    # All-day events are dates on both sides (an all-day event has no time zone); timed events
    # are UTC instants, so "10:00+01:00" locally equals "09:00Z" in the CRM.
    if canonical["all_day"]:
        day = _crm_all_day_date if crm else _date
        canonical["start"], canonical["end"] = day(start), day(end)
    else:
        canonical["start"], canonical["end"] = _instant(start), _instant(end)


def _local_midnight(day: dt.date) -> dt.datetime:
    """Midnight starting ``day`` in this computer's time zone (its offset on that date)."""
    return dt.datetime(day.year, day.month, day.day).astimezone()


def _crm_all_day_date(value: Any) -> str | None:
    """The date an all-day bound of the CRM stands for: the nearest midnight in this
    computer's time zone. Oro keeps all-day events as instants: its calendar writes the
    user's local 00:00 to 23:59 of the last day (inclusive, OroCalendarBundle
    ``all-day-view.js``); other writers use midnight UTC. Rounding to the nearest local
    midnight reads both as the day meant (23:59 → the next day: the local end is exclusive,
    as in iCalendar) for any offset up to ±12 h."""
    text = _text(value)
    if text is None or len(text) <= 10:
        return _date(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise MappingError(f"{text!r} is not a date and time (ISO-8601)") from None
    local = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone()
    day = local.date() + dt.timedelta(days=1 if local.hour >= 12 else 0)
    return day.isoformat()


# -- CRM -> canonical ------------------------------------------------------------------------

def _ref_id(ref: Any) -> str | None:
    if ref is None:
        return None
    if isinstance(ref, list):
        return _ref_id(ref[0]) if ref else None
    return str(getattr(ref, "id", ref))


def crm_primary_phone(attributes: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """Index in ``phones`` and value of the contact's primary phone (else the first one)."""
    phones = [p.get("phone") if type(p) is dict or isinstance(p, Mapping) else p
              for p in attributes.get("phones") or []]
    primary = _text(attributes.get("primaryPhone"))
    if primary is not None:
        for index, phone in enumerate(phones):
            if _text(phone) == primary:
                return index, primary
    for index, phone in enumerate(phones):
        if _text(phone) is not None:
            return index, _text(phone)
    return None, None


def _address_type_ids(address: Any) -> list[str]:
    types = address.relationships.get("types") or []
    if not isinstance(types, list):
        types = [types]
    return [str(t.id) for t in types if t is not None]


def crm_addresses(resource: Any) -> dict[str | None, Any]:
    """The CRM address mapped to each local address, by address type (``None``: the
    addresses with no type at all; a type no address has is missing): of the addresses of
    that type, the primary one first, then the lowest id, so the choice is stable."""
    best: dict[str | None, Any] = {}
    for address in resource.related("addresses"):
        for address_type in _address_type_ids(address) or (None,):
            held = best.get(address_type)
            # The first of equals stays, as min() keeps it; the order is worked out only
            # where two addresses share a type.
            if held is None or _address_order(address) < _address_order(held):
                best[address_type] = address
    return best


def _address_order(address: Any) -> tuple[bool, tuple[int, int, str]]:
    return (not address.attributes.get("primary"), id_key(address.id))


def crm_address_for(resource: Any, address_type: str | None) -> Any | None:
    """The CRM address mapped to one local address (``crm_addresses``), or None."""
    return crm_addresses(resource).get(address_type)
