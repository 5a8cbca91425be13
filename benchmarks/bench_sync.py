"""Sync at CRM scale, every target of issue 17 in one table: the reference server with N
records per entity (its realistic ``--demo N`` data, or plain synthetic ones) and the client
run as a user runs it, in processes of its own (benchmarks/bench_client.py, the CLI).

    python benchmarks/bench_sync.py [--data demo|synthetic] [--n 100000] [--runs 60]
                                    [--repeat 1] [--sample 10000] [--no-gui] [--out FILE]
                                    [--keep]

Rows (each with its target and met / not met):

- the raw page-fetch floor: plain httpx + ``json.loads`` of the contact pages the initial
  sync reads (1,000 a page, with their addresses), measured in this run;
- the initial sync of the contacts (time, records/s, its ratio to the floor, the client's
  CPU per record: its sync process and the page worker a large pull decodes its pages in)
  and the peak RSS of both;
- the initial sync of tasks and events (no target; it fills the store for the no-op rows);
- no-op interval syncs of every entity (pull and push; N contacts, tasks and events) without
  the removals feed (the mean over ``--runs`` runs), with it (the server restarted with
  ``--removals-feed``), and push-only interval runs with nothing to push;
- 100 local + 100 CRM changes on each entity, one interval sync each (the first sync of a
  new process, the verdict's; then again in that process, as the tray app's sync process
  runs interval syncs);
- the first sync of the contacts into a store that already holds all of them, unlinked
  (every record matched by key), made in the order the CRM's records were changed in
  (the target's case) and then shuffled (the realistic case, no target: a user's own
  address book was made in another order, so the sync meets its items out of order);
- ``tray-client local list contacts --json`` (time, peak RSS against the same command
  listing nothing);
- ``tray-client local import`` of 20,000 events (.ics);
- the GUI's longest event-loop stall during a 20,000-contact sync (benchmarks/bench_gui.py).

Then the client's CPU per record, step by step, on ``--sample`` contacts fetched once (the
collector off, as during a run); "engine, SQLite and the rest" is the initial sync's CPU per
record minus those steps. Timings depend on the machine's load (printed with the table).
``start_server`` and ``USER`` are used by the other benchmarks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_fetch import raw_walk

from tray_client.crm.wsse import WsseSigner
from tray_client.devserver.database import Database
from tray_client.devserver.demo import bulk_contacts, load_demo
from tray_client.devserver.testing import DEFAULT_API_KEY
from tray_client.settings import Settings
from tray_client.store.fields import normalize_fields, search_text
from tray_client.store.interchange import write_file
from tray_client.store.model import Item
from tray_client.sync import mapping

USER = "admin"
IMPORT_EVENTS = 20_000
GUI_CONTACTS = 20_000
ENTITIES = ("contacts", "tasks", "events")


def start_server(db: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """The reference server on ``db`` in its own process; returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tray_client.devserver.cli import main; main()",
         "--db", str(db), "--user", USER, "--log-level", "error", *flags],
        stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().split()[-1]
    return proc, url


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def synthetic_data(db: Path, n: int) -> None:
    """N plain contacts (a name and one e-mail), N tasks and N events of user 1."""
    bulk_contacts(Database(db, username=USER), n)
    rng = random.Random(17)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    stamp = base.strftime("%Y-%m-%dT%H:%M:%SZ")
    tasks, events = [], []
    for i in range(n):
        tasks.append((json.dumps({"subject": f"Task {i}"}), json.dumps(
            {"taskPriority": {"type": "taskpriorities", "id": "normal"},
             "status": {"type": "taskstatuses", "id": "open"},
             "owner": {"type": "users", "id": "1"}}), "1", None, None, stamp, stamp))
        start = base + dt.timedelta(days=rng.randrange(-30, 60), hours=rng.randrange(7, 18))
        end = start + dt.timedelta(hours=1)
        events.append((json.dumps({"title": f"Meeting {i}",
                                   "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   "allDay": False}),
                       json.dumps({"calendar": {"type": "calendars", "id": "1"}}), None, None,
                       "1", stamp, stamp))
    conn = sqlite3.connect(db)
    with conn:
        sql = ("INSERT INTO {} (attributes, relationships, owner, assigned_to, calendar,"
               " created_at, updated_at) VALUES (?,?,?,?,?,?,?)")
        conn.executemany(sql.format("tasks"), tasks)
        conn.executemany(sql.format("calendarevents"), events)
    conn.close()


def load_data(kind: str, db: Path, n: int) -> None:
    if kind == "demo":
        load_demo(Database(db, username=USER), n)
    else:
        synthetic_data(db, n)


def event_items(count: int) -> list[Item]:
    """``count`` varied events (one in seven all-day, a few offsets, some with a location
    and notes) for the import row: a calendar another program exported."""
    rng = random.Random(20)
    zones = [dt.UTC, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=-5))]
    items = []
    for i in range(count):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(0, 365))
        fields: dict[str, Any] = {"subject": f"{rng.choice(('Review', 'Call', 'Visit'))} {i}"}
        if i % 7 == 3:
            fields.update(all_day=True, start=day.isoformat(),
                          end=(day + dt.timedelta(days=1)).isoformat())
        else:
            start = dt.datetime.combine(day, dt.time(rng.randrange(7, 18)), rng.choice(zones))
            fields.update(all_day=False, start=start.isoformat(),
                          end=(start + dt.timedelta(minutes=45)).isoformat())
        if i % 3 == 0:
            fields["location"] = f"Room {i % 40}, Hauptstraße 5"
        if i % 4 == 0:
            fields["notes"] = f"Agenda: item {i}\nBring the contract."
        items.append(Item(id=f"bench-{i}", entity="events", crm_id=None, crm_sync=True,
                          fields=fields, created_at="", updated_at="", rev=0))
    return items


# -- the client in processes of its own ------------------------------------------------------

def client(home: Path, url: str, *args: str) -> dict[str, Any]:
    """Run bench_client.py; return the JSON it printed."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_client.py"),
                          "--home", str(home), "--url", url, *args],
                         check=False, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise SystemExit(f"bench_client {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# Runs the CLI's own entry point and leaves the process's peak RSS (VmHWM: this program's
# own, unlike ru_maxrss, which also counts the pages of the process it was started from)
# in the file BENCH_HWM_FILE names.
CLI = ("import atexit, os, runpy, sys\n"
       "def peak():\n"
       "    status = open('/proc/self/status').read()\n"
       "    open(os.environ['BENCH_HWM_FILE'], 'w').write(status.split('VmHWM:')[1].split()[0])\n"
       "atexit.register(peak)\n"
       "sys.argv[0] = 'tray-client'\n"
       "runpy.run_module('tray_client', run_name='__main__')\n")


def cli(home: Path, *args: str, stdout: Any = subprocess.DEVNULL) -> tuple[float, float]:
    """Run ``tray-client --home HOME ARGS`` as a user does; return (seconds, peak RSS MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".hwm") as hwm:
        env = dict(os.environ, TRAY_CLIENT_API_KEY=DEFAULT_API_KEY, BENCH_HWM_FILE=hwm.name)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CLI, "--home", str(home), *args],
                              stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, env=env,
                              check=False)
        seconds = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(f"tray-client {' '.join(args)} failed: {proc.stderr[-2000:]!r}")
        return seconds, int(hwm.read()) / 1024


# -- the client's CPU per record, step by step -------------------------------------------------

def fetch_pages(url: str, sample: int) -> list[bytes]:
    signer = WsseSigner(USER, DEFAULT_API_KEY)
    bodies = []
    with httpx.Client(headers={"Accept": "application/vnd.api+json"}, timeout=60) as http:
        for number in range(1, max(1, sample // 1000) + 1):
            response = http.get(f"{url}/api/contacts", headers=signer.headers(),
                                params={"sort": "updatedAt,id", "page[size]": 1000,
                                        "page[number]": number, "include": "addresses"})
            response.raise_for_status()
            bodies.append(response.content)
    return bodies


def step_costs(bodies: list[bytes]) -> tuple[int, list[tuple[str, float]]]:
    """CPU µs per record of each step of the pull on contact pages fetched once."""
    rows: list[tuple[str, float]] = []
    count = 0

    def step(label: str, work: Callable[[], Any]) -> Any:
        gc.disable()   # as during a sync run (SyncEngine pauses the collector)
        start = time.process_time()
        result = work()
        rows.append((label, (time.process_time() - start) / count * 1e6))
        gc.enable()
        return result

    count = sum(len(json.loads(b)["data"]) for b in bodies)
    # The steps as the pull runs them: pages decoded straight into resources, the store's
    # and the sync state's msgspec encoders.
    from tray_client.crm.jsonapi import decode_document
    from tray_client.store.local import _dumps as store_json
    from tray_client.sync.state import _dumps as state_json

    resources = step("JSON decoding + JSON:API parsing (decode_document)",
                     lambda: [r for b in bodies for r in decode_document(b).data])
    canon = step("mapping.from_crm", lambda: [mapping.from_crm("contacts", r)
                                              for r in resources])
    effective = mapping.effective_rows("contacts", Settings())
    names = [r.name for r in effective if r.enabled]
    active = [r.name for r in effective if r.enabled and r.direction != "once"]
    # A new item's fields: to_local and the store's normalize_fields in one pass, as the
    # pull makes them (the general way only for what that pass cannot vouch for).
    clean = step("new item's fields (mapping.new_local_fields: to_local + normalize_fields)",
                 lambda: [mapping.new_local_fields("contacts", c, names)
                          or normalize_fields("contacts", mapping.to_local(
                              "contacts", c, names, drop_empty=True)) for c in canon])
    step("JSON of the fields + search text",
         lambda: [(store_json(f), search_text("contacts", f)) for f in clean])
    step("base dict + its JSON",
         lambda: [state_json({k: c.get(k) for k in active}) for c in canon])
    return count, rows


# -- the table ---------------------------------------------------------------------------------

class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, measure: str, result: str, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("met" if met else "NOT met")
        self.rows.append((measure, result, target, verdict))

    def markdown(self) -> str:
        lines = ["| measure | result | target | |", "|---|---|---|---|"]
        lines += [f"| {m} | {r} | {t} | {v} |" for m, r, t, v in self.rows]
        return "\n".join(lines)


def mean(values: Sequence[float]) -> float:
    return statistics.mean(values) if values else 0.0


def gui_stall(data: str) -> float | None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_gui.py"),
                          "--data", data, "--contacts", str(GUI_CONTACTS), "--repeat", "1",
                          "--json"], check=False, capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    if out.returncode:
        print(f"bench_gui failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1])["longest_gap_ms"])


def compile_client() -> None:
    """Compile the client's modules to bytecode first, as installing it does (pip compiles a
    wheel's files): every measured process is a new one, and with ``PYTHONDONTWRITEBYTECODE``
    set (or a read-only checkout) each would otherwise compile the sync package from source
    inside its timed run (~0.1 s)."""
    import compileall

    compileall.compile_dir(str(ROOT / "tray_client"), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("demo", "synthetic"), default="demo")
    parser.add_argument("--n", "--contacts", type=int, default=100_000, dest="n",
                        help="records per entity (default 100,000)")
    parser.add_argument("--runs", type=int, default=60, help="no-op interval runs (default 60)")
    parser.add_argument("--repeat", type=int, default=1, help="floor walks (the best counts)")
    parser.add_argument("--sample", type=int, default=10_000,
                        help="contacts for the per-step CPU costs (default 10,000)")
    parser.add_argument("--full-runs", type=int, default=3,
                        help="first syncs into a full store, each into a fresh clone (the "
                        "median counts; default 3)")
    parser.add_argument("--no-gui", action="store_true", help="leave out the GUI stall row")
    parser.add_argument("--out", type=Path, help="also write the tables (Markdown) here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (databases, homes) for a look afterwards")
    args = parser.parse_args()
    n = args.n
    compile_client()
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    db = work / "crm.db"
    t = time.perf_counter()
    load_data(args.data, db, n)
    load_s = time.perf_counter() - t
    table = Table()
    loads: list[float] = [os.getloadavg()[0]]
    home, matched, shuffled = work / "home", work / "matched", work / "shuffled"
    server, url = start_server(db)
    try:
        floor_s = min(_timed(lambda: raw_walk(url, 1000, user=USER, key=DEFAULT_API_KEY,
                                              include="addresses"), n)
                      for _ in range(args.repeat))
        table.add("raw page fetch, contacts (httpx + json.loads)", f"{floor_s:.2f} s, "
                  f"{n / floor_s:,.0f} records/s", "the floor")

        first = client(home, url, "sync", "--entity", "contacts")
        created = first["counts"]["contacts"]["local"]["created"]
        assert created == n, first["counts"]
        initial_s, initial_cpu = first["seconds"][0], first["cpu_s"]
        initial_worker = first.get("worker_cpu_s", 0.0)
        table.add("initial sync, contacts", f"{initial_s:.2f} s, {initial_s / floor_s:.2f}× "
                  "the floor", "≤ 1.5× the floor", initial_s <= 1.5 * floor_s)
        table.add("  records/s", f"{n / initial_s:,.0f}", "≥ 8,000", n / initial_s >= 8000)
        table.add("  client CPU", cpu_text(first, n))
        rss = [first["peak_rss_mb"], first.get("worker_peak_rss_mb", 0.0)]
        table.add("  peak RSS (client process; its page worker)",
                  f"{first['peak_rss_mb']:.0f} MB; {first.get('worker_peak_rss_mb', 0):.0f} MB",
                  "≤ 150 MB", max(rss) <= 150)
        loads.append(os.getloadavg()[0])

        rest = client(home, url, "sync", "--entity", "tasks", "--entity", "events")
        others = sum(rest["counts"][e]["local"]["created"] for e in ("tasks", "events"))
        rss += [rest["peak_rss_mb"], rest.get("worker_peak_rss_mb", 0.0)]
        table.add("initial sync, tasks + events", f"{rest['seconds'][0]:.2f} s, {others:,} "
                  f"records, {others / rest['seconds'][0]:,.0f} records/s, "
                  f"{rest['peak_rss_mb']:.0f} MB")
        total = n + others

        noop = client(home, url, "sync", "--trigger", "interval", "--runs", str(args.runs))
        rss.append(noop["peak_rss_mb"])
        table.add(f"no-op sync, {total:,} items, no removals feed",
                  f"mean {mean(noop['seconds']):.3f} s over {args.runs} interval runs "
                  f"(first {noop['seconds'][0]:.3f} s, worst {max(noop['seconds']):.3f} s)",
                  "≤ 0.5 s mean", mean(noop["seconds"]) <= 0.5)
        push = client(home, url, "sync", "--phase", "push", "--trigger", "interval",
                      "--runs", str(args.runs))
        table.add("push-only interval run, nothing to push",
                  f"mean {mean(push['seconds']) * 1000:.0f} ms (median "
                  f"{statistics.median(push['seconds']) * 1000:.0f} ms)", "≤ 50 ms",
                  mean(push["seconds"]) <= 0.05)
        loads.append(os.getloadavg()[0])

        stop_server(server)
        server, url = start_server(db, "--removals-feed")
        feed_runs = max(1, args.runs // 3)
        feed = client(home, url, "sync", "--trigger", "interval", "--runs", str(feed_runs))
        table.add(f"no-op sync, {total:,} items, removals feed",
                  f"mean {mean(feed['seconds']):.3f} s over {feed_runs} interval runs "
                  f"(first {feed['seconds'][0]:.3f} s)", "≤ 0.3 s",
                  mean(feed["seconds"]) <= 0.3)

        for entity in ENTITIES:
            changed = client(home, url, "changes", "--entity", entity)
            seconds = changed["seconds"][0]
            table.add(f"100 + 100 changes, {entity}", f"{seconds:.2f} s (the process's first "
                      f"sync; in one that synced before, as the tray app's sync process: "
                      f"{changed['warm_seconds'][0]:.2f} s)", "≤ 0.5 s", seconds <= 0.5)
        loads.append(os.getloadavg()[0])

        # Each run into a store of its own, cloned afresh; the median run is the row's
        # (this machine's speed varies by 10–40 % within minutes: one run is luck).
        runs = []
        for k in range(args.full_runs):
            store_home = matched.with_name(f"{matched.name}{k}")
            client(store_home, url, "clone", "--source", str(home))
            keyed = client(store_home, url, "sync", "--entity", "contacts")
            assert keyed["counts"]["contacts"]["local"]["created"] == 0, keyed["counts"]
            rss += [keyed["peak_rss_mb"], keyed.get("worker_peak_rss_mb", 0.0)]
            runs.append(keyed)
            shutil.rmtree(store_home, ignore_errors=True)
        runs.sort(key=lambda line: line["seconds"][0])
        keyed = runs[len(runs) // 2]
        rate = n / keyed["seconds"][0]
        rates = " / ".join(f"{n / line['seconds'][0]:,.0f}" for line in runs)
        spread = f" (median of {len(runs)}: {rates})" if len(runs) > 1 else ""
        table.add("first sync into a full store (all matched by key)",
                  f"{keyed['seconds'][0]:.2f} s, {rate:,.0f} records/s{spread}, "
                  f"{keyed['peak_rss_mb']:.0f} MB (page worker "
                  f"{keyed.get('worker_peak_rss_mb', 0):.0f} MB)", "≥ 10,000 records/s",
                  rate >= 10_000)
        table.add("  client CPU", cpu_text(keyed, n))
        # The same with an address book made in another order than the CRM's (a user's
        # own): its items are met out of their stored order. No target of its own.
        client(shuffled, url, "clone", "--source", str(home), "--shuffle", "17")
        mixed = client(shuffled, url, "sync", "--entity", "contacts")
        assert mixed["counts"]["contacts"]["local"]["created"] == 0, mixed["counts"]
        rss += [mixed["peak_rss_mb"], mixed.get("worker_peak_rss_mb", 0.0)]
        rewritten = mixed["counts"]["contacts"]["local"]["updated"]
        table.add("  the same, the store's items made in another order",
                  f"{mixed['seconds'][0]:.2f} s, {n / mixed['seconds'][0]:,.0f} records/s, "
                  f"{mixed['peak_rss_mb']:.0f} MB; {rewritten:,} pairs matched with another "
                  "item of the same key, its values replaced", "(no target: the realistic case)")
        table.add("  client CPU", cpu_text(mixed, n))

        listing = work / "list.json"
        with listing.open("wb") as out:
            list_s, list_mb = cli(home, "local", "list", "contacts", "--json", stdout=out)
        listed = len(json.loads(listing.read_bytes()))
        assert listed == n, listed
        _, empty_mb = cli(home, "local", "list", "contacts", "--json", "--search",
                          "no such contact")
        table.add("`local list contacts --json`", f"{list_s:.2f} s, {list_mb:.0f} MB "
                  f"(listing nothing: {empty_mb:.0f} MB)", "constant memory (≤ +20 MB)",
                  list_mb <= empty_mb + 20)

        ics = work / "events.ics"
        write_file("events", event_items(IMPORT_EVENTS), ics)
        import_s, import_mb = cli(work / "imported", "local", "import", str(ics))
        table.add(f"import of {IMPORT_EVENTS:,} events (.ics)",
                  f"{import_s:.2f} s, {import_mb:.0f} MB", "≤ 2 s, ≤ 100 MB",
                  import_s <= 2 and import_mb <= 100)

        table.add("peak RSS of every client process above", f"{max(rss):.0f} MB", "≤ 150 MB",
                  max(rss) <= 150)
        count, steps = step_costs(fetch_pages(url, min(args.sample, n)))
    finally:
        stop_server(server)
        if not args.keep:  # 100,000 records of each side take ~1 GB
            shutil.rmtree(work, ignore_errors=True)
    if not args.no_gui:
        gap = gui_stall(args.data)
        table.add(f"GUI: longest event-loop stall, {GUI_CONTACTS:,}-contact sync",
                  "failed" if gap is None else f"{gap:.0f} ms", "≤ 50 ms",
                  gap is not None and gap <= 50)
    loads.append(os.getloadavg()[0])

    # The page worker decodes the pages and maps the records (the first two steps) from a
    # pull's second page on; the sync process does the rest.
    per_record, worker_per_record = initial_cpu / n * 1e6, initial_worker / n * 1e6
    in_worker = steps[:2] if worker_per_record else []
    step_lines = ["| step | where | CPU µs/record |", "|---|---|---|"]
    step_lines += [f"| {label} | {'page worker' if (label, m) in in_worker else 'sync'} | "
                   f"{m:.1f} |" for label, m in steps]
    here = sum(m for label, m in steps if (label, m) not in in_worker)
    if in_worker:
        step_lines.append(
            f"| the worker starting, packing the records and passing them (its CPU − its steps) | "
            f"page worker | {worker_per_record - sum(m for _, m in in_worker):.1f} |")
    step_lines.append(f"| engine, SQLite, the page walk and the rest (the sync process's "
                      f"CPU − its steps) | sync | {per_record - here:.1f} |")
    step_lines.append(f"| **initial sync, client CPU** | sync + page worker | "
                      f"**{per_record:.1f} + {worker_per_record:.1f}** |")
    header = (
        f"Sync benchmark, {args.data} data: {n:,} records per entity (server load "
        f"{load_s:.1f} s); {os.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.1f}' for x in loads)} during the run; {time.strftime('%Y-%m-%d %H:%M')}"
    )
    text = (f"{header}\n\n{table.markdown()}\n\nClient CPU per record by step ({count:,} "
            f"contacts fetched once):\n\n" + "\n".join(step_lines) + "\n")
    print("\n" + text)
    if args.out:
        args.out.write_text(text)


def cpu_text(line: dict[str, Any], n: int) -> str:
    """A run's client CPU: the sync process's and its page worker's."""
    cpu, worker = line["cpu_s"], line.get("worker_cpu_s", 0.0)
    return (f"{cpu + worker:.2f} s, {(cpu + worker) / n * 1e6:.0f} µs/record (sync process "
            f"{cpu / n * 1e6:.0f}, page worker {worker / n * 1e6:.0f})")


def _timed(walk: Callable[[], int], expected: int) -> float:
    t = time.perf_counter()
    fetched = walk()
    seconds = time.perf_counter() - t
    assert fetched == expected, (fetched, expected)
    return seconds


if __name__ == "__main__":
    main()
