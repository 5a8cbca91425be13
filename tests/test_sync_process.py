"""Syncs in a child process (``Client(sync_in_child=True)``, what the tray app uses): the same
run as in-process, its observer calls, cancel, errors and a dying child, against the
reference server on loopback."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import threading

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.client import Client
from tray_client.errors import (
    CredentialsError,
    DeletionGuardError,
    SyncBusyError,
    SyncError,
)
from tray_client.sync.lock import SyncLock
from tray_client.sync_process import SyncProcess, _error_message, _rebuilt

FAIL_KEYRING = "keyring.backends.fail.Keyring"


def make_client(home, devserver, *, in_child: bool = True) -> Client:
    client = Client(home, sync_in_child=in_child)
    settings = client.settings
    settings.url, settings.user = devserver.url, TEST_USER
    client.save_settings(settings)
    return client


@pytest.fixture
def env_key(monkeypatch):
    """The key in the environment variable (the child inherits it) and a keyring that refuses
    everything: no test reaches the developer's real keyring, here or in the child."""
    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL_KEYRING)


@pytest.fixture
def child_client(tmp_path, devserver, env_key):
    client = make_client(tmp_path / "home", devserver)
    yield client
    client.close()


class Recorder:
    def __init__(self, on_progress=None) -> None:
        self.states: list[str] = []
        self.progress: list[tuple] = []
        self.finished: list = []
        self.threads: set[str] = set()
        self._on_progress = on_progress

    def on_state(self, state):
        self.states.append(state)
        self.threads.add(threading.current_thread().name)

    def on_progress(self, entity, done, total, message):
        self.progress.append((entity, done, total, message))
        if self._on_progress is not None:
            self._on_progress(done)

    def on_finished(self, result):
        self.finished.append(result)


def fields(client: Client) -> list[dict]:
    return sorted((dict(item.fields) for item in client.store.list("contacts")),
                  key=lambda f: f["last_name"])


def test_a_sync_in_the_child_writes_what_an_in_process_sync_writes(tmp_path, devserver,
                                                                   env_key):
    for name in ("Ann", "Bob", "Cy"):
        devserver.admin.create("contacts", {"firstName": name, "lastName": f"{name}son",
                                            "primaryEmail": f"{name.lower()}@example.com"})
    recorder = Recorder()
    with make_client(tmp_path / "child", devserver) as child, \
            make_client(tmp_path / "here", devserver, in_child=False) as here:
        result = child.sync(observer=recorder)
        pid = child._sync_process.pid
        expected = here.sync()
        assert pid is not None and pid != os.getpid()
        assert result.outcome == expected.outcome == "ok"
        assert result.counts == expected.counts
        assert result.counts["contacts"]["local"]["created"] == 3
        assert fields(child) == fields(here) and len(fields(child)) == 3
        # The observer's calls arrived here, on the calling thread
        assert recorder.states[0] == "syncing" and recorder.states[-1] == "ok"
        assert recorder.threads == {threading.current_thread().name}
        assert [r.run_id for r in recorder.finished] == [result.run_id]
        assert child.history.runs()[0].run_id == result.run_id
        # The next run goes to the same child (no interpreter start-up per interval run)
        assert child.sync(phase="push", trigger="automatic").outcome == "ok"
        assert child._sync_process.pid == pid
    assert not _alive(pid)   # close stopped it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie not reaped yet counts as gone
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_cancel_reaches_the_child_and_the_next_sync_goes_on(child_client, devserver):
    devserver.admin.bulk_contacts(20000)
    cancel = threading.Event()
    recorder = Recorder(on_progress=lambda done: done > 0 and cancel.set())
    result = child_client.sync(observer=recorder, cancel=cancel)
    assert result.outcome == "cancelled" and "kept" in result.message
    assert any(done > 0 for _, done, _, _ in recorder.progress)
    kept = child_client.store.count("contacts")
    assert 0 < kept < 20000
    again = child_client.sync()
    assert again.outcome == "ok"
    assert again.counts["contacts"]["local"]["created"] == 20000 - kept
    assert child_client.store.count("contacts") == 20000


def test_a_child_that_dies_mid_sync_is_a_clear_error_and_loses_nothing(child_client, devserver):
    devserver.admin.bulk_contacts(20000)
    process = child_client._sync_process

    def kill(done: int) -> None:
        if done > 0 and process.pid is not None:
            os.kill(process.pid, signal.SIGKILL)

    with pytest.raises(SyncError) as caught:
        child_client.sync(observer=Recorder(on_progress=kill))
    assert caught.value.title == "Sync process stopped"
    assert "exit code -9" in caught.value.message
    assert "the next sync goes on" in caught.value.message
    kept = child_client.store.count("contacts")
    assert kept < 20000
    # A new child; the lock died with the old one; the run goes on from the last batch
    again = child_client.sync()
    assert again.outcome == "ok"
    assert again.counts["contacts"]["local"]["created"] == 20000 - kept
    assert child_client.store.count("contacts") == 20000


def test_busy_comes_back_as_the_same_error(child_client):
    with SyncLock(child_client.paths.lock_file), pytest.raises(SyncBusyError) as caught:
        child_client.sync()
    assert caught.value.title == "A sync is already running"
    assert str(caught.value) == f"{caught.value.title}: {caught.value.message}"
    assert child_client.sync().outcome == "ok"   # the child is still there for the next run


def test_a_second_sync_while_one_runs_is_busy_at_once_as_in_process(child_client, devserver):
    """*Send now* (Queue window, a worker) while the runner's sync runs: busy at once, as two
    threads of one process are at the sync lock, not queued behind the run."""
    import time

    from tray_client.sync.lock import BUSY_MESSAGE

    devserver.admin.bulk_contacts(20000)
    running = threading.Event()
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(child_client.sync(
        observer=Recorder(on_progress=lambda done: running.set()))))
    worker.start()
    try:
        assert running.wait(60)
        started = time.monotonic()
        with pytest.raises(SyncBusyError) as caught:
            child_client.sync(phase="push")
        assert time.monotonic() - started < 1.0
        assert caught.value.message == BUSY_MESSAGE
        # with ``wait``: runs once the other has finished
        assert child_client.sync(phase="push", wait=120).outcome == "ok"
        assert outcome and outcome[0].outcome == "ok"
    finally:
        worker.join(120)


def test_the_child_reads_the_secret_itself_and_says_when_there_is_none(tmp_path, devserver,
                                                                      monkeypatch):
    monkeypatch.delenv("TRAY_CLIENT_API_KEY", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL_KEYRING)
    with make_client(tmp_path / "home", devserver) as client, \
            pytest.raises(CredentialsError) as caught:
        client.sync()
    # What the child's keyring said (a fresh process: the backend of the variable), as the
    # same class with its title and message
    assert caught.value.title == "No keyring available"
    assert "TRAY_CLIENT_API_KEY environment variable" in caught.value.message


def test_the_child_is_given_no_secret(tmp_path, devserver, env_key, monkeypatch):
    """Nothing of the secret crosses the pipe: the parent sends the settings and the run's
    arguments only (the child reads the keyring or the environment variable itself)."""
    from multiprocessing.connection import Connection

    sent: list[bytes] = []
    real_send = Connection.send
    monkeypatch.setattr(Connection, "send",
                        lambda self, obj: (sent.append(pickle.dumps(obj)), real_send(self, obj)))
    with make_client(tmp_path / "home", devserver) as client:
        assert client.sync().outcome == "ok"
    assert sent and not any(TEST_API_KEY.encode() in data for data in sent)


def test_a_keyring_given_in_memory_cannot_sync_in_a_child(tmp_path):
    from tests.test_credentials import MemoryKeyring

    with pytest.raises(ValueError, match="keyring"):
        Client(tmp_path / "home", keyring_backend=MemoryKeyring(), sync_in_child=True)


def test_errors_cross_with_their_class_title_and_attributes():
    guard = DeletionGuardError("Would delete 40 of 50 contacts.", entity="contacts",
                               would_delete=40, linked=50)
    rebuilt = _rebuilt(*_error_message(guard))
    assert type(rebuilt) is DeletionGuardError
    assert (rebuilt.title, rebuilt.message, rebuilt.entity, rebuilt.would_delete,
            rebuilt.linked) == ("Too many deletions", guard.message, "contacts", 40, 50)
    titled = _rebuilt(*_error_message(SyncBusyError("busy", title="Another title")))
    assert (type(titled), titled.title) == (SyncBusyError, "Another title")
    assert isinstance(_rebuilt(*_error_message(KeyError("x"))), KeyError)

    class Local(Exception):   # cannot be pickled: its text still arrives
        pass

    text = _rebuilt(*_error_message(Local("no pickle")))
    assert isinstance(text, RuntimeError) and str(text) == "Local: no pickle"


def test_log_records_of_the_child_reach_the_parents_handlers(caplog):
    record = logging.LogRecord("tray_client.sync.engine", logging.WARNING, __file__, 1,
                               "Could not record the end of sync run %s", ("r1",), None)
    with caplog.at_level(logging.INFO):
        SyncProcess(None)._relay("log", (record,), None)
    assert "Could not record the end of sync run r1" in caplog.text


def test_a_child_whose_parent_is_gone_stops(child_client):
    """The app killed (its end of the pipe closes with it): the child stops its run at the
    next safe point and exits, instead of syncing on for nobody."""
    import time

    assert child_client.sync().outcome == "ok"
    process = child_client._sync_process
    pid = process.pid
    process._requests.close()          # what the parent's death does to the pipe
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
        process._process.join(0)        # reap it (a child of this test process)
    assert not _alive(pid)


def test_the_deletion_guard_and_force_delete_cross_as_in_process(child_client, devserver):
    """The guard's error carries what the GUI's confirmation says (entity, how many); the
    confirmed run (``force_delete``) and a *Resync* (``resync``) reach the child's engine."""
    ids = [devserver.admin.create("contacts", {"lastName": f"P{n}"}) for n in range(14)]
    assert child_client.sync(entities=["contacts"]).outcome == "ok"
    for crm_id in ids[:12]:
        devserver.admin.delete("contacts", crm_id)
    with pytest.raises(DeletionGuardError) as err:
        child_client.sync(entities=["contacts"])
    assert (err.value.entity, err.value.would_delete, err.value.linked) == ("contacts", 12, 14)
    assert err.value.title == "Too many deletions"
    assert child_client.store.count("contacts") == 14          # nothing was deleted
    result = child_client.sync(entities=["contacts"], force_delete=True)
    assert result.counts["contacts"]["local"]["deleted"] == 12
    assert child_client.store.count("contacts") == 2
    again = child_client.sync(entities=["contacts"], resync=True, trigger="resync")
    assert (again.outcome, again.trigger) == ("ok", "resync")
    assert child_client.store.count("contacts") == 2


def test_close_during_a_run_stops_it_and_its_caller_gets_the_result(tmp_path, devserver,
                                                                    env_key):
    """Quitting the app mid-sync: the run stops at its next safe point (what it wrote is
    kept), the thread that started it gets the cancelled result, and the child exits."""
    devserver.admin.bulk_contacts(20000)
    client = make_client(tmp_path / "home", devserver)
    running = threading.Event()
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(client.sync(
        observer=Recorder(on_progress=lambda done: done > 0 and running.set()))))
    worker.start()
    assert running.wait(60)
    pid = client._sync_process.pid
    client.close()
    worker.join(60)
    assert outcome and outcome[0].outcome == "cancelled"
    assert not _alive(pid)
    with Client(tmp_path / "home") as again:
        assert 0 < again.store.count("contacts") < 20000


def test_an_idle_child_is_stopped_and_the_next_sync_starts_another(child_client, devserver,
                                                                   monkeypatch):
    """No sync for IDLE_SECONDS: the child ends (its memory is given back); the next sync
    starts a new one and goes on. A sync within the time keeps it."""
    import time

    from tray_client import sync_process

    monkeypatch.setattr(sync_process, "IDLE_SECONDS", 1.5)
    devserver.admin.create("contacts", {"firstName": "Ida", "lastName": "Le"})
    assert child_client.sync().outcome == "ok"
    process = child_client._sync_process
    first = process.pid
    assert first is not None
    time.sleep(0.5)
    assert child_client.sync().outcome == "ok"   # within the time: the same child
    time.sleep(1.0)
    assert process.pid == first                    # 1.0 s after the second sync: kept
    deadline = time.monotonic() + 10
    while process.pid is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.pid is None
    devserver.admin.create("contacts", {"firstName": "Jo", "lastName": "Ek"})
    again = child_client.sync()
    assert again.outcome == "ok" and again.counts["contacts"]["local"]["created"] == 1
    assert process.pid not in (None, first)
