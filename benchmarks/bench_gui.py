"""GUI responsiveness during a 20,000-record sync: the event loop must never stall > 50 ms.

    python benchmarks/bench_gui.py [--data synthetic|demo] [--contacts 20000] [--repeat 2]
                                   [--json] [--in-process] [--gaps]

The reference server (its own process, as a real CRM is) serves N contacts (bulk ones, or
its realistic ``--demo N`` data, whose tasks and events are left out of the sync); the real
tray app (``TrayApp`` over the real ``Client``, offscreen platform, the status popover open
so that every progress update repaints it) runs *Sync Now* into an empty store, the sync in
its own process as the app runs it (``--in-process``: on a thread of the GUI's, as before
issue 17, for comparison). A 10 ms timer on the GUI thread records when it fires; a gap
between two ticks is the time the event loop could not run. Prints, per run, the sync time
and the gaps: the longest, the 99th percentile and how many exceeded 50 ms.

Target: longest gap <= 50 ms (issue 17; issue 15 asked for 100 ms). A timed test would be
flaky on a loaded CI machine; this is measured here instead (DESIGN §10). ``--json`` ends
the output with one JSON line (bench_sync.py reads it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench_sync import USER, start_server
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from tray_client.client import Client
from tray_client.devserver.database import Database
from tray_client.devserver.demo import bulk_contacts, load_demo
from tray_client.devserver.testing import DEFAULT_API_KEY
from tray_client.gui.app import TrayApp
from tray_client.gui.workers import freeze_startup_heap


def one_run(url: str, work: Path, n: int, *, in_process: bool = False, show_gaps: bool = False,
            idle: float = 0.0) -> tuple[float, list[float]]:
    os.environ["TRAY_CLIENT_API_KEY"] = DEFAULT_API_KEY   # the sync process reads it too
    client = Client(work / f"home-{time.monotonic_ns()}", sync_in_child=not in_process)
    settings = client.settings
    settings.url, settings.user = url, USER
    for entity in ("tasks", "events"):  # the demo data's: only the contacts are measured
        settings.sync_rules[entity].enabled = False
    client.save_settings(settings)
    app = TrayApp(client, tray_available=True, startup_sync=False)
    app.start()
    app.show_popover()
    if not in_process:
        freeze_startup_heap()   # as app.main does once the app started
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    cpu: list[float] = []     # the GUI thread's own CPU time at each tick
    queued: list[float] = []  # its time waiting for a core (Linux: schedstat), with --gaps
    schedstat = Path("/proc/thread-self/schedstat")
    wait_for_core = show_gaps and schedstat.exists()

    def tick() -> None:
        ticks.append(time.perf_counter())
        cpu.append(time.thread_time())
        if wait_for_core:
            queued.append(int(schedstat.read_text().split()[1]) / 1e9)

    timer.timeout.connect(tick)
    results = []
    loop = QEventLoop()
    app.runner.finished.connect(results.append)
    app.runner.idle.connect(loop.quit)
    timer.start()
    cpu0 = time.process_time()
    started = time.perf_counter()
    if idle:   # the control: the same app and timer, no sync
        QTimer.singleShot(int(idle * 1000), loop.quit)
    else:
        app.sync_now()
    loop.exec()
    elapsed = time.perf_counter() - started
    # The collection the runner schedules after the run is measured too.
    settle = QEventLoop()
    QTimer.singleShot(400, settle.quit)
    settle.exec()
    timer.stop()
    if show_gaps:
        waits = queued if wait_for_core else [0.0] * len(ticks)
        gaps = sorted(((ticks[i + 1] - ticks[i], ticks[i] - started, cpu[i + 1] - cpu[i],
                        waits[i + 1] - waits[i]) for i in range(len(ticks) - 1)), reverse=True)
        print("  longest gaps (ms / the GUI thread's CPU ms in it / its ms waiting for a core "
              f"@ s after Sync Now; the run ended at {elapsed:.2f} s):",
              ", ".join(f"{g * 1000:.0f}/{c * 1000:.0f}/{w * 1000:.0f}@{t:.2f}"
                        for g, t, c, w in gaps[:6]))
        print(f"  GUI process CPU during the run: {time.process_time() - cpu0:.2f} s")
        import gc

        full = time.thread_time()
        gc.collect()
        print(f"  a full collection now: {(time.thread_time() - full) * 1000:.1f} ms CPU")
    app.shutdown()
    client.close()
    if idle:
        return elapsed, [b - a for a, b in itertools.pairwise(ticks)]
    (result,) = results
    assert result.outcome == "ok", result.message
    assert result.count("contacts", "local", "created") == n, result.counts
    return elapsed, [b - a for a, b in itertools.pairwise(ticks)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("synthetic", "demo"), default="synthetic")
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--in-process", action="store_true",
                        help="sync on a thread of the GUI's process, as before issue 17's "
                             "sync process (for comparison)")
    parser.add_argument("--idle", type=float, default=0.0, metavar="SECONDS",
                        help="the control: the same app for SECONDS without a sync (what the "
                             "machine's own load costs the event loop)")
    parser.add_argument("--gaps", action="store_true",
                        help="print each run's longest gaps: how long, the GUI thread's own "
                             "CPU time in it, its time waiting for a core (Linux), when "
                             "(s after Sync Now)")
    args = parser.parse_args()
    qapp = QApplication.instance() or QApplication(sys.argv[:1])
    qapp.setQuitOnLastWindowClosed(False)
    work = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    db = work / "crm.db"
    if args.data == "demo":
        load_demo(Database(db, username=USER), args.contacts)
    else:
        bulk_contacts(Database(db, username=USER), args.contacts)
    server, url = start_server(db)
    worst = 0.0
    try:
        where = "a thread of the GUI's process" if args.in_process else "the sync process"
        what = (f"no sync (control, {args.idle:.0f} s)" if args.idle
                else f"{args.contacts:,} contacts, sync in {where}")
        print(f"{what}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print("run | sync s | ticks | longest gap ms | p99 gap ms | gaps > 50 ms")
        print("-" * 66)
        for run in range(1, args.repeat + 1):
            elapsed, gaps = one_run(url, work, args.contacts, in_process=args.in_process,
                                    show_gaps=args.gaps, idle=args.idle)
            longest = max(gaps) * 1000
            p99 = statistics.quantiles(gaps, n=100)[98] * 1000
            over = sum(1 for g in gaps if g > 0.050)
            worst = max(worst, longest)
            print(f"{run:3} | {elapsed:6.1f} | {len(gaps) + 1:5} | {longest:14.0f} | "
                  f"{p99:10.0f} | {over:12}")
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)   # the CRM's database and the client's home
    print(f"target: longest gap <= 50 ms: {'met' if worst <= 50 else 'NOT met'} "
          f"({worst:.0f} ms; load average at the end {os.getloadavg()[0]:.1f})")
    if args.json:
        print(json.dumps({"longest_gap_ms": worst}))


if __name__ == "__main__":
    main()
