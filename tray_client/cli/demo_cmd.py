"""``tray-client demo``: the reference CRM server with demo data, and the client pointed at it.

The server (``tray_client.demo.spawned_server``) keeps its database in the demo home
(``demo.demo_home``). The API key is the reference server's demo key, handed to the client
through the ``TRAY_CLIENT_API_KEY`` variable of this process only (nothing is written to the
keyring).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..credentials import API_KEY_VARIABLE
from ..demo import DEMO_API_KEY, DEMO_USER, demo_home, spawned_server
from .output import exit_code, print_result

# Short intervals so the demo visibly syncs on its own.
DEMO_SETTINGS = {"contacts_sync_interval_orocrm": "60", "contacts_sync_interval_outlook": "20"}


def register(subparsers: Any) -> None:
    """Add ``demo`` to ``subparsers``; it runs without a profile (``args.standalone``)."""
    p = subparsers.add_parser("demo", help="reference server with demo data + the tray app")
    p.add_argument("--headless", action="store_true", help="sync once and print the summary")
    p.add_argument("--records", type=int, default=25, help="demo records per entity")
    p.set_defaults(standalone=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(home=args.home, headless=args.headless, records=args.records)


def run_demo(*, home: str | None, headless: bool, records: int = 25) -> int:
    """Start the server, configure the demo profile, then open the app or sync once."""
    from ..client import Client

    root = demo_home(home)
    root.mkdir(parents=True, exist_ok=True)
    db = root / "crm-demo.db"
    with spawned_server(db, user=DEMO_USER, api_key=DEMO_API_KEY,
                        demo_records=0 if db.exists() else records,
                        settings=DEMO_SETTINGS) as url:
        os.environ[API_KEY_VARIABLE] = DEMO_API_KEY
        client = Client(root)
        settings = client.settings
        settings.url, settings.user = url, DEMO_USER
        client.save_settings(settings)
        print(f"Reference CRM server: {url} (user {DEMO_USER}); demo profile in {root}")
        if headless or not _has_display():
            try:
                result = client.sync(trigger="manual")
            finally:
                client.close()
            print_result(result)
            return exit_code(result)
        client.close()
        from ..gui.app import main as gui_main

        return gui_main(str(root), demo_url=url)


def _has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                    or os.environ.get("QT_QPA_PLATFORM") == "offscreen")
    return True
