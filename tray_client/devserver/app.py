"""The ASGI application: routes, JSON:API documents, auth, headers and fault injection.

Handlers read the body on the event loop and do the database work in the thread pool, so
slow queries never block other connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import places
from .auth import Unauthorized, WsseAuthenticator
from .authorize import authorize_endpoint
from .config import configuration_document
from .database import Database
from .faults import FaultRegistry
from .jsonapi import MEDIA_TYPE, ApiError, bad_request, encode_document, parse_instant
from .oauth import DEFAULT_LIFETIME, Application, OAuthServer, parse_token_request
from .places import DICTIONARIES
from .query import parse_collection_params
from .records import Records, not_found
from .rest_events import rest_routes
from .schema import ENUMS, FLOAT_TYPES, REMOVALS, RESOURCE_TYPES, SERVER_VERSION

log = logging.getLogger(__name__)
MAX_BODY = 10 * 1024 * 1024
_TOP_LEVEL = {"data", "included", "meta", "jsonapi", "links"}
_HTML_NOT_FOUND = (
    "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Page not "
    "found</h1></body></html>"
)
AUTH_MODES = ("wsse", "oauth2", "both")
DEFAULT_CLIENT_ID = "tray-client-demo"
DEFAULT_CLIENT_SECRET = "tray-client-demo-secret"  # the reference server's documented demo secret
CALENDAR_TYPES = ("calendarevents", "calendars")
DEFAULT_BROWSER_CLIENT_ID = "tray-client-desktop"   # public, authorization code + PKCE
DEFAULT_REDIRECT_URI = "http://127.0.0.1/callback"  # loopback: any port matches
DEFAULT_PASSWORD = "admin"                          # the demo user's back-office password


@dataclass
class ServerState:
    """Everything the app needs; shared with the in-process admin handle.

    ``auth_mode``: ``both`` (Oro 5.1/6.0 with an OAuth application: WSSE and bearer tokens),
    ``wsse`` (no OAuth application, no token endpoint) or ``oauth2`` (Oro 6.1+: no WSSE).
    """

    db: Database
    username: str
    api_key: str = field(repr=False)  # never printed
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    # Extensions beyond real Oro, off by default (docs/protocol.md "what we do"):
    removals_feed: bool = False   # GET /api/removals
    # Oro's ``oro_api.web_api`` feature toggle (off in a fresh Oro; on here for convenience).
    web_api: bool = True
    auth_mode: str = "both"
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    token_lifetime: int = DEFAULT_LIFETIME
    # Real Oro has no calendar on its JSON:API (docs/protocol.md); only with this flag.
    jsonapi_calendar: bool = False
    browser_client_id: str = DEFAULT_BROWSER_CLIENT_ID
    password: str = field(default=DEFAULT_PASSWORD, repr=False)

    def __post_init__(self) -> None:
        if self.auth_mode not in AUTH_MODES:
            raise ValueError(f"auth mode must be one of {', '.join(AUTH_MODES)}")
        self.records = Records(self.db)
        self.auth = WsseAuthenticator(
            lambda: self.username, self.api_key, frozen_clock=self.frozen_clock
        )
        self.oauth: OAuthServer | None = None
        if self.auth_mode in ("oauth2", "both"):
            browser_app = Application(self.browser_client_id, None, ("authorization_code",),
                                      (DEFAULT_REDIRECT_URI,))
            self.oauth = OAuthServer(self.client_id, self.client_secret, lambda: self.username,
                                     lifetime=self.token_lifetime, browser_app=browser_app,
                                     api_enabled=lambda: bool(getattr(self, "web_api", True)))

    def frozen_clock(self) -> float | None:
        """The frozen time (tests; it shows in ``Date`` too), or None."""
        frozen = self.db.frozen_time
        return parse_instant(frozen).timestamp() if frozen else None

    def authenticate(self, headers: Any) -> str:
        """The username a request acts for, as Oro's API firewall decides; Unauthorized if none.

        A bearer token goes to the OAuth authenticator; otherwise WSSE where it exists (its
        entry point answers ``WWW-Authenticate: WSSE …``); an OAuth-only server (Oro 6.1) has
        no WSSE firewall: ``ApiEntryPoint`` answers ``WWW-Authenticate: Basic``.
        """
        authorization = headers.get("authorization")
        if self.oauth is not None and self.oauth.wants(authorization):
            return self.oauth.authenticate(authorization)
        if self.auth_mode != "oauth2":
            return self.auth.authenticate(headers)
        raise Unauthorized("Full authentication is required.", challenge="Basic")


def json_response(
    document: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    floats: bool = True,
) -> Response:
    """A JSON:API response; ``floats=False`` when the document cannot hold a float (see
    ``encode_document``: then msgspec writes it)."""
    body = encode_document(document, floats=floats)
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def may_hold_floats(type_name: str) -> bool:
    """Whether a type's documents can carry a float (a percent attribute; anything that is
    not a resource type, to be safe)."""
    return type_name not in RESOURCE_TYPES or type_name in FLOAT_TYPES


def error_response(error: ApiError) -> Response:
    """The JSON:API error document for an ApiError; a refused authentication is Oro's empty
    401 with the entry point's ``WWW-Authenticate``."""
    if isinstance(error, Unauthorized):
        log.info("authentication refused: %s", error.reason)
        return Response(b"", status_code=401, headers=error.headers)
    return json_response(error.as_document(), error.status, error.headers, floats=False)


def create_app(state: ServerState) -> ASGIApp:
    """Build the ASGI app for this state (wrapped with headers and fault injection)."""

    async def authenticated(request: Request) -> str:
        username = state.authenticate(request.headers)
        # A known user's id without a trip to the thread pool (~0.1 ms of every request).
        known = state.db.known_user_id(username)
        return known if known is not None else await run_in_threadpool(_user_id, state, username)

    async def oauth2_token(request: Request) -> Response:
        assert state.oauth is not None
        if request.method == "OPTIONS":
            return Response(status_code=200, headers={"Allow": "OPTIONS, POST"})
        params = parse_token_request(request.headers.get("content-type", ""), await request.body())
        answer = await run_in_threadpool(
            state.oauth.token, params, request.headers.get("authorization")
        )
        return Response(answer.content(), status_code=answer.status, headers=answer.headers)

    async def configuration(request: Request) -> Response:
        try:
            await authenticated(request)
            include_options = _configuration_params(request)
            stored = await run_in_threadpool(state.db.settings)
            if not stored:
                # Real Oro 5.x/6.x: no such section (LoadConfigurationSection sets no result).
                raise ApiError(
                    404,
                    "not found http exception",
                    "An entity with the requested identifier does not exist.",
                )
            return json_response(configuration_document(stored, include_options=include_options))
        except ApiError as error:
            return error_response(error)

    async def userprofile(request: Request) -> Response:
        try:
            user_id = await authenticated(request)
            _no_params(request, allowed=("fields[userprofile]",))
            user, _ = await run_in_threadpool(state.records.get, "users", user_id)
            profile = {
                "type": "userprofile",
                "id": user_id,
                "links": {
                    "self": f"{request.base_url}api/userprofile",
                    "related": f"{request.base_url}api/users/{user_id}",
                },
                "attributes": user.get("attributes", {}),
                "relationships": {"owner": {"data": {"type": "businessunits", "id": "1"}}},
            }
            return json_response({"data": profile})
        except ApiError as error:
            return error_response(error)

    async def collection(request: Request) -> Response:
        type_name = request.path_params["type"]
        try:
            user_id = await authenticated(request)
            _known_type(state, type_name)
            if request.method == "GET":
                return await run_in_threadpool(_list, state, request, type_name)
            document = await _read_document(request)
            data = _primary_data(document, type_name, None)
            resource, included = await run_in_threadpool(
                state.records.create,
                type_name,
                data.get("attributes"),
                data.get("relationships"),
                document.get("included"),
                user_id=user_id,
            )
            return json_response(
                _single(resource, included),
                201,
                {"Location": f"{request.url.path}/{resource['id']}"},
                floats=may_hold_floats(type_name),
            )
        except ApiError as error:
            return error_response(error)

    async def item(request: Request) -> Response:
        type_name, record_id = request.path_params["type"], request.path_params["id"]
        try:
            await authenticated(request)
            _known_type(state, type_name)
            if request.method == "GET":
                _check_item_params(request, type_name)
                resource, included = await run_in_threadpool(
                    state.records.get, type_name, record_id
                )
                if type_name == "contacts" and "include" not in request.query_params:
                    included = []
                return json_response(
                    _single(resource, included), floats=may_hold_floats(type_name)
                )
            if request.method == "DELETE":
                await run_in_threadpool(state.records.delete, type_name, record_id)
                return Response(status_code=204)
            document = await _read_document(request)
            data = _primary_data(document, type_name, record_id)
            resource, included = await run_in_threadpool(
                state.records.update,
                type_name,
                record_id,
                data.get("attributes"),
                data.get("relationships"),
                document.get("included"),
            )
            return json_response(_single(resource, included), floats=may_hold_floats(type_name))
        except ApiError as error:
            return error_response(error)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not request.url.path.startswith("/api/"):
            # Outside the API firewall Oro answers with its back office's HTML error page.
            return HTMLResponse(_HTML_NOT_FOUND, status_code=404)
        if exc.status_code == 405:
            return error_response(
                ApiError(405, "method not allowed", f"{request.method} is not allowed here.")
            )
        return error_response(
            ApiError(
                exc.status_code, "not found http exception", f"No route for {request.url.path}."
            )
        )

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            ApiError(500, "internal server error", "The server failed to handle the request.")
        )

    token_routes = (
        [
            Route("/oauth2-token", oauth2_token, methods=["POST", "OPTIONS"]),
            Route(
                "/oauth2-token/authorize",
                authorize_endpoint(state.oauth, lambda: state.username, lambda: state.password),
                methods=["GET", "POST"],
            ),
        ]
        if state.oauth
        else []
    )
    app = Starlette(
        routes=[
            *token_routes,
            Route("/api/configuration/outlook", configuration, methods=["GET"]),
            Route("/api/userprofile", userprofile, methods=["GET"]),
            *rest_routes(state.db, authenticated),
            Route("/api/{type}", collection, methods=["GET", "POST"]),
            Route("/api/{type}/{id}", item, methods=["GET", "PATCH", "DELETE"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    return FaultsAndHeaders(
        WebApiSwitch(app, lambda: state.web_api), state.faults, lambda: state.db.frozen_time
    )


class WebApiSwitch:
    """Oro with its ``web_api`` feature off: every ``/api`` path is a 404 before sign-in.

    ``FeatureDependedFirewallMap`` drops the WSSE authenticator and puts
    ``FeatureAccessListener`` in, which throws a ``NotFoundHttpException`` without a message;
    ``UnhandledApiErrorExceptionListener`` renders it as a JSON:API error with no ``detail``
    (platform 6.0 ``ApiBundle/Security/…``, ``ApiBundle/EventListener/…``).
    """

    def __init__(self, app: ASGIApp, enabled: Callable[[], bool]) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/api") and path[4:5] in ("", "/") and not self.enabled():
            await error_response(ApiError(404, "not found http exception", None))(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


class FaultsAndHeaders:
    """Outermost layer: injected faults first, then ``Date`` and ``X-Server-Version`` on every
    answer."""

    def __init__(
        self,
        app: ASGIApp,
        faults: FaultRegistry,
        frozen_time: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.app = app
        self.faults = faults
        self.frozen_time = frozen_time

    def date_header(self) -> str:
        """HTTP date of the server clock. A frozen clock (tests) shows in ``Date`` too, so a
        client that takes its cursors from ``Date`` stays consistent with the stamps."""
        frozen = self.frozen_time()
        return formatdate(parse_instant(frozen).timestamp() if frozen else None, usegmt=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        if fault is not None:
            if fault.kind == "drop":
                await _drop_connection(receive, send)
                return
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "truncate":
                send = _truncating(send)
            else:
                headers = (
                    {"Retry-After": str(fault.retry_after)}
                    if fault.retry_after is not None
                    else None
                )
                error = ApiError(
                    fault.status,
                    "injected fault",
                    f"Injected HTTP {fault.status}.",
                    headers=headers,
                )
                response = error_response(error)
                response.headers["Date"] = self.date_header()
                response.headers["X-Server-Version"] = SERVER_VERSION
                await response(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"date", b"x-server-version")
                ]
                headers += [
                    (b"date", self.date_header().encode()),
                    (b"x-server-version", SERVER_VERSION.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _truncating(send: Send) -> Send:
    """A ``send`` that passes on only the first half of the answer's body."""
    start: list[Message] = []
    body = bytearray()

    async def truncating_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.append(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        body.extend(message.get("body", b""))
        if message.get("more_body"):
            return
        cut = bytes(body[:len(body) // 2])
        headers = [(k, v) for k, v in start[0].get("headers", []) if k.lower() != b"content-length"]
        await send({**start[0], "headers": [*headers, (b"content-length", str(len(cut)).encode())]})
        await send({"type": "http.response.body", "body": cut})

    return truncating_send


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the client's connection without any answer (a network failure, for tests).

    ASGI has no "hang up"; uvicorn's request cycle holds the transport, so close it there and
    wait until uvicorn has noticed, so that it does not send its own 500 instead.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None:
        transport.close()
        for _ in range(100):
            if getattr(cycle, "disconnected", False):
                return
            await asyncio.sleep(0.01)
        return
    # Another server: start an answer and abandon it, which ends the connection too.
    await send({"type": "http.response.start", "status": 500, "headers": []})
    raise ConnectionAbortedError("injected drop")


def _user_id(state: ServerState, username: str) -> str:
    user_id = state.db.user_id(username)
    if user_id is None:
        raise Unauthorized("Wrong username or API key.")
    return user_id


def _known_type(state: ServerState, type_name: str) -> None:
    if type_name in CALENDAR_TYPES and not state.jsonapi_calendar:
        # OroCalendarBundle's api.yml keeps these commented out (NormalizeEntityClass).
        raise ApiError(404, "entity type constraint", f"Unknown entity type: {type_name}.")
    if (
        type_name in RESOURCE_TYPES
        or type_name in ENUMS
        or type_name in DICTIONARIES
        or (type_name == REMOVALS and state.removals_feed)
    ):
        return
    # Oro's NormalizeEntityClass for a type that is not an API resource.
    raise ApiError(404, "entity type constraint", f"Unknown entity type: {type_name}.")


def _no_params(request: Request, allowed: tuple[str, ...] = ()) -> None:
    for name in request.query_params:
        if name not in allowed:
            raise bad_request(
                "query parameter constraint",
                f'The parameter "{name}" is not supported.',
                parameter=name,
            )


def _configuration_params(request: Request) -> bool:
    """True when the options are asked for (``include=options``); other parameters are 400."""
    include = False
    for name, value in request.query_params.multi_items():
        if name == "include" and set(value.split(",")) <= {"options"}:
            include = True
        elif name in ("fields[configuration]", "fields[configurationoptions]"):
            continue
        else:
            raise bad_request(
                "query parameter constraint",
                f'The parameter "{name}" is not supported.',
                parameter=name,
            )
    return include


def _check_item_params(request: Request, type_name: str) -> None:
    for name, value in request.query_params.multi_items():
        if name == "include" and type_name == "contacts" and value == "addresses":
            continue
        if name.startswith("fields["):
            continue  # sparse fields on a single resource are accepted and ignored
        raise bad_request(
            "query parameter constraint",
            f'The parameter "{name}" is not supported here.',
            parameter=name,
        )


def _list(state: ServerState, request: Request, type_name: str) -> Response:
    items = request.query_params.multi_items()
    if type_name in DICTIONARIES:
        return _list_dictionary(request, type_name, items)
    if type_name in ENUMS:
        resources = _list_enum(state.records.enum_resources(type_name), items)
        return json_response(
            {"data": resources, "links": {"self": str(request.url)}},
            headers={"X-Include-Total-Count": str(len(resources))}
            if _wants_total(request)
            else None,
        )
    query = parse_collection_params(type_name, items)
    want_total = _wants_total(request)
    resources, included, more, total = state.records.page(type_name, query, want_total=want_total)
    document: dict[str, Any] = {"data": resources, "links": {"self": str(request.url)}}
    if more:
        document["links"]["next"] = str(
            request.url.include_query_params(**{"page[number]": query.page_number + 1})
        )
    if query.include_addresses:
        document["included"] = included
    headers = {"X-Include-Total-Count": str(total)} if total is not None else None
    return json_response(document, headers=headers, floats=may_hold_floats(type_name))


def _list_dictionary(request: Request, type_name: str, items: list[tuple[str, str]]) -> Response:
    """Countries and regions: filtered, paged like any Oro list (default page size 10)."""
    resources, number, size = places.listing(type_name, items)
    page = resources[(number - 1) * size : number * size]
    document: dict[str, Any] = {"data": page, "links": {"self": str(request.url)}}
    if number * size < len(resources):
        document["links"]["next"] = str(
            request.url.include_query_params(**{"page[number]": number + 1})
        )
    headers = {"X-Include-Total-Count": str(len(resources))} if _wants_total(request) else None
    return json_response(document, headers=headers)


def _wants_total(request: Request) -> bool:
    values = ",".join(request.headers.getlist("x-include"))
    return "totalcount" in {part.strip().lower() for part in values.split(",")}


def _list_enum(
    resources: list[dict[str, Any]], items: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Enum lists are short: every item, optionally ``filter[id]``; paging params are accepted."""
    for name, value in items:
        if name == "filter[id]":
            wanted = set(value.split(","))
            resources = [r for r in resources if r["id"] in wanted]
        elif name in ("page[number]", "page[size]", "sort") or name.startswith("fields["):
            continue  # every enum fits one page; in id order, as Oro lists them without a sort
        else:
            raise bad_request(
                "query parameter constraint",
                f'The parameter "{name}" is not supported.',
                parameter=name,
            )
    return resources


async def _read_document(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != MEDIA_TYPE:
        raise bad_request(
            "request content type constraint", f'The Content-Type must be "{MEDIA_TYPE}".'
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, "request too large", "The request body is too large.")
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(
            "request data constraint", f"The request body is not valid JSON: {exc}.", pointer="/"
        ) from None
    except RecursionError:
        raise bad_request(
            "request data constraint", "The request body is nested too deeply.", pointer="/"
        ) from None
    if not isinstance(document, dict):
        raise bad_request(
            "request data constraint", "The request body must be a JSON object.", pointer="/"
        )
    unknown = set(document) - _TOP_LEVEL
    if unknown:
        raise bad_request(
            "request data constraint",
            f"Unknown top-level members {sorted(unknown)}.",
            pointer=f"/{min(unknown)}",
        )
    return document


def _primary_data(
    document: dict[str, Any], type_name: str, record_id: str | None
) -> dict[str, Any]:
    data = document.get("data")
    if not isinstance(data, dict):
        raise bad_request(
            "request data constraint", "The primary data must be an object.", pointer="/data"
        )
    unknown = set(data) - {"type", "id", "attributes", "relationships", "meta", "links"}
    if unknown:
        raise bad_request(
            "request data constraint",
            f"Unknown members {sorted(unknown)}.",
            pointer=f"/data/{min(unknown)}",
        )
    if data.get("type") != type_name:
        raise bad_request(
            "entity type constraint", f'The type must be "{type_name}".', pointer="/data/type"
        )
    if record_id is None:
        if "id" in data:
            raise bad_request(
                "request data constraint",
                "Client-generated ids are not supported.",
                pointer="/data/id",
            )
    elif data.get("id") != record_id:
        raise bad_request(
            "entity identifier constraint",
            f'The id must be "{record_id}" as in the URL.',
            pointer="/data/id",
        )
    return data


def _single(resource: dict[str, Any], included: list[dict[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {"data": resource}
    if included:
        document["included"] = included
    return document


__all__ = ["ServerState", "create_app", "not_found"]
