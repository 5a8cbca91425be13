"""The store's plain data: items, trash entries and import results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fields import display_name

TRASH_REASONS = ("user", "sync_delete", "sync_overwrite")


@dataclass
class Item:
    """One local contact, task or event. ``fields`` holds canonical values (see ``fields``)."""

    id: str
    entity: str
    crm_id: str | None
    crm_sync: bool
    fields: dict[str, Any]
    created_at: str
    updated_at: str
    rev: int  # global counter, bumped on every write; see LocalStore.changed_since

    @property
    def display_name(self) -> str:
        """Contact "First Last" (else first e-mail or phone); task/event subject."""
        return display_name(self.entity, self.fields)

    def to_json(self) -> dict[str, Any]:
        """The JSON item shape of DESIGN §9: id, entity, crm_id, crm_sync, then the fields."""
        data: dict[str, Any] = {"id": self.id, "entity": self.entity, "crm_id": self.crm_id,
                                "crm_sync": self.crm_sync}
        data.update(self.fields)
        return data


@dataclass
class TrashEntry:
    """An item (as it was) that a user or a sync deleted or overwrote; restorable for 30 days."""

    entry_id: int
    item: Item
    reason: str          # one of TRASH_REASONS
    run_id: str | None   # the sync run that put it here, if any
    trashed_at: str      # ISO-8601 UTC

    @property
    def display_name(self) -> str:
        return self.item.display_name


@dataclass(frozen=True)
class ImportProblem:
    """One entry of an import file that could not be imported."""

    index: int       # 1-based position of the entry in the file
    name: str        # what the entry calls itself (FN, SUMMARY), or ""
    message: str

    def __str__(self) -> str:
        label = f"entry {self.index}" + (f" ({self.name})" if self.name else "")
        return f"{label}: {self.message}"


@dataclass
class ImportResult:
    """What ``LocalStore.import_file`` did: created items, skipped and failed entries."""

    created: int = 0
    skipped: int = 0     # entries of a kind the store does not hold (VJOURNAL, …) or empty
    errors: list[ImportProblem] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    # Entries imported, but changed on the way (a recurrence left out, an unknown zone).
    warnings: list[ImportProblem] = field(default_factory=list)
