"""The side panel and its create forms (pytest-qt, offscreen platform)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication
from PySide6.QtWidgets import QComboBox, QLineEdit, QPlainTextEdit

from tray_client.crm import CrmClient
from tray_client.errors import ConfigurationError
from tray_client.gui.sidepanel import CreateDialog, SidePanel, SidePanelContext
from tray_client.gui.sidepanel.form_dialog import NO_CHOICE
from tray_client.outbox import FieldProblem, Outbox, default_forms, parse_layout

EML = Path(__file__).resolve().parent.parent / "data" / "eml"
# What a case form holds before anything is chosen (Oro's case enums have no defaults).
CASE_PRESETS = {"status": "open", "priority": "normal", "source": "other"}

SERVER_STYLE_LEAD = {"fields": [
    {"name": "name", "label": "Lead name", "kind": "attribute", "type": "string",
     "required": True},
    {"name": "status", "label": "Status", "kind": "relationship", "type": "enum",
     "enum": "leadstatuses"},
    {"name": "emails", "label": "Emails", "kind": "attribute", "type": "email"},
    {"name": "notes", "label": "Notes", "kind": "attribute", "type": "text"},
    {"name": "source", "label": "Source", "kind": "relationship", "type": "enum",
     "enum": "leadsources", "required": True},
]}


class Recorder:
    """A submit callback that records what it got and answers with given problems."""

    def __init__(self, problems=None):
        self.calls: list[dict] = []
        self.problems = problems or []

    def __call__(self, values):
        self.calls.append(values)
        return list(self.problems)


def make_dialog(qtbot, kind="lead", layout=None, submit=None, **kwargs) -> CreateDialog:
    form = parse_layout(kind, layout) if layout is not None else default_forms()[kind]
    dialog = CreateDialog(form, submit or Recorder(), **kwargs)
    qtbot.addWidget(dialog)
    return dialog


@pytest.fixture
def outbox(tmp_path):
    # Shared with the send worker in these tests, hence check_same_thread=False.
    conn = sqlite3.connect(tmp_path / "store.db", check_same_thread=False)
    yield Outbox(conn)
    conn.close()


def make_panel(qtbot, outbox, tmp_path, send_now=list, crm_url=lambda: "",
               load_forms=None) -> SidePanel:
    panel = SidePanel(SidePanelContext(outbox=outbox, send_now=send_now, crm_url=crm_url,
                                       load_forms=load_forms,
                                       state_file=tmp_path / "config" / "sidepanel.json"))
    qtbot.addWidget(panel)
    return panel


# -- forms -------------------------------------------------------------------------------


def test_form_fields_and_order_follow_the_layout(qtbot):
    dialog = make_dialog(qtbot, layout=SERVER_STYLE_LEAD)
    assert list(dialog.editors) == ["name", "status", "emails", "notes", "source"]
    assert isinstance(dialog.editors["name"], QLineEdit)
    assert isinstance(dialog.editors["status"], QComboBox)
    assert isinstance(dialog.editors["notes"], QPlainTextEdit)
    assert dialog.windowTitle() == "Create Lead"
    assert dialog.submit_button.text() == "Create Lead"


@pytest.mark.parametrize("kind", ["lead", "opportunity", "case"])
def test_each_builtin_form_builds(qtbot, kind):
    dialog = make_dialog(qtbot, kind)
    assert list(dialog.editors) == default_forms()[kind].field_names


def test_enum_choices_in_combo_boxes(qtbot):
    dialog = make_dialog(qtbot, layout=SERVER_STYLE_LEAD)
    status = dialog.editors["status"]
    # Optional: an empty first choice, so the CRM's default applies.
    assert [status.itemText(i) for i in range(status.count())] == [
        NO_CHOICE, "New", "Qualified", "Disqualified"]
    assert status.currentData() is None
    # Required with a default: preselected; without one: starts empty, must be chosen.
    opportunity = make_dialog(qtbot, "opportunity")
    assert opportunity.editors["status"].currentData() == "in_progress"
    source = dialog.editors["source"]
    assert source.itemText(0) != NO_CHOICE and source.itemData(0) == "demand_generation"


def test_required_fields_are_marked_and_checked_before_submit(qtbot):
    submit = Recorder()
    dialog = make_dialog(qtbot, submit=submit)
    assert dialog.editors["name"].accessibleDescription() == "required"
    name_label = dialog.findChild(QLineEdit, "field-name")
    assert name_label is dialog.editors["name"]
    dialog.show()
    assert dialog.try_submit() is False
    assert submit.calls == []  # flagged here, never handed on
    error = dialog.error_labels["name"]
    assert error.isVisible() and error.text() == "Lead name is required."
    assert dialog.result() == 0 and dialog.isVisible()
    dialog.editors["name"].setText("ACME")
    assert dialog.try_submit() is True
    assert submit.calls == [{"name": "ACME"}]
    assert not error.isVisible()


def test_problems_from_validation_or_the_crm_show_at_their_field(qtbot):
    submit = Recorder([FieldProblem("emails", "This value is not a valid email address."),
                       FieldProblem("", "The CRM rejected the data")])
    dialog = make_dialog(qtbot, submit=submit)
    dialog.show()
    dialog.editors["name"].setText("ACME")
    dialog.editors["emails"].setText("nope")
    assert dialog.try_submit() is False
    assert dialog.error_labels["emails"].text() == "This value is not a valid email address."
    assert dialog.error_labels["emails"].isVisible()
    assert "The CRM rejected the data" in dialog.message_label.text()
    assert dialog.focusWidget() is dialog.editors["emails"]


def test_failed_entry_opens_with_the_crm_errors(qtbot):
    dialog = make_dialog(qtbot, "opportunity",
                         values={"name": "Deal", "budgetAmountCurrency": "euro",
                                 "probability": 35},
                         field_errors={"budgetAmountCurrency": "Not a valid currency code."},
                         message="The CRM rejected the data")
    dialog.show()
    assert dialog.value_of("name") == "Deal" and dialog.value_of("probability") == "35"
    assert dialog.error_labels["budgetAmountCurrency"].text() == "Not a valid currency code."
    assert dialog.message_label.text() == "The CRM rejected the data"


# -- prefill -----------------------------------------------------------------------------


@pytest.mark.parametrize("eml, kind, expected", [
    ("plain.eml", "lead", {"name": "Quote for 20 licences", "firstName": "Ann",
                           "lastName": "Smith", "emails": "ann.smith@example.org"}),
    ("html_only.eml", "case", {"subject": "Printer portal down"}),
    ("multipart_attachment.eml", "opportunity",
     {"name": "Requirements for the new CRM rollout"}),
    ("rfc2047_latin1.eml", "lead", {"firstName": "Jürgen", "lastName": "Müller",
                                    "name": "Anfrage für Büromöbel"}),
    ("rfc2047_utf8.eml", "case", {"subject": "Réclamation: 配送の遅れ"}),
    ("raw_8bit_headers.eml", "lead", {"firstName": "Françoise", "lastName": "Léger"}),
    ("no_from.eml", "lead", {"name": "Website contact form: call back request",
                             "emails": ""}),
    ("broken_mime.eml", "case", {"subject": "Broken message",
                                 "description": "From Eve <eve@broken.example>.\n\n"
                                                "This is the body of a broken message."}),
])
def test_prefill_from_each_eml(qtbot, eml, kind, expected):
    dialog = make_dialog(qtbot, kind)
    dialog.prefill_from_file(EML / eml)
    for name, value in expected.items():
        assert dialog.value_of(name) == value, name


def test_prefill_never_overwrites_what_was_typed(qtbot):
    dialog = make_dialog(qtbot, "lead")
    dialog.editors["name"].setText("My own name")
    filled = dialog.prefill_from_file(EML / "plain.eml")
    assert dialog.value_of("name") == "My own name"
    assert "name" not in filled and "emails" in filled
    assert dialog.value_of("notes").startswith("Hello,")


def test_dropping_an_eml_on_the_form_prefills_it(qtbot):
    dialog = make_dialog(qtbot, "case")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(EML / "html_only.eml"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(dialog.mail_read, timeout=5000):
        dialog.dropEvent(event)
    assert event.isAccepted()
    assert dialog.value_of("subject") == "Printer portal down"
    # Other files are refused.
    other = QMimeData()
    other.setUrls([QUrl.fromLocalFile(str(EML / "notes.txt"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, other,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    dialog.dropEvent(event)
    assert not event.isAccepted()


def _recording(parse, threads: list[str]):
    """``parse``, noting the name of the thread each call runs on."""
    import threading

    def run(source):
        threads.append(threading.current_thread().name)
        return parse(source)
    return run


def test_a_dropped_or_pasted_email_is_read_off_the_gui_thread(qtbot, monkeypatch, tmp_path):
    from tray_client.gui.sidepanel import form_dialog

    threads: list[str] = []
    monkeypatch.setattr(form_dialog, "parse_file", _recording(form_dialog.parse_file, threads))
    monkeypatch.setattr(form_dialog, "parse_message",
                        _recording(form_dialog.parse_message, threads))
    dialog = make_dialog(qtbot, "case")
    with qtbot.waitSignal(dialog.mail_read, timeout=5000) as read:
        dialog.eml_dropped(EML / "html_only.eml")
    assert "subject" in read.args[0]
    QGuiApplication.clipboard().setText("From: Dana <dana@white.example>\nSubject: S\n\nHi.")
    with qtbot.waitSignal(dialog.mail_read, timeout=5000):
        dialog.paste_email()
    with qtbot.waitSignal(dialog.mail_read, timeout=5000) as read:
        dialog.eml_dropped(tmp_path / "missing.eml")
    assert read.args == [[]] and "Cannot read the e-mail" in dialog.message_label.text()
    assert len(threads) == 3
    assert "MainThread" not in threads


def test_paste_email_prefills_from_the_clipboard(qtbot):
    dialog = make_dialog(qtbot, "lead")
    QGuiApplication.clipboard().setText(
        "From: Dana White <dana@white.example>\nSubject: Pricing\n\nCall me back.")
    with qtbot.waitSignal(dialog.mail_read, timeout=5000):
        qtbot.mouseClick(dialog.paste_button, Qt.MouseButton.LeftButton)
    assert dialog.value_of("name") == "Pricing"
    assert dialog.value_of("emails") == "dana@white.example"
    assert dialog.value_of("notes") == "Call me back."


# -- keyboard ----------------------------------------------------------------------------


def test_enter_submits_and_esc_cancels(qtbot):
    submit = Recorder()
    dialog = make_dialog(qtbot, "case", submit=submit)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.editors["subject"].setText("Broken printer")
    dialog.editors["subject"].setFocus()
    qtbot.keyClick(dialog.editors["subject"], Qt.Key.Key_Return)
    assert submit.calls == [{"subject": "Broken printer", **CASE_PRESETS}]
    assert dialog.result() == CreateDialog.DialogCode.Accepted

    submit = Recorder()
    dialog = make_dialog(qtbot, "case", submit=submit)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.editors["subject"].setText("Never mind")
    asked = []
    dialog.confirm_discard = lambda: asked.append(1) or True   # "Discard"
    qtbot.keyClick(dialog.editors["subject"], Qt.Key.Key_Escape)
    assert asked == [1]
    assert submit.calls == [] and not dialog.isVisible()
    assert dialog.result() == CreateDialog.DialogCode.Rejected


def test_escape_on_a_filled_form_asks_and_keeps_it_unless_told(qtbot):
    dialog = make_dialog(qtbot, "lead")
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.prefill_from_file(EML / "plain.eml")          # prefilled from a mail
    assert dialog.has_changes()
    dialog.confirm_discard = lambda: False                 # "Cancel": keep editing
    qtbot.keyClick(dialog.editors["name"], Qt.Key.Key_Escape)
    assert dialog.isVisible()
    # A blank form (presets only) closes at once: nothing would be lost.
    blank = make_dialog(qtbot, "case")
    blank.show()
    qtbot.waitExposed(blank)
    blank.confirm_discard = lambda: pytest.fail("asked about an empty form")
    qtbot.keyClick(blank.editors["subject"], Qt.Key.Key_Escape)
    assert not blank.isVisible()


def test_messages_go_away_with_their_cause(qtbot):
    dialog = make_dialog(qtbot, "case")
    dialog.show()
    qtbot.waitExposed(dialog)
    assert not dialog.try_submit()                         # subject required
    error = dialog.error_labels["subject"]
    assert error.isVisible()
    qtbot.keyClicks(dialog.editors["subject"], "Printer")  # corrected: the error goes
    assert not error.isVisible()
    QGuiApplication.clipboard().setText("")
    dialog.paste_email()
    assert "clipboard holds no text" in dialog.message_label.text()
    QGuiApplication.clipboard().setText((EML / "plain.eml").read_text())
    dialog.paste_email()                                   # parsed off the GUI thread
    qtbot.waitUntil(lambda: dialog.message_label.text() == "", timeout=5000)
    assert not dialog.message_label.isVisible()


def test_ctrl_enter_submits_from_a_text_area_and_tab_follows_the_layout(qtbot):
    submit = Recorder()
    dialog = make_dialog(qtbot, "case", submit=submit)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.editors["subject"].setText("S")
    qtbot.keyClick(dialog.editors["description"], Qt.Key.Key_Return,
                   Qt.KeyboardModifier.ControlModifier)
    assert submit.calls == [{"subject": "S", **CASE_PRESETS}]
    dialog = make_dialog(qtbot, layout=SERVER_STYLE_LEAD)
    editors = list(dialog.editors.values())
    order, widget = [], editors[0]
    for _ in range(200):
        if widget in editors and widget not in order:
            order.append(widget)
        widget = widget.nextInFocusChain()
    assert order == editors


# -- the panel ---------------------------------------------------------------------------


@pytest.mark.parametrize("sign_in", ["wsse", "oauth2"])   # API key; OAuth on Oro 6.1
def test_panel_creates_sends_and_links_to_the_crm(qtbot, outbox, tmp_path, request, sign_in):
    from tray_client.crm.auth import OAuth2ClientCredentials

    if sign_in == "oauth2":
        devserver = request.getfixturevalue("oauth_server")
        auth = OAuth2ClientCredentials(devserver.url, devserver.client_id, devserver.client_secret)
        crm = CrmClient(devserver.url, devserver.user, auth=auth, retries=1, backoff_base=0.01)
    else:
        devserver = request.getfixturevalue("devserver")
        crm = CrmClient(devserver.url, devserver.user, devserver.api_key, retries=1,
                        backoff_base=0.01)
    panel = make_panel(qtbot, outbox, tmp_path, send_now=lambda: outbox.send_pending(crm),
                       crm_url=lambda: devserver.url)
    panel.show()
    panel.create_actions["lead"].trigger()     # Create ▾ → Lead
    dialog = panel.dialog
    assert dialog is not None and dialog.form.kind == "lead"
    dialog.editors["name"].setText("Side panel lead")
    dialog.editors["emails"].setText("lead@example.org")
    dialog.editors["status"].setCurrentIndex(dialog.editors["status"].findData("qualified"))
    with qtbot.waitSignal(panel.send_finished, timeout=5000):
        assert dialog.try_submit()
    [item] = panel.entry_items()
    assert item.text(1) == "Side panel lead" and item.text(2) == "sent"
    entry = outbox.list()[0]
    link = panel.entries.itemWidget(item, 3)
    assert f'href="{devserver.url}/lead/view/{entry.crm_id}"' in link.text()
    assert ">Side panel lead</a>" in link.text()      # the record's name, not a bare id
    opened = []
    panel.url_opener = lambda url: opened.append(url.toString()) or True
    link.linkActivated.emit(f"{devserver.url}/lead/view/{entry.crm_id}")
    assert opened == [f"{devserver.url}/lead/view/{entry.crm_id}"]
    panel.url_opener = lambda url: False                     # no browser: it says so
    link.linkActivated.emit(f"{devserver.url}/lead/view/{entry.crm_id}")
    assert "No web browser could open" in panel.status.text()
    record = devserver.admin.get("leads", entry.crm_id)
    assert record["relationships"]["status"]["data"]["id"] == "qualified"
    crm.close()


def test_failed_entry_is_shown_fixed_and_resent(qtbot, outbox, tmp_path, devserver):
    crm = CrmClient(devserver.url, devserver.user, devserver.api_key, retries=1,
                    backoff_base=0.01)
    panel = make_panel(qtbot, outbox, tmp_path, send_now=lambda: outbox.send_pending(crm),
                       crm_url=lambda: devserver.url)
    panel.show()
    account = devserver.admin.create("accounts", {"name": "Acme"})
    entry = outbox.add("opportunity", {"name": "Euro deal", "budgetAmountCurrency": "euro",
                                       "account": account})
    with qtbot.waitSignal(panel.send_finished, timeout=5000):
        qtbot.mouseClick(panel.send_button, Qt.MouseButton.LeftButton)
    [item] = panel.entry_items()
    assert item.text(2).startswith("failed: ")
    assert "budgetAmountCurrency" in item.toolTip(2)
    panel.entries.setCurrentItem(item)
    assert panel.fix_button.isEnabled()
    qtbot.mouseClick(panel.fix_button, Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    assert dialog.error_labels["budgetAmountCurrency"].isVisible()
    assert dialog.submit_button.text() == "Resend"
    dialog.editors["budgetAmountCurrency"].setText("EUR")
    with qtbot.waitSignal(panel.send_finished, timeout=5000):
        assert dialog.try_submit()
    assert outbox.get(entry.id).state == "sent"
    assert panel.entry_items()[0].text(2) == "sent"
    record = devserver.admin.get("opportunities", outbox.get(entry.id).crm_id)
    assert record["attributes"]["budgetAmountCurrency"] == "EUR"
    crm.close()


def test_send_errors_are_shown_and_entries_stay_queued(qtbot, outbox, tmp_path):
    def not_configured():
        raise ConfigurationError("Set the CRM URL and user first.", title="Not configured")

    panel = make_panel(qtbot, outbox, tmp_path, send_now=not_configured)
    panel.show()
    dialog = panel.open_form("case")
    dialog.editors["subject"].setText("Queued while unconfigured")
    with qtbot.waitSignal(panel.send_finished, timeout=5000) as blocker:
        assert dialog.try_submit()
    assert isinstance(blocker.args[0], ConfigurationError)
    assert panel.status.text() == "Not sent: Not configured: Set the CRM URL and user first."
    assert [e.state for e in outbox.list()] == ["queued"]
    assert panel.entry_items()[0].text(2) == "queued"
    assert panel.send_button.isEnabled()


def test_invalid_values_stay_in_the_form(qtbot, outbox, tmp_path):
    calls = []
    panel = make_panel(qtbot, outbox, tmp_path, send_now=lambda: calls.append(1))
    dialog = panel.open_form("opportunity")
    dialog.editors["name"].setText("Deal")
    dialog.editors["account"].set_value("3")
    dialog.editors["closeDate"].setText("next week")
    assert dialog.try_submit() is False
    assert "not a date" in dialog.error_labels["closeDate"].text()
    assert outbox.list() == [] and calls == []


def test_dropping_an_eml_on_the_panel_opens_a_prefilled_form(qtbot, outbox, tmp_path,
                                                              monkeypatch):
    from tray_client.gui.sidepanel import panel as panel_module

    threads: list[str] = []
    monkeypatch.setattr(panel_module, "parse_file", _recording(panel_module.parse_file, threads))
    panel = make_panel(qtbot, outbox, tmp_path)
    monkeypatch.setattr(panel, "choose_kind", lambda: "opportunity")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(EML / "multipart_attachment.eml"))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.mail_read, timeout=5000):
        panel.dropEvent(event)
    assert panel.dialog.form.kind == "opportunity"
    assert panel.dialog.value_of("name") == "Requirements for the new CRM rollout"
    assert len(threads) == 1 and threads != ["MainThread"]   # read off the GUI thread


def test_forms_loaded_from_the_crm_are_used(qtbot, outbox, tmp_path):
    forms = {"case": parse_layout("case", {"fields": [
        {"name": "subject", "label": "Problem", "type": "string", "required": True}]})}
    panel = make_panel(qtbot, outbox, tmp_path, load_forms=lambda: forms)
    assert panel.forms()["case"].field_names == default_forms()["case"].field_names
    panel.show()  # the CRM's forms are fetched (on a worker) when first shown
    # Oro requires source, status and priority: appended to the CRM's layout.
    expected = ["subject", "source", "status", "priority"]
    qtbot.waitUntil(lambda: panel.forms()["case"].field_names == expected, timeout=5000)
    dialog = panel.open_form("case")
    assert list(dialog.editors) == expected


def test_drop_button_removes_an_entry(qtbot, outbox, tmp_path):
    outbox.add("lead", {"name": "Unwanted"})
    panel = make_panel(qtbot, outbox, tmp_path)
    panel.entries.setCurrentItem(panel.entry_items()[0])
    qtbot.mouseClick(panel.drop_button, Qt.MouseButton.LeftButton)
    assert outbox.list() == [] and panel.entry_items() == []


def test_position_and_size_are_remembered(qtbot, outbox, tmp_path):
    panel = make_panel(qtbot, outbox, tmp_path)
    panel.show()
    qtbot.waitExposed(panel)
    panel.move(130, 90)
    panel.resize(420, 530)
    panel.close()
    state = json.loads((tmp_path / "config" / "sidepanel.json").read_text())
    assert (state["width"], state["height"]) == (420, 530)
    again = make_panel(qtbot, outbox, tmp_path)
    assert (again.size().width(), again.size().height()) == (420, 530)
    assert (again.pos().x(), again.pos().y()) == (state["x"], state["y"])
    assert (state["x"], state["y"]) == (130, 90)


def test_broken_or_offscreen_state_falls_back_to_defaults(qtbot, outbox, tmp_path):
    state_file = tmp_path / "config" / "sidepanel.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text("{not json")
    panel = make_panel(qtbot, outbox, tmp_path)
    assert panel.size().width() == 360
    state_file.write_text(json.dumps({"x": 99999, "y": 99999, "width": 300, "height": 300}))
    panel = make_panel(qtbot, outbox, tmp_path)
    assert panel.size().width() == 300 and panel.pos().x() != 99999


def test_a_failed_geometry_write_leaves_no_temporary_file(qtbot, outbox, tmp_path,
                                                         monkeypatch, caplog):
    """The panel's own copy of the atomic write left its temporary file behind when the write
    failed; it writes through files.atomic_file now, which removes it."""
    import os

    panel = make_panel(qtbot, outbox, tmp_path)
    folder = tmp_path / "config"

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    panel.save_geometry()
    assert "Cannot save the side panel's position" in caplog.text
    assert [p.name for p in folder.iterdir()] == []   # neither the file nor a temporary one


def test_toggle_shows_and_hides(qtbot, outbox, tmp_path):
    panel = make_panel(qtbot, outbox, tmp_path)
    panel.toggle()
    assert panel.isVisible()
    panel.toggle()
    assert not panel.isVisible()
    assert panel.windowFlags() & Qt.WindowType.Tool


def test_create_menu_offers_the_three_kinds(qtbot, outbox, tmp_path):
    panel = make_panel(qtbot, outbox, tmp_path)
    menu = panel.create_button.menu()
    assert [a.text() for a in menu.actions()] == ["Lead", "Opportunity", "Case"]
    for kind in ("lead", "opportunity", "case"):
        panel.create_actions[kind].trigger()
        assert panel.dialog is not None and panel.dialog.form.kind == kind
