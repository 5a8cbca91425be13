"""What the tray app says at start-up about files it found damaged (issue 11)."""

from __future__ import annotations

from tray_client.client import Client
from tray_client.gui.app import _report_store_warning
from tray_client.paths import resolve_paths


class Reports:
    def __init__(self) -> None:
        self.errors: list = []

    def report_error(self, exc) -> None:
        self.errors.append(exc)


def test_an_empty_store_file_is_reported_once_at_start_up(tmp_path):
    home = tmp_path / "home"
    store = resolve_paths(home).ensure().store_file
    store.write_bytes(b"")
    tray = Reports()
    with Client(home) as client:
        _report_store_warning(client, tray)
    [error] = tray.errors
    assert error.title == "Local database was empty"
    assert "kept as" in error.message and str(store) in error.message
    again = Reports()
    with Client(home) as client:
        _report_store_warning(client, again)
    assert again.errors == []
