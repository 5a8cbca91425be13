"""How the command line answers: exit codes, JSON, errors and a sync's summary.

Exit codes (DESIGN §9, a stable contract): 0 success; 1 the run could not sync (connection,
auth, TLS, config, a damaged or too new local database; for ``queue send``: the CRM could not
be reached); 2 usage or bad input; 3 the run finished but some records failed (for ``create``
and ``queue send``: the CRM rejected an entry); 130 stopped by Ctrl+C.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import error_text

if TYPE_CHECKING:
    from ..sync import SyncResult

EXIT_OK = 0
EXIT_CANNOT_SYNC = 1
EXIT_USAGE = 2
EXIT_RECORD_ERRORS = 3
EXIT_INTERRUPTED = 130   # Ctrl+C, as shells report it


def print_json(data: Any) -> None:
    """``data`` as indented JSON on standard output (values JSON lacks as text)."""
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def print_json_array(values: Iterable[Any]) -> None:
    """Print a JSON array exactly as ``print_json`` prints a list, one element at a time,
    so that a long listing needs no more memory than one element."""
    write, opened = sys.stdout.write, False
    for value in values:
        text = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)
        write(",\n  " if opened else "[\n  ")
        write(text.replace("\n", "\n  "))  # JSON strings carry no raw newline
        opened = True
    write("\n]\n" if opened else "[]\n")


def print_error(exc: BaseException) -> None:
    """"Title: message" on standard error."""
    print(error_text(exc), file=sys.stderr)


def print_result(result: SyncResult) -> None:
    """A sync's outcome and its counts per entity, as ``sync`` and ``report`` print them."""
    data = result.as_dict()
    print(f"Sync {data['outcome']}: {data.get('message') or ''}".rstrip(": "))
    for entity, sides in (data.get("counts") or {}).items():
        parts = []
        for side in ("local", "crm"):
            c = sides.get(side, {})
            parts.append(f"{side}: +{c.get('created', 0)} ~{c.get('updated', 0)} "
                         f"-{c.get('deleted', 0)}")
        print(f"  {entity:9} " + "  ".join(parts))
    if data.get("conflicts"):
        print(f"  {len(data['conflicts'])} conflict(s) decided (see `tray-client report`)")
    for err in data.get("errors") or []:
        print(f"  error: {err.get('entity', '')} {err.get('name', '')}: {err.get('message', '')}")


def exit_code(result: SyncResult) -> int:
    """The exit code of a finished run: 0 ok (or cancelled), 3 partial, else 1."""
    from ..sync import Outcome  # lazy: the CLI starts without the sync engine

    outcome = result.outcome
    if outcome in (Outcome.OK, Outcome.CANCELLED):
        return EXIT_OK
    if outcome == Outcome.PARTIAL:
        return EXIT_RECORD_ERRORS
    return EXIT_CANNOT_SYNC
