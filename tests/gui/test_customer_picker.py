"""The opportunity's account picker and the case presets, against the reference server."""

from __future__ import annotations

import sqlite3

import pytest
from PySide6.QtCore import Qt

from tray_client.crm import CrmClient
from tray_client.errors import OfflineError
from tray_client.gui.sidepanel import SidePanel, SidePanelContext
from tray_client.gui.sidepanel.customer_picker import CustomerPicker
from tray_client.mail import MailMessage
from tray_client.outbox import CustomerChoice, Outbox, account_of_sender, search_customers


@pytest.fixture
def crm(devserver):
    client = CrmClient(
        devserver.url, devserver.user, devserver.api_key, retries=1, backoff_base=0.01
    )
    yield client
    client.close()


@pytest.fixture
def accounts(devserver):
    acme = devserver.admin.create("accounts", {"name": "Acme Corp"})
    devserver.admin.create("accounts", {"name": "Globex"})
    retail = devserver.admin.create("b2bcustomers", {"name": "Acme Retail"}, {"account": acme})
    ann = devserver.admin.create(
        "contacts", {"firstName": "Ann", "emails": [{"email": "ann@acme.test"}]}
    )
    devserver.admin.update("accounts", acme, {}, {"contacts": [ann]})
    return {"acme": acme, "retail": retail}


@pytest.fixture
def panel(qtbot, tmp_path, crm, devserver):
    conn = sqlite3.connect(tmp_path / "store.db", check_same_thread=False)
    outbox = Outbox(conn)
    panel = SidePanel(SidePanelContext(
        outbox=outbox, send_now=lambda: outbox.send_pending(crm), crm_url=lambda: devserver.url,
        search_customers=lambda text: search_customers(crm, text),
        sender_account=lambda address: account_of_sender(crm, address)))
    qtbot.addWidget(panel)
    yield panel
    conn.close()


def _type(qtbot, picker: CustomerPicker, text: str):
    picker.line.setFocus()
    with qtbot.waitSignal(picker.searched, timeout=5000) as blocker:
        qtbot.keyClicks(picker.line, text)
    return blocker.args[0]


def test_typing_searches_accounts_and_customers_and_a_choice_is_sent(
    qtbot, panel, accounts, devserver
):
    panel.show()
    dialog = panel.open_form("opportunity")
    picker = dialog.editors["account"]
    assert isinstance(picker, CustomerPicker) and dialog.form.field("account").required
    found = _type(qtbot, picker, "acme")
    assert [c.text for c in found] == ["Acme Corp", "Acme Retail (business customer)"]
    assert picker.results.isVisible() and picker.results.count() == 2
    # Down + Enter chooses the second; Enter does not submit the form meanwhile.
    qtbot.keyClick(picker.line, Qt.Key.Key_Down)
    qtbot.keyClick(picker.line, Qt.Key.Key_Return)
    assert dialog.isVisible() and not picker.results.isVisible()
    assert picker.value() == {
        "type": "b2bcustomers",
        "id": accounts["retail"],
        "label": "Acme Retail",
    }
    dialog.editors["name"].setText("Shop fitting")
    with qtbot.waitSignal(panel.send_finished, timeout=5000):
        assert dialog.try_submit()
    [entry] = panel.context.outbox.list()
    assert entry.state == "sent", entry.message
    record = devserver.admin.get("opportunities", entry.crm_id)
    assert record["relationships"]["customer"]["data"]["id"] == accounts["retail"]
    assert record["relationships"]["account"]["data"]["id"] == accounts["acme"]


def test_an_account_is_required_before_anything_is_queued(qtbot, panel, accounts):
    dialog = panel.open_form("opportunity")
    dialog.editors["name"].setText("Deal")
    assert dialog.try_submit() is False
    assert dialog.error_labels["account"].text() == "Account or customer is required."
    assert panel.context.outbox.list() == []
    # Typed text that is no choice and no id is not a value: still required.
    dialog.editors["account"].line.setText("Acme")
    assert dialog.try_submit() is False and panel.context.outbox.list() == []


def test_no_match_and_stale_answers(qtbot, panel, accounts):
    dialog = panel.open_form("opportunity")
    picker = dialog.editors["account"]
    assert _type(qtbot, picker, "zz") == []
    assert not picker.results.isVisible()
    assert "No account or customer matches" in picker.note.text()
    # An answer to an older search is dropped once the user has typed on.
    picker._found(picker._generation - 1, [CustomerChoice("accounts", "9", "Old")])
    assert picker.results.count() == 0


def test_offline_search_says_so_and_a_typed_id_still_works(qtbot, tmp_path):
    def offline(_text):
        raise OfflineError("The CRM refused the connection.")

    conn = sqlite3.connect(tmp_path / "s.db", check_same_thread=False)
    panel = SidePanel(
        SidePanelContext(outbox=Outbox(conn), send_now=list, search_customers=offline)
    )
    qtbot.addWidget(panel)
    dialog = panel.open_form("opportunity")
    picker = dialog.editors["account"]
    assert isinstance(_type(qtbot, picker, "acme"), OfflineError)
    assert "Cannot search the CRM" in picker.note.text() and picker.note.isVisible()
    picker.line.setText("12")
    dialog.editors["name"].setText("Offline deal")
    assert dialog.try_submit()
    [entry] = panel.context.outbox.list()
    assert entry.values["account"] == {"type": "accounts", "id": "12", "label": "#12"}
    conn.close()


def test_an_email_prefills_the_senders_account(qtbot, panel, accounts):
    message = MailMessage(sender_name="Ann", sender_address="ann@acme.test", subject="Offer")
    dialog = panel.open_form("opportunity")
    with qtbot.waitSignal(dialog.sender_lookup_done, timeout=5000):
        dialog.prefill_from(message)
    picker = dialog.editors["account"]
    assert picker.value() == {"type": "accounts", "id": accounts["acme"], "label": "Acme Corp"}
    assert "the sender" in picker.note.text()
    # An unknown sender leaves the picker empty, with a hint.
    dialog = panel.open_form("opportunity")
    with qtbot.waitSignal(dialog.sender_lookup_done, timeout=5000):
        dialog.prefill_from(MailMessage(sender_address="who@nowhere.test", subject="Hi"))
    assert dialog.editors["account"].value() is None
    assert "search for the account" in dialog.editors["account"].note.text()


def test_a_choice_made_before_the_lookup_answers_is_kept(qtbot, panel, accounts):
    dialog = panel.open_form("opportunity")
    picker = dialog.editors["account"]
    mine = CustomerChoice("accounts", "77", "Mine")
    picker.set_value(mine)
    dialog._sender_found(
        picker, "ann@acme.test", CustomerChoice("accounts", accounts["acme"], "Acme Corp")
    )
    assert picker.choice() == mine


def test_case_enums_are_preset_and_an_email_sets_the_source(qtbot, panel):
    dialog = panel.open_form("case")
    values = {name: dialog.editors[name].currentData() for name in ("source", "status", "priority")}
    assert values == {"source": "other", "status": "open", "priority": "normal"}
    assert all(dialog.form.field(name).required for name in values)
    dialog.prefill_from(MailMessage(sender_address="a@x.test", subject="Printer", body="Jam"))
    assert dialog.editors["source"].currentData() == "email"
    # A source the user chose is not replaced by a later prefill.
    dialog = panel.open_form("case")
    combo = dialog.editors["source"]
    combo.setCurrentIndex(combo.findData("phone"))
    combo.activated.emit(combo.currentIndex())
    dialog.prefill_from(MailMessage(sender_address="a@x.test", subject="Printer"))
    assert combo.currentData() == "phone"


def test_a_problem_marks_the_pickers_line_only(qtbot, panel):
    dialog = panel.open_form("opportunity")
    dialog.editors["name"].setText("Deal")
    assert dialog.try_submit() is False
    picker = dialog.editors["account"]
    assert "#b00020" in picker.line.styleSheet()
    assert picker.note.styleSheet() == "font-style: italic;" and picker.results.styleSheet() == ""


@pytest.fixture
def case_panel(qtbot, tmp_path, crm, devserver):
    from tray_client.outbox import contact_of_sender

    conn = sqlite3.connect(tmp_path / "case.db", check_same_thread=False)
    outbox = Outbox(conn)
    panel = SidePanel(SidePanelContext(
        outbox=outbox, send_now=list, crm_url=lambda: devserver.url,  # entries stay queued
        sender_contact=lambda address: contact_of_sender(crm, address)))
    qtbot.addWidget(panel)
    yield panel
    conn.close()


def test_a_case_from_an_email_shows_and_keeps_the_senders_contact(qtbot, case_panel, devserver):
    ann = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee",
                                              "emails": [{"email": "ann@acme.test"}]})
    dialog = case_panel.open_form("case")
    assert not dialog.link_row.isVisibleTo(dialog)
    with qtbot.waitSignal(dialog.contact_lookup_done, timeout=5000):
        dialog.prefill_from(MailMessage(sender_name="Ann Lee", sender_address="ann@acme.test",
                                        subject="Printer jam"))
    assert dialog.link_label.text() == "Linked to contact: Ann Lee"
    assert dialog.link_label.textFormat() == Qt.TextFormat.PlainText
    assert dialog.link_row.isVisibleTo(dialog)
    assert dialog.try_submit()
    [entry] = case_panel.context.outbox.list()
    assert entry.values["relatedContact"] == {"type": "contacts", "id": ann, "label": "Ann Lee"}
    # Editing the queued entry shows the link it already has.
    again = case_panel.open_entry(entry.id)
    assert again.link_label.text() == "Linked to contact: Ann Lee"
    assert again.values()["relatedContact"]["id"] == ann
    again.reject()


def test_the_link_can_be_removed_and_an_unknown_or_offline_sender_links_nothing(
    qtbot, case_panel, devserver
):
    devserver.admin.create("contacts", {"firstName": "Ann", "emails": [{"email": "ann@acme.test"}]})
    dialog = case_panel.open_form("case")
    with qtbot.waitSignal(dialog.contact_lookup_done, timeout=5000):
        dialog.prefill_from(MailMessage(sender_address="ann@acme.test", subject="Jam"))
    assert dialog.contact_link() is not None
    qtbot.mouseClick(dialog.unlink_button, Qt.MouseButton.LeftButton)
    assert dialog.contact_link() is None and not dialog.link_row.isVisibleTo(dialog)
    assert dialog.try_submit()
    assert "relatedContact" not in case_panel.context.outbox.list()[0].values

    dialog = case_panel.open_form("case")
    with qtbot.waitSignal(dialog.contact_lookup_done, timeout=5000) as blocker:
        dialog.prefill_from(MailMessage(sender_address="who@nowhere.test", subject="Hi"))
    assert blocker.args == [None] and not dialog.link_row.isVisibleTo(dialog)
    dialog.reject()


def test_a_failed_contact_lookup_queues_the_case_without_a_link(qtbot, tmp_path):
    def offline(_address):
        raise OfflineError("The CRM refused the connection.")

    conn = sqlite3.connect(tmp_path / "s.db", check_same_thread=False)
    panel = SidePanel(SidePanelContext(outbox=Outbox(conn), send_now=list, sender_contact=offline))
    qtbot.addWidget(panel)
    dialog = panel.open_form("case")
    with qtbot.waitSignal(dialog.contact_lookup_done, timeout=5000) as blocker:
        dialog.prefill_from(MailMessage(sender_address="ann@acme.test", subject="Jam"))
    assert isinstance(blocker.args[0], OfflineError)
    assert not dialog.link_row.isVisibleTo(dialog) and dialog.message_label.text() == ""
    assert dialog.try_submit()
    [entry] = panel.context.outbox.list()
    assert entry.values["subject"] == "Jam" and "relatedContact" not in entry.values
    conn.close()
