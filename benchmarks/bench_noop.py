"""No-op interval syncs at 100,000 contacts against the strict reference server (as real Oro
6.0: no removals feed, no Outlook section), averaged over many runs.

    python benchmarks/bench_noop.py [--contacts N] [--runs 60]

The server runs in its own process with N bulk contacts; the client makes its first sync,
then ``--runs`` interval pulls and ``--runs`` interval pushes with nothing changed on either
side (every entity, as the tray app's scheduler runs them: configuration read, the
deletions check, the pull or push), then one manual sync (a full look at both sides' ids,
on demand). It prints the mean, median and worst time of each, and how many runs listed the
ids (the full listing that the count check avoids). Asserts that no run changed anything.

Target: no-op interval sync <= 0.5 s on average over 60 runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sync import USER, start_server

from tray_client.crm import CrmClient
from tray_client.devserver.database import Database
from tray_client.devserver.demo import bulk_contacts
from tray_client.devserver.testing import DEFAULT_API_KEY
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import SyncEngine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    n = args.contacts
    work = Path(tempfile.mkdtemp(prefix="bench-noop-"))
    db = work / "crm.db"
    bulk_contacts(Database(db, username=USER), n)
    server, url = start_server(db)
    listings: list[str] = []
    rows: list[tuple[str, list[float], int]] = []
    try:
        crm = CrmClient(url, USER, DEFAULT_API_KEY)
        iter_ids = crm.iter_ids

        def counted_iter_ids(type: str, **kwargs):  # type: ignore[no-untyped-def]
            listings.append(type)
            return iter_ids(type, **kwargs)

        crm.iter_ids = counted_iter_ids  # type: ignore[method-assign]
        store = LocalStore(work / "local.db")
        t = time.perf_counter()
        result = SyncEngine(store, crm, Settings()).run()
        first_s = time.perf_counter() - t
        assert result.outcome == "ok", result.message
        assert result.count("contacts", "local", "created") == n
        for phase in ("pull", "push"):
            times = []
            listings.clear()
            for _ in range(args.runs):
                t = time.perf_counter()
                result = SyncEngine(store, crm, Settings()).run(phase=phase, trigger="interval")
                times.append(time.perf_counter() - t)
                assert result.outcome == "ok" and result.changes == 0, (result.message,
                                                                        result.counts)
            rows.append((f"no-op interval {phase}", times, len(listings)))
        listings.clear()
        t = time.perf_counter()
        result = SyncEngine(store, crm, Settings()).run(trigger="manual")
        manual = [time.perf_counter() - t]
        assert result.outcome == "ok" and result.changes == 0, result.counts
        rows.append(("no-op manual sync (full ids look)", manual, len(listings)))
        crm.close()
        store.close()
    finally:
        server.terminate()
        server.wait()
    print(f"\nNo-op syncs: {n:,} contacts, strict server (no removals feed, no Outlook "
          f"section); first sync {first_s:.1f} s\n")
    print(f"{'measure':36} {'runs':>4} {'mean':>8} {'median':>8} {'worst':>8}  ids listed")
    for name, times, listed in rows:
        print(f"{name:36} {len(times):>4} {statistics.mean(times):>7.3f}s "
              f"{statistics.median(times):>7.3f}s {max(times):>7.3f}s  {listed}")
    print("\ntarget: no-op interval sync <= 0.5 s on average over 60 runs")


if __name__ == "__main__":
    main()
