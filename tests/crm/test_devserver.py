"""The client against the real reference server on loopback (the ``devserver`` fixture)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.crm import CrmClient, Cursor, EnumValue
from tray_client.devserver.testing import RunningServer
from tray_client.errors import (
    AuthError,
    CrmTimeoutError,
    IncompatibleServerError,
    NotFoundError,
    OfflineError,
    ServerError,
    ValidationError,
)

T1, T2, T3 = "2026-01-01T10:00:00Z", "2026-01-01T10:00:01Z", "2026-01-01T10:00:05Z"


@pytest.fixture
def crm(devserver) -> Iterator[CrmClient]:  # type: ignore[no-untyped-def]
    sleeps: list[float] = []
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY, sleep=sleeps.append) as client:
        client.sleeps = sleeps  # type: ignore[attr-defined]
        yield client


def test_right_key_signs_in_and_wrong_key_is_rejected(devserver, crm: CrmClient) -> None:
    assert crm.current_user().attributes["username"] == TEST_USER
    with CrmClient(devserver.url, TEST_USER, "wrong-key") as bad, pytest.raises(AuthError) as info:
        bad.current_user()
    assert "wrong-key" not in str(info.value)
    with CrmClient(devserver.url, "nobody", TEST_API_KEY) as bad, pytest.raises(AuthError):
        bad.current_user()


def test_many_requests_each_get_a_fresh_nonce(crm: CrmClient) -> None:
    # The server refuses a reused nonce: quick requests all pass only if each is fresh.
    for _ in range(10):
        crm.current_user()


def test_crud_round_trip_with_addresses(crm: CrmClient) -> None:
    created = crm.create(
        "contacts", {"firstName": "Ann", "lastName": "Lee", "emails": [{"email": "ann@x.org"}]},
        {"addresses": {"data": [{"type": "contactaddresses", "id": "tmp1"}]}},
        [{"type": "contactaddresses", "id": "tmp1",
          "attributes": {"street": "1 Main St", "city": "Paris"},
          "relationships": {"types": {"data": [{"type": "addresstypes", "id": "billing"}]},
                            "country": {"data": {"type": "countries", "id": "FR"}},
                            "region": {"data": {"type": "regions", "id": "FR-IDF"}}}}])
    assert created.id and created.attributes["firstName"] == "Ann"
    fetched = crm.get("contacts", created.id, include=["addresses"])
    [address] = fetched.related("addresses")
    assert address.attributes["city"] == "Paris"
    assert address.related_id("country") == "FR" and address.related_id("region") == "FR-IDF"
    assert address.related_id("types") is None
    assert address.relationships["types"][0].id == "billing"  # type: ignore[index]
    updated = crm.update("contacts", created.id, {"jobTitle": "CTO"})
    assert updated.attributes["jobTitle"] == "CTO" and updated.attributes["lastName"] == "Lee"
    assert crm.count("contacts") == 1
    crm.delete("contacts", created.id)
    with pytest.raises(NotFoundError):
        crm.get("contacts", created.id)
    assert crm.count("contacts") == 0
    # Real Oro has no removals feed.
    with pytest.raises(IncompatibleServerError):
        list(crm.iter_removals("contacts", None))


def test_removals_feed_of_the_extension(tmp_path) -> None:
    with RunningServer(db_path=tmp_path / "feed.db", user=TEST_USER, api_key=TEST_API_KEY,
                       removals_feed=True) as server, \
            CrmClient(server.url, TEST_USER, TEST_API_KEY) as crm:
        created = crm.create("contacts", {"firstName": "Ann"})
        crm.delete("contacts", created.id)
        removals = list(crm.iter_removals("contacts", None))
        assert [(r.type, r.id) for r in removals] == [("contacts", created.id)]
        # boundary kept
        assert list(crm.iter_removals("contacts", removals[0].removed_at)) == removals
        assert list(crm.iter_removals("tasks", None)) == []


def test_validation_error_names_the_field(crm: CrmClient) -> None:
    with pytest.raises(ValidationError) as info:
        crm.create("leads", {"firstName": "No name"})
    assert "name" in [e.field for e in info.value.errors]
    assert "name" in info.value.message
    with pytest.raises(ValidationError) as info:
        list(crm.iter_collection("contacts", filters={"nonsense": "1"}))
    assert info.value.errors and info.value.errors[0].parameter


def test_paging_2500_records_with_ties_sees_each_once_in_order(devserver, crm: CrmClient) -> None:
    devserver.admin.freeze_time(T1)
    devserver.admin.bulk_contacts(1200)       # one tie group larger than a page
    devserver.admin.freeze_time(T2)
    devserver.admin.bulk_contacts(700)
    devserver.admin.freeze_time(T3)
    devserver.admin.bulk_contacts(600)
    devserver.admin.freeze_time(None)
    expected = [str(i) for i in range(1, 2501)]
    got = [(r.updated_at, r.id) for r in crm.iter_changed("contacts", None, page_size=500)]
    assert [i for _, i in got] == expected
    assert {t for t, _ in got} == {T1, T2, T3}
    plain = [r.id for r in crm.iter_collection("contacts", page_size=1000)]
    assert plain == expected
    assert sorted(crm.iter_ids("contacts"), key=int) == expected


def test_iter_changed_from_a_cursor_inside_a_tie_group(devserver, crm: CrmClient) -> None:
    devserver.admin.freeze_time(T1)
    devserver.admin.bulk_contacts(30)
    devserver.admin.freeze_time(T2)
    devserver.admin.bulk_contacts(10)
    devserver.admin.freeze_time(None)
    got = [r.id for r in crm.iter_changed("contacts", Cursor(T1, "17"), page_size=7)]
    assert got == [str(i) for i in range(18, 41)]
    assert [r.id for r in crm.iter_changed("contacts", Cursor(T2, "40"))] == []
    # The engine's boundary re-read: everything at T2.
    assert len(list(crm.iter_changed("contacts", Cursor(T2, "")))) == 10
    # Ids compare numerically: "9" < "10" although "9" > "10" as text.
    assert [r.id for r in crm.iter_changed("contacts", Cursor(T1, "9"))][:2] == ["10", "11"]


def test_changes_during_iteration_are_seen_again_later(devserver, crm: CrmClient) -> None:
    devserver.admin.freeze_time(T1)
    devserver.admin.bulk_contacts(50)
    devserver.admin.freeze_time(T3)
    walk = crm.iter_changed("contacts", None, page_size=10)
    first = [next(walk).id for _ in range(15)]
    devserver.admin.update("contacts", "3", {"jobTitle": "changed"})    # already read
    devserver.admin.update("contacts", "40", {"jobTitle": "changed"})   # not read yet
    rest = [r.id for r in walk]
    devserver.admin.freeze_time(None)
    seen = first + rest
    assert set(seen) == {str(i) for i in range(1, 51)}
    assert seen[-2:] == ["3", "40"]  # at their new updatedAt, in id order


def test_filters(devserver, crm: CrmClient) -> None:
    devserver.admin.freeze_time(T1)
    a = devserver.admin.create("contacts", {"firstName": "A"})
    devserver.admin.freeze_time(T2)
    b = devserver.admin.create("contacts", {"firstName": "B"}, {"assignedTo": "1"})
    devserver.admin.freeze_time(T3)
    c = devserver.admin.create("contacts", {"firstName": "C"})
    devserver.admin.freeze_time(None)

    def ids(**kwargs: object) -> list[str]:
        return [r.id for r in crm.iter_collection("contacts", **kwargs)]  # type: ignore[arg-type]

    assert ids(filters={"updatedAt[gt]": T1}) == [b, c]
    assert ids(filters={"updatedAt[gte]": T2}) == [b, c]
    assert ids(filters={"updatedAt[lt]": T2}) == [a]
    assert ids(filters={"updatedAt[lte]": T2}) == [a, b]
    assert ids(filters={"id": [a, c]}) == [a, c]
    assert ids(filters={"owner": "1"}) == [a, b, c]
    assert ids(filters={"assignedTo": "1"}) == [b]
    assert ids(sort="-id") == [c, b, a]
    assert ids(page_size=1) == [a, b, c]
    sparse = list(crm.iter_collection("contacts", fields=["id"]))
    assert all(r.attributes == {} for r in sparse)
    assert list(crm.iter_ids("contacts", filters={"id": [b]})) == [b]
    user = crm.current_user()
    calendar = crm.user_calendar_id(user.id)
    assert calendar is not None
    event = crm.create("calendarevents", {"title": "Meet", "start": "2026-01-02T10:00:00Z",
                                          "end": "2026-01-02T11:00:00Z", "allDay": False},
                       {"calendar": {"data": {"type": "calendars", "id": calendar}}})
    assert [r.id for r in crm.iter_collection("calendarevents",
                                              filters={"calendar": calendar})] == [event.id]
    assert [r.attributes["username"] for r in crm.iter_collection(
        "users", filters={"username": TEST_USER}, sort="id")] == [TEST_USER]


def test_enums_configuration_and_server_time(devserver, crm: CrmClient) -> None:
    statuses = crm.enum_values("taskstatuses")
    assert [s.id for s in statuses] == ["open", "in_progress", "closed"]
    assert statuses[0] == EnumValue("open", "Open", True)
    assert [s.id for s in crm.enum_values("leadstatuses")] == ["new", "qualified", "canceled"]
    assert crm.configuration() == {}  # real Oro: no Outlook section, and that is no error
    devserver.admin.set_setting("contacts_sync_direction", "OroCRMToOutlook")
    config = crm.configuration()
    assert config["contacts_sync_direction"] == "OroCRMToOutlook"
    assert config["contacts_enabled"] is True
    # The old bundle's shapes: keys as {"OroCRM", "Outlook"} pairs, XAML layouts.
    assert config["contacts_keys"] == ["lastName", "firstName", "birthday", "gender"]
    assert config["create_lead_dialog_layout"] is None
    assert "tasks_sync_direction" not in config and "addin_min_supported_version" not in config
    assert not any("." in key for key in config)
    assert crm.server_time().endswith("Z") and len(crm.server_time()) == 20


def test_server_faults_are_retried(devserver, crm: CrmClient) -> None:
    devserver.admin.inject_fault("/api/userprofile", status=500, times=2)
    assert crm.current_user().attributes["username"] == TEST_USER
    devserver.admin.inject_fault("/api/userprofile", status=503, retry_after=4, times=1)
    crm.current_user()
    assert crm.sleeps[-1] >= 4  # type: ignore[attr-defined]
    devserver.admin.inject_fault("/api/userprofile", kind="drop", times=2)
    crm.current_user()
    assert len(crm.sleeps) == 5  # type: ignore[attr-defined]


def test_persistent_faults_are_reported_clearly(devserver, crm: CrmClient) -> None:
    devserver.admin.inject_fault("/api/userprofile", status=500, times=None)
    with pytest.raises(ServerError) as info:
        crm.current_user()
    assert "500" in info.value.message
    devserver.admin.clear_faults()
    devserver.admin.inject_fault("/api/userprofile", kind="drop", times=None)
    with pytest.raises(OfflineError):
        crm.current_user()
    devserver.admin.clear_faults()


def test_a_cut_off_answer_is_reported_as_cut_off(devserver, crm: CrmClient) -> None:
    devserver.admin.inject_fault("/api/contacts", kind="truncate", times=1, method="GET")
    with pytest.raises(ServerError) as info:
        list(crm.iter_changed("contacts", None))
    assert info.value.title == "Incomplete answer from the CRM"
    assert "cut off" in info.value.message and "OroCommerce" not in info.value.message
    devserver.admin.clear_faults()
    assert list(crm.iter_changed("contacts", None)) == []   # the next try reads it whole


def test_slow_answers_time_out(devserver) -> None:
    devserver.admin.inject_fault("/api/userprofile", kind="delay", delay=1.0, times=1)
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY, timeout=0.3,
                   sleep=lambda s: None) as quick:
        assert quick.current_user()  # the retry gets a normal answer
    devserver.admin.inject_fault("/api/userprofile", kind="delay", delay=1.0, times=None)
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY, timeout=0.3, retries=1,
                   sleep=lambda s: None) as quick, pytest.raises(CrmTimeoutError):
        quick.current_user()
    devserver.admin.clear_faults()


def test_a_post_whose_answer_was_dropped_is_not_repeated(devserver, crm: CrmClient) -> None:
    devserver.admin.inject_fault("/api/tasks", kind="drop", times=1, method="POST")
    with pytest.raises(OfflineError):
        crm.create("tasks", {"subject": "once"})
    # Repeating blindly could duplicate it: the client leaves that decision to the engine.
    assert devserver.admin.count("tasks") <= 1


def test_the_key_never_reaches_the_logs(devserver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    devserver.admin.inject_fault("/api/userprofile", status=500, times=1)
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY, sleep=lambda s: None) as crm:
        crm.current_user()
        crm.check_connection()
        with pytest.raises(ValidationError) as info:
            crm.create("leads", {})
    with CrmClient(devserver.url, TEST_USER, TEST_API_KEY + "x") as bad:
        verdict = bad.check_connection()
    assert caplog.records
    assert TEST_API_KEY not in caplog.text
    assert TEST_API_KEY not in str(info.value) and TEST_API_KEY not in verdict.message


def test_enum_values_come_in_oros_order(devserver, crm: CrmClient) -> None:
    # Oro lists by id ("closed" first); the client orders by `order` / `priority`.
    assert [v.id for v in crm.enum_values("casestatuses")] == [
        "open", "in_progress", "resolved", "closed",
    ]
    assert [(v.label, v.default) for v in crm.enum_values("casepriorities")] == [
        ("Low", False), ("Normal", False), ("High", False)]
    assert [v.id for v in crm.enum_values("opportunitystatuses")] == [
        "in_progress", "identification_alignment", "needs_analysis", "solution_development",
        "negotiation", "won", "lost"]
    assert crm.enum_values("leadsources") == [
        EnumValue("demand_generation", "Demand Generation", True)
    ]
    # casesources have no order: the server's (id) order stays.
    assert [v.id for v in crm.enum_values("casesources")] == ["email", "other", "phone", "web"]
