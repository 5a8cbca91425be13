"""The status popover (issue 15 points 3 and 9) and plain text for what the CRM provides
(issue 11, section 4)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QSystemTrayIcon

from tray_client.errors import OfflineError
from tray_client.gui.popover import WIDTH, popover_position
from tray_client.gui.state import TrayState
from tray_client.sync.report import RecordError

from .conftest import FakeResult

LONG = ("The CRM answered 500 Internal Server Error: " + "a very long server message " * 40)
MARKUP = '<img src="https://evil.example/x.png"><a href="https://evil.example">Ann</a> <b>Lee'


def popover_fits_on_screen(app) -> None:
    popover = app.popover
    screen = QGuiApplication.primaryScreen().availableGeometry()
    frame = popover.frameGeometry()
    assert popover.width() == WIDTH
    assert screen.contains(frame), (frame, screen)
    for button in (popover.sync_button, popover.pause_button, popover.more_button):
        top_left = button.mapTo(popover, QPoint(0, 0))
        assert popover.rect().contains(QRect(top_left, button.size())), button.text()


def test_a_long_error_wraps_inside_a_fixed_width_and_the_buttons_stay_on_screen(
        qtbot, make_app, fake_client):
    def failing(**kw):
        raise OfflineError(LONG)

    fake_client.sync_fn = failing
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    app.show_popover()
    qtbot.waitExposed(app.popover)
    popover_fits_on_screen(app)
    assert app.popover.height() < 600
    # Both: when it last worked (never) and what the last attempt said.
    times = app.popover.times_label.text()
    assert "Last successful sync: none yet" in times
    assert "Last attempt: CRM unreachable — The CRM answered 500" in times


def test_escape_closes_it(qtbot, make_app):
    app = make_app()
    app.start()
    app.show_popover()
    qtbot.waitExposed(app.popover)
    qtbot.keyClick(app.popover, Qt.Key.Key_Escape)
    assert not app.popover.isVisible()
    assert app.tray_available   # closing the popover never quits


@pytest.mark.parametrize("anchor", [QRect(1340, 0, 24, 24), QRect(1340, 744, 24, 24),
                                    QRect(0, 0, 24, 24), None])
def test_it_is_placed_by_the_icon_and_inside_the_screen(anchor):
    screen = QRect(0, 0, 1366, 768)
    size = QSize(WIDTH, 420)
    where = popover_position(size, screen, anchor)
    assert screen.contains(QRect(where, size))
    if anchor is not None and anchor.top() == 0:
        assert where.y() > anchor.bottom()           # below an icon at the top
    if anchor is not None and anchor.top() > 700:
        assert where.y() + size.height() < anchor.top()   # above an icon at the bottom


def test_progress_x_of_y_with_time_left_and_no_gap_after(qtbot, make_app, fake_client,
                                                         monkeypatch):
    gate = threading.Event()
    clock = [1000.0]
    monkeypatch.setattr("tray_client.gui.app.time.monotonic", lambda: clock[0])

    def slow(**kw):
        gate.wait(5)
        return FakeResult(trigger=kw["trigger"])

    fake_client.sync_fn = slow
    app = make_app()
    app.start()
    app.show_popover()
    qtbot.waitExposed(app.popover)
    height_before = app.popover.height()
    app.sync_now()
    app._on_progress("contacts", 1000, 20000, "")
    clock[0] += 10.0                                   # 1,000 more in 10 s: 180 s left
    app._on_progress("contacts", 2000, 20000, "")
    assert app.popover.progress_label.text() == "Contacts: 2,000 of 20,000 — about 3 minutes left"
    assert not app.popover.progress.isHidden() and app.popover.progress.value() == 2000
    with qtbot.waitSignal(app.runner.idle, timeout=5000):
        gate.set()
    assert app.popover.progress.isHidden() and app.popover.progress_label.isHidden()
    qtbot.waitUntil(lambda: app.popover.height() == height_before, timeout=2000)


def test_the_pulls_last_step_keeps_its_count_and_says_what_it_does(qtbot, make_app,
                                                                   fake_client):
    """The engine's progress carries no total: the count stays where the pull left it and
    the step is named (a first sync into a full address book ends by linking the items)."""
    gate = threading.Event()
    fake_client.sync_fn = lambda **kw: gate.wait(5) and FakeResult(trigger=kw["trigger"])
    app = make_app()
    app.start()
    app.show_popover()
    qtbot.waitExposed(app.popover)
    app.sync_now()
    app._on_progress("contacts", 100000, None, "reading changes from the CRM")
    app._on_progress("contacts", 100000, None, "linking local items")
    assert app.popover.progress_label.text() == "Contacts: 100,000 — linking local items"
    with qtbot.waitSignal(app.runner.idle, timeout=5000):
        gate.set()
    assert app.popover.progress_label.isHidden()


def test_a_failing_record_shows_once_named_and_linked(qtbot, make_app, fake_client):
    error = RecordError("contacts", "i1", "12", "Ann Lee", "local_to_crm", "E-mail rejected.")
    fake_client.sync_fn = lambda **kw: FakeResult(outcome="partial", errors=[error],
                                                  trigger=kw["trigger"])
    app = make_app()
    app.start()
    for _ in range(3):
        with qtbot.waitSignal(app.runner.idle, timeout=3000):
            app.sync_now()
    lines = app.popover.activity_texts()
    problems = [line for line in lines if "Ann Lee" in line]
    assert problems == ["✘ Could not sync contact “Ann Lee”: E-mail rejected. Ann Lee"]
    (label,) = [lb for lb in app.popover.activity_labels if "Ann Lee" in lb.text()]
    assert 'href="https://crm.example.org/contact/view/12"' in label.text()
    opened = []
    app.popover.url_opener = lambda url: opened.append(url.toString()) or True
    label.linkActivated.emit("https://crm.example.org/contact/view/12")
    assert opened == ["https://crm.example.org/contact/view/12"]
    assert app.popover.link_note.isHidden()


def test_repeated_failures_are_one_line(qtbot, make_app, fake_client):
    def failing(**kw):
        raise OfflineError("crm.example.org did not answer.")

    fake_client.sync_fn = failing
    app = make_app()
    app.start()
    for _ in range(3):
        with qtbot.waitSignal(app.runner.idle, timeout=3000):
            app.runner.request("both", "automatic")
    errors = [t for t in app.popover.activity_texts() if "did not answer" in t]
    assert len(errors) == 1


def test_pause_for_an_hour_says_until_when_and_resumes_on_its_own(qtbot, make_app):
    app = make_app()
    app.start()
    app.actions.pause_hour.trigger()
    assert app.scheduler.paused and app.state == TrayState.PAUSED

    def said(moment: datetime) -> str:
        # The time today; after midnight, with its day ("Tue 00:23"), or "tomorrow" at 00:00.
        local = moment.astimezone()
        if local.date() == datetime.now().astimezone().date():
            return local.strftime("%H:%M")
        return "tomorrow" if local.strftime("%H:%M") == "00:00" else local.strftime("%a %H:%M")

    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    assert app.popover.state_label.text() in (
        f"Automatic sync paused until {said(in_an_hour)}",
        # the minute may turn between the trigger and this line
        f"Automatic sync paused until {said(in_an_hour - timedelta(minutes=1))}")
    assert [a.text() for a in app.popover.pause_menu.actions() if a.isVisible()] == [
        "Resume automatic sync"]
    # "Automatic sync paused" is said once (the headline), not again below it.
    assert "Automatic sync paused" not in app.popover.times_label.text()
    app.pause_until = datetime.now(UTC) - timedelta(seconds=1)   # the hour is over
    app.refresh()
    assert not app.scheduler.paused and app.state == TrayState.IDLE


def test_pause_until_tomorrow(qtbot, make_app):
    app = make_app()
    app.start()
    app.actions.pause_tomorrow.trigger()
    assert app.headline() == "Automatic sync paused until tomorrow"
    app.actions.resume.trigger()
    assert not app.scheduler.paused and app.pause_until is None


def test_a_stopped_run_shows_as_stopped_with_what_it_did_and_what_is_left(
        qtbot, make_app, fake_client):
    counts = {"contacts": {"local": {"created": 0, "updated": 0, "deleted": 10965},
                           "crm": {"created": 0, "updated": 0, "deleted": 0}}}
    message = ("Sync cancelled before it finished: contacts, tasks and calendar events not "
               "fully synced. What was synced so far is kept; the next sync goes on from there.")
    fake_client.sync_fn = lambda **kw: FakeResult(outcome="cancelled", message=message,
                                                  counts=counts, trigger=kw["trigger"])
    app = make_app()
    app.start()
    shown = []
    app.alert_shown.connect(shown.append)
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    assert app.state == TrayState.ATTENTION                     # not green
    assert app.popover.state_label.text() == "Sync stopped before it finished"
    (line,) = [t for t in app.popover.activity_texts() if "Stopped" in t]
    assert "Contacts: 10965 deleted here" in line and "not fully synced" in line
    assert shown == []                                          # the user stopped it


def test_engine_says_what_a_stopped_run_left(qtbot, real_client, devserver):
    devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee"})
    for subject in ("T1", "T2"):
        devserver.admin.create(
            "tasks", {"subject": subject}, {"status": "open", "taskPriority": "normal"}
        )
    cancel = threading.Event()

    class StopAfterContacts:
        def on_state(self, state): ...
        def on_finished(self, result): ...

        def on_progress(self, entity, done, total, message):
            if entity == "tasks":
                cancel.set()

    result = real_client.sync(observer=StopAfterContacts(), cancel=cancel)
    assert result.outcome == "cancelled"
    assert "tasks and calendar events not fully synced" in result.message


# -- issue 11 section 4: CRM-provided text is shown as written --------------------------------


def test_a_record_name_with_markup_shows_literally(qtbot, make_app, fake_client, monkeypatch):
    error = RecordError("contacts", "i1", "12", MARKUP, "local_to_crm", f"Rejected: {MARKUP}")
    fake_client.sync_fn = lambda **kw: FakeResult(outcome="partial", errors=[error],
                                                  trigger=kw["trigger"])
    notified = []
    monkeypatch.setattr(QSystemTrayIcon, "showMessage",
                        lambda self, title, text, *a: notified.append((title, text)))
    app = make_app()
    app.start()
    app.tray.icon.show()
    monkeypatch.setattr(app.tray.icon, "isVisible", lambda: True)
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    # The popover: the name as written, in the text and in the link.
    (line,) = [t for t in app.popover.activity_texts() if "Could not sync" in t]
    assert line == f"✘ Could not sync contact “{MARKUP}”: Rejected: {MARKUP} {MARKUP}"
    # The notification: escaped, so a markup-reading notification server shows it as text.
    ((title, text),) = notified
    assert "<img" not in title + text and "&lt;img" in title
    # The tooltip: rich-text escaped, shows the headline as written.
    assert "<img" not in app.tray.icon.toolTip()


def test_without_a_tray_a_failure_box_shows_markup_as_text(qtbot, make_app, fake_client):
    def failing(**kw):
        raise OfflineError(MARKUP)

    fake_client.sync_fn = failing
    app = make_app(tray_available=False)
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    boxes = [w for w in app.popover.findChildren(QMessageBox)]
    assert boxes and boxes[-1].textFormat() == Qt.TextFormat.PlainText
    assert MARKUP in boxes[-1].text()
    for box in boxes:
        box.close()


def test_settings_verdict_and_server_values_are_plain(qtbot, fake_client):
    from tray_client.gui.settings_dialog import SettingsDialog

    from .conftest import FakeVerdict

    fake_client.verdict = FakeVerdict(False, "SERVER_ERROR", "Server error", MARKUP)
    fake_client.config = {"contacts_sync_direction": MARKUP}
    dialog = SettingsDialog(fake_client)
    qtbot.addWidget(dialog)
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✘"), timeout=3000)
    assert dialog.verdict_label.textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(dialog.server_configuration_loaded, timeout=3000):
        dialog.load_server_configuration()
    value = dialog.server_form.itemAt(0, dialog.server_form.ItemRole.FieldRole).widget()
    assert MARKUP in value.text() and value.textFormat() == Qt.TextFormat.PlainText


def test_paused_is_said_while_the_icon_needs_attention(qtbot, make_app, fake_client):
    error = RecordError("contacts", "i1", "12", "Ann Lee", "local_to_crm", "E-mail rejected.")
    fake_client.sync_fn = lambda **kw: FakeResult(outcome="partial", errors=[error],
                                                  trigger=kw["trigger"])
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    app.actions.pause.trigger()
    assert app.state == TrayState.ATTENTION                       # the problem stays shown
    assert "Automatic sync paused" in app.popover.times_label.text()
    assert "Automatic sync paused" in app.tray.icon.toolTip()
    assert app.tooltip_text().count("Automatic sync paused") == 1


def test_long_unbreakable_content_never_widens_it(qtbot):
    """A long record name or URL in an error, a long message, many activity rows and a
    progress line shown then hidden: the popover keeps its width, wraps (breaks) the long
    words inside it, and keeps every control and itself inside the screen."""
    from tray_client.gui.popover import Activity, StatusPopover
    from tray_client.gui.tray import AppActions

    name = "Zed-Bad-Mail-" + "X" * 60
    url = "https://crm.example.com/admin/contact/view/" + "9" * 60
    actions = AppActions()
    popover = StatusPopover(actions)
    qtbot.addWidget(popover)
    screen = QGuiApplication.primaryScreen().availableGeometry()
    anchor = QRect(screen.right() - 30, screen.bottom() - 24, 22, 22)

    def fits() -> None:
        assert popover.width() == WIDTH
        # What the layout asks for: more than WIDTH would push controls out of sight.
        assert popover.minimumSizeHint().width() <= WIDTH
        assert popover.layout().totalMinimumSize().width() <= WIDTH
        assert screen.contains(popover.frameGeometry()), (popover.frameGeometry(), screen)
        for widget in (popover.more_button, popover.sync_button, popover.pause_button,
                       popover.state_label, popover.times_label, *popover.activity_labels):
            if widget.isVisible():
                top_left = widget.mapTo(popover, QPoint(0, 0))
                assert popover.rect().contains(QRect(top_left, widget.size())), widget

    popover.set_state(TrayState.ERROR, f"Cannot send {name}")
    popover.set_times(f"Last attempt: the CRM refused {name} at {url}")
    popover.set_progress(f"Contacts: 1,234 of 20,000 — {name}", 1234, 20000)
    popover.show_near(anchor)
    qtbot.waitExposed(popover)
    fits()
    popover.set_activity([Activity("", f"Could not send {name}: " + LONG, "error", url, name)]
                         + [Activity(f"14:{i:02}", f"Synced {name}") for i in range(40)])
    fits()
    popover.set_progress(None)
    popover.set_activity_note(f"No browser: {url} was copied")
    fits()
    # No gap where the progress was: exactly as tall as the content wrapped at WIDTH.
    assert popover.height() == popover.layout().totalHeightForWidth(WIDTH)
    popover.hide()
    popover.show_near(anchor)
    qtbot.waitExposed(popover)
    fits()
    # The long words wrap; the text reads as written.
    assert all(label.height() > label.fontMetrics().height()
               for label in popover.activity_labels[:2])
    assert popover.activity_texts()[0].startswith(f"✘ Could not send {name}: ")
    assert popover.activity_texts()[1] == f"• 14:00  Synced {name}"
