"""The local items window over a real store: tabs, search, sort, sync marks, CRM links,
create/edit/delete with field errors, and the trash with Restore."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.conftest import TEST_API_KEY, TEST_USER
from tray_client.gui.items_window import ItemDialog, ItemsWindow, local_date
from tray_client.settings import Settings


@pytest.fixture
def client(tmp_path, monkeypatch):
    from tray_client.client import Client

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", TEST_API_KEY)
    with Client(tmp_path / "home") as c:
        c.save_settings(Settings(url="https://crm.example.org/", user=TEST_USER))
        yield c


def _open(qtbot, client) -> ItemsWindow:
    window = ItemsWindow(client)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not any(t.model.loading for t in window.tabs_by_entity.values())
                    and not window.trash_tab.model.loading, timeout=5000)
    return window


def _names(tab) -> list[str]:
    return [r.item.display_name for r in tab.rows()]


def test_tabs_list_items_with_search_sort_and_marks(qtbot, client):
    store = client.store
    store.add("contacts", {"first_name": "Zoe", "last_name": "Ark", "emails": ["z@x.org"]})
    store.add("contacts", {"first_name": "Ann", "last_name": "Lee"}, crm_id="12")
    store.add("tasks", {"subject": "Call", "priority": "high"})
    store.add("events", {"subject": "Meet", "start": "2026-11-25T10:00:00+01:00",
                         "end": "2026-11-25T11:00:00+01:00"})
    window = _open(qtbot, client)
    contacts = window.tabs_by_entity["contacts"]
    assert _names(contacts) == ["Zoe Ark", "Ann Lee"]           # creation order
    contacts.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # by name
    assert _names(contacts) == ["Ann Lee", "Zoe Ark"]
    assert [r.mark for r in contacts.rows()] == ["pending", "pending"]
    assert _names(window.tabs_by_entity["tasks"]) == ["Call"]
    events = window.tabs_by_entity["events"]
    assert events.proxy.index(0, 2).data() == local_date("2026-11-25T10:00:00+01:00")
    assert "T10:00" not in events.proxy.index(0, 2).data()      # the user's locale
    contacts.search_edit.setText("ARK")
    with qtbot.waitSignal(window.loaded):
        contacts.search_edit.returnPressed.emit()
    assert _names(contacts) == ["Zoe Ark"]
    assert contacts.count_label.text() == "1 shown"


def test_crm_id_is_a_link_to_the_record_page(qtbot, client):
    client.store.add("tasks", {"subject": "Call"}, crm_id="77")
    window = _open(qtbot, client)
    opened = []
    window.open_url = lambda url: opened.append(url) or True
    tasks = window.tabs_by_entity["tasks"]
    crm_column = tasks.model.columnCount() - 1
    index = tasks.proxy.index(0, crm_column)
    assert index.data() == "77"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "https://crm.example.org/task/view/77"
    assert index.data(Qt.ItemDataRole.FontRole).underline()
    tasks.table.clicked.emit(index)
    assert [u.toString() for u in opened] == ["https://crm.example.org/task/view/77"]
    tasks.table.clicked.emit(tasks.proxy.index(0, 1))      # not the link column
    assert len(opened) == 1
    assert window.status_label.text() == ""


def test_a_link_with_no_browser_says_so_and_copies_the_address(qtbot, client):
    from PySide6.QtGui import QGuiApplication

    client.store.add("tasks", {"subject": "Call"}, crm_id="77")
    window = _open(qtbot, client)
    window.open_url = lambda url: False                    # nothing could open it
    tasks = window.tabs_by_entity["tasks"]
    tasks.table.clicked.emit(tasks.proxy.index(0, tasks.model.columnCount() - 1))
    assert "No web browser could open" in window.status_label.text()
    assert QGuiApplication.clipboard().text() == "https://crm.example.org/task/view/77"


def test_failed_mark_shows_the_reason(qtbot, client):
    from tray_client.sync.state import SyncState

    item = client.store.add("contacts", {"first_name": "Bad"})
    with client.store.transaction():
        state = SyncState(client.store.connection)
        state.migrate()
        state.add_pending("contacts", "local", item.id, "firstName: too long")
    window = _open(qtbot, client)
    (row,) = window.tabs_by_entity["contacts"].rows()
    assert row.mark == "✗ failed: firstName: too long"


def test_create_with_a_field_error_then_fixed(qtbot, client):
    window = _open(qtbot, client)
    contacts = window.tabs_by_entity["contacts"]
    dialog = contacts.new_item()
    dialog.editors["first_name"].setText("Eve")
    dialog.editors["birthday"].setText("31/12/1990")
    dialog.editors["business_address"]["city"].setText("Paris")
    dialog.editors["gender"].setCurrentIndex(dialog.editors["gender"].findData("female"))
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.error_of("birthday") != "", timeout=5000)
    assert "YYYY-MM-DD" in dialog.error_of("birthday")      # shown at the field
    assert dialog.error_of("first_name") == "" and dialog.general_error.isHidden()
    assert dialog.isVisible() and client.store.count("contacts") == 0
    dialog.editors["birthday"].setText("1990-12-31")
    with qtbot.waitSignal(window.item_saved, timeout=5000) as signal:
        dialog.accept()
    item = signal.args[0]
    assert item.fields["first_name"] == "Eve" and item.fields["birthday"] == "1990-12-31"
    assert item.fields["business_address"] == {"city": "Paris"}
    assert item.fields["gender"] == "female" and item.crm_sync
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: _names(contacts) == ["Eve"], timeout=5000)


def test_edit_clears_fields_and_sets_crm_sync(qtbot, client):
    item = client.store.add("tasks", {"subject": "Call", "priority": "high", "notes": "x"})
    window = _open(qtbot, client)
    tasks = window.tabs_by_entity["tasks"]
    tasks.select_item(item.id)
    dialog = tasks.edit_selected()
    assert dialog.editors["subject"].text() == "Call"
    assert dialog.editors["priority"].currentData() == "high"
    dialog.editors["subject"].setText("Call Ann")
    dialog.editors["notes"].setText("")
    dialog.editors["status"].setCurrentIndex(dialog.editors["status"].findData("waiting"))
    dialog.crm_sync_check.setChecked(False)
    with qtbot.waitSignal(window.item_saved, timeout=5000):
        dialog.accept()
    saved = client.store.get(item.id)
    assert saved.fields == {"subject": "Call Ann", "priority": "high", "status": "waiting"}
    assert saved.crm_sync is False
    qtbot.waitUntil(lambda: _names(tasks) == ["Call Ann"], timeout=5000)


def test_delete_then_restore_from_the_trash(qtbot, client):
    item = client.store.add("contacts", {"first_name": "Ann", "last_name": "Lee"})
    window = _open(qtbot, client)
    contacts = window.tabs_by_entity["contacts"]
    contacts.select_item(item.id)
    window.confirm = lambda _text: False
    contacts.delete_button.click()
    assert client.store.get(item.id) is not None           # declined: nothing happens
    window.confirm = lambda _text: True
    with qtbot.waitSignal(window.item_deleted, timeout=5000):
        contacts.delete_button.click()
    assert client.store.get(item.id) is None
    trash = window.trash_tab
    qtbot.waitUntil(lambda: len(trash.entries()) == 1 and not trash.model.loading, timeout=5000)
    assert trash.model.index(0, 2).data() == "deleted by you"
    trash.table.selectRow(0)
    with qtbot.waitSignal(window.item_restored, timeout=5000) as signal:
        trash.restore_button.click()
    assert signal.args[0].id == item.id and client.store.get(item.id) is not None
    qtbot.waitUntil(lambda: _names(contacts) == ["Ann Lee"] and not trash.entries(),
                    timeout=5000)


def test_values_as_words_dates_in_the_locale_and_columns_fit(qtbot, client):
    from PySide6.QtCore import QDate, QLocale

    client.store.add("tasks", {"subject": "Call Bob about the renewal", "priority": "high",
                               "status": "not_started", "due_date": "2026-12-01"})
    client.store.add("tasks", {"subject": "Write", "priority": "low", "status": "in_progress"})
    window = _open(qtbot, client)
    tasks = window.tabs_by_entity["tasks"]
    texts = [[tasks.proxy.index(r, c).data() for c in range(1, 5)] for r in range(2)]
    due = QLocale().toString(QDate(2026, 12, 1), QLocale.FormatType.ShortFormat)
    assert texts[0] == ["Call Bob about the renewal", "High", due, "Not started"]
    assert texts[1][3] == "In progress"
    tasks.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)      # by priority, low first
    assert [r.item.fields["subject"] for r in tasks.rows()] == [
        "Write", "Call Bob about the renewal"]
    header = tasks.table.horizontalHeader()
    metrics = tasks.table.fontMetrics()
    assert header.sectionSize(1) >= metrics.horizontalAdvance("Call Bob about the renewal")


def test_contact_editor_fits_a_768_px_screen_and_refuses_a_bad_email(qtbot, client):
    from PySide6.QtGui import QGuiApplication

    window = _open(qtbot, client)
    contacts = window.tabs_by_entity["contacts"]
    dialog = contacts.new_item()
    available = QGuiApplication.primaryScreen().availableGeometry().height()
    assert dialog.height() <= min(768, available)
    assert dialog.scroll.widget().sizeHint().height() > dialog.scroll.viewport().height() \
        or dialog.height() < 768                                   # scrolls when it must
    assert [dialog.editors["gender"].itemText(i) for i in range(3)] == ["", "Male", "Female"]
    dialog.editors["first_name"].setText("Zed")
    dialog.editors["emails"].setText("zed-at-example")
    dialog.accept()
    qtbot.waitUntil(lambda: dialog.error_of("emails") != "", timeout=5000)
    assert dialog.error_of("emails") == "'zed-at-example' is not an e-mail address."
    assert client.store.count("contacts") == 0
    assert isinstance(dialog, ItemDialog)
