"""Sync at CRM scale: the reference server with 100,000 contacts (its bulk loader), a fresh
local store, and the real engine.

    python benchmarks/bench_sync.py [--contacts N] [--repeat 2]

Prints a table: the raw page-fetch floor (plain httpx + ``json.loads`` of every page the
initial sync needs: 1,000 contacts per page with their addresses, the floor any client pays),
the CRM client's own walk of the same records (``iter_changed``, parsed into resources, as
the engine reads them), the initial sync (records/s, its ratio to the floor, and the client
process's CPU time), a no-op sync, 100 changes on each side, a first sync into a store that
already holds every contact (all linked by key), and the peak RSS of this (client) process.
The server runs in its own process so that its memory and CPU are not counted as the
client's. The floors are the best of ``--repeat`` walks.

Targets: initial sync >= 5,000 records/s and within 1.3x of the floor; no-op <= 0.5 s;
100+100 changes <= 1 s; peak RSS <= 200 MB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_fetch import raw_walk

from tray_client.crm import CrmClient
from tray_client.devserver.database import Database
from tray_client.devserver.demo import bulk_contacts
from tray_client.devserver.testing import DEFAULT_API_KEY
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import SyncEngine

USER = "admin"


def start_server(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tray_client.devserver.cli import main; main()",
         "--db", str(db), "--user", USER, "--log-level", "error"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().split()[-1]
    return proc, url


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    n = args.contacts
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    db = work / "crm.db"
    t = time.perf_counter()
    bulk_contacts(Database(db, username=USER), n)
    load_s = time.perf_counter() - t
    server, url = start_server(db)
    rows: list[tuple[str, str, str]] = []
    try:
        crm = CrmClient(url, USER, DEFAULT_API_KEY)
        crm.configuration()  # warm the connection

        def best(walk: Callable[[], int]) -> float:
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                fetched = walk()
                times.append(time.perf_counter() - t)
                assert fetched == n, fetched
            return min(times)

        floor_s = best(lambda: raw_walk(url, 1000, user=USER, key=DEFAULT_API_KEY,
                                        include="addresses"))
        rows.append(("raw page fetch (httpx + json.loads)", f"{floor_s:.2f} s",
                     f"{n / floor_s:,.0f} records/s: the floor"))
        walk_s = best(lambda: sum(1 for _ in crm.iter_changed(
            "contacts", None, include=("addresses",), page_size=1000)))
        rows.append(("client walk (iter_changed, parsed)", f"{walk_s:.2f} s",
                     f"{n / walk_s:,.0f} records/s, {walk_s / floor_s:.2f}x the floor"))

        store = LocalStore(work / "local.db")
        engine = SyncEngine(store, crm, Settings())
        t, cpu = time.perf_counter(), time.process_time()
        result = engine.run(entities=["contacts"])
        initial_s, initial_cpu = time.perf_counter() - t, time.process_time() - cpu
        assert result.outcome == "ok", result.message
        assert result.count("contacts", "local", "created") == n
        rows.append(("initial sync", f"{initial_s:.2f} s",
                     (f"{n / initial_s:,.0f} records/s, {initial_s / floor_s:.2f}x the floor "
                      "(target >= 5,000/s, <= 1.3x)")))
        rows.append(("  client CPU during it", f"{initial_cpu:.2f} s",
                     f"{initial_cpu / n * 1e6:.0f} us/record, both threads"))

        t = time.perf_counter()
        # As the scheduler runs it (a manual sync also lists every id: bench_noop.py).
        result = SyncEngine(store, crm, Settings()).run(entities=["contacts"], trigger="interval")
        noop_s = time.perf_counter() - t
        assert result.changes == 0, result.counts
        rows.append(("no-op sync", f"{noop_s:.2f} s", "target <= 0.5 s"))

        # 100 changes on each side (set up outside the timing).
        items = []
        for item in store.iter_items("contacts"):
            items.append(item)
            if len(items) == 200:
                break
        for item in items[:100]:
            store.update(item.id, {"job_title": "Changed locally"})
        for item in items[100:]:
            crm.update("contacts", item.crm_id, {"jobTitle": "Changed in the CRM"})
        t = time.perf_counter()
        result = SyncEngine(store, crm, Settings()).run(entities=["contacts"])
        changes_s = time.perf_counter() - t
        assert result.outcome == "ok", result.message
        assert result.count("contacts", "crm", "updated") == 100, result.counts
        assert result.count("contacts", "local", "updated") == 100, result.counts
        rows.append(("100 changes on each side", f"{changes_s:.2f} s", "target <= 1 s"))

        # A first sync into an address book that already holds the same people (the usual
        # first run): every record is linked by key to its local item, none is created.
        matched = LocalStore(work / "matched.db")
        matched.bulk_add("contacts", ({"first_name": "Bulk", "last_name": f"Contact {i}",
                                       "emails": [f"bulk{i}@example.com"]}
                                      for i in range(1, n + 1)))
        t = time.perf_counter()
        result = SyncEngine(matched, crm, Settings()).run(entities=["contacts"])
        matched_s = time.perf_counter() - t
        assert result.outcome == "ok", result.message
        assert result.count("contacts", "local", "created") == 0, result.counts
        assert matched.connection.execute("SELECT count(*) FROM sync_links").fetchone()[0] == n
        rows.append(("first sync, all matched by key", f"{matched_s:.2f} s",
                     f"{n / matched_s:,.0f} records/s (no target)"))
        matched.close()
        rows.append(("peak RSS (client process)", f"{peak_rss_mb():.0f} MB", "target <= 200 MB"))
        crm.close()
        store.close()
    finally:
        server.terminate()
        server.wait()
    print(f"\nSync benchmark: {n:,} contacts (server bulk load {load_s:.1f} s)\n")
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'time':>9}  notes")
    for name, value, note in rows:
        print(f"{name:{width}}  {value:>9}  {note}")


if __name__ == "__main__":
    main()
