"""What the GUI needs of ``tray_client.client.Client`` (docs/architecture.md), as a Protocol.

The GUI is written against this, so tests can hand it a small fake and the real facade can
grow without the GUI noticing. Every window reaches the user's data and the CRM through these
members; from the core packages it imports only types and pure functions (no store, no
network: ``history.record_url``, ``sync.rules``' interval and section helpers, the built-in
mapping table, ``outbox.load_forms`` over a CrmClient the facade made).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..paths import AppPaths
from ..settings import Settings

if TYPE_CHECKING:
    from ..crm import ConnectionVerdict, CrmClient
    from ..history import History, QueueEntry
    from ..outbox import Outbox
    from ..outbox.customers import CustomerChoice
    from ..outbox.forms import FormDefinition
    from ..store import LocalStore
    from ..sync import SyncObserver, SyncResult
    from ..sync.rules import EffectiveRule


class ClientFacade(Protocol):
    paths: AppPaths
    settings: Settings
    settings_warning: str | None   # the settings file was damaged: defaults in use
    store_warning: str | None      # opening the store found something to tell the user

    # -- settings and secrets
    def save_settings(self, settings: Settings) -> None: ...
    def set_api_key(self, key: str) -> None: ...
    def has_api_key(self) -> bool: ...
    def set_client_secret(self, secret: str) -> None: ...
    def has_client_secret(self) -> bool: ...
    def has_secret(self) -> bool: ...                   # of the chosen kind of sign-in
    # Sign in with Oro (browser); ``settings``: the dialog's draft (not saved).
    def sign_in_with_browser(self, settings: Settings | None = None, *,
                             open_browser: Callable[[str], object] | None = None,
                             cancel: threading.Event | None = None) -> ConnectionVerdict: ...

    # -- the CRM. With ``settings``/``api_key``/``client_secret``: check unsaved values (the
    # Settings dialog's draft).
    def check_connection(self, settings: Settings | None = None, *,
                         api_key: str | None = None,
                         client_secret: str | None = None) -> ConnectionVerdict: ...
    def server_configuration(self, settings: Settings | None = None, *,
                             api_key: str | None = None,
                             client_secret: str | None = None) -> dict[str, Any]: ...
    def crm(self, settings: Settings | None = None, *, api_key: str | None = None,
            client_secret: str | None = None) -> CrmClient: ...   # the caller closes it
    def sync_rules(self, configuration: dict[str, Any] | None = None,
                   settings: Settings | None = None) -> dict[str, EffectiveRule]: ...
    def sync(self, *, entities: list[str] | None = None, phase: str = "both",
             resync: bool = False, force_delete: bool = False, trigger: str = "manual",
             observer: SyncObserver | None = None, cancel: threading.Event | None = None,
             wait: float = 0.0) -> SyncResult: ...

    # -- the local data: items (``store``), the sync history, the queue, the outbox
    @property
    def store(self) -> LocalStore: ...
    @property
    def history(self) -> History: ...
    def pending_changes(self) -> list[QueueEntry]: ...   # reads the CRM: call on a worker
    def drop_from_queue(self, entry: QueueEntry) -> None: ...
    def outbox(self, forms: Mapping[str, FormDefinition] | None = None) -> Outbox: ...
    def search_customers(self, text: str) -> list[CustomerChoice]: ...
    def sender_account(self, address: str) -> CustomerChoice | None: ...
    def sender_contact(self, address: str) -> CustomerChoice | None: ...

    def close(self) -> None: ...
