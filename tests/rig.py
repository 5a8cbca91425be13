"""One client side (store + CRM client + settings) against one reference server: the real
engine driven by the sync and history tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tray_client.crm import CrmClient
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import SyncEngine, SyncResult


@dataclass
class Rig:
    """One user's client side against one reference server."""

    server: Any
    store: LocalStore
    crm: CrmClient
    settings: Settings = field(default_factory=Settings)
    # Rules the old Outlook section cannot carry (tasks/events direction and policy): handed
    # to the engine as part of its configuration, as client-side sync rules would be.
    rules: dict[str, Any] = field(default_factory=dict)

    @property
    def admin(self) -> Any:
        return self.server.admin

    def engine(self) -> SyncEngine:
        return SyncEngine(self.store, self.crm, self.settings)

    def sync(self, **kwargs: Any) -> SyncResult:
        if self.rules and "configuration" not in kwargs:
            kwargs["configuration"] = {**self.crm.configuration(), **self.rules}
        return self.engine().run(**kwargs)

    def _rule(self, entity: str, name: str, value: str) -> None:
        if entity == "contacts":
            self.admin.set_setting(f"contacts_{name}", value)  # the Outlook section has it
        else:
            prefix = {"tasks": "tasks", "events": "calendar_events"}[entity]
            self.rules[f"{prefix}_{name}"] = value

    def direction(self, entity: str, value: str) -> None:
        self._rule(entity, "sync_direction", value)

    def policy(self, entity: str, value: str) -> None:
        self._rule(entity, "conflict_resolution", value)

    def local(self, entity: str) -> list[Any]:
        return self.store.list(entity)

    def crm_contact(self, crm_id: str) -> dict[str, Any]:
        return self.admin.get("contacts", crm_id)["attributes"]

    def only_local(self, entity: str) -> Any:
        items = self.local(entity)
        assert len(items) == 1, items
        return items[0]
