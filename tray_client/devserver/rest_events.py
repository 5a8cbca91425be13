"""Calendar events on Oro's older REST API: ``/api/rest/latest/calendarevents`` and
``/api/rest/latest/calendars/default``, answered as OroCalendarBundle 5.1/6.0 answers them.

Sources (OroCalendarBundle@6.0.0; docs/protocol.md has the details and every departure):
``Controller/Api/Rest/CalendarEventController.php`` (query parameters, the 400 for a listing
without paging or interval, 201/200 bodies of POST/PUT, 404 with an empty body),
``Controller/Api/Rest/CalendarController.php`` (``getDefaultAction``),
``Form/Type/CalendarEventApiType.php`` + ``Form/Handler/CalendarEventApiHandler.php`` (the form
fields; ``submit()`` clears what a PUT leaves out; no PATCH route), ``Resources/config/
validation.yml`` (title, start, end not blank; start not after end), ``Provider/
UserCalendarEventNormalizer.php`` (the event's JSON), platform's ``RestGetController::
filterQueryParameters`` (``updatedAt>=…`` filters read from the raw query string) and
``TotalHeaderHandler`` (``X-Include: totalCount``).

Events share the ``calendarevents`` table with the JSON:API resource (served only with
``--jsonapi-calendar``); REST-only fields (uid, attendees, recurrence …) ride along in the
stored attributes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .database import EVENT_ORDER, Database
from .jsonapi import ApiError, decode_stored, format_timestamp

PREFIX = "/api/rest/{version:str}"
JSON = "application/json"

# CalendarEventApiType's fields, and what fixFormData drops before the form sees the data.
FORM_FIELDS = frozenset({
    "id", "uid", "calendar", "calendarAlias", "title", "description", "start", "end", "allDay",
    "backgroundColor", "reminders", "attendees", "notifyAttendees", "createdAt", "recurrence",
    "recurringEventId", "originalStart", "isCancelled", "updateExceptions", "contexts",
    "organizerDisplayName", "organizerEmail"})
IGNORED_FIELDS = frozenset({"updatedAt", "editable", "editableInvitationStatus", "removable"})
# Stored with the event besides the JSON:API attributes (title description start end allDay).
EXTRA_FIELDS = ("uid", "backgroundColor", "reminders", "attendees", "recurrence",
                "recurringEventId", "originalStart", "isCancelled", "organizerDisplayName",
                "organizerEmail", "parentEventId", "isOrganizer", "organizerUserId")
RECURRENCE_TYPES = ("daily", "weekly", "monthly", "monthnth", "yearly", "yearnth")
# platform RestGetController::filterQueryParameters
FILTER = re.compile(r"(?P<name>[\w\d_-]+)(?P<operator>(<|>|%3C|%3E)?=|<>|%3C%3E|(<|>|%3C|%3E))"
                    r"(?P<value>[^&]+)")
FILTERS = ("createdAt", "updatedAt", "uid")
SQL_OPERATORS = {"=": "=", ">": ">", "<": "<", ">=": ">=", "<=": "<=", "<>": "<>"}
DIGITS = re.compile(r"\d+")
# A changed-since listing with at most this many events sorts them (read through the
# calendarevents_changed index); more are read in order from the calendar's listing index.
CHANGED_SORT = 5000
# CalendarEventController's QueryParam requirement for dates (RFC 3339, parts optional).
DATE_PARAM = re.compile(r"\d{4}(-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
                        r"(Z|([-+]\d{2}(:?\d{2})?))?)?)?)?")
COLUMNS = "id, attributes, relationships, calendar, created_at, updated_at"


class RestError(Exception):
    """An answer of the REST API: FOS REST's ``{"code", "message"}``, a form's errors, or
    an empty body (``body=None``)."""

    def __init__(self, status: int, body: Any = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _message(status: int, text: str) -> RestError:
    return RestError(status, {"code": status, "message": text})


def rest_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Plain JSON, as the old REST API sends it (``null`` bodies are empty)."""
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(content, status_code=status, media_type=JSON, headers=headers)


# A stored instant in the form the server writes (``YYYY-MM-DDTHH:MM:SSZ``): Oro's form of it
# is the same text with ``+00:00`` (what ``oro_time``'s general way gives; tested).
_STORED_UTC = re.compile(
    r"[1-9]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ")


def oro_time(value: str | None) -> str | None:
    """A stored wire instant as Oro formats a DateTime (PHP ``format('c')``, UTC)."""
    if not value:
        return None
    if len(value) == 20 and _STORED_UTC.fullmatch(value) and value[8:10] <= "28":
        return value[:19] + "+00:00"
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _event_uid(record_id: Any) -> str:
    """The uid of an event stored without one: ``str(uuid.uuid5(NAMESPACE_URL,
    "calendarevent:ID"))``, computed without building the UUID object (tested equal)."""
    digest = bytearray(hashlib.sha1(_URL_NAMESPACE + f"calendarevent:{record_id}".encode())
                       .digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50   # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80   # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def _parse_time(value: Any) -> dt.datetime | None:
    """Symfony's single_text DateTimeType: RFC 3339 with an offset or ``Z`` (naive = UTC)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("blank")
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    if len(value.strip()) < 16:
        raise ValueError("not a date-time")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class EventStore:
    """The REST API's behaviour over the server's database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- calendars --------------------------------------------------------------------------

    def default_calendar(self, user_id: str) -> dict[str, Any]:
        """``GET calendars/default``: the user's own calendar."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT id, attributes FROM calendars WHERE owner=? ORDER BY id LIMIT 1",
                (str(user_id),),
            ).fetchone()
        if row is None:
            raise _message(404, "The user has no calendar.")
        name = json.loads(row[1]).get("name") or ""
        return {"calendar": row[0], "owner": int(user_id), "calendarName": name}

    def _calendar_owner(self, conn: sqlite3.Connection, calendar: Any) -> str | None:
        row = conn.execute("SELECT owner FROM calendars WHERE id=?", (int(calendar),)).fetchone()
        return None if row is None else str(row[0])

    def _user(self, conn: sqlite3.Connection, user_id: str) -> dict[str, Any]:
        row = conn.execute("SELECT attributes FROM users WHERE id=?", (int(user_id),)).fetchone()
        return decode_stored(row[0]) if row else {}

    # -- reading ----------------------------------------------------------------------------

    def serialize(self, conn: sqlite3.Connection, row: Any, user_id: str,
                  cache: dict[Any, Any] | None = None) -> dict[str, Any]:
        """One event as UserCalendarEventNormalizer writes it (example C of ORO-API.md).
        ``cache`` keeps calendar owners and users across the rows of one listing."""
        record_id, attributes, _rels, calendar, created, updated = row
        stored = decode_stored(attributes)
        cache = {} if cache is None else cache

        def cached(key: Any, load: Callable[[], Any]) -> Any:
            if key not in cache:
                cache[key] = load()
            return cache[key]

        own = cached(("own", user_id), lambda: self._own_calendar(conn, user_id))
        calendar_id = int(calendar) if calendar else None
        parent = stored.get("parentEventId")
        organizer = stored.get("isOrganizer")
        if organizer is None:
            organizer = parent is None
        owner = cached(("calendar", calendar_id), lambda: self._calendar_owner(
            conn, calendar_id)) if calendar_id else None
        person = cached(("user", owner), lambda: self._user(conn, owner)) \
            if owner and parent is None else {}
        event: dict[str, Any] = {
            "id": record_id,
            "uid": stored.get("uid")
            or _event_uid(record_id),
            "calendar": calendar_id,
            "parentEventId": parent,
            "title": stored.get("title"),
            "description": stored.get("description"),
            "start": oro_time(stored.get("start")),
            "end": oro_time(stored.get("end")),
            "allDay": bool(stored.get("allDay")),
            "attendees": list(stored.get("attendees") or []),
            "editable": calendar_id == own and parent is None and organizer is not False,
            "editableInvitationStatus": parent is not None,
            "removable": calendar_id == own,
            "backgroundColor": stored.get("backgroundColor"),
            "invitationStatus": "none" if parent is None else "accepted",
            "recurringEventId": stored.get("recurringEventId"),
            "originalStart": oro_time(stored.get("originalStart")),
            "isCancelled": bool(stored.get("isCancelled")),
            "createdAt": oro_time(created),
            "updatedAt": oro_time(updated),
            "isOrganizer": organizer,
            "organizerDisplayName": stored.get("organizerDisplayName")
            or " ".join(p for p in (person.get("firstName"), person.get("lastName")) if p)
            or None,
            "organizerEmail": stored.get("organizerEmail") or person.get("email"),
            "organizerUserId": stored.get("organizerUserId")
            or (int(owner) if owner and person else None),
        }
        if stored.get("recurrence"):
            event["recurrence"] = stored["recurrence"]
        if stored.get("reminders"):
            event["reminders"] = stored["reminders"]
        return event

    def _own_calendar(self, conn: sqlite3.Connection, user_id: str) -> int | None:
        row = conn.execute(
            "SELECT id FROM calendars WHERE owner=? ORDER BY id LIMIT 1", (str(user_id),)
        ).fetchone()
        return None if row is None else int(row[0])

    def get(self, record_id: str, user_id: str) -> dict[str, Any]:
        """``GET calendarevents/{id}``: 404 with an empty body when absent."""
        if not DIGITS.fullmatch(record_id):
            raise RestError(404)
        with self.db.read() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM calendarevents WHERE id=?", (int(record_id),)
            ).fetchone()
            if row is None:
                raise RestError(404)
            return self.serialize(conn, row, user_id)

    def listing(self, params: dict[str, str], raw_query: str, user_id: str,
                want_total: bool) -> tuple[list[dict[str, Any]], int | None]:
        """``GET calendarevents``: paging (with the date and uid filters) or an interval."""
        calendar = params.get("calendar", "")
        if not DIGITS.fullmatch(calendar):
            raise _message(
                400,
                f'Parameter "calendar" of value "{calendar}" violated a constraint '
                "\"Parameter 'calendar' value, does not match requirements '\\d+'\"",
            )
        for name in ("start", "end", "createdAt", "updatedAt"):
            value = params.get(name)
            if value and not DATE_PARAM.fullmatch(value):
                raise _message(
                    400,
                    f'Parameter "{name}" of value "{value}" violated a constraint '
                    f"\"Parameter '{name}' value, does not match requirements\"",
                )
        where, args = ["calendar = ?"], [calendar]
        changed_since = False   # a lower bound on updated_at: see CHANGED_SORT
        start, end = params.get("start"), params.get("end")
        page, limit = params.get("page", ""), params.get("limit", "")
        if start and end:
            # The calendar manager's view: events crossing the interval (recurrences are not
            # expanded here; see docs/protocol.md).
            lo = format_timestamp(_parse_time(start))  # type: ignore[arg-type]
            hi = format_timestamp(_parse_time(end))  # type: ignore[arg-type]
            s, e = "json_extract(attributes,'$.start')", "json_extract(attributes,'$.end')"
            where.append(
                f"(({s} < ? AND {e} >= ?) OR ({s} <= ? AND {e} > ?) OR ({s} >= ? AND {e} < ?))"
            )
            args += [lo, lo, hi, hi, lo, hi]
            offset, count = 0, -1
            paged = False
        elif DIGITS.fullmatch(page) and DIGITS.fullmatch(limit) and int(page) and int(limit):
            for name, operator, value in self._filters(raw_query):
                if name == "uid":
                    where.append(
                        "json_extract(attributes,'$.uid') " + SQL_OPERATORS[operator] + " ?"
                    )
                    args.append(value)
                    continue
                try:
                    moment = format_timestamp(_parse_time(value))  # type: ignore[arg-type]
                except ValueError:
                    raise _message(400, f"Invalid date \"{value}\" for \"{name}\".") from None
                where.append(
                    f"{'created_at' if name == 'createdAt' else 'updated_at'} "
                    f"{SQL_OPERATORS[operator]} ?"
                )
                args.append(moment)
                changed_since = changed_since or (name == "updatedAt"
                                                  and operator in (">", ">="))
            offset, count = (int(page) - 1) * int(limit), int(limit)
            paged = True
        else:
            raise _message(400, 'Time interval ("start" and "end") or paging ("page" and "limit") '
                                'parameters should be specified.')
        clause = " WHERE " + " AND ".join(where)
        with self.db.read() as conn:
            total = None
            source = "calendarevents"
            if paged:
                # How the rows are found, never which or in what order: the events changed
                # since T (counted from the calendarevents_changed index) sorted here while
                # they are few, else the calendar's listing index read in order.
                index = "calendarevents_listing"
                if changed_since:
                    total = conn.execute(
                        f"SELECT COUNT(*) FROM calendarevents{clause}", args
                    ).fetchone()[0]
                    if total <= CHANGED_SORT:
                        index = "calendarevents_changed"
                source += f" INDEXED BY {index}"
            # Oro's query has no ORDER BY: the order is the database's. A fixed scramble of
            # the ids stands in for it, so a client that relies on some order fails here
            # first.
            sql = (f"SELECT {COLUMNS} FROM {source}{clause} "
                   f"ORDER BY {EVENT_ORDER} LIMIT ? OFFSET ?")
            rows = conn.execute(sql, [*args, count, offset]).fetchall()
            cache: dict[Any, Any] = {}
            events = [self.serialize(conn, row, user_id, cache) for row in rows]
            if want_total and total is None:
                total = conn.execute(
                    f"SELECT COUNT(*) FROM calendarevents{clause}", args
                ).fetchone()[0]
        return events, (total if want_total else None)

    @staticmethod
    def _filters(raw_query: str) -> list[tuple[str, str, str]]:
        found: dict[str, tuple[str, str, str]] = {}
        for match in FILTER.finditer(raw_query):
            name = match["name"]
            if name in FILTERS:
                operator = unquote(match["operator"])
                found[name] = (name, operator, unquote(match["value"]))
        return list(found.values())

    # -- writing ----------------------------------------------------------------------------

    def create(self, body: Any, user_id: str) -> dict[str, Any]:
        """``POST calendarevents``: 201 with the id and the organizer's fields."""
        data = self._form(body, None, user_id)
        with self.db.write() as conn:
            calendar = data.pop("calendar")
            stored = {k: v for k, v in data.items() if v is not None}
            stored.setdefault("uid", str(uuid.uuid4()))
            now = self.db.now()
            cursor = conn.execute(
                "INSERT INTO calendarevents (attributes, relationships, owner, assigned_to, "
                "calendar, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                (
                    json.dumps(stored),
                    json.dumps({"calendar": {"type": "calendars", "id": str(calendar)}}),
                    None,
                    None,
                    str(calendar),
                    now,
                    now,
                ),
            )
            new_id = int(cursor.lastrowid or 0)
            self._invite(conn, new_id, stored, str(calendar), now)
            row = conn.execute(
                f"SELECT {COLUMNS} FROM calendarevents WHERE id=?", (new_id,)
            ).fetchone()
            return self._answer(self.serialize(conn, row, user_id), with_id=True)

    def add(self, body: dict[str, Any], user_id: str = "1", **server_side: Any) -> str:
        """Create an event as ``POST`` would (as ``user_id``), then set fields only the
        server sets (``parentEventId``, ``isOrganizer``, ``organizerEmail`` … of an
        invitation). For test setup; returns the id."""
        new_id = str(self.create(body, user_id)["id"])
        if server_side:
            with self.db.write() as conn:
                row = conn.execute(
                    "SELECT attributes FROM calendarevents WHERE id=?", (int(new_id),)
                ).fetchone()
                conn.execute("UPDATE calendarevents SET attributes=? WHERE id=?",
                             (json.dumps({**json.loads(row[0]), **server_side}), int(new_id)))
        return new_id

    def update(self, record_id: str, body: Any, user_id: str) -> dict[str, Any]:
        """``PUT calendarevents/{id}``: the whole event; what is left out is cleared."""
        if not DIGITS.fullmatch(record_id):
            raise RestError(404)
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT attributes, calendar FROM calendarevents WHERE id=?", (int(record_id),)
            ).fetchone()
            if row is None:
                raise RestError(404)
            old = json.loads(row[0])
            data = self._form(body, row[1], user_id)
            calendar = data.pop("calendar")
            # The form clears every field a PUT leaves out; what the form does not hold
            # (parent, organizer) stays.
            stored = {k: v for k, v in data.items() if v is not None}
            for name in ("parentEventId", "isOrganizer", "organizerUserId"):
                if old.get(name) is not None:
                    stored[name] = old[name]
            stored["uid"] = stored.get("uid") or old.get("uid") or str(uuid.uuid4())
            now = self.db.now()
            conn.execute(
                "UPDATE calendarevents SET attributes=?, relationships=?, calendar=?, "
                "updated_at=? WHERE id=?",
                (
                    json.dumps(stored),
                    json.dumps({"calendar": {"type": "calendars", "id": str(calendar)}}),
                    str(calendar),
                    now,
                    int(record_id),
                ),
            )
            if stored.get("parentEventId") is None:
                self._invite(conn, int(record_id), stored, str(calendar), now)
            row = conn.execute(
                f"SELECT {COLUMNS} FROM calendarevents WHERE id=?", (int(record_id),)
            ).fetchone()
            return self._answer(self.serialize(conn, row, user_id), with_id=False)

    def _invite(
        self,
        conn: sqlite3.Connection,
        parent_id: int,
        parent: dict[str, Any],
        calendar: str,
        now: str,
    ) -> None:
        """Oro's UpdateChildManager: an attendee who is a user of the CRM gets a copy of the
        organizer's event in their own calendar (``parentEventId``, ``isOrganizer`` false),
        kept up to date with it; one who is no longer an attendee loses it."""
        organizer = self._calendar_owner(conn, calendar)
        users = {str(json.loads(attrs).get("email") or "").lower(): str(uid)
                 for uid, attrs in conn.execute("SELECT id, attributes FROM users")}
        invited = {users[email] for a in parent.get("attendees") or []
                   if isinstance(a, dict) and (email := str(a.get("email") or "").lower()) in users}
        invited.discard(organizer or "")
        person = self._user(conn, organizer) if organizer else {}
        children = {
            str(row[1]): int(row[0])
            for row in conn.execute(
                "SELECT id, calendar FROM calendarevents WHERE "
                "json_extract(attributes,'$.parentEventId') = ?",
                (parent_id,),
            )
        }
        for user in invited:
            own = self._own_calendar(conn, user)
            if own is None:
                continue
            copy: dict[str, Any] = {
                k: parent[k]
                for k in ("title", "description", "start", "end", "allDay", "uid")
                if k in parent
            }
            copy.update(
                parentEventId=parent_id,
                isOrganizer=False,
                organizerUserId=int(organizer) if organizer else None,
                organizerEmail=person.get("email"),
                organizerDisplayName=" ".join(
                    p for p in (person.get("firstName"), person.get("lastName")) if p
                )
                or None,
            )
            copy = {k: v for k, v in copy.items() if v is not None}
            rels = json.dumps({"calendar": {"type": "calendars", "id": str(own)}})
            child = children.pop(str(own), None)
            if child is None:
                conn.execute(
                    "INSERT INTO calendarevents (attributes, relationships, owner, assigned_to, "
                    "calendar, created_at, updated_at) VALUES (?,?,?,?,?,?,?)",
                    (json.dumps(copy), rels, None, None, str(own), now, now),
                )
            else:
                conn.execute(
                    "UPDATE calendarevents SET attributes=?, updated_at=? WHERE id=?",
                    (json.dumps(copy), now, child),
                )
        for child in children.values():
            conn.execute("DELETE FROM calendarevents WHERE id=?", (child,))
            conn.execute(
                "INSERT INTO removals (entity_type, entity_id, removed_at) VALUES "
                "('calendarevents', ?, ?)",
                (str(child), now),
            )

    def delete(self, record_id: str) -> None:
        """``DELETE calendarevents/{id}``: 204; 404 with an empty body when absent."""
        if not DIGITS.fullmatch(record_id):
            raise RestError(404)
        with self.db.write() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM calendarevents WHERE id=?", (int(record_id),)
                ).fetchone()
                is None
            ):
                raise RestError(404)
            now = self.db.now()
            # Exceptions of a recurring event and invitations go with it (DeleteManager).
            doomed = [int(record_id)] + [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM calendarevents WHERE "
                    "json_extract(attributes,'$.recurringEventId') = ? OR "
                    "json_extract(attributes,'$.parentEventId') = ?",
                    (int(record_id), int(record_id)),
                )
            ]
            for key in doomed:
                conn.execute("DELETE FROM calendarevents WHERE id=?", (key,))
            conn.executemany(
                "INSERT INTO removals (entity_type, entity_id, removed_at) VALUES "
                "('calendarevents', ?, ?)",
                [(str(key), now) for key in doomed],
            )

    @staticmethod
    def _answer(event: dict[str, Any], *, with_id: bool) -> dict[str, Any]:
        # CalendarEventController::createResponseData (PUT unsets the id).
        answer = {"id": event["id"]} if with_id else {}
        for name in (
            "uid", "organizerEmail", "organizerDisplayName", "organizerUserId", "invitationStatus",
        ):
            answer[name] = "" if event.get(name) is None else str(event[name])
        answer["editableInvitationStatus"] = event["editableInvitationStatus"]
        return answer

    def _form(self, body: Any, current_calendar: str | None, user_id: str) -> dict[str, Any]:
        """Submit the event form: every field of the form (missing = null), validated.
        Returns the values to store plus ``calendar``; raises RestError(400) like Oro."""
        if not isinstance(body, dict):
            raise _message(400, "The request body must be a JSON object.")
        data = {k: v for k, v in body.items() if k not in IGNORED_FIELDS}
        children: dict[str, list[str]] = {name: [] for name in sorted(FORM_FIELDS)}
        top: list[str] = []
        extra = sorted(set(data) - FORM_FIELDS)
        if extra:
            top.append("This form should not contain extra fields.")
        title = data.get("title")
        if title is None or (isinstance(title, str) and not title.strip()):
            children["title"].append("This value should not be blank.")
        elif not isinstance(title, str):
            children["title"].append("This value is not valid.")
        elif len(title) > 255:
            children["title"].append(
                "This value is too long. It should have 255 characters or less."
            )
        times: dict[str, dt.datetime | None] = {}
        for name in ("start", "end"):
            value = data.get(name)
            if value is None or value == "":
                children[name].append("This value should not be blank.")
                times[name] = None
                continue
            try:
                times[name] = _parse_time(value)
            except (ValueError, TypeError):
                children[name].append("This value is not valid.")
                times[name] = None
        start, end = times.get("start"), times.get("end")
        if start and end and start > end:
            children["start"].append("This date should be earlier than end date")
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            children["description"].append("This value is not valid.")
        all_day = data.get("allDay")
        if (
            all_day is not None
            and not isinstance(all_day, bool)
            and all_day not in ("0", "1", "true", "false", 0, 1)
        ):
            children["allDay"].append("This value is not valid.")
        attendees = data.get("attendees")
        if attendees not in (None, "") and not (
            isinstance(attendees, list) and all(isinstance(a, dict) for a in attendees)
        ):
            children["attendees"].append("This value is not valid.")
        recurrence = data.get("recurrence")
        if recurrence not in (None, "", []) and (
            not isinstance(recurrence, dict)
            or recurrence.get("recurrenceType") not in RECURRENCE_TYPES
        ):
            children["recurrence"].append("This value is not valid.")
        calendar = data.get("calendar")
        with self.db.read() as conn:
            own = self._own_calendar(conn, user_id)
            if calendar in (None, ""):
                calendar = current_calendar or own
            elif (
                not DIGITS.fullmatch(str(calendar))
                or self._calendar_owner(conn, calendar) is None
            ):
                children["calendar"].append("This value is not valid.")
        if top or any(children.values()):
            errors: dict[str, Any] = {}
            if top:
                errors["errors"] = top
            errors["children"] = {
                name: ({"errors": msgs} if msgs else {}) for name, msgs in children.items()
            }
            raise RestError(400, {"code": 400, "message": "Validation Failed", "errors": errors})
        stored: dict[str, Any] = {
            "title": title.strip() if isinstance(title, str) else title,
            "description": description or None,
            "start": format_timestamp(times["start"]),  # type: ignore[arg-type]
            "end": format_timestamp(times["end"]),  # type: ignore[arg-type]
            "allDay": all_day in (True, 1, "1", "true"),
            "calendar": calendar,
        }
        for name in EXTRA_FIELDS:
            value = data.get(name)
            if name in ("originalStart",) and value:
                try:
                    value = format_timestamp(_parse_time(value))  # type: ignore[arg-type]
                except ValueError:
                    value = None
            if value not in (None, "", []):
                stored[name] = value
        return stored


def rest_routes(db: Database, authenticated: Callable[[Request], Awaitable[str]]) -> list[Route]:
    """The REST API's routes; ``authenticated`` is the app's sign-in check (raises ApiError)."""
    store = EventStore(db)

    async def guarded(request: Request, work: Callable[[str], Any], status: int = 200,
                      headers: Callable[[Any], dict[str, str] | None] = lambda _: None) -> Response:
        try:
            user_id = await authenticated(request)
            result = await run_in_threadpool(work, user_id)
        except ApiError as error:  # sign-in failures answer as the firewall does
            body = error.as_document() if error.status != 401 else None
            return rest_response(body, error.status, error.headers)
        except RestError as error:
            return rest_response(error.body, error.status)
        if status == 204:
            return Response(status_code=204)
        payload, extra = result if isinstance(result, tuple) else (result, None)
        return rest_response(payload, status, headers(extra))

    async def default_calendar(request: Request) -> Response:
        return await guarded(request, store.default_calendar)

    async def events(request: Request) -> Response:
        if request.method == "GET":
            want_total = "totalcount" in request.headers.get("x-include", "").replace(
                " ", ""
            ).lower().split(",")
            params = dict(request.query_params)
            raw = request.url.query

            def listing(user_id: str) -> Any:
                return store.listing(params, raw, user_id, want_total)

            return await guarded(
                request,
                listing,
                headers=lambda total: (
                    None if total is None else {"X-Include-Total-Count": str(total)}
                ),
            )
        body = await _body(request)
        return await guarded(request, lambda user_id: store.create(body, user_id), 201)

    async def event(request: Request) -> Response:
        record_id = request.path_params["id"]
        if request.method == "GET":
            return await guarded(request, lambda user_id: store.get(record_id, user_id))
        if request.method == "DELETE":
            return await guarded(request, lambda user_id: store.delete(record_id), 204)
        if request.method == "PUT":
            body = await _body(request)
            return await guarded(request, lambda user_id: store.update(record_id, body, user_id))
        return rest_response(
            {
                "code": 405,
                "message": f'No route found for "{request.method} {request.url.path}": '
                "Method Not Allowed (Allow: GET, PUT, DELETE)",
            },
            405,
            {"Allow": "GET, PUT, DELETE"},
        )

    return [
        Route(PREFIX + "/calendars/default", default_calendar, methods=["GET"]),
        Route(PREFIX + "/calendars/default.json", default_calendar, methods=["GET"]),
        Route(PREFIX + "/calendarevents", events, methods=["GET", "POST"]),
        Route(PREFIX + "/calendarevents.json", events, methods=["GET", "POST"]),
        Route(PREFIX + "/calendarevents/{id}", event, methods=["GET", "PUT", "DELETE", "PATCH"]),
    ]


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        return None


__all__ = ["EventStore", "RestError", "rest_routes"]
