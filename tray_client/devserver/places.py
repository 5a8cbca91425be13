"""Countries and regions, as Oro serves and checks them (ORO-API.md §6).

``countries`` (id: ISO 3166-1 alpha-2; attributes ``iso3Code``, ``name``; relationship
``regions``) and ``regions`` (id: the combined code ``US-CA``; attributes ``code``, ``name``;
relationship ``country``) are read-only dictionaries (platform
``AddressBundle/Resources/config/oro/api.yml``, responses ``cget_country.yml``,
``get_region.yml``). Oro loads them from its own ISO tables; the reference server takes them
from ``pycountry`` (every ISO 3166-2 subdivision of a country is one of its regions).

Contact address rules (``AbstractAddress`` ``country: NotBlank``; ``ContactAddressTest`` with
``AddressCountryAndRegionTestTrait``, region not required): a country is required; a region
must belong to the address's country ("valid region constraint"); ``customRegion`` is
accepted only for a country without predefined regions ("region text constraint").
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pycountry

from .jsonapi import ApiError, bad_request

COUNTRIES = "countries"
REGIONS = "regions"
DICTIONARIES = (COUNTRIES, REGIONS)

Resource = dict[str, Any]


@cache
def _countries() -> dict[str, Resource]:
    result: dict[str, Resource] = {}
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        regions = sorted(
            str(s.code) for s in pycountry.subdivisions.get(country_code=country.alpha_2) or []
        )
        result[country.alpha_2] = {
            "type": COUNTRIES,
            "id": country.alpha_2,
            "attributes": {
                "iso3Code": country.alpha_3,
                "name": getattr(country, "common_name", None) or country.name,
            },
            "relationships": {
                "regions": {"data": [{"type": REGIONS, "id": code} for code in regions]}
            },
        }
    return result


@cache
def _regions() -> dict[str, Resource]:
    result: dict[str, Resource] = {}
    for sub in sorted(pycountry.subdivisions, key=lambda s: s.code):
        country, _, code = str(sub.code).partition("-")
        result[str(sub.code)] = {
            "type": REGIONS,
            "id": str(sub.code),
            "attributes": {"code": code, "name": sub.name},
            "relationships": {"country": {"data": {"type": COUNTRIES, "id": country}}},
        }
    return result


def table(type_name: str) -> dict[str, Resource]:
    """Every resource of a dictionary type, by id."""
    return _countries() if type_name == COUNTRIES else _regions()


def exists(type_name: str, item_id: str) -> bool:
    return item_id in table(type_name)


def get(type_name: str, item_id: str) -> Resource:
    """One country or region; 404 as Oro answers for an unknown id."""
    resource = table(type_name).get(item_id)
    if resource is None:
        raise ApiError(
            404,
            "not found http exception",
            "An entity with the requested identifier does not exist.",
        )
    return resource


def listing(type_name: str, items: list[tuple[str, str]]) -> tuple[list[Resource], int, int]:
    """A filtered list: ``filter[id]`` (countries: iso2 codes; regions: combined codes) and, for
    regions, ``filter[country]``; comma lists allowed. Returns (resources, page number, size)."""
    resources = list(table(type_name).values())
    number, size = 1, 10  # Oro's default page size
    for name, value in items:
        wanted = set(value.split(","))
        if name == "filter[id]":
            resources = [r for r in resources if r["id"] in wanted]
        elif name == "filter[country]" and type_name == REGIONS:
            resources = [
                r for r in resources if r["relationships"]["country"]["data"]["id"] in wanted
            ]
        elif name in ("page[number]", "page[size]"):
            if not value.isdigit() or int(value) < 1:
                raise bad_request(
                    "filter constraint", "Expected a positive integer.", parameter=name
                )
            if name == "page[number]":
                number = int(value)
            else:
                size = int(value)
        elif name == "sort" or name.startswith("fields["):
            continue  # in id order already; sparse fields are ignored here
        else:
            raise bad_request("filter constraint", "The filter is not supported.", parameter=name)
    return resources, number, size


def check_address(attributes: dict[str, Any], relationships: dict[str, Any], pointer: str) -> None:
    """A whole (merged) contact address, as Oro's validators see it. ApiError 400 if refused."""
    country_ref = relationships.get("country")
    if not country_ref:
        raise bad_request(
            "not blank constraint",
            "This value should not be blank.",
            pointer=f"{pointer}/relationships/country/data",
        )
    country = get(COUNTRIES, country_ref["id"])
    region_ref = relationships.get("region")
    if region_ref:
        region = get(REGIONS, region_ref["id"])
        if region["relationships"]["country"]["data"]["id"] != country["id"]:
            raise bad_request(
                "valid region constraint",
                f"Region {region['attributes']['name']} does not belong to country "
                f"{country['attributes']['name']}",
            )
    if attributes.get("customRegion") and country["relationships"]["regions"]["data"]:
        raise bad_request(
            "region text constraint",
            "Custom region can be used only for countries without predefined regions.",
        )
