"""What the GUI needs of ``tray_client.client.Client`` (docs/architecture.md), as a Protocol.

The GUI is written against this, so tests can hand it a small fake and the real facade can
grow without the GUI noticing.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from ..paths import AppPaths
from ..settings import Settings


class ClientFacade(Protocol):
    paths: AppPaths
    settings: Settings

    def save_settings(self, settings: Settings) -> None: ...
    def set_api_key(self, key: str) -> None: ...
    def has_api_key(self) -> bool: ...
    def set_client_secret(self, secret: str) -> None: ...
    def has_client_secret(self) -> bool: ...
    def has_secret(self) -> bool: ...                   # of the chosen kind of sign-in
    # Sign in with Oro (browser); ``settings``: the dialog's draft (not saved).
    def sign_in_with_browser(self, settings: Settings | None = None, *,
                             open_browser: Any = None,
                             cancel: threading.Event | None = None) -> Any: ...  # verdict
    # With ``settings``/``api_key``/``client_secret``: check unsaved values (the Settings
    # dialog's draft).
    def check_connection(self, settings: Settings | None = None, *,
                         api_key: str | None = None,
                         client_secret: str | None = None) -> Any: ...  # ConnectionVerdict
    def server_configuration(self, settings: Settings | None = None, *,
                             api_key: str | None = None,
                             client_secret: str | None = None) -> dict[str, Any]: ...
    def sync_rules(self, configuration: dict[str, Any] | None = None,
                   settings: Settings | None = None) -> dict[str, Any]: ...  # EffectiveRule
    def sync(self, *, entities: list[str] | None = None, phase: str = "both",
             trigger: str = "manual", force_delete: bool = False, observer: Any = None,
             cancel: threading.Event | None = None) -> Any: ...  # SyncResult
    def close(self) -> None: ...
