"""The push's CRM writes, a few in flight at once; everything local stays in order.

A push sends one request per changed record (Oro has no batch write for these types), and
most of a push's time was spent waiting for those answers one after the other. A
``WriteQueue`` takes a batch's pairs in order: the CRM half of a pair is prepared on the
sync's thread (its write built, its values committed as a write in flight or its create's
intent committed: docs/sync-rules.md, "Errors and crash safety") and its request handed to a
small pool of threads, which do nothing but talk to the CRM. ``flush`` then walks the pairs
in the order they came, waits for each answer and applies the rest of the pair on the sync's
thread (its base, its local half, its report rows): the store, the sync state and the report
are written exactly as a push one pair after the other writes them, in the same order.

What may be in flight together: writes of different CRM records and different local items
(a batch holds each item once; a second write for a record already in flight waits for the
first, ``pair``). Within one entity nothing the client writes refers to another record of
the batch (contacts, tasks and events carry no references to each other), so no create has
to land before another write.

Failures: a record-level error (400, 404, 409, 5xx …) is that pair's report row and retry,
as before; the others land. An error that stops the run (offline, authentication,
cancelled) stops it once the requests already sent have been answered: their pairs are
finished (their writes did happen), the pairs not yet sent are left as they were (their
write in flight or intent, committed before the request, tells the next run what may have
been written), and the first such error is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from ..crm import Resource
from ..errors import NotFoundError, ServerError
from .actions import Action, CreateRemote, UpdateRemote
from .apply import (
    RECORD_ERRORS,
    attempt,
    finish_create_remote,
    finish_update_remote,
    prepare_create_remote,
    prepare_update_remote,
)
from .context import EntityPass, RunContext

WRITERS = 4   # CRM requests in flight at once (a browser opens ~6 connections to a host)


@dataclass
class _Step:
    """One pair (its admitted actions, the first one's request when it writes the CRM), or
    a local step that only has to keep its place in the order (``later``)."""

    actions: list[Action] = field(default_factory=list)
    item_id: str | None = None
    ref: str = ""
    sent: Future[Resource | None] | None = None
    local: Callable[[], object] | None = None
    unread: bool = False   # the request answers None: the record is read back (``flush``)


class WriteQueue:
    """A push pass's pairs: CRM requests concurrent, everything else in order (see the
    module docstring). Use as a context manager; ``flush`` before anything that must see
    the writes made so far (a look-up among the CRM's records, the next batch)."""

    def __init__(self, run: RunContext, ent: EntityPass, *, side: str = "local",
                 workers: int | None = None) -> None:
        self.run = run
        self.ent = ent
        self.side = side
        self.workers = max(1, workers or WRITERS)
        self._pool: ThreadPoolExecutor | None = None
        self._steps: list[_Step] = []
        self._records: set[str] = set()   # CRM records with a write queued
        self._since: str | None = None     # the server's time before the first unread write

    def __enter__(self) -> WriteQueue:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        try:
            if error is None:
                self.flush()
            else:
                # The run stops (cancelled, offline …): the requests already sent are
                # answered and their pairs finished; nothing else is applied.
                self._flush(stop=error)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the pool: requests not started are dropped, running ones are waited for."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # -- queueing ------------------------------------------------------------------------------

    def later(self, step: Callable[[], object]) -> None:
        """A local step (a report row, a local deletion) applied in its place in the order."""
        self._steps.append(_Step(local=step))

    def pair(self, actions: list[Action], *, item_id: str | None, ref: str) -> None:
        """A pair's admitted actions, in order (a CRM write first, if any). A CRM write is
        prepared now and its request sent; the rest waits for ``flush``. A pair whose
        preparation fails (a record Oro would refuse) is reported and retried, as
        ``apply.attempt`` does."""
        if not actions:
            return
        step = _Step(actions=actions, item_id=item_id, ref=ref)
        first = actions[0]
        if isinstance(first, UpdateRemote | CreateRemote):
            record = first.crm_id if isinstance(first, UpdateRemote) else None
            if record is not None and record in self._records:
                self.flush()   # one write per CRM record at a time, in order
            self.run.check_cancel()
            try:
                if isinstance(first, UpdateRemote):
                    # An event's PUT answer is not the event: the queue's events are read
                    # back together, with one changed-since listing, at ``flush``.
                    step.unread = bool(first.values) and self.ent.entity == "events"
                    if step.unread and self._since is None:
                        self._since = self.run.crm.server_time()   # before the first PUT
                    request = prepare_update_remote(self.run, self.ent, first,
                                                    unread=step.unread)
                else:
                    request = prepare_create_remote(self.run, self.ent, first)
            except RECORD_ERRORS as exc:
                # Reported in its place in the order, as a push one pair at a time does.
                self.later(partial(self._record_error, step, first, exc))
                return
            step.sent = self._submit(request)
            if record is not None:
                self._records.add(record)
        self._steps.append(step)

    def _submit(self, request: Callable[[], Resource | None]) -> Future[Resource | None]:
        if self.workers == 1:
            done: Future[Resource | None] = Future()
            try:
                done.set_result(request())
            except BaseException as exc:  # handed to flush, as a pool does
                done.set_exception(exc)
            return done
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="crm-write")
        return self._pool.submit(request)

    # -- applying ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Wait for the queued requests and apply every step in order (see the module
        docstring for what happens when the run has to stop)."""
        stop = self._flush(stop=None)
        if stop is not None:
            raise stop

    def _flush(self, *, stop: BaseException | None) -> BaseException | None:
        """``flush``; returns the error that stops the run (``stop`` if given) instead of
        raising it."""
        steps, self._steps, self._records = self._steps, [], set()
        since, self._since = self._since, None
        if stop is not None:
            self._cancel(steps)
        read = self._read_back(steps, since)
        for index, step in enumerate(steps):
            work: Callable[[], object] | None = None
            if step.local is not None:
                work = step.local
            elif step.sent is None:
                work = partial(self._apply, step, step.actions)
            else:
                try:
                    answer = step.sent.result()
                    res = read[step.item_id or ""]() if step.unread else answer
                    if res is None:
                        raise ServerError("The CRM's answer to a write is not the record.")
                except CancelledError:
                    continue   # never sent: its write in flight tells the next run
                except RECORD_ERRORS as exc:
                    self._record_error(step, step.actions[0], exc)
                    continue
                except BaseException as exc:  # raised once the sent ones are done
                    if stop is None:
                        stop = exc
                        self._cancel(steps[index + 1:])
                    continue
                first = step.actions[0]
                try:
                    if isinstance(first, UpdateRemote):
                        finish_update_remote(self.run, self.ent, first, res)
                    else:
                        assert isinstance(first, CreateRemote)
                        finish_create_remote(self.run, self.ent, first, res)
                except RECORD_ERRORS as exc:
                    self._record_error(step, first, exc)
                    continue
                work = partial(self._apply, step, step.actions[1:])
            if stop is None:
                try:
                    work()
                except BaseException as exc:  # the sent ones are still finished
                    stop = exc
                    self._cancel(steps[index + 1:])
        return stop

    def _read_back(self, steps: list[_Step], since: str | None
                   ) -> dict[str, Callable[[], Resource]]:
        """The records of the ``unread`` writes that landed, read back at once (see
        ``CrmClient.read_back``), by item id: each a function that returns the record or
        raises what reading it met (NotFoundError when it is gone)."""
        landed: dict[str, str] = {}
        for step in steps:
            if step.unread and step.sent is not None and not step.sent.cancelled():
                try:
                    step.sent.result()
                except BaseException:  # the loop of ``_flush`` deals with it
                    continue
                first = step.actions[0]
                assert isinstance(first, UpdateRemote)
                landed[step.item_id or ""] = first.crm_id
        if not landed:
            return {}
        try:
            found = self.run.crm.read_back(self.ent.crm_type, list(landed.values()),
                                           since or "", filters=self.ent.filters)
        except BaseException as exc:  # each of them meets it
            error = exc
            return {item_id: partial(_raise, error) for item_id in landed}
        result: dict[str, Callable[[], Resource]] = {}
        for item_id, crm_id in landed.items():
            res = found.get(crm_id)
            result[item_id] = (partial(_raise, NotFoundError(
                f"The record {crm_id} is not in the CRM any more.", status=404))
                if res is None else partial(_same, res))
        return result

    @staticmethod
    def _cancel(steps: list[_Step]) -> None:
        """Drop the requests of ``steps`` that have not started."""
        for step in steps:
            if step.sent is not None:
                step.sent.cancel()

    def _apply(self, step: _Step, actions: list[Action]) -> None:
        for action in actions:
            if not attempt(self.run, self.ent, action, side=self.side, ref=step.ref,
                           item_id=step.item_id):
                return  # the local half must not record a base the CRM does not hold

    def _record_error(self, step: _Step, action: Action, exc: BaseException) -> None:
        crm_id = step.ref if self.side == "crm" else None
        self.run.record_error(self.ent, side=self.side, ref=step.ref, item_id=step.item_id,
                              crm_id=crm_id, name=action.name, exc=exc)


def _raise(error: BaseException) -> Resource:
    raise error


def _same(res: Resource) -> Resource:
    return res


__all__ = ["WRITERS", "WriteQueue"]
