"""Threads never pull objects out from under each other: who collects garbage, who waits for
whom at shutdown."""

from __future__ import annotations

import gc
import threading
import weakref

from PySide6.QtCore import QObject

from tray_client.gui import workers
from tray_client.gui.workers import gui_collector, run_in_pool

from .conftest import FakeResult


class Cycle(QObject):
    """A Python-owned QObject that only the cyclic collector can free."""

    def __init__(self) -> None:
        super().__init__()
        self.me = self


def _garbage_qobject(freed_on: list[str]) -> None:
    """Leave a QObject in an unreachable cycle; note the thread that frees it."""
    obj = Cycle()
    _ref = weakref.ref(obj, lambda _r: freed_on.append(threading.current_thread().name))
    freed_on.append(_ref)  # type: ignore[arg-type] - keep the weakref (and its callback) alive


def test_a_sync_never_frees_qt_objects_on_its_thread(qtbot, make_app, fake_client):
    """The runner's full pass after a run used to run on the sync thread: a Qt object that
    became garbage in the GUI thread had its C++ destructor run there."""
    app = make_app()
    freed: list = []
    _garbage_qobject(freed)
    with qtbot.waitSignal(app.runner.idle, timeout=5000):
        assert app.runner.request("both", "manual")
    qtbot.waitUntil(lambda: len(freed) == 2, timeout=5000)
    assert freed[1] == threading.main_thread().name


def test_while_the_app_runs_only_the_gui_thread_collects(qtbot, make_app, fake_client):
    collections: list[str] = []

    def watch(phase: str, _info: dict) -> None:
        if phase == "start":
            collections.append(threading.current_thread().name)

    def churn(**kwargs):  # allocates enough cycles to set off the automatic collector
        for _ in range(20000):
            node: list = []
            node.append(node)
        return FakeResult(trigger=kwargs["trigger"])

    app = make_app()
    fake_client.sync_fn = churn
    gc.callbacks.append(watch)
    try:
        done: list = []
        run_in_pool(churn, trigger="manual", on_result=done.append)
        with qtbot.waitSignal(app.runner.idle, timeout=10000):
            app.runner.request("both", "manual")
        qtbot.waitUntil(lambda: done != [], timeout=10000)
        qtbot.wait(300)   # a collector tick
    finally:
        gc.callbacks.remove(watch)
    assert collections and set(collections) == {threading.main_thread().name}


def test_the_collector_collects_young_garbage_and_nests(qtbot):
    collector = gui_collector()
    held = collector.holders      # the tests' own hold (conftest.gui_thread_gc)
    for _ in range(held):
        collector.release()
    was = gc.isenabled()
    try:
        collector.acquire()
        collector.acquire()
        assert not gc.isenabled()
        freed: list = []
        _garbage_qobject(freed)
        for _ in range(gc.get_threshold()[0] * 3):   # over the threshold, whatever else is freed
            node: list = []
            node.append(node)
        qtbot.waitUntil(lambda: len(freed) == 2, timeout=2000)
        assert freed[1] == threading.main_thread().name
        collector.release()
        assert not gc.isenabled()       # still held once
        collector.release()
        assert gc.isenabled() == was
    finally:
        while collector.holders < held:
            collector.acquire()


def test_shutdown_waits_for_running_workers_and_their_callbacks(qtbot, make_app):
    """The caller closes the client right after shutdown: a worker still reading the store's
    connection while it closes crashed the process (SQLite, in a pool thread)."""
    app = make_app()
    release = threading.Event()
    delivered: list = []
    run_in_pool(lambda: release.wait(10) and "read", on_result=delivered.append)
    threading.Timer(0.3, release.set).start()
    app.shutdown()
    assert delivered == ["read"]
    assert not workers._running


def test_finished_workers_are_freed_on_the_gui_thread(qtbot, monkeypatch):
    """A tray app runs for weeks: every refresh's worker must be freed once it is done (a
    slot holding the worker kept each one alive through its own signals object)."""
    monkeypatch.setattr(workers, "RETIRE_SECONDS", 0.0)
    freed_on: list[str] = []
    refs = []
    done: list[int] = []
    for n in range(5):
        worker = run_in_pool(lambda n=n: n, on_result=done.append)
        weakref.finalize(worker, lambda: freed_on.append(threading.current_thread().name))
        refs.append(weakref.ref(worker))
        del worker
    qtbot.waitUntil(lambda: len(done) == 5 and not workers._running, timeout=5000)
    workers._sweep()
    gc.collect()
    assert [r() for r in refs] == [None] * 5
    assert set(freed_on) == {threading.main_thread().name}


def test_nothing_starts_a_sync_after_shutdown(qtbot, make_app, fake_client):
    """The network coming back (or a wake-up) during shutdown started a run on a client that
    was about to close."""
    app = make_app()
    app.shutdown()
    app.network.back_online.emit()
    app.wake.woke.emit()
    qtbot.wait(100)
    assert not app.runner.busy
    assert fake_client.calls == []


def test_the_queue_view_uses_the_store_connection_under_its_lock(qtbot, devserver, tmp_path,
                                                                 monkeypatch):
    """A worker using the shared connection without the lock races the sync thread's
    transactions and Client.close (a reproduced segmentation fault in Outbox._read)."""
    from tests.conftest import TEST_API_KEY, TEST_USER
    from tray_client.client import Client
    from tray_client.gui.queue_view import QueueView
    from tray_client.settings import Settings

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    with Client(tmp_path / "home") as client:
        client.save_settings(Settings(url=devserver.url, user=TEST_USER))
        client.outbox().add("lead", {"name": "Big deal"})
        store = client.store
        unlocked: list[str] = []

        def trace(sql: str) -> None:
            if (threading.current_thread() is not threading.main_thread()
                    and not store.lock._is_owned()):
                unlocked.append(sql)

        store.connection.set_trace_callback(trace)
        try:
            view = QueueView(client, autoload=False)
            qtbot.addWidget(view)
            with qtbot.waitSignal(view.refreshed, timeout=10000):
                view.refresh()
        finally:
            store.connection.set_trace_callback(None)
        assert view.model.rowCount() == 1
        assert unlocked == [], "\n".join(unlocked)


def test_the_collector_ticks_fast_only_while_a_sync_runs(qtbot, make_app, fake_client):
    """Young collections small and often during a run (the run allocates fast; each one
    holds the GIL), the slow timer again once it is over (idle, nothing to wake up for)."""
    collector = gui_collector()
    intervals: list[int] = []

    def sync(**kwargs):
        intervals.append(collector.timer.interval())
        return FakeResult(trigger=kwargs["trigger"])

    app = make_app()
    fake_client.sync_fn = sync
    assert collector.timer.interval() == collector.interval_ms == 250
    with qtbot.waitSignal(app.runner.idle, timeout=5000):
        assert app.runner.request("both", "manual")
    assert intervals == [collector.busy_interval_ms] and collector.busy_interval_ms == 50
    assert collector.timer.interval() == 250 and collector.hurried == 0
    collector.relax()   # an unmatched relax changes nothing
    assert collector.hurried == 0 and collector.timer.interval() == 250
