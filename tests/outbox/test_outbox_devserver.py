"""The outbox against the real reference server on loopback."""

from __future__ import annotations

import json
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
    assert [c.id for c in forms["lead"].field("source").choices] == ["demand_generation"]
    assert forms["opportunity"].field("status").default_choice.id == "in_progress"
    case = forms["case"]
    # Oro requires source and status as well: added to the server's layout.
    assert case.field_names == ["subject", "source", "status", "priority"]
    assert case.field("subject").label == "What happened"
    assert [c.label for c in case.field("priority").choices] == ["Low", "Normal", "High"]


def test_each_kind_is_created_in_the_crm(devserver, db):
    account = devserver.admin.create("accounts", {"name": "Acme"})
    with _crm(devserver) as crm:
        outbox = Outbox(db, load_forms(crm))
        lead = outbox.add("lead", {"name": "Quote for 20 licences", "firstName": "Ann",
                                   "lastName": "Smith", "emails": "ann@example.org",
                                   "phones": "+1 555 0100", "status": "qualified",
                                   "source": "demand_generation", "notes": "From the trade fair"})
        opportunity = outbox.add("opportunity", {
            "name": "Rollout 2027", "status": "negotiation", "closeDate": "2027-01-31",
            "probability": "40", "budgetAmountValue": "15000", "customerNeed": "SSO",
            "account": {"type": "accounts", "id": account, "label": "Acme"}})
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
    assert (_rel_id(record, "status"), _rel_id(record, "source")) == (
        "qualified",
        "demand_generation",
    )

    record = devserver.admin.get("opportunities", outbox.get(opportunity.id).crm_id)
    assert record["attributes"]["closeDate"] == "2027-01-31"
    assert record["attributes"]["probability"] == pytest.approx(0.4)
    assert float(record["attributes"]["budgetAmountValue"]) == 15000
    assert _rel_id(record, "status") == "negotiation"
    assert _rel_id(record, "account") == account

    record = devserver.admin.get("cases", outbox.get(case.id).crm_id)
    assert record["attributes"]["subject"] == "Printer portal down"
    assert (_rel_id(record, "status"), _rel_id(record, "priority"),
            _rel_id(record, "source")) == ("in_progress", "high", "email")


def test_case_presets_apply_when_enums_are_left_empty(devserver, db):
    # Oro gives a case no source, status or priority of its own (and refuses it without):
    # the form's presets from the CRM's lists are sent.
    with _crm(devserver) as crm:
        outbox = Outbox(db, load_forms(crm))
        entry = outbox.add("case", {"subject": "Defaults"})
        outbox.send_pending(crm)
    record = devserver.admin.get("cases", outbox.get(entry.id).crm_id)
    assert (_rel_id(record, "status"), _rel_id(record, "priority"), _rel_id(record, "source")) == (
        "open", "normal", "other")


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
    account = devserver.admin.create("accounts", {"name": "Acme"})
    bad = outbox.add("opportunity", {"name": "Euro deal", "budgetAmountValue": "100",
                                     "budgetAmountCurrency": "euro", "account": account})
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


def test_an_opportunity_for_a_business_customer_gets_its_account(devserver, db):
    acme = devserver.admin.create("accounts", {"name": "Acme"})
    retail = devserver.admin.create("b2bcustomers", {"name": "Acme Retail"}, {"account": acme})
    with _crm(devserver) as crm:
        outbox = Outbox(db, load_forms(crm))
        entry = outbox.add("opportunity", {"name": "Shop fitting", "customer": retail})
        [result] = outbox.send_pending(crm)
    assert result.state == "sent", result.message
    record = devserver.admin.get("opportunities", result.crm_id)
    assert (_rel_id(record, "customer"), _rel_id(record, "account")) == (retail, acme)
    assert outbox.get(entry.id).values["account"] == {"type": "b2bcustomers", "id": retail,
                                                      "label": f"#{retail}"}


def test_an_entry_queued_without_an_account_fails_at_the_account_field_then_is_fixed(devserver, db):
    # An opportunity queued by an older version (no account) meets Oro's rule when sent.
    outbox = Outbox(db)
    payload = {"type": "opportunities", "attributes": {"name": "Old entry"},
               "relationships": {"status": {"data": {"type": "opportunitystatuses", "id": "won"}}}}
    db.execute("INSERT INTO outbox_entries (kind, values_json, payload_json, state, created_at, "
               "updated_at) VALUES ('opportunity', ?, ?, 'queued', '2026-01-01T00:00:00Z', "
               "'2026-01-01T00:00:00Z')", (json.dumps({"name": "Old entry", "status": "won"}),
                                          json.dumps(payload)))
    db.commit()
    with _crm(devserver) as crm:
        [failed] = outbox.send_pending(crm)
    assert failed.state == "failed"
    assert failed.field_errors == {"account": "Either an account or a customer should be set."}
    account = devserver.admin.create("accounts", {"name": "Globex"})
    outbox.update(failed.id, {**failed.values, "account": account})
    with _crm(devserver) as crm:
        [sent] = outbox.send_pending(crm)
    assert sent.state == "sent"
    assert _rel_id(devserver.admin.get("opportunities", sent.crm_id), "account") == account


def test_a_case_refused_for_a_blank_enum_names_the_field(devserver, db):
    outbox = Outbox(db)
    payload = {"type": "cases", "attributes": {"subject": "Old case"}, "relationships": {}}
    db.execute(
        "INSERT INTO outbox_entries (kind, values_json, payload_json, state, created_at, "
        "updated_at) VALUES ('case', ?, ?, 'queued', '2026-01-01T00:00:00Z', "
        "'2026-01-01T00:00:00Z')",
        (json.dumps({"subject": "Old case"}), json.dumps(payload)),
    )
    db.commit()
    with _crm(devserver) as crm:
        [failed] = outbox.send_pending(crm)
    assert failed.field_errors == {"source": "This value should not be blank."}


def test_customers_are_searched_and_the_senders_account_is_found(devserver):
    from tray_client.outbox import CustomerChoice, account_of_sender, search_customers

    acme = devserver.admin.create("accounts", {"name": "Acme Corp"})
    devserver.admin.create("accounts", {"name": "Globex"})
    retail = devserver.admin.create("b2bcustomers", {"name": "Acme Retail"}, {"account": acme})
    ann = devserver.admin.create(
        "contacts", {"firstName": "Ann", "emails": [{"email": "ann@acme.test"}]}
    )
    devserver.admin.create(
        "contacts", {"firstName": "Bob", "emails": [{"email": "bob@nowhere.test"}]}
    )
    devserver.admin.update("accounts", acme, {}, {"contacts": [ann]})
    with _crm(devserver) as crm:
        found = search_customers(crm, "acme")
        assert found == [CustomerChoice("accounts", acme, "Acme Corp"),
                         CustomerChoice("b2bcustomers", retail, "Acme Retail")]
        assert found[1].text == "Acme Retail (business customer)"
        assert search_customers(crm, "  ") == []
        assert account_of_sender(crm, "Ann@Acme.test") == CustomerChoice(
            "accounts", acme, "Acme Corp"
        )
        assert account_of_sender(crm, "bob@nowhere.test") is None
        assert account_of_sender(crm, "stranger@x.test") is None


def test_builtin_enum_lists_match_a_fresh_crm_in_ids_order_and_defaults(devserver):
    # What the side panel offers offline is exactly what a fresh Oro (this server, fresh) has,
    # in the order it shows them: a record queued offline is never refused for an enum id.
    from tray_client.outbox import DEFAULT_ENUMS

    with _crm(devserver) as crm:
        for enum, builtin in DEFAULT_ENUMS.items():
            served = crm.enum_values(enum)
            assert [(c.id, c.label, c.default) for c in builtin] == [
                (v.id, v.label, v.default) for v in served], enum


def test_a_case_from_an_email_is_linked_to_the_senders_contact(devserver, db):
    from tray_client.mail import MailMessage, prefill
    from tray_client.outbox import CustomerChoice, contact_of_sender

    ann = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                              "emails": [{"email": "ann@acme.test"}]})
    message = MailMessage(sender_name="Ann Lee", sender_address="Ann@Acme.test",
                          subject="Printer jam", body="It jams.")
    with _crm(devserver) as crm:
        outbox = Outbox(db, load_forms(crm))
        link = contact_of_sender(crm, message.sender_address)
        assert link == CustomerChoice("contacts", ann, "Ann Lee")
        assert contact_of_sender(crm, "stranger@nowhere.test") is None
        linked = outbox.add("case", {**prefill("case", message), "relatedContact": link.as_value()})
        unlinked = outbox.add("case", prefill("case", MailMessage(
            sender_address="stranger@nowhere.test", subject="Hello")))
        assert linked.values["relatedContact"] == {
            "type": "contacts",
            "id": ann,
            "label": "Ann Lee",
        }
        assert "relatedContact" not in unlinked.values
        results = outbox.send_pending(crm)
    assert [e.state for e in results] == ["sent", "sent"]
    record = devserver.admin.get("cases", outbox.get(linked.id).crm_id)
    assert _rel_id(record, "relatedContact") == ann
    # The sender stays in the description too (who reported it, when).
    assert "Ann Lee" in record["attributes"]["description"]
    record = devserver.admin.get("cases", outbox.get(unlinked.id).crm_id)
    assert _rel_id(record, "relatedContact") is None


def test_a_case_queued_offline_keeps_a_known_link_and_is_sent_later(devserver, db):
    ann = devserver.admin.create(
        "contacts", {"firstName": "Ann", "emails": [{"email": "ann@acme.test"}]}
    )
    outbox = Outbox(db, default_forms())
    devserver.stop()
    try:
        with _crm(devserver) as crm:
            linked = outbox.add("case", {"subject": "Known sender", "relatedContact": {
                "type": "contacts", "id": ann, "label": "Ann"}})
            # A link that is no usable contact reference is left out, never a problem.
            plain = outbox.add("case", {"subject": "Lookup failed", "relatedContact": None})
            odd = outbox.add("case", {"subject": "Odd link", "relatedContact": {
                "type": "accounts", "id": "x"}})
            results = outbox.send_pending(crm)
        # Offline: the run stops at the first entry, all stay queued, link and all.
        assert [(e.id, e.state) for e in results] == [(linked.id, "queued")]
        assert outbox.get(linked.id).values["relatedContact"]["id"] == ann
    finally:
        devserver.start()
    assert "relatedContact" not in plain.values and "relatedContact" not in odd.values
    with _crm(devserver) as crm:
        results = outbox.send_pending(crm)
    assert [e.state for e in results] == ["sent", "sent", "sent"]
    assert (
        _rel_id(devserver.admin.get("cases", outbox.get(linked.id).crm_id), "relatedContact") == ann
    )
    assert (
        _rel_id(devserver.admin.get("cases", outbox.get(plain.id).crm_id), "relatedContact") is None
    )
