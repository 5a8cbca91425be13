"""Workers never lose an exception; alerts follow Show Alerts; the observer bridge."""

from __future__ import annotations

import threading

from tray_client.errors import AuthError, OfflineError, SyncBusyError
from tray_client.gui.alerts import Alert, AlertPolicy, describe_counts
from tray_client.gui.sync_runner import SyncObserverBridge
from tray_client.gui.workers import Worker, default_pool, error_sink, run_in_pool

from .conftest import FakeResult

COUNTS = {"contacts": {"local": {"created": 3, "updated": 1, "deleted": 0},
                       "crm": {"created": 0, "updated": 2, "deleted": 0}},
          "tasks": {"local": {"created": 0, "updated": 0, "deleted": 0},
                    "crm": {"created": 0, "updated": 0, "deleted": 0}}}


def test_worker_result_runs_off_the_gui_thread(qtbot):
    worker = Worker(threading.current_thread)
    with qtbot.waitSignal(worker.signals.result, timeout=2000) as got:
        worker.start()
    assert got.args[0] is not threading.main_thread()


def test_slow_workers_do_not_hold_up_a_quick_one(qtbot):
    # Two workers stuck on a slow CRM must not keep a third (a window's load) waiting, even
    # on a two-core machine where Qt's pool would have two threads.
    pool = default_pool()
    qtbot.waitUntil(lambda: pool.activeThreadCount() == 0, timeout=10000)  # earlier tests'
    release = threading.Event()
    for _ in range(2):
        run_in_pool(release.wait, 10)
    try:
        loaded: list[str] = []
        run_in_pool(lambda: "loaded", on_result=loaded.append)
        qtbot.waitUntil(lambda: loaded == ["loaded"], timeout=3000)
    finally:
        release.set()


def test_worker_error_reaches_the_error_slot(qtbot):
    def boom():
        raise AuthError("The CRM rejected user ann.")

    errors, results, finished = [], [], []
    run_in_pool(boom, on_result=results.append, on_error=errors.append,
                on_finished=lambda: finished.append(True))
    qtbot.waitUntil(lambda: finished == [True], timeout=2000)
    assert results == []
    assert len(errors) == 1 and isinstance(errors[0], AuthError)
    assert errors[0].title == "Sign-in rejected"


def test_worker_error_without_a_handler_goes_to_the_error_sink(qtbot):
    def boom():
        raise ValueError("unexpected")

    with qtbot.waitSignal(error_sink().unhandled_error, timeout=2000) as got:
        run_in_pool(boom)
    assert isinstance(got.args[0], ValueError)


def test_unhandled_worker_error_is_shown_to_the_user(qtbot, make_app):
    app = make_app()
    app.start()

    def boom():
        raise RuntimeError("disk on fire")

    with qtbot.waitSignal(app.alert_shown, timeout=2000) as got:
        run_in_pool(boom)
    assert got.args[0] == Alert("Unexpected error", "RuntimeError: disk on fire", "critical")


def test_observer_bridge_delivers_on_the_gui_thread_and_throttles(qtbot):
    bridge = SyncObserverBridge(min_interval=10.0)
    seen = []
    bridge.progress.connect(lambda *a: seen.append((threading.current_thread(), a)))
    bridge.state_changed.connect(lambda s: seen.append((threading.current_thread(), s)))

    def engine():
        bridge.on_state("pulling")
        for i in range(1, 1001):
            bridge.on_progress("contacts", i, 1000, "")

    thread = threading.Thread(target=engine)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=2000)
    qtbot.wait(50)
    assert all(t is threading.main_thread() for t, _ in seen)
    progress = [a for _, a in seen if isinstance(a, tuple)]
    # First step and the last (done == total) got through; the 998 in between were dropped.
    assert progress == [("contacts", 1, 1000, ""), ("contacts", 1000, 1000, "")]


def test_describe_counts_lists_only_changes():
    assert describe_counts(COUNTS) == (
        "Contacts: 3 created here, 1 updated here, 2 updated in the CRM.")
    assert describe_counts({"tasks": COUNTS["tasks"]}) == ""


def test_alerts_for_changes_conflicts_and_failed_records():
    policy = AlertPolicy(enabled=True)
    result = FakeResult(counts=COUNTS, conflicts=["c1", "c2"],
                        errors=[AuthError("Contact 12: e-mail rejected.")], outcome="partial")
    titles = [a.title for a in policy.for_result(result)]
    assert titles == ["Sync brought changes", "2 conflicts decided",
                      "Could not sync a record"]
    assert policy.for_result(FakeResult()) == []   # nothing happened: nothing to say


def test_alerts_off_means_no_alerts():
    policy = AlertPolicy(enabled=False)
    assert policy.for_result(FakeResult(counts=COUNTS, conflicts=["c"])) == []
    assert policy.for_error(OfflineError("down")) == []
    assert policy.failing   # still tracked, so turning alerts on later does not re-announce


def test_stopped_working_is_said_once_and_recovery_once():
    policy = AlertPolicy()
    first = policy.for_error(OfflineError("crm.example.org refused the connection."))
    assert first == [Alert("Syncing stopped working: CRM unreachable",
                           "crm.example.org refused the connection.", "critical")]
    assert policy.for_error(OfflineError("again")) == []
    assert policy.for_result(FakeResult(outcome="offline", message="still down")) == []
    assert [a.title for a in policy.for_result(FakeResult())] == ["Syncing works again"]
    assert policy.for_result(FakeResult()) == []
    assert policy.for_error(SyncBusyError("CLI syncing")) == []


def test_app_shows_alerts_only_when_enabled(qtbot, make_app, fake_client):
    fake_client.sync_fn = lambda **kw: FakeResult(counts=COUNTS)
    app = make_app()
    app.start()
    shown = []
    app.alert_shown.connect(shown.append)
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    assert [a.title for a in shown] == ["Sync brought changes"]
    assert "Contacts: 3 created here" in shown[0].message

    fake_client.settings.show_alerts = False
    app._on_settings_saved(fake_client.settings)
    shown.clear()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.runner.request("pull", "automatic")
    assert shown == []


def test_failing_automatic_syncs_alert_once(qtbot, make_app, fake_client):
    def offline(**kw):
        raise OfflineError("no route to crm.example.org")

    fake_client.sync_fn = offline
    app = make_app()
    app.start()
    shown = []
    app.alert_shown.connect(shown.append)
    for _ in range(3):
        with qtbot.waitSignal(app.runner.idle, timeout=3000):
            app.runner.request("pull", "automatic")
    assert [a.title for a in shown] == ["Syncing stopped working: CRM unreachable"]


def test_manual_sync_failure_is_always_shown(qtbot, make_app, fake_client):
    def rejected(**kw):
        raise AuthError("The CRM rejected user ann or the API key.")

    fake_client.sync_fn = rejected
    fake_client.settings.show_alerts = False
    app = make_app()
    app.start()
    shown = []
    app.alert_shown.connect(shown.append)
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    assert shown == [Alert("Sign-in rejected", "The CRM rejected user ann or the API key.",
                           "critical")]
    assert app.state.value == "error"


def test_busy_store_is_not_an_error(qtbot, make_app, fake_client):
    def busy(**kw):
        raise SyncBusyError("The command line is syncing this store.")

    fake_client.sync_fn = busy
    app = make_app()
    app.start()
    skipped, shown = [], []
    app.runner.skipped.connect(lambda p, t: skipped.append(t))
    app.alert_shown.connect(shown.append)
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.runner.request("push", "automatic")
    assert skipped == ["automatic"] and shown == []
    assert app.state.value == "idle"


def test_a_connection_saved_in_settings_syncs_as_settings_and_its_failure_is_shown(
        qtbot, make_app, fake_client):
    """The sync that tries a connection just saved (after a first sync) is recorded as
    "settings" (the report: "Settings saved", not "Sync Now"); the user asked for it, so its
    failure is shown even with alerts off. During a run, it waits for the run's end."""
    from tray_client.gui.report_window import TRIGGER_WORDS

    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    shown = []
    app.alert_shown.connect(shown.append)
    fake_client.settings.show_alerts = False

    def rejected(**kw):
        raise AuthError("The CRM rejected user ann or the API key.")

    fake_client.sync_fn = rejected
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app._on_settings_saved(fake_client.settings)   # as Save does: saved, then this
        app._on_connection_changed(fake_client.settings)
    assert [c["trigger"] for c in fake_client.calls] == ["manual", "settings"]
    assert TRIGGER_WORDS["settings"] == "Settings saved"
    assert shown == [Alert("Sign-in rejected", "The CRM rejected user ann or the API key.",
                           "critical")]

    release = threading.Event()
    fake_client.sync_fn = lambda **kw: (release.wait(5), FakeResult())[1]
    app.runner.request("pull", "automatic")
    qtbot.waitUntil(lambda: app.runner.busy, timeout=3000)
    app._on_connection_changed(fake_client.settings)   # saved while a sync runs
    with qtbot.waitSignal(app.runner.finished, timeout=5000):
        release.set()
    qtbot.waitUntil(lambda: len(fake_client.calls) == 4, timeout=5000)
    assert [c["trigger"] for c in fake_client.calls][2:] == ["automatic", "settings"]
