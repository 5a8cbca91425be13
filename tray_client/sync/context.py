"""What a run's steps share: the run context and one entity's pass.

``RunContext`` holds both sides, the sync state and the result being built, and is the one
place that decides what happens to a planned action: a real run applies it and commits its
bookkeeping; a plan (``PlanContext``) only records it and writes nothing, so a dry run is
the same steps with nothing applied. ``EntityPass`` is everything one entity's pass keeps
while it runs (its rows, cursor, indexes, the items it dealt with).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from ..crm import Resource
from ..errors import TrayClientError, ValidationError
from ..settings import Settings
from ..times import utc_text
from . import mapping
from .actions import Action, CreateLocal, LinkLocal, SyncPlan
from .config import EntityConfig, RowDirection
from .mapping import CRM_TYPES, Canonical
from .merge import Conflict
from .report import ConflictRecord, Flow, RecordError, SyncResult
from .scratch import IdSet, KeyIndex
from .state import EntityCursor, Link, SyncState

log = logging.getLogger(__name__)

FETCH_CHUNK = 100   # CRM ids per look-up (filter[id]=…)


class Cancelled(Exception):
    """The user cancelled the run: raised at the next action."""


class SyncObserver(Protocol):
    """Called on the sync's own thread (the GUI re-emits these as Qt signals)."""

    def on_state(self, state: str) -> None: ...
    def on_progress(self, entity: str, done: int, total: int | None, message: str) -> None: ...
    def on_finished(self, result: SyncResult) -> None: ...


def shifted(instant: str, seconds: int) -> str:
    """``instant`` moved by ``seconds``, as a UTC ``…Z`` string (``times.utc_text``)."""
    when = dt.datetime.fromisoformat(instant)
    return utc_text((when + dt.timedelta(seconds=seconds)).astimezone(dt.UTC))


class CrmLookups:
    """What the CRM answers once per engine: the user, their calendar, regions per country."""

    def __init__(self, crm: Any) -> None:
        self.crm = crm
        self._user_id: str | None = None
        self._calendar_id: str | None = None
        self._regions: dict[str, frozenset[str]] = {}

    def user_id(self) -> str:
        if self._user_id is None:
            self._user_id = self.crm.current_user().id
        return self._user_id

    def calendar_id(self) -> str:
        """The user's own calendar ("" when they have none)."""
        if self._calendar_id is None:
            self._calendar_id = self.crm.user_calendar_id(self.user_id()) or ""
        return self._calendar_id

    def regions(self, country: str) -> frozenset[str]:
        """The region codes the CRM has for ``country`` (``GET regions?filter[country]=``);
        Oro accepts a free-text customRegion only where this is empty. CrmErrors propagate
        (an offline CRM stops the run; it is not a reason to send a region it may refuse)."""
        known = self._regions.get(country)
        if known is None:
            known = frozenset(r.id for r in self.crm.iter_collection(
                "regions", filters={"country": country}, sort="", page_size=1000,
                fields=["id"]))
            self._regions[country] = known
        return known


@dataclass
class EntityPass:
    """Everything one entity's pass needs."""

    cfg: EntityConfig
    rows: list[mapping.EffectiveRow]
    key_rows: list[str]
    cursor: EntityCursor
    first: bool
    filters: dict[str, Any] = field(default_factory=dict)
    phase: str = "both"
    handled: IdSet = field(default_factory=IdSet)   # item ids dealt with this run
    key_index: KeyIndex | None = None  # unlinked local items (rowids) by key (repr)
    remote_index: dict[Any, list[Resource]] | None = None  # unlinked CRM records by key
    # crm_id -> id of the unlinked local item that carries it (a first sync's leftovers)
    crm_id_holders: dict[str, str] | None = None
    own_creates: set[str] = field(default_factory=set)  # unlinked items with a create intent
    batch_links: dict[str, Link] | None = None  # links of the pulled batch, read at once
    # the batch's unlinked records, mapped, the key slots their partners are looked for
    # in, the index entries found there and the local items read by rowid
    # (``matching.prefetch``)
    batch_canonical: dict[str, Canonical] = field(default_factory=dict)
    batch_slots: dict[str, list[str]] = field(default_factory=dict)
    batch_found: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    batch_items: dict[int, Any] = field(default_factory=dict)
    # item id -> the canonical values of an item ``local_match`` handed out (mapped there)
    handed_local: dict[str, Canonical] = field(default_factory=dict)
    # the pulled batch's new CRM records, by crm_id: inserted together (``apply.create_new``)
    new_records: dict[str, CreateLocal] = field(default_factory=dict)
    # the batch's pairs matched by key, each with its unlinked item: linked together
    # (``apply.link_matched``)
    matched: list[tuple[LinkLocal, Any]] = field(default_factory=list)
    # whether this pass left links whose items ``apply.write_links`` writes
    unwritten: bool = False
    pulled: int = 0                          # records the pull has written (its progress)
    # partners handed out with a local text from the page worker, and of those how many
    # held that very text (``matching.local_match``; ``pull._still_exact``)
    texts_tried: int = 0
    texts_held: int = 0
    full_due: bool = False                  # a full look at both sides' ids is due
    feed: bool = True                       # the CRM has a removals feed (real Oro: no)
    active: list[str] = field(default_factory=list)  # rows compared (enabled, not "once")
    _names: dict[tuple[bool, bool], list[str]] = field(default_factory=dict)
    # ``cfg.entity``, read ~13 times a pulled record: an attribute, not a property
    entity: str = field(init=False)

    def __post_init__(self) -> None:
        self.entity = self.cfg.entity
        self.active = [r.name for r in self.rows if r.enabled and r.direction != RowDirection.ONCE]

    def close(self) -> None:
        """Drop the pass's scratch indexes (their on-disk file, when they spilled)."""
        self.handled.close()
        if self.key_index is not None:
            self.key_index.close()

    @property
    def crm_type(self) -> str:
        return CRM_TYPES[self.cfg.entity]

    @property
    def include(self) -> tuple[str, ...]:
        return ("addresses",) if self.cfg.entity == "contacts" else ()

    def names(self, *, create: bool, to_local: bool) -> list[str]:
        """Rows written when creating (``once`` rows too) or updating, towards one side."""
        cached = self._names.get((create, to_local))
        if cached is not None:
            return list(cached)
        result = []
        for r in self.rows:
            if not r.enabled:
                continue
            writes = r.to_local if to_local else r.to_crm
            if (r.direction == RowDirection.ONCE and create) or writes:
                result.append(r.name)
        self._names[(create, to_local)] = result
        return list(result)


class RunContext:
    """One run: both sides, the sync state, the result being built. Applies what it admits.

    ``admit`` / ``commit`` / ``batch`` are where a run and a plan differ (``PlanContext``).
    """

    def __init__(self, store: Any, crm: Any, settings: Settings, state: SyncState,
                 lookups: CrmLookups, result: SyncResult, *,
                 observer: SyncObserver | None = None, trigger: str = "manual",
                 cancel: threading.Event | None = None,
                 collect_young: Callable[[], object] = lambda: None) -> None:
        self.store = store
        self.crm = crm
        self.settings = settings
        self.state = state
        self.lookups = lookups
        self.result = result
        self.observer = observer
        self.trigger = trigger
        self.cancel = cancel
        self.collect_young = collect_young
        # Local addresses without a country are in the default country (the setting, else
        # the locale's).
        self.default_country = settings.effective_default_country
        self.from_local = partial(mapping.from_local, default_country=self.default_country)
        self.local_key = partial(mapping.local_key, default_country=self.default_country)

    # -- where a run and a plan differ -------------------------------------------------------

    def admit(self, action: Action) -> bool:
        """True: the caller applies ``action`` now. Raises Cancelled when the user cancelled."""
        self.check_cancel()
        return True

    def commit(self, write: Callable[[], object]) -> None:
        """Run a write of the sync's own bookkeeping (cursors, bases, pending) in a
        transaction (a savepoint inside an open one)."""
        with self.store.transaction():
            write()

    def batch(self) -> AbstractContextManager[Any]:
        """The transaction a pulled batch is written in, with its cursor."""
        return self.store.transaction()  # type: ignore[no-any-return]

    # -- shared by the steps -----------------------------------------------------------------

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()

    def progress(self, entity: str, done: int, message: str) -> None:
        if self.observer is not None:
            self.observer.on_progress(entity, done, None, message)

    def visible(self, ent: EntityPass, res: Resource) -> bool:
        """Sync type *selected*: only records owned by or assigned to the user."""
        if self.settings.sync_type != "selected" or ent.entity == "events":
            return True
        me = self.lookups.user_id()
        for rel in ("owner", "assignedTo"):
            ref = res.relationships.get(rel)
            refs = ref if isinstance(ref, list) else [ref]
            if any(r is not None and str(r.id) == me for r in refs):
                return True
        return False

    def fetch(self, ent: EntityPass, crm_ids: Sequence[str]) -> dict[str, Resource]:
        """The CRM records with these ids that still exist (``filter[id]``, in chunks) and
        are the user's to sync (events: in the user's calendar)."""
        result: dict[str, Resource] = {}
        ids = list(dict.fromkeys(crm_ids))
        for start in range(0, len(ids), FETCH_CHUNK):
            chunk = ids[start:start + FETCH_CHUNK]
            for res in self.crm.iter_collection(ent.crm_type,
                                                filters={**ent.filters, "id": chunk},
                                                include=ent.include, sort="id",
                                                page_size=len(chunk)):
                result[res.id] = res
        return result

    def held_revs(self, entity: str) -> dict[str, int]:
        """Changes the user dropped from the queue: item id -> the held rev; skipped while
        the item's rev equals its hold (``SyncState.held_revs``)."""
        return self.state.held_revs(entity)

    def count(self, entity: str, side: str, kind: str) -> None:
        self.result.counts[entity][side][kind] += 1

    def report(self, ent: EntityPass, *, item_id: str | None, crm_id: str | None, name: str,
               action: str, direction: str, status: str = "success", message: str = "",
               conflicts: Iterable[Conflict] = ()) -> None:
        """A report row for one record (and one per decided conflict), in the caller's
        transaction."""
        run_id = self.result.run_id
        self.state.add_report_row(run_id, ent.entity, item_id=item_id, crm_id=crm_id,
                                  name=name, action=action, direction=direction, status=status,
                                  message=message)
        for c in conflicts:
            self.state.add_report_row(
                run_id, ent.entity, item_id=item_id, crm_id=crm_id, name=name,
                action="conflict", direction=direction, field=c.field,
                local_value=c.local_value, crm_value=c.crm_value, winner=c.winner,
                message=f"{c.field}: the {'CRM' if c.winner == 'crm' else 'local'} value won")
            self.result.conflicts.append(ConflictRecord(
                ent.entity, item_id, crm_id, name, c.field, c.local_value, c.crm_value,
                c.winner))

    def record_error(self, ent: EntityPass, *, side: str, ref: str, item_id: str | None,
                     crm_id: str | None, name: str, exc: BaseException) -> None:
        """One bad record: in the result, a report row, and a retry next run (committed at
        once)."""
        message = exc.message if isinstance(exc, TrayClientError) else str(exc)
        if isinstance(exc, ValidationError) and exc.errors:
            message = "; ".join(
                f"{e.field + ': ' if e.field else ''}{e.detail or e.title}" for e in exc.errors)
        direction = Flow.CRM_TO_LOCAL if side == "crm" else Flow.LOCAL_TO_CRM
        log.warning("%s %s failed: %s", ent.entity, ref, message)
        self.result.errors.append(RecordError(ent.entity, item_id, crm_id, name, direction,
                                              message))

        def keep() -> None:
            self.state.add_pending(ent.entity, side, ref, message)
            self.report(ent, item_id=item_id, crm_id=crm_id, name=name, action="error",
                        direction=direction, status="error", message=message)

        self.commit(keep)

    def settle_base(self, ent: EntityPass, item_id: str, crm_id: str, base: Canonical,
                    crm_updated_at: str | None, synced_rev: int) -> None:
        """Record a pair's base when nothing is written on either side."""
        self.commit(partial(self.state.put_link, ent.entity, item_id, crm_id, base,
                            crm_updated_at, synced_rev))


class PlanContext(RunContext):
    """A plan: actions are recorded in ``plan``, nothing is applied or written (a plan holds
    no write lock, so it may run beside a sync)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan = SyncPlan()

    def admit(self, action: Action) -> bool:
        self.plan.actions.append(action)
        return False

    def commit(self, write: Callable[[], object]) -> None:
        pass

    def batch(self) -> AbstractContextManager[Any]:
        return nullcontext()
