"""The sync engine: plan, then apply (the rules: docs/sync-rules.md).

Per entity, in this order (``SyncEngine._sync_entity``):

1. first sync / resync: unlinked local items that carry a ``crm_id`` are deleted (into the
   trash) — the seed's "records with a non-empty OroCRM_id are deleted first";
2. records deleted in the CRM (removals feed, and a periodic ids reconciliation) — guarded
   against mass deletion *before* anything is deleted;
3. linked items deleted locally (recreated from the CRM, or the link forgotten);
4. pull: CRM records changed since the cursor (re-reading the cursor's second), matched by
   link, then by a held ``crm_id``, then by key; each batch commits with the cursor;
5. push: local items changed since the watermark, compared with the base; creates are
   preceded by a committed intent so that a killed run never creates a record twice.

Steps 1-3 are in ``deletions``, 4 in ``pull``, 5 in ``push``; finding partners and bases in
``matching``, the per-field decision in ``merge``, and applying each kind of action in
``apply``. ``plan`` runs the same steps with a ``PlanContext``: the actions are recorded and
nothing is written.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from typing import Any

from ..crm.verdict import verdict_for
from ..errors import (
    AuthError,
    ConfigurationError,
    CrmError,
    DeletionGuardError,
    OfflineError,
    StoreError,
    TlsError,
)
from ..settings import Settings
from ..times import utc_text
from . import mapping
from .actions import SyncPlan
from .apply import write_links
from .config import Direction, EntityConfig, entity_config
from .context import (
    Cancelled,
    CrmLookups,
    EntityPass,
    PlanContext,
    RunContext,
    SyncObserver,
)
from .deletions import (
    RECONCILE_SECONDS,
    crm_ids_check,
    crm_removals,
    first_sync_deletions,
    local_deletions,
)
from .mapping import ENTITIES
from .pull import pull
from .push import push
from .report import Outcome, SyncResult, empty_counts
from .rules import SECTION_META, section_subset
from .state import EntityCursor, SyncState

log = logging.getLogger(__name__)

PHASES = ("both", "pull", "push")
ENTITY_WORDS = {"contacts": "contacts", "tasks": "tasks", "events": "calendar events"}


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


def _joined(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


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
        self.lookups = CrmLookups(crm)   # the user, their calendar, regions: read once

    # -- public ------------------------------------------------------------------------------

    def plan(self, *, entities: Sequence[str] | None = None, phase: str = "both",
             resync: bool = False) -> SyncPlan:
        """What ``run`` would do now, without writing anything on either side.

        Raises CrmError when the CRM cannot be read.
        """
        names = self._entities(entities)
        result = SyncResult(run_id="plan", trigger="plan", started_at=utc_text(),
                            counts=empty_counts(names))
        # A plan looks as far as a manual sync does (the full ids check included).
        run = PlanContext(self.store, self.crm, self.settings, self.state, self.lookups,
                          result, trigger="manual")
        # (Not a change a plan would make: the links are there, their items only lag.)
        self._write_links()
        config = self.crm.configuration()
        for entity in names:
            cfg = entity_config(config, entity, self.settings)
            if cfg.enabled:
                # A plan shows every deletion: the guard is the run's business.
                self._sync_entity(run, cfg, phase, resync=resync, force_delete=True)
        return run.plan

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
        names = self._entities(entities)
        result = SyncResult(run_id=uuid.uuid4().hex, trigger=trigger, started_at=utc_text(),
                            counts=empty_counts(names))
        with _collector_paused() as collect_young:
            run = RunContext(self.store, self.crm, self.settings, self.state, self.lookups,
                             result, observer=self.observer, trigger=trigger, cancel=cancel,
                             collect_young=collect_young)
            with self.store.transaction():
                self.state.start_run(result.run_id, trigger, result.started_at)
            self._notify_state("syncing")
            guard = self._run_entities(run, names, phase, resync=resync,
                                       force_delete=force_delete, configuration=configuration)
            self._finish(result)
        if guard is not None:
            raise guard
        return result

    # -- the run -----------------------------------------------------------------------------

    def _run_entities(self, run: RunContext, names: list[str], phase: str, *, resync: bool,
                      force_delete: bool, configuration: dict[str, Any] | None
                      ) -> DeletionGuardError | None:
        """Sync each entity; the run's outcome and message go into ``run.result``. Returns
        the deletion guard's error when it stopped the run."""
        result = run.result
        done: list[str] = []   # entities finished (for a stopped run's "what is left")
        try:
            self._write_links()
            config = configuration if configuration is not None else self.crm.configuration()
            result.configuration = config
            self._remember_section(config)
            for entity in names:
                cfg = entity_config(config, entity, self.settings)
                if cfg.enabled:
                    self._sync_entity(run, cfg, phase, resync=resync, force_delete=force_delete)
                done.append(entity)
            result.outcome = Outcome.PARTIAL if result.errors else Outcome.OK
            if result.errors:
                result.message = (f"{len(result.errors)} record(s) failed; they are retried "
                                  "next time.")
        except Cancelled:
            result.outcome = Outcome.CANCELLED
            left = [ENTITY_WORDS.get(e, e) for e in names if e not in done] or ["some records"]
            result.message = (f"Sync cancelled before it finished: {_joined(left)} "
                              "not fully synced. What was synced so far is kept; the next sync "
                              "goes on from there.")
        except DeletionGuardError as exc:
            result.outcome, result.message = Outcome.GUARDED, exc.message
            return exc
        except OfflineError as exc:
            result.outcome, result.message = Outcome.OFFLINE, exc.message
        except (AuthError, TlsError, ConfigurationError, CrmError) as exc:
            # The same words Check Connection gives for this fault (one verdict function).
            verdict = verdict_for(exc)
            result.outcome, result.message = Outcome.FAILED, f"{verdict.title}: {verdict.message}"
        except StoreError as exc:
            result.outcome, result.message = Outcome.FAILED, f"{exc.title}: {exc.message}"
        return None

    def _write_links(self) -> None:
        """Write the items of the links a killed run's pull left (``apply.write_links``),
        before any step reads the items."""
        with self.store.lock:
            entities = self.state.unwritten_entities()
        for entity in entities:
            log.info("Writing the %s items a stopped sync linked", entity)
            write_links(self.store, self.state, entity)

    def _finish(self, result: SyncResult) -> None:
        """Record the run's end (and drop reports past their retention), then tell the
        observer."""
        result.finished_at = utc_text()
        try:
            with self.store.transaction():
                self.state.finish_run(result.run_id, result.finished_at, result.outcome,
                                      result.message, result.counts)
                cutoff = utc_text(dt.datetime.now(dt.UTC) - dt.timedelta(
                    days=max(1, self.settings.report_retention_days)))
                self.state.purge_runs(cutoff)
        except StoreError:
            log.exception("Could not record the end of sync run %s", result.run_id)
        self._notify_state(result.outcome)
        if self.observer is not None:
            self.observer.on_finished(result)

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

    def _remember_section(self, config: dict[str, Any] | None) -> None:
        """Keep the rule options of the CRM's Outlook section ({} without one), so that
        ``status`` and the Settings dialog show which rules the CRM sets, offline too."""
        subset = json.dumps(section_subset(config or {}), sort_keys=True)
        if self.state.meta(SECTION_META) != subset:
            with self.store.transaction():
                self.state.set_meta(SECTION_META, subset)

    # -- one entity --------------------------------------------------------------------------

    def _sync_entity(self, run: RunContext, cfg: EntityConfig, phase: str, *, resync: bool,
                     force_delete: bool) -> None:
        """One entity's pass: the five steps of the module docstring, then its cursor."""
        ent = self._entity_pass(run, cfg, phase, resync=resync)
        with closing(ent):   # its scratch indexes (``scratch``) go with the pass
            phase = ent.phase
            started = self.crm.server_time()
            run.progress(cfg.entity, 0, "starting")
            if ent.first:
                first_sync_deletions(run, ent, resync=resync)                          # 1
            looks_at_crm_deletions = (phase in ("both", "pull")
                                      or cfg.direction == Direction.LOCAL_TO_CRM)
            if looks_at_crm_deletions:
                crm_removals(run, ent, force_delete=force_delete, started=started)      # 2
            if (phase in ("both", "pull") and cfg.pulls) or (phase in ("both", "push")
                                                              and cfg.pushes):
                local_deletions(run, ent)                                               # 3
            if phase in ("both", "pull") and cfg.pulls:
                pull(run, ent)                                                          # 4
            if looks_at_crm_deletions:
                crm_ids_check(run, ent, force_delete=force_delete)                      # 2b
            if phase in ("both", "push") and cfg.pushes:
                push(run, ent)                                                          # 5

            def finish_pass() -> None:
                cursor = self.state.cursor(cfg.entity)
                if ent.first:
                    cursor.first_sync_done = True
                    cursor.removals_since = cursor.removals_since or started
                    cursor.ids_reconciled_at = cursor.ids_reconciled_at or time.time()
                self.state.put_cursor(cursor)

            run.commit(finish_pass)
            run.progress(cfg.entity, 0, "done")

    def _entity_pass(self, run: RunContext, cfg: EntityConfig, phase: str, *,
                     resync: bool) -> EntityPass:
        """What the entity's pass starts from (a resync first forgets every pair)."""
        entity = cfg.entity
        if resync:
            # A resync forgets everything known about the pairs (docs/sync-rules.md, "First
            # sync and resync"): the links go, so step 1 deletes every item carrying a
            # crm_id, as on a first sync.
            def forget_pairs() -> None:
                self.state.drop_links(entity)
                self.state.drop_cursor(entity)

            run.commit(forget_pairs)
        cursor = EntityCursor(entity) if resync else self.state.cursor(entity)
        first = resync or not cursor.first_sync_done
        if first and phase != "both":
            # A first sync is always complete; a scheduled pull or push before it does it all.
            phase = "both"
        ent = EntityPass(cfg, mapping.effective_rows(entity, self.settings),
                         mapping.key_rows(entity, cfg.keys, self.settings), cursor, first,
                         phase=phase)
        if entity == "events":
            # Only the user's own calendar (docs/sync-rules.md, "Mapping").
            calendar = self.lookups.calendar_id()
            if not calendar:
                raise ConfigurationError("The CRM user has no calendar to sync events with.",
                                         title="No calendar")
            ent.filters = {"calendar": calendar}
        reconciled_at = cursor.ids_reconciled_at
        # A full look at both sides' ids: hourly, and on demand (a manual full sync, or the
        # one after the connection changed in Settings).
        ent.full_due = not first and (
            reconciled_at is None or time.time() - reconciled_at > RECONCILE_SECONDS
            or (run.trigger in ("manual", "settings") and phase == "both"))
        return ent
