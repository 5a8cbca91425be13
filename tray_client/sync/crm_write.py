"""Canonical values -> the pieces of a JSON:API create or update (``to_crm``).

Only the named rows are touched; addresses are written as Oro takes them (ORO-API.md §6).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import places
from ..times import utc_text
from .rows import (
    DEFAULT_PRIORITY,
    DEFAULT_STATUS,
    ROWS,
    Canonical,
    MappingError,
    MappingRow,
    Regions,
)
from .values import _ADDRESS_CRM, _local_midnight, _text, crm_address_for, crm_primary_phone


@dataclass
class CrmWrite:
    """The pieces of a JSON:API create/update (see docs/protocol.md)."""

    attributes: dict[str, Any] = field(default_factory=dict)
    relationships: dict[str, Any] = field(default_factory=dict)
    included: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.attributes or self.relationships or self.included)


def _crm_instant(value: str | None, all_day: bool, canonical: Canonical | None = None,
                 name: str = "start") -> str | None:
    if value is None:
        return None
    if not all_day:
        return value
    # An all-day event is written as Oro's calendar writes one: from local 00:00 of the first
    # day to 23:59 of the last (the local end date is exclusive), as UTC instants.
    day = dt.date.fromisoformat(value)
    if name == "start":
        when = _local_midnight(day)
    else:
        start = (canonical or {}).get("start")
        first = dt.date.fromisoformat(start) if isinstance(start, str) else day
        when = _local_midnight(max(day, first + dt.timedelta(days=1))) - dt.timedelta(minutes=1)
    return utc_text(when.astimezone(dt.UTC))


def to_crm(entity: str, canonical: Canonical, names: Iterable[str], current: Any | None, *,
           calendar_id: str | None = None, regions: Regions | None = None) -> CrmWrite:
    """The write for the rows ``names`` of ``canonical``; ``current`` is the CRM resource
    being updated (``None`` for a create).

    Only the named rows are touched: the contact's other phones, its addresses that no row
    maps (a second billing address) and its other attributes are left as they are.
    ``regions(country)``: the region codes the CRM has for a country (see
    ``_address_parts``); None trusts ISO 3166-2.

    Raises MappingError for an address Oro would refuse (no country, an unknown one, a region
    the CRM does not have for its country).
    """
    names = list(names)
    write = CrmWrite()
    if entity == "contacts":
        _contact_write(write, canonical, names, current, regions)
    elif entity == "tasks":
        _task_write(write, canonical, names, current)
    elif entity == "events":
        _event_write(write, canonical, names, current, calendar_id)
    else:
        raise KeyError(entity)
    return write


def _contact_write(write: CrmWrite, canonical: Canonical, names: list[str], current: Any | None,
                   regions: Regions | None) -> None:
    attrs = write.attributes
    current_attrs: Mapping[str, Any] = current.attributes if current is not None else {}
    by_name = {row.name: row for row in ROWS["contacts"]}
    address_names = []
    for name in names:
        row = by_name[name]
        value = canonical.get(name)
        if row.kind in ("text", "date", "gender"):
            attrs[row.crm_field] = value
        elif row.kind == "emails":
            emails = list(value or [])
            attrs["emails"] = [{"email": e} for e in emails]
            primary = _text(current_attrs.get("primaryEmail"))
            if primary is not None and primary in emails:
                attrs["primaryEmail"] = primary
            elif emails:
                attrs["primaryEmail"] = emails[0]
        elif row.kind == "phone":
            phones = [dict(p) if isinstance(p, Mapping) else {"phone": p}
                      for p in current_attrs.get("phones") or []]
            index, _old = crm_primary_phone(current_attrs)
            if value is None:
                if index is not None:
                    del phones[index]
                attrs["primaryPhone"] = phones[0]["phone"] if phones else None
            else:
                if index is None:
                    phones.insert(0, {"phone": value})
                else:
                    phones[index] = {**phones[index], "phone": value}
                attrs["primaryPhone"] = value
            attrs["phones"] = phones
        elif row.kind == "address":
            address_names.append(row)
    if address_names:
        _address_write(write, canonical, address_names, current, regions)


def _task_write(write: CrmWrite, canonical: Canonical, names: list[str],
                current: Any | None) -> None:
    attrs = write.attributes
    for name in names:
        value = canonical.get(name)
        if name == "subject":
            attrs["subject"] = value
        elif name == "notes":
            attrs["description"] = value
        elif name == "due_date":
            attrs["dueDate"] = value
        elif name == "priority":
            write.relationships["taskPriority"] = {
                "data": None if value is None else {"type": "taskpriorities", "id": value}}
        elif name == "status":
            write.relationships["status"] = {
                "data": None if value is None else {"type": "taskstatuses", "id": value}}
    if current is None:
        # Oro requires both on create (TaskBundle validation.yml NotBlank): a create
        # whose priority or status row is disabled (or CRM → local only) carries the
        # seed's default, so that it is not refused.
        for rel, enum, default in (("taskPriority", "taskpriorities", DEFAULT_PRIORITY),
                                   ("status", "taskstatuses", DEFAULT_STATUS)):
            if not (write.relationships.get(rel) or {}).get("data"):
                write.relationships[rel] = {"data": {"type": enum, "id": default}}


def _event_write(write: CrmWrite, canonical: Canonical, names: list[str], current: Any | None,
                 calendar_id: str | None) -> None:
    attrs = write.attributes
    all_day = bool(canonical.get("all_day"))
    for name in names:
        value = canonical.get(name)
        if name == "subject":
            attrs["title"] = value
        elif name == "notes":
            attrs["description"] = value
        elif name == "all_day":
            attrs["allDay"] = all_day
        elif name in ("start", "end"):
            attrs[name] = _crm_instant(value, all_day, canonical, name)
    # The CRM stores times, not dates: when all_day changes, start and end must be
    # re-sent in the matching form (and an all-day end depends on its start).
    if "all_day" in names or (all_day and "start" in names):
        for name in ("start", "end"):
            attrs.setdefault(name, _crm_instant(canonical.get(name), all_day, canonical,
                                                name))
    if current is None and calendar_id is not None:
        write.relationships["calendar"] = {"data": {"type": "calendars", "id": calendar_id}}


def _address_write(write: CrmWrite, canonical: Canonical, rows: Sequence[MappingRow],
                   current: Any | None, regions: Regions | None = None) -> None:
    """Fill ``write`` with the address changes; the relationship lists every address the
    contact keeps, because on the wire the listed set replaces the contact's addresses."""
    keep: list[str] = [a.id for a in current.related("addresses")] if current is not None else []
    temp = 0
    for row in rows:
        value = canonical.get(row.name)
        existing = crm_address_for(current, row.address_type) if current is not None else None
        if value is None:
            if existing is not None and existing.id in keep:
                keep.remove(existing.id)
            continue
        attributes, relationships = _address_parts(row, value, regions)
        if existing is not None:
            write.included.append({"type": "contactaddresses", "id": existing.id,
                                   "attributes": attributes, "relationships": relationships,
                                   "meta": {"update": True}})
        else:
            temp += 1
            temp_id = f"new-{row.name}-{temp}"
            types = [] if row.address_type is None else [
                {"type": "addresstypes", "id": row.address_type}]
            write.included.append({"type": "contactaddresses", "id": temp_id,
                                   "attributes": attributes,
                                   "relationships": {**relationships, "types": {"data": types}}})
            keep.append(temp_id)
    write.relationships["addresses"] = {
        "data": [{"type": "contactaddresses", "id": i} for i in keep]}


def _address_parts(row: MappingRow, value: Mapping[str, Any], regions: Regions | None
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Attributes and relationships of one address, as Oro takes them (ORO-API.md §6):
    ``country`` required; ``region`` a relationship; ``customRegion`` only for a country the
    CRM has no regions for (Oro refuses it otherwise: "Custom region can be used only for
    countries without predefined regions"). Raises MappingError for what Oro would refuse."""
    where = f"{row.description.split(' ↔ ')[-1]}"
    attributes: dict[str, Any] = {crm: value.get(part) for part, crm in _ADDRESS_CRM.items()}
    country = value.get("country")
    if country is None:
        raise MappingError(
            f"The {where} has no country, and the CRM requires one. Add the country, or set "
            "a default country (Settings › Sync rules, or `tray-client configure "
            "--default-country CODE`).")
    if not places.is_country_code(country):
        raise MappingError(
            f"The {where}'s country {country!r} is not a country the client knows (ISO 3166); "
            "write it as its name (e.g. Germany, Deutschland) or its code (DE).")
    region = value.get("region")
    known = regions(country) if regions is not None and region is not None else None
    region_ref: dict[str, str] | None = None
    custom: str | None = None
    if region is None:
        pass
    elif places.is_region_code(country, region) and (known is None or region in known):
        region_ref = {"type": "regions", "id": region}
    elif known:
        raise MappingError(
            f"The {where}'s region {places.region_name(region) or region!r} is not one of the "
            f"regions the CRM has for {places.country_name(country)}, and Oro accepts free-text "
            "regions only for countries without predefined ones. Correct the region (its name "
            "or code), or leave it empty.")
    else:
        # A country the CRM has no regions for: the region travels as free text.
        custom = places.region_name(region) if places.is_region_code(country, region) else region
    attributes["customRegion"] = custom
    return attributes, {"country": {"data": {"type": "countries", "id": country}},
                        "region": {"data": region_ref}}
