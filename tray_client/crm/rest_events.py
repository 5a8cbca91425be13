"""Calendar events over Oro's older REST API, shaped as the resources the engine syncs.

Real Oro 5.x/6.x has no calendar events on its JSON:API (OroCalendarBundle's ``api.yml`` keeps
them commented out); they live at ``{URL}/api/rest/latest/calendarevents`` (plain JSON,
``OroCalendarBundle:Controller/Api/Rest/CalendarEventController.php``). This adapter speaks
that API through CrmClient's request path (same authentication, retries, TLS pinning) and hands
the engine ``Resource`` objects of type ``calendarevents``, so the engine keeps one algorithm
for every entity. What it bridges (docs/protocol.md, "Calendar events"):

- the calendar: ``GET calendars/default`` gives the signed-in user's own calendar id;
- listing: ``calendarevents?calendar=ID&page=P&limit=L[&updatedAt>=T]``, a plain JSON array
  in no stated order (Oro's query has no ORDER BY), so a walk is read whole, checked against
  ``X-Include-Total-Count`` (read again while pages shifted under it), and sorted by
  ``(updatedAt, id)`` here;
- no ``filter[id]``: records are fetched one by one (``GET calendarevents/{id}``, 404 = gone);
- writes: ``POST`` answers with the new id only and ``PUT`` replaces the whole event (Oro's form
  clears what a PUT leaves out; there is no PATCH), so an update sends back everything the
  form holds that this client does not map (uid, colour, attendees, reminders) — from the
  event as the caller just read it with ``get`` when it hands that over (the push does), else
  read first —, then reads the stored event again (neither answer carries its updatedAt);
- errors: ``{"code": 400, "message": "Validation Failed", "errors": {"children": {...}}}``
  become ValidationError with one FieldError per field.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self

import httpx

from ..errors import (
    CrmError,
    FieldError,
    IncompatibleServerError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from ..times import utc_text
from .errorhandling import response_error
from .jsonapi import Cursor, Ref, Resource, decode_json, id_key, parse_instant, position

if TYPE_CHECKING:
    from .client import CrmClient

log = logging.getLogger(__name__)

TYPE = "calendarevents"
PATH = "rest/latest/calendarevents"
CALENDAR_PATH = "rest/latest/calendars/default"
JSON = "application/json"
FULL = "rest_full"    # meta flag of a Resource holding every attribute of the event (``get``)
PAGE_SIZE = 1000      # Oro caps nothing; big pages keep an incremental walk to one query
READERS = 4           # GETs by id in flight at once (there is no filter by id)
MAX_WALKS = 3         # walks of a listing that shifted under us before giving up

# What the REST API's event form takes besides the mapped fields (CalendarEventApiType);
# a PUT without them would clear them (Symfony's submit with clearMissing).
_KEPT_ON_UPDATE = ("uid", "backgroundColor")
# Event attributes the engine and the mapping read; the rest of a listing is dropped to keep a
# large walk (read whole before sorting) small.
_LISTED = ("title", "description", "start", "end", "allDay", "createdAt", "updatedAt",
           "recurrence", "recurringEventId", "originalStart", "isCancelled", "isOrganizer",
           "parentEventId", "invitationStatus", "editable", "uid")


def _utc(value: Any) -> str | None:
    """An Oro instant (``2026-12-14T22:00:00+00:00``) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return utc_text(when)


def event_resource(event: Mapping[str, Any], *, full: bool = False) -> Resource:
    """A REST event object as a ``calendarevents`` Resource (``calendar`` a relationship).

    ``full`` keeps every attribute (an update sends the unmapped ones back)."""
    if not isinstance(event, Mapping) or event.get("id") is None:
        raise ServerError("The CRM answered with a calendar event without an id.")
    keys = event.keys() if full else _LISTED
    attributes = {k: event[k] for k in keys if k in event and k not in ("id", "calendar")}
    for stamp in ("createdAt", "updatedAt"):
        if stamp in attributes:
            attributes[stamp] = _utc(attributes[stamp])
    calendar = event.get("calendar")
    return Resource(type=TYPE, id=str(event["id"]), attributes=attributes,
                    relationships={"calendar": None if calendar is None
                                   else Ref("calendars", str(calendar))},
                    meta={FULL: True} if full else {})


def form_errors(body: Any) -> list[FieldError]:
    """Field errors of a Symfony form error body (FOS REST's "Validation Failed")."""
    result: list[FieldError] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, Mapping):
            return
        for message in node.get("errors") or []:
            if isinstance(message, str):
                result.append(FieldError(title="form constraint", detail=message,
                                         pointer=path or None))
        children = node.get("children")
        if isinstance(children, Mapping):
            for name, child in children.items():
                walk(child, f"{path}/{name}")

    if isinstance(body, Mapping):
        walk(body.get("errors"), "")
        if not result:
            for key in ("error", "reason", "message"):
                if isinstance(body.get(key), str) and body[key] != "Validation Failed":
                    result.append(FieldError(title="error", detail=body[key]))
                    break
    return result


class _EventIds:
    """The ids a walk saw (an ids listing needs nothing else)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def clear(self) -> None:
        self.ids = set()

    def add(self, events: list[dict[str, Any]]) -> None:
        self.ids.update(str(e.get("id")) for e in events)

    def __len__(self) -> int:
        return len(self.ids)


class _EventSpill:
    """The events a walk saw, kept on disk (a private temporary SQLite database, deleted on
    close) instead of in memory: held whole, a calendar of 100,000 events took ~250 MB of a
    sync. An event read again replaces the earlier copy; read back in ``(updatedAt, id)``
    order (``ordered``: every event must carry its updatedAt) or as stored."""

    def __init__(self, *, ordered: bool) -> None:
        self._ordered = ordered
        self._db = sqlite3.connect("", check_same_thread=False)
        # k0..k2: jsonapi.id_key of the id; t: updatedAt in UTC, fixed width (sorts as text)
        self._db.execute("CREATE TABLE events (id TEXT PRIMARY KEY, t TEXT, k0 INTEGER, "
                         "k1 INTEGER, k2 TEXT, calendar TEXT, attributes BLOB)")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def clear(self) -> None:
        self._db.execute("DELETE FROM events")

    def add(self, events: list[dict[str, Any]]) -> None:
        rows = []
        for event in events:
            res = event_resource(event)
            when = res.updated_at
            if when is None:
                if self._ordered:
                    raise IncompatibleServerError("Calendar events carry no updatedAt; they "
                                                  "cannot be synced incrementally.")
                t = None
            else:
                t = _sort_text(when)
            calendar = res.related_id("calendar")
            rows.append((res.id, t, *id_key(res.id), calendar,
                         pickle.dumps(res.attributes, pickle.HIGHEST_PROTOCOL)))
        self._db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def ordered(self, after: tuple[dt.datetime, tuple[int, int, str]] | None
                ) -> Iterator[Resource]:
        """The events after ``after`` (a ``jsonapi.position``), in that order."""
        if after is None:
            yield from self._read("SELECT * FROM events ORDER BY t, k0, k1, k2", ())
        else:
            yield from self._read("SELECT * FROM events WHERE (t, k0, k1, k2) > (?, ?, ?, ?) "
                                  "ORDER BY t, k0, k1, k2", (_sort_text(after[0]), *after[1]))

    def unordered(self) -> Iterator[Resource]:
        yield from self._read("SELECT * FROM events ORDER BY rowid", ())

    def _read(self, sql: str, params: tuple[Any, ...]) -> Iterator[Resource]:
        cursor = self._db.execute(sql, params)
        while rows := cursor.fetchmany(500):
            for row in rows:
                yield Resource(type=TYPE, id=row[0], attributes=pickle.loads(row[6]),
                               relationships={"calendar": None if row[5] is None
                                              else Ref("calendars", row[5])})


def _sort_text(when: str | dt.datetime) -> str:
    moment = parse_instant(when) if isinstance(when, str) else when
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class RestCalendarEvents:
    """The user's calendar events on Oro's REST API, for one CrmClient (which owns the
    connection). Public methods raise CrmError subclasses like CrmClient's."""

    def __init__(self, crm: CrmClient, *, page_size: int = PAGE_SIZE) -> None:
        self._crm = crm
        self.page_size = max(1, page_size)
        self._calendar: str | None = None

    # -- requests ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, params: Any = None, body: Any = None,
              headers: Mapping[str, str] | None = None,
              not_found: bool = False) -> httpx.Response:
        """One request on the client's common path; errors converted (Oro's REST bodies
        included). ``not_found``: a 404 is returned instead of raised."""
        sent = {"Accept": JSON, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = JSON
        response = self._crm._send(method, path, params=params, body=body, headers=sent)
        status = response.status_code
        if status < 400 or (status == 404 and not_found):
            return response
        where = f"{method} {response.request.url.path}"
        try:
            decoded = json.loads(response.content or b"null")
        except ValueError:
            decoded = None
        errors = form_errors(decoded)
        if status == 400 and errors:
            details = "; ".join((f"{e.field}: " if e.field else "") + e.detail for e in errors)
            raise ValidationError(f"The CRM rejected the calendar event ({where}). The server "
                                  f"said: {details}", errors=errors, status=status)
        error = response_error(response, where, self._crm.user)
        if errors and "The server said" not in error.message:
            # Oro's REST errors are {"code", "message"} (FOS REST), not JSON:API errors.
            said = "; ".join(e.detail for e in errors)
            error.message = f"{error.message} The server said: {said}"
        raise error

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return decode_json(response.content)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise ServerError(
                f"The answer to {response.request.method} {response.request.url.path} is not "
                f"JSON ({kind}). Is the CRM URL right? For OroCommerce it ends with /admin."
            ) from None

    # -- the calendar -----------------------------------------------------------------------

    def calendar_id(self) -> str | None:
        """The signed-in user's default calendar (``GET calendars/default``), or None when
        the answer names none. Raises IncompatibleServerError when the CRM has no such
        route (no calendar bundle, or the REST API is off), other CrmErrors as they come."""
        if self._calendar is None:
            try:
                body = self._json(self._call("GET", CALENDAR_PATH))
            except NotFoundError as exc:
                raise IncompatibleServerError(
                    f"The CRM's REST API does not answer {CALENDAR_PATH} ({exc.message}), so "
                    "calendar events cannot sync. Turn events off in the sync rules, or ask "
                    "the CRM administrator whether the calendar is installed.",
                    title="No calendar") from None
            calendar = body.get("calendar") if isinstance(body, Mapping) else None
            if calendar is None:
                return None
            self._calendar = str(calendar)
        return self._calendar

    def _calendar_param(self, filters: Mapping[str, Any]) -> str:
        calendar = filters.get("calendar") or self.calendar_id()
        if not calendar:
            raise IncompatibleServerError("The CRM user has no calendar to sync events with.",
                                          title="No calendar")
        return str(calendar)

    def check(self) -> str | None:
        """None when events can sync, else what stands in the way (for Check Connection)."""
        try:
            calendar = self.calendar_id()
            if calendar is None:
                return "the CRM has no calendar for this user (calendars/default)"
            self._call("GET", PATH, params={"calendar": calendar, "page": "1", "limit": "1"})
        except CrmError as exc:
            return exc.message
        return None

    # -- reading ----------------------------------------------------------------------------

    def _page(self, params: dict[str, str]) -> tuple[list[dict[str, Any]], int | None]:
        response = self._call("GET", PATH, params=params,
                              headers={"X-Include": "totalCount"})
        body = self._json(response)
        if not isinstance(body, list):
            raise ServerError(f"GET {PATH} answered without a list of events.")
        total = response.headers.get("X-Include-Total-Count")
        return ([e for e in body if isinstance(e, dict)],
                int(total) if total and total.isdigit() else None)

    def _walk(self, calendar: str, sink: _EventIds | _EventSpill,
              updated_since: str | None = None, page_size: int | None = None) -> None:
        """Every event of the calendar (changed at or after ``updated_since``) into ``sink``.

        Oro pages by offset in no order, so pages shift when events change or go during the
        walk: a walk that saw fewer events than the server counts is read again."""
        limit = max(1, page_size or self.page_size)
        for walk in range(MAX_WALKS):
            sink.clear()
            total = None
            page = 1
            while True:
                params = {"calendar": calendar, "page": str(page), "limit": str(limit)}
                if updated_since:
                    params["updatedAt>"] = updated_since  # sent as updatedAt%3E=… (Oro: >=)
                events, total = self._page(params)
                sink.add(events)
                if len(events) < limit:
                    break
                page += 1
            if total is None or len(sink) >= total:
                return
            log.info("calendar events changed while paging (%d seen, %d counted); reading "
                     "again (%d/%d)", len(sink), total, walk + 1, MAX_WALKS)
        log.warning("calendar events kept changing while paging; going on with %d", len(sink))

    def iter_changed(self, since: Cursor | None, *, filters: Mapping[str, Any] = {},
                     page_size: int | None = None) -> Iterator[Resource]:
        """Events changed after ``since`` in ``(updatedAt, id)`` order (``updatedAt >=``
        the cursor's second, re-read and compared by the engine, like CrmClient's)."""
        calendar = self._calendar_param(filters)
        with _EventSpill(ordered=True) as spill:
            self._walk(calendar, spill, since.updated_at if since else None, page_size)
            yield from spill.ordered(position(since.updated_at, since.id) if since else None)

    def iter_ids(self, *, filters: Mapping[str, Any] = {}) -> Iterator[str]:
        """Every event id of the calendar, ascending."""
        ids = _EventIds()
        self._walk(self._calendar_param(filters), ids)
        yield from sorted(ids.ids, key=id_key)

    def count(self, *, filters: Mapping[str, Any] = {}) -> int | None:
        """How many events the calendar holds (``X-Include-Total-Count`` of a one-item
        page), or None when the server does not say."""
        _first, total = self._page({"calendar": self._calendar_param(filters), "page": "1",
                                    "limit": "1"})
        return total

    def get(self, id: str) -> Resource:
        """One event (every attribute). Raises NotFoundError when it is gone."""
        response = self._call("GET", f"{PATH}/{id}", not_found=True)
        if response.status_code == 404:
            raise NotFoundError(f"The calendar event {id} is not in the CRM.", status=404)
        return event_resource(self._json(response), full=True)

    def iter_by_ids(self, ids: Iterable[str], *, filters: Mapping[str, Any] = {}
                    ) -> Iterator[Resource]:
        """The events with these ids that exist (and are in ``filters["calendar"]``), in
        the order given. Oro's REST API has no filter by id: one ``GET`` each, up to
        ``READERS`` of them in flight at once."""
        calendar = filters.get("calendar")
        ids = [str(i) for i in ids]
        if len(ids) < 2:
            found: Iterable[Resource | None] = map(self._get_or_none, ids)
            yield from self._in_calendar(found, calendar)
            return
        with ThreadPoolExecutor(min(READERS, len(ids)), thread_name_prefix="crm-get") as pool:
            yield from self._in_calendar(pool.map(self._get_or_none, ids), calendar)

    def _get_or_none(self, id: str) -> Resource | None:
        try:
            return self.get(id)
        except NotFoundError:
            return None

    @staticmethod
    def _in_calendar(found: Iterable[Resource | None], calendar: Any) -> Iterator[Resource]:
        for res in found:
            if res is None or (calendar and res.related_id("calendar") != str(calendar)):
                continue
            yield res

    def read_back(self, ids: Iterable[str], since: str, *, filters: Mapping[str, Any] = {}
                  ) -> dict[str, Resource]:
        """The events ``ids`` as stored, after writes made at or after ``since`` (a server
        time taken before them): one changed-since listing (``updatedAt>=since``, the
        events' ``PUT`` answers carry no updatedAt) instead of one ``GET`` each; an event
        the listing does not show (moved to another calendar, or a listing that shifted
        under its walk) is read by id. Events gone from the CRM are left out."""
        wanted = {str(i) for i in ids}
        found: dict[str, Resource] = {}
        if not wanted:
            return found
        with _EventSpill(ordered=False) as spill:
            self._walk(self._calendar_param(filters), spill, since)
            for res in spill.unordered():
                if res.id in wanted:
                    found[res.id] = res
        missing = [i for i in ids if str(i) not in found]
        for res in self.iter_by_ids(missing):
            found[res.id] = res
        return found

    def iter_collection(self, *, filters: Mapping[str, Any] = {},
                        page_size: int | None = None) -> Iterator[Resource]:
        """Events by id (``filters["id"]``), else every event of the calendar."""
        ids = filters.get("id")
        if ids is not None:
            if isinstance(ids, str):
                ids = ids.split(",")
            yield from self.iter_by_ids(ids, filters=filters)
            return
        with _EventSpill(ordered=False) as spill:
            self._walk(self._calendar_param(filters), spill, None, page_size)
            yield from spill.unordered()

    # -- writing ----------------------------------------------------------------------------

    def create(self, attributes: Mapping[str, Any],
               relationships: Mapping[str, Any] | None = None) -> Resource:
        """POST a new event into the user's calendar; returns it as stored."""
        body = self._body(attributes)
        body["calendar"] = int(self._calendar_of(relationships) or self._calendar_param({}))
        answer = self._json(self._call("POST", PATH, body=body))
        if not isinstance(answer, Mapping) or answer.get("id") is None:
            raise ServerError(f"POST {PATH} answered without the new event's id.")
        return self.get(str(answer["id"]))

    def update(self, id: str, attributes: Mapping[str, Any],
               relationships: Mapping[str, Any] | None = None, *,
               current: Resource | None = None, read_back: bool = True) -> Resource | None:
        """PUT the event with ``attributes`` changed and everything else as stored; returns
        it as stored (read again: the answer carries no updatedAt), or None with
        ``read_back=False`` (the caller reads several back at once: ``read_back``).

        ``current``: the event as the caller just read it; used instead of reading it again
        when it was read whole (``get``: a listing's copy lacks attendees and reminders)."""
        if current is None or current.id != str(id) or not current.meta.get(FULL):
            current = self.get(id)
        attrs = current.attributes
        body: dict[str, Any] = {
            "title": attrs.get("title"), "description": attrs.get("description"),
            "start": attrs.get("start"), "end": attrs.get("end"),
            "allDay": bool(attrs.get("allDay")),
        }
        body.update(self._body(attributes))
        for name in _KEPT_ON_UPDATE:
            if attrs.get(name) is not None:
                body[name] = attrs[name]
        body["attendees"] = [
            {k: a.get(k) for k in ("displayName", "email", "status", "type") if k in a}
            for a in attrs.get("attendees") or [] if isinstance(a, Mapping)]
        reminders = [{"method": r.get("method"), "interval": r.get("interval")}
                     for r in attrs.get("reminders") or [] if isinstance(r, Mapping)]
        if reminders:
            body["reminders"] = reminders
        calendar = self._calendar_of(relationships) or current.related_id("calendar")
        if calendar:
            body["calendar"] = int(calendar)
        self._call("PUT", f"{PATH}/{id}", body=body)
        return self.get(id) if read_back else None

    def delete(self, id: str) -> None:
        """DELETE an event. Raises NotFoundError when it is already gone."""
        self._call("DELETE", f"{PATH}/{id}")

    @staticmethod
    def _body(attributes: Mapping[str, Any]) -> dict[str, Any]:
        body = {k: v for k, v in attributes.items()
                if k in ("title", "description", "start", "end", "allDay", "uid")}
        for name in ("start", "end"):
            if isinstance(body.get(name), str):
                body[name] = _utc(body[name])  # Oro's form reads RFC 3339; UTC as it stores
        return body

    @staticmethod
    def _calendar_of(relationships: Mapping[str, Any] | None) -> str | None:
        rel = (relationships or {}).get("calendar")
        data = rel.get("data") if isinstance(rel, Mapping) else None
        return str(data["id"]) if isinstance(data, Mapping) and data.get("id") else None


__all__ = ["RestCalendarEvents", "event_resource", "form_errors"]
