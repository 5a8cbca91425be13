"""Credentials: the API key in the keyring (or the variable), never in error texts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keyring.backends.fail
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from tray_client.credentials import API_KEY_VARIABLE, SERVICE, Credentials
from tray_client.errors import CredentialsError

SECRET = "s3cr3t-API-key-do-not-leak"
URL = "https://crm.example.com/admin"


class MemoryKeyring(KeyringBackend):
    """An in-memory keyring backend, so the tests never touch a real keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise keyring.errors.PasswordDeleteError("not found")
        del self.entries[(service, username)]


class BrokenKeyring(MemoryKeyring):
    """A backend that fails like a locked Secret Service (error text includes the value)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked(f"locked while reading {username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"cannot store {password!r}")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture(autouse=True)
def no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)


def test_keyring_round_trip() -> None:
    backend = MemoryKeyring()
    creds = Credentials("admin", URL, backend=backend)
    assert creds.has_api_key() is False
    creds.set_api_key(SECRET)
    assert backend.entries == {(SERVICE, f"admin@{URL}"): SECRET}
    # A trailing slash on the URL names the same entry.
    assert Credentials("admin", URL + "/", backend=backend).api_key() == SECRET
    assert creds.has_api_key() is True
    creds.delete_api_key()
    assert creds.has_api_key() is False
    creds.delete_api_key()  # deleting what is not there is fine


def test_entries_are_per_user_and_server() -> None:
    backend = MemoryKeyring()
    Credentials("admin", URL, backend=backend).set_api_key("one")
    Credentials("ann", URL, backend=backend).set_api_key("two")
    Credentials("admin", "https://other.example", backend=backend).set_api_key("three")
    assert Credentials("admin", URL, backend=backend).api_key() == "one"
    assert Credentials("ann", URL, backend=backend).api_key() == "two"


def test_variable_overrides_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = MemoryKeyring()
    Credentials("admin", URL, backend=backend).set_api_key("from-keyring")
    monkeypatch.setenv(API_KEY_VARIABLE, "from-variable")
    assert Credentials("admin", URL, backend=backend).api_key() == "from-variable"
    # ... even when no keyring works at all.
    assert Credentials("admin", URL, backend=keyring.backends.fail.Keyring()).api_key() == \
        "from-variable"
    monkeypatch.setenv(API_KEY_VARIABLE, "")
    assert Credentials("admin", URL, backend=backend).api_key() == "from-keyring"


def test_missing_key_says_where_to_get_one() -> None:
    with pytest.raises(CredentialsError) as info:
        Credentials("admin", URL, backend=MemoryKeyring()).api_key()
    assert info.value.title == "No API key"
    assert "My User" in info.value.message and "--api-key-stdin" in info.value.message


def test_no_backend_says_what_to_install() -> None:
    creds = Credentials("admin", URL, backend=keyring.backends.fail.Keyring())
    for action in (creds.api_key, lambda: creds.set_api_key(SECRET), creds.delete_api_key):
        with pytest.raises(CredentialsError) as info:
            action()
        assert info.value.title == "No keyring available"
        assert "gnome-keyring" in info.value.message and "KWallet" in info.value.message
        assert API_KEY_VARIABLE in info.value.message
        assert SECRET not in str(info.value)
    assert creds.has_api_key() is False


def test_backend_failures_never_show_the_key() -> None:
    creds = Credentials("admin", URL, backend=BrokenKeyring())
    with pytest.raises(CredentialsError) as info:
        creds.set_api_key(SECRET)
    assert SECRET not in str(info.value) and SECRET not in info.value.message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "PasswordSetError" in info.value.message
    with pytest.raises(CredentialsError, match="KeyringLocked"):
        creds.api_key()
    with pytest.raises(CredentialsError, match="Keyring unavailable"):
        creds.delete_api_key()


def test_empty_key_is_refused() -> None:
    backend = MemoryKeyring()
    with pytest.raises(CredentialsError, match="empty"):
        Credentials("admin", URL, backend=backend).set_api_key("")
    assert backend.entries == {}


_SECRET_SERVICE_SCRIPT = textwrap.dedent("""
    import sys
    import keyring
    from tray_client.credentials import Credentials
    key = sys.stdin.readline().strip()
    print(type(keyring.get_keyring()).__module__)
    Credentials("admin", "https://crm.example.com").set_api_key(key)
    print("stored")
    read = Credentials("admin", "https://crm.example.com/").api_key()
    print("match" if read == key else "MISMATCH")
""")


def secret_service_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a private session whose keyring is a real gnome-keyring: every
    folder under ``tmp_path``, the project importable, ``PY`` the interpreter."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        "PY": sys.executable,
    }


@pytest.mark.skipif(shutil.which("dbus-run-session") is None,
                    reason="dbus-run-session is not installed (Debian package dbus)")
@pytest.mark.skipif(shutil.which("gnome-keyring-daemon") is None,
                    reason="gnome-keyring-daemon is not installed (Debian package gnome-keyring)")
def test_real_secret_service_keyring(tmp_path: Path) -> None:
    """Stores and reads the key through a real gnome-keyring on a private D-Bus session.
    The key goes in on standard input, never on a command line."""
    env = {**secret_service_env(tmp_path), "KEY_SCRIPT": _SECRET_SERVICE_SCRIPT}
    shell = ('echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null '
             '&& "$PY" -c "$KEY_SCRIPT"')
    result = subprocess.run(["dbus-run-session", "--", "sh", "-c", shell], input=SECRET + "\n",
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["keyring.backends.SecretService", "stored", "match"]
    assert SECRET not in result.stdout + result.stderr
    # gnome-keyring encrypts its file: the key is not on disk in the clear.
    stored = [path for path in (tmp_path / "data").rglob("*.keyring") if path.is_file()]
    assert stored, "gnome-keyring kept its keyring under XDG_DATA_HOME"
    for path in stored:
        assert SECRET.encode() not in path.read_bytes()
