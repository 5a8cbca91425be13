"""The outbox's own behaviour: storage, states, and how each CRM answer is recorded.

The CRM here is a scripted stand-in so every error class can be produced on demand; the
same flows against the real reference server are in test_outbox_devserver.py.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest

from tray_client.errors import (
    AuthError,
    CrmTimeoutError,
    FieldError,
    ForbiddenError,
    OfflineError,
    ServerError,
    StoreError,
    ValidationError,
)
from tray_client.outbox import InvalidEntryError, Outbox, OutboxError, web_url
from tray_client.outbox.outbox import UNCERTAIN_MESSAGE


@dataclass
class _Created:
    id: str


class ScriptedCrm:
    """Answers create() from a list: an exception to raise, or None for success."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[tuple[str, dict, dict | None]] = []

    def create(self, type, attributes, relationships=None, included=None):
        self.calls.append((type, attributes, relationships))
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return _Created(str(100 + len(self.calls)))


@pytest.fixture
def db(tmp_path):
    conn = sqlite3.connect(tmp_path / "store.db")
    yield conn
    conn.close()


def test_add_commits_before_any_network_call(db, tmp_path):
    outbox = Outbox(db)
    entry = outbox.add("lead", {"name": "Ann's company", "emails": "ann@example.org"})
    assert entry.state == "queued" and entry.crm_id is None
    # Another connection sees it: it is committed, not just in this connection's transaction.
    other = sqlite3.connect(tmp_path / "store.db")
    assert other.execute("SELECT kind, state FROM outbox_entries").fetchall() == [
        ("lead", "queued")]
    other.close()
    assert Outbox(db).get(entry.id).values == {"name": "Ann's company",
                                               "emails": ["ann@example.org"]}


def test_invalid_values_are_not_queued(db):
    outbox = Outbox(db)
    with pytest.raises(InvalidEntryError) as caught:
        outbox.add("opportunity", {"name": "", "closeDate": "tomorrow"})
    assert {p.field for p in caught.value.problems} == {"name", "closeDate", "account"}
    assert outbox.list() == []
    with pytest.raises(InvalidEntryError):
        outbox.add("contact", {"name": "x"})


def test_schema_version_is_recorded_and_newer_schema_refused(db):
    Outbox(db)
    assert db.execute("SELECT version FROM outbox_schema").fetchall() == [(1,)]
    Outbox(db)  # opening again changes nothing
    assert db.execute("SELECT version FROM outbox_schema").fetchall() == [(1,)]
    db.execute("UPDATE outbox_schema SET version = 99")
    db.commit()
    with pytest.raises(StoreError, match="newer version"):
        Outbox(db)


def test_add_inside_an_open_transaction_uses_a_savepoint(db):
    outbox = Outbox(db)
    db.execute("BEGIN")
    db.execute("CREATE TABLE other_work (x)")
    outbox.add("case", {"subject": "In a transaction"})
    assert db.in_transaction  # the caller's transaction is still theirs to commit
    db.rollback()
    assert outbox.list() == []


def test_list_get_drop(db):
    outbox = Outbox(db)
    first = outbox.add("lead", {"name": "First"})
    second = outbox.add("case", {"subject": "Second"})
    assert [e.id for e in outbox.list()] == [second.id, first.id]  # newest first
    assert [e.id for e in outbox.list(limit=1)] == [second.id]
    assert outbox.list(states=("sent",)) == []
    assert outbox.get(999) is None
    outbox.drop(first.id)
    assert outbox.get(first.id) is None
    with pytest.raises(OutboxError):
        outbox.drop(first.id)
    assert second.title == "Second" and outbox.pending_count() == 1


def test_send_pending_sends_each_entry_with_its_payload(db):
    outbox = Outbox(db)
    lead = outbox.add("lead", {"name": "L", "emails": "l@x.org", "status": "qualified"})
    case = outbox.add("case", {"subject": "C", "priority": "high"})
    crm = ScriptedCrm()
    results = outbox.send_pending(crm)
    assert [(e.id, e.state, e.crm_id) for e in results] == [(lead.id, "sent", "101"),
                                                             (case.id, "sent", "102")]
    assert crm.calls[0] == ("leads", {"name": "L", "emails": [{"email": "l@x.org"}]},
                            {"status": {"data": {"type": "leadstatuses", "id": "qualified"}}})
    assert crm.calls[1][0] == "cases"
    sent = outbox.get(lead.id)
    assert sent.sent_at and sent.attempts == 1 and sent.message is None
    assert outbox.send_pending(crm) == []  # nothing left: no second create
    assert len(crm.calls) == 2


def test_one_rejection_does_not_stop_the_others(db):
    outbox = Outbox(db)
    bad = outbox.add("lead", {"name": "Bad", "emails": "dup@x.org"})
    good = outbox.add("lead", {"name": "Good"})
    rejection = ValidationError("The e-mail is not allowed.", errors=[
        FieldError("email constraint", "This value is not a valid email address.",
                   pointer="/data/attributes/emails/0/email"),
        FieldError("other", "Something general.")])
    results = outbox.send_pending(ScriptedCrm(rejection, None))
    assert [(e.id, e.state) for e in results] == [(bad.id, "failed"), (good.id, "sent")]
    failed = outbox.get(bad.id)
    assert failed.message == "The e-mail is not allowed."
    # The pointer names the form field (emails), not the item key (email).
    assert failed.field_errors == {"emails": "This value is not a valid email address."}


def test_other_record_errors_fail_only_that_record(db):
    outbox = Outbox(db)
    first = outbox.add("case", {"subject": "A"})
    second = outbox.add("case", {"subject": "B"})
    third = outbox.add("case", {"subject": "C"})
    results = outbox.send_pending(ScriptedCrm(ForbiddenError("No permission to create cases."),
                                              RuntimeError("bug in a parser"), None))
    assert [(e.id, e.state) for e in results] == [(first.id, "failed"), (second.id, "failed"),
                                                  (third.id, "sent")]
    assert "No permission" in outbox.get(first.id).message
    assert "bug in a parser" in outbox.get(second.id).message


@pytest.mark.parametrize("error", [OfflineError("Connection refused"),
                                   AuthError("Wrong API key"), ServerError("x")])
def test_offline_and_auth_keep_entries_queued_and_stop(db, error):
    outbox = Outbox(db)
    first = outbox.add("lead", {"name": "One"})
    second = outbox.add("lead", {"name": "Two"})
    crm = ScriptedCrm(error)
    results = outbox.send_pending(crm)
    if isinstance(error, ServerError):  # a 5xx on one record is that record's failure
        assert [e.state for e in results] == ["failed", "sent"]
        return
    assert [(e.id, e.state) for e in results] == [(first.id, "queued")]
    assert error.message in results[0].message
    assert outbox.get(second.id).state == "queued" and len(crm.calls) == 1
    # Later, online: both go.
    assert [e.state for e in outbox.send_pending(ScriptedCrm())] == ["sent", "sent"]


def test_timeout_is_not_resent_blindly(db):
    outbox = Outbox(db)
    entry = outbox.add("lead", {"name": "Maybe created"})
    outbox.send_pending(ScriptedCrm(CrmTimeoutError("no answer")))
    after = outbox.get(entry.id)
    assert after.state == "failed" and after.message == UNCERTAIN_MESSAGE
    assert outbox.send_pending(ScriptedCrm()) == []
    # The user checked the CRM and resends it.
    outbox.update(entry.id, after.values)
    assert [e.state for e in outbox.send_pending(ScriptedCrm())] == ["sent"]


def test_entry_left_sending_by_a_crash_becomes_failed_uncertain(db):
    outbox = Outbox(db)
    entry = outbox.add("lead", {"name": "Crashed"})
    db.execute("UPDATE outbox_entries SET state = 'sending', updated_at = '2026-01-01T00:00:00Z'")
    db.commit()
    crm = ScriptedCrm()
    assert outbox.send_pending(crm) == [] and crm.calls == []
    assert outbox.get(entry.id).state == "failed"
    assert outbox.get(entry.id).message == UNCERTAIN_MESSAGE


def test_entry_being_sent_elsewhere_is_not_sent_twice(db, tmp_path):
    mine = Outbox(db)
    entry = mine.add("lead", {"name": "Busy"})
    # Another process claimed it a moment ago (recently: not stale).
    other = sqlite3.connect(tmp_path / "store.db")
    other.execute("UPDATE outbox_entries SET state = 'sending'")
    other.commit()
    other.close()
    crm = ScriptedCrm()
    assert mine.send_pending(crm) == [] and crm.calls == []
    assert mine.get(entry.id).state == "sending"
    with pytest.raises(OutboxError, match="being sent"):
        mine.drop(entry.id)
    with pytest.raises(OutboxError):
        mine.update(entry.id, {"name": "Changed"})


def test_update_fixes_and_requeues_a_failed_entry(db):
    outbox = Outbox(db)
    entry = outbox.add(
        "opportunity", {"name": "Deal", "budgetAmountCurrency": "euro", "account": "3"}
    )
    rejection = ValidationError("Invalid currency", errors=[FieldError(
        "currency constraint", "This value is not a valid currency code.",
        pointer="/data/attributes/budgetAmountCurrency")])
    outbox.send_pending(ScriptedCrm(rejection))
    failed = outbox.get(entry.id)
    assert failed.field_errors == {
        "budgetAmountCurrency": "This value is not a valid currency code."}
    with pytest.raises(InvalidEntryError):
        outbox.update(entry.id, {"name": ""})
    fixed = outbox.update(entry.id, {**failed.values, "budgetAmountCurrency": "EUR"})
    assert fixed.state == "queued" and fixed.message is None and fixed.field_errors == {}
    crm = ScriptedCrm()
    assert [e.state for e in outbox.send_pending(crm)] == ["sent"]
    assert crm.calls[0][1]["budgetAmountCurrency"] == "EUR"
    with pytest.raises(OutboxError, match="sent"):
        outbox.update(entry.id, fixed.values)


def test_send_only_some_ids(db):
    outbox = Outbox(db)
    first = outbox.add("lead", {"name": "A"})
    second = outbox.add("lead", {"name": "B"})
    assert [e.id for e in outbox.send_pending(ScriptedCrm(), ids=[second.id])] == [second.id]
    assert outbox.get(first.id).state == "queued"


@pytest.mark.parametrize("kind, path", [("lead", "lead/view/12"),
                                        ("opportunity", "opportunity/view/12"),
                                        ("case", "case/view/12")])
def test_web_url(kind, path):
    assert web_url("https://crm.example.com/", kind, "12") == f"https://crm.example.com/{path}"
    assert web_url("https://shop.example.com/admin", kind, "12") == (
        f"https://shop.example.com/admin/{path}")


def test_outbox_in_a_local_store_never_writes_into_another_threads_transaction(tmp_path):
    import threading

    from tray_client.store import LocalStore

    store = LocalStore(tmp_path / "store.db")
    try:
        outbox = Outbox.for_store(store)
        inside, release = threading.Event(), threading.Event()

        def sync_like_writer():
            try:
                with store.transaction():
                    store.connection.execute("CREATE TABLE scratch (x)")
                    inside.set()
                    release.wait(5)
                    raise RuntimeError("this transaction is rolled back")
            except RuntimeError:
                pass

        worker = threading.Thread(target=sync_like_writer)
        worker.start()
        assert inside.wait(5)
        adder = threading.Thread(target=lambda: outbox.add("lead", {"name": "Kept"}))
        adder.start()
        adder.join(0.2)
        assert adder.is_alive()  # waits for the other transaction instead of joining it
        release.set()
        worker.join(5)
        adder.join(5)
        assert [e.title for e in outbox.list()] == ["Kept"]  # not rolled back with it
    finally:
        store.close()


def test_oros_account_errors_land_on_the_account_field(db):
    outbox = Outbox(db)
    entry = outbox.add("opportunity", {"name": "Deal", "account": "b2bcustomers:9"})
    # OpportunityTest: no source pointer for the first, the customer relationship for the second.
    for error, expected in (
        (
            FieldError("form constraint", "Either an account or a customer should be set."),
            "Either an account or a customer should be set.",
        ),
        (
            FieldError(
                "form constraint",
                "The customer should be a part of the specified account.",
                pointer="/data/relationships/customer/data",
            ),
            "The customer should be a part of the specified account.",
        ),
    ):
        outbox.send_pending(ScriptedCrm(ValidationError("Rejected", errors=[error])))
        assert outbox.get(entry.id).field_errors == {"account": expected}
        outbox.update(entry.id, outbox.get(entry.id).values)
