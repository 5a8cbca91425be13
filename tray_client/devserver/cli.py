"""``tray-client-devserver``: the reference CRM server from the command line.

The first line of standard output is the base URL with the real port (so ``--port 0``
is usable from scripts); then it serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import ssl
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .app import (
    AUTH_MODES,
    DEFAULT_BROWSER_CLIENT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    ServerState,
    create_app,
)
from .config import parse_setting
from .database import Database
from .demo import load_demo
from .oauth import DEFAULT_LIFETIME
from .server import base_url, bind_socket, make_server
from .testing import DEFAULT_API_KEY

API_KEY_VARIABLE = "TRAY_CLIENT_DEVSERVER_API_KEY"
# The server process's garbage collector: a page of 1,000 demo contacts is ~50,000 containers
# that live until the answer is written; at the default threshold (700) that was ~170 young
# collections a page, which passed the page on to the older generations: ~12 µs of every
# record served (benchmarks/README.md, issue 17). Young objects are collected after 100,000
# net allocations instead: reference cycles (rare here) are still collected, and the memory
# they may hold until then stays bounded.
GC_THRESHOLDS = (100_000, 10, 10)  # the older generations at their default ratios
CLIENT_SECRET_VARIABLE = "TRAY_CLIENT_DEVSERVER_CLIENT_SECRET"


def tune_collector() -> None:
    """Set this process's collector for serving (GC_THRESHOLDS); what the start-up made
    (modules, demo data) is frozen out of the collections. Only the server's own process:
    a server inside a test process leaves that process's collector alone."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def build_parser() -> argparse.ArgumentParser:
    """The command line (``--help`` shows the default API key on purpose: it is a dev server)."""
    parser = argparse.ArgumentParser(
        prog="tray-client-devserver",
        description="Reference CRM server: answers like a real Oro 6.0 JSON:API, with WSSE "
        "and/or OAuth 2.0 authentication, on SQLite.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port; 0 (the default) picks a free one"
    )
    parser.add_argument("--db", type=Path, help="SQLite database file (default: a temporary file)")
    parser.add_argument(
        "--user", default="admin", help="the user name clients log in with (default admin)"
    )
    key = parser.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key-stdin",
        action="store_true",
        help="read that user's API key from the first line of standard input (or set "
        f"{API_KEY_VARIABLE}; default {DEFAULT_API_KEY})",
    )
    key.add_argument(
        "--api-key",
        help="the API key on the command line: visible to every user in `ps`; prefer "
        f"--api-key-stdin or {API_KEY_VARIABLE}",
    )
    parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default="both",
        help="wsse: API keys only (no OAuth application); oauth2: OAuth 2.0 only, as Oro 6.1+; "
        "both (the default): as Oro 5.1/6.0 with an OAuth application",
    )
    parser.add_argument(
        "--client-id",
        default=DEFAULT_CLIENT_ID,
        help=f"the OAuth application's client id (default {DEFAULT_CLIENT_ID})",
    )
    parser.add_argument(
        "--client-secret",
        default=None,
        help=f"its client secret on the command line: visible to every user in `ps`; prefer the "
        f"{CLIENT_SECRET_VARIABLE} variable (default {DEFAULT_CLIENT_SECRET})",
    )
    parser.add_argument(
        "--browser-client-id",
        default=DEFAULT_BROWSER_CLIENT_ID,
        help='client id of the public application for "Sign in with Oro" (authorization code + '
        "PKCE, redirect http://127.0.0.1/callback on any port; default "
        f"{DEFAULT_BROWSER_CLIENT_ID})",
    )
    parser.add_argument(
        "--password",
        default=DEFAULT_PASSWORD,
        help=f"the user's password on the sign-in page (default {DEFAULT_PASSWORD})",
    )
    parser.add_argument("--token-lifetime", type=int, default=DEFAULT_LIFETIME, metavar="SECONDS",
                        help=f"access token lifetime (default {DEFAULT_LIFETIME}, as Oro)")
    parser.add_argument(
        "--demo", type=int, default=0, metavar="N", help="load N demo records per entity"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="serve the old Enterprise Outlook bundle's configuration/outlook section with this "
        "option set (repeatable; kept in the db). Without it the section is absent (404), as on "
        "real Oro 5.x/6.x",
    )
    parser.add_argument(
        "--removals-feed",
        action="store_true",
        help="serve GET /api/removals (an extension; real Oro has no feed of removed records)",
    )
    parser.add_argument(
        "--web-api",
        choices=("on", "off"),
        default="on",
        help="Oro's web API feature (System > Configuration > General Setup > Application "
        "Settings); off: every /api path is 404",
    )
    parser.add_argument(
        "--jsonapi-calendar",
        action="store_true",
        help="also serve calendarevents and calendars on the JSON:API (real Oro does not; events "
        "are on /api/rest/latest)",
    )
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument(
        "--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug")
    )
    return parser


def _api_key(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The key from --api-key, else standard input (--api-key-stdin), else the environment
    variable, else the default."""
    if args.api_key is not None:
        return str(args.api_key)
    if args.api_key_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            parser.error("--api-key-stdin: no API key on standard input")
        return key
    return os.environ.get(API_KEY_VARIABLE) or DEFAULT_API_KEY


def _stop_requested(signum: int, frame: object) -> None:
    """Nothing to do: uvicorn has already stopped serving when this runs."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the exit code (2 for usage errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.demo < 0:
        parser.error("--demo takes a number of records (0 or more)")
    api_key = _api_key(args, parser)
    if args.token_lifetime < 1:
        parser.error("--token-lifetime takes a number of seconds (1 or more)")
    client_secret = (
        args.client_secret or os.environ.get(CLIENT_SECRET_VARIABLE) or DEFAULT_CLIENT_SECRET
    )
    settings: list[tuple[str, Any]] = []
    for text in args.setting:
        try:
            settings.append(parse_setting(text))
        except ValueError as exc:
            parser.error(f"--setting: {exc}")
    tempdir = None
    db_path = args.db
    if db_path is None:
        tempdir = tempfile.TemporaryDirectory(prefix="crm-devserver-")
        db_path = Path(tempdir.name) / "crm.db"
    try:
        db = Database(db_path, username=args.user)
        for key, value in settings:
            db.set_setting(key, value)
        if args.demo:
            load_demo(db, args.demo)
        state = ServerState(db, args.user, api_key, auth_mode=args.auth, client_id=args.client_id,
                            client_secret=client_secret, token_lifetime=args.token_lifetime,
                            jsonapi_calendar=args.jsonapi_calendar,
                            removals_feed=args.removals_feed, web_api=args.web_api == "on",
                            browser_client_id=args.browser_client_id, password=args.password)
        try:
            server = make_server(
                create_app(state),
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
                log_level=args.log_level,
            )
        except (ssl.SSLError, OSError) as exc:
            print(
                f"tray-client-devserver: cannot load the TLS certificate or key: {exc}",
                file=sys.stderr,
            )
            return 1
        try:
            sock = bind_socket(args.host, args.port)
        except OSError as exc:
            print(
                f"tray-client-devserver: cannot listen on {args.host}:{args.port}: {exc.strerror}",
                file=sys.stderr,
            )
            return 1
        print(base_url(sock, args.host, args.tls_cert is not None), flush=True)
        # uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to
        # the handler it found; a no-op handler makes a requested stop a clean exit 0.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, _stop_requested)
        tune_collector()
        server.run(sockets=[sock])
        db.close()
    finally:
        if tempdir is not None:
            tempdir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
