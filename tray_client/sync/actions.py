"""The actions a sync plan is made of, and the per-field conflict decision.

A plan is a list of small, printable actions; the engine applies them one by one, each
committed together with its sync state in one local transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .mapping import Canonical, EffectiveRow

# Server configuration values (Oro's names).
BOTH = "Both"
CRM_TO_LOCAL = "OroCRMToOutlook"
LOCAL_TO_CRM = "OutlookToOroCRM"
DIRECTIONS = (BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM)
CRM_WINS = "OroCRMAlwaysWins"
LOCAL_WINS = "OutlookAlwaysWins"

_MISSING = object()


@dataclass
class Conflict:
    """One decided field: both values and who won."""

    field: str
    local_value: Any
    crm_value: Any
    winner: str   # "local" | "crm"


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


# -- the decision ------------------------------------------------------------------------------

@dataclass
class Merge:
    """The outcome of comparing one linked pair: what to write where, and the new base."""

    to_local: dict[str, Any] = field(default_factory=dict)
    to_crm: dict[str, Any] = field(default_factory=dict)
    base: Canonical = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


def merge(direction: str, policy: str, rows: list[EffectiveRow], local: Canonical,
          crm: Canonical, base: Canonical | None) -> Merge:
    """Decide a linked pair field by field (DESIGN §6 "Conflicts" and the outcome table).

    ``base`` is ``None`` when the pair has just been matched (key match or adoption).
    Only enabled rows that are not "sync once" take part; a row's own direction limits which
    side it may write. Returns the writes for each side and the new base.
    """
    result = Merge()
    active = [r for r in rows if r.enabled and r.direction != "once"]
    crm_changed = base is None or any(crm.get(r.name) != base.get(r.name, _MISSING)
                                      for r in active if r.to_local)
    local_changed = base is None or any(local.get(r.name) != base.get(r.name, _MISSING)
                                        for r in active if r.to_crm)
    for row in active:
        f = row.name
        lv, cv = local.get(f), crm.get(f)
        b = _MISSING if base is None else base.get(f, _MISSING)
        known = b is not _MISSING
        final_local, final_crm = lv, cv
        if lv == cv:
            pass  # the sides agree: nothing to decide, whatever the base says
        elif direction == CRM_TO_LOCAL:
            # The CRM is the source: when its record changed, all its mapped values replace
            # the local ones (seed 000); a local edit of a field is then a recorded conflict.
            if row.to_local and crm_changed:
                final_local = cv
                if known and lv != b:
                    result.conflicts.append(Conflict(f, lv, cv, "crm"))
        elif direction == LOCAL_TO_CRM:
            # The local item is the source: when it changed, all its mapped values replace
            # the CRM's; a CRM edit of a field is then a recorded conflict.
            if row.to_crm and local_changed:
                final_crm = lv
                if known and cv != b:
                    result.conflicts.append(Conflict(f, lv, cv, "local"))
        elif not known:
            # Just matched (first sync, key match): the CRM's values replace the local ones
            # (outcome table, "exists on both sides"); a local→CRM-only row sends its value.
            if row.to_local:
                final_local = cv
            elif row.to_crm:
                final_crm = lv
        elif lv != b and cv == b:
            # Changed only locally: the local value goes to the CRM.
            if row.to_crm:
                final_crm = lv
        elif cv != b and lv == b:
            # Changed only in the CRM: the CRM value comes to the local item.
            if row.to_local:
                final_local = cv
        elif lv != b and cv != b:
            # Changed on both sides to different values: the conflict resolution setting
            # decides; a row that cannot flow towards the loser leaves both as they are.
            crm_wins = policy != LOCAL_WINS
            if crm_wins and row.to_local:
                final_local = cv
                result.conflicts.append(Conflict(f, lv, cv, "crm"))
            elif not crm_wins and row.to_crm or row.to_crm:
                final_crm = lv
                result.conflicts.append(Conflict(f, lv, cv, "local"))
            elif row.to_local:
                final_local = cv
                result.conflicts.append(Conflict(f, lv, cv, "crm"))
        # else: neither side changed but they differ (a one-way row): leave both alone.
        if final_local != lv:
            result.to_local[f] = final_local
        if final_crm != cv:
            result.to_crm[f] = final_crm
        # The base is the value the field's source side holds after this sync.
        source_local = row.direction == "local_to_crm" or direction == LOCAL_TO_CRM
        result.base[f] = final_local if source_local else final_crm
    return result
