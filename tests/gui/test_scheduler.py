"""Scheduling: intervals, pause/resume, back-off, one sync at a time, wake-ups."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.date import DateTrigger

from tray_client.errors import OfflineError
from tray_client.gui.scheduler import SyncScheduler, WakeDetector
from tray_client.gui.state import TrayState

from .conftest import FakeResult


def collect(qtbot, scheduler: SyncScheduler, seconds: float) -> list[tuple[str, str]]:
    fired: list[tuple[str, str]] = []
    scheduler.sync_due.connect(lambda phase, trigger: fired.append((phase, trigger)))
    qtbot.wait(int(seconds * 1000))
    return fired


def short_intervals(client, pull: float, push: float) -> None:
    """The app takes its intervals from the sync rules: make them short for the test (the
    settings' own checks, at least 5 s, do not run on this fake)."""
    for rule in client.settings.sync_rules.values():
        rule.pull_interval, rule.push_interval = pull, push  # type: ignore[assignment]


def test_pull_and_push_jobs_fire_at_their_intervals(qtbot):
    scheduler = SyncScheduler(pull_interval=0.3, push_interval=0.2)
    scheduler.start()
    try:
        fired = collect(qtbot, scheduler, 0.75)
    finally:
        scheduler.shutdown()
    assert fired.count(("push", "automatic")) >= 2
    assert fired.count(("pull", "automatic")) >= 1
    assert fired.count(("push", "automatic")) > fired.count(("pull", "automatic"))


def test_pause_stops_both_jobs_and_resume_restarts_them(qtbot):
    scheduler = SyncScheduler(pull_interval=0.15, push_interval=0.15)
    scheduler.start(paused=True)
    try:
        assert scheduler.paused and scheduler.next_run() is None
        assert collect(qtbot, scheduler, 0.4) == []
        scheduler.resume()
        assert scheduler.next_run() is not None
        assert len(collect(qtbot, scheduler, 0.4)) >= 2
        scheduler.pause()
        assert collect(qtbot, scheduler, 0.4) == []
    finally:
        scheduler.shutdown()


def test_new_intervals_take_effect(qtbot):
    scheduler = SyncScheduler(pull_interval=60, push_interval=60)
    scheduler.start()
    try:
        assert collect(qtbot, scheduler, 0.3) == []
        assert scheduler.set_intervals(0.1, 60) is True
        assert scheduler.set_intervals(0.1, 60) is False  # unchanged: nothing rescheduled
        assert ("pull", "automatic") in collect(qtbot, scheduler, 0.35)
    finally:
        scheduler.shutdown()


def test_failures_back_off_exponentially_and_success_resets(qtbot):
    scheduler = SyncScheduler(pull_interval=0.1, push_interval=0.1, backoff_base=10,
                              backoff_max=25)
    scheduler.start()
    try:
        first = scheduler.record_failure()
        assert 9 < (first - datetime.now(UTC)).total_seconds() <= 10
        assert scheduler.next_run() == first
        second = scheduler.record_failure()
        assert 19 < (second - datetime.now(UTC)).total_seconds() <= 20
        third = scheduler.record_failure()
        assert 24 < (third - datetime.now(UTC)).total_seconds() <= 25  # capped
        # While backing off, the interval jobs do not start syncs.
        assert collect(qtbot, scheduler, 0.35) == []
        scheduler.record_success()
        assert scheduler.failures == 0 and scheduler.backoff_until is None
        assert len(collect(qtbot, scheduler, 0.35)) >= 2
    finally:
        scheduler.shutdown()


def test_retry_fires_when_the_backoff_ends(qtbot):
    scheduler = SyncScheduler(pull_interval=60, push_interval=60, backoff_base=0.2)
    scheduler.start()
    try:
        scheduler.record_failure()
        with qtbot.waitSignal(scheduler.sync_due, timeout=2000) as due:
            pass
        assert due.args == ["both", "automatic"]
    finally:
        scheduler.shutdown()


def test_wake_detector_sees_a_wall_clock_jump(qtbot):
    clock = {"wall": 1000.0, "mono": 50.0}
    detector = WakeDetector(wall=lambda: clock["wall"], mono=lambda: clock["mono"],
                            threshold=60)
    detector.start()
    clock["wall"] += 15
    clock["mono"] += 15
    assert detector.check() is False   # ordinary tick
    clock["wall"] += 3600               # suspended for an hour: monotonic stood still
    clock["mono"] += 15
    with qtbot.waitSignal(detector.woke, timeout=500):
        assert detector.check() is True
    detector.timer.stop()


def test_app_runs_automatic_pulls_and_pushes_on_the_worker(qtbot, make_app, fake_client):
    fake_client.config = OfflineError("keep the test's short intervals")
    short_intervals(fake_client, 0.25, 0.15)
    app = make_app(scheduler=SyncScheduler(pull_interval=0.25, push_interval=0.15))
    app.start()
    qtbot.waitUntil(lambda: {c["phase"] for c in fake_client.calls} >= {"pull", "push"},
                    timeout=3000)
    assert all(c["trigger"] == "automatic" for c in fake_client.calls)
    assert all(c["thread"] is not threading.main_thread() for c in fake_client.calls)


def test_only_one_sync_at_a_time_jobs_arriving_meanwhile_are_skipped(qtbot, make_app,
                                                                     fake_client):
    gate = threading.Event()
    running = []

    def slow(**kw):
        running.append(1)
        assert len(running) == 1, "two syncs ran at once"
        gate.wait(5)
        running.pop()
        return FakeResult()

    fake_client.sync_fn = slow
    fake_client.config = OfflineError("keep the test's short intervals")
    short_intervals(fake_client, 0.1, 0.1)
    app = make_app(scheduler=SyncScheduler(pull_interval=0.1, push_interval=0.1))
    skipped = []
    app.runner.skipped.connect(lambda p, t: skipped.append((p, t)))
    app.start()
    qtbot.waitUntil(lambda: len(fake_client.calls) == 1, timeout=2000)
    qtbot.waitUntil(lambda: len(skipped) >= 3, timeout=2000)
    assert app.sync_now() is False   # Sync Now during a run is refused, not queued twice
    assert len(fake_client.calls) == 1
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        gate.set()


def test_disable_sync_pauses_both_jobs(qtbot, make_app, fake_client):
    fake_client.settings.disable_sync = True
    fake_client.config = OfflineError("keep the test's short intervals")
    short_intervals(fake_client, 0.1, 0.1)
    app = make_app(scheduler=SyncScheduler(pull_interval=0.1, push_interval=0.1))
    app.start()
    assert app.scheduler.paused
    assert app.tray.state is TrayState.PAUSED
    assert not app.actions.pause.isEnabled()
    assert "Automatic sync disabled in Settings" in app.tray.icon.toolTip()
    qtbot.wait(400)
    assert fake_client.calls == []
    # Sync Now still works.
    with qtbot.waitSignal(app.runner.finished, timeout=3000):
        app.sync_now()
    assert fake_client.calls[0]["phase"] == "both"
    assert app.tray.state is TrayState.PAUSED


def test_intervals_follow_the_server_configuration(qtbot, make_app, fake_client):
    fake_client.config["contacts_sync_interval_orocrm"] = 600
    fake_client.config["contacts_sync_interval_outlook"] = 90
    app = make_app()
    with qtbot.waitSignals([app.runner.config_fetched, app.runner.idle], timeout=3000):
        app.start()
        app.sync_now()
    assert (app.scheduler.pull_interval, app.scheduler.push_interval) == (600, 90)
    fake_client.config["contacts_sync_interval_orocrm"] = 300
    with qtbot.waitSignals([app.runner.config_fetched, app.runner.idle], timeout=3000):
        assert app.runner.request("pull", "automatic")
    assert app.scheduler.pull_interval == 300


def test_failed_sync_backs_off_and_the_tooltip_says_when(qtbot, make_app, fake_client):
    def offline(**kw):
        raise OfflineError("crm.example.org refused the connection.")

    fake_client.sync_fn = offline
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    assert app.tray.state is TrayState.OFFLINE
    assert app.scheduler.failures == 1 and app.scheduler.backoff_until is not None
    tip = app.tray.icon.toolTip()
    assert "Next try:" in tip
    assert "CRM unreachable — crm.example.org refused the connection." in tip
    fake_client.sync_fn = lambda **kw: FakeResult()
    with qtbot.waitSignal(app.runner.idle, timeout=3000):
        app.sync_now()
    assert app.scheduler.failures == 0
    assert app.tray.state is TrayState.IDLE
    assert "Next sync:" in app.tray.icon.toolTip()


def test_wake_up_triggers_a_sync(qtbot, make_app, fake_client):
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.finished, timeout=3000):
        app.wake.woke.emit()
    assert fake_client.calls[0]["phase"] == "both"
    assert fake_client.calls[0]["trigger"] == "automatic"


def test_shutdown_cancels_and_waits_for_the_running_sync(qtbot, make_app, fake_client):
    def cancellable(**kw):
        deadline = time.monotonic() + 5
        while not kw["cancel"].is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        return FakeResult(outcome="cancelled")

    fake_client.sync_fn = cancellable
    app = make_app()
    app.start()
    app.sync_now()
    qtbot.waitUntil(lambda: len(fake_client.calls) == 1, timeout=2000)
    started = time.monotonic()
    app.shutdown()
    assert time.monotonic() - started < 2
    assert not app.scheduler.running


def test_network_coming_back_is_signalled_once(qtbot):
    from PySide6.QtNetwork import QNetworkInformation

    from tray_client.gui.scheduler import NetworkWatcher

    reach = QNetworkInformation.Reachability
    watcher = NetworkWatcher()
    back = []
    watcher.back_online.connect(lambda: back.append(True))
    watcher.on_reachability(reach.Disconnected)
    watcher.on_reachability(reach.Disconnected)
    assert back == []
    watcher.on_reachability(reach.Online)
    watcher.on_reachability(reach.Online)   # still online: not "back" again
    assert back == [True]


def test_network_back_triggers_a_sync(qtbot, make_app, fake_client):
    app = make_app()
    app.start()
    with qtbot.waitSignal(app.runner.finished, timeout=3000):
        app.network.back_online.emit()
    assert (fake_client.calls[0]["phase"], fake_client.calls[0]["trigger"]) == (
        "both", "automatic")


def test_scheduler_shutdown_while_its_thread_runs_a_retry(qtbot, monkeypatch):
    """APScheduler's shutdown marks the scheduler stopped before it takes the job-store lock;
    a pass of its thread that had just run the one-shot retry job then failed to remove it
    (JobLookupError) and the thread ended with an exception."""
    scheduler = SyncScheduler(pull_interval=60, push_interval=60, backoff_base=0.05)
    aps = scheduler._scheduler
    jobs_removed = threading.Event()
    original_next = DateTrigger.get_next_fire_time
    original_remove_all = aps.remove_all_jobs

    calls: list = []

    def next_fire_time(self, previous, now):
        if previous is not None:
            calls.append(previous)
        if len(calls) == 2:
            # The scheduler's thread (1: which runs are due; 2: after it started the retry,
            # whether it comes again): hold on until the GUI thread shuts the scheduler down.
            deadline = time.monotonic() + 3
            while (aps.state != STATE_STOPPED and not jobs_removed.is_set()
                   and time.monotonic() < deadline):
                time.sleep(0.005)
        return original_next(self, previous, now)

    def remove_all_jobs(*args, **kwargs):
        jobs_removed.set()
        return original_remove_all(*args, **kwargs)

    errors: list = []
    monkeypatch.setattr(DateTrigger, "get_next_fire_time", next_fire_time)
    monkeypatch.setattr(aps, "remove_all_jobs", remove_all_jobs)
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    scheduler.start()
    with qtbot.waitSignal(scheduler.sync_due, timeout=3000):
        scheduler.record_failure()
    scheduler.shutdown()   # as TrayApp.shutdown may, at any moment; joins the thread
    assert errors == []
    assert not scheduler.running


def test_each_entity_syncs_on_its_own_interval(qtbot, make_app, fake_client):
    """The jobs fire at the shortest enabled interval; each firing syncs only the entities
    whose own interval has passed; a CRM section's intervals win over this computer's."""
    fake_client.config = OfflineError("the intervals come from the rules here")
    fake_client.settings.rule("contacts").pull_interval = 60
    fake_client.settings.rule("tasks").pull_interval = 180
    fake_client.settings.rule("events").enabled = False
    app = make_app(scheduler=SyncScheduler(pull_interval=3600, push_interval=3600))
    now = [1000.0]
    app.due._clock = lambda: now[0]
    app.start()
    assert (app.scheduler.pull_interval, app.scheduler.push_interval) == (60, 30)
    requests = []
    app.runner.request = lambda phase, trigger, entities=None, **kw: requests.append(
        (phase, entities)) or True
    for tick in (1, 2, 3):
        now[0] = 1000.0 + 60 * tick
        app._on_sync_due("pull", "automatic")
    assert requests == [("pull", ["contacts"]), ("pull", ["contacts"]),
                        ("pull", ["contacts", "tasks"])]
    # The CRM's Outlook section sets the instance's intervals for every entity.
    app.apply_server_configuration({"contacts_sync_interval_orocrm": 300,
                                    "contacts_sync_interval_outlook": 90})
    assert (app.scheduler.pull_interval, app.scheduler.push_interval) == (300, 90)
