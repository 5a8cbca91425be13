"""Country and region look-ups (tray_client.places): names as people type them."""

from __future__ import annotations

import pytest

from tray_client import places


@pytest.fixture(autouse=True)
def _fresh_caches():
    for cached in (places.country_code, places.region_code, places._translated_countries):
        cached.cache_clear()
    yield


@pytest.mark.parametrize("typed, code", [("United States", "US"), ("usa", "US"),
                                         ("de", "DE"), ("Deutschland", "DE"),
                                         ("Allemagne", "DE"), ("  côte d'ivoire ", "CI"),
                                         ("Atlantis", None), ("", None), (None, None)])
def test_country_codes_from_codes_and_names_in_any_language(typed, code) -> None:
    assert places.country_code(typed) == code


def test_an_english_name_is_found_without_reading_every_language() -> None:
    # The catalogs of ~100 languages take ~0.8 s to read: a sync of English addresses
    # (the demo data, most CRMs) never needs them.
    assert places.country_code("Italy") == "IT"
    assert places._translated_countries.cache_info().currsize == 0
    assert places.country_code("Italien") == "IT"
    assert places._translated_countries.cache_info().currsize == 1


def test_region_codes_and_names() -> None:
    assert places.region_code("US", "california") == "US-CA"
    assert places.region_name("US-CA") == "California"
    assert places.region_code("US", "Bavaria") is None


def test_regions_come_from_pycountrys_data_without_building_its_objects() -> None:
    # The whole subdivision table as pycountry has it (codes, names, English names) …
    import pycountry

    assert len(places._subdivisions()) == len(pycountry.subdivisions)
    for sub in list(pycountry.subdivisions)[::97]:
        english = places._english_subdivisions().get(sub.name) or sub.name
        assert places.region_name(sub.code) == english
        assert places.is_region_code(sub.country_code, sub.code)
        assert places.region_code(sub.country_code, sub.code) == sub.code
    assert places.region_name("us-ca") == "California"
    assert not places.is_region_code("US", "US-ZZ")
    assert places.region_code("DE", "Bayern") == places.region_code("DE", "Bavaria") == "DE-BY"


def test_a_name_shared_by_a_county_and_its_municipality_means_the_county() -> None:
    # Hiiumaa is a county (EE-39) and a rural municipality in it (EE-205): the typed name
    # is the county, every time (not whichever an unordered set gave first).
    assert places.region_code("EE", "Hiiumaa") == "EE-39"
    assert places.region_code("BD", "Dhaka") == "BD-C"
