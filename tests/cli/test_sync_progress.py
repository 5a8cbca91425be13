"""``tray-client sync`` on a terminal: a progress line while it runs, and Ctrl+C stops it
between two records, recorded as cancelled, with nothing lost."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.cli.main import main
from tray_client.cli.progress import TerminalProgress


class Result:
    def __init__(self):
        self.outcome = "ok"


def test_progress_line_is_redrawn_in_place_and_cleared():
    out = io.StringIO()
    progress = TerminalProgress(out, min_interval=0.0, force=True)
    progress.on_progress("contacts", 0, None, "starting")
    progress.on_progress("contacts", 12500, None, "reading changes from the CRM")
    progress.on_progress("contacts", 3, 10, "sending local changes")
    progress.on_finished(Result())
    text = out.getvalue()
    assert "\rcontacts: starting" in text
    assert "\rcontacts: reading changes from the CRM — 12,500" in text
    assert "\rcontacts: sending local changes — 3 of 10" in text
    assert text.endswith("\r") and "\n" not in text
    # Each redraw pads over the longer line before it.
    last_line = text.split("\r")[-2]
    assert last_line.strip() == "" and len(last_line) >= len("contacts: sending local changes")


def test_progress_is_throttled_but_shows_start_and_end():
    out = io.StringIO()
    progress = TerminalProgress(out, min_interval=60.0, force=True)
    progress.on_progress("tasks", 0, None, "starting")
    for n in range(100):
        progress.on_progress("tasks", n, None, "reading changes from the CRM")
    progress.on_progress("tasks", 0, None, "done")
    assert out.getvalue().count("\r") == 2


def test_nothing_is_written_when_not_a_terminal():
    out = io.StringIO()                 # isatty() is False: a pipe, a file, a script
    progress = TerminalProgress(out, min_interval=0.0)
    progress.on_progress("events", 5, None, "reading changes from the CRM")
    progress.on_finished(Result())
    assert out.getvalue() == ""


@pytest.mark.slow
def test_ctrl_c_stops_the_sync_between_records_and_the_next_run_goes_on(tmp_path, devserver,
                                                                         capsys, monkeypatch):
    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    home = str(tmp_path / "home")
    assert main(["--home", home, "configure", "--url", devserver.url, "--user", TEST_USER]) == 0
    devserver.admin.bulk_contacts(30_000)
    capsys.readouterr()

    # stderr on a pseudo-terminal, as in a shell: the progress line shows, and tells us the
    # sync is under way.
    leader, follower = pty.openpty()
    env = {**os.environ, "TRAY_CLIENT_API_KEY": TEST_API_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "tray_client", "--home", home, "sync"],
                            stdout=subprocess.PIPE, stderr=follower, text=True, env=env)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"reading changes from the CRM" not in seen:
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                seen += os.read(leader, 4096)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=60)
        try:
            while select.select([leader], [], [], 0.2)[0]:
                seen += os.read(leader, 4096)
        except OSError:
            pass   # the terminal closed with the process
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (stdout, seen)
    assert stdout.startswith("Sync cancelled"), stdout
    assert b"Stopping after the current record" in seen

    assert main(["--home", home, "report", "--runs", "1", "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["outcome"] == "cancelled"
    created_first = run["counts"]["contacts"]["local"]["created"]
    assert 0 < created_first < 30_000

    # The next run goes on from there: every contact exactly once.
    assert main(["--home", home, "sync", "--entity", "contacts", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["contacts"]["local"]["created"] == 30_000 - created_first
    assert main(["--home", home, "local", "list", "contacts", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert len(items) == 30_000 and len({i["crm_id"] for i in items}) == 30_000
