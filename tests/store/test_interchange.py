"""vCard and iCalendar import/export: round trips, tricky real-world files, broken files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import icalendar
import pytest
import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tray_client.errors import InterchangeError
from tray_client.store import ENTITIES, LocalStore

from .test_fields import _contact, _event, _task

CONTACTS: list[dict[str, Any]] = [
    {"first_name": "Zoë", "middle_name": "Ä.", "last_name": "Müller-Lüdenscheidt",
     "suffix": "Jr.", "emails": ["zoe@example.org", "zoe.mueller@firma.de", "z@x.io"],
     "primary_phone": "+49 30 1234567", "job_title": "Directrice générale; R&D, Europe",
     "birthday": "1980-02-29", "gender": "female", "business_fax": "+49 30 7654321",
     "business_address": {"street": "Unter den Linden 1", "city": "Berlin",
                          "postal_code": "10117", "region": "Berlin", "country": "Germany"},
     "home_address": {"street": "Rue de l'Église, 3", "city": "Liège", "country": "Belgique"},
     "other_address": {"city": "東京"},
     "notes": "Met at the fair.\nLikes tea; not coffee, ever. " + "long " * 40 + "end"},
    {"last_name": "Solo"},
    {"emails": ["only@mail.example"], "gender": "male"},
]
TASKS: list[dict[str, Any]] = [
    {"subject": "Send the offer", "priority": "high", "due_date": "2026-12-01",
     "status": "waiting", "notes": "Two lines\nhere"},
    {"subject": "Plan Q1", "priority": "low", "status": "deferred"},
    {"subject": "Call back", "priority": "normal", "status": "in_progress"},
    {"subject": "Done thing", "status": "completed"},
    {"subject": "Untouched", "status": "not_started"},
]
EVENTS: list[dict[str, Any]] = [
    {"subject": "Kick-off in Kolkata", "start": "2026-11-23T10:00:00+05:30",
     "end": "2026-11-23T11:30:00+05:30", "all_day": False, "location": "Salt Lake, Sector V",
     "notes": "Agenda:\n1. intro"},
    {"subject": "Call NYC", "start": "2026-11-23T09:00:00-05:00",
     "end": "2026-11-23T15:00:00+00:00", "all_day": False},
    {"subject": "Christmas", "start": "2026-12-24", "end": "2026-12-27", "all_day": True},
    {"subject": "Untimed", "all_day": False},
]
SAMPLES = {"contacts": CONTACTS, "tasks": TASKS, "events": EVENTS}
SUFFIX = {"contacts": ".vcf", "tasks": ".ics", "events": ".ics"}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "a.db")


@pytest.fixture
def fresh(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "b.db")


@pytest.mark.parametrize("entity", ENTITIES)
def test_export_then_import_round_trips(entity: str, store: LocalStore, fresh: LocalStore,
                                        tmp_path: Path) -> None:
    for i, fields in enumerate(SAMPLES[entity]):
        store.add(entity, fields, crm_id=str(100 + i))
    path = tmp_path / f"out{SUFFIX[entity]}"
    assert store.export_file(entity, path) == len(SAMPLES[entity])
    result = fresh.import_file(path)
    assert (result.created, result.skipped, result.errors) == (len(SAMPLES[entity]), 0, [])
    imported = [item.fields for item in fresh.iter_items(entity)]
    def canonical(fields: dict[str, Any]) -> str:
        return json.dumps(fields, sort_keys=True, ensure_ascii=False)

    assert sorted(map(canonical, imported)) == sorted(map(canonical, SAMPLES[entity]))
    # Unlinked unless asked.
    assert all(item.crm_id is None for item in fresh.iter_items(entity))


def test_import_keeps_crm_ids_when_asked(store: LocalStore, fresh: LocalStore,
                                         tmp_path: Path) -> None:
    store.add("contacts", CONTACTS[1], crm_id="77")
    store.export_file("contacts", tmp_path / "c.vcf")
    assert "X-CRM-ID:77" in (tmp_path / "c.vcf").read_text()
    fresh.import_file(tmp_path / "c.vcf", keep_crm_ids=True)
    assert fresh.find_by_crm_id("contacts", "77") is not None
    # The same link again is this entry's problem, not a crash.
    again = fresh.import_file(tmp_path / "c.vcf", keep_crm_ids=True)
    assert again.created == 0 and "already linked" in again.errors[0].message


def test_export_writes_exchange_formats_others_can_read(store: LocalStore,
                                                        tmp_path: Path) -> None:
    for entity in ENTITIES:
        for fields in SAMPLES[entity]:
            store.add(entity, fields)
    store.export_file("contacts", tmp_path / "c.vcf")
    cards = list(vobject.readComponents((tmp_path / "c.vcf").read_text(encoding="utf-8")))
    assert len(cards) == 3
    zoe = cards[0]
    assert zoe.fn.value == "Zoë Müller-Lüdenscheidt"
    assert [line.params.get("TYPE") for line in zoe.contents["adr"]] == [
        ["WORK"], ["HOME"], None]
    raw = (tmp_path / "c.vcf").read_bytes()
    assert all(len(line) <= 75 for line in raw.split(b"\r\n")), "long lines must be folded"
    store.export_file("events", tmp_path / "e.ics")
    cal = icalendar.Calendar.from_ical((tmp_path / "e.ics").read_bytes())
    kickoff = cal.walk("VEVENT")[0]
    assert kickoff["DTSTART"].dt.utcoffset().total_seconds() == 5.5 * 3600
    assert kickoff["DTSTART"].params["TZID"] == "UTC+0530"
    christmas = cal.walk("VEVENT")[2]
    assert christmas["DTSTART"].params.get("VALUE") == "DATE"
    store.export_file("tasks", tmp_path / "t.ics")
    todo = icalendar.Calendar.from_ical((tmp_path / "t.ics").read_bytes()).walk("VTODO")[0]
    assert (int(todo["PRIORITY"]), str(todo["STATUS"])) == (1, "NEEDS-ACTION")


TRICKY_VCF = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "N:Ñúñez;José;María;Dr.;PhD\r\n"
    "FN:Dr. José María Ñúñez PhD\r\n"
    "EMAIL;TYPE=INTERNET,WORK:jose@empresa.example\r\n"
    "EMAIL;TYPE=INTERNET,HOME:pepe@casa.example\r\n"
    "EMAIL:third@x.example\r\n"
    "TEL;TYPE=CELL:+34 600 000 000\r\n"
    "TEL;TYPE=WORK,VOICE,PREF:+34 910 000 000\r\n"
    "TEL;TYPE=WORK,FAX:+34 910 000 001\r\n"
    "ADR;TYPE=HOME:;;Calle Mayor 5\\, 3º;Madrid;Madrid;28013;España\r\n"
    "ADR;TYPE=WORK,PREF:;Planta 2;Paseo de la Castellana 1;Madrid;;28046;España\r\n"
    "ADR;TYPE=POSTAL:;;Apartado 12;Toledo;;;España\r\n"
    "TITLE:Jefe de ventas\r\n"
    "BDAY:19751231\r\n"
    "NOTE:Una nota muy larga que ocupa más de setenta y cinco octetos y que por lo\r\n"
    "  tanto va doblada en varias líneas\\, con comas\\; y punto y coma.\r\n"
    "GENDER:M\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N:Ng;Ah\r\n"
    "TEL;HOME:555-1000\r\n"
    "TEL;WORK;FAX:555-2000\r\n"
    "ADR;WORK:;;1 Harbour Rd;Hong Kong;;;HK\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "FN:Bad Birthday\r\n"
    "BDAY:someday\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "this line is not a property\r\n"
    "END:VCARD\r\n"
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "FN:Prince\r\n"
    "GENDER:O\r\n"
    "EMAIL:p@purple.example\r\n"
    "END:VCARD\r\n"
)


def test_import_tricky_vcard(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "tricky.vcf"
    path.write_bytes(TRICKY_VCF.encode("utf-8"))
    result = store.import_file(path)
    assert result.created == 3
    assert [(p.index, p.name) for p in result.errors] == [(3, "Bad Birthday"), (4, "")]
    assert "birthday" in result.errors[0].message
    jose, ah, prince = [item.fields for item in store.iter_items("contacts")]
    assert jose == {
        "first_name": "José", "middle_name": "María", "last_name": "Ñúñez", "suffix": "PhD",
        "emails": ["jose@empresa.example", "pepe@casa.example", "third@x.example"],
        "primary_phone": "+34 910 000 000", "job_title": "Jefe de ventas",
        "birthday": "1975-12-31", "gender": "male", "business_fax": "+34 910 000 001",
        "business_address": {"street": "Paseo de la Castellana 1\nPlanta 2", "city": "Madrid",
                             "postal_code": "28046", "country": "España"},
        "home_address": {"street": "Calle Mayor 5, 3º", "city": "Madrid", "postal_code": "28013",
                         "region": "Madrid", "country": "España"},
        "other_address": {"street": "Apartado 12", "city": "Toledo", "country": "España"},
        "notes": "Una nota muy larga que ocupa más de setenta y cinco octetos y que por lo "
                 "tanto va doblada en varias líneas, con comas; y punto y coma.",
    }
    assert ah == {"first_name": "Ah", "last_name": "Ng", "primary_phone": "555-1000",
                  "business_fax": "555-2000",
                  "business_address": {"street": "1 Harbour Rd", "city": "Hong Kong",
                                       "country": "HK"}}
    assert prince == {"first_name": "Prince", "emails": ["p@purple.example"]}


TRICKY_ICS = (
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "PRODID:-//Example//Test//EN\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:Europe/Paris\r\n"
    "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Summer meeting\r\n"
    "DTSTART;TZID=Europe/Paris:20260715T090000\r\n"
    "DTEND;TZID=Europe/Paris:20260715T100000\r\nLOCATION:Paris\\, 8e\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:2\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Winter meeting\r\n"
    "DTSTART;TZID=Europe/Paris:20261215T090000\r\nDURATION:PT90M\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:3\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Holiday\r\n"
    "DTSTART;VALUE=DATE:20260803\r\nDTEND;VALUE=DATE:20260815\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:4\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Birthday party\r\n"
    "DTSTART;VALUE=DATE:20260901\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:5\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Broken start\r\n"
    "DTSTART:not-a-date\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:6\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:UTC call\r\n"
    "DTSTART:20261123T150000Z\r\nDTEND:20261123T153000Z\r\n"
    "DESCRIPTION:Dial-in: 123\\nPIN 456\r\nEND:VEVENT\r\n"
    "BEGIN:VTODO\r\nUID:7\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:File taxes\r\n"
    "PRIORITY:3\r\nDUE:20270415T235900Z\r\nSTATUS:IN-PROCESS\r\nEND:VTODO\r\n"
    "BEGIN:VTODO\r\nUID:8\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Cancelled\r\n"
    "PRIORITY:9\r\nSTATUS:CANCELLED\r\nEND:VTODO\r\n"
    "BEGIN:VJOURNAL\r\nUID:9\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Diary\r\nEND:VJOURNAL\r\n"
    "END:VCALENDAR\r\n"
)


def test_import_tricky_icalendar(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(TRICKY_ICS, encoding="utf-8")
    result = store.import_file(path)
    assert (result.created, result.skipped) == (7, 1)
    assert [(p.index, p.name) for p in result.errors] == [(5, "Broken start")]
    assert "DTSTART" in result.errors[0].message
    events = {i.fields["subject"]: i.fields for i in store.iter_items("events")}
    assert events["Summer meeting"] == {"subject": "Summer meeting",
                                        "start": "2026-07-15T09:00:00+02:00",
                                        "end": "2026-07-15T10:00:00+02:00",
                                        "all_day": False, "location": "Paris, 8e"}
    assert events["Winter meeting"]["start"] == "2026-12-15T09:00:00+01:00"
    assert events["Winter meeting"]["end"] == "2026-12-15T10:30:00+01:00"
    assert events["Holiday"] == {"subject": "Holiday", "start": "2026-08-03",
                                 "end": "2026-08-15", "all_day": True}
    assert events["Birthday party"]["end"] == "2026-09-02"
    assert events["UTC call"]["notes"] == "Dial-in: 123\nPIN 456"
    assert events["UTC call"]["start"] == "2026-11-23T15:00:00+00:00"
    tasks = {i.fields["subject"]: i.fields for i in store.iter_items("tasks")}
    assert tasks["File taxes"] == {"subject": "File taxes", "priority": "high",
                                   "due_date": "2027-04-15T23:59:00+00:00", "status": "in_progress"}
    assert tasks["Cancelled"] == {"subject": "Cancelled", "priority": "low",
                                  "status": "deferred"}


def test_a_badly_broken_calendar_still_yields_its_good_entries(store: LocalStore,
                                                               tmp_path: Path) -> None:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
            "BEGIN:VEVENT\r\nSUMMARY:Good one\r\nDTSTART:20261123T150000Z\r\nEND:VEVENT\r\n"
            "BEGIN:VEVENT\r\nSUMMARY:Unclosed\r\nDTSTART:20261123T150000Z\r\n"
            "BEGIN:VTODO\r\nSUMMARY:Good task\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n")
    path = tmp_path / "broken.ics"
    path.write_text(text)
    result = store.import_file(path)
    assert result.created == 2
    assert [(p.index, p.message) for p in result.errors] == [(2, "the entry has no END line.")]
    subjects = {i.fields.get("subject") for e in ("events", "tasks") for i in store.iter_items(e)}
    assert subjects == {"Good one", "Good task"}


@pytest.mark.parametrize(("content", "title"), [
    (b"", "Nothing to import"),
    (b"name,email\nAnn,ann@x.org\n", "Unknown file type"),
    (b"\x00\x01\x02binary", "Unknown file type"),
])
def test_unreadable_files_raise_interchange_error(store: LocalStore, tmp_path: Path,
                                                  content: bytes, title: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(InterchangeError) as info:
        store.import_file(path)
    assert info.value.title == title and path.name in info.value.message
    assert store.count("contacts") == 0


def test_vcf_without_cards_and_missing_file(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "empty.vcf"
    path.write_text("just some words\n")
    with pytest.raises(InterchangeError, match="no vCard"):
        store.import_file(path)
    with pytest.raises(InterchangeError, match="Cannot read"):
        store.import_file(tmp_path / "missing.ics")


def test_content_wins_over_extension(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "actually-a-calendar.vcf"
    path.write_text(TRICKY_ICS)
    assert store.import_file(path).created == 7


def test_latin1_vcard_is_decoded(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "old.vcf"
    path.write_bytes("BEGIN:VCARD\r\nVERSION:2.1\r\nN:Gärtner;Jürgen\r\nEND:VCARD\r\n"
                     .encode("cp1252"))
    store.import_file(path)
    assert [i.display_name for i in store.iter_items("contacts")] == ["Jürgen Gärtner"]


def test_export_refuses_wrong_extension_and_unwritable_path(store: LocalStore,
                                                            tmp_path: Path) -> None:
    with pytest.raises(InterchangeError, match=r"\.vcf"):
        store.export_file("contacts", tmp_path / "contacts.ics")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InterchangeError, match="Cannot write"):
        store.export_file("tasks", blocker / "sub" / "tasks.ics")


def test_import_is_one_transaction_with_the_callers(store: LocalStore, tmp_path: Path) -> None:
    path = tmp_path / "c.vcf"
    path.write_bytes(TRICKY_VCF.encode())
    with pytest.raises(RuntimeError), store.transaction():
        assert store.import_file(path).created == 3
        raise RuntimeError("user cancelled")
    assert store.count("contacts") == 0


# -- Hypothesis: whatever the store holds survives export → import ----------------------------



@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entity_fields=st.one_of(st.tuples(st.just("contacts"), _contact),
                               st.tuples(st.just("tasks"), _task),
                               st.tuples(st.just("events"), _event())))
def test_any_valid_item_survives_export_and_import(tmp_path_factory: pytest.TempPathFactory,
                                                   entity_fields: tuple[str, dict[str, Any]]
                                                   ) -> None:
    entity, fields = entity_fields
    folder = tmp_path_factory.mktemp("prop")
    with LocalStore(folder / "a.db") as source, LocalStore(folder / "b.db") as target:
        item = source.add(entity, fields)
        if not item.fields or item.fields == {"all_day": False}:
            return  # an empty item is skipped on import by design
        source.export_file(entity, folder / f"x{SUFFIX[entity]}")
        result = target.import_file(folder / f"x{SUFFIX[entity]}")
        assert result.errors == [] and result.created == 1
        [back] = list(target.iter_items(entity))
        assert back.fields == item.fields


def test_values_with_format_syntax_survive(store: LocalStore, fresh: LocalStore,
                                           tmp_path: Path) -> None:
    tricky = ["Ann, Marie", "O;Brien", "back\\slash", "tab\there", "x\u2028y\x85z\x0cw",
              "line\nbreak", "é\u00a0z", ":colon", '"quoted"', "END:VCARD", "END:VEVENT"]
    for text in tricky:
        store.add("contacts", {"first_name": text, "last_name": text, "job_title": text,
                               "primary_phone": text, "notes": text,
                               "business_address": {"street": text, "city": text}})
        store.add("events", {"subject": text, "location": text, "notes": text})
        store.add("tasks", {"subject": text, "notes": text})
    for entity in ENTITIES:
        store.export_file(entity, tmp_path / f"x{SUFFIX[entity]}")
        result = fresh.import_file(tmp_path / f"x{SUFFIX[entity]}")
        assert (result.created, result.errors) == (len(tricky), [])
        before = [item.fields for item in store.iter_items(entity)]
        after = [item.fields for item in fresh.iter_items(entity)]
        assert after == before


# -- caps, streaming and per-entry warnings (issue 11) -------------------------------------

def _card(name: str, *extra: str) -> str:
    return "\r\n".join(["BEGIN:VCARD", "VERSION:3.0", f"N:{name};Ann;;;", f"FN:Ann {name}",
                        *extra, "END:VCARD"]) + "\r\n"


def _folded(prop: str, size: int) -> str:
    value = "x" * size
    return prop + ":" + "\r\n ".join(value[i:i + 74] for i in range(0, size, 74))


def test_a_huge_field_is_one_entry_error_and_is_never_parsed(store: LocalStore,
                                                             tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "big.vcf"
    path.write_text(_card("Before") + _card("Huge", _folded("NOTE", 2_000_000))
                    + _card("After"), encoding="utf-8")
    tracemalloc.start()
    try:
        result = store.import_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.created == 2
    [problem] = result.errors
    assert problem.index == 2
    assert "NOTE is longer than 65,535 characters" in problem.message
    assert peak < 30_000_000, f"{peak:,} bytes for a 2 MB file"   # a parse would take ~300 MB
    assert {i.fields["last_name"] for i in store.iter_items("contacts")} == {"Before", "After"}


def test_an_entry_over_the_size_cap_is_refused_but_a_photo_does_not_count(
        store: LocalStore, tmp_path: Path) -> None:
    many_notes = [f"X-NOTE-{n}:" + "y" * 1000 for n in range(300)]   # 300 KB of small lines
    path = tmp_path / "cards.vcf"
    path.write_text(_card("Photo", _folded("PHOTO;ENCODING=b;TYPE=JPEG", 3_000_000))
                    + _card("Many", *many_notes) + _card("Plain"), encoding="utf-8")
    result = store.import_file(path)
    assert result.created == 2
    [problem] = result.errors
    assert problem.index == 2 and "larger than 256 KB" in problem.message
    assert {i.fields["last_name"] for i in store.iter_items("contacts")} == {"Photo", "Plain"}


def test_a_file_over_the_cap_is_refused_before_it_is_read(store: LocalStore, tmp_path: Path,
                                                          monkeypatch) -> None:
    from tray_client.store import interchange

    monkeypatch.setattr(interchange, "MAX_IMPORT_BYTES", 1000)
    path = tmp_path / "many.vcf"
    path.write_text("".join(_card(f"N{n}") for n in range(30)), encoding="utf-8")
    with pytest.raises(InterchangeError) as info:
        store.import_file(path)
    assert info.value.title == "File too large" and "at most" in info.value.message
    assert store.count("contacts") == 0


@pytest.mark.parametrize("kind", ["vcard", "icalendar"])
def test_large_files_are_read_line_by_line(tmp_path: Path, kind: str) -> None:
    import tracemalloc

    from tray_client.store import interchange

    if kind == "vcard":
        path = tmp_path / "many.vcf"
        body = "".join(_card(f"N{n:06d}", "NOTE:" + "z" * 200) for n in range(20_000))
    else:
        path = tmp_path / "many.ics"
        body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + "".join(
            f"BEGIN:VTODO\r\nSUMMARY:T{n}\r\nDESCRIPTION:{'z' * 200}\r\nEND:VTODO\r\n"
            for n in range(20_000)) + "END:VCALENDAR\r\n")
    path.write_text(body, encoding="utf-8")
    size = path.stat().st_size
    del body
    tracemalloc.start()
    try:
        entries = interchange.read_file(path)
        for count, _entry in enumerate(entries, 1):
            if count == 50:
                break
        peak = tracemalloc.get_traced_memory()[1]
        entries.close()  # type: ignore[attr-defined]
    finally:
        tracemalloc.stop()
    assert size > 4_000_000
    assert peak < size / 4, f"{peak:,} bytes to read 50 entries of a {size:,}-byte file"


RECURRING_ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
BEGIN:VEVENT\r
SUMMARY:Weekly standup\r
DTSTART:20261123T090000Z\r
DTEND:20261123T091500Z\r
RRULE:FREQ=WEEKLY;BYDAY=MO\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:On Mars\r
DTSTART;TZID=Mars/Olympus_Mons:20261124T100000\r
DTEND;TZID=Mars/Olympus_Mons:20261124T110000\r
END:VEVENT\r
BEGIN:VEVENT\r
SUMMARY:Plain\r
DTSTART:20261125T100000Z\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_recurrence_and_unknown_time_zones_are_warned_per_entry(store: LocalStore,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    path.write_text(RECURRING_ICS, encoding="utf-8")
    result = store.import_file(path)
    assert result.created == 3 and not result.errors
    warned = [(w.index, w.name) for w in result.warnings]
    assert warned == [(1, "Weekly standup"), (2, "On Mars"), (2, "On Mars")]
    assert "FREQ=WEEKLY;BYDAY=MO" in result.warnings[0].message
    assert "only its first occurrence" in result.warnings[0].message
    assert "unknown time zone 'Mars/Olympus_Mons'" in result.warnings[1].message
    assert "DTSTART" in result.warnings[1].message and "DTEND" in result.warnings[2].message
