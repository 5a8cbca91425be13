"""Tray icon, state→icon table, menu actions, tooltip, status window."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from tray_client.errors import AuthError, ConfigurationError, OfflineError, SyncBusyError, TlsError
from tray_client.gui.icons import STATE_ICON_FILES, icon_for, icons_dir
from tray_client.gui.state import TrayState, state_for_error, state_for_outcome
from tray_client.gui.tray import AppActions, TrayIcon

from .conftest import FakeResult


def test_every_state_has_its_own_valid_svg(qapp):
    files = set()
    for state in TrayState:
        path = icons_dir() / STATE_ICON_FILES[state]
        assert QSvgRenderer(str(path)).isValid(), path
        assert not icon_for(state).isNull()
        pixmap = icon_for(state).pixmap(22, 22)
        assert not pixmap.isNull() and pixmap.width() == 22
        files.add(path.read_bytes())
    assert len(files) == len(TrayState)  # no two states look the same


@pytest.mark.parametrize(("outcome", "state"), [
    ("ok", TrayState.IDLE), ("cancelled", TrayState.ATTENTION),
    ("partial", TrayState.ATTENTION), ("guarded", TrayState.ATTENTION),
    ("offline", TrayState.OFFLINE), ("failed", TrayState.ERROR),
    ("something new", TrayState.ERROR),
])
def test_outcome_to_state_table(outcome, state):
    assert state_for_outcome(outcome) is state


def test_error_to_state_table():
    assert state_for_error(OfflineError("x")) is TrayState.OFFLINE
    assert state_for_error(AuthError("x")) is TrayState.ERROR
    assert state_for_error(TlsError("x")) is TrayState.ERROR
    assert state_for_error(ConfigurationError("x")) is TrayState.ERROR
    assert state_for_error(RuntimeError("x")) is TrayState.ERROR
    assert state_for_error(SyncBusyError("x")) is None


def test_icon_changes_only_when_state_changes(qtbot):
    tray = TrayIcon(AppActions())
    swaps = tray.icon_swaps
    assert tray.set_state(TrayState.IDLE) is False
    assert tray.icon_swaps == swaps
    assert tray.set_state(TrayState.SYNCING) is True
    assert tray.icon.icon().cacheKey() == icon_for(TrayState.SYNCING).cacheKey()
    assert tray.set_state(TrayState.SYNCING) is False
    assert tray.set_state(TrayState.SYNCING) is False
    assert tray.icon_swaps == swaps + 1
    assert tray.set_state(TrayState.ERROR) is True
    assert tray.icon_swaps == swaps + 2


def test_two_syncs_swap_the_icon_four_times(qtbot, make_app, fake_client):
    app = make_app()
    app.start()
    swaps = app.tray.icon_swaps
    for _ in range(2):
        with qtbot.waitSignal(app.runner.idle, timeout=5000):
            assert app.sync_now()
        app.refresh()  # refreshing text must never touch the icon
    assert app.tray.icon_swaps == swaps + 4  # idle→syncing→idle, twice
    assert app.tray.state is TrayState.IDLE


def test_menu_layout_and_status_line(qtbot, make_app):
    app = make_app()
    app.start()
    texts = [a.text() for a in app.tray.menu.actions()
             if not a.isSeparator() and a.isVisible()]
    assert texts == ["Up to date", "Sync Now", "Pause automatic sync", "Settings…", "Quit"]
    status = app.tray.menu.actions()[0]
    assert status.isEnabled()      # reads as text (it opens the status popover)


def test_an_open_menu_whose_status_line_grows_stays_on_the_screen(qtbot):
    """The tray at the screen's right edge: the menu opened while a run was ending, and the
    run's longer status line widened it past the edge (seen under Xvfb + trayer)."""
    tray = TrayIcon(AppActions())
    menu = tray.menu
    area = menu.screen().availableGeometry()
    tray.set_status_line("Syncing…")
    menu.popup(area.topRight())
    qtbot.waitUntil(menu.isVisible)
    try:
        tray.set_status_line("Some records need attention: 1 contact could not be synced")
        qtbot.wait(50)
        frame = menu.frameGeometry()
        assert frame.width() > 200
        assert area.contains(frame), (frame, area)
        assert frame.right() == area.right()      # still by the tray
    finally:
        menu.hide()


def test_sync_now_runs_a_full_manual_pass_off_the_gui_thread(qtbot, make_app, fake_client):
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.finished, timeout=5000):
        app.actions.sync_now.trigger()
    assert len(fake_client.calls) == 1
    call = fake_client.calls[0]
    assert (call["phase"], call["trigger"]) == ("both", "manual")
    assert call["thread"] is not threading.main_thread()
    assert call["observer"] is app.runner.bridge
    assert isinstance(call["cancel"], threading.Event)


def test_stop_sync_shows_while_syncing_and_stops_between_records(qtbot, make_app,
                                                                fake_client):
    stopped = threading.Event()

    def sync(**kw):
        # A long sync that, like the engine, stops at its next safe point once asked.
        assert kw["cancel"].wait(10)
        stopped.set()
        return FakeResult(outcome="cancelled", message="Sync cancelled.", trigger=kw["trigger"])

    fake_client.sync_fn = sync
    app = make_app()
    app.start()
    stop = app.actions.stop_sync
    assert not stop.isVisible()
    button = app.popover.stop_button
    with qtbot.waitSignal(app.runner.started, timeout=5000):
        app.sync_now()
    assert stop.isVisible() and stop.isEnabled() and not button.isHidden()
    with qtbot.waitSignal(app.runner.finished, timeout=5000) as done:
        stop.trigger()
        assert app.progress_text == "Stopping after the current record…"
        assert not stop.isEnabled()
    assert stopped.is_set() and done.args[0].outcome == "cancelled"
    assert not stop.isVisible() and button.isHidden()
    # A stop the user asked for is no error, and no "Up to date" either.
    assert app.tray.state is TrayState.ATTENTION
    assert app.headline() == "Sync stopped before it finished"


def test_pause_and_resume_from_the_menu(qtbot, make_app):
    app = make_app()
    app.start()
    app.actions.pause.trigger()
    assert app.scheduler.paused
    assert app.actions.pause.text() == "Resume automatic sync"
    assert app.tray.state is TrayState.PAUSED
    assert "Automatic sync paused" in app.tray.icon.toolTip()
    app.actions.pause.trigger()
    assert not app.scheduler.paused
    assert app.actions.pause.text() == "Pause automatic sync"
    assert app.tray.state is TrayState.IDLE


def test_settings_action_opens_the_dialog(qtbot, make_app):
    app = make_app()
    app.start()
    app.actions.settings.trigger()
    assert app.settings_dialog is not None and app.settings_dialog.isVisible()


def test_quit_action_quits_the_application(qtbot, make_app, monkeypatch):
    app = make_app()
    quits = []
    monkeypatch.setattr(QApplication, "exit", lambda *a: quits.append(True))
    with qtbot.waitSignal(app.quit_requested, timeout=1000):
        app.actions.quit.trigger()
    assert quits == [True]


def test_extension_actions_go_between_pause_and_settings(qtbot, make_app):
    app = make_app()
    clicked = []
    app.add_menu_action("Show Side Panel", lambda: clicked.append("panel"))
    app.add_menu_action("Sync Report…", lambda: clicked.append("report"))
    texts = [a.text() for a in app.tray.menu.actions()
             if not a.isSeparator() and a.isVisible()]
    assert texts[2:6] == ["Pause automatic sync", "Show Side Panel", "Sync Report…",
                          "Settings…"]
    assert texts.index("Show Side Panel") == texts.index("Pause automatic sync") + 1
    assert texts.index("Sync Report…") == texts.index("Settings…") - 1
    more = [a.text() for a in app.popover.more_menu.actions() if not a.isSeparator()]
    assert more == ["Show Side Panel", "Sync Report…", "Settings…", "Quit"]
    next(a for a in app.popover.more_menu.actions() if a.text() == "Sync Report…").trigger()
    assert clicked == ["report"]


def test_tooltip_says_last_result_next_sync_and_progress(qtbot, make_app, fake_client):
    app = make_app()
    app.start()
    assert "Last successful sync: none yet" in app.tray.icon.toolTip()
    assert "Next sync:" in app.tray.icon.toolTip()
    gate = threading.Event()

    def slow_sync(**kw):
        kw["observer"].on_progress("contacts", 10, 40, "pulling")
        gate.wait(5)
        return FakeResult(outcome="partial", message="1 record failed")

    fake_client.sync_fn = slow_sync
    app.sync_now()
    qtbot.waitUntil(lambda: "Contacts: 10 of 40" in app.tray.icon.toolTip(), timeout=3000)
    assert app.tray.state is TrayState.SYNCING
    assert not app.popover.progress.isHidden()
    assert app.popover.progress.maximum() == 40
    with qtbot.waitSignal(app.runner.idle, timeout=5000):
        gate.set()
    tip = app.tray.icon.toolTip()
    assert "Last successful sync:" in tip
    assert "1 record failed" in tip
    assert app.tray.state is TrayState.ATTENTION


def test_left_click_opens_the_popover(qtbot, make_app):
    app = make_app()
    app.start()
    assert not app.popover.isVisible()
    app.tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert app.popover.isVisible()
    assert not app.popover.reason_label.isVisible()
    assert app.popover.state_label.text() == "Up to date"


def test_without_a_tray_the_popover_is_the_window_with_the_actions(qtbot, make_app,
                                                                    fake_client):
    app = make_app(tray_available=False)
    app.start()
    window = app.popover
    assert window.isVisible()
    assert window.reason_label.isVisible()
    assert "no system tray" in window.reason_label.text()
    assert [a.text() for a in window.more_menu.actions() if not a.isSeparator()] == [
        "Settings…", "Quit"]
    with qtbot.waitSignal(app.runner.finished, timeout=5000):
        window.sync_button.click()
    assert fake_client.calls[0]["trigger"] == "manual"
    visible = [a for a in window.pause_menu.actions() if a.isVisible()]
    assert [a.text() for a in visible] == ["Pause for 1 hour", "Pause until tomorrow"]
    visible[0].trigger()
    assert app.scheduler.paused
    assert [a.text() for a in window.pause_menu.actions() if a.isVisible()] == [
        "Resume automatic sync"]
    window.close()  # closing only hides: the app keeps running
    assert not window.isVisible()


def test_first_start_without_configuration_opens_settings(qtbot, make_app, tmp_path):
    from .conftest import FakeClient

    client = FakeClient(tmp_path / "fresh", configured=False, api_key=None)
    app = make_app(client)
    app.start()
    qtbot.waitUntil(lambda: app.settings_dialog is not None and app.settings_dialog.isVisible(),
                    timeout=2000)
    assert app.headline() == "Not set up — open Settings"
    assert client.calls == []


def test_startup_sync_when_configured(qtbot, make_app, fake_client):
    app = make_app(startup_sync=True)
    with qtbot.waitSignal(app.runner.finished, timeout=5000):
        app.start()
    assert fake_client.calls[0]["trigger"] == "startup"


def test_deletion_guard_asks_and_runs_with_force_delete_when_confirmed(qtbot, make_app,
                                                                       fake_client):
    fake_client.sync_fn = lambda **kw: FakeResult(
        outcome="guarded", message="The sync would delete 40 of 50 linked contacts.")
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    assert app.tray.state is TrayState.ATTENTION
    box = app.guard_box
    assert box is not None and box.isVisible()
    assert "40 of 50" in box.text()
    assert "force_delete" not in fake_client.calls[0]
    fake_client.sync_fn = lambda **kw: FakeResult()
    yes = next(b for b in box.buttons() if b.text() == "Delete and sync")
    with qtbot.waitSignal(app.runner.finished, timeout=3000):
        yes.click()
    assert fake_client.calls[1]["force_delete"] is True
    assert fake_client.calls[1]["trigger"] == "manual"
    assert app.tray.state is TrayState.IDLE


def test_deletion_guard_declined_runs_nothing(qtbot, make_app, fake_client):
    fake_client.sync_fn = lambda **kw: FakeResult(outcome="guarded", message="40 of 50")
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    no = next(b for b in app.guard_box.buttons() if b.text() == "Not now")
    no.click()
    qtbot.wait(200)
    assert len(fake_client.calls) == 1
    assert app.guard_box is None


def test_first_save_of_a_working_profile_starts_the_first_sync(qtbot, make_app, tmp_path):
    from .conftest import FakeClient

    client = FakeClient(tmp_path / "fresh", configured=False, api_key=None)
    app = make_app(client)
    app.start()
    qtbot.waitUntil(lambda: app.settings_dialog is not None, timeout=2000)
    dialog = app.settings_dialog
    dialog.url_edit.setText("https://crm.example.org")
    dialog.user_edit.setText("ann")
    dialog.api_key_edit.setText("typed-key")
    with qtbot.waitSignal(app.runner.finished, timeout=3000):
        dialog.buttons.accepted.emit()
    assert client.api_key == "typed-key"
    assert [c["trigger"] for c in client.calls] == ["startup"]
    assert app.headline() == "Up to date"
