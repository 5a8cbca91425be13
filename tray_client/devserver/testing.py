"""Run the reference server inside a test process, with a handle that bypasses HTTP.

    with RunningServer(api_key="k", demo=10) as server:
        server.admin.create("contacts", {"firstName": "Ann"})
        httpx.get(server.url + "/api/contacts", headers=wsse_headers(...))
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Self

import uvicorn

from .app import (
    DEFAULT_BROWSER_CLIENT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    ServerState,
    create_app,
)
from .config import coerce_option, option_key
from .database import Database
from .demo import bulk_contacts, load_demo
from .faults import Fault
from .jsonapi import normalize_timestamp
from .oauth import DEFAULT_LIFETIME
from .rest_events import EventStore
from .schema import RESOURCE_TYPES
from .server import base_url, bind_socket, make_server

DEFAULT_API_KEY = "admin-api-key"


class Admin:
    """Direct, in-process access to the server's data for test setup (no HTTP, no auth).

    Writes go through the same validation as the API (ApiError on bad input) and stamp
    ``updatedAt`` like API writes, so what a test sets up is what a client could have made.
    Relationships may be given in JSON:API shape (``{"owner": {"data": {...}}}``) or short:
    ``{"owner": "2", "types": ["billing"]}`` (the target type is taken from the schema).
    """

    def __init__(self, state: ServerState) -> None:
        self._state = state
        # Calendar events as Oro's REST API has them (recurrences, invitations): see
        # EventStore.add / get / update / listing.
        self.rest_events = EventStore(state.db)

    def create(
        self,
        type_name: str,
        attributes: dict[str, Any],
        relationships: dict[str, Any] | None = None,
    ) -> str:
        """Create a record as user 1 would; returns its id. Contacts may carry ``addresses``:
        a list of address attribute dicts, each with an optional ``types`` list and
        ``country`` (default US) / ``region`` codes (sent as Oro's relationships)."""
        attributes = dict(attributes)
        addresses = attributes.pop("addresses", None) if type_name == "contacts" else None
        rels = self._relationships(type_name, relationships)
        included = None
        if addresses:
            included, rels["addresses"] = self._address_items(addresses)
        resource, _ = self._state.records.create(type_name, attributes, rels, included, user_id="1")
        return str(resource["id"])

    def update(
        self,
        type_name: str,
        record_id: str,
        attributes: dict[str, Any],
        relationships: dict[str, Any] | None = None,
    ) -> None:
        """Change a record (given attributes/relationships only); contacts may replace
        ``addresses``."""
        attributes = dict(attributes)
        addresses = attributes.pop("addresses", None) if type_name == "contacts" else None
        rels = self._relationships(type_name, relationships)
        included = None
        if addresses is not None:
            included, rels["addresses"] = self._address_items(addresses)
        self._state.records.update(type_name, str(record_id), attributes, rels, included)

    def delete(self, type_name: str, record_id: str) -> None:
        """Delete a record (it appears in the removals feed)."""
        self._state.records.delete(type_name, str(record_id))

    def get(self, type_name: str, record_id: str) -> dict[str, Any]:
        """The resource as the API serves it; contacts also get ``addresses`` (resource dicts)."""
        resource, included = self._state.records.get(type_name, str(record_id))
        if type_name == "contacts":
            resource["addresses"] = included
        return resource

    def ids(self, type_name: str) -> list[str]:
        """Every id of a type, ascending (numerically)."""
        return self._state.records.ids(type_name)

    def count(self, type_name: str) -> int:
        """How many records a type holds."""
        return self._state.records.count(type_name)

    def set_setting(self, key: str, value: Any) -> None:
        """Set an option of the Outlook bundle's section (key with or without Oro's prefix);
        the first one makes the section exist, as ``--setting`` does. ValueError if bad."""
        short = option_key(key)
        self._state.db.set_setting(short, coerce_option(short, value))

    def freeze_time(self, timestamp: str | None) -> None:
        """Stamp every following write with this time (to make one-second ties); None thaws."""
        self._state.db.frozen_time = None if timestamp is None else normalize_timestamp(timestamp)

    def bulk_contacts(self, n: int) -> None:
        """Insert n simple contacts fast (one transaction, no validation of each)."""
        bulk_contacts(self._state.db, n)

    def inject_fault(
        self,
        path_prefix: str,
        kind: str = "status",
        status: int = 500,
        delay: float = 0.0,
        times: int | None = 1,
        retry_after: int | None = None,
        method: str | None = None,
    ) -> None:
        """Make the next ``times`` requests under ``path_prefix`` fail (see :class:`Fault`)."""
        self._state.faults.add(Fault(path_prefix, kind, status, delay, times, retry_after, method))

    def clear_faults(self) -> None:
        """Disarm every injected fault."""
        self._state.faults.clear()

    def set_oauth_client_active(self, active: bool) -> None:
        """Activate or deactivate the OAuth application (Oro's back office: Deactivate)."""
        assert self._state.oauth is not None, "the server runs without OAuth (--auth wsse)"
        self._state.oauth.active = active

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on, as if it had expired."""
        assert self._state.oauth is not None, "the server runs without OAuth (--auth wsse)"
        self._state.oauth.expire_tokens()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is revoked (the user must sign in again)."""
        assert self._state.oauth is not None, "the server runs without OAuth (--auth wsse)"
        self._state.oauth.revoke_refresh_tokens()

    def tokens_issued(self) -> int:
        """How many access tokens the token endpoint has issued."""
        return self._state.oauth.issued if self._state.oauth is not None else 0

    def _relationships(
        self, type_name: str, relationships: dict[str, Any] | None
    ) -> dict[str, Any]:
        rtype = RESOURCE_TYPES.get(type_name)
        result: dict[str, Any] = {}
        for name, value in (relationships or {}).items():
            if isinstance(value, dict) and "data" in value:
                result[name] = value
                continue
            rel = rtype.relationship_map.get(name) if rtype else None
            target = (
                (rel.target or (rel.targets[0] if rel.targets else "users")) if rel else "users"
            )
            if value is None:
                result[name] = {"data": None}
            elif isinstance(value, (list, tuple)):
                result[name] = {"data": [self._ref(target, v) for v in value]}
            else:
                result[name] = {"data": self._ref(target, value)}
        return result

    @staticmethod
    def _ref(target: str, value: Any) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        return {"type": target, "id": str(value)}

    @staticmethod
    def _address_items(
        addresses: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        items, refs = [], []
        for index, address in enumerate(addresses):
            address = dict(address)
            types = address.pop("types", [])
            # A convenience of this handle: "country": "US", "region": "US-CA" as plain keys;
            # no country means US (the API itself requires one, as Oro does).
            country, region = address.pop("country", "US"), address.pop("region", None)
            temp_id = f"new-{index}"
            items.append(
                {
                    "type": "contactaddresses",
                    "id": temp_id,
                    "attributes": address,
                    "relationships": {
                        "types": {"data": [{"type": "addresstypes", "id": t} for t in types]},
                        "country": {"data": country and {"type": "countries", "id": country}},
                        "region": {"data": region and {"type": "regions", "id": region}},
                    },
                }
            )
            refs.append({"type": "contactaddresses", "id": temp_id})
        return items, {"data": refs}


class RunningServer:
    """The reference server in a background thread on a free loopback port.

    Attributes: ``url``, ``user``, ``api_key``, ``client_id``, ``client_secret``, ``auth``
    (wsse | oauth2 | both), ``db_path``, ``admin``. ``stop()`` ends it
    and ``start()`` brings it back on the same port and database (for outage tests). It
    answers like real Oro 6.0; ``settings`` (the Outlook section), ``removals_feed`` and
    ``web_api=False`` are the command line's ``--setting``, ``--removals-feed`` and
    ``--web-api off``. ``web_api`` may be switched while it runs (``server.set_web_api``).
    """

    def __init__(
        self,
        db_path: str | Path | None = None,
        user: str = "admin",
        api_key: str = DEFAULT_API_KEY,
        demo: int = 0,
        settings: dict[str, Any] | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        host: str = "127.0.0.1",
        removals_feed: bool = False,
        web_api: bool = True,
        auth: str = "both",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_lifetime: int = DEFAULT_LIFETIME,
        jsonapi_calendar: bool = False,
        password: str = DEFAULT_PASSWORD,
    ) -> None:
        self._tempdir: str | None = None
        if db_path is None:
            self._tempdir = tempfile.mkdtemp(prefix="crm-devserver-")
            db_path = Path(self._tempdir) / "crm.db"
        self.db_path = Path(db_path)
        self.user = user
        self.api_key = api_key
        self.host = host
        self.auth = auth
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.password = password
        self.browser_client_id = DEFAULT_BROWSER_CLIENT_ID
        self._demo = demo
        self.jsonapi_calendar = jsonapi_calendar
        self._settings = dict(settings or {})
        self.removals_feed = removals_feed
        self.web_api = web_api
        self._tls = (tls_cert, tls_key) if tls_cert and tls_key else None
        self._port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._state: ServerState | None = None
        self.url = ""
        self.admin: Admin

    def __repr__(self) -> str:  # the api key stays out of reprs and logs
        return f"RunningServer(url={self.url!r}, user={self.user!r}, db_path={str(self.db_path)!r})"

    def start(self) -> Self:
        """Start serving (idempotent); demo data and settings are loaded on the first start."""
        if self._server is not None:
            return self
        first = self._state is None
        db = Database(self.db_path, username=self.user)
        self._state = ServerState(
            db,
            self.user,
            self.api_key,
            auth_mode=self.auth,
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_lifetime=self.token_lifetime,
            jsonapi_calendar=self.jsonapi_calendar,
            removals_feed=self.removals_feed,
            web_api=self.web_api,
            password=self.password,
        )
        self.admin = Admin(self._state)
        if first:
            for key, value in self._settings.items():
                self.admin.set_setting(key, value)
            if self._demo:
                load_demo(db, self._demo)
        try:
            server = make_server(
                create_app(self._state),
                tls_cert=self._tls[0] if self._tls else None,
                tls_key=self._tls[1] if self._tls else None,
            )
        except BaseException:
            db.close()
            raise
        sock = self._bind()
        self._port = sock.getsockname()[1]
        self.url = base_url(sock, self.host, self._tls is not None)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="crm-devserver", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(
                    "the reference server did not start (see the log for uvicorn's reason)"
                )
            time.sleep(0.005)
        return self

    def set_web_api(self, enabled: bool) -> None:
        """Turn Oro's web API feature on or off while serving (as an administrator would)."""
        self.web_api = enabled
        if self._state is not None:
            self._state.web_api = enabled

    def _bind(self) -> socket.socket:
        # On a restart, come back on the same port so the client's URL stays right.
        deadline = time.monotonic() + 5
        while True:
            try:
                return bind_socket(self.host, self._port)
            except OSError:
                if self._port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving (connections are closed); the database stays for a restart."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)
        if self._state is not None:
            self._state.db.close()

    def close(self) -> None:
        """Stop and remove the temporary database, if this object made it."""
        self.stop()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "DEFAULT_API_KEY", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "Admin", "RunningServer",
]
