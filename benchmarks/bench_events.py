"""Calendar events at scale over Oro's REST API: the reference server with N events in the
user's calendar (default 20,000; one in seven all-day), a fresh local store, the real engine.

    python benchmarks/bench_events.py [--events N] [--noop 5]

Prints: the raw REST walk (plain httpx + ``json.loads`` of every ``page``/``limit`` page the
initial sync reads, the floor any client pays), the initial sync (records/s), the no-op sync
(the mean of ``--noop`` interval runs: a changed-since read and the deletion check), and the
peak RSS of this (client) process. The server runs in its own process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tray_client.crm import CrmClient
from tray_client.crm.rest_events import PAGE_SIZE
from tray_client.crm.wsse import WsseSigner
from tray_client.devserver.database import Database
from tray_client.devserver.testing import DEFAULT_API_KEY
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import SyncEngine

USER = "admin"


def bulk_events(db: Path, n: int) -> None:
    """N events in user 1's calendar, stamped a second apart (one SQL transaction)."""
    Database(db, username=USER).close()
    rng = random.Random(14)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        day = base + dt.timedelta(days=rng.randrange(-60, 120))
        if i % 7 == 3:
            start, end = day, day + dt.timedelta(days=1)
            all_day = True
        else:
            start = day + dt.timedelta(hours=rng.randrange(7, 18))
            end = start + dt.timedelta(minutes=rng.choice((30, 60, 90)))
            all_day = False
        stamp = (base + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        attributes = {"title": f"Meeting {i}", "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "allDay": all_day,
                      "uid": f"bench-{i}"}
        rows.append((json.dumps(attributes),
                     json.dumps({"calendar": {"type": "calendars", "id": "1"}}), "1", stamp,
                     stamp))
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany("INSERT INTO calendarevents (attributes, relationships, calendar,"
                         " created_at, updated_at) VALUES (?,?,?,?,?)", rows)
    conn.close()


def start_server(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tray_client.devserver.cli import main; main()",
         "--db", str(db), "--user", USER, "--log-level", "error"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip().split()[-1]


def raw_walk(url: str, n: int) -> float:
    """Every page the initial sync reads, fetched and decoded with nothing else."""
    signer = WsseSigner(USER, DEFAULT_API_KEY)
    t = time.perf_counter()
    with httpx.Client(timeout=60) as http:
        seen, page = 0, 1
        while True:
            answer = http.get(f"{url}/api/rest/latest/calendarevents",
                              params={"calendar": "1", "page": str(page),
                                      "limit": str(PAGE_SIZE)},
                              headers={**signer.headers(), "Accept": "application/json"})
            events = json.loads(answer.content)
            seen += len(events)
            if len(events) < PAGE_SIZE:
                break
            page += 1
    assert seen == n, (seen, n)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--noop", type=int, default=5)
    args = parser.parse_args()
    n = args.events
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    db = work / "crm.db"
    bulk_events(db, n)
    server, url = start_server(db)
    rows: list[tuple[str, str]] = []
    try:
        floor = min(raw_walk(url, n) for _ in range(2))
        rows.append(("raw REST walk (floor)", f"{floor:.2f} s, {n / floor:,.0f} records/s"))
        store = LocalStore(work / "local.db")
        crm = CrmClient(url, USER, DEFAULT_API_KEY)
        settings = Settings()
        t = time.perf_counter()
        result = SyncEngine(store, crm, settings).run(entities=["events"])
        initial = time.perf_counter() - t
        assert result.outcome == "ok", result.message
        assert store.count("events") == n, store.count("events")
        speed = f"{n / initial:,.0f} records/s, {initial / floor:.1f}x the floor"
        rows.append(("initial sync", f"{initial:.2f} s, {speed}"))
        times = []
        for _ in range(args.noop):
            t = time.perf_counter()
            result = SyncEngine(store, crm, settings).run(entities=["events"],
                                                          trigger="interval")
            times.append(time.perf_counter() - t)
            assert result.outcome == "ok" and result.changes == 0, result.as_dict()
        rows.append((f"no-op sync (mean of {args.noop} interval runs)",
                     f"{sum(times) / len(times):.3f} s (first {times[0]:.3f} s)"))
        rows.append(("peak RSS (client)",
                     f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"))
        crm.close()
        store.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    width = max(len(r[0]) for r in rows)
    print(f"events: {n:,}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
