"""One sync per store across processes (tray_client.sync.lock)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tray_client.errors import SyncBusyError
from tray_client.sync import SyncLock


def test_second_lock_in_the_same_process_is_refused(tmp_path):
    path = tmp_path / "sync.lock"
    with SyncLock(path), pytest.raises(SyncBusyError):
        SyncLock(path).acquire()
    with SyncLock(path) as again:   # released on exit
        assert again.held


def _holder(path, seconds: float) -> subprocess.Popen[str]:
    code = textwrap.dedent(f"""
        import sys, time
        from tray_client.sync import SyncLock
        with SyncLock({str(path)!r}):
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_holding_the_lock_makes_us_busy(tmp_path):
    path = tmp_path / "sync.lock"
    proc = _holder(path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(SyncBusyError) as err:
            SyncLock(path).acquire()
        assert time.monotonic() - started < 1.0       # at once, no waiting
        assert err.value.title and err.value.message
    finally:
        proc.kill()
        proc.wait()
    # A killed holder leaves no stale lock behind.
    with SyncLock(path):
        pass


def test_wait_gets_the_lock_when_the_other_sync_ends(tmp_path):
    path = tmp_path / "sync.lock"
    proc = _holder(path, 0.5)
    try:
        with SyncLock(path, wait=10) as lock:
            assert lock.held
    finally:
        proc.wait()


def test_threads_exclude_each_other(tmp_path):
    path = tmp_path / "sync.lock"
    inside = 0
    overlaps = []
    busy = []

    def worker() -> None:
        nonlocal inside
        try:
            with SyncLock(path, wait=5):
                inside += 1
                overlaps.append(inside)
                time.sleep(0.05)
                inside -= 1
        except SyncBusyError:
            busy.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(overlaps) == 1 and not busy
