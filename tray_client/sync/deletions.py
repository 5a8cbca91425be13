"""Records deleted in the CRM, found without a removals feed (real Oro has none).

Listing every id of a large CRM on every interval sync is what makes a no-op sync slow
(100,000 contacts: a hundred pages). The check here costs one small request instead:

- the CRM's count of records in scope (``X-Include-Total-Count``) is compared with what the
  client expects: the records it holds a link for plus the ``unheld`` ones — records in
  scope it holds no link for (another user's under *selected* sync, records a Local → CRM
  direction never pulls, records that failed to pull), measured at the last full listing;
- equal counts mean nothing linked was removed; any difference (or a server that gives no
  count) means a full ids listing, which also measures ``unheld`` afresh;
- a full listing is also made when one is due anyway: at most every ``RECONCILE_SECONDS``
  (a deletion balanced by a creation among the unheld records keeps the count equal) and on
  demand (a manual sync).

The check runs after the pull, when the records created in the CRM since the last sync are
linked already, so ordinary activity in the CRM does not cost a listing.

It is entity-agnostic: it needs an :class:`IdListing` (a count and the ids of the records in
scope) and the linked ids. ``CrmIdListing`` adapts ``CrmClient``, whose ``count`` and
``iter_ids`` answer for JSON:API types and for Oro's REST calendar events alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import IncompatibleServerError

RECONCILE_SECONDS = 3600  # a full ids listing at most this often (besides on demand)


class IdListing(Protocol):
    """The CRM side of the check, for one entity in the user's scope."""

    def count(self) -> int | None:
        """How many records are in scope now; None when the server cannot say."""
        ...

    def iter_ids(self) -> Iterable[str]:
        """Every id in scope (none skipped even if records vanish during the walk)."""
        ...


@dataclass(frozen=True)
class CrmIdListing:
    """``IdListing`` over ``CrmClient.count`` / ``CrmClient.iter_ids`` for a JSON:API type."""

    crm: Any
    crm_type: str
    filters: Mapping[str, Any] = field(default_factory=dict)

    def count(self) -> int | None:
        try:
            return self.crm.count(self.crm_type, filters=self.filters)
        except IncompatibleServerError:
            return None  # the server does not count: the ids decide

    def iter_ids(self) -> Iterable[str]:
        return self.crm.iter_ids(self.crm_type, filters=self.filters)


@dataclass(frozen=True)
class DeletionCheck:
    """What the check found.

    ``removed``: linked ids no longer in the CRM. ``listed``: the ids were listed in full
    (the caller records the time). ``unheld``: records in scope the client holds no link
    for, to keep for the next check (None: unknown, the next check lists in full).
    """

    removed: frozenset[str]
    listed: bool
    unheld: int | None
    count: int | None = None


def removed_in_crm(listing: IdListing, *, linked_count: int,
                   linked_ids: Callable[[], set[str]], unheld: int | None,
                   full_due: bool) -> DeletionCheck:
    """Find the linked records that are gone from the CRM, as cheaply as it is safe.

    ``linked_count`` is how many links the client holds; ``linked_ids`` gives them (called
    only when the ids are listed). ``unheld`` comes from the previous check; ``full_due``
    forces a full listing (hourly, on demand). Raises what the listing raises (CrmError).
    """
    count: int | None = None
    if not full_due and unheld is not None:
        count = listing.count()
        if count is not None and count == linked_count + unheld:
            return DeletionCheck(frozenset(), False, unheld, count)
    present = set(listing.iter_ids())
    linked = linked_ids()
    return DeletionCheck(frozenset(linked - present), True, len(present - linked), count)


def unheld_after_first_sync(listing: IdListing, linked_count: int) -> int | None:
    """The baseline right after a first sync, without a listing: its pull has just read
    every record in scope, so whatever the CRM counts beyond the links is unheld."""
    count = listing.count()
    return None if count is None else max(0, count - linked_count)
