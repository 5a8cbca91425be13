"""CrmClient: Oro's JSON:API over one keep-alive httpx connection pool, signed by the auth
layer of ``auth.py`` (WSSE with an API key, or OAuth 2.0 bearer tokens).

Every public method returns plain data (``Resource``, ``Removal``, ``EnumValue``, dicts) or
raises a ``CrmError`` subclass from ``tray_client.errors``; httpx never leaks out. Collections
are streamed page by page, so memory stays bounded whatever the size of the CRM.
"""

from __future__ import annotations

import json
import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from .. import __version__
from ..errors import (
    ConfigurationError,
    IncompatibleServerError,
    NotFoundError,
    ServerError,
    TlsError,
    TrayClientError,
)
from ..times import utc_text
from .auth import WsseAuth, http_date
from .errorhandling import (
    ApiDisabledError,
    NotJsonApiError,
    WrongUrlError,
    response_error,
    transport_error,
)
from .jsonapi import (
    MEDIA_TYPE,
    Cursor,
    Document,
    EnumValue,
    NotJsonApi,
    Removal,
    Resource,
    decode_document,
    document_body,
    id_key,
    position,
)
from .pinning import PinnedTransport, PinState
from .rest_events import TYPE as EVENTS_TYPE
from .rest_events import RestCalendarEvents
from .retry import RetryPolicy, may_retry_exception, may_retry_status
from .verdict import ConnectionVerdict, VerdictKind, verdict_for

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000          # the server caps page[size] (protocol.md)
CONFIG_PATH = "configuration/outlook"
PROFILE_PATH = "userprofile"  # the signed-in user; needs no "view users" permission
API_SETTING_HINT = "System › Configuration › General Setup › Application Settings"
NO_SECTION_MESSAGE = "OK — Oro, no Outlook section: sync rules from this computer."
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


@lru_cache(maxsize=4)
def _verifying_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=True)


def verifying_context() -> ssl.SSLContext:
    """httpx's own verifying TLS context (its CA bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``), built once per process: loading the bundle takes ~90 ms, which every
    sync paid again (each makes a new CrmClient; a push-only run costs ~20 ms without it)."""
    return _verifying_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


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
        self._last_version: str | None = None
        self.pin: PinState | None = None
        host = urlsplit(self.base_url).hostname or ""
        if (transport is None and ignore_self_signed and verify
                and self.base_url.startswith("https:")):
            self.pin = PinState(host, pinned_sha256, on_pin)
            transport = PinnedTransport(self.pin)
        self._http = httpx.Client(
            verify=verifying_context() if verify is True else verify,
            transport=transport,
            auth=self.auth,  # every request is signed
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
            self._last_version = response.headers.get("X-Server-Version") or "unknown"
            if attempt < limit and may_retry_status(method, response.status_code):
                delay = self.retry.delay_for(attempt, response)
                log.info("%s answered HTTP %d; retry %d/%d in %.1fs", where,
                         response.status_code, attempt + 1, limit, delay)
                self.retry.sleep(delay)
                attempt += 1
                continue
            log.debug("%s -> HTTP %d", where, response.status_code)
            return response

    def _request(self, method: str, path: str, *,
                 decode: Callable[[bytes], Document] = decode_document,
                 **kwargs: Any) -> Document | None:
        """``_send`` + error conversion + parsing (``decode``: ``decode_document`` or what
        gives the same, see ``iter_changed``); None for an empty (204) answer."""
        response = self._send(method, path, **kwargs)
        where = f"{method} {response.request.url.path}"
        if response.status_code >= 400:
            raise response_error(response, where, self.user)
        if response.status_code == 204 or not response.content:
            return None
        return self._parse(response, where, decode)

    def _parse(self, response: httpx.Response, where: str,
               decode: Callable[[bytes], Document] = decode_document) -> Document:
        try:
            return decode(response.content)
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
        moment = http_date(value)
        if moment is None:
            return
        self._last_date = utc_text(moment)

    def _get_one(self, path: str, params: Mapping[str, str] | None = None) -> Resource:
        doc = self._request("GET", path, params=params)
        if doc is None or not isinstance(doc.data, Resource):
            raise ServerError(f"GET {path} answered without a resource.")
        return doc.data

    def _page(self, type: str, params: Mapping[str, str],
              decode: Callable[[bytes], Document] = decode_document
              ) -> tuple[list[Resource], bool]:
        doc = self._request("GET", type, params=params, decode=decode)
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
                     stop_paging: Callable[[list[Resource]], bool] = lambda items: False,
                     decode: Callable[[bytes], Document] = decode_document
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
            items, more = self._page(type, params, decode)
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
                     include: Sequence[str] = (), page_size: int = 500,
                     decode: Callable[[bytes], Document] = decode_document
                     ) -> Iterator[Resource]:
        """Resources whose ``(updatedAt, id)`` is after ``since``, in that order.

        Keyset-style: asks ``updatedAt >= since.updated_at`` sorted by ``updatedAt,id`` and
        drops what is not after the cursor, then re-asks from the last record seen, so records
        changing during the walk are met again later instead of shifting pages. A group of
        records sharing one ``updatedAt`` larger than a page is paged with overlapping pages.
        ``Cursor(t, "")`` re-reads everything at ``t`` (the engine's boundary re-read).
        Raises IncompatibleServerError when records carry no ``updatedAt``. ``decode``
        turns each page's body into its document, raising what ``decode_document`` raises
        (a large pull decodes them in a worker process: ``sync.pages``; not for events).
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
                                                     past_bound, decode):
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
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            number = value if is_number else None
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
        params = {"filter[searchText]": text.strip(),
                  "page[size]": str(max(1, min(limit, MAX_PAGE_SIZE)))}
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

    def configuration(self, *, retries: int | None = None) -> dict[str, Any]:
        """The Outlook section's options (``GET configuration/outlook?include=options``),
        keys without Oro's prefix; ``{}`` when the CRM has no such section.

        Real Oro 5.x/6.x has none (it came with the old Enterprise Outlook bundle): that is
        the normal case, never an error, and the sync rules then come from this computer.
        Where the section exists its shapes are understood: ``*_keys`` given as
        ``[{"OroCRM": …, "Outlook": …}]`` become lists of CRM field names; dialog layouts
        are decoded when they are JSON (our extension) and dropped otherwise (the old
        bundle's XAML: the built-in forms are used).

        Raises WrongUrlError (no Oro back-office API at this URL), ApiDisabledError (Oro's
        web API is off), AuthError and the other CrmErrors.
        """
        response = self._send("GET", CONFIG_PATH, params={"include": "options"},
                              retries=retries)
        where = f"GET {response.request.url.path}"
        status = response.status_code
        if 300 <= status < 400:
            raise self._wrong_url(f"redirects to {response.headers.get('Location', 'elsewhere')}")
        if status == 404:
            if not self._is_jsonapi(response):
                raise self._wrong_url("has no Oro back-office API (HTTP 404)")
            self._check_api_answers(retries)
            return {}
        if status >= 400:
            raise response_error(response, where, self.user)
        try:
            doc = self._parse(response, where)
        except NotJsonApiError:
            raise self._wrong_url("answers with a web page") from None
        if not isinstance(doc.data, Resource):
            raise self._wrong_url("answers with something else")
        options = doc.data.related("options") or [
            r for (t, _), r in doc.included.items() if t == "configurationoptions"]
        return {option.id.rsplit(".", 1)[-1]: _option_value(option.id.rsplit(".", 1)[-1],
                                                            option.attributes.get("value"))
                for option in options}

    @staticmethod
    def _is_jsonapi(response: httpx.Response) -> bool:
        return MEDIA_TYPE in response.headers.get("Content-Type", "")

    def _check_api_answers(self, retries: int | None) -> None:
        """After a JSON:API 404 for the section: is the back-office API really here and on?

        ``/api/userprofile`` answers on every Oro back office with the API on. Oro with the
        web API off answers every ``/api`` path with a bare 404 "not found http exception"
        (no detail); an OroCommerce storefront API (URL without ``/admin``) knows no
        ``userprofile`` ("entity type constraint"). Raises ApiDisabledError, WrongUrlError,
        AuthError…; returns when the API answered.
        """
        response = self._send("GET", PROFILE_PATH, retries=retries)
        status = response.status_code
        if status < 300:
            return
        if status == 404 and self._is_jsonapi(response):
            titles = {e.get("title") for e in _error_objects(response)}
            if "entity type constraint" in titles:
                raise self._wrong_url("has an API without Oro's back-office resources")
            raise ApiDisabledError(
                f"{self.base_url} is an Oro whose web API is switched off. An administrator "
                f"enables it in Oro: {API_SETTING_HINT} › Web API › Enable API, then Save.")
        if status == 404 or 300 <= status < 400:
            raise self._wrong_url("has no Oro back-office API")
        raise response_error(response, f"GET {response.request.url.path}", self.user)

    def current_user(self) -> Resource:
        """The signed-in user (``GET /api/userprofile``: needs no permission to view users).
        Raises CrmError."""
        return self._get_one(PROFILE_PATH)

    def user_calendar_id(self, user_id: str | None = None) -> str | None:
        """The id of the signed-in user's own calendar (Oro's REST ``calendars/default``),
        or None when the server has none. ``user_id`` is not needed (kept for callers)."""
        return self.events.calendar_id()

    def server_time(self) -> str:
        """The server's clock (``YYYY-MM-DDTHH:MM:SSZ``) from the last answer's Date header
        (asks for one small page when no answer was seen yet)."""
        if self._last_date is None:
            self._send("GET", PROFILE_PATH)
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
               included: list[dict[str, Any]] | None = None, *,
               current: Resource | None = None) -> Resource:
        """PATCH the given attributes/relationships; returns the updated resource.

        ``current``: the record as just read (events: spares the read their PUT needs)."""
        res = self.update_unread(type, id, attributes, relationships, included,
                                 current=current)
        return res if res is not None else self.get(type, id)

    def update_unread(self, type: str, id: str, attributes: Mapping[str, Any],
                      relationships: Mapping[str, Any] | None = None,
                      included: list[dict[str, Any]] | None = None, *,
                      current: Resource | None = None) -> Resource | None:
        """``update`` without reading the record again when the answer is not it: None for
        an event (its PUT answer carries no updatedAt) or a 204; the caller reads several
        back at once (``read_back``)."""
        if type == EVENTS_TYPE:
            return self.events.update(id, attributes, relationships, current=current,
                                      read_back=False)
        body = document_body(type, dict(attributes), dict(relationships or {}), included, id=id)
        doc = self._request("PATCH", f"{type}/{id}", body=body)
        if doc is None or not isinstance(doc.data, Resource):
            return None  # JSON:API allows 204 for an update as sent
        return doc.data

    def read_back(self, type: str, ids: Sequence[str], since: str, *,
                  filters: Mapping[str, Any] = {}) -> dict[str, Resource]:
        """Records ``ids`` as stored after writes made at or after ``since`` (a server time
        taken before them), by id; those gone are left out. Events: one changed-since
        listing (``RestCalendarEvents.read_back``); other types: ``filter[id]``."""
        if type == EVENTS_TYPE:
            return self.events.read_back(ids, since, filters=filters)
        found: dict[str, Resource] = {}
        for start in range(0, len(ids), MAX_PAGE_SIZE):
            chunk = list(ids[start:start + MAX_PAGE_SIZE])
            for res in self.iter_collection(type, filters={**filters, "id": chunk}, sort="id",
                                            page_size=len(chunk)):
                found[res.id] = res
        return found

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

    def _wrong_url(self, what: str) -> WrongUrlError:
        if urlsplit(self.base_url).path.rstrip("/").endswith("/admin"):
            hint = ("For OroCRM, remove /admin from the end of the URL; only OroCommerce "
                    "needs it.")
        else:
            hint = (
                "For OroCommerce, add /admin at the end of the URL (e.g. "
                "https://shop.example.com/admin)."
            )
        return WrongUrlError(f"{self.base_url} {what}, not the Oro API. {hint}")

    def _check_connection(self) -> ConnectionVerdict:
        from ..updates import ensure_supported

        version: str | None = None
        try:
            config = self.configuration(retries=0)
            version = self._server_version()
            self.current_user()
            ensure_supported(__version__, config)
        except TrayClientError as exc:
            return verdict_for(exc, version if version is not None else self._server_version())
        if config:
            message = (f"Signed in to {self.base_url} as {self.user}{_signed_in_with(self.auth)}. "
                       "The CRM's Outlook section sets the sync rules.")
        else:
            message = (f"{NO_SECTION_MESSAGE} Signed in to {self.base_url} as {self.user}"
                       f"{_signed_in_with(self.auth)}.")
        # The version travels in its own field (front ends show it), not in the message.
        return ConnectionVerdict(True, VerdictKind.OK, "Connected", message, version)

    def _server_version(self) -> str | None:
        """``X-Server-Version`` of the last answer ("unknown": real Oro sends none); None
        when no answer came."""
        return self._last_version


def _signed_in_with(auth: httpx.Auth) -> str:
    client_id = getattr(auth, "client_id", None)
    return f" with OAuth application {client_id}" if client_id else " with an API key"


def _error_objects(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        errors = json.loads(response.content).get("errors")
    except (ValueError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _option_value(name: str, value: Any) -> Any:
    """One option of the Outlook section in the client's shapes (see ``configuration``)."""
    if name.endswith("_keys") and isinstance(value, list):
        # The old bundle's [{"OroCRM": "lastName", "Outlook": "LastName"}]: the CRM side.
        return [str(k.get("OroCRM")) if isinstance(k, dict) else str(k) for k in value
                if not isinstance(k, dict) or k.get("OroCRM")]
    if name.endswith("_dialog_layout") and isinstance(value, str):
        text = value.strip()
        if not text or text.startswith("<"):
            return None  # XAML (the Outlook add-in's forms): the built-in forms are used
        try:
            return json.loads(text)
        except ValueError:
            log.warning("Configuration %s is neither JSON nor XAML; ignored", name)
            return None
    return value
