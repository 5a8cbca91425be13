"""Start at login, the freedesktop way: ``$XDG_CONFIG_HOME/autostart/tray-client.desktop``.

The settings dialog's *Start at login* calls :func:`enable` / :func:`disable`;
:func:`is_enabled` tells it what to show. Per the XDG Autostart spec, a user entry overrides
a system one (``$XDG_CONFIG_DIRS/autostart/``, e.g. put there by a distribution package):
so :func:`disable` removes the user's entry, or, when a system entry would still start the
app, writes a user entry with ``Hidden=true``.

On Windows and macOS there is no such folder; the functions raise ConfigurationError saying
how to do it there (the Windows installer offers it; macOS has Login Items).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigurationError
from .files import write_text

ENTRY_NAME = "tray-client.desktop"
APP_TITLE = "CRM Tray Client"

# Characters that force quoting of an Exec argument (Desktop Entry spec, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
# Inside a quoted Exec argument these must be backslash-escaped.
_QUOTED_ESCAPES = ('"', "`", "$", "\\")

_OTHER_OS_HELP = {
    "win32": ("On Windows, choose \"Start CRM Tray Client when I sign in\" when installing, "
              "or put a shortcut to tray-client.exe in the Startup folder (Win+R, "
              "shell:startup)."),
    "darwin": ("On macOS, open System Settings → General → Login Items and add "
               "CRM Tray Client under \"Open at Login\"."),
}


def _platform() -> str:
    """``sys.platform``; a function so tests can pretend to be another OS."""
    return sys.platform


def _require_xdg() -> None:
    platform = _platform()
    for prefix, help_text in _OTHER_OS_HELP.items():
        if platform.startswith(prefix) or (prefix == "win32" and platform == "cygwin"):
            raise ConfigurationError(
                f"Start at login cannot be set from the app on this system. {help_text}",
                title="Start at login not available")


def user_entry_path() -> Path:
    """Where the user's autostart entry lives (``$XDG_CONFIG_HOME/autostart/...``)."""
    return _xdg_config_home() / "autostart" / ENTRY_NAME


def _xdg_config_home() -> Path:
    # The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    value = os.environ.get("XDG_CONFIG_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".config"


def _system_entry_paths() -> list[Path]:
    raw = os.environ.get("XDG_CONFIG_DIRS", "") or "/etc/xdg"
    return [Path(folder) / "autostart" / ENTRY_NAME
            for folder in raw.split(os.pathsep) if folder and os.path.isabs(folder)]


def default_start_command() -> list[str]:
    """The command that starts the tray app as this process was started.

    A PyInstaller build: the executable itself. Else the ``tray-client`` script next to
    this Python (a venv's ``bin``) or on PATH. Else this Python running ``-m tray_client``.
    """
    if getattr(sys, "frozen", False):
        return [sys.executable]
    beside = Path(sys.executable).with_name("tray-client")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("tray-client")
    if found:
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "tray_client"]


def quote_exec_argument(argument: str) -> str:
    """Quote one argument for a desktop entry's ``Exec`` value (before string escaping)."""
    if "%" in argument:
        # A literal percent sign is written %% (field codes start with %).
        argument = argument.replace("%", "%%")
    if argument and not (_RESERVED & set(argument)):
        return argument
    escaped = "".join("\\" + ch if ch in _QUOTED_ESCAPES else ch for ch in argument)
    return f'"{escaped}"'


def exec_line(command: Sequence[str]) -> str:
    """The ``Exec`` value for ``command`` (argv), quoted and escaped per the spec."""
    if not command:
        raise ConfigurationError("The start command is empty.", title="Invalid start command")
    for argument in command:
        if any(ch in argument for ch in "\n\r\0"):
            raise ConfigurationError("The start command contains a line break.",
                                     title="Invalid start command")
    program = command[0]
    if not os.path.isabs(program) and os.sep in program:
        # The spec allows a bare name (looked up on PATH) or an absolute path, nothing else.
        raise ConfigurationError(f"The start program must be an absolute path, not {program!r}.",
                                 title="Invalid start command")
    quoted = " ".join(quote_exec_argument(arg) for arg in command)
    # Then the value is a desktop-entry string, where a backslash is itself escaped.
    return quoted.replace("\\", "\\\\")


def entry_text(command: Sequence[str]) -> str:
    """The full desktop entry that starts ``command`` at login."""
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        f"Name={APP_TITLE}",
        "Comment=Keeps CRM contacts, tasks and calendar events in step with this computer",
        f"Exec={exec_line(command)}",
        "Icon=tray-client",
        "Terminal=false",
        "Categories=Office;ContactManagement;",
        "X-GNOME-Autostart-enabled=true",
        # Give the panel's tray host a moment to appear, so the icon is not lost (maestral #8).
        "X-GNOME-Autostart-Delay=5",
        "",
    ])


def _write(path: Path, text: str) -> None:
    write_text(path, text, permissions=0o644)   # a desktop entry others may read


def _entry_keys(path: Path) -> dict[str, str] | None:
    """The ``[Desktop Entry]`` group's keys, or None when the file is missing/unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    keys: dict[str, str] = {}
    in_group = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("["):
            in_group = stripped == "[Desktop Entry]"
        elif in_group and "=" in stripped and not stripped.startswith("#"):
            key, value = stripped.split("=", 1)
            keys[key.strip()] = value.strip()
    return keys


def _starts(keys: dict[str, str]) -> bool:
    return (keys.get("Hidden", "false").lower() != "true"
            and keys.get("X-GNOME-Autostart-enabled", "true").lower() != "false")


def enable(start_command: str | Sequence[str | os.PathLike[str]] | None = None) -> Path:
    """Make the app start at login; return the entry's path.

    ``start_command`` is the argv to run (a string is split like a POSIX shell would);
    None means :func:`default_start_command`. Replaces any earlier entry of ours.
    Raises ConfigurationError on Windows/macOS (with how to do it there), for an empty or
    relative command, or when the entry cannot be written.
    """
    _require_xdg()
    if start_command is None:
        command = default_start_command()
    elif isinstance(start_command, str):
        command = shlex.split(start_command)
    else:
        # Paths are welcome as arguments (``--home`` often is one).
        command = [os.fspath(argument) for argument in start_command]
    text = entry_text(command)
    path = user_entry_path()
    try:
        _write(path, text)
    except OSError as exc:
        raise ConfigurationError(f"Cannot write {path}: {exc.strerror or exc}.",
                                 title="Start at login not saved") from exc
    return path


def disable() -> None:
    """Stop the app from starting at login (idempotent).

    Removes the user's entry; when a system-wide entry would still start the app, writes a
    user entry with ``Hidden=true``, which the spec says overrides it.
    """
    _require_xdg()
    path = user_entry_path()
    try:
        if any((keys := _entry_keys(system)) is not None and _starts(keys)
               for system in _system_entry_paths()):
            _write(path, "\n".join(["[Desktop Entry]", "Type=Application",
                                    f"Name={APP_TITLE}", "Exec=tray-client", "Hidden=true",
                                    ""]))
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigurationError(f"Cannot change {path}: {exc.strerror or exc}.",
                                 title="Start at login not changed") from exc


def is_enabled() -> bool:
    """True when an autostart entry (the user's, else a system one) starts the app."""
    _require_xdg()
    keys = _entry_keys(user_entry_path())
    if keys is not None:
        return _starts(keys)
    return any((keys := _entry_keys(system)) is not None and _starts(keys)
               for system in _system_entry_paths())


__all__ = ["default_start_command", "disable", "enable", "entry_text", "exec_line",
           "is_enabled", "quote_exec_argument", "user_entry_path"]
