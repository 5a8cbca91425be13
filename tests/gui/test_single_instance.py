"""One tray app per store."""

from __future__ import annotations

from tray_client.gui.app import main
from tray_client.gui.single_instance import SingleInstance, server_name
from tray_client.paths import resolve_paths


def test_name_depends_on_the_data_folder(tmp_path):
    assert server_name(tmp_path / "a") == server_name(tmp_path / "a")
    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")


def test_second_instance_hands_over_commands(qtbot, tmp_path):
    first = SingleInstance(tmp_path / "data")
    assert first.acquire()
    try:
        second = SingleInstance(tmp_path / "data")
        assert second.acquire() is False
        with qtbot.waitSignal(first.command_received, timeout=2000) as got:
            assert second.send("sync")
        assert got.args == ["sync"]
        other_store = SingleInstance(tmp_path / "other")
        assert other_store.acquire()
        other_store.close()
    finally:
        first.close()


def test_second_launch_of_main_asks_the_first_to_show_and_exits_0(qtbot, tmp_path):
    home = tmp_path / "home"
    first = SingleInstance(resolve_paths(home).ensure().data_dir)
    assert first.acquire()
    try:
        commands = []
        first.command_received.connect(commands.append)
        assert main(str(home)) == 0
        qtbot.waitUntil(lambda: commands == ["show"], timeout=2000)
    finally:
        first.close()


def test_app_obeys_commands(qtbot, make_app, fake_client):
    app = make_app()
    app.start()
    app.handle_command("show")
    assert app.popover.isVisible()
    with qtbot.waitSignal(app.runner.finished, timeout=3000):
        app.handle_command("sync")
    assert fake_client.calls[0]["trigger"] == "manual"
    app.handle_command("settings")
    assert app.settings_dialog is not None and app.settings_dialog.isVisible()
