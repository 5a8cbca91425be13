"""The per-field decision for one linked pair (docs/sync-rules.md, "Conflicts").

``merge`` compares a pair's local and CRM values with the base (what both sides agreed on at
the last sync) and says what to write where, which fields were a conflict and who won, and
the new base. It writes nothing: the engine turns its answer into actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import ConflictPolicy, Direction, RowDirection
from .mapping import Canonical, EffectiveRow

_MISSING = object()


@dataclass
class Conflict:
    """One decided field: both values and who won."""

    field: str
    local_value: Any
    crm_value: Any
    winner: str   # "local" | "crm"


@dataclass
class Merge:
    """The outcome of comparing one linked pair: what to write where, and the new base."""

    to_local: dict[str, Any] = field(default_factory=dict)
    to_crm: dict[str, Any] = field(default_factory=dict)
    base: Canonical = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)


def merge(direction: Direction, policy: ConflictPolicy, rows: list[EffectiveRow], local: Canonical,
          crm: Canonical, base: Canonical | None) -> Merge:
    """Decide a linked pair field by field (docs/sync-rules.md: the outcome table and
    "Both").

    ``base`` is ``None`` when the pair has just been matched (key match or adoption).
    Only enabled rows that are not "sync once" take part; a row's own direction limits which
    side it may write. Returns the writes for each side and the new base.
    """
    plan = _plan(rows)
    if local != crm:   # else they agree on every field of both, these among them
        for name in plan.names:
            # The very test ``_decide`` makes first (``lv == cv``), negated.
            if not local.get(name) == crm.get(name):  # noqa: SIM201
                return _merge_rows(direction, policy, plan.active, local, crm, base)
    # Both sides already agree on every field (each pair of a first sync into a full
    # address book): ``_decide`` would leave every field alone, so nothing is written and
    # the base is each field's value, taken as below (``_source_local``).
    if direction == Direction.LOCAL_TO_CRM:
        return Merge(base={name: local.get(name) for name in plan.names})
    return Merge(base={name: (local if from_local else crm).get(name)
                       for name, from_local in plan.sources})


@dataclass
class _Plan:
    """The rows of a pass that take part in a merge, read once (``_plan``)."""

    rows: list[EffectiveRow]   # a copy of the list it was made from
    active: list[EffectiveRow]
    names: list[str]
    sources: list[tuple[str, bool]]   # each name, and whether its base is the local value


_PLANS: dict[int, _Plan] = {}


def _plan(rows: list[EffectiveRow]) -> _Plan:
    """The rows taking part (enabled, not "sync once") of ``rows``, a pass's list: kept for
    the next pair of the same pass (a first sync merges 100,000 pairs), while the list
    holds the same rows."""
    plan = _PLANS.get(id(rows))
    if plan is None or plan.rows != rows:
        active = [r for r in rows if r.enabled and r.direction != RowDirection.ONCE]
        plan = _Plan(list(rows), active, [r.name for r in active],
                     [(r.name, r.direction == RowDirection.LOCAL_TO_CRM) for r in active])
        if len(_PLANS) >= 8:
            _PLANS.clear()
        _PLANS[id(rows)] = plan
    return plan


def _merge_rows(direction: Direction, policy: ConflictPolicy, active: list[EffectiveRow],
                local: Canonical, crm: Canonical, base: Canonical | None) -> Merge:
    """``merge`` field by field, for the rows taking part (``active``)."""
    result = Merge()
    crm_changed = base is None or any(crm.get(r.name) != base.get(r.name, _MISSING)
                                      for r in active if r.to_local)
    local_changed = base is None or any(local.get(r.name) != base.get(r.name, _MISSING)
                                        for r in active if r.to_crm)
    for row in active:
        f = row.name
        lv, cv = local.get(f), crm.get(f)
        b = _MISSING if base is None else base.get(f, _MISSING)
        winner, conflict = _decide(row, direction, policy, lv, cv, b,
                                   crm_changed=crm_changed, local_changed=local_changed)
        final_local = cv if winner == "crm" else lv
        final_crm = lv if winner == "local" else cv
        if conflict and winner is not None:
            result.conflicts.append(Conflict(f, lv, cv, winner))
        if final_local != lv:
            result.to_local[f] = final_local
        if final_crm != cv:
            result.to_crm[f] = final_crm
        # The base is the value the field's source side holds after this sync.
        result.base[f] = final_local if _source_local(row, direction) else final_crm
    return result


def _source_local(row: EffectiveRow, direction: Direction) -> bool:
    """Whether a field's base is the local side's value (else the CRM's)."""
    return row.direction == RowDirection.LOCAL_TO_CRM or direction == Direction.LOCAL_TO_CRM


def _decide(row: EffectiveRow, direction: Direction, policy: ConflictPolicy, lv: Any, cv: Any,
            b: Any, *, crm_changed: bool, local_changed: bool) -> tuple[str | None, bool]:
    """One field: whose value both sides take ("crm", "local"; None: each keeps its own),
    and whether that decided a conflict. ``b`` is the base value (``_MISSING``: none)."""
    known = b is not _MISSING
    if lv == cv:
        return None, False  # the sides agree: nothing to decide, whatever the base says
    if direction == Direction.CRM_TO_LOCAL:
        # The CRM is the source: when its record changed, all its mapped values replace
        # the local ones (the outcome table); a local edit of a field is then a recorded conflict.
        if row.to_local and crm_changed:
            return "crm", known and lv != b
        return None, False
    if direction == Direction.LOCAL_TO_CRM:
        # The local item is the source: when it changed, all its mapped values replace
        # the CRM's; a CRM edit of a field is then a recorded conflict.
        if row.to_crm and local_changed:
            return "local", known and cv != b
        return None, False
    if not known:
        # Just matched (first sync, key match): the CRM's values replace the local ones
        # (outcome table, "exists on both sides"); a local→CRM-only row sends its value.
        if row.to_local:
            return "crm", False
        return ("local" if row.to_crm else None), False
    if lv != b and cv == b:
        # Changed only locally: the local value goes to the CRM.
        return ("local" if row.to_crm else None), False
    if cv != b and lv == b:
        # Changed only in the CRM: the CRM value comes to the local item.
        return ("crm" if row.to_local else None), False
    if lv != b and cv != b:
        # Changed on both sides to different values: the conflict resolution setting
        # picks the winner, unless the row's own direction lets its value flow one way
        # only: then the side it flows from wins, whatever the setting.
        crm_wins = policy != ConflictPolicy.LOCAL_WINS
        if row.to_local and (crm_wins or not row.to_crm):
            return "crm", True
        if row.to_crm:
            return "local", True
    # Neither side changed but they differ (a one-way row), or a row that flows nowhere:
    # leave both alone.
    return None, False
