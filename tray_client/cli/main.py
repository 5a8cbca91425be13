"""``tray-client``: the headless command line (DESIGN §9, a stable contract).

Each command is a few lines over the facade ``Client``; its parser names it with
``set_defaults(handler=…)`` (``handler(client, args)``; ``standalone(args)`` for the commands
that need no profile). Exit codes and printing: ``output.py`` (a sync stopped by Ctrl+C stops
between two records and is recorded as cancelled).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..errors import (
    ConfigurationError,
    DeletionGuardError,
    LocalDatabaseError,
    StoreError,
    SyncBusyError,
    TrayClientError,
)
from . import create_cmd, demo_cmd
from .output import (
    EXIT_CANNOT_SYNC,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RECORD_ERRORS,
    EXIT_USAGE,
    exit_code,
    print_error,
    print_json,
    print_json_array,
    print_result,
)

if TYPE_CHECKING:
    from ..client import Client
    from ..crm import ConnectionVerdict
    from ..store import Item

ENTITY_CHOICES = ("contacts", "tasks", "events")


class UsageError(TrayClientError):
    title = "Usage"


# -- commands ---------------------------------------------------------------------------------

def cmd_configure(client: Client, args: argparse.Namespace) -> int:
    settings = client.settings
    if args.url is not None:
        settings.url = args.url.strip()
    if args.user is not None:
        settings.user = args.user.strip()
    if args.ignore_self_signed_cert:
        settings.ignore_self_signed_cert = True
    if args.verify_cert:
        settings.ignore_self_signed_cert = False
        settings.pinned_cert_sha256 = ""
    if args.forget_pinned_cert:
        # The server's self-signed certificate was renewed: the next connection pins the
        # one it presents (the dialog's "Forget pinned certificate").
        settings.pinned_cert_sha256 = ""
    for flag, attr, value in (("disable_sync", "disable_sync", True),
                              ("enable_sync", "disable_sync", False),
                              ("alerts", "show_alerts", True), ("no_alerts", "show_alerts", False),
                              ("birthdays", "sync_birthdays", True),
                              ("no_birthdays", "sync_birthdays", False)):
        if getattr(args, flag):
            setattr(settings, attr, value)
    if args.sync_type is not None:
        settings.sync_type = args.sync_type
    if args.auth is not None:
        settings.auth = args.auth
    if args.client_id is not None:
        settings.client_id = args.client_id.strip()
    if args.api_key_stdin and args.client_secret_stdin:
        raise UsageError("Give either --api-key-stdin or --client-secret-stdin, not both "
                         "(standard input holds one secret).")
    if args.default_country is not None:
        try:
            client.apply_default_country(settings, args.default_country)
        except ConfigurationError as exc:
            raise UsageError(exc.message) from None
    for assignment in args.rule or []:
        try:
            client.apply_rule(settings, assignment)
        except ConfigurationError as exc:
            raise UsageError(exc.message) from None
    client.save_settings(settings)
    if args.api_key_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            raise UsageError("No API key on standard input.")
        client.set_api_key(key)
    if args.client_secret_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise UsageError("No client secret on standard input.")
        client.set_client_secret(secret)
    print(f"Settings saved to {client.paths.settings_file}")
    return EXIT_OK


def cmd_check_connection(client: Client, args: argparse.Namespace) -> int:
    return _report_verdict(client.check_connection(), args)


def cmd_sign_in(client: Client, args: argparse.Namespace) -> int:
    """*Sign in with Oro*: the browser signs in on the CRM's page; the URL is printed too."""
    import webbrowser

    from ..crm.signin import SignInCancelled

    if client.settings.auth != "oauth2_code":
        raise UsageError("Sign-in in the browser is for `configure --auth oauth2_code "
                         "--client-id ID` (an OAuth application for authorization code).")

    def show(url: str) -> None:
        print("Sign in to the CRM in your browser. If it does not open, go to:\n" + url,
              file=sys.stderr, flush=True)
        if not args.no_browser:
            webbrowser.open(url)

    cancel = threading.Event()
    from .progress import interrupt_cancels

    try:
        with interrupt_cancels(cancel):
            verdict = client.sign_in_with_browser(open_browser=show, cancel=cancel)
    except SignInCancelled as exc:
        print_error(exc)
        return EXIT_INTERRUPTED if cancel.is_set() else EXIT_CANNOT_SYNC
    return _report_verdict(verdict, args)


def _report_verdict(verdict: ConnectionVerdict, args: argparse.Namespace) -> int:
    if args.json:
        print_json({"ok": verdict.ok, "kind": getattr(verdict.kind, "value", str(verdict.kind)),
                     "title": verdict.title, "message": verdict.message,
                     "server_version": verdict.server_version,
                     "auth_wanted": getattr(verdict, "auth_wanted", None),
                     "events": getattr(verdict, "events", None)})
    else:
        print(f"{verdict.title}: {verdict.message}")
        if getattr(verdict, "events", None):
            print(verdict.events)
    return EXIT_OK if verdict.ok else EXIT_CANNOT_SYNC


def _confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    sys.stdout.write(f"{question} Continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def cmd_sync(client: Client, args: argparse.Namespace) -> int:
    if args.resync and not _confirm(
            "Resync deletes every linked local item (into the trash) and matches CRM records "
            "again by key.", args.yes):
        print("Resync cancelled.")
        return EXIT_OK
    from ..sync import Outcome
    from .progress import TerminalProgress, interrupt_cancels

    cancel = threading.Event()
    try:
        with interrupt_cancels(cancel):
            result = client.sync(entities=args.entity or None, resync=args.resync,
                                 force_delete=args.force_delete,
                                 trigger="resync" if args.resync else "manual",
                                 wait=args.wait, observer=TerminalProgress(), cancel=cancel)
    except DeletionGuardError as exc:
        print_error(exc)
        print("Nothing was deleted. If this is intended, run again with --force-delete.",
              file=sys.stderr)
        return EXIT_CANNOT_SYNC
    if args.json:
        print_json(result.as_dict())
    else:
        print_result(result)
    if cancel.is_set() and result.outcome == Outcome.CANCELLED:
        return EXIT_INTERRUPTED
    return exit_code(result)


def cmd_status(client: Client, args: argparse.Namespace) -> int:
    status = client.status()
    if args.json:
        print_json(status.as_dict())
        return EXIT_OK
    print(f"tray-client {status.version} — home {status.home}")
    if not status.configured:
        print("Not configured: run `tray-client configure --url URL --user NAME --api-key-stdin`.")
    else:
        if status.auth == "oauth2_code":
            print(f"CRM: {status.url} as {status.user}, Sign in with Oro (application "
                  f"{status.client_id or '(no Client ID)'}; "
                  f"{'signed in' if status.has_secret else 'NOT signed in'})")
        elif status.auth == "oauth2":
            secret = "stored" if status.has_client_secret else "MISSING"
            print(f"CRM: {status.url} as {status.user}, OAuth application "
                  f"{status.client_id or '(no Client ID)'} (client secret {secret})")
        else:
            print(f"CRM: {status.url} as {status.user} "
                  f"(API key {'stored' if status.has_api_key else 'MISSING'})")
    print(f"Automatic sync: {'disabled' if status.sync_disabled else 'enabled'}; "
          f"sync type: {status.sync_type}")
    for entity, count in status.local_counts.items():
        print(f"  {entity:9} {count} local, {status.linked_counts.get(entity, 0)} linked")
    if status.default_country:
        source = " (from the locale)" if status.default_country_from_locale else ""
        print(f"Default country for addresses: {status.default_country_name} "
              f"({status.default_country}){source}")
    else:
        print("Default country for addresses: none (addresses without a country are not sent; "
              "`configure --default-country`)")
    print("Sync rules:")
    for entity, rule in status.sync_rules.items():
        print(f"  {_rule_line(entity, rule)}")
    if status.last_run:
        run = status.last_run
        print(f"Last sync: {run.get('finished_at') or run.get('started_at')} — {run['outcome']}"
              f"{': ' + run['message'] if run.get('message') else ''}")
    else:
        print("Last sync: never")
    return EXIT_OK


def _rule_line(entity: str, rule: dict[str, Any]) -> str:
    """One entity's rule for ``status``; values the CRM's Outlook section sets are marked."""
    def mark(key: str, text: str) -> str:
        return f"{text} (CRM)" if key in rule["locked"] else text

    if not rule["enabled"]:
        return f"{entity:9} {mark('enabled', 'disabled')}"
    return (f"{entity:9} {mark('direction', rule['direction'])}, "
            f"{mark('conflict_resolution', rule['conflict_resolution'])}, "
            f"keys {mark('keys', ','.join(rule['keys']))}, "
            f"pull every {mark('pull_interval', str(rule['pull_interval']) + ' s')}, "
            f"push every {mark('push_interval', str(rule['push_interval']) + ' s')}")


def _item_line(item: Item) -> str:
    mark = f"crm:{item.crm_id}" if item.crm_id else "unlinked"
    return f"{item.id}  {mark:12}  {item.display_name}"


def cmd_local_list(client: Client, args: argparse.Namespace) -> int:
    items = client.store.iter_items(args.entity, search=args.search)
    if args.json:
        print_json_array(i.to_json() for i in items)
    else:
        for item in items:
            print(_item_line(item))
    return EXIT_OK


def _local_item(client: Client, item_id: str) -> Item:
    item = client.store.get(item_id)
    if item is None:
        raise UsageError(f"No local item with id {item_id}.")
    return item


def cmd_local_show(client: Client, args: argparse.Namespace) -> int:
    item = _local_item(client, args.id)
    if args.json:
        print_json(item.to_json())
    else:
        for key, value in item.to_json().items():
            print(f"{key}: {value}")
    return EXIT_OK


def cmd_local_add(client: Client, args: argparse.Namespace) -> int:
    from ..store import apply_assignments

    fields, crm_sync = apply_assignments(args.entity, {}, args.set or [])
    item = client.store.add(args.entity, fields,
                            crm_sync=True if crm_sync is None else crm_sync)
    if args.json:
        print_json(item.to_json())
    else:
        print(item.id)
    return EXIT_OK


def cmd_local_update(client: Client, args: argparse.Namespace) -> int:
    from ..store import apply_assignments

    item = _local_item(client, args.id)
    fields, crm_sync = apply_assignments(item.entity, item.fields, args.set or [])
    client.store.replace_fields(item.id, fields)
    if crm_sync is not None:
        client.store.update(item.id, {}, crm_sync=crm_sync)
    return EXIT_OK


def cmd_local_delete(client: Client, args: argparse.Namespace) -> int:
    _local_item(client, args.id)
    client.store.delete(args.id, reason="user")
    return EXIT_OK


def cmd_local_import(client: Client, args: argparse.Namespace) -> int:
    result = client.store.import_file(Path(args.file))
    print(f"Imported {result.created} item(s); skipped {result.skipped}.")
    for problem in result.errors:
        print(f"  {problem}", file=sys.stderr)
    for warning in result.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    return EXIT_OK if not result.errors else EXIT_RECORD_ERRORS


def cmd_local_export(client: Client, args: argparse.Namespace) -> int:
    count = client.store.export_file(args.entity, Path(args.file))
    print(f"Exported {count} {args.entity} to {args.file}")
    return EXIT_OK


def cmd_report(client: Client, args: argparse.Namespace) -> int:
    from ..sync import report_rows

    results = client.reports(args.runs)
    if args.json:
        print_json([dict(r.as_dict(), records=report_rows(client.store, r.run_id))
                     for r in results])
        return EXIT_OK
    if not results:
        print("No sync has run yet.")
    for result in results:
        data = result.as_dict()
        print(f"Run {data['run_id']} ({data.get('trigger')}) started {data.get('started_at')} "
              f"finished {data.get('finished_at')}")
        print_result(result)
        for row in report_rows(client.store, result.run_id):
            detail = row["message"]
            if row.get("field"):
                detail = (f"{row['field']}: local {row['local_value']!r} / CRM "
                          f"{row['crm_value']!r} -> {row.get('winner') or '?'}")
            print(f"    {row['status']:7} {row['entity']:9} {row['action']:9} "
                  f"{row['direction']:14} {row['name']}" + (f" — {detail}" if detail else ""))
    return EXIT_OK


def cmd_trash_list(client: Client, args: argparse.Namespace) -> int:
    entries = client.store.trash_list()
    if args.json:
        print_json([{"entry_id": e.entry_id, "reason": e.reason, "run_id": e.run_id,
                     "trashed_at": e.trashed_at, "item": e.item.to_json()}
                    for e in entries])
    else:
        if not entries:
            print("The trash is empty.")
        for e in entries:
            print(f"{e.entry_id:6}  {e.item.entity:9} {e.reason:15} {e.trashed_at}  "
                  f"{e.display_name}")
    return EXIT_OK


def cmd_trash_restore(client: Client, args: argparse.Namespace) -> int:
    try:
        entry_id = int(args.id)
    except ValueError:
        raise UsageError(f"Trash entry ids are numbers (see `tray-client trash list`), "
                         f"not {args.id!r}.") from None
    item = client.store.trash_restore(entry_id)
    print(f"Restored as {item.id}")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    from ..gui.app import main as gui_main

    return gui_main(args.home)


# -- parser ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tray-client",
        description="Keeps CRM contacts, tasks and calendar events in step with a local store.")
    parser.add_argument("--version", action="version", version=f"tray-client {__version__}")
    parser.add_argument("--home", metavar="DIR",
                        help="keep config, data and logs under DIR (or set TRAY_CLIENT_HOME)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # --home is accepted after the command too (``tray-client sync --home DIR``).
    home_parent = argparse.ArgumentParser(add_help=False)
    home_parent.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                             help=argparse.SUPPRESS)
    original_add_parser = sub.add_parser

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", [home_parent])
        return original_add_parser(name, **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    demo_cmd.register(sub)

    p = sub.add_parser("configure", help="set the connection and sync options")
    p.add_argument("--url")
    p.add_argument("--user")
    p.add_argument("--auth", choices=("wsse", "oauth2", "oauth2_code"),
                   help="sign in with an API key (wsse, Oro 6.0 and earlier), an OAuth "
                        "application (oauth2, client credentials; Oro 6.1+ has only OAuth) or "
                        "in the browser (oauth2_code: then run `tray-client sign-in`)")
    p.add_argument("--api-key-stdin", action="store_true",
                   help="read the API key from standard input into the OS keyring")
    p.add_argument("--client-id", metavar="ID", help="the OAuth application's Client ID")
    p.add_argument("--client-secret-stdin", action="store_true",
                   help="read the OAuth application's Client Secret from standard input into "
                        "the OS keyring")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ignore-self-signed-cert", action="store_true")
    g.add_argument("--verify-cert", action="store_true")
    p.add_argument("--forget-pinned-cert", action="store_true",
                   help="forget the pinned self-signed certificate (after a renewal): the "
                        "next connection pins the one the server presents")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--disable-sync", action="store_true")
    g.add_argument("--enable-sync", action="store_true")
    p.add_argument("--sync-type", choices=("all", "selected"))
    g = p.add_mutually_exclusive_group()
    g.add_argument("--alerts", action="store_true")
    g.add_argument("--no-alerts", action="store_true")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--birthdays", action="store_true")
    g.add_argument("--no-birthdays", action="store_true")
    p.add_argument("--default-country", metavar="COUNTRY",
                   help="country of local addresses that name none (code or name, e.g. DE or "
                        "Germany); 'auto' = this computer's locale")
    p.add_argument("--rule", action="append", metavar="ENTITY.KEY=VALUE",
                   help="set a sync rule (repeatable): ENTITY contacts|tasks|events; KEY "
                        "enabled (true/false), direction (Both|OroCRMToOutlook|"
                        "OutlookToOroCRM), conflict_resolution (OroCRMAlwaysWins|"
                        "OutlookAlwaysWins), keys (comma list of CRM field names), "
                        "pull_interval, push_interval (seconds). A CRM's Outlook section "
                        "overrides what it sets")
    p.set_defaults(handler=cmd_configure)

    p = sub.add_parser("sign-in", help="sign in to the CRM in the browser (--auth oauth2_code)")
    p.add_argument("--no-browser", action="store_true",
                   help="only print the address to open (e.g. on another computer's browser)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sign_in)

    p = sub.add_parser("check-connection", help="try the connection and say what is wrong")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_check_connection)

    p = sub.add_parser("sync", help="run one two-way sync now")
    p.add_argument("--resync", action="store_true",
                   help="forget links and match again by key (asks for confirmation)")
    p.add_argument("--yes", action="store_true", help="answer yes to the resync question")
    p.add_argument("--force-delete", action="store_true",
                   help="let the run delete more than half of the linked items")
    p.add_argument("--entity", action="append", choices=ENTITY_CHOICES)
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a running sync to finish instead of failing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sync)

    p = sub.add_parser("status", help="configuration, counts and the last run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("local", help="the local item store")
    lsub = p.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    q = lsub.add_parser("list")
    q.add_argument("entity", choices=ENTITY_CHOICES)
    q.add_argument("--search")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_local_list)
    q = lsub.add_parser("show")
    q.add_argument("id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_local_show)
    q = lsub.add_parser("add")
    q.add_argument("entity", choices=ENTITY_CHOICES)
    q.add_argument("--set", action="append", metavar="FIELD=VALUE", required=True)
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_local_add)
    q = lsub.add_parser("update")
    q.add_argument("id")
    q.add_argument("--set", action="append", metavar="FIELD=VALUE", required=True)
    q.set_defaults(handler=cmd_local_update)
    q = lsub.add_parser("delete")
    q.add_argument("id")
    q.set_defaults(handler=cmd_local_delete)
    q = lsub.add_parser("import")
    q.add_argument("file")
    q.set_defaults(handler=cmd_local_import)
    q = lsub.add_parser("export")
    q.add_argument("entity", choices=ENTITY_CHOICES)
    q.add_argument("file")
    q.set_defaults(handler=cmd_local_export)

    p = sub.add_parser("report", help="the last sync runs")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("trash", help="items syncs deleted or overwrote (kept 30 days)")
    tsub = p.add_subparsers(dest="trash_command", metavar="ACTION", required=True)
    q = tsub.add_parser("list")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_trash_list)
    q = tsub.add_parser("restore")
    q.add_argument("id")
    q.set_defaults(handler=cmd_trash_restore)

    create_cmd.register(sub)
    return parser


def _setup_logging(verbose: bool, log_file: Path | None) -> None:
    from ..logs import setup_file_logging

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    if log_file is not None:
        setup_file_logging(log_file)
    if verbose:
        root.addHandler(logging.StreamHandler(sys.stderr))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_gui(args)
    standalone = getattr(args, "standalone", None)
    if standalone is not None:
        return int(standalone(args))
    from ..client import Client

    try:
        client = Client(args.home)
    except TrayClientError as exc:
        print_error(exc)
        return EXIT_CANNOT_SYNC
    _setup_logging(args.verbose, client.paths.log_file)
    if client.settings_warning:
        # Every command says it (once: the damaged file is moved aside).
        print(f"warning: {client.settings_warning}", file=sys.stderr)
    handler = getattr(args, "handler", None)
    try:
        if handler is None:
            parser.print_usage(sys.stderr)
            return EXIT_USAGE
        return int(handler(client, args))
    except UsageError as exc:
        print_error(exc)
        return EXIT_USAGE
    except StoreError as exc:
        print_error(exc)
        # A refused value or id is a usage error; a damaged or busy database is not.
        return EXIT_CANNOT_SYNC if isinstance(exc, (SyncBusyError, LocalDatabaseError)) \
            else EXIT_USAGE
    except TrayClientError as exc:   # configuration, secrets, the CRM, a sync that stopped
        print_error(exc)
        return EXIT_CANNOT_SYNC
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if client.store_warning:
            print(f"warning: {client.store_warning}", file=sys.stderr)
        client.close()


if __name__ == "__main__":
    sys.exit(main())
