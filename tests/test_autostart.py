"""Start at login: the XDG autostart entry under a temporary XDG_CONFIG_HOME."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tray_client import autostart
from tray_client.errors import ConfigurationError


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    config_home = tmp_path / "config"
    system = tmp_path / "etc-xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(system))
    monkeypatch.setattr(autostart, "_platform", lambda: "linux")
    return config_home, system


def exec_value(path):
    (line,) = [ln for ln in path.read_text(encoding="utf-8").splitlines()
               if ln.startswith("Exec=")]
    return line[len("Exec="):]


def parse_exec(value):
    """Undo the desktop-entry quoting the way the spec tells launchers to.

    First the string-level escapes (a doubled backslash is one backslash), then split on
    blanks; a double-quoted argument may hold blanks and backslash-escaped " ` $ and \\.
    """
    unescaped = value.replace("\\\\", "\\")
    args, current, quoted, started, i = [], [], False, False, 0
    while i < len(unescaped):
        ch = unescaped[i]
        if quoted:
            if ch == "\\" and unescaped[i + 1] in '"`$\\':
                current.append(unescaped[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = started = True
        elif ch == " ":
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            assert ch not in "\\`$'<>~|&;*?#()", f"reserved {ch!r} outside quotes"
            current.append(ch)
            started = True
        i += 1
    assert not quoted, "unterminated quote"
    if started:
        args.append("".join(current))
    return [arg.replace("%%", "%") for arg in args]


def validate(path):
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        return
    result = subprocess.run([validator, str(path)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stdout.lower(), result.stdout


def test_enable_writes_a_valid_entry_and_disable_removes_it(xdg):
    config_home, _ = xdg
    assert autostart.is_enabled() is False
    path = autostart.enable(["/opt/tray client/tray-client"])
    assert path == config_home / "autostart" / "tray-client.desktop"
    assert autostart.is_enabled() is True
    validate(path)
    assert parse_exec(exec_value(path)) == ["/opt/tray client/tray-client"]
    autostart.disable()
    assert not path.exists()
    assert autostart.is_enabled() is False
    autostart.disable()  # idempotent


@pytest.mark.parametrize("argv", [
    ["/usr/bin/tray-client"],
    ["/home/ann/.local/bin/tray-client", "--home", "/home/ann/My CRM"],
    ["/usr/bin/python3", "-c", ("import sys; from tray_client.cli.main import main; "
                                "sys.exit(main())")],
    ["/weird/pa$th/with \"quotes\"/and\\back`tick`", "100%", "a'b"],
])
def test_exec_round_trips_awkward_arguments(xdg, argv):
    path = autostart.enable(argv)
    validate(path)
    assert parse_exec(exec_value(path)) == argv


def test_string_command_is_split_like_a_shell(xdg):
    path = autostart.enable("'/opt/my apps/tray-client' --home /tmp/x")
    assert parse_exec(exec_value(path)) == ["/opt/my apps/tray-client", "--home", "/tmp/x"]


def test_default_command_starts_this_installation(xdg):
    path = autostart.enable()
    command = parse_exec(exec_value(path))
    assert command == autostart.default_start_command()
    assert command[0].startswith("/")


def test_plain_exec_is_left_unquoted():
    assert autostart.exec_line(["tray-client", "--home", "/x"]) == "tray-client --home /x"


@pytest.mark.parametrize("argv", [[], ["bin/tray-client"], ["/bin/x", "a\nb"]])
def test_bad_commands_are_refused(xdg, argv):
    with pytest.raises(ConfigurationError):
        autostart.enable(argv)
    assert not autostart.user_entry_path().exists()


def test_relative_xdg_config_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert autostart.user_entry_path() == tmp_path / ".config" / "autostart" / \
        "tray-client.desktop"


def test_system_entry_counts_and_disable_hides_it(xdg):
    config_home, system = xdg
    system_entry = system / "autostart" / "tray-client.desktop"
    system_entry.parent.mkdir(parents=True)
    system_entry.write_text("[Desktop Entry]\nType=Application\nName=CRM Tray Client\n"
                            "Exec=tray-client\n", encoding="utf-8")
    assert autostart.is_enabled() is True
    autostart.disable()
    user_entry = config_home / "autostart" / "tray-client.desktop"
    assert "Hidden=true" in user_entry.read_text(encoding="utf-8")
    validate(user_entry)
    assert autostart.is_enabled() is False
    assert system_entry.exists()  # never touches the system's files
    autostart.enable(["/usr/bin/tray-client"])
    assert autostart.is_enabled() is True


def test_entry_disabled_by_gnome_key_is_not_enabled(xdg):
    path = autostart.enable(["/usr/bin/tray-client"])
    path.write_text(path.read_text(encoding="utf-8").replace(
        "X-GNOME-Autostart-enabled=true", "X-GNOME-Autostart-enabled=false"), encoding="utf-8")
    assert autostart.is_enabled() is False


def test_unwritable_config_is_a_configuration_error(xdg):
    config_home, _ = xdg
    config_home.mkdir()
    (config_home / "autostart").write_text("a file where the folder should be")
    with pytest.raises(ConfigurationError) as caught:
        autostart.enable(["/usr/bin/tray-client"])
    assert "autostart" in caught.value.message


@pytest.mark.parametrize("platform, hint", [("win32", "shell:startup"),
                                            ("darwin", "Login Items")])
def test_other_systems_say_how_to_do_it(monkeypatch, platform, hint, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr(autostart, "_platform", lambda: platform)
    for call in (lambda: autostart.enable(["/x"]), autostart.disable, autostart.is_enabled):
        with pytest.raises(ConfigurationError) as caught:
            call()
        assert hint in caught.value.message
    assert not any(tmp_path.iterdir())


def test_autostart_is_core_and_imports_no_qt():
    code = "import sys, tray_client.autostart, tray_client.updates; " \
           "sys.exit('PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_path_arguments_are_accepted(xdg, tmp_path):
    home = tmp_path / "my home"
    path = autostart.enable(["/usr/bin/tray-client", "--home", home])
    assert parse_exec(exec_value(path)) == ["/usr/bin/tray-client", "--home", str(home)]
