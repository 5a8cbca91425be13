"""Where a first sync's time goes, per record: the parts of the pull measured one by one.

    python benchmarks/bench_pull_costs.py [--records 100000] [--sample 20000]

Two tables:

1. The SQL write floor of a first sync: items, links and report rows inserted with
   ``executemany``, 500 records per transaction (as the engine commits), into a store of
   ``--records`` contacts, once with random item ids (UUIDv4) and once with time-ordered ones
   (UUIDv7, what the store uses). Values are prepared beforehand: this is SQLite's share only.
2. The client's CPU per record for each step of the pull, on ``--sample`` contacts fetched
   from the reference server once: page parsing, ``from_crm``, ``to_local``,
   ``normalize_fields``, the JSON of the fields and of the base.

benchmarks/README.md reads these against the 1.3x target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from uuid_utils import uuid7

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_sync import fetch_pages, step_costs

from tray_client.devserver.testing import RunningServer
from tray_client.store import LocalStore
from tray_client.sync.state import SyncState

USER = "admin"
BATCH = 500
ITEM_SQL = ("INSERT INTO items (id, entity, crm_id, crm_sync, fields, created_at, updated_at,"
            " rev, search) VALUES (?,?,?,?,?,?,?,?,?)")
LINK_SQL = ("INSERT INTO sync_links (entity, item_id, crm_id, base, crm_updated_at, synced_rev)"
            " VALUES (?,?,?,?,?,?)")
REPORT_SQL = ("INSERT INTO sync_report (run_id, entity, item_id, crm_id, name, action,"
              " direction, status, message) VALUES (?,?,?,?,?,?,?,?,?)")


def sql_floor(n: int, new_id: Callable[[], str]) -> float:
    """Seconds to write n first-sync records (items + links + report rows)."""
    fields = json.dumps({"first_name": "Bulk", "last_name": "Contact 12345",
                         "emails": ["bulk12345@example.com"]}, separators=(",", ":"))
    base = json.dumps({"emails": ["bulk12345@example.com"], "first_name": "Bulk",
                       "last_name": "Contact 12345", "job_title": None, "notes": None},
                      separators=(",", ":"))
    with tempfile.TemporaryDirectory() as folder:
        store = LocalStore(Path(folder) / "local.db")
        state = SyncState(store.connection)
        with store.transaction():
            state.migrate()
        start = time.perf_counter()
        for first in range(0, n, BATCH):
            ids = [new_id() for _ in range(BATCH)]
            crm = [str(first + i) for i in range(BATCH)]
            now = "2026-11-26T01:00:00.000000+00:00"
            with store.transaction() as conn:
                conn.executemany(ITEM_SQL, [(ids[i], "contacts", crm[i], 1, fields, now, now,
                                             first + i, "bulk contact") for i in range(BATCH)])
                conn.executemany(LINK_SQL, [("contacts", ids[i], crm[i], base,
                                             "2026-11-26T01:00:00Z", first + i)
                                            for i in range(BATCH)])
                conn.executemany(REPORT_SQL, [("run", "contacts", ids[i], crm[i], "Bulk",
                                               "created", "crm_to_local", "success", "")
                                              for i in range(BATCH)])
        seconds = time.perf_counter() - start
        store.close()
    return seconds


def synthetic_pages(n: int) -> list[bytes]:
    folder = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    with RunningServer(db_path=folder / "crm.db", user=USER) as server:
        server.admin.bulk_contacts(n)
        return fetch_pages(server.url, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=20_000)
    args = parser.parse_args()

    n = args.records
    random_s = sql_floor(n, lambda: str(uuid.uuid4()))
    ordered_s = sql_floor(n, lambda: str(uuid7()))
    print(f"\nSQL write floor of a first sync, {n:,} records "
          f"(items + links + report rows, {BATCH} per transaction)\n")
    print(f"{'item ids':28}  {'time':>7}  µs/record")
    for label, seconds in (("random (UUIDv4)", random_s), ("time-ordered (UUIDv7)", ordered_s)):
        print(f"{label:28}  {seconds:6.2f}s  {seconds / n * 1e6:9.1f}")

    sample = args.sample
    count, rows = step_costs(synthetic_pages(sample))
    print(f"\nClient CPU per record, {count:,} contacts fetched once\n")
    print(f"{'step':36}  µs/record")
    for label, micros in rows:
        print(f"{label:36}  {micros:9.1f}")
    print(f"{'total of these steps':36}  {sum(m for _, m in rows):9.1f}")


if __name__ == "__main__":
    main()
