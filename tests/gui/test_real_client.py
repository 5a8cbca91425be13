"""The tray app over the real facade and the real reference server on loopback."""

from __future__ import annotations

from tray_client.gui.settings_dialog import SettingsDialog
from tray_client.gui.state import TrayState


def test_check_connection_and_server_settings_from_the_real_server(qtbot, real_client,
                                                                   devserver):
    devserver.admin.set_setting("contacts_sync_direction", "OroCRMToOutlook")
    dialog = SettingsDialog(real_client)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.server_configuration_loaded, timeout=10000):
        dialog.check_connection()
    assert dialog.verdict_label.text().startswith("✔ Connected")
    assert "server version" in dialog.verdict_label.text()
    rows = {dialog.server_form.itemAt(i, dialog.server_form.ItemRole.LabelRole).widget().text():
            dialog.server_form.itemAt(i, dialog.server_form.ItemRole.FieldRole).widget().text()
            for i in range(dialog.server_form.rowCount())}
    assert rows["Contacts:"].startswith("enabled, CRM → this computer")


def test_wrong_api_key_gives_a_clear_verdict(qtbot, real_client, memory_keyring):
    dialog = SettingsDialog(real_client)
    qtbot.addWidget(dialog)
    dialog.api_key_edit.setText("not-the-key")
    dialog.check_connection()
    qtbot.waitUntil(lambda: dialog.verdict_label.text().startswith("✘"), timeout=10000)
    assert "not-the-key" not in dialog.verdict_label.text()


def test_sync_now_creates_local_items_and_follows_the_server_intervals(qtbot, make_app,
                                                                      syncing_client,
                                                                      devserver):
    real_client = syncing_client
    for name in ("Ann", "Bob", "Cy"):
        devserver.admin.create("contacts", {"firstName": name, "lastName": "Tester"})
    devserver.admin.set_setting("contacts_sync_interval_orocrm", 300)
    devserver.admin.set_setting("contacts_sync_interval_outlook", 45)
    app = make_app(real_client)
    app.start()
    with qtbot.waitSignal(app.runner.finished, timeout=20000) as done:
        app.sync_now()
    result = done.args[0]
    assert result.outcome == "ok"
    assert result.counts["contacts"]["local"]["created"] == 3
    names = sorted(item.fields["first_name"] for item in real_client.store.list("contacts"))
    assert names == ["Ann", "Bob", "Cy"]
    qtbot.waitUntil(lambda: app.scheduler.pull_interval == 300, timeout=5000)
    assert app.scheduler.push_interval == 45
    assert app.tray.state is TrayState.IDLE
    assert "Last successful sync:" in app.tray.icon.toolTip()


def test_one_sync_reads_the_crm_configuration_once(qtbot, make_app, real_client, devserver,
                                                   monkeypatch):
    # The minimum-version check, the engine and the scheduler's interval refresh all go by
    # the configuration of the run: one GET /api/configuration/outlook per sync, not three.
    from tray_client.crm import CrmClient

    reads = []
    real_read = CrmClient.configuration

    def counting(self):
        reads.append(1)
        return real_read(self)

    monkeypatch.setattr(CrmClient, "configuration", counting)
    devserver.admin.create("contacts", {"firstName": "Ann", "lastName": "Once"})
    devserver.admin.set_setting("contacts_sync_interval_orocrm", 240)
    app = make_app(real_client)
    app.start()
    qtbot.waitUntil(lambda: len(reads) == 1, timeout=10000)   # the start-up read
    reads.clear()
    with qtbot.waitSignal(app.runner.finished, timeout=20000) as done:
        app.sync_now()
    assert done.args[0].outcome == "ok"
    assert len(reads) == 1
    qtbot.waitUntil(lambda: app.scheduler.pull_interval == 240, timeout=5000)


def test_server_down_means_offline_and_back_off(qtbot, make_app, syncing_client, devserver):
    real_client = syncing_client
    devserver.stop()
    app = make_app(real_client)
    app.start()
    with qtbot.waitSignal(app.runner.idle, timeout=30000):
        app.sync_now()
    assert app.tray.state is TrayState.OFFLINE
    assert app.scheduler.failures == 1
    assert "Next try:" in app.tray.icon.toolTip()


def test_stop_sync_keeps_what_was_synced_and_the_next_sync_goes_on(qtbot, make_app,
                                                                   syncing_client, devserver):
    real_client = syncing_client
    devserver.admin.bulk_contacts(20000)
    app = make_app(real_client)
    app.start()
    progressed = []
    app.runner.progress.connect(lambda entity, done, *_: progressed.append(done))
    with qtbot.waitSignal(app.runner.finished, timeout=60000) as done:
        app.sync_now()
        qtbot.waitUntil(lambda: any(n > 0 for n in progressed), timeout=30000)
        app.actions.stop_sync.trigger()
    result = done.args[0]
    assert result.outcome == "cancelled" and "kept" in result.message
    kept = real_client.store.count("contacts")
    assert 0 < kept < 20000
    with qtbot.waitSignal(app.runner.finished, timeout=60000) as done:
        app.sync_now()
    assert done.args[0].outcome == "ok"
    assert done.args[0].counts["contacts"]["local"]["created"] == 20000 - kept
    assert real_client.store.count("contacts") == 20000


def test_a_sync_process_that_dies_is_said_and_the_next_sync_goes_on(qtbot, make_app,
                                                                    child_client, devserver):
    import os
    import signal

    devserver.admin.bulk_contacts(20000)
    app = make_app(child_client)
    app.start()
    errors: list = []
    app.runner.failed.connect(lambda exc, trigger: errors.append(exc))

    def kill(entity, done, *_):
        pid = child_client._sync_process.pid
        if done > 0 and pid is not None and not errors:
            os.kill(pid, signal.SIGKILL)

    app.runner.progress.connect(kill)
    with qtbot.waitSignal(app.runner.idle, timeout=60000):
        app.sync_now()
    assert [e.title for e in errors] == ["Sync process stopped"]
    assert app.tray.state is TrayState.ERROR
    app.runner.progress.disconnect(kill)
    kept = child_client.store.count("contacts")
    with qtbot.waitSignal(app.runner.finished, timeout=60000) as done:
        app.sync_now()
    assert done.args[0].outcome == "ok"
    assert done.args[0].counts["contacts"]["local"]["created"] == 20000 - kept
    assert child_client.store.count("contacts") == 20000
