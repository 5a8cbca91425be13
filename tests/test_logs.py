"""The log file: owner-only, rotated by size, without httpx's per-request lines."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from tray_client import logs
from tray_client.cli.main import main


@pytest.fixture
def clean_root():
    root = logging.getLogger()
    before = list(root.handlers)
    levels = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    old_umask = os.umask(0o022)
    yield root
    os.umask(old_umask)
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
            handler.close()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_file_is_owner_only_even_when_it_existed(tmp_path, clean_root):
    log_file = tmp_path / "tray-client.log"
    log_file.write_text("old line\n")
    log_file.chmod(0o644)
    handler = logs.setup_file_logging(log_file)
    assert handler is not None
    assert logs.setup_file_logging(log_file) is handler   # no second handler
    logging.getLogger("tray_client.test").info("a line")
    handler.flush()
    assert _mode(log_file) == 0o600
    assert "a line" in log_file.read_text()


def test_log_file_rotates_by_size_and_stays_owner_only(tmp_path, clean_root, monkeypatch):
    monkeypatch.setattr(logs, "LOG_MAX_BYTES", 2_000)
    log_file = tmp_path / "tray-client.log"
    handler = logs.setup_file_logging(log_file)
    assert handler is not None
    for n in range(400):
        logging.getLogger("tray_client.test").info("line %d %s", n, "x" * 40)
    handler.flush()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["tray-client.log", "tray-client.log.1",
                                       "tray-client.log.2", "tray-client.log.3"]
    for f in files:
        assert f.stat().st_size <= 2_000
        assert _mode(f) == 0o600
    assert "line 399" in log_file.read_text()


def test_httpx_requests_are_not_logged_but_its_warnings_are(tmp_path, clean_root):
    log_file = tmp_path / "tray-client.log"
    handler = logs.setup_file_logging(log_file)
    assert handler is not None
    logging.getLogger("httpx").info('HTTP Request: GET http://crm/api/users "HTTP/1.1 200 OK"')
    logging.getLogger("httpx").warning("something httpx warns about")
    handler.flush()
    text = log_file.read_text()
    assert "HTTP Request" not in text and "something httpx warns about" in text


def test_the_command_line_log_is_owner_only(tmp_path, clean_root, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "local", "list", "contacts"]) == 0
    logging.getLogger("tray_client.test").info("a line")
    log_file = home / "logs" / "tray-client.log"
    assert _mode(log_file) == 0o600
