"""``tray-client create …`` and ``tray-client queue …``: the side panel on the command line.

    create lead|opportunity|case --set FIELD=VALUE... [--json] [--queue-only]
    queue list [--json] [--limit N]
    queue drop ID
    queue send [--json]

``FIELD`` is a CRM field name (``name``, ``emails``, ``status`` …); list fields take
comma-separated values or repeated ``--set``. An opportunity's ``account=`` / ``customer=``
(a business customer) takes the record's CRM id, or — while the CRM can be reached — its
exact name. An entry is validated like the side panel's
form, committed to the outbox, then sent at once when the CRM is reachable. Exit codes:
0 sent or queued; 2 bad input; 3 rejected by the CRM (the entry stays in the outbox as
failed: fix it in the side panel, or drop it); 1 ``queue send`` could not reach the CRM.

What this needs of the facade ``Client``: ``outbox()`` (the outbox in the store's
database), ``crm()`` (a CrmClient context manager, or a TrayClientError when not configured /
no API key) and ``settings.url`` (for the record's web link).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from ..errors import CrmError, TrayClientError, error_text
from ..outbox import KINDS, InvalidEntryError, OutboxEntry, OutboxError, web_url
from ..outbox.customers import resolve_by_name
from ..outbox.forms import fetch_forms
from ..outbox.validation import FieldProblem
from .output import (
    EXIT_CANNOT_SYNC,
    EXIT_OK,
    EXIT_RECORD_ERRORS,
    EXIT_USAGE,
    print_error,
    print_json,
)

if TYPE_CHECKING:
    from ..client import Client
    from ..crm import CrmClient


def register(subparsers: Any) -> None:
    """Add the ``create`` and ``queue`` commands to ``subparsers``; each command's handler is
    ``args.handler(client, args) -> exit code``."""

    p = subparsers.add_parser("create", help="create a lead, opportunity or case in the CRM")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", required=True,
                   dest="assignments", help="a CRM field's value (repeatable)")
    p.add_argument("--queue-only", action="store_true",
                   help="only queue it; it is sent with the next sync or `queue send`")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_create)

    p = subparsers.add_parser("queue", help="records waiting to be created in the CRM")
    qsub = p.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    q = qsub.add_parser("list")
    q.add_argument("--json", action="store_true")
    q.add_argument("--limit", type=int, default=50)
    q.set_defaults(handler=cmd_queue_list)
    q = qsub.add_parser("drop")
    q.add_argument("id", type=int)
    q.set_defaults(handler=cmd_queue_drop)
    q = qsub.add_parser("send", help="send the queued records now")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_queue_send)


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["name=Ann", "emails=a@x.org", "emails=b@y.org"]`` -> values; a repeated field
    collects a list. Raises InvalidEntryError for an item without ``=``."""
    values: dict[str, Any] = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidEntryError(f"Expected FIELD=VALUE, got {item!r}.", [])
        if name in values:
            previous = values[name]
            values[name] = (previous if isinstance(previous, list) else [previous]) + [value]
        else:
            values[name] = value
    return values


def _describe(entry: OutboxEntry, base_url: str) -> dict[str, Any]:
    data = entry.as_dict()
    data["url"] = web_url(base_url, entry.kind, entry.crm_id) if entry.crm_id and base_url else None
    return data


def _print_entry(entry: OutboxEntry, base_url: str) -> None:
    line = f"{entry.id}\t{entry.kind}\t{entry.state}"
    if entry.crm_id:
        line += f"\tCRM id {entry.crm_id}"
        if base_url:
            line += f"\t{web_url(base_url, entry.kind, entry.crm_id)}"
    print(line)
    if entry.message:
        print(f"  {entry.message}")
    for field_name, message in entry.field_errors.items():
        print(f"  {field_name}: {message}")


def _open_crm(client: Client, stack: ExitStack) -> tuple[CrmClient | None, str | None]:
    """(CrmClient, None) when configured, else (None, why not)."""
    try:
        crm = stack.enter_context(client.crm())
    except TrayClientError as exc:
        return None, error_text(exc)
    return crm, None


def cmd_create(client: Client, args: argparse.Namespace) -> int:
    """Validate, queue and (unless ``--queue-only``) send one record."""
    try:
        values = parse_assignments(args.assignments)
    except InvalidEntryError as exc:
        print_error(exc)
        return EXIT_USAGE
    base_url = client.settings.url
    with ExitStack() as stack:
        crm: CrmClient | None
        crm, why_not = (None, "not sent (--queue-only)") if args.queue_only else \
            _open_crm(client, stack)
        # The CRM's own layouts and enum lists when reachable: validated like the side panel.
        forms = None
        if crm is not None:
            forms, offline = fetch_forms(crm)
            if offline is not None:
                crm, why_not = None, f"not sent: {offline.title}: {offline.message}"
        outbox = client.outbox(forms)
        try:
            if crm is not None and args.kind == "opportunity":
                values = _named_customers(crm, values)
            entry = outbox.add(args.kind, values)
        except InvalidEntryError as exc:
            if args.json:
                print_json({"error": exc.title,
                             "problems": [p.as_dict() for p in exc.problems]})
            else:
                print(f"{exc.title}:", file=sys.stderr)
                for problem in exc.problems:
                    print(f"  {problem.field}: {problem.message}", file=sys.stderr)
            return EXIT_USAGE
        if crm is not None:
            sent = outbox.send_pending(crm, ids=[entry.id])
            entry = sent[0] if sent else outbox.get(entry.id) or entry
        elif why_not and not args.json:
            print(f"Queued; {why_not}", file=sys.stderr)
    if args.json:
        print_json(_describe(entry, base_url))
    else:
        _print_entry(entry, base_url)
    return EXIT_RECORD_ERRORS if entry.state == "failed" else EXIT_OK


# field given -> (record type, the form field it fills)
_CUSTOMER_FIELDS = {"account": "accounts", "customer": "b2bcustomers"}


def _named_customers(crm: CrmClient, values: dict[str, Any]) -> dict[str, Any]:
    """``account=Acme Corp`` / ``customer=Acme Retail`` given by name: the record's reference.
    Raises InvalidEntryError when no single record has that name."""
    result = dict(values)
    for name, type_name in _CUSTOMER_FIELDS.items():
        value = result.get(name)
        if not isinstance(value, str) or not value.strip() or value.strip().isdigit() \
                or ":" in value:
            continue
        try:
            choice = resolve_by_name(crm, type_name, value)
        except LookupError as exc:
            raise InvalidEntryError(str(exc), [FieldProblem(name, str(exc))]) from None
        except CrmError as exc:
            problem = f"Cannot look {value!r} up in the CRM: {exc.title}. Give the id."
            raise InvalidEntryError(problem, [FieldProblem(name, problem)]) from None
        result.pop(name)
        result["account"] = choice.as_value()
    return result


def cmd_queue_list(client: Client, args: argparse.Namespace) -> int:
    """Print the outbox, newest first."""
    outbox = client.outbox()
    entries = outbox.list(limit=args.limit)
    base_url = client.settings.url
    if args.json:
        print_json([_describe(entry, base_url) for entry in entries])
        return EXIT_OK
    if not entries:
        print("The outbox is empty.")
    for entry in entries:
        print(f"{entry.id}\t{entry.kind}\t{entry.state}\t{entry.crm_id or '-'}\t{entry.title}")
        if entry.state != "sent" and entry.message:
            print(f"  {entry.message}")
    return EXIT_OK


def cmd_queue_drop(client: Client, args: argparse.Namespace) -> int:
    """Remove one entry."""
    outbox = client.outbox()
    try:
        outbox.drop(args.id)
    except OutboxError as exc:
        print_error(exc)
        return EXIT_USAGE
    print(f"Dropped {args.id}.")
    return EXIT_OK


def cmd_queue_send(client: Client, args: argparse.Namespace) -> int:
    """Send every queued entry now; 3 when the CRM rejected some, 1 when unreachable."""
    outbox = client.outbox()
    base_url = client.settings.url
    with ExitStack() as stack:
        crm, why_not = _open_crm(client, stack)
        if crm is None:
            print(why_not, file=sys.stderr)
            return EXIT_CANNOT_SYNC
        results = outbox.send_pending(crm)
    if args.json:
        print_json([_describe(entry, base_url) for entry in results])
    else:
        if not results:
            print("Nothing to send.")
        for entry in results:
            _print_entry(entry, base_url)
    if any(entry.state == "failed" for entry in results):
        return EXIT_RECORD_ERRORS
    if any(entry.state == "queued" for entry in results):
        return EXIT_CANNOT_SYNC
    return EXIT_OK
