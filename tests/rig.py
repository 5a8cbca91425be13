"""One client side (store + CRM client + settings) against one reference server: the real
engine driven by the sync and history tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tray_client.crm import CrmClient
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import SyncEngine, SyncResult
from tray_client.sync.rules import SECTION_PREFIX


@dataclass
class Rig:
    """One user's client side against one reference server."""

    server: Any
    store: LocalStore
    crm: CrmClient
    settings: Settings = field(default_factory=Settings)
    # Where ``direction``/``policy``/``keys`` put the sync rule: "client" (Settings.sync_rules,
    # as with real Oro, which has no Outlook section) or "server" (the reference server's
    # Outlook section, as the old Enterprise bundle served it; it overrides the client's).
    rules_from: str = "client"

    @property
    def admin(self) -> Any:
        return self.server.admin

    def engine(self) -> SyncEngine:
        return SyncEngine(self.store, self.crm, self.settings)

    def sync(self, **kwargs: Any) -> SyncResult:
        return self.engine().run(**kwargs)

    def direction(self, entity: str, value: str) -> None:
        self.rule(entity, "direction", value, "sync_direction")

    def policy(self, entity: str, value: str) -> None:
        self.rule(entity, "conflict_resolution", value, "conflict_resolution")

    def keys(self, entity: str, names: list[str]) -> None:
        """Key fields; the server side gets them in the bundle's shape (OroCRM/Outlook pairs)."""
        self.rule(entity, "keys", names, "keys",
                  [{"OroCRM": name, "Outlook": name[:1].upper() + name[1:]} for name in names])

    def rule(self, entity: str, key: str, value: Any, option: str,
             server_value: Any = None) -> None:
        """Set one rule where ``rules_from`` says. The old bundle has no option for some
        rules (tasks and events directions …): those stay on the client side."""
        if self.rules_from == "server":
            prefix = SECTION_PREFIX[entity]
            try:
                self.admin.set_setting(f"{prefix}_{option}",
                                       value if server_value is None else server_value)
                return
            except ValueError:
                pass  # no such option in the server's section
        setattr(self.settings.rule(entity), key, value)

    def local(self, entity: str) -> list[Any]:
        return self.store.list(entity)

    def crm_contact(self, crm_id: str) -> dict[str, Any]:
        return self.admin.get("contacts", crm_id)["attributes"]

    def only_local(self, entity: str) -> Any:
        items = self.local(entity)
        assert len(items) == 1, items
        return items[0]
