"""The reference server's calendar events on Oro's older REST API, as OroCalendarBundle 6.0
answers (docs/protocol.md, "Calendar events"): shapes, query parameters, validation, errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.devserver.testing import RunningServer

from .wsse import wsse_headers

EVENT = {"title": "Regular event", "start": "2026-12-14T22:00:00+00:00",
         "end": "2026-12-14T23:00:00+00:00", "allDay": False, "calendar": 1}


class Rest:
    """Plain JSON over WSSE against /api/rest/latest (not JSON:API)."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url + "/api/rest/latest", timeout=20)

    def __call__(self, method: str, path: str, *, json: Any = None, params: Any = None,
                 headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {**wsse_headers(TEST_USER, TEST_API_KEY), "Accept": "application/json",
                **(headers or {})}
        return self.client.request(method, path, json=json, params=params, headers=sent)


@pytest.fixture
def oro(tmp_path):
    """The server as Oro 6.0 (no JSON:API calendar) and a REST client for it."""
    with RunningServer(db_path=tmp_path / "crm.db", user=TEST_USER,
                       api_key=TEST_API_KEY) as server:
        rest = Rest(server.url)
        yield server, rest
        rest.client.close()


def test_jsonapi_has_no_calendar_unless_flagged(oro):
    server, _ = oro
    for type_name in ("calendarevents", "calendars"):
        answer = httpx.get(f"{server.url}/api/{type_name}",
                           headers=wsse_headers(TEST_USER, TEST_API_KEY))
        assert answer.status_code == 404
        assert answer.json() == {"errors": [{"status": "404", "title": "entity type constraint",
                                             "detail": f"Unknown entity type: {type_name}."}]}


def test_default_calendar_and_event_shapes(oro):
    _, rest = oro
    assert rest("GET", "/calendars/default").json() == {"calendar": 1, "owner": 1,
                                                        "calendarName": "John Admin"}
    created = rest("POST", "/calendarevents", json=EVENT)
    assert created.status_code == 201
    answer = created.json()
    assert set(answer) == {"id", "uid", "invitationStatus", "editableInvitationStatus",
                           "organizerDisplayName", "organizerEmail", "organizerUserId"}
    event = rest("GET", f"/calendarevents/{answer['id']}").json()
    assert set(event) == {
        "id", "uid", "calendar", "parentEventId", "title", "description", "start", "end",
        "allDay", "attendees", "editable", "editableInvitationStatus", "removable",
        "backgroundColor", "invitationStatus", "recurringEventId", "originalStart",
        "isCancelled", "createdAt", "updatedAt", "isOrganizer", "organizerDisplayName",
        "organizerEmail", "organizerUserId"}
    assert event["start"] == "2026-12-14T22:00:00+00:00" and event["calendar"] == 1
    assert event["editable"] and event["isOrganizer"] and event["uid"] == answer["uid"]
    gone = rest("GET", "/calendarevents/999")
    assert gone.status_code == 404 and gone.content == b""


def test_listing_needs_paging_or_an_interval_and_counts(oro):
    _, rest = oro
    for n in range(5):
        rest("POST", "/calendarevents", json={**EVENT, "title": f"E{n}"})
    bare = rest("GET", "/calendarevents", params={"calendar": 1})
    assert bare.status_code == 400
    assert bare.json()["message"] == ('Time interval ("start" and "end") or paging ("page" and '
                                      '"limit") parameters should be specified.')
    assert rest("GET", "/calendarevents", params={"page": 1, "limit": 2}).status_code == 400
    seen = []
    for page in (1, 2, 3):
        answer = rest("GET", "/calendarevents", params={"calendar": 1, "page": page, "limit": 2},
                      headers={"X-Include": "totalCount"})
        assert answer.headers["X-Include-Total-Count"] == "5"
        seen += [e["id"] for e in answer.json()]
    assert sorted(seen) == [1, 2, 3, 4, 5]
    assert seen != sorted(seen), "Oro sends no order: neither does the reference server"
    interval = rest("GET", "/calendarevents", params={
        "calendar": 1, "start": "2026-12-14T00:00:00Z", "end": "2026-12-15T00:00:00Z"})
    assert len(interval.json()) == 5
    assert rest("GET", "/calendarevents", params={"calendar": 2, "page": 1,
                                                  "limit": 10}).json() == []


def test_updated_at_filter_takes_an_operator_in_the_query_string(oro):
    server, rest = oro
    server.admin.freeze_time("2026-11-01T10:00:00Z")
    rest("POST", "/calendarevents", json={**EVENT, "title": "old"})
    server.admin.freeze_time("2026-11-02T10:00:00Z")
    rest("POST", "/calendarevents", json={**EVENT, "title": "new"})
    server.admin.freeze_time(None)

    def titles(query: str) -> list[str]:
        answer = rest("GET", f"/calendarevents?calendar=1&page=1&limit=10&{query}")
        return sorted(e["title"] for e in answer.json())

    assert titles("updatedAt%3E=2026-11-02T10:00:00%2B00:00") == ["new"]
    assert titles("updatedAt>=2026-11-02T10:00:00Z") == ["new"]
    assert titles("updatedAt<2026-11-02T10:00:00Z") == ["old"]
    assert titles("createdAt>2026-10-01T00:00:00Z") == ["new", "old"]


@pytest.mark.parametrize("body, field, message", [
    ({"start": EVENT["start"], "end": EVENT["end"]}, "title", "This value should not be blank."),
    ({"title": "x", "end": EVENT["end"]}, "start", "This value should not be blank."),
    ({"title": "x", "start": EVENT["start"]}, "end", "This value should not be blank."),
    ({"title": "x", "start": "2026-12-15T00:00:00Z", "end": "2026-12-14T00:00:00Z"}, "start",
     "This date should be earlier than end date"),
    ({"title": "x", "start": "soon", "end": EVENT["end"]}, "start", "This value is not valid."),
])
def test_validation_as_oro_forms_answer(oro, body, field, message):
    _, rest = oro
    answer = rest("POST", "/calendarevents", json=body)
    assert answer.status_code == 400
    document = answer.json()
    assert document["code"] == 400 and document["message"] == "Validation Failed"
    assert document["errors"]["children"][field] == {"errors": [message]}
    assert rest("GET", "/calendarevents", params={"calendar": 1, "page": 1,
                                                  "limit": 5}).json() == []


def test_put_replaces_the_whole_event_and_there_is_no_patch(oro):
    _, rest = oro
    event_id = rest("POST", "/calendarevents", json={
        **EVENT, "description": "agenda", "backgroundColor": "#FF0000",
        "attendees": [{"displayName": "Mary", "email": "mary@example.com"}]}).json()["id"]
    assert rest("PATCH", f"/calendarevents/{event_id}", json={"title": "y"}).status_code == 405
    extra = rest("PUT", f"/calendarevents/{event_id}", json={**EVENT, "location": "Rome"})
    assert extra.status_code == 400
    assert extra.json()["errors"]["errors"] == ["This form should not contain extra fields."]
    # Oro's form clears what a PUT leaves out: a title alone is not an update.
    assert rest("PUT", f"/calendarevents/{event_id}",
                json={"title": "Only a title"}).status_code == 400
    answer = rest("PUT", f"/calendarevents/{event_id}", json={**EVENT, "title": "Renamed"})
    assert answer.status_code == 200 and "id" not in answer.json()
    event = rest("GET", f"/calendarevents/{event_id}").json()
    assert event["title"] == "Renamed"
    assert event["description"] is None and event["attendees"] == []
    assert event["backgroundColor"] is None
    assert rest("DELETE", f"/calendarevents/{event_id}").status_code == 204
    assert rest("DELETE", f"/calendarevents/{event_id}").status_code == 404


def test_recurring_events_and_invitations_keep_their_oro_fields(oro):
    server, rest = oro
    store = server.admin.rest_events
    master = store.add({**EVENT, "title": "Weekly", "recurrence": {
        "recurrenceType": "weekly", "interval": 1, "dayOfWeek": ["monday"],
        "startTime": "2026-12-14T22:00:00+00:00", "timeZone": "UTC"}})
    exception = store.add({**EVENT, "title": "Moved", "recurringEventId": int(master),
                           "originalStart": "2026-12-21T22:00:00+00:00"})
    invite = store.add({**EVENT, "title": "Their meeting"}, parentEventId=99,
                       isOrganizer=False, organizerEmail="mary.miller@example.com")
    assert (
        rest("GET", f"/calendarevents/{master}").json()["recurrence"]["recurrenceType"] == "weekly"
    )
    assert rest("GET", f"/calendarevents/{exception}").json()["recurringEventId"] == int(master)
    invitation = rest("GET", f"/calendarevents/{invite}").json()
    assert invitation["isOrganizer"] is False and invitation["editable"] is False
    assert invitation["parentEventId"] == 99
    assert rest("DELETE", f"/calendarevents/{master}").status_code == 204
    assert rest("GET", f"/calendarevents/{exception}").status_code == 404


def test_signing_in_is_the_same_as_the_json_api(oro):
    server, _ = oro
    answer = httpx.get(f"{server.url}/api/rest/latest/calendars/default",
                       headers=wsse_headers(TEST_USER, "wrong-key"))
    assert answer.status_code == 401


def test_attendees_who_are_users_get_the_event_in_their_calendar(oro):
    server, rest = oro
    store = server.admin.rest_events
    # Mary (user 2) invites the signed-in user: Oro puts a copy in his calendar.
    parent = store.add({**EVENT, "calendar": 2, "title": "Mary's review", "attendees": [
        {"displayName": "John Admin", "email": "admin@example.com"},
        {"displayName": "Guest", "email": "guest@example.org"}]}, "2")
    (copy,) = rest("GET", "/calendarevents", params={"calendar": 1, "page": 1,
                                                      "limit": 10}).json()
    assert (copy["title"], copy["parentEventId"], copy["isOrganizer"]) == (
        "Mary's review", int(parent), False)
    assert copy["organizerEmail"] == "mary.miller@example.com" and not copy["editable"]
    event = store.get(parent, "2")
    body = {k: event[k] for k in ("title", "start", "end", "allDay", "calendar", "attendees")}
    store.update(parent, {**body, "title": "Mary's review (moved)"}, "2")
    assert store.get(str(copy["id"]), "1")["title"] == "Mary's review (moved)"
    store.update(parent, {**body, "attendees": []}, "2")          # uninvited
    assert rest("GET", f"/calendarevents/{copy['id']}").status_code == 404


def test_invitations_and_exceptions_are_found_through_an_index(tmp_path):
    # A PUT looks for the event's invitations and a DELETE for its exceptions: without an
    # index on these expressions each read every event (~60 ms a PUT at 100,000 events,
    # where Oro's indexed parent/recurring_event columns answer at once; bench_sync.py).
    import sqlite3

    from tray_client.devserver.database import Database

    Database(tmp_path / "c.db", username="admin")
    conn = sqlite3.connect(tmp_path / "c.db")
    for sql, params in (
        (("SELECT id, calendar FROM calendarevents WHERE "
          "json_extract(attributes,'$.parentEventId') = ?"), (1,)),
        (("SELECT id FROM calendarevents WHERE json_extract(attributes,'$.recurringEventId') = ?"
          " OR json_extract(attributes,'$.parentEventId') = ?"), (1, 1)),
    ):
        plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN" not in plan and "USING INDEX calendarevents_" in plan, plan
    conn.close()


def test_a_listing_page_reads_its_order_from_an_index(tmp_path, monkeypatch):
    # Oro's listing has no order; the server's stand-in (a scramble of the ids) used to sort
    # every event of the calendar for each page (~150 ms a page at 20,000 events). Paged, with
    # the filters, and counted, the listing reads an index in that order; a changed-since
    # listing of more events than CHANGED_SORT too.
    from tray_client.devserver import rest_events
    from tray_client.devserver.database import Database
    from tray_client.devserver.rest_events import EventStore

    monkeypatch.setattr(rest_events, "CHANGED_SORT", 20)
    db = Database(tmp_path / "c.db", username="admin")
    store = EventStore(db)
    for i in range(30):
        store.add({"title": f"E{i}", "start": "2026-12-01T10:00:00Z",
                   "end": "2026-12-01T11:00:00Z", "calendar": 1})
    statements: list[str] = []
    conn = db.connection()
    conn.set_trace_callback(statements.append)
    seen = []
    for query in ("", "updatedAt%3E=2026-01-01T00:00:00Z",
                  "createdAt>2026-01-01T00:00:00Z&updatedAt<2030-01-01T00:00:00Z"):
        params = {"calendar": "1", "page": "1", "limit": "10"}
        events, total = store.listing(params, query, "1", want_total=True)
        assert len(events) == 10 and total == 30
        seen.append([event["id"] for event in events])
    conn.set_trace_callback(None)
    assert seen[0] == seen[1] == seen[2] and seen[0] != sorted(seen[0])
    selects = [s for s in statements if s.startswith("SELECT") and "calendarevents" in s]
    assert any("ORDER BY" in s for s in selects) and any("COUNT" in s for s in selects)
    for sql in selects:
        plan = " ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "TEMP B-TREE" not in plan and "SCAN" not in plan, (sql, plan)
        index = "calendarevents_listing" if "ORDER BY" in sql else "COVERING INDEX"
        assert index in plan, (sql, plan)
    db.close()


def test_a_changed_since_listing_reads_only_the_changed_events(tmp_path, monkeypatch):
    # The sync's incremental walk and its read-back of pushed events list the few events
    # changed since T: read through the calendarevents_changed index and sorted, instead of
    # scanning the calendar's whole listing index (~25 ms a listing at 100,000 events).
    # The answers are those of the listing index, page by page.
    from tray_client.devserver import rest_events
    from tray_client.devserver.database import Database
    from tray_client.devserver.rest_events import EventStore

    db = Database(tmp_path / "c.db", username="admin")
    store = EventStore(db)
    db.frozen_time = "2026-11-01T08:00:00Z"
    ids = [store.add({"title": f"E{i}", "start": "2026-12-01T10:00:00Z",
                      "end": "2026-12-01T11:00:00Z", "calendar": 1}) for i in range(40)]
    db.frozen_time = "2026-11-02T08:00:00Z"
    for event_id in ids[::3]:
        store.update(str(event_id), {"title": "changed", "start": "2026-12-01T10:00:00Z",
                                     "end": "2026-12-01T11:00:00Z", "calendar": 1}, "1")
    queries = ("updatedAt%3E=2026-11-02T00:00:00Z", "updatedAt>2026-11-02T00:00:00Z",
               "updatedAt%3E=2026-10-01T00:00:00Z", "updatedAt>=2026-11-03T00:00:00Z",
               "createdAt>2026-10-01T00:00:00Z&updatedAt%3E=2026-11-02T00:00:00Z")

    def pages(query: str) -> list[Any]:
        result = []
        for page in ("1", "2", "3"):
            params = {"calendar": "1", "page": page, "limit": "6"}
            result.append(store.listing(params, query, "1", want_total=True))
            result.append(store.listing(params, query, "1", want_total=False))
        return result

    statements: list[str] = []
    conn = db.connection()
    conn.set_trace_callback(statements.append)
    sorted_here = {query: pages(query) for query in queries}
    monkeypatch.setattr(rest_events, "CHANGED_SORT", 0)   # every listing the index way
    in_order = {query: pages(query) for query in queries}
    conn.set_trace_callback(None)
    assert sorted_here == in_order
    assert sorted_here[queries[0]][0][1] == 14 and len(sorted_here[queries[0]][0][0]) == 6
    assert sorted_here[queries[3]][0] == ([], 0)
    plans = {" ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
             for sql in statements if sql.startswith("SELECT") and "ORDER BY" in sql}
    assert any("calendarevents_changed" in plan for plan in plans), plans
    assert any("calendarevents_listing" in plan for plan in plans), plans
    assert not any("SCAN" in plan for plan in plans), plans
    db.close()
