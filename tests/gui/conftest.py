"""GUI test helpers: an in-memory keyring, a small fake facade, isolated XDG folders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from tray_client.paths import resolve_paths
from tray_client.settings import Settings, save_settings


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in a dict (tests never touch the developer's keyring)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


@dataclass
class FakeVerdict:
    ok: bool
    kind: str
    title: str
    message: str
    server_version: str | None = None
    auth_wanted: str | None = None


@dataclass
class FakeResult:
    outcome: str = "ok"
    message: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    conflicts: list[Any] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    trigger: str = "manual"
    configuration: dict[str, Any] | None = None
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


DEFAULT_CONFIG = {
    "contacts_enabled": True, "contacts_sync_direction": "Both",
    "contacts_conflict_resolution": "OroCRMAlwaysWins",
    "contacts_sync_interval_orocrm": 120, "contacts_sync_interval_outlook": 30,
    "tasks_enabled": True, "tasks_sync_direction": "OroCRMToOutlook",
    "calendar_events_enabled": False,
}


class FakeClient:
    """Implements the facade surface the GUI uses (tray_client.gui.facade.ClientFacade).

    ``sync_fn(**kwargs)`` decides what a sync does; every call is recorded in ``calls``
    together with the thread it ran on.
    """

    def __init__(self, home: Path, *, configured: bool = True, api_key: str | None = "k") -> None:
        self.paths = resolve_paths(home).ensure()
        self.settings = (Settings(url="https://crm.example.org", user="ann") if configured
                         else Settings())
        self.api_key = api_key
        self.client_secret: str | None = None
        self.secrets_checked: list[str | None] = []   # client secrets the checks were given
        self.sign_ins: list[Settings | None] = []
        self.sign_in_gate = threading.Event()         # set: the "browser" has signed in
        self.calls: list[dict[str, Any]] = []
        self.sync_fn: Callable[..., Any] = lambda **kw: FakeResult(trigger=kw["trigger"])
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.verdict: Any = FakeVerdict(True, "OK", "Connected", "The CRM answered.", "5.1.0")
        self.config_calls = 0
        self.checks: list[tuple[Settings | None, str | None]] = []
        self.closed = False

    def save_settings(self, settings: Settings) -> None:
        save_settings(settings, self.paths.settings_file)
        self.settings = settings

    def set_api_key(self, key: str) -> None:
        self.api_key = key

    def has_api_key(self) -> bool:
        return bool(self.api_key)

    def set_client_secret(self, secret: str) -> None:
        self.client_secret = secret

    def has_client_secret(self) -> bool:
        return bool(self.client_secret)

    def has_secret(self) -> bool:
        return self.has_client_secret() if self.settings.auth == "oauth2" else self.has_api_key()

    def sign_in_with_browser(self, settings: Settings | None = None, *, open_browser: Any = None,
                             cancel: threading.Event | None = None) -> Any:
        # As the facade: waits for the browser (here: ``sign_in_gate``) unless cancelled.
        self.sign_ins.append(settings)
        while not self.sign_in_gate.wait(0.02):
            if cancel is not None and cancel.is_set():
                from tray_client.crm.signin import SignInCancelled
                raise SignInCancelled("The sign-in was cancelled.")
        return self.verdict

    def check_connection(self, settings: Settings | None = None, *,
                         api_key: str | None = None, client_secret: str | None = None) -> Any:
        # As the facade: the values checked are the given draft's, nothing is saved.
        self.checks.append((settings, api_key))
        self.secrets_checked.append(client_secret)
        if isinstance(self.verdict, BaseException):
            raise self.verdict
        return self.verdict

    def server_configuration(self, settings: Settings | None = None, *,
                             api_key: str | None = None,
                             client_secret: str | None = None) -> dict[str, Any]:
        self.config_calls += 1
        if isinstance(self.config, BaseException):
            raise self.config
        return dict(self.config)

    def sync_rules(self, configuration: dict[str, Any] | None = None,
                   settings: Settings | None = None) -> dict[str, Any]:
        from tray_client.sync.rules import effective_rules

        return effective_rules(settings or self.settings, configuration or {})

    def sync(self, **kwargs: Any) -> Any:
        self.calls.append({**kwargs, "thread": threading.current_thread()})
        result = self.sync_fn(**kwargs)
        if result.configuration is None and not isinstance(self.config, BaseException):
            # As the facade: the result carries the configuration the run went by.
            result.configuration = dict(self.config)
        return result

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def isolated_desktop(tmp_path, monkeypatch):
    """Autostart entries and the like go under the test's folder, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("TRAY_CLIENT_API_KEY", raising=False)
    monkeypatch.delenv("TRAY_CLIENT_HOME", raising=False)


@pytest.fixture(scope="package", autouse=True)
def gui_thread_gc(qapp):
    """As in the app (TrayApp): cyclic garbage is collected on the GUI thread, between two
    events, never by a worker or the sync thread, nor inside a Qt destructor (see
    ``workers.GuiThreadCollector``); the automatic collector is back for the other tests."""
    from tray_client.gui.workers import gui_collector

    gui_collector().acquire()
    yield
    gui_collector().release()


@pytest.fixture(autouse=True)
def workers_done_before_a_client_closes(monkeypatch):
    """As the app does at quit (TrayApp.shutdown), a client closes only once no GUI worker
    runs: a worker left running by a test used the store's SQLite connection while it
    closed, and the test process crashed (segmentation fault in the pool thread)."""
    from tray_client.client import Client
    from tray_client.gui.workers import wait_for_workers

    close = Client.close

    def close_when_workers_are_done(self: Client) -> None:
        done = wait_for_workers(30.0)
        close(self)
        assert done, "a GUI worker was still running when its client was closed"

    monkeypatch.setattr(Client, "close", close_when_workers_are_done)


@pytest.fixture
def fake_client(tmp_path) -> FakeClient:
    return FakeClient(tmp_path / "home")


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    return MemoryKeyring()


@pytest.fixture
def make_app(qtbot, fake_client):
    """Build a TrayApp over the fake client; shut everything down after the test."""
    from tray_client.gui.app import TrayApp

    apps = []

    def make(client: Any = None, **kwargs: Any) -> TrayApp:
        kwargs.setdefault("tray_available", True)
        kwargs.setdefault("startup_sync", False)
        app = TrayApp(client or fake_client, **kwargs)
        qtbot.addWidget(app.popover)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.shutdown()
        if app.settings_dialog is not None:
            app.settings_dialog.close()


@pytest.fixture
def real_client(tmp_path, devserver, memory_keyring):
    """The real facade over the reference server, with its key in an in-memory keyring."""
    from tray_client.client import Client

    client = Client(tmp_path / "home", keyring_backend=memory_keyring)
    settings = client.settings
    settings.url, settings.user = devserver.url, devserver.user
    client.save_settings(settings)
    client.set_api_key(devserver.api_key)
    yield client
    client.close()


@pytest.fixture
def child_client(tmp_path, devserver, monkeypatch):
    """The real facade as the tray app makes it: syncs in a child process, which reads the key
    from the environment variable (a keyring that refuses everything: never the real one)."""
    from tray_client.client import Client

    monkeypatch.setenv("TRAY_CLIENT_API_KEY", devserver.api_key)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    client = Client(tmp_path / "home", sync_in_child=True)
    settings = client.settings
    settings.url, settings.user = devserver.url, devserver.user
    client.save_settings(settings)
    yield client
    client.close()


@pytest.fixture(params=["thread", "process"])
def syncing_client(request):
    """The real facade syncing on the runner's thread, then in a child process (the app's)."""
    return request.getfixturevalue("real_client" if request.param == "thread"
                                   else "child_client")
