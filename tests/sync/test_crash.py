"""Killed at any instant, the next run converges with no duplicates and nothing lost
(DESIGN §10). Syncs run in a subprocess that is SIGKILLed: at random times, and right after
a CRM write was answered but before it was recorded locally."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tests.sync.helpers import assert_quiet
from tray_client.store import LocalStore
from tray_client.sync.actions import BOTH, LOCAL_TO_CRM

WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 12       # at least this many killed syncs per direction (24 in all)
MAX_ROUNDS = 60


def run_worker(url: str, db: Path, die_after: int = 0, kill_after: float | None = None) -> str:
    env = {**os.environ, "CRASH_USER": TEST_USER, "CRASH_KEY": TEST_API_KEY,
           "PYTHONPATH": str(Path(__file__).parents[2])}
    args = [sys.executable, str(WORKER), url, str(db)] + ([str(die_after)] if die_after else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    if kill_after is not None:
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return "killed" if proc.returncode == -signal.SIGKILL else f"exit {proc.returncode}"


@pytest.mark.slow
@pytest.mark.parametrize("direction", [BOTH, LOCAL_TO_CRM])
def test_killed_syncs_converge_without_duplicates_or_losses(devserver, make_rig, direction):
    rng = random.Random(1234)
    rig = make_rig(devserver)
    rig.rules_from = "server"   # the worker processes read the rule from the server's section
    rig.direction("contacts", direction)
    db = rig.store.path
    admin = devserver.admin
    local_names: set[str] = set()
    crm_names: set[str] = set()
    local_edits: dict[str, str] = {}   # local item name -> job title set locally
    crm_edits: dict[str, str] = {}     # CRM record name -> description set in the CRM
    outcomes = []
    counter = 0

    def new_name() -> str:
        nonlocal counter
        counter += 1
        return f"N{counter:04d}"

    round_no = -1
    while outcomes.count("killed") < KILLS and round_no < MAX_ROUNDS:
        round_no += 1
        # Changes on both sides; names are unique so duplicates are easy to see. Local edits
        # and CRM edits touch different fields, so no edit may be lost at all.
        store = LocalStore(db)
        try:
            for _ in range(rng.randint(3, 12)):
                name = new_name()
                store.add("contacts", {"first_name": "L", "last_name": name})
                local_names.add(name)
            linked = [i for i in store.list("contacts") if i.crm_id]
            for item in rng.sample(linked, min(len(linked), rng.randint(0, 6))):
                title = f"t{round_no}"
                store.update(item.id, {"job_title": title})
                local_edits[item.fields["last_name"]] = title
        finally:
            store.close()
        for _ in range(rng.randint(3, 12)):
            name = new_name()
            admin.create("contacts", {"firstName": "C", "lastName": name})
            crm_names.add(name)
        ids = admin.ids("contacts")
        for crm_id in rng.sample(ids, min(len(ids), rng.randint(0, 6))):
            name = admin.get("contacts", crm_id)["attributes"]["lastName"]
            if direction == LOCAL_TO_CRM and name in local_names:
                # Local → CRM: a linked item's next change rightly overwrites CRM edits.
                continue
            note = f"d{round_no}"
            admin.update("contacts", crm_id, {"description": note})
            crm_edits[name] = note
        if round_no % 2:
            outcomes.append(run_worker(devserver.url, db, die_after=rng.randint(1, 4)))
        else:
            outcomes.append(run_worker(devserver.url, db, kill_after=rng.uniform(0.0, 0.15)))

    assert outcomes.count("killed") >= KILLS, outcomes

    rig.store.close()
    rig.store = LocalStore(db)
    result = rig.sync()
    assert result.outcome == "ok", (result.message, result.errors)
    items = rig.local("contacts")
    records = [admin.get("contacts", i)["attributes"] for i in admin.ids("contacts")]
    local_by_name = {}
    for item in items:
        name = item.fields["last_name"]
        assert name not in local_by_name, f"duplicate local item {name}"
        local_by_name[name] = item
    crm_by_name = {}
    for attrs in records:
        assert attrs["lastName"] not in crm_by_name, f"duplicate CRM record {attrs['lastName']}"
        crm_by_name[attrs["lastName"]] = attrs
    if direction == BOTH:
        everything = local_names | crm_names
        assert set(local_by_name) == everything and set(crm_by_name) == everything
    else:
        # Local → CRM: every local item is in the CRM once; CRM records stay CRM-only.
        assert set(local_by_name) == local_names
        assert set(crm_by_name) == local_names | crm_names
    for name, item in local_by_name.items():
        assert item.crm_id is not None
        assert admin.get("contacts", item.crm_id)["attributes"]["lastName"] == name
    for name, title in local_edits.items():
        assert local_by_name[name].fields.get("job_title") == title
        assert crm_by_name[name]["jobTitle"] == title
    for name, note in crm_edits.items():
        assert crm_by_name[name]["description"] == note
        if direction == BOTH:
            assert local_by_name[name].fields.get("notes") == note
    assert_quiet(rig)
