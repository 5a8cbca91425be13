"""The one way the client writes a file it keeps (files.atomic_file / write_text), the one UTC
timestamp format (times.utc_text) and the one line for an error (errors.error_text)."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from tray_client.errors import StoreError, error_text
from tray_client.files import atomic_file, write_text
from tray_client.times import utc_text


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "state.json"
    write_text(target, "old")
    with pytest.raises(OSError), atomic_file(target) as out:
        out.write("half of the new")
        raise OSError(28, "No space left on device")
    assert target.read_text(encoding="utf-8") == "old"
    assert _leftovers(tmp_path) == []


def test_files_are_owner_only_unless_told_otherwise(tmp_path):
    private, shared = tmp_path / "a" / "settings.json", tmp_path / "b" / "entry.desktop"
    write_text(private, "x")                       # folders made on the way
    write_text(shared, "y", permissions=0o644)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    with atomic_file(private, "wb") as out:        # replacing keeps the rule
        out.write(b"z")
    assert private.read_bytes() == b"z" and stat.S_IMODE(private.stat().st_mode) == 0o600
    assert _leftovers(private.parent) == [] and _leftovers(shared.parent) == []


def test_utc_text_is_one_format_for_every_instant():
    aware = dt.datetime(2026, 3, 1, 1, 30, 5, 999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utc_text(aware) == "2026-02-28T23:30:05Z"
    assert utc_text(dt.datetime(2026, 3, 1, 1, 30, 5)) == "2026-03-01T01:30:05Z"   # naive: UTC
    now = utc_text()
    assert len(now) == 20 and now.endswith("Z")


def test_error_text_is_title_and_message_for_ours_and_the_text_for_others():
    assert error_text(StoreError("No such item.", title="Item not found")) == (
        "Item not found: No such item.")
    assert error_text(ValueError("bad")) == "bad"
    assert error_text(KeyError()) == "KeyError"
