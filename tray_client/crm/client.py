"""CrmClient: Oro's JSON:API over one keep-alive httpx connection pool, signed by the auth
layer of ``auth.py`` (WSSE with an API key, or OAuth 2.0 bearer tokens).

Every public method returns plain data (``Resource``, ``Removal``, ``EnumValue``, dicts) or
raises a ``CrmError`` subclass from ``tray_client.errors``; httpx never leaks out. Collections
are streamed page by page, so memory stays bounded whatever the size of the CRM.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from packaging.version import InvalidVersion, Version

from .. import __version__
from ..errors import (
    AuthError,
    ConfigurationError,
    CrmError,
    CrmTimeoutError,
    IncompatibleServerError,
    NotFoundError,
    OfflineError,
    ServerError,
    TlsError,
)
from .auth import WsseAuth
from .errorhandling import DnsError, NotJsonApiError, RefusedError, response_error, transport_error
from .jsonapi import (
    MEDIA_TYPE,
    Cursor,
    Document,
    EnumValue,
    NotJsonApi,
    Removal,
    Resource,
    document_body,
    id_key,
    parse_document,
    position,
)
from .pinning import PinnedTransport, PinState
from .rest_events import TYPE as EVENTS_TYPE
from .rest_events import RestCalendarEvents
from .retry import RetryPolicy, may_retry_exception, may_retry_status
from .verdict import ConnectionVerdict, VerdictKind

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000          # the server caps page[size] (protocol.md)
CONFIG_PATH = "configuration/outlook"
USER_AGENT = f"tray-client/{__version__}"

K = TypeVar("K")


def normalise_base_url(url: str) -> str:
    """The CRM URL as the user typed it → ``scheme://host[:port][/path]`` without a slash.

    No scheme means https (Oro's docs show bare host names); ``/admin`` (OroCommerce) is kept;
    a trailing ``/api`` is dropped because the client adds it. Raises ConfigurationError.
    """
    text = (url or "").strip()
    if not text:
        raise ConfigurationError("The CRM URL is empty.", title="Invalid CRM URL")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in text:
        raise ConfigurationError(
            f"{url!r} is not a web address; enter it like https://crm.example.com (add /admin "
            "for OroCommerce).", title="Invalid CRM URL")
    path = re.sub(r"/+$", "", parts.path)
    path = re.sub(r"/api$", "", path)
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))


def filter_params(filters: Mapping[str, Any]) -> dict[str, str]:
    """``{"owner": 1, "updatedAt[gt]": T, "filter[id]": [1, 2]}`` → JSON:API filter params."""
    params: dict[str, str] = {}
    for key, value in filters.items():
        if not key.startswith("filter["):
            name, bracket, rest = key.partition("[")
            key = f"filter[{name}]" + (bracket + rest if bracket else "")
        if isinstance(value, (list, tuple, set, frozenset)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        params[key] = str(value)
    return params


def _next_window(seen: int, page_size: int) -> tuple[int, int, bool]:
    """Page ``(size, number, overlapping)`` that starts a little before offset ``seen``.

    Pages are addressed by number, so a page can only start at a multiple of its size; a
    slightly smaller size makes the page straddle ``seen``. The overlap lets the caller notice
    that records before its position vanished (offsets shifted) instead of silently skipping.
    """
    # Among sizes from page_size/2 up, take the one that gets furthest past ``seen`` while
    # overlapping by at least a few records (up to 15 may then vanish between two requests
    # before the overlap check has to re-read).
    best: tuple[int, int] | None = None
    for size in range(page_size, max(1, page_size // 2) - 1, -1):
        overlap = seen % size
        if overlap >= min(16, max(1, size // 8)):
            progress = size - overlap
            if best is None or progress > best[0]:
                best = (progress, size)
    if best is not None:
        return best[1], seen // best[1] + 1, True
    # Tiny page sizes may have no size with a small overlap: take the page holding ``seen``
    # (it overlaps unless ``seen`` is a multiple of the size, and always gets past it).
    return page_size, seen // page_size + 1, seen % page_size != 0


def _cut_off(exc: Exception, kind: str) -> bool:
    """Whether a JSON answer that does not parse simply ends too early (a JSON body whose
    parser ran out of text), rather than being something else (an HTML page)."""
    if not isinstance(exc, json.JSONDecodeError) or "json" not in kind:
        return False
    depth, in_string, escaped = 0, False, False
    for char in exc.doc:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    # Ends inside a string or with brackets still open: the rest never came.
    return in_string or depth > 0


class CrmClient:
    """A client for one CRM user. One instance = one httpx.Client (keep-alive); close it.

    ``ignore_self_signed`` pins the first certificate seen (reported via ``on_pin``) and
    accepts only ``pinned_sha256`` afterwards; ``verify=False`` turns TLS checks off entirely
    (tests only). ``sleep``/``backoff_base`` let tests run the retry logic without waiting.
    """

    def __init__(self, url: str, user: str, api_key: str | None = None, *,
                 auth: httpx.Auth | None = None, verify: bool = True,
                 ignore_self_signed: bool = False, pinned_sha256: str | None = None,
                 on_pin: Callable[[str], None] | None = None, timeout: float = 30.0,
                 retries: int = 3, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep, backoff_base: float = 0.5,
                 max_retry_after: float = 60.0) -> None:
        self.base_url = normalise_base_url(url)
        self.api_url = self.base_url + "/api/"
        self.user = user
        if auth is None:
            if api_key is None:
                raise ValueError("CrmClient needs an API key or an auth layer")
            auth = WsseAuth(user, api_key)
        self.auth = auth
        self.retry = RetryPolicy(retries=retries, base=backoff_base, sleep=sleep,
                                 max_retry_after=max_retry_after)
        self._last_date: str | None = None
        self.pin: PinState | None = None
        host = urlsplit(self.base_url).hostname or ""
        if transport is None and ignore_self_signed and verify and self.base_url.startswith("https:"):
            self.pin = PinState(host, pinned_sha256, on_pin)
            transport = PinnedTransport(self.pin)
        self._http = httpx.Client(
            verify=verify, transport=transport, auth=self.auth,  # every request is signed
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"Accept": MEDIA_TYPE, "User-Agent": USER_AGENT},
            follow_redirects=False,  # a redirect to a login page means "wrong URL", not data
        )
        # Calendar events live on Oro's older REST API, not on its JSON:API: the type-taking
        # methods below hand ``calendarevents`` to this adapter (docs/protocol.md).
        self.events = RestCalendarEvents(self)

    def __repr__(self) -> str:  # never the key
        return f"CrmClient(url={self.base_url!r}, user={self.user!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- transport ------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
              body: Any = None, headers: Mapping[str, str] | None = None,
              retries: int | None = None) -> httpx.Response:
        """One request with retries; returns any HTTP answer, raises CrmError on transport
        failures. Retryable answers (429/5xx) are repeated for idempotent methods only."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        where = f"{method} {httpx.URL(url).path}"
        content = json.dumps(body).encode("utf-8") if body is not None else None
        limit = self.retry.retries if retries is None else retries
        attempt = 0
        while True:
            request_headers: dict[str, str] = {}  # the auth layer signs each attempt afresh
            if content is not None:
                request_headers["Content-Type"] = MEDIA_TYPE
            if headers:
                request_headers.update(headers)
            try:
                response = self._http.request(method, url, params=params, content=content,
                                              headers=request_headers)
            except TlsError:
                raise  # the pin check speaks for itself
            except httpx.TransportError as exc:
                if attempt < limit and may_retry_exception(method, exc):
                    delay = self.retry.delay_for(attempt, None)
                    log.info("%s failed (%s); retry %d/%d in %.1fs", where,
                             type(exc).__name__, attempt + 1, limit, delay)
                    self.retry.sleep(delay)
                    attempt += 1
                    continue
                raise transport_error(exc, where) from exc
            except httpx.HTTPError as exc:  # InvalidURL and friends: the settings are wrong
                raise ConfigurationError(f"Cannot send {where}: {exc}",
                                         title="Invalid CRM URL") from exc
            self._remember_date(response)
            if attempt < limit and may_retry_status(method, response.status_code):
                delay = self.retry.delay_for(attempt, response)
                log.info("%s answered HTTP %d; retry %d/%d in %.1fs", where,
                         response.status_code, attempt + 1, limit, delay)
                self.retry.sleep(delay)
                attempt += 1
                continue
            log.debug("%s -> HTTP %d", where, response.status_code)
            return response

    def _request(self, method: str, path: str, **kwargs: Any) -> Document | None:
        """``_send`` + error conversion + parsing; None for an empty (204) answer."""
        response = self._send(method, path, **kwargs)
        where = f"{method} {response.request.url.path}"
        if response.status_code >= 400:
            raise response_error(response, where, self.user)
        if response.status_code == 204 or not response.content:
            return None
        return self._parse(response, where)

    def _parse(self, response: httpx.Response, where: str) -> Document:
        try:
            return parse_document(json.loads(response.content))
        except (ValueError, NotJsonApi) as exc:
            kind = response.headers.get("Content-Type", "no content type").split(";")[0]
            if _cut_off(exc, kind):
                raise NotJsonApiError(
                    f"The answer to {where} was cut off after {len(response.content)} bytes "
                    "(the connection or a proxy ended it early); nothing was changed from it. "
                    "The next sync tries again.", title="Incomplete answer from the CRM",
                    status=response.status_code) from None
            raise NotJsonApiError(
                f"The answer to {where} is not an Oro API document ({kind}: {exc}). Is the "
                "CRM URL right? For OroCommerce it ends with /admin.",
                status=response.status_code) from None

    def _remember_date(self, response: httpx.Response) -> None:
        value = response.headers.get("Date")
        if not value:
            return
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        self._last_date = moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _get_one(self, path: str, params: Mapping[str, str] | None = None) -> Resource:
        doc = self._request("GET", path, params=params)
        if doc is None or not isinstance(doc.data, Resource):
            raise ServerError(f"GET {path} answered without a resource.")
        return doc.data

    def _page(self, type: str, params: Mapping[str, str]) -> tuple[list[Resource], bool]:
        doc = self._request("GET", type, params=params)
        if doc is None or not isinstance(doc.data, list):
            raise ServerError(f"GET {type} answered without a collection.")
        return doc.data, doc.next_link is not None

    # -- reading --------------------------------------------------------------------------

    def get(self, type: str, id: str, *, include: Sequence[str] = ()) -> Resource:
        """One resource (with its ``included`` ones). Raises NotFoundError, CrmError."""
        if type == EVENTS_TYPE:
            return self.events.get(id)
        params = {"include": ",".join(include)} if include else None
        return self._get_one(f"{type}/{id}", params)

    def iter_collection(self, type: str, *, filters: Mapping[str, Any] = {},
                        sort: str = "updatedAt,id", page_size: int = 500,
                        include: Sequence[str] = (), fields: Sequence[str] | None = None
                        ) -> Iterator[Resource]:
        """Every resource of ``type`` matching ``filters``, streamed page by page.

        Plain page-number paging: records changed while it runs may move between pages. For a
        consistent walk use ``iter_changed`` (by time) or ``iter_ids`` (ids only).
        """
        if type == EVENTS_TYPE:
            yield from self.events.iter_collection(filters=filters, page_size=page_size)
            return
        params = self._list_params(type, filters, sort, page_size, include, fields)
        number = 1
        while True:
            params["page[number]"] = str(number)
            items, more = self._page(type, params)
            yield from items
            if not more or not items:
                return
            number += 1

    def _list_params(self, type: str, filters: Mapping[str, Any], sort: str | None,
                     page_size: int, include: Sequence[str],
                     fields: Sequence[str] | None) -> dict[str, str]:
        params = filter_params(filters)
        if sort:
            params["sort"] = sort
        params["page[size]"] = str(max(1, min(page_size, MAX_PAGE_SIZE)))
        if include:
            params["include"] = ",".join(include)
        if fields is not None:
            params[f"fields[{type}]"] = ",".join(fields)
        return params

    def _walk_sorted(self, type: str, params: dict[str, str], key: Callable[[Resource], K],
                     after: K | None, page_size: int,
                     stop_paging: Callable[[list[Resource]], bool] = lambda items: False
                     ) -> Iterator[tuple[Resource, K]]:
        """Resources with ``key > after`` from a listing sorted by ``key``, in order.

        Pages overlap (see ``_next_window``); when a page that should overlap starts past
        our position, records before it vanished and offsets shifted: re-read from the
        first page (already-seen records are discarded by key) so nothing is skipped.
        ``stop_paging(items)`` lets the caller end the walk to re-query (iter_changed).
        """
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        size, number, overlapping = page_size, 1, False
        while True:
            params["page[size]"], params["page[number]"] = str(size), str(number)
            items, more = self._page(type, params)
            # An overlapping page must start with a record already seen; if it starts past
            # our position (or is empty: the listing shrank below it), offsets shifted.
            if overlapping and after is not None and (
                    not items or key(items[0]) > after):  # type: ignore[operator]
                log.info("%s changed while paging; re-reading from the first page", type)
                size, number, overlapping = page_size, 1, False
                continue
            for item in items:
                item_key = key(item)
                if after is None or item_key > after:  # type: ignore[operator]
                    after = item_key
                    yield item, item_key
            if not more or not items or stop_paging(items):
                return
            size, number, overlapping = _next_window((number - 1) * size + len(items), page_size)

    def iter_changed(self, type: str, since: Cursor | None, *, filters: Mapping[str, Any] = {},
                     include: Sequence[str] = (), page_size: int = 500) -> Iterator[Resource]:
        """Resources whose ``(updatedAt, id)`` is after ``since``, in that order.

        Keyset-style: asks ``updatedAt >= since.updated_at`` sorted by ``updatedAt,id`` and
        drops what is not after the cursor, then re-asks from the last record seen, so records
        changing during the walk are met again later instead of shifting pages. A group of
        records sharing one ``updatedAt`` larger than a page is paged with overlapping pages.
        ``Cursor(t, "")`` re-reads everything at ``t`` (the engine's boundary re-read).
        Raises IncompatibleServerError when records carry no ``updatedAt``.
        """
        if type == EVENTS_TYPE:
            yield from self.events.iter_changed(since, filters=filters)
            return
        def key(res: Resource) -> tuple[Any, ...]:
            if not res.updated_at:
                raise IncompatibleServerError(f"{type} records carry no updatedAt; the "
                                              "server cannot be synced incrementally.")
            return position(res.updated_at, res.id)

        after = position(since.updated_at, since.id) if since else None
        lower = since.updated_at if since else None
        while True:
            params = self._list_params(type, filters, "updatedAt,id", page_size, include, None)
            if lower is not None:
                params["filter[updatedAt][gte]"] = lower
            bound = position(lower, "")[0] if lower is not None else None
            moved_on = False

            def past_bound(items: list[Resource], bound: Any = bound) -> bool:
                # Once a page ends past the group at the lower bound, re-querying from the new
                # cursor (page 1) is safer than paging by offset through a changing set.
                nonlocal moved_on
                moved_on = bound is None or key(items[-1])[0] > bound
                return moved_on

            last: Resource | None = None
            for item, item_key in self._walk_sorted(type, params, key, after, page_size,
                                                     past_bound):
                after, last = item_key, item
                yield item
            if not moved_on or last is None:
                return
            lower = last.updated_at

    def iter_ids(self, type: str, *, filters: Mapping[str, Any] = {}) -> Iterator[str]:
        """Every id of ``type`` (``fields[type]=id``, sorted by id), none skipped even if
        records are deleted during the walk."""
        if type == EVENTS_TYPE:
            yield from self.events.iter_ids(filters=filters)
            return
        params = self._list_params(type, filters, "id", MAX_PAGE_SIZE, (), ["id"])
        for item, _ in self._walk_sorted(type, params, lambda r: id_key(r.id), None,
                                          MAX_PAGE_SIZE):
            yield item.id

    def count(self, type: str, *, filters: Mapping[str, Any] = {}) -> int | None:
        """How many records of ``type`` match ``filters`` (``X-Include: totalCount`` on a
        one-id page), or None when the server does not say."""
        if type == EVENTS_TYPE:
            return self.events.count(filters=filters)
        params = self._list_params(type, filters, None, 1, (), ["id"])
        response = self._send("GET", type, params=params, headers={"X-Include": "totalCount"})
        if response.status_code >= 400:
            raise response_error(response, f"GET {response.request.url.path}", self.user)
        total = response.headers.get("X-Include-Total-Count", "")
        return int(total) if total.isdigit() else None

    def iter_removals(self, type: str, since: str | None) -> Iterator[Removal]:
        """Records of ``type`` removed at or after ``since`` (oldest first).

        ``gte`` rather than ``gt``: timestamps have one-second resolution, so removals in the
        boundary second are returned again instead of lost; applying one twice is harmless.
        Raises IncompatibleServerError when the server has no removals feed (real Oro):
        reconcile with ``iter_ids`` then.
        """
        if type == EVENTS_TYPE:
            raise IncompatibleServerError("Oro's REST API has no removals feed for calendar "
                                          "events.", title="No removals feed")
        filters: dict[str, Any] = {"entityType": type}
        if since:
            filters["removedAt[gte]"] = since
        params = self._list_params("removals", filters, "removedAt,id", MAX_PAGE_SIZE, (), None)

        def key(res: Resource) -> tuple[Any, ...]:
            return position(str(res.attributes.get("removedAt") or since or
                                "1970-01-01T00:00:00Z"), res.id)

        try:
            for item, _ in self._walk_sorted("removals", params, key, None, MAX_PAGE_SIZE):
                yield Removal(type=str(item.attributes.get("entityType") or type),
                              id=str(item.attributes.get("entityId")),
                              removed_at=str(item.attributes.get("removedAt")))
        except NotFoundError:
            raise IncompatibleServerError(
                "This server has no removals feed; deletions are found by comparing ids.",
                title="No removals feed") from None

    def enum_values(self, type: str) -> list[EnumValue]:
        """The values of an enum resource in Oro's display order.

        Oro lists them in id order; enum options (``leadsources``, ``taskstatuses`` …) carry
        ``name``/``priority``/``default``, dictionaries (``taskpriorities``, ``casestatuses`` …)
        ``label`` and maybe ``order``. Sorted by ``priority`` or ``order`` (stable: ties and
        values without either keep the server's order), labelled by ``name`` or ``label``.
        """
        values = list(self.iter_collection(type, sort="", page_size=MAX_PAGE_SIZE))

        def rank(resource: Resource) -> tuple[bool, float]:
            value = resource.attributes.get("priority", resource.attributes.get("order"))
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            return number is None, float(number or 0)

        values.sort(key=rank)
        return [EnumValue(id=r.id,
                          label=str(r.attributes.get("name") or r.attributes.get("label") or r.id),
                          default=r.attributes.get("default") is True)
                for r in values]

    def search_records(self, type: str, text: str, *, limit: int = 20) -> list[Resource]:
        """Records of ``type`` whose search-index text matches ``text`` (Oro's
        ``filter[searchText]``, SearchBundle ``AddSearchTextFilter``; accounts, business
        customers, contacts …), at most ``limit``. Raises NotFoundError when the CRM has no
        such type (e.g. business customers switched off), CrmError otherwise."""
        params = {"filter[searchText]": text.strip(), "page[size]": str(max(1, min(limit, MAX_PAGE_SIZE)))}
        items, _ = self._page(type, params)
        return items[:limit]

    def contacts_with_email(self, addresses: Sequence[str], *, fields: Sequence[str] = ()
                            ) -> list[Resource]:
        """Contacts having one of these e-mail addresses (``filter[emails]``, any of a
        contact's e-mails; Oro compares them as stored, so each address is also asked in lower
        case). ``fields`` limits what is returned (e.g. ``["accounts"]``)."""
        wanted: list[str] = []
        for address in addresses:
            for variant in (address.strip(), address.strip().lower()):
                if variant and variant not in wanted:
                    wanted.append(variant)
        if not wanted:
            return []
        params = {"filter[emails]": ",".join(wanted), "page[size]": "20", "sort": "id"}
        if fields:
            params["fields[contacts]"] = ",".join(fields)
        items, _ = self._page("contacts", params)
        return items

    def configuration(self) -> dict[str, Any]:
        """The administrator's Outlook-integration options, keys without Oro's prefix.

        The dialog layouts arrive as JSON strings (or objects) and are returned decoded.
        Raises IncompatibleServerError when the server has no such configuration.
        """
        try:
            doc = self._request("GET", CONFIG_PATH)
        except NotFoundError:
            raise IncompatibleServerError(
                "The CRM has no Outlook integration settings (configuration/outlook). It is "
                "too old, or the Outlook integration is not installed.",
                title="CRM too old") from None
        if doc is None or not isinstance(doc.data, Resource):
            raise NotJsonApiError("The CRM's configuration answer has no data.")
        options = doc.data.related("options") or [
            r for (t, _), r in doc.included.items() if t == "configurationoptions"]
        result: dict[str, Any] = {}
        for option in options:
            name = option.id.rsplit(".", 1)[-1]
            value = option.attributes.get("value")
            if name.endswith("_dialog_layout") and isinstance(value, str) and value.strip():
                try:
                    value = json.loads(value)
                except ValueError:
                    log.warning("Configuration %s is not JSON; ignored", name)
                    value = None
            result[name] = value
        return result

    def current_user(self) -> Resource:
        """The signed-in user's ``users`` resource. Raises NotFoundError, CrmError."""
        items, _ = self._page("users", {"filter[username]": self.user, "page[size]": "1"})
        if not items:
            raise NotFoundError(f"The CRM has no user named {self.user!r}.")
        return items[0]

    def user_calendar_id(self, user_id: str | None = None) -> str | None:
        """The id of the signed-in user's own calendar (Oro's REST ``calendars/default``),
        or None when the server has none. ``user_id`` is not needed (kept for callers)."""
        return self.events.calendar_id()

    def server_time(self) -> str:
        """The server's clock (``YYYY-MM-DDTHH:MM:SSZ``) from the last answer's Date header
        (asks for one small page when no answer was seen yet)."""
        if self._last_date is None:
            self._send("GET", "users", params={"page[size]": "1", "fields[users]": "id"})
        if self._last_date is None:
            raise IncompatibleServerError("The CRM sends no Date header; cannot read its clock.")
        return self._last_date

    # -- writing --------------------------------------------------------------------------

    def create(self, type: str, attributes: Mapping[str, Any],
               relationships: Mapping[str, Any] | None = None,
               included: list[dict[str, Any]] | None = None) -> Resource:
        """POST a new resource; returns it as the server stored it. Raises ValidationError
        (with the fields) or another CrmError. Repeated only if it was never sent."""
        if type == EVENTS_TYPE:
            return self.events.create(attributes, relationships)
        body = document_body(type, dict(attributes), dict(relationships or {}), included)
        doc = self._request("POST", type, body=body)
        if doc is None or not isinstance(doc.data, Resource):
            raise ServerError(f"POST {type} answered without the created resource.")
        return doc.data

    def update(self, type: str, id: str, attributes: Mapping[str, Any],
               relationships: Mapping[str, Any] | None = None,
               included: list[dict[str, Any]] | None = None) -> Resource:
        """PATCH the given attributes/relationships; returns the updated resource."""
        if type == EVENTS_TYPE:
            return self.events.update(id, attributes, relationships)
        body = document_body(type, dict(attributes), dict(relationships or {}), included, id=id)
        doc = self._request("PATCH", f"{type}/{id}", body=body)
        if doc is None or not isinstance(doc.data, Resource):
            return self.get(type, id)  # JSON:API allows 204 for an update as sent
        return doc.data

    def delete(self, type: str, id: str) -> None:
        """DELETE a resource. Raises NotFoundError when it is already gone."""
        if type == EVENTS_TYPE:
            self.events.delete(id)
            return
        self._request("DELETE", f"{type}/{id}")

    # -- check connection -----------------------------------------------------------------

    def check_connection(self) -> ConnectionVerdict:
        """Try the server once (no retries) and say what is wrong, if anything. Never raises."""
        try:
            return self._with_events(self._check_connection())
        except Exception as exc:  # a verdict must come back whatever happened
            log.exception("check_connection failed unexpectedly")
            return ConnectionVerdict(False, VerdictKind.SERVER_ERROR, "Unexpected problem",
                                     f"{type(exc).__name__}: {exc}")

    def _with_events(self, verdict: ConnectionVerdict) -> ConnectionVerdict:
        """A connected verdict says whether events can sync too (``verdict.events``: they
        use Oro's REST API, which can fail apart from the JSON:API)."""
        if not verdict.ok:
            return verdict
        problem = self.events.check()
        events = "events: OK" if problem is None else \
            f"events: the REST API is not reachable: {problem}"
        return replace(verdict, events=events)

    def _wrong_url(self, what: str) -> ConnectionVerdict:
        if urlsplit(self.base_url).path.rstrip("/").endswith("/admin"):
            hint = ("For OroCRM, remove /admin from the end of the URL; only OroCommerce "
                    "needs it.")
        else:
            hint = "For OroCommerce, add /admin at the end of the URL (e.g. https://shop.example.com/admin)."
        return ConnectionVerdict(False, VerdictKind.WRONG_URL, "Wrong CRM URL",
                                 f"{self.base_url} {what}, not the Oro API. {hint}")

    def _has_users_api(self) -> bool:
        """True when ``/api/users`` answers: the back-office API lives at this URL (an
        OroCommerce storefront API, reached without ``/admin``, has no ``users``)."""
        try:
            response = self._send("GET", "users", params={"page[size]": "1",
                                                          "fields[users]": "id"}, retries=0)
        except CrmError:
            return False
        return response.status_code == 200 and MEDIA_TYPE in response.headers.get(
            "Content-Type", "")

    def _check_connection(self) -> ConnectionVerdict:
        try:
            response = self._send("GET", CONFIG_PATH, retries=0)
        except TlsError as exc:
            return ConnectionVerdict(False, VerdictKind.TLS, exc.title, exc.message)
        except CrmTimeoutError as exc:
            return ConnectionVerdict(False, VerdictKind.TIMEOUT, exc.title, exc.message)
        except DnsError as exc:
            return ConnectionVerdict(False, VerdictKind.DNS, exc.title, exc.message)
        except (RefusedError, OfflineError) as exc:
            return ConnectionVerdict(False, VerdictKind.REFUSED, exc.title, exc.message)
        except ConfigurationError as exc:
            return ConnectionVerdict(False, VerdictKind.WRONG_URL, exc.title, exc.message)
        except AuthError as exc:   # the OAuth token endpoint refused, or is not there
            return _auth_verdict(exc)
        except ServerError as exc:
            return ConnectionVerdict(False, VerdictKind.SERVER_ERROR, exc.title, exc.message)
        version = response.headers.get("X-Server-Version") or "unknown"
        status = response.status_code
        is_jsonapi = MEDIA_TYPE in response.headers.get("Content-Type", "")
        where = f"GET {response.request.url.path}"
        if 300 <= status < 400:
            return self._wrong_url(f"redirects to {response.headers.get('Location', 'elsewhere')}")
        if status in (401, 403):
            err = response_error(response, where, self.user)
            if status == 403:
                return ConnectionVerdict(False, VerdictKind.AUTH, "Not allowed",
                                         f"User {self.user!r} signed in but may not read the "
                                         "Outlook integration settings; ask the CRM "
                                         "administrator for the Outlook add-in permission.",
                                         version)
            return _auth_verdict(err, version)
        if status == 404:
            if is_jsonapi and self._has_users_api():
                return ConnectionVerdict(
                    False, VerdictKind.TOO_OLD, "CRM too old",
                    "The CRM's API answered but has no Outlook integration settings: the CRM "
                    "is too old or the Outlook integration is not installed.", version)
            return self._wrong_url("has no Oro back-office API (HTTP 404)")
        if status >= 400:
            err = response_error(response, where, self.user)
            return ConnectionVerdict(False, VerdictKind.SERVER_ERROR, err.title, err.message,
                                     version)
        try:
            doc = self._parse(response, where)
        except NotJsonApiError:
            return self._wrong_url("answers with a web page")
        if not isinstance(doc.data, Resource):
            return self._wrong_url("answers with something else")
        config = {r.id.rsplit(".", 1)[-1]: r.attributes.get("value")
                  for (t, _), r in doc.included.items() if t == "configurationoptions"}
        minimum = config.get("addin_min_supported_version")
        if "addin_min_supported_version" not in config:
            return ConnectionVerdict(False, VerdictKind.TOO_OLD, "CRM too old",
                                     "The CRM's Outlook integration settings lack the "
                                     "supported-version information this client needs; "
                                     "update the CRM.", version)
        if minimum and _older(__version__, str(minimum)):
            return ConnectionVerdict(False, VerdictKind.TOO_OLD, "This client is too old",
                                     f"The CRM needs client version {minimum} or later; this "
                                     f"is {__version__}. Install the latest version"
                                     + (f" from {config['addin_latest_version_url']}."
                                        if config.get("addin_latest_version_url") else "."),
                                     version)
        # The version travels in its own field (front ends show it), not in the message.
        return ConnectionVerdict(True, VerdictKind.OK, "Connected",
                                 f"Signed in to {self.base_url} as {self.user}"
                                 f"{_signed_in_with(self.auth)}.", version)


def _signed_in_with(auth: httpx.Auth) -> str:
    client_id = getattr(auth, "client_id", None)
    return f" with OAuth application {client_id}" if client_id else " with an API key"


def _auth_verdict(exc: CrmError, version: str | None = None) -> ConnectionVerdict:
    """The verdict for a refused sign-in; names the kind the server wants when it said."""
    return ConnectionVerdict(False, VerdictKind.AUTH, exc.title, exc.message, version,
                             auth_wanted=getattr(exc, "wanted", None))


def _older(version: str, minimum: str) -> bool:
    """True when ``version`` is below ``minimum`` (PEP 440; unparsable minimums are ignored)."""
    try:
        return Version(version) < Version(minimum)
    except InvalidVersion:
        log.warning("Ignoring unparsable addin_min_supported_version %r", minimum)
        return False
