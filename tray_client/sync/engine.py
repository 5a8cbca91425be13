"""The sync engine: plan, then apply (DESIGN §6, seed 000; rules in docs/sync-rules.md).

Per entity, in this order:

1. first sync / resync: unlinked local items that carry a ``crm_id`` are deleted (into the
   trash) — the seed's "records with a non-empty OroCRM_id are deleted first";
2. records deleted in the CRM (removals feed, and a periodic ids reconciliation) — guarded
   against mass deletion *before* anything is deleted;
3. linked items deleted locally (recreated from the CRM, or the link forgotten);
4. pull: CRM records changed since the cursor (re-reading the cursor's second), matched by
   link, then by a held ``crm_id``, then by key; each batch commits with the cursor;
5. push: local items changed since the watermark, compared with the base; creates are
   preceded by a committed intent so that a killed run never creates a record twice.

Every action commits its item write and its sync state in one store transaction (batches of
pulled records share one transaction with the cursor, each action in its own savepoint, the
batch's new records inserted together), so a run killed at any instant loses nothing and the
next run converges. The pull reads pages ahead on a helper thread (``readahead``), and the
cyclic garbage collector is paused for the run (``_collector_paused``).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from ..crm import Cursor, Resource
from ..crm.verdict import verdict_for
from ..errors import (
    AuthError,
    ConfigurationError,
    ConflictError,
    CrmError,
    DeletionGuardError,
    ForbiddenError,
    IncompatibleServerError,
    NotFoundError,
    OfflineError,
    ServerError,
    StoreError,
    TlsError,
    TrayClientError,
    ValidationError,
)
from ..settings import Settings
from . import mapping
from .actions import (
    BOTH,
    CRM_TO_LOCAL,
    LOCAL_TO_CRM,
    Action,
    Conflict,
    CreateLocal,
    CreateRemote,
    DeleteLocal,
    ForgetLink,
    LinkLocal,
    LinkRemote,
    SyncPlan,
    UpdateLocal,
    UpdateRemote,
    merge,
)
from .deletions import (
    RECONCILE_SECONDS,
    CrmIdListing,
    DeletionCheck,
    removed_in_crm,
    unheld_after_first_sync,
)
from .mapping import CRM_TYPES, ENTITIES, Canonical, MappingError
from .readahead import read_ahead
from .report import ConflictRecord, RecordError, SyncResult, empty_counts
from .rules import SECTION_META, effective_rule, section_subset
from .state import EntityCursor, Link, SyncState

log = logging.getLogger(__name__)

PHASES = ("both", "pull", "push")
PULL_BATCH = 500          # pulled records per transaction (committed with the cursor)
PUSH_BATCH = 100          # local items per CRM look-up (filter[id]=…)
INTENT_MARGIN = 5         # seconds before an intent's time still searched for its record
GUARD_MIN = 10            # the deletion guard needs more than this many deletions ...
GUARD_SHARE = 0.5         # ... and more than this share of the entity's linked items

# Errors that concern one record: reported and retried, never stopping the run.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError, ConflictError, ForbiddenError, NotFoundError, ServerError, MappingError,
    StoreError)



class SyncObserver(Protocol):
    """Called on the sync's own thread (the GUI re-emits these as Qt signals)."""

    def on_state(self, state: str) -> None: ...
    def on_progress(self, entity: str, done: int, total: int | None, message: str) -> None: ...
    def on_finished(self, result: SyncResult) -> None: ...


class _Cancelled(Exception):
    pass


@dataclass(frozen=True)
class EntityConfig:
    """One entity's sync rule as the engine uses it (``rules.effective_rule``)."""

    entity: str
    enabled: bool
    direction: str
    policy: str
    keys: tuple[str, ...]

    @property
    def pulls(self) -> bool:
        return self.direction in (BOTH, CRM_TO_LOCAL)

    @property
    def pushes(self) -> bool:
        return self.direction in (BOTH, LOCAL_TO_CRM)


def entity_config(config: dict[str, Any] | None, entity: str,
                  settings: Settings | None = None) -> EntityConfig:
    """One entity's rule: ``settings.sync_rules`` (defaults when None) with the CRM's Outlook
    section (``config``; {} or None when it has none) on top (DESIGN §3, ``sync.rules``).

    Raises ConfigurationError for a direction or conflict policy the client does not know
    (syncing on a guess could delete the wrong side's data).
    """
    rule = effective_rule(settings or Settings(), config, entity)
    return EntityConfig(entity, rule.enabled, rule.direction, rule.conflict_resolution,
                        rule.keys)


@contextmanager
def _collector_paused() -> Iterator[Callable[[], object]]:
    """Python's automatic cyclic collector off for a run.

    A full pass scans every tracked object of the process; during a large run it comes every
    few thousand records. Measured: a fifth of a 100,000-record first sync, and (in the tray
    app) 100-170 ms freezes of the GUI thread. Yields the function the run calls after each
    batch: it collects the young generations only, so the run's cycles are still freed and
    memory stays flat. When the collector was already off (the caller manages it), nothing
    changes and the function does nothing.
    """
    if not gc.isenabled():
        yield lambda: None
        return
    gc.disable()
    try:
        yield partial(gc.collect, 1)
    finally:
        gc.enable()


ENTITY_WORDS = {"contacts": "contacts", "tasks": "tasks", "events": "calendar events"}


def _joined(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shift(instant: str, seconds: int) -> str:
    when = dt.datetime.fromisoformat(instant)
    return (when + dt.timedelta(seconds=seconds)).astimezone(dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Entity:
    """Everything one entity's pass needs."""

    cfg: EntityConfig
    rows: list[mapping.EffectiveRow]
    key_rows: list[str]
    cursor: EntityCursor
    first: bool
    filters: dict[str, Any] = field(default_factory=dict)
    phase: str = "both"
    handled: set[str] = field(default_factory=set)          # item ids dealt with this run
    key_index: dict[tuple[Any, ...], list[str]] | None = None  # unlinked local items by key
    remote_index: dict[Any, list[Resource]] | None = None  # unlinked CRM records by key
    held: dict[str, str] | None = None      # crm_id -> id of unlinked items that carry one
    own_creates: set[str] = field(default_factory=set)  # unlinked items with a create intent
    batch_links: dict[str, Link] | None = None  # links of the pulled batch, read at once
    fresh: dict[str, CreateLocal] = field(default_factory=dict)  # its new records, by crm_id
    full_due: bool = False                  # a full look at both sides' ids is due
    feed: bool = True                       # the CRM has a removals feed (real Oro: no)
    active: list[str] = field(default_factory=list)  # rows compared (enabled, not "once")
    _names: dict[tuple[bool, bool], list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.active = [r.name for r in self.rows if r.enabled and r.direction != "once"]

    @property
    def entity(self) -> str:
        return self.cfg.entity

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
            if r.direction == "once" and create or (r.to_local if to_local else r.to_crm):
                result.append(r.name)
        self._names[(create, to_local)] = result
        return list(result)


class SyncEngine:
    """Plans and applies syncs between one local store and one CRM user."""

    def __init__(self, store: Any, crm: Any, settings: Settings,
                 observer: SyncObserver | None = None) -> None:
        self.store = store
        self.crm = crm
        self.settings = settings
        self.observer = observer
        self.state = SyncState(store.connection)
        with store.transaction():
            self.state.migrate()
        self._dry = False
        self._plan: SyncPlan | None = None
        self._result: SyncResult | None = None
        self._cancel: threading.Event | None = None
        self._me: str | None = None
        self._calendar: str | None = None
        self._collect_young: Callable[[], object] = lambda: None
        self._trigger = "manual"
        # Local addresses without a country are in the default country (the setting, else
        # the locale's); the CRM's regions per country, read once per engine when needed.
        self._from_local = partial(mapping.from_local,
                                   default_country=settings.effective_default_country)
        self._regions: dict[str, frozenset[str]] = {}

    # -- public ------------------------------------------------------------------------------

    def _crm_regions(self, country: str) -> frozenset[str]:
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

    def _remember_section(self, config: dict[str, Any] | None) -> None:
        """Keep the rule options of the CRM's Outlook section ({} without one), so that
        ``status`` and the Settings dialog show which rules the CRM sets, offline too."""
        subset = json.dumps(section_subset(config or {}), sort_keys=True)
        if self.state.meta(SECTION_META) != subset:
            with self.store.transaction():
                self.state.set_meta(SECTION_META, subset)

    def plan(self, *, entities: Sequence[str] | None = None, phase: str = "both",
             resync: bool = False) -> SyncPlan:
        """What ``run`` would do now, without writing anything on either side.

        Raises CrmError when the CRM cannot be read.
        """
        self._dry = True
        self._plan = SyncPlan()
        self._result = SyncResult(run_id="plan", trigger="plan", started_at=_utc_now(),
                                  counts=empty_counts(self._entities(entities)))
        try:
            config = self.crm.configuration()
            for entity in self._entities(entities):
                cfg = entity_config(config, entity, self.settings)
                if cfg.enabled:
                    self._sync_entity(cfg, phase, resync, force_delete=True)
            return self._plan
        finally:
            self._dry = False

    def run(self, *, entities: Sequence[str] | None = None, phase: str = "both",
            resync: bool = False, force_delete: bool = False, trigger: str = "manual",
            cancel: threading.Event | None = None,
            configuration: dict[str, Any] | None = None) -> SyncResult:
        """Sync now and return what happened (also kept in the run report).

        Outcomes: ``ok``; ``partial`` (some records failed: in ``errors``, retried next run);
        ``offline``; ``failed`` (auth, TLS, configuration, server); ``cancelled``. A run that
        would delete too much records outcome ``guarded`` and raises DeletionGuardError
        (nothing was deleted; run again with ``force_delete=True``).

        ``configuration``: the CRM's configuration when the caller has just read it for this
        run (else it is read here); the one used is left in ``result.configuration``.
        """
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}")
        with _collector_paused() as self._collect_young:
            try:
                return self._run(entities=entities, phase=phase, resync=resync,
                                 force_delete=force_delete, trigger=trigger, cancel=cancel,
                                 configuration=configuration)
            finally:
                self._collect_young = lambda: None

    def _run(self, *, entities: Sequence[str] | None, phase: str, resync: bool,
             force_delete: bool, trigger: str, cancel: threading.Event | None,
             configuration: dict[str, Any] | None) -> SyncResult:
        names = self._entities(entities)
        result = SyncResult(run_id=uuid.uuid4().hex, trigger=trigger, started_at=_utc_now(),
                            counts=empty_counts(names))
        self._result, self._cancel, self._dry = result, cancel, False
        self._trigger = trigger
        with self.store.transaction():
            self.state.start_run(result.run_id, trigger, result.started_at)
        self._notify_state("syncing")
        guard: DeletionGuardError | None = None
        done: list[str] = []   # entities finished (for a stopped run's "what is left")
        try:
            config = configuration if configuration is not None else self.crm.configuration()
            result.configuration = config
            self._remember_section(config)
            for entity in names:
                cfg = entity_config(config, entity, self.settings)
                if cfg.enabled:
                    self._sync_entity(cfg, phase, resync, force_delete)
                done.append(entity)
            result.outcome = "partial" if result.errors else "ok"
            if result.errors:
                result.message = (f"{len(result.errors)} record(s) failed; they are retried "
                                  "next time.")
        except _Cancelled:
            result.outcome = "cancelled"
            left = [ENTITY_WORDS.get(e, e) for e in names if e not in done] or ["some records"]
            result.message = (f"Sync cancelled before it finished: {_joined(left)} "
                              "not fully synced. What was synced so far is kept; the next sync "
                              "goes on from there.")
        except DeletionGuardError as exc:
            result.outcome, result.message, guard = "guarded", exc.message, exc
        except OfflineError as exc:
            result.outcome, result.message = "offline", exc.message
        except (AuthError, TlsError, ConfigurationError, CrmError) as exc:
            # The same words Check Connection gives for this fault (one verdict function).
            verdict = verdict_for(exc)
            result.outcome, result.message = "failed", f"{verdict.title}: {verdict.message}"
        except StoreError as exc:
            result.outcome, result.message = "failed", f"{exc.title}: {exc.message}"
        result.finished_at = _utc_now()
        try:
            with self.store.transaction():
                self.state.finish_run(result.run_id, result.finished_at, result.outcome,
                                      result.message, result.counts)
                cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(
                    days=max(1, self.settings.report_retention_days))).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                self.state.purge_runs(cutoff)
        except StoreError:
            log.exception("Could not record the end of sync run %s", result.run_id)
        self._notify_state(result.outcome)
        if self.observer is not None:
            self.observer.on_finished(result)
        if guard is not None:
            raise guard
        return result

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _entities(entities: Sequence[str] | None) -> list[str]:
        if not entities:
            return list(ENTITIES)
        for e in entities:
            if e not in ENTITIES:
                raise ConfigurationError(f"Unknown entity {e!r}; use contacts, tasks or events.")
        return [e for e in ENTITIES if e in entities]

    def _notify_state(self, state: str) -> None:
        if self.observer is not None:
            self.observer.on_state(state)

    def _progress(self, entity: str, done: int, message: str) -> None:
        if self.observer is not None:
            self.observer.on_progress(entity, done, None, message)

    def _check_cancel(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise _Cancelled()

    def _user_id(self) -> str:
        if self._me is None:
            self._me = self.crm.current_user().id
        return self._me

    def _visible(self, ent: _Entity, res: Resource) -> bool:
        """Sync type *selected*: only records owned by or assigned to the user."""
        if self.settings.sync_type != "selected" or ent.entity == "events":
            return True
        me = self._user_id()
        for rel in ("owner", "assignedTo"):
            ref = res.relationships.get(rel)
            refs = ref if isinstance(ref, list) else [ref]
            if any(r is not None and str(r.id) == me for r in refs):
                return True
        return False

    def _count(self, entity: str, side: str, kind: str) -> None:
        assert self._result is not None
        self._result.counts[entity][side][kind] += 1

    def _report(self, ent: _Entity, *, item_id: str | None, crm_id: str | None, name: str,
                action: str, direction: str, status: str = "success", message: str = "",
                conflicts: Iterable[Conflict] = ()) -> None:
        assert self._result is not None
        run_id = self._result.run_id
        self.state.add_report_row(run_id, ent.entity, item_id=item_id, crm_id=crm_id,
                                  name=name, action=action, direction=direction, status=status,
                                  message=message)
        for c in conflicts:
            self.state.add_report_row(
                run_id, ent.entity, item_id=item_id, crm_id=crm_id, name=name,
                action="conflict", direction=direction, field=c.field,
                local_value=c.local_value, crm_value=c.crm_value, winner=c.winner,
                message=f"{c.field}: the {'CRM' if c.winner == 'crm' else 'local'} value won")
            self._result.conflicts.append(ConflictRecord(
                ent.entity, item_id, crm_id, name, c.field, c.local_value, c.crm_value,
                c.winner))

    def _record_error(self, ent: _Entity, *, side: str, ref: str, item_id: str | None,
                      crm_id: str | None, name: str, exc: BaseException) -> None:
        """One bad record: a report row, and a retry next run (committed at once)."""
        assert self._result is not None
        message = exc.message if isinstance(exc, TrayClientError) else str(exc)
        if isinstance(exc, ValidationError) and exc.errors:
            message = "; ".join(
                f"{e.field + ': ' if e.field else ''}{e.detail or e.title}" for e in exc.errors)
        direction = "crm_to_local" if side == "crm" else "local_to_crm"
        log.warning("%s %s failed: %s", ent.entity, ref, message)
        self._result.errors.append(RecordError(ent.entity, item_id, crm_id, name, direction,
                                               message))
        if self._dry:
            return
        with self.store.transaction():
            self.state.add_pending(ent.entity, side, ref, message)
            self._report(ent, item_id=item_id, crm_id=crm_id, name=name, action="error",
                         direction=direction, status="error", message=message)

    def _emit(self, action: Action) -> bool:
        """Record ``action`` in the plan; True when it must also be applied."""
        if self._plan is not None and self._dry:
            self._plan.actions.append(action)
            return False
        self._check_cancel()
        return True

    # -- one entity --------------------------------------------------------------------------

    def _sync_entity(self, cfg: EntityConfig, phase: str, resync: bool,
                     force_delete: bool) -> None:
        entity = cfg.entity
        if resync and not self._dry:
            # A resync forgets everything known about the pairs (DESIGN §6): the links go, so
            # step 1 below deletes every item carrying a crm_id, as on a first sync.
            with self.store.transaction():
                self.state.drop_links(entity)
                self.state.drop_cursor(entity)
        cursor = EntityCursor(entity) if resync else self.state.cursor(entity)
        first = resync or not cursor.first_sync_done
        if first and phase != "both":
            # A first sync is always complete; a scheduled pull or push before it does it all.
            phase = "both"
        ent = _Entity(cfg, mapping.effective_rows(entity, self.settings),
                      mapping.key_rows(entity, cfg.keys, self.settings), cursor, first,
                      phase=phase)
        if entity == "events":
            # Only the user's own calendar (DESIGN §5).
            if self._calendar is None:
                self._calendar = self.crm.user_calendar_id(self._user_id()) or ""
            if not self._calendar:
                raise ConfigurationError("The CRM user has no calendar to sync events with.",
                                         title="No calendar")
            ent.filters = {"calendar": self._calendar}
        started = self.crm.server_time()
        self._progress(entity, 0, "starting")
        if first:
            self._first_sync_deletions(ent, resync)
        reconciled_at = cursor.ids_reconciled_at
        # A full look at both sides' ids: hourly, and on demand (a manual full sync).
        ent.full_due = not first and (
            reconciled_at is None or time.time() - reconciled_at > RECONCILE_SECONDS
            or (self._trigger == "manual" and phase == "both"))
        looks_at_crm_deletions = phase in ("both", "pull") or cfg.direction == LOCAL_TO_CRM
        if looks_at_crm_deletions:
            self._crm_deletions(ent, force_delete, started)
        if (phase in ("both", "pull") and cfg.pulls) or (phase in ("both", "push")
                                                          and cfg.pushes):
            self._local_deletions(ent, phase)
        if phase in ("both", "pull") and cfg.pulls:
            self._pull(ent)
        if looks_at_crm_deletions:
            self._crm_ids_check(ent, force_delete)
        if phase in ("both", "push") and cfg.pushes:
            self._push(ent)
        if not self._dry:
            cursor = self.state.cursor(entity)
            if first:
                cursor.first_sync_done = True
                cursor.removals_since = cursor.removals_since or started
                cursor.ids_reconciled_at = cursor.ids_reconciled_at or time.time()
            with self.store.transaction():
                self.state.put_cursor(cursor)
        self._progress(entity, 0, "done")

    # -- 1. first sync -----------------------------------------------------------------------

    def _first_sync_deletions(self, ent: _Entity, resync: bool) -> None:
        """Seed 000: on a first sync or resync, local items with a non-empty crm_id are
        deleted (into the trash) before CRM records are matched by key. Items linked by an
        earlier, interrupted pass of the same first sync keep their link and are spared."""
        # (On a resync the links are gone already; a dry run must not count them either.)
        linked = {} if resync else self.state.linked_item_ids(ent.entity)
        doomed = [item for item in self.store.iter_items(ent.entity)
                  if item.crm_id and item.id not in linked]
        reason = "resync" if resync else "first sync: item carries a crm_id"
        for item in doomed:
            action = DeleteLocal(ent.entity, item.display_name, item_id=item.id,
                                 crm_id=item.crm_id, reason=reason)
            if self._emit(action):
                self._apply_delete_local(ent, action)

    # -- 2. deleted in the CRM ---------------------------------------------------------------

    def _crm_deletions(self, ent: _Entity, force_delete: bool, started: str) -> None:
        """Step 2: records the CRM's removals feed reports, where it has one (real Oro has
        none: ``ent.feed`` becomes False and the ids check after the pull decides)."""
        cur = ent.cursor
        removed: set[str] = set()
        newest = cur.removals_since
        if not ent.first:
            try:
                for removal in self.crm.iter_removals(ent.crm_type, cur.removals_since):
                    removed.add(removal.id)
                    if newest is None or removal.removed_at > newest:
                        newest = removal.removed_at
            except IncompatibleServerError:
                ent.feed = False  # real Oro: no feed; the ids check decides
        if removed:
            removed &= set(self.state.links_by_crm(ent.entity, sorted(removed)))
        self._delete_gone(ent, removed, force_delete)
        if not self._dry:
            cur = self.state.cursor(ent.entity)
            cur.removals_since = newest or started
            with self.store.transaction():
                self.state.put_cursor(cur)
            ent.cursor = cur

    def _crm_ids_check(self, ent: _Entity, force_delete: bool) -> None:
        """Step 2b, after the pull: linked records gone from the CRM, found by comparing
        counts and, when they differ or a full look is due, the ids (``deletions``)."""
        unheld_key = f"crm_unheld:{ent.entity}"
        listing = CrmIdListing(self.crm, ent.crm_type, ent.filters)
        if ent.feed and not ent.full_due and not ent.first:
            return  # the feed told us; the hourly full look is not due
        linked_count = self.state.link_count(ent.entity)
        if not linked_count or (ent.first and not ent.full_due):
            # Nothing linked, nothing to lose; or the first sync's pull has just read
            # everything: either way the count alone gives the baseline.
            check = DeletionCheck(frozenset(), False,
                                  unheld_after_first_sync(listing, linked_count))
        else:
            stored = self.state.meta(unheld_key)
            check = removed_in_crm(
                listing, linked_count=linked_count,
                linked_ids=lambda: self.state.linked_crm_ids(ent.entity),
                unheld=int(stored) if stored and stored.isdigit() else None,
                full_due=ent.full_due)
        removed = set(check.removed)
        if removed:
            # A listing read while records changed may miss some (Oro's REST API pages in no
            # order): what looks deleted is looked up by id before anything is deleted.
            # Events: an event moved out of the user's calendar is gone for this user.
            removed -= set(self._fetch(ent, sorted(removed, key=mapping._id_order)))
        self._delete_gone(ent, removed, force_delete)
        if not self._dry:
            cur = self.state.cursor(ent.entity)
            if check.listed or ent.first:
                cur.ids_reconciled_at = time.time()
            with self.store.transaction():
                self.state.put_cursor(cur)
                self.state.set_meta(unheld_key, "" if check.unheld is None else str(check.unheld))
            ent.cursor = cur

    def _delete_gone(self, ent: _Entity, removed: set[str], force_delete: bool) -> None:
        """Apply "deleted in the CRM" to these linked ids, behind the deletion guard."""
        if not removed:
            return
        # CRM → local keeps the items of deleted records (only the links go): nothing to guard.
        if ent.cfg.direction != CRM_TO_LOCAL:
            count = self.state.link_count(ent.entity)
            if (not force_delete and len(removed) > GUARD_MIN
                    and len(removed) > GUARD_SHARE * count):
                raise DeletionGuardError(
                    f"This sync would delete {len(removed)} of your {count} linked "
                    f"{ent.entity} because they are gone from the CRM. Nothing was deleted. "
                    "If this is intended, confirm (or run `tray-client sync --force-delete`).",
                    entity=ent.entity, would_delete=len(removed), linked=count)
        for crm_id in sorted(removed, key=mapping._id_order):
            link = self.state.link_by_crm(ent.entity, crm_id)
            if link is None:
                continue
            item = self.store.get(link.item_id)
            name = item.display_name if item else mapping.display_name(ent.entity, link.base)
            if ent.cfg.direction == CRM_TO_LOCAL or item is None:
                # CRM → local: "the record stays locally, unchanged" (seed 000): only the
                # link goes; the item keeps its crm_id (docs/sync-rules.md).
                action: Action = ForgetLink(ent.entity, name, item_id=link.item_id,
                                            crm_id=crm_id, reason="deleted in the CRM")
                if self._emit(action):
                    self._apply_forget(ent, action)  # type: ignore[arg-type]
            else:
                action = DeleteLocal(ent.entity, name, item_id=link.item_id, crm_id=crm_id,
                                     reason="deleted in the CRM")
                if self._emit(action):
                    self._apply_delete_local(ent, action)  # type: ignore[arg-type]

    # -- 3. deleted locally ------------------------------------------------------------------

    def _local_deletions(self, ent: _Entity, phase: str) -> None:
        """Links whose local item is gone. Cheap path: the trash; safety net: a full scan at
        the reconciliation interval."""
        if ent.cfg.pulls and phase == "push":
            return  # CRM → local and Both recreate the item: that is the pull's work
        # Every deletion bumps the store's revision: if it has not moved since the last check,
        # no item was deleted and the trash need not be read.
        seen_key = f"local_rev_seen:{ent.entity}"
        rev = str(self.store.max_rev())
        if not ent.full_due and self.state.meta(seen_key) == rev:
            return
        self._local_deletions_since(ent, rev, seen_key)

    def _local_deletions_since(self, ent: _Entity, rev: str, seen_key: str) -> None:
        links = self.state.linked_item_ids(ent.entity)
        if not links:
            self._remember(seen_key, rev)
            return
        gone: set[str] = set()
        for entry in self.store.trash_list():
            item_id = entry.item.id
            if entry.reason != "sync_overwrite" and entry.item.entity == ent.entity \
                    and item_id in links:
                gone.add(item_id)
        if ent.full_due:
            # The full look is due (hourly, on demand): check the local side fully too.
            present = {item.id for item in self.store.iter_items(ent.entity)}
            gone |= set(links) - present
        gone = {i for i in gone if self.store.get(i) is None}
        if not gone:
            self._remember(seen_key, rev)
            return
        recreate = ent.cfg.pulls
        by_crm = {links[i]: i for i in gone}
        fetched: dict[str, Resource] = {}
        if recreate:
            fetched = self._fetch(ent, list(by_crm))
        for crm_id, item_id in sorted(by_crm.items()):
            link = self.state.link_by_crm(ent.entity, crm_id)
            if link is None:
                continue
            name = mapping.display_name(ent.entity, link.base)
            res = fetched.get(crm_id)
            if recreate and res is not None and self._visible(ent, res):
                # CRM → local and Both: "deleted locally → recreated from the CRM".
                self._pull_record(ent, res, reason="recreated: deleted locally")
            else:
                # Local → CRM: "stays in the CRM"; the engine forgets the pair.
                action = ForgetLink(ent.entity, name, item_id=item_id, crm_id=crm_id,
                                    reason="deleted locally")
                if self._emit(action):
                    self._apply_forget(ent, action)
        self._remember(seen_key, rev)

    def _remember(self, key: str, value: str) -> None:
        if not self._dry:
            with self.store.transaction():
                self.state.set_meta(key, value)

    # -- 4. pull -----------------------------------------------------------------------------

    def _pull(self, ent: _Entity) -> None:
        # Records that failed last time are read again first.
        retry = self.state.pending(ent.entity, "crm")
        if retry:
            fetched = self._fetch(ent, retry)
            for crm_id in retry:
                res = fetched.get(crm_id)
                if res is None:
                    if not self._dry:
                        with self.store.transaction():
                            self.state.clear_pending(ent.entity, "crm", crm_id)
                    continue
                self._pull_record(ent, res)
        cur = ent.cursor
        since = Cursor(cur.crm_updated_at, cur.crm_id or "") if cur.crm_updated_at else None
        batch: list[Resource] = []
        done = 0
        # The next pages are fetched (on a helper thread) while this one's records are
        # written: a large pull costs about the slower of the two, not their sum. Closed on
        # the way out, so no request outlives the pull (a cancel, an error).
        with closing(read_ahead(self.crm.iter_changed(
                ent.crm_type, since, filters=ent.filters, include=ent.include,
                page_size=1000))) as walk:
            for res in walk:
                if len(batch) >= PULL_BATCH:
                    # More records follow: the cursor may not leave the last record's second
                    # yet (the next batch may hold more records of that second).
                    done += len(batch)
                    self._pull_batch(ent, batch, final=False)
                    self._progress(ent.entity, done, "reading changes from the CRM")
                    batch = []
                batch.append(res)
        if batch:  # flushed before appending, so the last batch is never empty
            done += len(batch)
            self._pull_batch(ent, batch, final=True)
            self._progress(ent.entity, done, "reading changes from the CRM")

    def _pull_batch(self, ent: _Entity, batch: list[Resource], *, final: bool) -> None:
        """Apply a batch of pulled records in one transaction, with the cursor (each record
        in its own savepoint, so one bad record does not undo the others)."""
        if self._dry:
            for res in batch:
                self._pull_record(ent, res)
            return
        remote_first: list[tuple[Resource, Callable[[], None]]] = []
        # A record read twice (the walk re-reads a boundary second) counts once, as read last.
        unique = list({res.id: res for res in batch}.values())
        with self.store.transaction():
            ent.batch_links = self.state.links_by_crm(ent.entity, [r.id for r in unique])
            try:
                for res in unique:
                    deferred = self._pull_record(ent, res, batched=True)
                    if deferred is not None:
                        remote_first.append((res, deferred))
                self._create_fresh(ent)
            finally:
                ent.batch_links, ent.fresh = None, {}
            last = batch[-1]
            cur = self.state.cursor(ent.entity)
            if last.updated_at:
                cur.crm_updated_at = self._cursor_after(last) if final else last.updated_at
                cur.crm_id = ""
            self.state.put_cursor(cur)
            ent.cursor = cur
        # Pairs whose merge writes the CRM too run outside the batch transaction (no HTTP
        # inside a held write lock); their local half follows their CRM half.
        for _res, run in remote_first:
            run()
        self._collect_young()

    def _pull_record(self, ent: _Entity, res: Resource, *, reason: str = "",
                     batched: bool = False) -> Callable[[], None] | None:
        """Plan (and apply) what one pulled CRM record needs. ``batched`` (inside a pulled
        batch's transaction): a new record waits in ``ent.fresh`` to be inserted with the
        batch's others, and a pair that needs a CRM write is returned as a callable to run
        after the batch commits."""
        if not self._visible(ent, res) or self._skipped(ent, res):
            return None
        try:
            crm = mapping.from_crm(ent.entity, res)
        except MappingError as exc:
            self._record_error(ent, side="crm", ref=res.id, item_id=None, crm_id=res.id,
                               name=res.id, exc=exc)
            return None
        name = mapping.display_name(ent.entity, crm)
        if ent.batch_links is not None:
            link = ent.batch_links.get(res.id)
        else:
            link = self.state.link_by_crm(ent.entity, res.id)
        item = self.store.get(link.item_id) if link else None
        if link is not None and item is None:
            if not ent.cfg.pulls:
                return None
            action: Action = CreateLocal(
                ent.entity, name, crm_id=res.id, canonical=crm,
                names=ent.names(create=True, to_local=True), crm_updated_at=res.updated_at,
                reason=reason or "recreated: deleted locally")
            if self._emit(action):
                self._guarded(ent, "crm", res.id, None, name,
                              lambda: self._apply_create_local(ent, action))  # type: ignore
            return None
        base = self._effective_base(ent, link.base if link else None, crm, res.id,
                                    link.item_id if link else None)
        link_kind = LinkLocal if link is None else UpdateLocal
        if item is None:
            # Not linked: an unlinked item holding this crm_id, else one with the same key.
            item = self._key_match(ent, crm, res.id, self._own_uid(ent, res))
            if item is not None and item.id in ent.own_creates:
                # The record a killed run's create made: what that create sent is the base
                # (a local edit since then is not overwritten as if the pair were new).
                base = self._effective_base(ent, None, crm, res.id, item.id)
            if item is None:
                action = CreateLocal(ent.entity, name, crm_id=res.id, canonical=crm,
                                     names=ent.names(create=True, to_local=True),
                                     crm_updated_at=res.updated_at, fresh=True)
                if self._emit(action):
                    if batched:
                        ent.fresh[res.id] = action  # type: ignore[assignment]
                    else:
                        # store.add is atomic by itself: no savepoint of our own is needed.
                        self._guarded(ent, "crm", res.id, None, name,
                                      lambda: self._apply_create_local(ent, action),  # type: ignore
                                      savepoint=False)
                return None
        if item.id in ent.handled:
            return None
        ent.handled.add(item.id)
        try:
            local = self._from_local(ent.entity, item.fields)
        except MappingError as exc:
            self._record_error(ent, side="crm", ref=res.id, item_id=item.id, crm_id=res.id,
                               name=name, exc=exc)
            return None
        direction = ent.cfg.direction
        if link is not None and base is not None and all(
                local.get(n) == base.get(n) == crm.get(n) for n in ent.active):
            # The boundary re-read or our own write: nothing changed. A base corrected for a
            # killed run's write is committed now (and that write forgotten): left stale, it
            # would make the user's next edit look like a conflict with the CRM.
            if link is not None and not self._dry and (
                    base != link.base or self._in_flight(ent, res.id, item.id)):
                with self.store.transaction():
                    self.state.put_link(ent.entity, item.id, res.id, base, res.updated_at,
                                        link.synced_rev)
            return None
        # An event where the user is only an attendee comes from the CRM but is never sent.
        read_only = mapping.crm_read_only(ent.entity, res)
        m = merge(CRM_TO_LOCAL if direction == CRM_TO_LOCAL or read_only else BOTH,
                  ent.cfg.policy, ent.rows, local, crm, base)
        if m.to_crm and (ent.phase == "pull" or (
                item is not None and self._held(ent.entity).get(item.id) == item.rev)
                or (self.settings.sync_type == "selected" and not item.crm_sync)):
            # A pull-only pass (or a change the user dropped from the queue, or an item the
            # user took out of a "selected" sync) writes nothing to the CRM: those fields keep
            # their old base, so the next push still sees them as changed locally (and
            # decides them then).
            for f in m.to_crm:
                m.base[f] = base.get(f) if base is not None else crm.get(f)
            m.conflicts = [c for c in m.conflicts if c.winner != "local"]
            m.to_crm = {}
            defer_push = True
        else:
            defer_push = False
        actions: list[Action] = []
        if m.to_crm:
            actions.append(UpdateRemote(
                ent.entity, name, item_id=item.id, crm_id=res.id, values=m.to_crm,
                canonical={**crm, **m.to_crm}, current=res,
                base=None if (m.to_local or link is None) else m.base,
                conflicts=[] if (m.to_local or link is None) else m.conflicts))
        if m.to_local or link is None or (not m.to_crm and m.conflicts):
            actions.append(link_kind(
                ent.entity, name, item_id=item.id, crm_id=res.id, values=m.to_local,
                base=m.base, crm_updated_at=res.updated_at, conflicts=m.conflicts,
                defer_push=defer_push))
        elif not m.to_crm and not self._dry and link is not None and (
                m.base != link.base or self._in_flight(ent, res.id, item.id)):
            # Nothing to write on either side, but the base moved (a one-way row, a killed
            # run's write recognised): keep it.
            with self.store.transaction():
                self.state.put_link(ent.entity, item.id, res.id, m.base, res.updated_at,
                                    link.synced_rev)
        todo = [a for a in actions if self._emit(a)]
        if not todo:
            if read_only:
                ent.handled.discard(item.id)  # the push says why its local edits stay local
            return None

        def apply() -> None:
            for a in todo:
                ok = self._guarded(ent, "crm", res.id, item.id, name,
                                   partial(self._apply, ent, a))
                if not ok:
                    return  # the local half must not record a base the CRM does not hold

        if batched and any(isinstance(a, UpdateRemote) for a in todo):
            return apply
        apply()
        return None

    def _cursor_after(self, last: Resource) -> str:
        """The changed-since position after ``last`` (read from ``updatedAt >= it``).

        updatedAt has one-second resolution: a record may change again within the second t
        of the last record read, keeping the same stamp. While that second may still be
        open, the cursor stays at t and the next run re-reads the whole second (comparing
        with the base, so nothing is written twice). Once the server's clock (the Date of
        the answer just read) is two seconds past t, no write can carry t any more: the
        cursor moves to t + 1 s, so a run after a run re-reads nothing.
        """
        stamp = str(last.updated_at)
        try:
            if _shift(self.crm.server_time(), 0) >= _shift(stamp, 2):
                return _shift(stamp, 1)
        except (ValueError, CrmError):
            pass
        return stamp

    def _effective_base(self, ent: _Entity, base: Canonical | None, crm: Canonical,
                        crm_id: str, item_id: str | None) -> Canonical | None:
        """The base, corrected for a CRM write of a killed run (see ``SyncState.put_write``):
        a field the CRM holds with exactly the value that run sent is our own write, so it
        counts as synced rather than as a CRM edit that would beat a newer local edit."""
        pending = self.state.writes_for(ent.entity, crm_id,
                                        f"item:{item_id}" if item_id else None)
        if not pending:
            return base
        effective = dict(base or {})
        for f, sent in pending.items():
            if crm.get(f) in sent:   # any of the values sent: several runs may have died
                effective[f] = crm.get(f)
        return effective if (effective or base is not None) else None

    @staticmethod
    def _own_uid(ent: _Entity, res: Resource) -> str | None:
        """An event's uid: the id of the local item whose create made it, when this client
        created it (``_apply_create_remote``)."""
        uid = res.attributes.get("uid") if ent.entity == "events" else None
        return uid if isinstance(uid, str) and uid else None

    def _in_flight(self, ent: _Entity, crm_id: str, item_id: str) -> bool:
        """Whether a killed run's CRM write for this pair is still recorded."""
        return bool(self.state.writes_for(ent.entity, crm_id, f"item:{item_id}"))

    def _key_match(self, ent: _Entity, crm: Canonical, crm_id: str,
                   uid: str | None = None) -> Any | None:
        """The unlinked local item that holds ``crm_id``; else the item whose create (its
        answer lost) sent the record's ``uid``; else the oldest unlinked local item (by
        created_at, id) whose key equals the record's; else None."""
        if ent.key_index is None:
            # Built once per run, lazily: incremental runs that meet no new CRM record never
            # scan the local items.
            index: dict[tuple[Any, ...], list[str]] = {}
            held: dict[str, str] = {}
            linked = self.state.linked_item_ids(ent.entity)
            intents = self.state.intents(ent.entity)
            sent_rows = self._sent_key_rows(ent) if intents else None
            for item in self.store.iter_items(ent.entity):
                if item.crm_id:
                    if item.id not in linked:
                        held[item.crm_id] = item.id
                    continue
                try:
                    local = self._from_local(ent.entity, item.fields)
                except MappingError:
                    continue
                k = mapping.record_key(local, ent.key_rows)
                if k is not None:
                    index.setdefault(k, []).append(item.id)
                if item.id in intents:
                    ent.own_creates.add(item.id)
                    index.setdefault(("uid", item.id), []).append(item.id)
                    if sent_rows is not None:
                        # The record of a create whose answer was lost holds only what the
                        # create sent: a key field it did not send cannot match (Sync
                        # Birthdays off, a disabled row).
                        index.setdefault(("sent", self._match_key(ent, local, sent_rows)),
                                         []).append(item.id)
            ent.key_index, ent.held = index, held
        if not ent.key_index and not ent.held:
            return None  # no unlinked local item at all (a first sync into an empty store)
        holder_id = ent.held.pop(crm_id, None) if ent.held else None
        if holder_id is not None:
            holder = self.store.get(holder_id)
            if holder is not None and holder.crm_id == crm_id:
                return holder
        key = mapping.record_key(crm, ent.key_rows)
        lookups = [] if key is None else [key]
        if ent.own_creates and uid is not None:
            lookups.insert(0, ("uid", uid))
        if ent.own_creates and (sent_rows := self._sent_key_rows(ent)) is not None:
            lookups.append(("sent", self._match_key(ent, crm, sent_rows)))
        for k in lookups:
            candidates = ent.key_index.get(k)
            while candidates:
                item_id = candidates.pop(0)
                item = self.store.get(item_id)
                if item is not None and not item.crm_id and item.id not in ent.handled:
                    return item
        return None

    # -- 5. push -----------------------------------------------------------------------------

    def _push(self, ent: _Entity) -> None:
        watermark = 0 if ent.first and not ent.cursor.local_rev else ent.cursor.local_rev
        ceiling = self.store.max_rev()
        retry_ids = self.state.pending(ent.entity, "local")
        seen: set[str] = set()
        batch: list[Any] = []
        done = 0

        def items() -> Iterator[Any]:
            for item_id in retry_ids:
                item = self.store.get(item_id)
                if item is None:
                    if not self._dry:
                        with self.store.transaction():
                            self.state.clear_pending(ent.entity, "local", item_id)
                    continue
                yield item
            # Items this run wrote or linked already are passed over unread.
            yield from self.store.changed_since(ent.entity, watermark, skip=ent.handled)

        for item in items():
            if item.id in seen:
                continue
            seen.add(item.id)
            batch.append(item)
            if len(batch) >= PUSH_BATCH:
                done += len(batch)
                self._push_batch(ent, batch)
                self._progress(ent.entity, done, "sending local changes")
                batch = []
        if batch:
            done += len(batch)
            self._push_batch(ent, batch)
            self._progress(ent.entity, done, "sending local changes")
        if not self._dry:
            cur = self.state.cursor(ent.entity)
            # Everything up to the revision current at the start was read; writes made since
            # (ours included) are met next time and compared with the base.
            cur.local_rev = max(cur.local_rev, ceiling)
            with self.store.transaction():
                self.state.put_cursor(cur)
            ent.cursor = cur

    def _held(self, entity: str) -> dict[str, int]:
        """Changes the user dropped from the queue: skipped while the item's rev equals its
        hold (tray_client.history.queue owns the table)."""
        from ..history.queue import held_revs  # lazy: history imports sync

        return held_revs(self.store.connection, entity)

    def _push_batch(self, ent: _Entity, batch: list[Any]) -> None:
        selected = self.settings.sync_type == "selected"
        updates: list[tuple[Any, Canonical, Link | None]] = []
        creates: list[tuple[Any, Canonical]] = []
        held = self._held(ent.entity)
        for item in batch:
            if item.id in ent.handled or (selected and not item.crm_sync):
                continue
            if held.get(item.id) == item.rev:
                continue  # dropped from the queue by the user (until it changes again)
            link = self.state.link_by_item(item.id)
            if link is not None and item.rev == link.synced_rev:
                continue  # our own write, already in the base
            try:
                local = self._from_local(ent.entity, item.fields)
            except MappingError as exc:
                self._record_error(ent, side="local", ref=item.id, item_id=item.id,
                                   crm_id=item.crm_id, name=item.display_name, exc=exc)
                continue
            if link is not None:
                # Unchanged since the base, unless a killed run's write may have changed the
                # CRM (the pair then needs a look at the CRM record).
                if all(local.get(n) == link.base.get(n) for n in ent.names(
                        create=False, to_local=False)) and not self._in_flight(
                            ent, link.crm_id, item.id):
                    self._clear_pending_local(ent, item.id)
                    continue  # no mapped field changed locally
                updates.append((item, local, link))
            elif item.crm_id:
                updates.append((item, local, None))  # holds a crm_id: adopt or delete
            else:
                creates.append((item, local))
        if updates:
            ids = [link.crm_id if link else item.crm_id for item, _l, link in updates]
            current = self._fetch(ent, ids)
            for item, local, link in updates:
                crm_id = link.crm_id if link else item.crm_id
                ent.handled.add(item.id)
                res = current.get(crm_id)
                if res is None:
                    # Local → CRM and Both: "crm_id no longer in the CRM → deleted locally".
                    action: Action = DeleteLocal(ent.entity, item.display_name, item_id=item.id,
                                                 crm_id=crm_id, reason="no longer in the CRM")
                    if self._emit(action):
                        self._apply_delete_local(ent, action)  # type: ignore[arg-type]
                    continue
                self._push_pair(ent, item, local, res, link)
        if creates:
            self._push_creates(ent, creates)
        self._collect_young()

    def _push_pair(self, ent: _Entity, item: Any, local: Canonical, res: Resource,
                   link: Link | None) -> None:
        name = item.display_name
        if self._skipped(ent, res, item=item, link=link):
            return
        try:
            crm = mapping.from_crm(ent.entity, res)
        except MappingError:
            crm = {}  # a malformed CRM value is overwritten by the local one
        direction = LOCAL_TO_CRM if ent.cfg.direction == LOCAL_TO_CRM else BOTH
        read_only = mapping.crm_read_only(ent.entity, res)
        if read_only:
            # Only an attendee: local edits stay local (never sent); CRM changes still come.
            direction = CRM_TO_LOCAL
        base = self._effective_base(ent, link.base if link else None, crm, res.id, item.id)
        m = merge(direction, ent.cfg.policy, ent.rows, local, crm, base)
        actions: list[Action] = []
        kind = UpdateRemote if link else LinkRemote
        if m.to_crm or link is None:
            actions.append(kind(ent.entity, name, item_id=item.id, crm_id=res.id,
                                values=m.to_crm, canonical={**crm, **m.to_crm}, current=res,
                                base=None if m.to_local else m.base,
                                conflicts=[] if m.to_local else m.conflicts))
        if m.to_local:
            actions.append(UpdateLocal(ent.entity, name, item_id=item.id, crm_id=res.id,
                                       values=m.to_local, base=m.base,
                                       crm_updated_at=res.updated_at, conflicts=m.conflicts))
        if not actions and not self._dry:
            with self.store.transaction():
                self.state.put_link(ent.entity, item.id, res.id, m.base, res.updated_at,
                                    item.rev)
                self.state.clear_pending(ent.entity, "local", item.id)
                if read_only and any(local.get(n) != crm.get(n)
                                     for n in ent.names(create=False, to_local=False)):
                    # Said once per local change (the item's revision is recorded above).
                    self._report(ent, item_id=item.id, crm_id=res.id, name=name,
                                 action="skipped", direction="local_to_crm", status="skipped",
                                 message="only an attendee of this event: local changes are "
                                         "kept on this computer and not sent to the CRM")
        for a in actions:
            if self._emit(a) and not self._guarded(ent, "local", item.id, item.id, name,
                                                   partial(self._apply, ent, a)):
                return

    def _push_creates(self, ent: _Entity, creates: list[tuple[Any, Canonical]]) -> None:
        intents = self.state.intents(ent.entity)
        first_l2c = ent.first and ent.cfg.direction == LOCAL_TO_CRM
        for item, local in creates:
            ent.handled.add(item.id)
            res = None
            if first_l2c or item.id in intents:
                res = self._match_remote(ent, local, intents,
                                         own=item.id if item.id in intents else None)
            if res is not None:
                self._push_pair(ent, item, local, res, None)
                continue
            action = CreateRemote(ent.entity, item.display_name, item_id=item.id,
                                  canonical=local, names=ent.names(create=True, to_local=False))
            if self._emit(action):
                self._guarded(ent, "local", item.id, item.id, item.display_name,
                              partial(self._apply_create_remote, ent, action, item))

    def _match_remote(self, ent: _Entity, local: Canonical, intents: dict[str, str], *,
                      own: str | None = None) -> Resource | None:
        """A CRM record to link instead of creating one: on a Local → CRM first sync, a
        record with the same key ("local values replace CRM"); after a killed run, the record
        its create made (same key, or the same values when the key is empty, among records
        changed since the oldest intent; ``own``: the id of an item with such an intent, so
        its event is the one carrying it as uid, and the key counts only the fields its
        create sent). Each record is handed out once."""
        if ent.remote_index is None:
            if ent.first and ent.cfg.direction == LOCAL_TO_CRM:
                since = None
            else:
                since = Cursor(_shift(min(intents.values()), -INTENT_MARGIN), "")
            linked = self.state.linked_crm_ids(ent.entity)
            sent_rows = self._sent_key_rows(ent) if intents else None
            index: dict[Any, list[Resource]] = {}
            for res in self.crm.iter_changed(ent.crm_type, since, filters=ent.filters,
                                             include=ent.include, page_size=1000):
                if res.id in linked or not self._visible(ent, res):
                    continue
                try:
                    crm = mapping.from_crm(ent.entity, res)
                except MappingError:
                    continue
                index.setdefault(self._match_key(ent, crm), []).append(res)
                if (uid := self._own_uid(ent, res)) in intents:
                    index.setdefault(("uid", uid), []).append(res)
                if sent_rows is not None:
                    index.setdefault(("sent", self._match_key(ent, crm, sent_rows)),
                                     []).append(res)
            for candidates in index.values():
                candidates.sort(key=lambda r: mapping._id_order(r.id))
            ent.remote_index = index
        lookups = [self._match_key(ent, local)]
        if own:
            lookups.insert(0, ("uid", own))
        if own and (sent_rows := self._sent_key_rows(ent)) is not None:
            lookups.append(("sent", self._match_key(ent, local, sent_rows)))
        for k in lookups:
            found = ent.remote_index.get(k)
            if found:
                res = found.pop(0)
                for candidates in ent.remote_index.values():  # handed out once
                    if res in candidates:
                        candidates.remove(res)
                return res
        return None

    def _sent_key_rows(self, ent: _Entity) -> list[str] | None:
        """The key fields a create sends to the CRM, when some key field is not sent (else
        None: the key itself recognises the record a create made)."""
        sent = set(ent.names(create=True, to_local=False))
        rows = [r for r in ent.key_rows if r in sent]
        return None if rows == ent.key_rows else rows

    @staticmethod
    def _match_key(ent: _Entity, canonical: Canonical, rows: list[str] | None = None) -> Any:
        key = mapping.record_key(canonical, ent.key_rows if rows is None else rows)
        if key is not None:
            return ("key", key)
        # No key to go by: only a record with the very same mapped values matches.
        return ("values", mapping.record_key(canonical, ent.names(create=True, to_local=False)))

    def _skipped(self, ent: _Entity, res: Resource, *, item: Any = None,
                 link: Link | None = None) -> bool:
        """A record left untouched on both sides (a recurring event): listed in the report as
        skipped each time it is met. A pushed item's revision is recorded as handled (its
        base kept), so an unchanged item is not met again at every push."""
        reason = mapping.skip_reason(ent.entity, res)
        if reason is None:
            return False
        if self._dry:
            return True
        name = item.display_name if item is not None else str(
            res.attributes.get("title") or res.attributes.get("subject") or res.id)
        with self.store.transaction():
            if item is not None and link is not None:
                self.state.put_link(ent.entity, item.id, res.id, link.base,
                                    link.crm_updated_at, item.rev)
            if item is not None:
                self.state.clear_pending(ent.entity, "local", item.id)
            self.state.clear_pending(ent.entity, "crm", res.id)
            self._report(ent, item_id=item.id if item is not None else None, crm_id=res.id,
                         name=name, action="skipped",
                         direction="local_to_crm" if item is not None else "crm_to_local",
                         status="skipped", message=reason)
        return True

    # -- fetching ----------------------------------------------------------------------------

    def _fetch(self, ent: _Entity, crm_ids: Sequence[str]) -> dict[str, Resource]:
        """The CRM records with these ids that still exist (``filter[id]``, in chunks) and
        are the user's to sync (events: in the user's calendar)."""
        result: dict[str, Resource] = {}
        ids = list(dict.fromkeys(crm_ids))
        for start in range(0, len(ids), PUSH_BATCH):
            chunk = ids[start:start + PUSH_BATCH]
            for res in self.crm.iter_collection(ent.crm_type,
                                                filters={**ent.filters, "id": chunk},
                                                include=ent.include, sort="id",
                                                page_size=len(chunk)):
                result[res.id] = res
        return result

    # -- applying ----------------------------------------------------------------------------

    def _guarded(self, ent: _Entity, side: str, ref: str, item_id: str | None, name: str,
                 apply: Callable[[], None], *, savepoint: bool = True) -> bool:
        """Apply one action; a record-level failure becomes a report row and a retry."""
        self._check_cancel()
        try:
            if savepoint and self.store.connection.in_transaction:
                with self.store.transaction():  # a savepoint inside the batch
                    apply()
            else:
                apply()
            return True
        except RECORD_ERRORS as exc:
            crm_id = ref if side == "crm" else None
            self._record_error(ent, side=side, ref=ref, item_id=item_id, crm_id=crm_id,
                               name=name, exc=exc)
            return False

    def _apply(self, ent: _Entity, action: Action) -> None:
        if isinstance(action, UpdateRemote):
            self._apply_update_remote(ent, action)
        elif isinstance(action, UpdateLocal):
            self._apply_update_local(ent, action)
        else:  # pragma: no cover - every planned kind is handled above or directly
            raise TypeError(action)

    def _apply_delete_local(self, ent: _Entity, action: DeleteLocal) -> None:
        assert self._result is not None
        with self.store.transaction():
            if self.store.get(action.item_id) is not None:
                self.store.delete(action.item_id, reason="sync_delete",
                                  run_id=self._result.run_id)
                self._count(ent.entity, "local", "deleted")
            if action.crm_id:
                self.state.drop_link(ent.entity, action.crm_id)
            self.state.clear_pending(ent.entity, "local", action.item_id)
            self._report(ent, item_id=action.item_id, crm_id=action.crm_id, name=action.name,
                         action="deleted", direction="crm_to_local", message=action.reason)

    def _apply_forget(self, ent: _Entity, action: ForgetLink) -> None:
        with self.store.transaction():
            self.state.drop_link(ent.entity, action.crm_id)
            self._report(ent, item_id=action.item_id, crm_id=action.crm_id, name=action.name,
                         action="unlinked", direction="crm_to_local", message=action.reason)

    def _apply_create_local(self, ent: _Entity, action: CreateLocal) -> None:
        fields = {k: v for k, v in mapping.to_local(ent.entity, action.canonical,
                                                    action.names).items() if v is not None}
        with self._txn():
            # A fresh record (no link, no item holding its id: known from the pull's index)
            # needs no look-ups; the first sync of a large CRM is made of these.
            old = None if action.fresh else self.state.link_by_crm(ent.entity, action.crm_id)
            holder = None if action.fresh else self.store.find_by_crm_id(ent.entity,
                                                                         action.crm_id)
            if holder is not None:
                # A stale item still holds this crm_id (its link is gone): it would block the
                # new item; it goes to the trash, as on a first sync.
                self.store.delete(holder.id, reason="sync_delete",
                                  run_id=self._result.run_id if self._result else None)
            item = self.store.add(ent.entity, fields, crm_sync=True, crm_id=action.crm_id)
            if old is not None:
                self.state.drop_link(ent.entity, action.crm_id)
            base = self._base_after_create(ent, action.canonical, item)
            self.state.put_link(ent.entity, item.id, action.crm_id, base,
                                action.crm_updated_at, item.rev)
            self.state.clear_pending(ent.entity, "crm", action.crm_id)
            self._count(ent.entity, "local", "created")
            self._report(ent, item_id=item.id, crm_id=action.crm_id, name=action.name,
                         action="created", direction="crm_to_local", message=action.reason)
        ent.handled.add(item.id)

    def _create_fresh(self, ent: _Entity) -> None:
        """Create the local items of the batch's new CRM records (``ent.fresh``) with one
        store call and their links and report rows with one statement each: the first sync
        of a large CRM is made of these. A record the store refuses (a bad value) is reported
        and retried next run like any other; should the bulk write itself fail, each record
        is created on its own."""
        actions = list(ent.fresh.values())
        ent.fresh = {}
        if not actions:
            return
        assert self._result is not None
        entries = [({k: v for k, v in mapping.to_local(ent.entity, a.canonical, a.names).items()
                     if v is not None}, a.crm_id) for a in actions]
        try:
            with self.store.transaction():  # a savepoint of the batch
                results = self.store.add_many(ent.entity, entries, crm_sync=True)
                created = [(a, r) for a, r in zip(actions, results) if not isinstance(r, StoreError)]
                self.state.put_links(ent.entity, [
                    (item.id, a.crm_id, self._base_after_create(ent, a.canonical, item),
                     a.crm_updated_at, item.rev) for a, item in created])
                for a, _item in created:
                    self.state.clear_pending(ent.entity, "crm", a.crm_id)
                self.state.add_report_rows(self._result.run_id, ent.entity, [
                    (item.id, a.crm_id, a.name, "created", "crm_to_local", a.reason)
                    for a, item in created])
        except StoreError:
            log.warning("Bulk insert of %d new %s failed; creating them one by one",
                        len(actions), ent.entity, exc_info=True)
            for a in actions:
                self._guarded(ent, "crm", a.crm_id, None, a.name,
                              partial(self._apply_create_local, ent, a))
            return
        self._result.counts[ent.entity]["local"]["created"] += len(created)
        ent.handled.update(item.id for _a, item in created)
        for a, r in zip(actions, results):
            if isinstance(r, StoreError):
                self._record_error(ent, side="crm", ref=a.crm_id, item_id=None,
                                   crm_id=a.crm_id, name=a.name, exc=r)

    def _txn(self) -> Any:
        """A store transaction, unless one (or a savepoint of the batch) is already open."""
        if self.store.connection.in_transaction:
            return nullcontext()
        return self.store.transaction()

    def _base_after_create(self, ent: _Entity, crm: Canonical, item: Any) -> Canonical:
        # The new item holds the CRM's values of every row written; a local→CRM-only row is
        # not written, so its local value is the base.
        local_only = [r.name for r in ent.rows if r.direction == "local_to_crm"
                      and r.name in ent.active]
        local = self._from_local(ent.entity, item.fields) if local_only else {}
        base = {n: crm.get(n) for n in ent.active}
        for n in local_only:
            base[n] = local.get(n)
        return base

    def _apply_update_local(self, ent: _Entity, action: UpdateLocal) -> None:
        linking = isinstance(action, LinkLocal)
        with self.store.transaction():
            item = self.store.get(action.item_id)
            if item is None:
                raise StoreError(f"The local item {action.item_id} disappeared during the sync.")
            fields = None
            if action.values:
                fields = dict(item.fields)
                for k, v in mapping.to_local(ent.entity, action.values,
                                             list(action.values)).items():
                    if v is None:
                        fields.pop(k, None)
                    else:
                        fields[k] = v
                if linking or action.conflicts:
                    # Local values being replaced are kept in the trash (restorable).
                    self.store.snapshot_to_trash(item, "sync_overwrite",
                                                 self._result.run_id if self._result else None)
            if linking or item.crm_id != action.crm_id:
                # One write: the values, the crm_id, and the crm_sync flag (items the CRM
                # links get it; sync type "selected" pushes them).
                item = self.store.link(item.id, action.crm_id, fields=fields)
            elif fields is not None:
                # A linked item keeps its flag: the user may have taken it out of the sync.
                item = self.store.replace_fields(item.id, fields)
            # A deferred push must not look like our own write to the next push (rev -1).
            self.state.put_link(ent.entity, item.id, action.crm_id, action.base,
                                action.crm_updated_at, -1 if action.defer_push else item.rev)
            self.state.clear_pending(ent.entity, "crm", action.crm_id)
            self.state.clear_pending(ent.entity, "local", item.id)
            if linking and item.id in ent.own_creates:
                self.state.drop_intent(item.id)  # its create's record is found: no retry
            if action.values:
                self._count(ent.entity, "local", "updated")
            self._report(ent, item_id=item.id, crm_id=action.crm_id, name=action.name,
                         action="linked" if linking else "updated", direction="crm_to_local",
                         message=", ".join(sorted(action.values)),
                         conflicts=action.conflicts)

    def _apply_update_remote(self, ent: _Entity, action: UpdateRemote) -> None:
        linking = isinstance(action, LinkRemote)
        res: Resource = action.current
        if action.values:
            write = mapping.to_crm(ent.entity, action.canonical, list(action.values),
                                   action.current, regions=self._crm_regions)
            # Remember what is being written: if the run dies before the new base is
            # committed, the next run recognises these values as its own, not as CRM edits.
            with self.store.transaction():
                self.state.put_write(ent.entity, action.crm_id, action.values)
            res = self.crm.update(ent.crm_type, action.crm_id, write.attributes,
                                  write.relationships or None, write.included or None)
            self._count(ent.entity, "crm", "updated")
        if action.base is None and not linking:
            return  # the local half of the pair records the base
        with self.store.transaction():
            item = self.store.get(action.item_id)
            if item is None:
                raise StoreError(f"The local item {action.item_id} disappeared during the sync.")
            if item.crm_id != action.crm_id:
                self.store.set_crm_id(item.id, action.crm_id)
                item = self.store.get(item.id)
            base = action.base
            if base is None:
                base = self._base_after_remote(ent, res, item)
            else:
                base = self._settle(ent, res, item, base)
            item = self.store.get(action.item_id)
            assert item is not None
            self.state.put_link(ent.entity, item.id, action.crm_id, base, res.updated_at,
                                item.rev)
            self.state.drop_intent(item.id)
            self.state.clear_pending(ent.entity, "local", item.id)
            self._report(ent, item_id=item.id, crm_id=action.crm_id, name=action.name,
                         action="linked" if linking else "updated", direction="local_to_crm",
                         message=", ".join(sorted(action.values)), conflicts=action.conflicts)

    def _settle(self, ent: _Entity, res: Resource, item: Any, base: Canonical) -> Canonical:
        """After a CRM write: if the CRM stored a value other than the one sent (a default,
        a normalisation), take it on both sides so the next sync has nothing to do."""
        try:
            stored = mapping.from_crm(ent.entity, res)
        except MappingError:
            return base
        fix = {r.name: stored.get(r.name) for r in ent.rows
               if r.to_local and r.name in base and stored.get(r.name) != base[r.name]
               and r.direction != "local_to_crm"}
        if fix:
            fields = dict(item.fields)
            for k, v in mapping.to_local(ent.entity, fix, list(fix)).items():
                if v is None:
                    fields.pop(k, None)
                else:
                    fields[k] = v
            local_now = self._from_local(ent.entity, item.fields)
            if any(local_now.get(k) != v for k, v in fix.items()):
                self.store.replace_fields(item.id, fields)
            base = {**base, **fix}
        return base

    def _base_after_remote(self, ent: _Entity, res: Resource, item: Any) -> Canonical:
        local = self._from_local(ent.entity, item.fields)
        base = {n: local.get(n) for n in ent.active}
        return self._settle(ent, res, item, base)

    def _apply_create_remote(self, ent: _Entity, action: CreateRemote, item: Any) -> None:
        assert self._result is not None
        # Built first: a record Oro would refuse (an address without a country …) is a
        # MappingError for this item, with no intent left behind.
        write = mapping.to_crm(ent.entity, action.canonical, action.names, None,
                               calendar_id=self._calendar or None, regions=self._crm_regions)
        if ent.entity == "events":
            # The event's uid is the item's id: a create whose answer was lost is recognised
            # by it even when its key fields were edited in the CRM since (``_own_uid``).
            write.attributes["uid"] = item.id
        # The intent is committed before the request: if the answer is lost (killed, network),
        # the next run looks for the record by key before creating it again.
        when = self.crm.server_time()
        with self.store.transaction():
            self.state.add_intent(ent.entity, item.id, when)
            self.state.put_write(ent.entity, f"item:{item.id}",
                                 {n: action.canonical.get(n) for n in action.names})
        res = self.crm.create(ent.crm_type, write.attributes, write.relationships or None,
                              write.included or None)
        with self.store.transaction():
            current = self.store.get(item.id)
            if current is None:
                # Deleted locally while we were creating: keep the CRM record (local
                # deletions never delete in the CRM) and forget nothing: no link to make.
                self.state.drop_intent(item.id)
                return
            self.store.set_crm_id(item.id, res.id)
            current = self.store.get(item.id)
            base = self._base_after_remote(ent, res, current)
            current = self.store.get(item.id)
            self.state.put_link(ent.entity, item.id, res.id, base, res.updated_at,
                                current.rev if current else 0)
            self.state.drop_intent(item.id)
            self.state.clear_pending(ent.entity, "local", item.id)
            self._count(ent.entity, "crm", "created")
            self._report(ent, item_id=item.id, crm_id=res.id, name=action.name,
                         action="created", direction="local_to_crm")

    def _clear_pending_local(self, ent: _Entity, item_id: str) -> None:
        if not self._dry and self.state.pending(ent.entity, "local"):
            with self.store.transaction():
                self.state.clear_pending(ent.entity, "local", item_id)
