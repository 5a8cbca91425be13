"""The sync engine: field mapping, plan-then-apply sync, sync state, run reports, the lock.

Public surface:

    SyncEngine(store, crm, settings, observer=None): .plan(...) -> SyncPlan,
        .run(...) -> SyncResult
    SyncPlan, Action and its kinds (CreateLocal, UpdateLocal, LinkLocal, DeleteLocal, ForgetLink,
        CreateRemote, UpdateRemote, LinkRemote)
    SyncResult, ConflictRecord, RecordError, load_reports(store, runs); Outcome (how a run
        ended), Flow (which way a report row's change went)
    Direction, ConflictPolicy (an entity's rule), RowDirection (a mapping row's)
    SyncObserver (Protocol), SyncLock (cross-process), EntityConfig / entity_config
    mapping: rows, canonical forms, CRM payloads (``tray_client.sync.mapping``)

The rules and how the seed's wording was read: docs/sync-rules.md.
"""

from .actions import (
    Action,
    CreateLocal,
    CreateRemote,
    DeleteLocal,
    ForgetLink,
    LinkLocal,
    LinkRemote,
    SyncPlan,
    UpdateLocal,
    UpdateRemote,
)
from .config import ConflictPolicy, Direction, EntityConfig, RowDirection, entity_config
from .context import SyncObserver
from .engine import SyncEngine
from .lock import SyncLock
from .report import (
    ConflictRecord,
    Flow,
    Outcome,
    RecordError,
    SyncResult,
    load_reports,
    report_rows,
)

__all__ = [
    "Action", "ConflictPolicy", "ConflictRecord", "CreateLocal", "CreateRemote", "DeleteLocal",
    "Direction", "EntityConfig", "Flow", "ForgetLink", "LinkLocal", "LinkRemote", "Outcome",
    "RecordError", "RowDirection", "SyncEngine", "SyncLock", "SyncObserver", "SyncPlan",
    "SyncResult", "UpdateLocal", "UpdateRemote", "entity_config", "load_reports", "report_rows",
]
