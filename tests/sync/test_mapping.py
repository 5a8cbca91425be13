"""Field mapping rules (DESIGN §5), on plain CRM resources and local field dicts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tray_client.crm import Ref, Resource
from tray_client.settings import MappingOverride, Settings
from tray_client.sync import mapping
from tray_client.sync.mapping import MappingError, from_crm, from_local, to_crm, to_local


def contact(attrs: dict[str, Any], addresses: list[tuple[str, dict[str, Any], list[str]]] = (),
            ) -> Resource:
    """A contacts Resource with included addresses ``(id, attributes, types)``."""
    included = {}
    refs = []
    for address_id, address_attrs, types in addresses:
        address_attrs = dict(address_attrs)
        # Oro's shape: country and region are relationships (ORO-API.md §6).
        country, region = address_attrs.pop("country", None), address_attrs.pop("region", None)
        res = Resource("contactaddresses", address_id, address_attrs,
                       {"types": [Ref("addresstypes", t) for t in types],
                        "country": Ref("countries", country) if country else None,
                        "region": Ref("regions", region) if region else None})
        included[("contactaddresses", address_id)] = res
        refs.append(Ref("contactaddresses", address_id))
    return Resource("contacts", "7", dict(attrs), {"addresses": refs}, included)


def task(attrs: dict[str, Any], priority: str | None = "normal",
         status: str | None = "open") -> Resource:
    rels = {"taskPriority": Ref("taskpriorities", priority) if priority else None,
            "status": Ref("taskstatuses", status) if status else None}
    return Resource("tasks", "3", dict(attrs), rels)


# -- names ----------------------------------------------------------------------------------

def test_no_first_name_uses_last_name_for_both_sides_alike():
    local = from_local("contacts", {"last_name": "Smith"})
    assert local["first_name"] == local["last_name"] == "Smith"
    crm = from_crm("contacts", contact({"firstName": "Smith", "lastName": "Smith"}))
    assert crm == local  # so a synced pair compares equal and nothing bounces


def test_no_last_name_uses_first_name_for_both():
    local = from_local("contacts", {"first_name": "Cher"})
    assert (local["first_name"], local["last_name"]) == ("Cher", "Cher")
    crm = from_crm("contacts", contact({"firstName": "Cher", "lastName": None}))
    assert (crm["first_name"], crm["last_name"]) == ("Cher", "Cher")


def test_text_is_trimmed_and_empty_is_none():
    c = from_local("contacts", {"first_name": "  Ann ", "job_title": "   ", "last_name": "Lee"})
    assert c["first_name"] == "Ann" and c["job_title"] is None


# -- e-mails and phones ---------------------------------------------------------------------

def test_all_emails_map_in_order_without_duplicates():
    crm = from_crm("contacts", contact({"lastName": "A", "emails": [
        {"email": "a@x.org"}, {"email": " b@y.org "}, {"email": "A@x.org"}]}))
    assert crm["emails"] == ["a@x.org", "b@y.org"]
    write = to_crm("contacts", {"emails": ["c@z.org", "a@x.org"]}, ["emails"],
                   contact({"emails": [{"email": "a@x.org"}], "primaryEmail": "a@x.org"}))
    assert write.attributes["emails"] == [{"email": "c@z.org"}, {"email": "a@x.org"}]
    assert write.attributes["primaryEmail"] == "a@x.org"  # the primary one stays primary


def test_primary_phone_is_the_primary_else_the_first():
    phones = [{"phone": "111"}, {"phone": "222"}, {"phone": "333"}]
    assert from_crm("contacts", contact({"lastName": "A", "phones": phones,
                                         "primaryPhone": "222"}))["primary_phone"] == "222"
    assert from_crm("contacts", contact({"lastName": "A", "phones": phones}))[
        "primary_phone"] == "111"
    assert from_crm("contacts", contact({"lastName": "A"}))["primary_phone"] is None


def test_local_phone_edit_changes_only_that_crm_phone():
    current = contact({"lastName": "A", "primaryPhone": "222",
                       "phones": [{"phone": "111"}, {"phone": "222"}, {"phone": "333"}]})
    write = to_crm("contacts", {"primary_phone": "999"}, ["primary_phone"], current)
    assert write.attributes["phones"] == [{"phone": "111"}, {"phone": "999"}, {"phone": "333"}]
    assert write.attributes["primaryPhone"] == "999"
    assert set(write.attributes) == {"phones", "primaryPhone"}  # nothing else is touched


def test_removing_the_local_phone_removes_only_the_primary_crm_phone():
    current = contact({"lastName": "A", "phones": [{"phone": "111"}, {"phone": "222"}]})
    write = to_crm("contacts", {"primary_phone": None}, ["primary_phone"], current)
    assert write.attributes["phones"] == [{"phone": "222"}]


# -- addresses ------------------------------------------------------------------------------

ADDR = {"street": "1 Main St", "city": "Paris", "postalCode": "75001", "country": "FR"}


def test_addresses_by_type():
    res = contact({"lastName": "A"}, [
        ("10", ADDR, ["billing"]),
        ("11", {**ADDR, "city": "Lyon"}, ["shipping"]),
        ("12", {**ADDR, "city": "Nice"}, []),
    ])
    c = from_crm("contacts", res)
    assert c["business_address"]["city"] == "Paris"
    assert c["home_address"]["city"] == "Lyon"
    assert c["other_address"] == {"street": "1 Main St", "city": "Nice", "postal_code": "75001",
                                  "country": "FR"}


def test_the_address_of_each_type_is_the_primary_then_the_lowest_id():
    # crm_addresses picks, for every type at once, what taking the minimum of that type's
    # addresses by (not primary, id) picks: checked against it on shuffled varied addresses.
    import random

    from tray_client.crm.jsonapi import id_key
    from tray_client.sync.values import _address_type_ids, crm_address_for, crm_addresses

    rng = random.Random(5)
    for _ in range(300):
        addresses = [(str(rng.choice([3, 10, 12, 100, 7, "a", "b"]) if rng.random() < 0.3
                          else rng.randrange(1, 40)),
                      {**ADDR, "primary": rng.random() < 0.3, "city": f"C{n}"},
                      rng.sample(["billing", "shipping", "other"], rng.randrange(0, 3)))
                     for n in range(rng.randrange(0, 6))]
        res = contact({"lastName": "A"}, addresses)
        chosen = crm_addresses(res)
        for atype in ("billing", "shipping", "other", None):
            candidates = [a for a in res.related("addresses")
                          if (atype is None and not _address_type_ids(a))
                          or (atype is not None and atype in _address_type_ids(a))]
            expected = min(candidates, key=lambda a: (not a.attributes.get("primary"),
                                                      id_key(a.id))) if candidates else None
            assert chosen.get(atype) is expected
            assert crm_address_for(res, atype) is expected


def test_a_crm_address_keeps_its_parts_in_order_and_falls_back_to_custom_region():
    res = contact({"lastName": "A"}, [
        ("10", {"street": " 1 Main St ", "city": "", "postalCode": 75001, "country": "FR",
                "customRegion": "Somewhere"}, ["billing"]),
        ("11", {"street": None, "city": "  ", "customRegion": " "}, ["shipping"])])
    c = from_crm("contacts", res)
    assert list(c["business_address"].items()) == [
        ("street", "1 Main St"), ("postal_code", "75001"), ("region", "Somewhere"),
        ("country", "FR")]
    assert c["home_address"] is None


def test_address_edit_updates_that_address_and_keeps_a_second_billing_address():
    res = contact({"lastName": "A"}, [
        ("10", {**ADDR, "primary": True}, ["billing"]),
        ("13", {**ADDR, "city": "Second"}, ["billing"]),
        ("11", {**ADDR, "city": "Lyon"}, ["shipping"]),
    ])
    new = {"street": "2 Rue", "city": "Bordeaux", "postal_code": "33000", "country": "FR"}
    write = to_crm("contacts", {"business_address": new}, ["business_address"], res)
    ids = [r["id"] for r in write.relationships["addresses"]["data"]]
    assert ids == ["10", "13", "11"]          # the whole set: nothing unmapped is removed
    assert write.included == [{"type": "contactaddresses", "id": "10", "meta": {"update": True},
                               "attributes": {"street": "2 Rue", "city": "Bordeaux",
                                              "postalCode": "33000", "customRegion": None},
                               "relationships": {
                                   "country": {"data": {"type": "countries", "id": "FR"}},
                                   "region": {"data": None}}}]


def test_new_local_address_becomes_a_typed_crm_address_and_removal_drops_it():
    res = contact({"lastName": "A"}, [("11", ADDR, ["shipping"])])
    write = to_crm("contacts", {"business_address": {"city": "Paris", "country": "FR"},
                                "home_address": None},
                   ["business_address", "home_address"], res)
    data = write.relationships["addresses"]["data"]
    assert [d["id"] for d in data] == ["new-business_address-1"]   # shipping one removed
    assert write.included[0]["relationships"]["types"]["data"] == [
        {"type": "addresstypes", "id": "billing"}]


def test_addresses_country_and_region_both_ways():
    """Local free text <-> Oro's ISO codes (pycountry): canonical forms hold codes, so
    "Deutschland"/"Bavaria" locally equals DE/DE-BY in the CRM and nothing bounces; pulled
    addresses show names."""
    local = mapping.from_local("contacts", {"last_name": "A", "business_address": {
        "city": "München", "region": "Bavaria", "country": "Deutschland"}})
    assert local["business_address"] == {"city": "München", "region": "DE-BY", "country": "DE"}
    crm = from_crm("contacts", contact({"lastName": "A"}, [
        ("10", {"city": "München", "country": "DE", "region": "DE-BY"}, ["billing"])]))
    assert crm["business_address"] == local["business_address"]
    assert mapping.to_local("contacts", crm, ["business_address"]) == {"business_address": {
        "city": "München", "region": "Bavaria", "country": "Germany"}}
    # A free-text region stays text both ways (customRegion).
    crm = from_crm("contacts", contact({"lastName": "A"}, [
        ("10", {"city": "Douglas", "country": "IM", "customRegion": "Onchan"}, [])]))
    assert crm["other_address"] == {"city": "Douglas", "region": "Onchan", "country": "IM"}
    assert mapping.to_local("contacts", crm, ["other_address"])["other_address"] == {
        "city": "Douglas", "region": "Onchan", "country": "Isle of Man"}


@pytest.mark.parametrize(("typed", "code"), [
    ("US", "US"), ("usa", "US"), ("U.S.A.", "US"), ("United States of America", "US"),
    ("Allemagne", "DE"), ("España", "ES"), ("Côte d'Ivoire", "CI"), ("cote d'ivoire", "CI"),
])
def test_countries_as_people_type_them(typed, code):
    local = mapping.from_local("contacts", {"home_address": {"city": "X", "country": typed}})
    assert local["home_address"]["country"] == code


def test_default_country_for_an_address_without_one():
    fields = {"last_name": "A", "home_address": {"city": "Austin", "region": "TX"}}
    local = mapping.from_local("contacts", fields, default_country="US")
    assert local["home_address"] == {"city": "Austin", "region": "US-TX", "country": "US"}
    write = to_crm("contacts", local, ["home_address"], None)
    (item,) = write.included
    assert item["relationships"]["country"]["data"] == {"type": "countries", "id": "US"}
    assert item["relationships"]["region"]["data"] == {"type": "regions", "id": "US-TX"}
    assert item["attributes"]["customRegion"] is None


def test_regions_the_crm_has_decide_region_or_custom_region():
    def regions(country):
        return {"US": frozenset({"US-CA", "US-TX"}), "IM": frozenset()}.get(country, frozenset())

    def write(address):
        canonical = mapping.from_local("contacts", {"other_address": address})
        (item,) = to_crm("contacts", canonical, ["other_address"], None, regions=regions).included
        return item["attributes"]["customRegion"], item["relationships"]["region"]["data"]

    assert write({"city": "LA", "region": "California", "country": "US"}) == (
        None, {"type": "regions", "id": "US-CA"})
    # No regions in the CRM for the country: the region travels as text.
    assert write({"city": "Douglas", "region": "Onchan", "country": "IM"}) == ("Onchan", None)
    assert write({"city": "Douglas", "country": "IM"}) == (None, None)


@pytest.mark.parametrize(("address", "words"), [
    ({"city": "Nowhere"}, "has no country, and the CRM requires one"),
    ({"city": "Cair Paravel", "country": "Narnia"}, "'Narnia' is not a country the client knows"),
    ({"city": "Springfield", "region": "Springfield County", "country": "US"},
     "is not one of the regions the CRM has for United States"),
    ({"city": "Paris", "region": "FR-75C", "country": "FR"},
     "'Paris' is not one of the regions the CRM has for France"),
])
def test_addresses_oro_would_refuse_are_one_clear_error(address, words):
    canonical = mapping.from_local("contacts", {"other_address": address})
    regions = {"US": frozenset({"US-CA"}), "FR": frozenset({"FR-IDF"})}.get
    with pytest.raises(MappingError) as info:
        to_crm("contacts", canonical, ["other_address"], None,
               regions=lambda c: regions(c) or frozenset())
    assert words in str(info.value)
    assert "other address" in str(info.value)


# -- birthdays ------------------------------------------------------------------------------

def test_birthday_row_follows_sync_birthdays():
    off = {r.name: r for r in mapping.effective_rows("contacts", Settings(sync_birthdays=False))}
    on = {r.name: r for r in mapping.effective_rows("contacts", Settings(sync_birthdays=True))}
    assert not off["birthday"].enabled and on["birthday"].enabled


def test_birthday_is_no_part_of_the_key_while_birthdays_sync():
    keys = mapping.DEFAULT_KEYS["contacts"]
    assert "birthday" in mapping.key_rows("contacts", keys, Settings(sync_birthdays=False))
    assert "birthday" not in mapping.key_rows("contacts", keys, Settings(sync_birthdays=True))


def test_birthday_normalised_and_malformed_rejected():
    assert from_local("contacts", {"last_name": "A", "birthday": "1980-02-03"})[
        "birthday"] == "1980-02-03"
    with pytest.raises(MappingError):
        from_crm("contacts", contact({"lastName": "A", "birthday": "03/02/1980"}))


# -- tasks ----------------------------------------------------------------------------------

@pytest.mark.parametrize("local, crm", [("not_started", "open"), ("in_progress", "in_progress"),
                                        ("completed", "closed"), ("waiting", "in_progress"),
                                        ("deferred", "in_progress")])
def test_task_status_local_to_crm(local, crm):
    assert from_local("tasks", {"subject": "x", "status": local})["status"] == crm


@pytest.mark.parametrize("crm, local", [("open", "not_started"), ("in_progress", "in_progress"),
                                        ("closed", "completed")])
def test_task_status_crm_to_local(crm, local):
    c = from_crm("tasks", task({"subject": "x"}, status=crm))
    assert to_local("tasks", c, ["status"]) == {"status": local}


def test_lossy_status_compares_equal_in_crm_vocabulary():
    # "waiting" locally and in_progress in the CRM are the same canonical value: no write.
    assert from_local("tasks", {"subject": "x", "status": "waiting", "priority": "normal"}) == \
        from_crm("tasks", task({"subject": "x"}, status="in_progress"))


def test_empty_task_priority_and_status_are_the_defaults_on_both_sides():
    # Outlook and the CRM always hold a priority and a status: empty means Normal / open.
    local = from_local("tasks", {"subject": "x"})
    assert (local["priority"], local["status"]) == ("normal", "open")
    assert from_crm("tasks", task({"subject": "x"}, priority=None, status=None)) == local


def test_task_write_uses_relationships():
    write = to_crm("tasks", {"priority": "high", "status": "closed", "due_date": "2026-01-02"},
                   ["priority", "status", "due_date"], None)
    assert write.relationships["taskPriority"] == {"data": {"type": "taskpriorities",
                                                            "id": "high"}}
    assert write.relationships["status"]["data"]["id"] == "closed"
    assert write.attributes == {"dueDate": "2026-01-02"}


# -- events and time zones ------------------------------------------------------------------

def event(attrs: dict[str, Any]) -> Resource:
    return Resource("calendarevents", "5", dict(attrs), {})


def test_instants_compare_as_utc_across_offsets():
    local = from_local("events", {"subject": "Call", "start": "2026-03-01T10:00:00+01:00",
                                  "end": "2026-03-01T05:30:00-05:00"})
    crm = from_crm("events", event({"title": "Call", "start": "2026-03-01T09:00:00Z",
                                    "end": "2026-03-01T10:30:00Z", "allDay": False}))
    assert local == crm
    assert local["start"] == "2026-03-01T09:00:00Z"


def test_timed_event_written_locally_with_an_offset():
    c = from_crm("events", event({"title": "x", "start": "2026-03-01T09:00:00Z",
                                  "end": "2026-03-01T10:00:00Z", "allDay": False}))
    assert to_local("events", c, ["start"]) == {"start": "2026-03-01T09:00:00+00:00"}


def test_all_day_events_are_dates_locally(local_zone):
    local_zone("UTC")
    # Oro's calendar writes an all-day event as 00:00 to 23:59 of its last day (inclusive);
    # the local end date is exclusive (iCalendar).
    c = from_crm("events", event({"title": "Holiday", "start": "2026-07-14T00:00:00Z",
                                  "end": "2026-07-14T23:59:00Z", "allDay": True}))
    assert to_local("events", c, ["start", "end", "all_day"]) == {
        "start": "2026-07-14", "end": "2026-07-15", "all_day": True}
    local = from_local("events", {"subject": "Holiday", "start": "2026-07-14",
                                  "end": "2026-07-15", "all_day": True})
    assert local == c
    write = to_crm("events", local, ["start", "end", "all_day"], None, calendar_id="4")
    assert write.attributes == {"start": "2026-07-14T00:00:00Z", "end": "2026-07-14T23:59:00Z",
                                "allDay": True}
    assert write.relationships["calendar"]["data"] == {"type": "calendars", "id": "4"}


def test_malformed_instant_is_a_mapping_error():
    with pytest.raises(MappingError):
        from_local("events", {"subject": "x", "start": "tomorrow", "end": None})


# -- rows, overrides and keys ---------------------------------------------------------------

def test_every_row_has_a_description_and_a_valid_default_direction():
    for entity in mapping.ENTITIES:
        for row in mapping.ROWS[entity]:
            assert row.description and row.default_direction in mapping.DIRECTIONS


def test_settings_override_direction_and_enabled():
    settings = Settings(mapping={"contacts": {
        "job_title": MappingOverride(enabled=False),
        "notes": MappingOverride(direction="crm_to_local")}})
    rows = {r.name: r for r in mapping.effective_rows("contacts", settings)}
    assert not rows["job_title"].enabled
    assert rows["notes"].to_local and not rows["notes"].to_crm


def test_key_is_normalised_and_empty_keys_never_match():
    rows = mapping.key_rows("contacts", ["lastName", "firstName"], Settings())
    a = mapping.record_key(from_local("contacts", {"first_name": " ann ", "last_name": "LEE"}),
                           rows)
    b = mapping.record_key(from_crm("contacts", contact({"firstName": "Ann",
                                                         "lastName": "lee"})), rows)
    assert a == b
    assert mapping.record_key(from_local("contacts", {"emails": ["x@y.z"]}), rows) is None


def test_event_key_uses_utc_instants():
    rows = mapping.key_rows("events", mapping.DEFAULT_KEYS["events"], Settings())
    a = from_local("events", {"subject": "Call", "start": "2026-03-01T10:00:00+01:00",
                              "end": "2026-03-01T11:00:00+01:00"})
    b = from_crm("events", event({"title": "call", "start": "2026-03-01T09:00:00Z",
                                  "end": "2026-03-01T10:00:00Z", "allDay": False}))
    assert mapping.record_key(a, rows) == mapping.record_key(b, rows)


def test_contact_display_name_joins_first_and_a_different_last_name():
    from itertools import product

    for first, last, emails, phone in product(("Ann", "", None, "Lee"), ("Lee", "", None),
                                              (["a@x.org"], [], None), ("+1 5", None)):
        canonical = {"first_name": first, "last_name": last, "emails": emails,
                     "primary_phone": phone}
        name = " ".join(p for p in (first, last if last != first else None) if p)
        expected = name or (emails or [""])[0] or phone or ""
        assert mapping.display_name("contacts", canonical) == expected


def test_to_local_drop_empty_leaves_out_what_the_plain_call_gives_as_none():
    res = contact({"firstName": "Ann", "lastName": None, "emails": [], "birthday": None},
                  [("10", ADDR, ["billing"])])
    cases = [("contacts", from_crm("contacts", res)),
             ("tasks", from_crm("tasks", task({"subject": "Call", "dueDate": None}))),
             ("events", {"subject": "Meet", "notes": None, "all_day": False,
                         "start": "2026-11-23T09:00:00Z", "end": None})]
    for entity, canonical in cases:
        names = [r.name for r in mapping.ROWS[entity]]
        plain = to_local(entity, canonical, names)
        assert None in plain.values()
        assert to_local(entity, canonical, names, drop_empty=True) == {
            k: v for k, v in plain.items() if v is not None}


# -- a key from a few local fields (issue 17) --------------------------------------------------

_LOCAL_VALUES = {
    "contacts": {"first_name": ["Ann", " Bo ", "", None], "last_name": ["Lee", None, "  "],
                 "middle_name": ["J.", None], "emails": [["a@x.org", "A@x.org"], [], "b@x.org"],
                 "birthday": ["1980-02-03", "1980-02-03T10:00:00", "not a date", None],
                 "gender": ["female", "Male", "robot", None],
                 "job_title": ["Buyer", 7, None], "primary_phone": ["+1 555", None],
                 "home_address": [{"city": "Köln", "country": "Germany"},
                                  {"street": "1 Main St", "region": "California",
                                   "country": "US"}, {"city": "Atlantis", "country": "Nowhere"},
                                  None]},
    "tasks": {"subject": ["Call", None], "priority": ["high", "urgent", None],
              "status": ["completed", "lost", None],
              "due_date": ["2026-11-02", "2026-11-02T09:00:00+01:00", "soon", None]},
    "events": {"subject": ["Meet", None], "all_day": [True, False, "yes", None],
               "start": ["2026-11-02", "2026-11-02T09:00:00+01:00", "later", None],
               "end": ["2026-11-03", "2026-11-02T10:00:00Z", None], "notes": ["x", None]},
}


@st.composite
def _local_fields(draw):
    entity = draw(st.sampled_from(sorted(_LOCAL_VALUES)))
    fields = {f: draw(st.sampled_from(values)) for f, values in _LOCAL_VALUES[entity].items()
              if draw(st.booleans())}
    names = draw(st.lists(st.sampled_from([r.name for r in mapping.rows_for(entity)]),
                          unique=True, min_size=1))
    return entity, fields, names


@settings(max_examples=600, deadline=None)
@given(_local_fields())
def test_from_local_of_the_local_sources_gives_those_rows_their_values(case):
    """The key index maps only the key's local fields (``local_sources``): that must give
    the key rows the very values the whole item gives them, and a field that does not map
    among them makes the whole item fail too."""
    entity, fields, names = case
    sources = mapping.local_sources(entity, names)
    some = {f: v for f, v in fields.items() if f in sources}
    try:
        partial = from_local(entity, some, default_country="DE")
    except MappingError:
        with pytest.raises(MappingError):
            from_local(entity, fields, default_country="DE")
        return
    try:
        whole = from_local(entity, fields, default_country="DE")
    except MappingError:
        return   # a field outside the key does not map: the item is passed over later
    assert {n: partial[n] for n in names} == {n: whole[n] for n in names}


# -- a new item's fields in one pass (issue 17) ------------------------------------------------

_CANONICAL_VALUES = st.one_of(
    st.none(), st.sampled_from(["Ann", " Ann ", "a\rb", "", "female", "Male", "robot",
                                "1980-02-03", "not a date", "x y"]),
    st.integers(0, 3), st.booleans(),
    st.lists(st.sampled_from(["a@x.org", " b@x.org", "c @x.org", "", "A@x.org"]), max_size=3),
    st.tuples(st.just("a@x.org")),
    st.dictionaries(st.sampled_from(["street", "city", "postal_code", "region", "country",
                                     "zip"]),
                    st.sampled_from(["Main St", " Paris ", "US", "US-CA", "FR", "FR-IDF",
                                     "Nowhere", "a\r\nb", "", None, 5]), max_size=5))


def _general_new_fields(entity, canonical, names):
    from tray_client.errors import StoreError
    from tray_client.store.fields import normalize_fields

    try:
        return normalize_fields(entity, to_local(entity, canonical, names, drop_empty=True))
    except StoreError:
        return "refused"


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["contacts", "tasks", "events"]), st.data())
def test_new_local_fields_are_what_the_store_makes_of_to_local(entity, data):
    """``new_local_fields`` gives what ``normalize_fields(to_local(...))`` gives, in the same
    order, or None (the general way then; for anything it cannot vouch for)."""
    names = data.draw(st.lists(st.sampled_from([r.name for r in mapping.rows_for(entity)]),
                               unique=True, min_size=1))
    canonical = data.draw(st.dictionaries(st.sampled_from([r.name for r in mapping.ROWS[entity]]),
                                          _CANONICAL_VALUES))
    fast = mapping.new_local_fields(entity, canonical, names)
    if fast is not None:
        expected = _general_new_fields(entity, canonical, names)
        assert fast == expected and list(fast) == list(expected)


def test_new_local_fields_of_pulled_contacts_take_the_one_pass_way():
    names = [r.name for r in mapping.effective_rows("contacts", Settings()) if r.enabled]
    records = [
        contact({"firstName": " Ann ", "lastName": "Lee", "emails": [{"email": "a@x.org"}],
                 "primaryPhone": "+1 555", "gender": "female", "birthday": "1980-02-03",
                 "jobTitle": None, "description": "two\nlines"},
                [("10", ADDR, ["billing"]), ("11", {"city": "Köln", "country": "DE"}, [])]),
        contact({"lastName": "Solo"}),
    ]
    for res in records:
        canonical = from_crm("contacts", res)
        fast = mapping.new_local_fields("contacts", canonical, names)
        assert fast is not None
        expected = _general_new_fields("contacts", canonical, names)
        assert fast == expected and list(fast) == list(expected)
    bad = from_crm("contacts", contact({"lastName": "Lee", "emails": ["a b@x.org"]}))
    assert mapping.new_local_fields("contacts", bad, names) is None   # the store refuses it


@pytest.mark.parametrize("canonical", [
    {"emails": "a@x.org"},                     # to_local makes a list of its characters
    {"emails": ("a@x.org", "b@x.org")},
    {"emails": ["a@x.org", "a b@x.org"]},
    {"first_name": "a\r\nb"},
    {"first_name": {"city": "Paris"}},         # to_local turns any dict into place names
    {"first_name": 7},
    {"home_address": "Paris"},
    {"home_address": {"city": "a\rb", "country": "FR"}},
    {"home_address": {"zip": "1"}},
    {"gender": "robot"}, {"gender": "Male"}, {"birthday": "1980-2-3"},
])
def test_new_local_fields_of_odd_values_match_or_step_aside(canonical):
    names = [r.name for r in mapping.ROWS["contacts"]]
    fast = mapping.new_local_fields("contacts", {"last_name": "Lee", **canonical}, names)
    if fast is not None:
        expected = _general_new_fields("contacts", {"last_name": "Lee", **canonical}, names)
        assert fast == expected and list(fast) == list(expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.none(), st.integers(0, 3), st.sampled_from(["a@x.org", " A@x.org ", "", "  ", "b@x.org"]),
    st.fixed_dictionaries({"email": st.one_of(st.none(), st.sampled_from(["a@x.org", "B@x.org",
                                                                          " b@X.org", ""]))}),
), max_size=5))
def test_crm_emails_in_one_pass_are_the_general_emails(emails):
    from collections.abc import Mapping

    from tray_client.sync.values import _emails, crm_emails

    assert crm_emails(emails) == _emails(e.get("email") if isinstance(e, Mapping) else e
                                         for e in emails)


@pytest.mark.parametrize("address", [
    {"street": "1 Main St", "city": "Austin", "region": "US-TX", "country": "US"},
    {"city": "Paris", "region": "FR-IDF", "country": "FR"},
    {"city": "Paris", "region": "US-TX", "country": "FR"},     # a region of another country
    {"city": "Köln", "country": "DE"}, {"city": "Köln", "region": "Somewhere", "country": "DE"},
    {"city": "Atlantis", "country": "Nowhere"}, {"city": "x", "country": "us"},
    {"city": "x", "country": "XX", "region": "XX-1"}, {"city": "Lone"},
])
def test_address_names_from_the_cache_are_the_looked_up_ones(address):
    from tray_client import places

    expected = dict(address)
    country = expected.get("country")
    if places.is_country_code(country):
        if places.is_region_code(country, expected.get("region")):
            expected["region"] = places.region_name(expected["region"])
        expected["country"] = places.country_name(country)
    for _ in range(2):   # looked up, then from the cache
        got = mapping._address_names(address)
        assert got == expected and list(got) == list(expected)


_KEY_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.text(" aÄß\tZ", max_size=6),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["street", "city"]), inner, max_size=2),
    max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["last_name", "first_name", "birthday", "gender"]),
                       _KEY_VALUES))
def test_record_key_is_its_definition(canonical):
    """``record_key`` (its usual cases inline) against its definition: every key field's
    ``_key_part``, None when each part is empty."""
    from tray_client.sync.rows import _key_part

    rows = ["last_name", "first_name", "birthday", "gender"]
    parts = tuple(_key_part(canonical.get(name)) for name in rows)
    expected = None if all(p in ("", (), False) for p in parts) else parts
    assert mapping.record_key(canonical, rows) == expected


_CONTACT_VALUES = (st.none() | st.text(" a@Ä.\t-", max_size=8) | st.integers(-3, 3)
                   | st.sampled_from(["male", " Female ", "1990-02-03", "1990-02-30",
                                      "2001-05-06T07:08:09", "x@y.z", " "]))
_CONTACT_ADDRESS = st.none() | st.just({}) | st.dictionaries(
    st.sampled_from(["street", "city", "postal_code", "region", "country"]),
    st.none() | st.sampled_from(["DE", "Germany", " Bayern ", "BY", "Main St 1", ""]), max_size=5)


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    **{name: _CONTACT_VALUES for name in ("first_name", "middle_name", "last_name", "suffix",
                                        "notes", "job_title", "business_fax", "primary_phone",
                                        "birthday", "gender")},
    "emails": st.none() | _CONTACT_VALUES | st.lists(_CONTACT_VALUES, max_size=3),
    **{name: _CONTACT_ADDRESS for name in ("business_address", "home_address",
                                         "other_address")}}),
    st.sampled_from(["", "FR"]))
def test_from_local_of_a_contact_is_its_definition(fields, default_country):
    """``from_local`` (its usual cases inline) against its definition, row by row with the
    normalisers: the same canonical values, or the same error."""
    from tray_client.sync import values

    def definition() -> dict[str, Any]:
        c: dict[str, Any] = {}
        for row in mapping.ROWS["contacts"]:
            if row.kind == "text":
                c[row.name] = values._text(fields.get(row.local_field))
        c["primary_phone"] = values._text(fields.get("primary_phone"))
        emails = fields.get("emails") or []
        c["emails"] = values._emails([emails] if isinstance(emails, str) else emails)
        c["birthday"] = values._date(fields.get("birthday"))
        c["gender"] = values._gender(fields.get("gender"))
        for name in ("business_address", "home_address", "other_address"):
            c[name] = values._local_address(fields.get(name), default_country)
        values._name_fallback(c)
        return c

    try:
        expected: Any = definition()
    except Exception as exc:
        with pytest.raises(type(exc)) as raised:
            from_local("contacts", fields, default_country=default_country)
        assert str(raised.value) == str(exc)
        return
    got = from_local("contacts", fields, default_country=default_country)
    assert got == expected and list(got) == list(expected)


_KEY_FIELDS = ["first_name", "middle_name", "last_name", "suffix", "notes", "job_title",
               "business_fax", "birthday", "gender", "emails", "primary_phone"]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEY_FIELDS), _CONTACT_VALUES, max_size=5),
       st.lists(st.sampled_from(_KEY_FIELDS), min_size=1, max_size=4, unique=True))
def test_local_key_is_the_key_of_from_local(fields, rows):
    """``mapping.local_key`` (a key index reads a few fields of each item) against the key
    of the item's whole mapping: the same key, or the same error."""
    try:
        expected: Any = mapping.record_key(from_local("contacts", fields), rows)
    except Exception as exc:
        with pytest.raises(type(exc)) as raised:
            mapping.local_key("contacts", fields, rows)
        assert str(raised.value) == str(exc)
        return
    assert mapping.local_key("contacts", fields, rows) == expected
