"""The outbox against the real reference server on loopback."""

from __future__ import annotations

import sqlite3

import pytest

from tray_client.crm import CrmClient
from tray_client.outbox import Outbox, default_forms, load_forms


@pytest.fixture
def db(tmp_path):
    conn = sqlite3.connect(tmp_path / "store.db")
    yield conn
    conn.close()


def _crm(devserver, **kwargs) -> CrmClient:
    # Few, fast retries: outage tests must not wait for the production backoff.
    kwargs.setdefault("retries", 1)
    kwargs.setdefault("backoff_base", 0.01)
    kwargs.setdefault("timeout", 5.0)
    return CrmClient(devserver.url, devserver.user, devserver.api_key, **kwargs)


def _rel_id(resource: dict, name: str) -> str | None:
    data = resource["relationships"][name]["data"]
    return data["id"] if data else None


def test_forms_come_from_the_server_layouts_and_enums(devserver):
    devserver.admin.set_setting("create_case_dialog_layout", {"fields": [
        {"name": "subject", "label": "What happened", "kind": "attribute", "type": "string",
         "required": True},
        {"name": "priority", "label": "Urgency", "kind": "relationship", "type": "enum",
         "enum": "casepriorities", "required": True}]})
    with _crm(devserver) as crm:
        forms = load_forms(crm)
    # The old bundle's lead layout is XAML: the built-in form is used for it.
    assert forms["lead"].field_names == default_forms()["lead"].field_names
    assert [c.id for c in forms["lead"].field("source").choices][:2] == ["website",
                                                                         "direct_mail"]
    assert forms["opportunity"].field("status").default_choice.id == "in_progress"
    case = forms["case"]
    assert case.field_names == ["subject", "priority"]
    assert case.field("subject").label == "What happened"
    assert [c.label for c in case.field("priority").choices] == ["Low", "Normal", "High"]


def test_each_kind_is_created_in_the_crm(devserver, db):
    with _crm(devserver) as crm:
        outbox = Outbox(db, load_forms(crm))
        lead = outbox.add("lead", {"name": "Quote for 20 licences", "firstName": "Ann",
                                   "lastName": "Smith", "emails": "ann@example.org",
                                   "phones": "+1 555 0100", "status": "qualified",
                                   "source": "website", "notes": "From the trade fair"})
        opportunity = outbox.add("opportunity", {
            "name": "Rollout 2027", "status": "negotiation", "closeDate": "2027-01-31",
            "probability": "40", "budgetAmountValue": "15000", "customerNeed": "SSO"})
        case = outbox.add("case", {"subject": "Printer portal down", "status": "in_progress",
                                   "priority": "high", "source": "email",
                                   "description": "Error 500"})
        results = outbox.send_pending(crm)
    assert [e.state for e in results] == ["sent", "sent", "sent"]

    sent_lead = outbox.get(lead.id)
    record = devserver.admin.get("leads", sent_lead.crm_id)
    assert record["attributes"]["name"] == "Quote for 20 licences"
    assert record["attributes"]["emails"] == [{"email": "ann@example.org"}]
    assert record["attributes"]["phones"] == [{"phone": "+1 555 0100"}]
    assert (_rel_id(record, "status"), _rel_id(record, "source")) == ("qualified", "website")

    record = devserver.admin.get("opportunities", outbox.get(opportunity.id).crm_id)
    assert record["attributes"]["closeDate"] == "2027-01-31"
    assert record["attributes"]["probability"] == pytest.approx(0.4)
    assert float(record["attributes"]["budgetAmountValue"]) == 15000
    assert _rel_id(record, "status") == "negotiation"

    record = devserver.admin.get("cases", outbox.get(case.id).crm_id)
    assert record["attributes"]["subject"] == "Printer portal down"
    assert (_rel_id(record, "status"), _rel_id(record, "priority"),
            _rel_id(record, "source")) == ("in_progress", "high", "email")


def test_defaults_apply_when_enums_are_left_empty(devserver, db):
    outbox = Outbox(db)
    entry = outbox.add("case", {"subject": "Defaults"})
    with _crm(devserver) as crm:
        outbox.send_pending(crm)
    record = devserver.admin.get("cases", outbox.get(entry.id).crm_id)
    assert (_rel_id(record, "status"), _rel_id(record, "priority")) == ("open", "normal")


def test_created_while_server_down_stays_queued_then_is_sent(devserver, db):
    outbox = Outbox(db, default_forms())
    devserver.stop()
    try:
        with _crm(devserver) as crm:
            entry = outbox.add("lead", {"name": "Typed on the train"})
            results = outbox.send_pending(crm)
        assert [(e.id, e.state) for e in results] == [(entry.id, "queued")]
        assert "refused the connection" in results[0].message
    finally:
        devserver.start()
    assert devserver.admin.count("leads") == 0
    with _crm(devserver) as crm:
        results = outbox.send_pending(crm)
    assert [e.state for e in results] == ["sent"]
    assert devserver.admin.get("leads", results[0].crm_id)["attributes"]["name"] == (
        "Typed on the train")
    assert devserver.admin.count("leads") == 1


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 503},
                                   {"kind": "drop"}])
def test_injected_faults_keep_it_queued_until_the_crm_answers(devserver, db, fault):
    outbox = Outbox(db)
    entry = outbox.add("lead", {"name": "Unlucky"})
    devserver.admin.inject_fault("/api/leads", times=None, method="POST", **fault)
    with _crm(devserver) as crm:
        results = outbox.send_pending(crm)
    assert [(e.id, e.state) for e in results] == [(entry.id, "queued")]
    assert "try again later" in results[0].message
    assert devserver.admin.count("leads") == 0
    devserver.admin.clear_faults()
    with _crm(devserver) as crm:
        assert [e.state for e in outbox.send_pending(crm)] == ["sent"]
        assert outbox.send_pending(crm) == []
    assert devserver.admin.count("leads") == 1


def test_rejected_record_keeps_the_crm_message_and_can_be_fixed(devserver, db):
    outbox = Outbox(db)  # built-in forms: they offer the currency field
    bad = outbox.add("opportunity", {"name": "Euro deal", "budgetAmountValue": "100",
                                     "budgetAmountCurrency": "euro"})
    good = outbox.add("case", {"subject": "Fine"})
    with _crm(devserver) as crm:
        results = outbox.send_pending(crm)
    assert [(e.id, e.state) for e in results] == [(bad.id, "failed"), (good.id, "sent")]
    failed = outbox.get(bad.id)
    assert failed.crm_id is None and failed.message
    assert "currency" in failed.field_errors["budgetAmountCurrency"].lower()
    assert devserver.admin.count("opportunities") == 0

    outbox.update(bad.id, {**failed.values, "budgetAmountCurrency": "EUR"})
    with _crm(devserver) as crm:
        results = outbox.send_pending(crm)
    assert [(e.id, e.state) for e in results] == [(bad.id, "sent")]
    record = devserver.admin.get("opportunities", results[0].crm_id)
    assert record["attributes"]["budgetAmountCurrency"] == "EUR"
    assert _rel_id(record, "status") == "in_progress"


def test_timeout_marks_the_entry_uncertain_and_never_resends_it_alone(devserver, db):
    from tray_client.outbox.outbox import UNCERTAIN_MESSAGE

    outbox = Outbox(db)
    entry = outbox.add("lead", {"name": "Slow server"})
    # The server answers too late: whether the record was created is unknown to the client.
    devserver.admin.inject_fault("/api/leads", kind="delay", delay=1.0, method="POST")
    with _crm(devserver, timeout=0.3) as crm:
        results = outbox.send_pending(crm)
    assert [(e.id, e.state, e.message) for e in results] == [
        (entry.id, "failed", UNCERTAIN_MESSAGE)]
    # A later run leaves it alone (a blind resend could duplicate the record) …
    with _crm(devserver) as crm:
        assert outbox.send_pending(crm) == []
    assert devserver.admin.count("leads") == 0
    # … until the user, having checked the CRM, resends it.
    outbox.update(entry.id, outbox.get(entry.id).values)
    with _crm(devserver) as crm:
        assert [e.state for e in outbox.send_pending(crm)] == ["sent"]
    assert devserver.admin.count("leads") == 1
