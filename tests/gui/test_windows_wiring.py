"""The tray menu's secondary windows, resync and the update offer, over the real facade and
the real reference server."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from tray_client.gui.windows import AppWindows


@pytest.fixture
def wired(qtbot, make_app, real_client):
    app = make_app(real_client)
    windows = AppWindows(app, real_client)
    yield app, windows
    for window in (windows.side_panel, windows.report_window, windows.items_window):
        if window is not None:
            window.close()


def _menu_texts(app) -> list[str]:
    return [a.text() for a in app.tray.icon.contextMenu().actions() if a.text()]


def test_menu_has_the_window_entries_in_order(wired):
    app, _ = wired
    texts = _menu_texts(app)
    for entry in ("Show/Hide Side Panel", "Sync Report…", "Local Items…", "Resync…"):
        assert entry in texts
    assert texts.index("Sync Now") < texts.index("Show/Hide Side Panel") < texts.index(
        "Settings…") < texts.index("Quit")


def test_side_panel_toggles(qtbot, wired):
    _, windows = wired
    windows.panel_action.trigger()
    panel = windows.side_panel
    assert panel is not None and panel.isVisible()
    windows.panel_action.trigger()
    assert not panel.isVisible()
    windows.panel_action.trigger()
    assert panel.isVisible()


def test_report_and_items_windows_show_a_sync(qtbot, wired, devserver, real_client):
    app, windows = wired
    devserver.admin.create("contacts", {"firstName": "Report", "lastName": "Me"})
    with qtbot.waitSignal(app.runner.finished, timeout=20000):
        app.sync_now()
    windows.report_action.trigger()
    assert windows.report_window is not None and windows.report_window.isVisible()
    windows.items_action.trigger()
    assert windows.items_window is not None and windows.items_window.isVisible()
    assert [i.fields["first_name"] for i in real_client.store.list("contacts")] == ["Report"]


def test_settings_dialog_gets_the_mapping_tab(qtbot, wired):
    app, _ = wired
    dialog = app.show_settings()
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert "Field mapping" in titles


def test_resync_asks_and_runs_only_when_confirmed(qtbot, wired, devserver, real_client):
    app, windows = wired
    devserver.admin.create("contacts", {"firstName": "Linked", "lastName": "Once"})
    with qtbot.waitSignal(app.runner.idle, timeout=20000):
        app.sync_now()
    [before] = real_client.store.list("contacts")

    box = windows.confirm_resync()
    box.done(QMessageBox.StandardButton.Cancel)
    assert not app.runner.busy
    assert real_client.store.get(before.id) is not None

    box = windows.confirm_resync()
    with qtbot.waitSignal(app.runner.finished, timeout=20000) as done:
        box.done(QMessageBox.StandardButton.Yes)
    assert done.args[0].outcome == "ok"
    # A resync deletes the linked item into the trash and links the CRM record afresh.
    [after] = real_client.store.list("contacts")
    assert after.fields["first_name"] == "Linked" and after.crm_id == before.crm_id
    assert any(e.item.id == before.id for e in real_client.store.trash_list())


def test_newer_version_is_offered_once(qtbot, wired, devserver, monkeypatch):
    app, windows = wired
    devserver.admin.set_setting("addin_latest_version", "99.0.0")
    devserver.admin.set_setting("addin_latest_version_url", "https://example.org/get")
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(app.tray, "notify", lambda title, message, level="info":
                        shown.append((title, message)))
    windows.check_for_update()
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    assert shown[0][0] == "Update available"
    assert "99.0.0" in shown[0][1]
    # The same version is not offered again, even when the check runs again.
    app.client.settings.update_check = "startup"
    windows.check_for_update()
    qtbot.wait(500)
    assert len(shown) == 1


def test_side_panel_list_updates_live_after_a_background_send(qtbot, wired, real_client):
    app, windows = wired
    windows.panel_action.trigger()
    panel = windows.side_panel
    assert not panel.empty_hint.isHidden()            # an empty list says what to do
    # Queued while the panel is open (as after an offline create), sent by a background
    # sync: the list follows without hiding and showing the panel.
    real_client.outbox().add("lead", {"name": "Queued lead", "status": "new"})
    panel.refresh()
    assert [i.text(2) for i in panel.entry_items()] == ["queued"]
    assert panel.empty_hint.isHidden()
    with qtbot.waitSignal(app.runner.idle, timeout=20000):
        app.runner.request("both", "automatic")
    qtbot.waitUntil(lambda: [i.text(2) for i in panel.entry_items()] == ["sent"], timeout=5000)
    assert panel.isVisible()


def test_queue_and_trash_are_in_the_menu_and_the_status_line_reads_as_text(qtbot, wired):
    app, windows = wired
    texts = _menu_texts(app)
    assert texts.index("Sync Report…") < texts.index("Queue…") < texts.index("Local Items…") \
        < texts.index("Trash…")
    windows.queue_action.trigger()
    report = windows.report_window
    assert report.tabs.currentIndex() == report.queue_tab
    windows.trash_action.trigger()
    items = windows.items_window
    assert items.tabs.currentWidget() is items.trash_tab
    status = app.tray.status_action
    assert status.isEnabled() and status.font().bold()      # not greyed out
    status.trigger()
    assert app.popover.isVisible()


def test_the_tray_apps_side_panel_searches_accounts_through_the_facade(qtbot, wired, devserver):
    from tray_client.gui.sidepanel.customer_picker import CustomerPicker
    from tray_client.mail import MailMessage

    _, windows = wired
    acme = devserver.admin.create("accounts", {"name": "Acme Corp"})
    ann = devserver.admin.create(
        "contacts", {"firstName": "Ann", "emails": [{"email": "ann@acme.test"}]}
    )
    devserver.admin.update("accounts", acme, {}, {"contacts": [ann]})
    windows.panel_action.trigger()
    dialog = windows.side_panel.open_form("opportunity")
    picker = dialog.editors["account"]
    assert isinstance(picker, CustomerPicker)
    with qtbot.waitSignal(dialog.sender_lookup_done, timeout=10000):
        dialog.prefill_from(MailMessage(sender_address="ann@acme.test", subject="Offer"))
    assert picker.value() == {"type": "accounts", "id": acme, "label": "Acme Corp"}
    picker.line.setText("acm")
    with qtbot.waitSignal(picker.searched, timeout=10000) as found:
        picker.search_now()
    assert [c.label for c in found.args[0]] == ["Acme Corp"]
    dialog.close()
