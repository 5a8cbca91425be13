"""How long the reference server takes to load its demo data.

    python benchmarks/bench_demo.py [--sizes 10000 100000]

Loads ``--demo N`` (N of each entity, with accounts, addresses, e-mails, phones) into a new
database and prints one row per size. Targets: 10,000 in < 8 s, 100,000 in < 20 s (the demo
must stay usable at benchmark scale). This was a timed test before; timing belongs here, where
a loaded machine cannot fail the suite (the test keeps checking what gets loaded).
Listing speed is measured by bench_fetch.py (the raw page-fetch floor).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tray_client.devserver.database import Database
from tray_client.devserver.demo import load_demo

TARGETS = {10_000: 8.0, 100_000: 20.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"{'demo size':>10} | {'load (s)':>8} | {'target (s)':>10} | met")
    print(f"{'-' * 10}-+-{'-' * 8}-+-{'-' * 10}-+-----")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            db = Database(Path(tmp) / f"demo-{size}.db")
            started = time.perf_counter()
            load_demo(db, size)
            elapsed = time.perf_counter() - started
            db.close()
            target = TARGETS.get(size)
            met = "-" if target is None else ("yes" if elapsed <= target else "NO")
            shown = "-" if target is None else f"{target:.0f}"
            print(f"{size:>10,} | {elapsed:>8.1f} | {shown:>10} | {met}")


if __name__ == "__main__":
    main()
