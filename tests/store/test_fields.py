"""Field validation and normalisation (store.fields), with Hypothesis round trips."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tray_client.errors import StoreError
from tray_client.store import (
    ADDRESS_PARTS,
    GENDERS,
    PRIORITIES,
    STATUSES,
    LocalStore,
    apply_assignments,
    merge_fields,
    normalize_fields,
    parse_assignments,
)


def test_strings_trimmed_and_empty_dropped() -> None:
    assert normalize_fields("contacts", {"first_name": "  Ann ", "last_name": "   ",
                                         "notes": None}) == {"first_name": "Ann"}
    assert normalize_fields("tasks", {"notes": "a\r\nb\rc\u2028d\n"}) == {
        "notes": "a\nb\nc\u2028d"}


def test_address_parts_are_trimmed_with_one_line_break_convention() -> None:
    assert normalize_fields("contacts", {"home_address": {
        "country": " FR ", "street": "1 Rue\r\nBât. B\r", "city": "  ", "region": None}}) == {
        "home_address": {"street": "1 Rue\nBât. B", "country": "FR"}}
    with pytest.raises(StoreError, match=r"home_address\.city"):
        normalize_fields("contacts", {"home_address": {"city": 5}})


def test_emails_list_or_comma_string() -> None:
    assert normalize_fields("contacts", {"emails": " a@x.org , ,b@y.org"}) == {
        "emails": ["a@x.org", "b@y.org"]}
    assert normalize_fields("contacts", {"emails": ["a@x.org", " "]}) == {"emails": ["a@x.org"]}
    assert normalize_fields("contacts", {"emails": ""}) == {}
    with pytest.raises(StoreError, match="emails"):
        normalize_fields("contacts", {"emails": 3})
    with pytest.raises(StoreError, match="emails"):
        normalize_fields("contacts", {"emails": ["a b@x.org"]})


def test_address_parts_and_order() -> None:
    fields = normalize_fields("contacts", {"home_address": {"country": "FR", "city": " Paris ",
                                                            "street": ""}})
    assert list(fields["home_address"].items()) == [("city", "Paris"), ("country", "FR")]
    assert normalize_fields("contacts", {"home_address": {"city": " "}}) == {}
    with pytest.raises(StoreError, match="home_address"):
        normalize_fields("contacts", {"home_address": "Paris"})


def test_choices_are_case_and_separator_tolerant() -> None:
    assert normalize_fields("contacts", {"gender": "Female"}) == {"gender": "female"}
    assert normalize_fields("tasks", {"status": "In Progress", "priority": "HIGH"}) == {
        "priority": "high", "status": "in_progress"}


def test_dates() -> None:
    assert normalize_fields("contacts", {"birthday": date(1980, 4, 23)}) == {
        "birthday": "1980-04-23"}
    with pytest.raises(StoreError, match="YYYY-MM-DD"):
        normalize_fields("tasks", {"due_date": "2026-02-30"})
    with pytest.raises(StoreError, match="not a date and time"):
        normalize_fields("contacts", {"birthday": datetime(1980, 4, 23, 1)})


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("FALSE", False), ("1", True), ("0", False), (True, True), (0, False),
    ("yes", True), ("", False),
])
def test_all_day_accepts_bool_spellings(raw: Any, expected: bool) -> None:
    fields = normalize_fields("events", {"all_day": raw, "start": "2026-11-23",
                                         "end": "2026-11-24"} if expected else
                              {"all_day": raw})
    assert fields["all_day"] is expected


def test_event_instants_keep_offsets() -> None:
    fields = normalize_fields("events", {"start": "2026-11-23T10:00:00-05:00",
                                         "end": "2026-11-23T16:00Z"})
    assert fields == {"start": "2026-11-23T10:00:00-05:00",
                      "end": "2026-11-23T16:00:00+00:00", "all_day": False}
    berlin = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    assert normalize_fields("events", {"start": berlin})["start"] == "2026-07-01T09:30:00+02:00"


def test_all_day_events_hold_dates() -> None:
    fields = normalize_fields("events", {"all_day": "1", "start": "2026-12-24T00:00:00+01:00",
                                         "end": "2026-12-25"})
    assert fields == {"start": "2026-12-24", "end": "2026-12-25", "all_day": True}
    with pytest.raises(StoreError, match="all_day=true"):
        normalize_fields("events", {"start": "2026-12-24"})


def test_end_before_start_compares_instants_not_text() -> None:
    # 10:00-05:00 is 15:00 UTC, so an end at 14:00Z is before the start.
    with pytest.raises(StoreError, match="before it starts"):
        normalize_fields("events", {"start": "2026-11-23T10:00:00-05:00",
                                    "end": "2026-11-23T14:00:00Z"})
    normalize_fields("events", {"start": "2026-11-23T10:00:00-05:00",
                                "end": "2026-11-23T15:30:00Z"})


def test_unknown_field_names_the_field_and_lists_known_ones() -> None:
    with pytest.raises(StoreError) as info:
        normalize_fields("tasks", {"title": "x"})
    assert "'title'" in info.value.message and "subject" in info.value.message
    assert info.value.title == "Unknown field title"


def test_merge_fields_merges_address_parts() -> None:
    existing = normalize_fields("contacts", {"business_address": {"street": "1 Main",
                                                                  "city": "Lyon"}})
    merged = merge_fields("contacts", existing, {"business_address": {"city": "Paris",
                                                                      "street": ""}})
    assert merged == {"business_address": {"city": "Paris"}}
    assert existing["business_address"]["street"] == "1 Main"  # input not mutated
    assert merge_fields("contacts", merged, {"business_address": None}) == {}


def test_apply_assignments_cli_style() -> None:
    existing = {"first_name": "Old", "business_address": {"street": "1 Main"}}
    fields, crm_sync = apply_assignments("contacts", existing, [
        "first_name=Ann", "emails=a@x.org,b@y.org", "business_address.city=Paris",
        "crm_sync=false", "notes=a=b"])
    assert fields == {"first_name": "Ann", "emails": ["a@x.org", "b@y.org"],
                      "business_address": {"street": "1 Main", "city": "Paris"},
                      "notes": "a=b"}
    assert crm_sync is False
    fields, crm_sync = apply_assignments("contacts", fields, ["first_name=",
                                                              "business_address="])
    assert fields == {"emails": ["a@x.org", "b@y.org"], "notes": "a=b"} and crm_sync is None


@pytest.mark.parametrize(("assignment", "fragment"), [
    ("first_name", "FIELD=VALUE"),
    ("=x", "FIELD=VALUE"),
    ("nick=x", "nick"),
    ("first_name.city=x", "dotted"),
    ("business_address.planet=Mars", "business_address.planet"),
    ("business_address=Paris", "business_address.city=Paris"),
    ("birthday=soon", "birthday"),
    ("crm_sync=perhaps", "crm_sync"),
])
def test_bad_assignments(assignment: str, fragment: str) -> None:
    with pytest.raises(StoreError) as info:
        apply_assignments("contacts", {}, [assignment])
    assert fragment in str(info.value)


def test_parse_assignments_feeds_update(tmp_path: Path) -> None:
    with LocalStore(tmp_path / "s.db") as store:
        item = store.add("contacts", {"first_name": "Ann", "job_title": "CEO",
                                      "home_address": {"city": "Rome"}})
        changes, crm_sync = parse_assignments("contacts",
                                              ["job_title=", "home_address.street=Via 1"])
        updated = store.update(item.id, changes, crm_sync=crm_sync)
        assert updated.fields == {"first_name": "Ann",
                                  "home_address": {"street": "Via 1", "city": "Rome"}}


# -- Hypothesis: canonical values survive normalisation and a trip through the store ----------

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30) \
    .map(str.strip).filter(bool)
_email = st.from_regex(r"[a-z0-9._%+-]{1,12}@[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True)
_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(date.isoformat)
_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m)))
_address = st.dictionaries(st.sampled_from(ADDRESS_PARTS), _text, min_size=1)

_contact = st.fixed_dictionaries({}, optional={
    "first_name": _text, "middle_name": _text, "last_name": _text, "suffix": _text,
    "notes": _text, "emails": st.lists(_email, min_size=1, max_size=4),
    "primary_phone": _text, "job_title": _text, "birthday": _dates,
    "gender": st.sampled_from(GENDERS), "business_fax": _text, "business_address": _address,
    "home_address": _address, "other_address": _address})
_task = st.fixed_dictionaries({}, optional={
    "subject": _text, "priority": st.sampled_from(PRIORITIES), "due_date": _dates,
    "status": st.sampled_from(STATUSES), "notes": _text})


@st.composite
def _event(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = draw(st.fixed_dictionaries({}, optional={
        "subject": _text, "location": _text, "notes": _text}))
    all_day = draw(st.booleans())
    fields["all_day"] = all_day
    start = draw(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 1, 1))
                 ).replace(microsecond=0)
    length = timedelta(seconds=draw(st.integers(min_value=0, max_value=10 * 86400)))
    if all_day:
        fields["start"] = start.date().isoformat()
        fields["end"] = (start + length).date().isoformat()
    else:
        tz = draw(_offsets)
        begin = start.replace(tzinfo=tz)
        fields["start"] = begin.isoformat()
        fields["end"] = (begin + length).isoformat()
    return fields


_entities = st.one_of(st.tuples(st.just("contacts"), _contact),
                      st.tuples(st.just("tasks"), _task),
                      st.tuples(st.just("events"), _event()))


@settings(deadline=None)  # timing is not under test; a loaded machine must not fail it
@given(_entities)
def test_canonical_fields_are_a_fixed_point(case: tuple[str, dict[str, Any]]) -> None:
    entity, fields = case
    normal = normalize_fields(entity, fields)
    assert normal == fields
    assert normalize_fields(entity, normal) == normal


@settings(deadline=None)
@given(st.lists(_email, min_size=1, max_size=5))
def test_comma_string_and_list_emails_agree(emails: list[str]) -> None:
    as_list = normalize_fields("contacts", {"emails": emails})
    assert normalize_fields("contacts", {"emails": ", ".join(emails)}) == as_list
    assert as_list["emails"] == emails


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_entities)
def test_valid_items_round_trip_through_the_store(tmp_path: Path,
                                                  case: tuple[str, dict[str, Any]]) -> None:
    entity, fields = case
    with LocalStore(tmp_path / "round.db") as store:
        item = store.add(entity, fields)
        stored = store.get(item.id)
        assert stored is not None and stored.fields == fields
        assert stored.to_json()["id"] == item.id


def test_instants_keep_whole_seconds_and_minute_offsets() -> None:
    assert normalize_fields("events", {"start": "2026-11-23T10:00:00.999+01:00"})["start"] == \
        "2026-11-23T10:00:00+01:00"
    with pytest.raises(StoreError, match="whole minutes"):
        normalize_fields("events", {"start": "2026-11-23T10:00:00+01:00:30"})


def test_search_text_is_the_non_empty_display_texts_case_folded() -> None:
    from itertools import product

    from tray_client.store.fields import search_text

    for first, job, emails in product(("Ann", "", None), ("Straße Chef", None),
                                      (["A@X.org", "b@y.org"], [], None)):
        fields = {"first_name": first, "last_name": "Lee", "job_title": job, "emails": emails,
                  "notes": "not searched"}
        parts = [fields.get(n) or "" for n in ("first_name", "middle_name", "last_name",
                                                "suffix", "job_title", "primary_phone")]
        parts += list(emails or [])
        assert search_text("contacts", fields) == "\n".join(p for p in parts if p).casefold()
    assert search_text("events", {"subject": "Call", "location": "Room 5"}) == "call\nroom 5"
    assert search_text("tasks", {"notes": "x"}) == ""


# -- the one-pass normalize_fields against the general pass (issue 17) ---------------------------

def _general(entity: str, fields: dict[str, Any]) -> Any:
    """What normalize_fields gave before its one-pass form: each field in its given order,
    through the general address and e-mail normalisers; the result, or the error raised."""
    from tray_client.store import fields as module

    normalizers = {**module._NORMALIZERS, "address": module._address_checked,
                   "emails": module._emails_checked}
    try:
        return module._normalize_general(entity, fields, normalizers)
    except StoreError as exc:
        return ("error", exc.title, exc.message)


def _outcome(entity: str, fields: dict[str, Any]) -> Any:
    try:
        result = normalize_fields(entity, fields)
    except StoreError as exc:
        return ("error", exc.title, exc.message)
    return result, list(result)


_messy_text = st.one_of(st.text(alphabet=" \t\r\n\u00a0\u2028aZé@.-,", max_size=8),
                        st.sampled_from(["Ann", "  Ann ", "a\r\nb", "", "   ", "male", "Female",
                                         "in progress", "1980-04-23", "2026-11-23T10:00:00Z",
                                         "true", "a@b.test", "a @b.test", "x@y, z@w"]))
_messy_value = st.one_of(
    st.none(), _messy_text, st.integers(-2, 2), st.booleans(), st.just(date(1980, 4, 23)),
    st.lists(st.one_of(_messy_text, st.integers(0, 1), st.none()), max_size=4),
    st.dictionaries(st.sampled_from([*ADDRESS_PARTS, "zip"]),
                    st.one_of(st.none(), _messy_text, st.integers(0, 9)), max_size=6))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["contacts", "tasks", "events"]), st.data())
def test_one_pass_normalize_equals_the_general_pass(entity: str, data: st.DataObject) -> None:
    """Any field dict, good or bad (unknown fields and address parts, CRs, spaces in
    e-mail addresses, wrong types, several problems at once): the same canonical fields in
    the same order, or the same error naming the same field."""
    from tray_client.store.fields import FIELD_KINDS

    names = st.sampled_from([*FIELD_KINDS[entity], "nickname"])
    fields = data.draw(st.dictionaries(names, _messy_value, max_size=8))
    expected = _general(entity, fields)
    got = _outcome(entity, fields)
    if isinstance(expected, tuple):
        assert got == expected
    else:
        assert got == (expected, list(expected))


def test_one_pass_normalize_of_a_pulled_contact_equals_the_general_pass() -> None:
    fields = {"first_name": "Anna", "last_name": "Kowalski", "notes": "line\r\nbreak",
              "emails": ["anna@x.test", " a.1@y.test "], "primary_phone": "+1-555",
              "gender": "female", "other_address": {"street": "46 Via Roma", "city": "Paris",
                                                    "postal_code": "75001", "region": "Île",
                                                    "country": "France"}}
    assert _outcome("contacts", fields) == (_general("contacts", fields),
                                            list(_general("contacts", fields)))
    assert list(normalize_fields("contacts", fields)) == [
        "first_name", "last_name", "emails", "primary_phone", "gender", "other_address",
        "notes"]
