"""Page-fetch throughput from the reference server: plain httpx vs. the CRM client.

    python benchmarks/bench_fetch.py [--records N] [--page-sizes 100,500,1000]

Starts the reference server on loopback with N bulk contacts (default 100,000), then for each
page size walks the whole collection three ways and prints records per second:

- ``raw httpx``: one keep-alive httpx.Client, WSSE headers, ``json.loads`` of each page —
  the floor any client pays;
- ``iter_collection``: the client's page-number walk (parsing into ``Resource`` objects);
- ``iter_changed``: the keyset walk the sync engine uses (re-queries from its cursor).

The overhead column is the client's extra time relative to raw httpx.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tray_client.crm import CrmClient  # noqa: E402
from tray_client.crm.wsse import WsseSigner  # noqa: E402
from tray_client.devserver.testing import RunningServer  # noqa: E402

USER, KEY = "admin", "bench-api-key"


def raw_walk(url: str, page_size: int) -> int:
    """Every contact, page by page, with nothing but httpx and json; returns the count."""
    signer = WsseSigner(USER, KEY)
    count, number = 0, 1
    with httpx.Client(headers={"Accept": "application/vnd.api+json"}, timeout=60) as http:
        while True:
            response = http.get(f"{url}/api/contacts", headers=signer.headers(), params={
                "sort": "updatedAt,id", "page[size]": page_size, "page[number]": number})
            response.raise_for_status()
            body = json.loads(response.content)
            count += len(body["data"])
            if not body.get("links", {}).get("next"):
                return count
            number += 1


def client_walk(url: str, page_size: int, keyset: bool) -> int:
    with CrmClient(url, USER, KEY, timeout=60) as crm:
        walk = (crm.iter_changed("contacts", None, page_size=page_size) if keyset
                else crm.iter_collection("contacts", page_size=page_size))
        return sum(1 for _ in walk)


def timed(fn, *args) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    count = fn(*args)
    return count, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-sizes", default="100,500,1000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.page_sizes.split(",")]

    with tempfile.TemporaryDirectory() as tmp, RunningServer(
            db_path=Path(tmp) / "bench.db", user=USER, api_key=KEY) as server:
        start = time.perf_counter()
        server.admin.bulk_contacts(args.records)
        print(f"reference server {server.url}: {args.records:,} contacts loaded in "
              f"{time.perf_counter() - start:.1f} s")
        header = (f"{'page size':>9} | {'raw httpx rec/s':>15} | {'iter_collection rec/s':>21} "
                  f"| {'overhead':>8} | {'iter_changed rec/s':>18} | {'overhead':>8}")
        print(header)
        print("-" * len(header))
        for size in sizes:
            n_raw, t_raw = timed(raw_walk, server.url, size)
            n_col, t_col = timed(client_walk, server.url, size, False)
            n_key, t_key = timed(client_walk, server.url, size, True)
            assert n_raw == n_col == n_key == args.records, (n_raw, n_col, n_key)
            print(f"{size:>9} | {n_raw / t_raw:>15,.0f} | {n_col / t_col:>21,.0f} | "
                  f"{(t_col / t_raw - 1) * 100:>7.0f}% | {n_key / t_key:>18,.0f} | "
                  f"{(t_key / t_raw - 1) * 100:>7.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
