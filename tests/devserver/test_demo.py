"""--demo N: realistic records for every entity, the same for the same N."""

from __future__ import annotations

import re
import time
from collections import Counter

from tray_client.devserver.database import Database
from tray_client.devserver.demo import load_demo
from tray_client.devserver.testing import RunningServer

from .wsse import Api


def _dump(api: Api, type_name: str) -> list[dict]:
    return api.all_pages(
        f"/{type_name}",
        {
            "page[size]": "1000",
            "sort": "id",
            **({"include": "addresses"} if type_name == "contacts" else {}),
        },
    )


def test_demo_data_is_realistic(tmp_path):
    with RunningServer(db_path=tmp_path / "c.db", demo=60, jsonapi_calendar=True) as server:
        api = Api(server.url, server.user, server.api_key)
        contacts = _dump(api, "contacts")
        tasks = _dump(api, "tasks")
        events = _dump(api, "calendarevents")
        addresses = api.all_pages("/contactaddresses", {"page[size]": "1000"})
        counts = {t: server.admin.count(t) for t in ("leads", "opportunities", "cases")}
        api.close()
    assert len(contacts) == len(tasks) == len(events) == 60
    assert all(n >= 3 for n in counts.values())
    attributes = [c["attributes"] for c in contacts]
    assert all(a["firstName"] and a["lastName"] for a in attributes)
    assert any(len(a["emails"]) > 1 for a in attributes) and any(
        len(a["phones"]) > 1 for a in attributes
    )
    assert {a["gender"] for a in attributes} >= {"male", "female"}
    assert sum(a["birthday"] is not None for a in attributes) > 20
    assert all(re.match(r"^\d{4}-\d\d-\d\d$", a["birthday"]) for a in attributes if a["birthday"])
    types = Counter(tuple(t["id"] for t in a["relationships"]["types"]["data"]) for a in addresses)
    assert types[("billing",)] and types[("shipping",)] and types[()]
    # Addresses as Oro holds them: a real country, and a region of that country.
    for address in addresses:
        country = address["relationships"]["country"]["data"]["id"]
        region = address["relationships"]["region"]["data"]["id"]
        assert region.startswith(country + "-") and country in ("DE", "FR", "US", "IT")
        assert (
            "country" not in address["attributes"] and address["attributes"]["customRegion"] is None
        )
    assert len({a["relationships"]["country"]["data"]["id"] for a in addresses}) >= 3
    owners = Counter(c["relationships"]["owner"]["data"]["id"] for c in contacts)
    assert owners["1"] > owners["2"] > 0
    assert any(
        c["relationships"]["owner"]["data"]["id"] == "2"
        and (c["relationships"]["assignedTo"]["data"] or {}).get("id") == "1"
        for c in contacts
    )
    assert {t["relationships"]["status"]["data"]["id"] for t in tasks} == {
        "open",
        "in_progress",
        "closed",
    }
    assert {t["relationships"]["taskPriority"]["data"]["id"] for t in tasks} == {
        "low",
        "normal",
        "high",
    }
    assert any(t["attributes"]["dueDate"] for t in tasks)
    stamps = sorted(e["attributes"]["start"] for e in events)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert stamps[0] < now < stamps[-1]  # past and coming weeks
    assert any(e["attributes"]["allDay"] for e in events) and not all(
        e["attributes"]["allDay"] for e in events
    )
    assert all(e["attributes"]["end"] >= e["attributes"]["start"] for e in events)
    assert len({e["relationships"]["calendar"]["data"]["id"] for e in events}) == 2
    for item in contacts + tasks + events:
        assert item["attributes"]["createdAt"] <= item["attributes"]["updatedAt"] <= now


def test_demo_data_is_deterministic(tmp_path):
    dumps = []
    for name in ("a.db", "b.db"):
        with RunningServer(db_path=tmp_path / name, demo=15, jsonapi_calendar=True) as server:
            api = Api(server.url, server.user, server.api_key)
            dumps.append(
                {
                    t: _dump(api, t)
                    for t in (
                        "contacts", "tasks", "calendarevents", "leads", "opportunities", "cases",
                    )
                }
            )
            api.close()
    assert dumps[0] == dumps[1]


def test_demo_loads_at_scale(tmp_path):
    # 10,000 of each entity (a tenth of the benchmark's 100,000); its speed is measured by
    # benchmarks/bench_demo.py, not here.
    db = Database(tmp_path / "big.db")
    load_demo(db, 10_000)
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 10_000
    db.close()


def test_demo_is_not_loaded_twice_into_one_database(tmp_path):
    db = Database(tmp_path / "twice.db")
    assert load_demo(db, 5) is True
    assert load_demo(db, 5) is False
    with db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 5
    db.close()
