"""The client side of bench_sync.py: one measurement in a process of its own, as a user runs
the client (the tray app or the CLI are this process, with their own memory and CPU).

    python benchmarks/bench_client.py --home DIR --url URL COMMAND [options]

Commands (each prints one JSON line with what it measured):

- ``sync [--entity E]... [--phase both|pull|push] [--trigger manual|interval] [--runs K]``:
  K syncs through the ``Client`` facade (``Client.sync``, what the tray app's scheduler and
  ``tray-client sync`` call), each timed; asserts that interval runs (the no-op
  measurements) change nothing.
- ``changes --entity E [--count 100]``: COUNT local edits and COUNT CRM edits (outside the
  timing), then one timed interval sync of that entity; asserts COUNT updates each way. Done
  twice: the first sync of this process (``seconds``) and, after the cursor's second has
  passed, one in a process that has synced before (``warm_seconds``), as the tray app's
  sync process runs its interval syncs.
- ``clone --source DIR [--shuffle SEED]``: the contacts of the store under DIR copied,
  unlinked, into this home's store (the address book a user has before the first sync;
  not timed), in their order or shuffled.

Every line carries ``cpu_s`` (user + system CPU of this process during the measured part),
``peak_rss_mb`` (the process's peak resident set since it started, imports included),
``worker_cpu_s`` and ``worker_peak_rss_mb`` (the same of the page workers a large pull
starts, ``tray_client.sync.pages``; 0 without one) and ``seconds`` (the wall time of each
run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tray_client.client import Client
from tray_client.devserver.testing import DEFAULT_API_KEY

USER = "admin"
# What an edit changes, per entity: (local field, CRM type, CRM attribute).
EDITS = {"contacts": ("job_title", "contacts", "jobTitle"),
         "tasks": ("subject", "tasks", "subject"),
         "events": ("subject", "calendarevents", "title")}


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: ru_maxrss would also count the pages of the
    process that started this one)."""
    return vmhwm_mb("self")


def vmhwm_mb(pid: int | str) -> float:
    """A process's peak resident set (``VmHWM``), MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


# The page workers' CPU and peak resident set, read from /proc just before each is stopped
# (a large pull decodes its pages in one: tray_client.sync.pages).
WORKERS: list[tuple[float, float]] = []


def _watch_page_workers() -> None:
    from tray_client.sync import pages

    stop = pages.PageWorker._stop

    def watched(self: Any, *, kill: bool) -> None:
        process = self._process
        if process is not None:
            try:
                stat = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
                WORKERS.append(((int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"),
                                vmhwm_mb(process.pid)))
            except (OSError, IndexError, ValueError):
                pass
        stop(self, kill=kill)

    pages.PageWorker._stop = watched  # type: ignore[method-assign]


def client_for(home: Path, url: str) -> Client:
    client = Client(home)
    if client.settings.url != url:
        settings = client.settings
        settings.url, settings.user = url, USER
        client.save_settings(settings)
    return client


def sync(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    seconds: list[float] = []
    cpu = time.process_time()
    result = None
    for _ in range(args.runs):
        t = time.perf_counter()
        result = client.sync(entities=args.entity or None, phase=args.phase,
                             trigger=args.trigger)
        seconds.append(time.perf_counter() - t)
        assert result.outcome == "ok", (result.outcome, result.message)
        if args.trigger == "interval":  # the no-op runs: nothing may change
            assert result.changes == 0, result.counts
    assert result is not None
    return {"seconds": seconds, "cpu_s": time.process_time() - cpu, "counts": result.counts}


def changes(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    """Two rounds of COUNT local + COUNT CRM edits and one timed interval sync each: the
    first in this new process (``seconds``, as ``tray-client sync`` runs), the second in a
    process that has synced before (``warm_seconds``: the tray app's sync process, kept for
    its interval runs, has its modules and place names loaded)."""
    entity, count = args.entity[0], args.count
    field, crm_type, attribute = EDITS[entity]
    store = client.store
    items = []
    for item in store.iter_items(entity):
        if item.crm_id:
            items.append(item)
        if len(items) == 2 * count:
            break
    measured: dict[str, Any] = {}
    for round, key in enumerate(("seconds", "warm_seconds")):
        if round:
            # Past the second the cursor re-reads (docs/sync-rules.md, Incremental runs),
            # as between two interval runs, so that this round's pull reads its own edits.
            time.sleep(2.1)
            client.sync(entities=[entity], phase="both", trigger="interval")
        stamp = f"{time.strftime('%H%M%S')}.{round}"
        for item in items[:count]:
            store.update(item.id, {field: f"Changed locally {stamp}"})
        with client.crm() as crm:
            for item in items[count:]:
                crm.update(crm_type, item.crm_id, {attribute: f"Changed in the CRM {stamp}"})
        cpu = time.process_time()
        t = time.perf_counter()
        result = client.sync(entities=[entity], phase="both", trigger="interval")
        measured[key] = [time.perf_counter() - t]
        measured["cpu_s" if not round else "warm_cpu_s"] = time.process_time() - cpu
        assert result.outcome == "ok", (result.outcome, result.message)
        assert result.count(entity, "crm", "updated") == count, result.counts
        assert result.count(entity, "local", "updated") == count, result.counts
        measured["counts"] = result.counts
    return measured


def clone(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    # The synced store holds no birthdays (Sync Birthdays is off by default), which keeps
    # the birthday in the contacts' key (docs/sync-rules.md): a user's own address book has
    # them, so they are taken from the CRM.
    with client.crm() as crm:
        birthdays = {r.id: r.attributes.get("birthday") for r in crm.iter_collection(
            "contacts", sort="id", page_size=1000, fields=["birthday"])}
    source = Client(args.source)
    fields: Iterable[dict[str, Any]] = (
        {**item.fields, "birthday": birthdays.get(item.crm_id or "")}
        for item in source.store.iter_items("contacts"))
    if args.shuffle is not None:
        # An address book made in another order than the CRM's records were last
        # changed in (a user's own, imported): the sync meets its items out of order.
        fields = list(fields)
        random.Random(args.shuffle).shuffle(fields)
    ids = client.store.bulk_add("contacts", fields)
    source.close()
    return {"seconds": [], "cpu_s": 0.0, "items": len(ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("command", choices=("sync", "changes", "clone"))
    parser.add_argument("--entity", action="append", default=[])
    parser.add_argument("--phase", default="both")
    parser.add_argument("--trigger", default="manual")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--shuffle", type=int, help="clone: the items in an order shuffled "
                        "with this seed")
    args = parser.parse_args()
    os.environ.setdefault("TRAY_CLIENT_API_KEY", DEFAULT_API_KEY)
    _watch_page_workers()
    client = client_for(args.home, args.url)
    try:
        measured = {"sync": sync, "changes": changes, "clone": clone}[args.command](client, args)
    finally:
        client.close()
    measured["peak_rss_mb"] = peak_rss_mb()
    measured["worker_cpu_s"] = sum(cpu for cpu, _ in WORKERS)
    measured["worker_peak_rss_mb"] = max((rss for _, rss in WORKERS), default=0.0)
    print(json.dumps(measured), flush=True)


if __name__ == "__main__":
    main()
