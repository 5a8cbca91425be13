"""The command-line contract (DESIGN §9), driven against the real reference server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.cli.main import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    monkeypatch.delenv("TRAY_CLIENT_HOME", raising=False)
    return str(tmp_path / "home")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def configured(home, devserver, capsys):
    code, _, err = run(capsys, "--home", home, "configure", "--url", devserver.url,
                       "--user", TEST_USER)
    assert code == 0, err
    return home


def test_version_and_help_are_usage_level():
    proc = subprocess.run([sys.executable, "-m", "tray_client", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("tray-client ")
    proc = subprocess.run([sys.executable, "-m", "tray_client", "no-such-command"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2


def test_local_add_list_show_update_delete(home, capsys):
    code, out, err = run(capsys, "--home", home, "local", "add", "contacts",
                         "--set", "first_name=Ann", "--set", "last_name=Lee",
                         "--set", "emails=ann@example.org,a.lee@example.org",
                         "--set", "business_address.city=Paris")
    assert code == 0, err
    item_id = out.strip()
    assert len(item_id) == 36

    code, out, _ = run(capsys, "--home", home, "local", "show", item_id, "--json")
    assert code == 0
    item = json.loads(out)
    assert item["id"] == item_id and item["crm_id"] is None and item["crm_sync"] is True
    assert item["first_name"] == "Ann"
    assert item["emails"] == ["ann@example.org", "a.lee@example.org"]
    assert item["business_address"]["city"] == "Paris"

    code, _, err = run(capsys, "--home", home, "local", "update", item_id,
                       "--set", "job_title=CTO", "--set", "business_address.country=FR")
    assert code == 0, err
    code, out, _ = run(capsys, "--home", home, "local", "list", "contacts", "--json")
    [listed] = json.loads(out)
    assert listed["job_title"] == "CTO"
    assert listed["business_address"] == {"city": "Paris", "country": "FR"} or (
        listed["business_address"]["city"] == "Paris"
        and listed["business_address"]["country"] == "FR")

    code, _, _ = run(capsys, "--home", home, "local", "delete", item_id)
    assert code == 0
    code, out, _ = run(capsys, "--home", home, "local", "list", "contacts", "--json")
    assert json.loads(out) == []
    code, out, _ = run(capsys, "--home", home, "trash", "list", "--json")
    assert code == 0
    [entry] = json.loads(out)
    assert entry["item"]["id"] == item_id and entry["reason"] == "user"
    code, out, _ = run(capsys, "--home", home, "trash", "restore", str(entry["entry_id"]))
    assert code == 0
    code, out, _ = run(capsys, "--home", home, "local", "list", "contacts", "--json")
    [restored] = json.loads(out)
    assert restored["first_name"] == "Ann" and restored["job_title"] == "CTO"


def test_forget_pinned_cert_clears_only_the_pin(home, capsys):
    from tray_client.paths import resolve_paths
    from tray_client.settings import load_settings, save_settings

    code, _, err = run(capsys, "--home", home, "configure", "--url", "https://crm.example.org",
                       "--user", "ann", "--ignore-self-signed-cert")
    assert code == 0, err
    settings_file = resolve_paths(home).settings_file
    settings = load_settings(settings_file)
    settings.pinned_cert_sha256 = "ab" * 32     # as the first connection would pin it
    save_settings(settings, settings_file)
    code, _, err = run(capsys, "--home", home, "configure", "--forget-pinned-cert")
    assert code == 0, err
    settings = load_settings(settings_file)
    assert settings.pinned_cert_sha256 == "" and settings.ignore_self_signed_cert
    assert settings.url == "https://crm.example.org"


def test_bad_field_is_a_usage_error(home, capsys):
    code, _, err = run(capsys, "--home", home, "local", "add", "contacts",
                       "--set", "no_such_field=1")
    assert code == 2
    assert "no_such_field" in err


def test_sync_without_configuration_exits_1(home, capsys):
    code, _, err = run(capsys, "--home", home, "sync")
    assert code == 1
    assert "configure" in err


def test_check_connection_ok_and_wrong_key(configured, devserver, capsys, monkeypatch):
    code, out, _ = run(capsys, "--home", configured, "check-connection")
    assert code == 0, out
    assert out.splitlines()[-1] == "events: OK"     # calendar events: Oro's REST API
    monkeypatch.setenv("TRAY_CLIENT_API_KEY", "wrong-key")
    code, out, err = run(capsys, "--home", configured, "check-connection")
    assert code == 1
    assert "wrong-key" not in out + err


def test_sync_pulls_and_pushes_with_json_counts(configured, devserver, capsys):
    devserver.admin.create("contacts", {"firstName": "Crm", "lastName": "Person",
                                        "emails": [{"email": "crm@example.org"}]})
    code, out, _ = run(capsys, "--home", configured, "local", "add", "contacts",
                       "--set", "first_name=Local", "--set", "last_name=Person")
    assert code == 0
    code, out, err = run(capsys, "--home", configured, "sync", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "ok"
    assert result["counts"]["contacts"]["local"]["created"] == 1
    assert result["counts"]["contacts"]["crm"]["created"] == 1
    names = {(c["attributes"]["firstName"]) for c in
             (devserver.admin.get("contacts", i) for i in devserver.admin.ids("contacts"))}
    assert names == {"Crm", "Local"}

    # A sync right after a sync writes nothing.
    code, out, _ = run(capsys, "--home", configured, "sync", "--json")
    again = json.loads(out)
    for sides in again["counts"].values():
        for side in sides.values():
            assert side == {"created": 0, "updated": 0, "deleted": 0}

    code, out, _ = run(capsys, "--home", configured, "status", "--json")
    status = json.loads(out)
    assert status["local_counts"]["contacts"] == 2
    assert status["last_run"]["outcome"] == "ok"

    code, out, _ = run(capsys, "--home", configured, "report", "--runs", "2", "--json")
    runs = json.loads(out)
    assert len(runs) == 2
    first_run_rows = runs[1]["records"]
    assert {(r["entity"], r["action"], r["status"]) for r in first_run_rows} >= {
        ("contacts", "created", "success")}
    assert {r["name"] for r in first_run_rows} >= {"Crm Person", "Local Person"}
    code, out, _ = run(capsys, "--home", configured, "report", "--runs", "2")
    assert "Local Person" in out


def test_sync_offline_exits_1(home, capsys):
    code, _, _ = run(capsys, "--home", home, "configure", "--url", "http://127.0.0.1:9",
                     "--user", TEST_USER)
    assert code == 0
    code, _out, _err = run(capsys, "--home", home, "sync")
    assert code == 1


def test_resync_asks_and_can_be_declined(configured, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    code, out, _ = run(capsys, "--home", configured, "sync", "--resync")
    assert code == 0
    assert "Continue? [y/N]" in out
    assert "cancelled" in out.lower()


def test_import_export_round_trip(home, tmp_path, capsys):
    run(capsys, "--home", home, "local", "add", "contacts", "--set", "first_name=Zoë",
        "--set", "last_name=Ünal", "--set", "emails=z@example.org")
    target = tmp_path / "out.vcf"
    code, out, _ = run(capsys, "--home", home, "local", "export", "contacts", str(target))
    assert code == 0 and target.exists()
    other = str(tmp_path / "other")
    code, out, _ = run(capsys, "--home", other, "local", "import", str(target))
    assert code == 0
    code, out, _ = run(capsys, "--home", other, "local", "list", "contacts", "--json")
    [item] = json.loads(out)
    assert item["first_name"] == "Zoë" and item["last_name"] == "Ünal"


def test_queued_lead_is_sent_by_the_next_sync(configured, devserver, capsys):
    code, out, err = run(capsys, "--home", configured, "create", "lead", "--queue-only",
                         "--set", "name=Website enquiry", "--set", "firstName=Bo",
                         "--set", "lastName=Ek", "--json")
    assert code == 0, err
    assert devserver.admin.count("leads") == 0
    code, out, _ = run(capsys, "--home", configured, "status", "--json")
    assert json.loads(out)["pending_outbox"] == 1
    code, _, err = run(capsys, "--home", configured, "sync")
    assert code == 0, err
    [lead_id] = devserver.admin.ids("leads")
    assert devserver.admin.get("leads", lead_id)["attributes"]["name"] == "Website enquiry"
    code, out, _ = run(capsys, "--home", configured, "status", "--json")
    assert json.loads(out)["pending_outbox"] == 0


def test_configure_rules_and_status_shows_them(home, capsys):
    code, _, err = run(capsys, "--home", home, "configure",
                       "--rule", "contacts.direction=OroCRMToOutlook",
                       "--rule", "tasks.enabled=false", "--rule", "contacts.keys=lastName,emails",
                       "--rule", "events.pull_interval=900")
    assert code == 0, err
    code, out, _ = run(capsys, "--home", home, "status")
    assert code == 0
    assert ("contacts  OroCRMToOutlook, OroCRMAlwaysWins, keys lastName,emails, pull every "
            "120 s, push every 30 s") in out
    assert "tasks     disabled" in out
    assert "pull every 900 s" in out and "(CRM)" not in out
    code, out, _ = run(capsys, "--home", home, "status", "--json")
    rules = json.loads(out)["sync_rules"]
    assert rules["contacts"]["direction"] == "OroCRMToOutlook"
    assert rules["contacts"]["keys"] == ["lastName", "emails"]
    assert rules["tasks"]["enabled"] is False
    assert {r["set_by"] for r in rules.values()} == {"this computer"}


@pytest.mark.parametrize("rule", ["contacts.direction=Sideways", "leads.enabled=true",
                                  "contacts.keys=shoeSize", "contacts"])
def test_a_bad_rule_is_a_usage_error_and_saves_nothing(home, capsys, rule):
    code, _, err = run(capsys, "--home", home, "configure", "--url", "https://x.example",
                       "--rule", rule)
    assert code == 2
    assert err.startswith("Usage: Sync rule ")
    code, out, _ = run(capsys, "--home", home, "status", "--json")
    assert json.loads(out)["url"] == ""


def test_status_marks_the_rules_the_crm_section_sets(configured, devserver, capsys):
    devserver.admin.set_setting("contacts_sync_direction", "OutlookToOroCRM")
    code, _, err = run(capsys, "--home", configured, "configure",
                       "--rule", "contacts.direction=OroCRMToOutlook")
    assert code == 0, err
    code, _, err = run(capsys, "--home", configured, "sync")
    assert code == 0, err
    code, out, _ = run(capsys, "--home", configured, "status", "--json")
    contacts = json.loads(out)["sync_rules"]["contacts"]
    assert contacts["direction"] == "OutlookToOroCRM" and contacts["set_by"] == "CRM"
    assert "direction" in contacts["locked"]
    code, out, _ = run(capsys, "--home", configured, "status")
    assert "contacts  OutlookToOroCRM (CRM)" in out


def test_default_country_is_set_by_name_or_code_and_shown(home, capsys, monkeypatch):
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.setenv(name, "de_AT.UTF-8")
    code, out, _ = run(capsys, "--home", home, "status")
    assert "Default country for addresses: Austria (AT) (from the locale)" in out
    code, _, err = run(capsys, "--home", home, "configure", "--default-country", "Deutschland")
    assert code == 0, err
    code, out, _ = run(capsys, "--home", home, "status", "--json")
    status = json.loads(out)
    assert (status["default_country"], status["default_country_name"]) == ("DE", "Germany")
    assert status["default_country_from_locale"] is False
    code, _, err = run(capsys, "--home", home, "configure", "--default-country", "Narnia")
    assert code == 2 and "No country is called 'Narnia'" in err
    code, _, _ = run(capsys, "--home", home, "configure", "--default-country", "auto")
    code, out, _ = run(capsys, "--home", home, "status", "--json")
    assert json.loads(out)["default_country"] == "AT"


def test_settings_not_utf8_are_moved_aside_and_every_command_says_so_once(home, capsys):
    from tray_client.paths import resolve_paths

    settings = resolve_paths(home).ensure().settings_file
    for argv in (("configure", "--user", "ann"), ("local", "list", "contacts"),
                 ("status",)):
        settings.write_bytes(b'{"url": "\xff\xfe"}')
        code, out, err = run(capsys, "--home", home, *argv)
        assert "Traceback" not in out + err
        assert code == 0, err
        assert (out + err).count("damaged") == 1, out + err
        assert str(settings) + ".broken" in err
        assert settings.with_name("settings.json.broken").read_bytes() == b'{"url": "\xff\xfe"}'
    code, out, err = run(capsys, "--home", home, "status")
    assert "damaged" not in out + err


def _store_file(home: str, capsys) -> Path:
    from tray_client.paths import resolve_paths

    code, _, err = run(capsys, "--home", home, "local", "list", "contacts")
    assert code == 0, err
    return resolve_paths(home).store_file


def test_damaged_store_exits_1_with_a_clear_message(home, capsys):
    store = _store_file(home, capsys)
    for suffix in ("-wal", "-shm"):
        store.with_name(store.name + suffix).unlink(missing_ok=True)
    store.write_bytes(b"this is not a database" * 500)
    code, _, err = run(capsys, "--home", home, "local", "list", "contacts")
    assert code == 1
    assert "damaged or is not a database" in err and "Traceback" not in err


def test_zero_length_store_is_kept_and_reported(home, capsys):
    store = _store_file(home, capsys)
    for suffix in ("-wal", "-shm"):
        store.with_name(store.name + suffix).unlink(missing_ok=True)
    store.write_bytes(b"")
    code, _, err = run(capsys, "--home", home, "local", "list", "contacts")
    assert code == 0, err
    [kept] = list(store.parent.glob(store.name + ".empty-*"))
    assert kept.stat().st_size == 0
    assert err.count("was empty") == 1 and str(kept) in err
    code, _, err = run(capsys, "--home", home, "local", "list", "contacts")
    assert code == 0 and "was empty" not in err   # the new store is a real one now


@pytest.mark.parametrize(("assignment", "says"), [
    ("emails=not-an-email", "'not-an-email' is not an e-mail address"),
    ("emails=ann@example.org,bob at example.org", "is not an e-mail address"),
    ("first_name=" + "x" * 10_000, "At most 255 characters (this is 10000)"),
    ("last_name=Lee\x07", "control character (U+0007)"),
    ("job_title=two\nlines", "Must be a single line"),
    ("notes=" + "n" * 70_000, "At most 65535 characters"),
    ("business_address.city=Par\x00is", "business_address.city: Contains a control character"),
])
def test_local_values_the_crm_would_refuse_are_refused_at_entry(home, capsys, assignment, says):
    code, _, err = run(capsys, "--home", home, "local", "add", "contacts",
                       "--set", "first_name=Ann", "--set", assignment)
    assert code == 2 and says in err, err
    code, out, _ = run(capsys, "--home", home, "local", "list", "contacts", "--json")
    assert json.loads(out) == []
    code, out, _ = run(capsys, "--home", home, "local", "add", "contacts",
                       "--set", "first_name=Ann", "--set", "notes=two\nlines\tfine")
    assert code == 0
    item_id = out.strip()
    code, _, err = run(capsys, "--home", home, "local", "update", item_id, "--set", assignment)
    assert code == 2 and says in err, err
    code, out, _ = run(capsys, "--home", home, "local", "show", item_id, "--json")
    assert json.loads(out)["first_name"] == "Ann" and "emails" not in json.loads(out)


def test_import_says_what_each_entry_lost(home, tmp_path, capsys):
    from tests.store.test_interchange import RECURRING_ICS

    path = tmp_path / "cal.ics"
    path.write_text(RECURRING_ICS, encoding="utf-8")
    code, out, err = run(capsys, "--home", home, "local", "import", str(path))
    assert code == 0, err
    assert "Imported 3 item(s)" in out
    assert "warning: entry 1 (Weekly standup): it repeats (FREQ=WEEKLY;BYDAY=MO)" in err
    assert "warning: entry 2 (On Mars): DTSTART names the unknown time zone" in err


def test_a_store_from_a_newer_version_exits_1(home, capsys):
    import sqlite3

    store = _store_file(home, capsys)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.close()
    code, _, err = run(capsys, "--home", home, "local", "list", "contacts")
    assert code == 1 and "newer version" in err


def test_local_list_json_prints_what_a_json_dump_of_the_list_prints(home, capsys):
    from tray_client.store import LocalStore

    code, _, err = run(capsys, "--home", home, "local", "list", "contacts", "--json")
    assert code == 0, err
    code, out, _ = run(capsys, "--home", home, "local", "list", "contacts", "--json")
    assert out == "[]\n"
    for argv in (("first_name=Zoë", "last_name=Ñúñez", "business_address.city=Köln",
                  "notes=two\nlines \"quoted\""),
                 ("first_name=Ann", "emails=ann@example.org,a@example.org"),
                 ("last_name=Lee", "job_title=CTO")):
        code, _, err = run(capsys, "--home", home, "local", "add", "contacts",
                           *[part for a in argv for part in ("--set", a)])
        assert code == 0, err
    from tray_client.paths import resolve_paths

    with LocalStore(resolve_paths(home).store_file) as store:
        for search in (None, "ann"):
            expected = json.dumps([i.to_json() for i in store.list("contacts", search=search)],
                                  indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            argv = ("--search", search) if search else ()
            code, out, _ = run(capsys, "--home", home, "local", "list", "contacts", "--json",
                               *argv)
            assert code == 0
            assert out == expected
    assert len(json.loads(out)) == 1


def test_local_list_json_streams_in_constant_memory(home, capsys, monkeypatch):
    import io
    import tracemalloc

    from tray_client.paths import resolve_paths
    from tray_client.store import LocalStore

    with LocalStore(resolve_paths(home).store_file) as store:
        store.bulk_add("contacts", ({"first_name": f"Person {i}", "last_name": "Lee" * 20,
                                     "emails": [f"p{i}@example.org"], "notes": "n" * 200}
                                    for i in range(6000)))

    class Sink(io.StringIO):   # counts what is printed, keeps nothing
        written = 0

        def write(self, text: str) -> int:
            Sink.written += len(text)
            return len(text)

    monkeypatch.setattr("sys.stdout", Sink())
    assert main(["--home", home, "local", "list", "contacts", "--json", "--search", "x"]) == 0
    Sink.written = 0   # (that run imported what the command needs: not counted below)
    tracemalloc.start()
    try:
        code = main(["--home", home, "local", "list", "contacts", "--json"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    # A list of every item (as before) took several times the output's size; streaming
    # holds one batch of rows and one item's text.
    assert Sink.written > 3_000_000
    assert peak < Sink.written / 3, (peak, Sink.written)
