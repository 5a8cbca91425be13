"""Benchmark of the local item store at CRM scale (DESIGN §10: 100k contacts).

    python benchmarks/bench_store.py [--count 100000] [--keep DIR]

Prints a table: bulk insert in one transaction, add() inside one transaction, streaming
iteration, changed_since after a small edit batch, search, vCard export and import. Times are
wall-clock on this machine; the numbers are for comparing versions, not for timed tests.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tray_client.store import LocalStore


def contact(i: int) -> dict[str, Any]:
    return {"first_name": f"First{i}", "last_name": f"Last{i % 977}",
            "emails": [f"person{i}@example.org"], "primary_phone": f"+1 555 {i:07d}",
            "job_title": "Engineer" if i % 3 else "Manager",
            "business_address": {"city": f"City{i % 101}", "country": "US"}}


def timed(label: str, rows: list[tuple[str, float, str]], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    rows.append((label, time.perf_counter() - start, str(result)))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="keep the databases in this folder")
    args = parser.parse_args(argv)
    n = args.count
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-store-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, str]] = []

    store = LocalStore(folder / "bulk.db")
    timed(f"bulk_add {n} contacts (1 transaction)", rows,
          lambda: len(store.bulk_add("contacts", (contact(i) for i in range(n)))))

    other = LocalStore(folder / "add.db")

    def add_in_transaction() -> int:
        with other.transaction():
            for i in range(n):
                other.add("contacts", contact(i))
        return other.count("contacts")

    timed(f"add() x {n} inside transaction()", rows, add_in_transaction)
    other.close()

    timed("iter_items (streaming, all)", rows,
          lambda: sum(1 for _ in store.iter_items("contacts")))
    mark = store.max_rev()
    some = [item.id for _, item in zip(range(1000), store.iter_items("contacts"), strict=False)]

    def edit_some() -> int:
        with store.transaction():
            for item_id in some:
                store.update(item_id, {"job_title": "Director"})
        return len(some)

    timed("update 1000 items (1 transaction)", rows, edit_some)
    timed("changed_since(mark) after 1000 edits", rows,
          lambda: sum(1 for _ in store.changed_since("contacts", mark)))
    timed("changed_since(0) (all)", rows,
          lambda: sum(1 for _ in store.changed_since("contacts", 0)))
    timed("list(search='first4242')", rows,
          lambda: len(store.list("contacts", search="first4242")))
    timed("list(search='last12') (many hits)", rows,
          lambda: len(store.list("contacts", search="last12")))
    timed("find_by_crm_id (miss) x 1000", rows,
          lambda: sum(store.find_by_crm_id("contacts", str(i)) is None for i in range(1000)))
    vcf = folder / "contacts.vcf"
    timed("export_file contacts .vcf", rows, lambda: store.export_file("contacts", vcf))
    imported = LocalStore(folder / "import.db")
    timed("import_file contacts .vcf", rows, lambda: imported.import_file(vcf).created)
    imported.close()
    store.close()

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    width = max(len(label) for label, _, _ in rows)
    print(f"{'operation':<{width}}  {'seconds':>8}  result")
    print(f"{'-' * width}  {'-' * 8}  ------")
    for label, seconds, result in rows:
        print(f"{label:<{width}}  {seconds:8.2f}  {result}")
    print(
        f"\npeak RSS {peak_mb:.0f} MB; database {(folder / 'bulk.db').stat().st_size / 1e6:.0f} MB"
        f" in {folder}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
