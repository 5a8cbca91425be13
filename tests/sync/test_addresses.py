"""Contact addresses as real Oro has them (ORO-API.md §6), end to end against the reference
server: country and region as relationships, free text converted to ISO 3166 codes, the
default country, customRegion where Oro takes it, and one clear error per record where Oro
would refuse the write."""

from __future__ import annotations

import pytest

from tests.sync.helpers import assert_quiet

C = ["contacts"]


def crm_address(rig, crm_id):
    (address,) = rig.admin.get("contacts", crm_id)["addresses"]
    rels = address["relationships"]
    return (address["attributes"], (rels["country"]["data"] or {}).get("id"),
            (rels["region"]["data"] or {}).get("id"))


@pytest.fixture(autouse=True)
def no_locale_country(monkeypatch):
    """The default country comes from the setting in these tests, not from the machine."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.setenv(name, "C.UTF-8")
    monkeypatch.setattr("locale.getlocale", lambda: (None, None))


def test_typed_country_and_region_become_oro_relationships(rig):
    item = rig.store.add("contacts", {"first_name": "Lena", "last_name": "Bauer",
                                      "business_address": {"street": "Marienplatz 1",
                                                           "city": "München",
                                                           "postal_code": "80331",
                                                           "region": "Bavaria",
                                                           "country": "Deutschland"}})
    result = rig.sync(entities=C)
    assert result.outcome == "ok", result.as_dict()
    crm_id = rig.store.get(item.id).crm_id
    attributes, country, region = crm_address(rig, crm_id)
    assert (country, region) == ("DE", "DE-BY")
    assert attributes["city"] == "München" and attributes["customRegion"] is None
    # The local text stays as typed, and equals the CRM's codes: nothing to send back.
    assert rig.store.get(item.id).fields["business_address"]["country"] == "Deutschland"
    assert_quiet(rig, C)


def test_pulled_addresses_keep_country_and_region_as_names(rig):
    rig.admin.create("contacts", {"firstName": "Ann", "lastName": "Miller", "addresses": [
        {"street": "873 John Avenue", "city": "Jackson", "postalCode": "49201",
         "country": "US", "region": "US-MI", "types": ["billing"]},
        {"street": "Onchan Road 2", "city": "Douglas", "country": "IM",
         "customRegion": "Onchan", "types": ["shipping"]}]})
    assert rig.sync(entities=C).outcome == "ok"
    fields = rig.only_local("contacts").fields
    assert fields["business_address"] == {"street": "873 John Avenue", "city": "Jackson",
                                          "postal_code": "49201", "region": "Michigan",
                                          "country": "United States"}
    assert fields["home_address"] == {"street": "Onchan Road 2", "city": "Douglas",
                                      "region": "Onchan", "country": "Isle of Man"}
    assert_quiet(rig, C)


def test_an_address_without_country_uses_the_default_country(rig):
    rig.settings.default_country = "FR"
    item = rig.store.add("contacts", {"first_name": "Luc", "last_name": "Morel",
                                      "home_address": {"city": "Lyon", "postal_code": "69001",
                                                       "region": "Auvergne-Rhône-Alpes"}})
    assert rig.sync(entities=C).outcome == "ok"
    _, country, region = crm_address(rig, rig.store.get(item.id).crm_id)
    assert (country, region) == ("FR", "FR-ARA")
    assert_quiet(rig, C)


def test_a_free_text_region_goes_to_custom_region_where_oro_takes_it(rig):
    item = rig.store.add("contacts", {"first_name": "Ian", "last_name": "Kerr",
                                      "other_address": {"city": "Douglas", "region": "Onchan",
                                                        "country": "Isle of Man"}})
    assert rig.sync(entities=C).outcome == "ok"
    attributes, country, region = crm_address(rig, rig.store.get(item.id).crm_id)
    assert (country, region, attributes["customRegion"]) == ("IM", None, "Onchan")
    assert_quiet(rig, C)


@pytest.mark.parametrize(("address", "words"), [
    ({"city": "Nowhere"}, "has no country, and the CRM requires one"),
    ({"city": "Cair Paravel", "country": "Narnia"}, "is not a country the client knows"),
    ({"city": "Springfield", "region": "Springfield County", "country": "USA"},
     "is not one of the regions the CRM has for United States"),
])
def test_a_write_oro_would_refuse_is_one_clear_error_and_nothing_is_lost(rig, address, words):
    bad = rig.store.add("contacts", {"first_name": "Bad", "last_name": "Address",
                                     "business_address": address})
    good = rig.store.add("contacts", {"first_name": "Good", "last_name": "Address"})
    result = rig.sync(entities=C)
    assert result.outcome == "partial"
    (error,) = result.errors
    assert words in error.message and "business address" in error.message
    assert rig.store.get(good.id).crm_id and rig.store.get(bad.id).crm_id is None
    assert rig.store.get(bad.id).fields["business_address"] == address, "kept as it was"
    assert rig.admin.count("contacts") == 1
    # Retried next run (still refused), and once corrected it goes through.
    assert rig.sync(entities=C).outcome == "partial"
    rig.store.update(bad.id, {"business_address": {**address, "country": "United States",
                                                   "region": None}})
    assert rig.sync(entities=C).outcome == "ok"
    _, country, region = crm_address(rig, rig.store.get(bad.id).crm_id)
    assert (country, region) == ("US", None)
