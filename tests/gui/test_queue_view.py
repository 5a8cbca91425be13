"""The queue view against the reference server: list, drop (change and outbox), send now."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_API_KEY, TEST_USER
from tests.history.test_steer import holds_enforced  # noqa: F401 - fixture
from tray_client.gui.queue_view import QueueView
from tray_client.history import CHANGE, OUTBOX


@pytest.fixture
def client(devserver, tmp_path, monkeypatch):
    from tray_client.client import Client
    from tray_client.settings import Settings

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    with Client(tmp_path / "home") as c:
        c.save_settings(Settings(url=devserver.url, user=TEST_USER))
        yield c


def _entries(view):
    return [view.model.row_at(i) for i in range(view.model.rowCount())]


def _open(qtbot, client) -> QueueView:
    view = QueueView(client, autoload=False)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.refreshed, timeout=10000):
        view.refresh()
    return view


def _select(view, predicate) -> None:
    row = next(i for i, e in enumerate(_entries(view)) if predicate(e))
    view.table.selectRow(row)


def test_lists_changes_and_outbox_and_drops_a_change(qtbot, client, devserver,
                                                     holds_enforced):  # noqa: F811
    crm_id = devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Lee"})
    client.sync(entities=["contacts"])
    (item,) = client.store.list("contacts")
    client.store.update(item.id, {"job_title": "Draft"})
    client.outbox().add("lead", {"name": "Big deal"})
    view = _open(qtbot, client)
    kinds = {(e.kind, e.name) for e in _entries(view)}
    assert (CHANGE, "Ann Lee") in kinds and (OUTBOX, "Big deal") in kinds
    assert view.status_label.text() == "2 change(s) wait to be sent."
    assert not view.drop_button.isEnabled()
    _select(view, lambda e: e.kind == CHANGE)
    assert view.drop_button.isEnabled()
    with qtbot.waitSignal(view.dropped, timeout=5000):
        view.drop_button.click()
    qtbot.waitUntil(lambda: not view.model.loading and all(
        e.kind == OUTBOX for e in _entries(view)), timeout=10000)
    # Send now: the dropped change stays out of the CRM.
    with qtbot.waitSignal(view.sent, timeout=10000) as signal:
        view.send_button.click()
    assert signal.args[0].outcome == "ok"
    assert devserver.admin.get("contacts", crm_id)["attributes"].get("jobTitle") != "Draft"
    assert client.store.get(item.id).fields["job_title"] == "Draft"   # kept locally


def test_drop_removes_an_outbox_entry(qtbot, client):
    entry = client.outbox().add("lead", {"name": "Wrong lead"})
    view = _open(qtbot, client)
    _select(view, lambda e: e.kind == OUTBOX)
    with qtbot.waitSignal(view.dropped, timeout=5000):
        view.drop_button.click()
    assert client.outbox().get(entry.id) is None
    qtbot.waitUntil(lambda: not view.model.loading and view.model.rowCount() == 0,
                    timeout=10000)
    assert view.status_label.text() == "Nothing waits to be sent."


def test_send_now_pushes_local_changes(qtbot, client, devserver):
    client.sync(entities=["tasks"])
    task = client.store.add("tasks", {"subject": "Call Ann", "priority": "high"})
    view = _open(qtbot, client)
    assert [e.item_id for e in _entries(view)] == [task.id]
    assert _entries(view)[0].description == "Create it in the CRM"
    with qtbot.waitSignal(view.sent, timeout=10000):
        view.send_button.click()
    assert client.store.get(task.id).crm_id
    assert devserver.admin.count("tasks") == 1
    qtbot.waitUntil(lambda: not view.model.loading and view.model.rowCount() == 0,
                    timeout=10000)


def test_an_unreachable_crm_is_shown_not_raised(qtbot, tmp_path, monkeypatch):
    from tray_client.client import Client
    from tray_client.settings import Settings

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    with Client(tmp_path / "off") as c:
        c.save_settings(Settings(url="http://127.0.0.1:9", user=TEST_USER))
        view = QueueView(c, autoload=False)
        qtbot.addWidget(view)
        with qtbot.waitSignal(view.failed, timeout=20000) as signal:
            view.refresh()
        assert signal.args[0] and view.status_label.text() == signal.args[0]


def test_a_failing_change_shows_why(qtbot, client):
    # Written past the store's checks (as an older version could have): the CRM refuses it.
    client.store.add("contacts", {"first_name": "Bad", "last_name": "Mail",
                                  "emails": ["not-an-email"]})
    result = client.sync(entities=["contacts"])
    assert result.outcome == "partial", result.outcome
    view = _open(qtbot, client)
    (entry,) = [e for e in _entries(view) if e.name == "Bad Mail"]
    assert entry.problem and entry.problem == result.errors[0].message
    column = [view.model.headerData(i, __import__("PySide6.QtCore").QtCore.Qt.Orientation
                                    .Horizontal) for i in range(view.model.columnCount())]
    row = _entries(view).index(entry)
    assert view.model.data(view.model.index(row, column.index("Last error"))) == entry.problem
