"""The actions a sync plan is made of (the decision that leads to them: ``merge``).

A plan is a list of small, printable actions; the engine applies them one by one, each
committed together with its sync state in one local transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .mapping import Canonical
from .merge import Conflict


@dataclass
class Action:
    entity: str
    name: str

    verb = "act"

    def describe(self) -> str:
        return f"{self.verb:14} {self.entity:9} {self.name!r}"

    def __str__(self) -> str:
        return self.describe()


@dataclass
class DeleteLocal(Action):
    """Delete a local item into the trash (and forget its link)."""

    item_id: str = ""
    crm_id: str | None = None
    reason: str = ""
    verb = "delete-local"

    def describe(self) -> str:
        return f"{super().describe()} item={self.item_id} crm={self.crm_id} ({self.reason})"


@dataclass
class ForgetLink(Action):
    """Drop a link; both records stay as they are."""

    item_id: str = ""
    crm_id: str = ""
    reason: str = ""
    verb = "forget-link"

    def describe(self) -> str:
        return f"{super().describe()} item={self.item_id} crm={self.crm_id} ({self.reason})"


@dataclass
class CreateLocal(Action):
    """Create a local item from a CRM record and link it."""

    crm_id: str = ""
    canonical: Canonical = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    base: Canonical = field(default_factory=dict)
    crm_updated_at: str | None = None
    reason: str = ""
    fresh: bool = False    # known to have no link and no local item holding its crm_id
    verb = "create-local"

    def describe(self) -> str:
        extra = f" ({self.reason})" if self.reason else ""
        return f"{super().describe()} from crm={self.crm_id}{extra}"


@dataclass
class UpdateLocal(Action):
    """Write mapped CRM values into a local item (and set its link/base)."""

    item_id: str = ""
    crm_id: str = ""
    values: dict[str, Any] = field(default_factory=dict)   # canonical values of rows to write
    base: Canonical = field(default_factory=dict)
    crm_updated_at: str | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    defer_push: bool = False   # a pull-only pass kept local changes for the next push
    verb = "update-local"

    def describe(self) -> str:
        return (f"{super().describe()} item={self.item_id} crm={self.crm_id} "
                f"fields={sorted(self.values)}")


@dataclass
class LinkLocal(UpdateLocal):
    """Link an unlinked local item (key match, or an item holding this crm_id) and write the
    CRM's values into it."""

    verb = "link-local"


@dataclass
class CreateRemote(Action):
    """Create a CRM record from a local item and link it."""

    item_id: str = ""
    canonical: Canonical = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    verb = "create-remote"

    def describe(self) -> str:
        return f"{super().describe()} from item={self.item_id}"


@dataclass
class UpdateRemote(Action):
    """Write mapped local values into a CRM record. ``base`` is set when this action is the
    last of its pair (no local write follows) and so records the new base."""

    item_id: str = ""
    crm_id: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    canonical: Canonical = field(default_factory=dict)     # full target, for the payload
    current: Any = None                                    # the CRM resource before the write
    base: Canonical | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    verb = "update-remote"

    def describe(self) -> str:
        return (f"{super().describe()} crm={self.crm_id} item={self.item_id} "
                f"fields={sorted(self.values)}")


@dataclass
class LinkRemote(UpdateRemote):
    """Link a local item to an existing CRM record (key match, or the answer of a create that
    a killed run never recorded) and write the local values into it."""

    verb = "link-remote"


@dataclass
class SyncPlan:
    """What a run would do, in order. ``str(plan)`` prints one line per action."""

    actions: list[Action] = field(default_factory=list)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)

    def of(self, kind: type[Action]) -> list[Action]:
        return [a for a in self.actions if type(a) is kind]

    def __str__(self) -> str:
        if not self.actions:
            return "Nothing to do."
        return "\n".join(a.describe() for a in self.actions)
