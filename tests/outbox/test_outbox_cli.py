"""``tray-client create`` / ``queue`` against the real reference server."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path, monkeypatch, devserver, capsys):
    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    monkeypatch.delenv("TRAY_CLIENT_HOME", raising=False)
    home = str(tmp_path / "home")
    code, _, err = run(capsys, "--home", home, "configure", "--url", devserver.url,
                       "--user", TEST_USER)
    assert code == 0, err
    return home


def test_create_sends_at_once_and_prints_id_state_and_link(home, devserver, capsys):
    code, out, err = run(capsys, "--home", home, "create", "case", "--set", "subject=Broken",
                         "--set", "priority=high", "--json")
    assert code == 0, err
    entry = json.loads(out)
    assert entry["state"] == "sent" and entry["kind"] == "case"
    assert entry["url"] == f"{devserver.url}/case/view/{entry['crm_id']}"
    record = devserver.admin.get("cases", entry["crm_id"])
    assert record["relationships"]["priority"]["data"]["id"] == "high"
    assert TEST_API_KEY not in out + err

    code, out, _ = run(capsys, "--home", home, "create", "lead", "--set", "name=Ann",
                       "--set", "emails=a@x.org", "--set", "emails=b@x.org")
    assert code == 0
    fields = out.split("\n")[0].split("\t")
    assert fields[1:3] == ["lead", "sent"]
    lead_id = fields[3].removeprefix("CRM id ")
    assert devserver.admin.get("leads", lead_id)["attributes"]["emails"] == [
        {"email": "a@x.org"}, {"email": "b@x.org"}]


def test_bad_input_exits_2_and_queues_nothing(home, devserver, capsys):
    code, _, err = run(capsys, "--home", home, "create", "opportunity",
                       "--set", "name=Deal", "--set", "status=dreaming",
                       "--set", "closeDate=soon")
    assert code == 2
    assert "status:" in err and "closeDate:" in err
    code, _, err = run(capsys, "--home", home, "create", "lead", "--set", "name")
    assert code == 2 and "FIELD=VALUE" in err
    code, out, _ = run(capsys, "--home", home, "queue", "list", "--json")
    assert json.loads(out) == []
    assert devserver.admin.count("opportunities") == 0


def test_rejected_by_the_crm_exits_3_and_stays_in_the_queue(home, devserver, capsys):
    # The server's opportunity layout has no currency field; a layout with one lets the
    # CRM's own validation speak.
    devserver.admin.set_setting("create_opportunity_dialog_layout", {"fields": [
        {"name": "name", "type": "string", "required": True},
        {"name": "budgetAmountCurrency", "type": "string"}]})
    account = devserver.admin.create("accounts", {"name": "Acme"})
    code, out, _ = run(capsys, "--home", home, "create", "opportunity", "--set", "name=Deal",
                       "--set", "budgetAmountCurrency=euro", "--set", f"account={account}")
    assert code == 3
    assert "failed" in out and "budgetAmountCurrency:" in out
    code, out, _ = run(capsys, "--home", home, "queue", "list", "--json")
    [entry] = json.loads(out)
    assert entry["state"] == "failed" and entry["crm_id"] is None
    code, out, _ = run(capsys, "--home", home, "queue", "drop", str(entry["id"]))
    assert code == 0
    code, out, _ = run(capsys, "--home", home, "queue", "drop", str(entry["id"]))
    assert code == 2


def test_offline_create_is_queued_then_sent_by_queue_send(home, devserver, capsys):
    devserver.stop()
    try:
        code, out, err = run(capsys, "--home", home, "create", "lead", "--set",
                             "name=Offline lead", "--json")
    finally:
        devserver.start()
    assert code == 0, err
    entry = json.loads(out)
    assert entry["state"] == "queued" and entry["crm_id"] is None
    code, out, _ = run(capsys, "--home", home, "queue", "list")
    assert "\tlead\tqueued\t-\tOffline lead" in out
    code, out, _ = run(capsys, "--home", home, "queue", "send", "--json")
    assert code == 0
    [sent] = json.loads(out)
    assert sent["state"] == "sent"
    assert devserver.admin.get("leads", sent["crm_id"])["attributes"]["name"] == "Offline lead"
    code, out, _ = run(capsys, "--home", home, "queue", "send")
    assert code == 0 and "Nothing to send." in out


def test_queue_only_does_not_contact_the_crm(home, devserver, capsys):
    code, out, _ = run(capsys, "--home", home, "create", "case", "--queue-only",
                       "--set", "subject=Later")
    assert code == 0 and "\tcase\tqueued" in out
    assert devserver.admin.count("cases") == 0


def test_create_opportunity_needs_an_account_or_a_customer(home, devserver, capsys):
    code, _, err = run(capsys, "--home", home, "create", "opportunity", "--set", "name=Deal")
    assert code == 2 and "account: Account or customer is required." in err
    acme = devserver.admin.create("accounts", {"name": "Acme"})
    retail = devserver.admin.create("b2bcustomers", {"name": "Acme Retail"}, {"account": acme})
    code, out, err = run(capsys, "--home", home, "create", "opportunity", "--set", "name=Deal",
                         "--set", f"customer={retail}", "--json")
    assert code == 0, err
    entry = json.loads(out)
    record = devserver.admin.get("opportunities", entry["crm_id"])
    assert record["relationships"]["account"]["data"]["id"] == acme
    assert record["relationships"]["customer"]["data"] == {"type": "b2bcustomers", "id": retail}


def test_create_case_offline_takes_the_presets_and_queues(home, devserver, capsys):
    devserver.stop()
    try:
        code, out, err = run(capsys, "--home", home, "create", "case", "--set",
                             "subject=Printer", "--json")
    finally:
        devserver.start()
    assert code == 0, err
    entry = json.loads(out)
    assert (entry["state"], entry["values"]["source"], entry["values"]["status"],
            entry["values"]["priority"]) == ("queued", "other", "open", "normal")


def test_create_opportunity_takes_an_account_by_its_exact_name(home, devserver, capsys):
    acme = devserver.admin.create("accounts", {"name": "Acme Corp"})
    devserver.admin.create("accounts", {"name": "Acme Corporation"})
    code, out, err = run(capsys, "--home", home, "create", "opportunity", "--set", "name=Deal",
                         "--set", "account=acme corp", "--json")
    assert code == 0, err
    entry = json.loads(out)
    assert entry["values"]["account"] == {"type": "accounts", "id": acme, "label": "Acme Corp"}
    assert (
        devserver.admin.get("opportunities", entry["crm_id"])["relationships"]["account"]["data"][
            "id"
        ]
        == acme
    )
    code, _, err = run(capsys, "--home", home, "create", "opportunity", "--set", "name=Deal",
                       "--set", "account=Acme")
    assert code == 2
    assert "account: No account is named 'Acme'; similar: Acme Corp" in err
