"""Page-fetch throughput from the reference server: plain httpx vs. the CRM client.

    python benchmarks/bench_fetch.py [--records N] [--page-sizes 100,500,1000] [--repeat 3]

Starts the reference server on loopback with N bulk contacts (default 100,000), then for each
page size walks the whole collection three ways and prints records per second:

- ``raw httpx``: one keep-alive httpx.Client, WSSE headers, ``json.loads`` of each page —
  the floor any client pays;
- ``iter_collection``: the client's page-number walk (parsing into ``Resource`` objects);
- ``iter_changed``: the keyset walk the sync engine uses (re-queries from its cursor).

The overhead columns are the client's extra wall time relative to raw httpx; ``parse
µs/rec`` is the CPU time JSON:API parsing adds per record on top of ``json.loads``, measured
on pages fetched once, so it does not depend on the network or on other load. Each cell is the best
of ``--repeat`` runs (default 3).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tray_client.crm import CrmClient
from tray_client.crm.jsonapi import parse_document
from tray_client.crm.wsse import WsseSigner
from tray_client.devserver.testing import RunningServer

USER, KEY = "admin", "bench-api-key"


def raw_walk(url: str, page_size: int, *, user: str = USER, key: str = KEY,
             include: str = "") -> int:
    """Every contact, page by page, with nothing but httpx and json; returns the count."""
    signer = WsseSigner(user, key)
    count, number = 0, 1
    extra = {"include": include} if include else {}
    with httpx.Client(headers={"Accept": "application/vnd.api+json"}, timeout=60) as http:
        while True:
            response = http.get(f"{url}/api/contacts", headers=signer.headers(), params={
                "sort": "updatedAt,id", "page[size]": page_size, "page[number]": number,
                **extra})
            response.raise_for_status()
            body = json.loads(response.content)
            count += len(body["data"])
            if not body.get("links", {}).get("next"):
                return count
            number += 1


def parse_cost(url: str, page_size: int, pages: int = 20) -> float:
    """CPU microseconds per record that JSON:API parsing adds to ``json.loads`` alone,
    measured on up to ``pages`` pages fetched once (immune to network and server noise)."""
    signer = WsseSigner(USER, KEY)
    bodies = []
    with httpx.Client(headers={"Accept": "application/vnd.api+json"}, timeout=60) as http:
        for number in range(1, pages + 1):
            response = http.get(f"{url}/api/contacts", headers=signer.headers(), params={
                "sort": "updatedAt,id", "page[size]": page_size, "page[number]": number})
            bodies.append(response.content)
            if not json.loads(response.content).get("links", {}).get("next"):
                break
    records = sum(len(json.loads(b)["data"]) for b in bodies)
    start = time.process_time()
    for body in bodies:
        json.loads(body)
    plain = time.process_time() - start
    start = time.process_time()
    for body in bodies:
        parse_document(json.loads(body))
    parsed = time.process_time() - start
    return max(0.0, parsed - plain) / records * 1e6


def client_walk(url: str, page_size: int, keyset: bool) -> int:
    with CrmClient(url, USER, KEY, timeout=60) as crm:
        walk = (crm.iter_changed("contacts", None, page_size=page_size) if keyset
                else crm.iter_collection("contacts", page_size=page_size))
        return sum(1 for _ in walk)


def timed(repeat: int, fn, *args) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Best of ``repeat`` runs: the machine is shared, the fastest run is the least disturbed."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = fn(*args)
        best = min(best, time.perf_counter() - start)
    return count, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-sizes", default="100,500,1000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the best counts")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.page_sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp, RunningServer(
            db_path=Path(tmp) / "bench.db", user=USER, api_key=KEY) as server:
        start = time.perf_counter()
        # Like a real CRM, records carry many different updatedAt values (a new second every
        # 50 records) rather than one giant tie group.
        base = datetime(2026, 1, 1, tzinfo=UTC)
        for done in range(0, args.records, 50):
            server.admin.freeze_time((base + timedelta(seconds=done // 50)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"))
            server.admin.bulk_contacts(min(50, args.records - done))
        server.admin.freeze_time(None)
        print(f"reference server {server.url}: {args.records:,} contacts loaded in "
              f"{time.perf_counter() - start:.1f} s")
        header = (f"{'page size':>9} | {'raw httpx rec/s':>15} | {'iter_collection rec/s':>21} "
                  f"| {'overhead':>8} | {'iter_changed rec/s':>18} | {'overhead':>8} "
                  f"| {'parse µs/rec':>12}")
        print(header)
        print("-" * len(header))
        for size in sizes:
            n_raw, t_raw = timed(args.repeat, raw_walk, server.url, size)
            n_col, t_col = timed(args.repeat, client_walk, server.url, size, False)
            n_key, t_key = timed(args.repeat, client_walk, server.url, size, True)
            assert n_raw == n_col == n_key == args.records, (n_raw, n_col, n_key)
            print(f"{size:>9} | {n_raw / t_raw:>15,.0f} | {n_col / t_col:>21,.0f} | "
                  f"{(t_col / t_raw - 1) * 100:>7.0f}% | {n_key / t_key:>18,.0f} | "
                  f"{(t_key / t_raw - 1) * 100:>7.0f}% | {parse_cost(server.url, size):>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
