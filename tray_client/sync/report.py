"""What a sync run did: the result object, its records, and reading past runs back."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from .state import SyncState


class Outcome(StrEnum):
    """How a run ended (kept in the report and printed as its value)."""

    OK = "ok"
    PARTIAL = "partial"        # some records failed: in ``errors``, retried next run
    OFFLINE = "offline"        # the CRM could not be reached
    FAILED = "failed"          # auth, TLS, configuration, server, local database
    GUARDED = "guarded"        # stopped by the deletion guard before deleting anything
    CANCELLED = "cancelled"    # stopped by the user


class Flow(StrEnum):
    """Which way one record's change went: a report row's direction (not a sync rule's
    ``Direction``, nor a mapping row's ``RowDirection``)."""

    CRM_TO_LOCAL = "crm_to_local"
    LOCAL_TO_CRM = "local_to_crm"


OUTCOMES = tuple(Outcome)
SIDES = ("local", "crm")
COUNT_KINDS = ("created", "updated", "deleted")


@dataclass
class ConflictRecord:
    """A field changed on both sides (or overwritten by a one-way rule): both values kept so
    the losing one can be recovered from the report."""

    entity: str
    item_id: str | None
    crm_id: str | None
    name: str
    field: str
    local_value: Any
    crm_value: Any
    winner: str          # "local" | "crm"


@dataclass
class RecordError:
    """One record that failed; it is retried next run."""

    entity: str
    item_id: str | None
    crm_id: str | None
    name: str
    direction: str       # a Flow
    message: str


def empty_counts(entities: Any) -> dict[str, dict[str, dict[str, int]]]:
    return {e: {s: {k: 0 for k in COUNT_KINDS} for s in SIDES} for e in entities}


@dataclass
class SyncResult:
    """The outcome of one run (see docs/architecture.md)."""

    run_id: str
    trigger: str
    started_at: str
    finished_at: str | None = None
    outcome: str = Outcome.OK
    message: str = ""
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    # The CRM's configuration this run went by (not kept in the report, not in as_dict):
    # callers reuse it instead of asking the CRM again.
    configuration: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def changes(self) -> int:
        """Number of records created, updated or deleted on either side."""
        return sum(n for sides in self.counts.values() for kinds in sides.values()
                   for n in kinds.values())

    def count(self, entity: str, side: str, kind: str) -> int:
        return self.counts.get(entity, {}).get(side, {}).get(kind, 0)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["configuration"]
        return data


def load_reports(store: Any, runs: int = 10) -> list[SyncResult]:
    """The last ``runs`` results recorded in ``store``, newest first."""
    state = SyncState(store.connection)
    with store.lock if hasattr(store, "lock") else nullcontext():
        if not state.exists():
            return []  # no sync ever ran on this store (reading needs no write lock)
        results = []
        for run_id, trigger, started, finished, outcome, message, counts in state.runs(runs):
            result = SyncResult(run_id, trigger, started, finished, outcome or Outcome.FAILED,
                                message or "", json.loads(counts) if counts else {})
            if outcome is None:
                # Started and never finished: the process died or is still running.
                result.outcome = Outcome.FAILED
                result.message = ("The run has not finished: it is still running, or the "
                                  "program stopped during it.")
            for (entity, item_id, crm_id, name, action, direction, status, msg, fld,
                 local_value, crm_value, winner) in state.report_rows(run_id):
                if status == "error":
                    result.errors.append(RecordError(entity, item_id, crm_id, name, direction,
                                                     msg))
                elif action == "conflict" and fld is not None:
                    result.conflicts.append(ConflictRecord(
                        entity, item_id, crm_id, name, fld, json.loads(local_value),
                        json.loads(crm_value), winner or ""))
            results.append(result)
    return results


def report_rows(store: Any, run_id: str) -> list[dict[str, Any]]:
    """Every per-record row of one run (for the report window), in order."""
    state = SyncState(store.connection)
    with store.lock if hasattr(store, "lock") else nullcontext():
        if not state.exists():
            return []
        raw = state.report_rows(run_id)
    keys = ("entity", "item_id", "crm_id", "name", "action", "direction", "status", "message",
            "field", "local_value", "crm_value", "winner")
    rows = []
    for row in raw:
        data = dict(zip(keys, row, strict=True))
        for k in ("local_value", "crm_value"):
            if data[k] is not None:
                data[k] = json.loads(data[k])
        rows.append(data)
    return rows
