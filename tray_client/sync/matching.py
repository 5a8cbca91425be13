"""Finding a record's partner when there is no link, and the base a pair is compared with.

- ``local_match``: the unlinked local item for a pulled CRM record (one holding its
  crm_id, else the one whose create made it, else one with the same key);
- ``remote_match``: the CRM record for an unlinked local item (a Local → CRM first sync
  links by key; after a killed run, the record its create made);
- ``effective_base``: the base corrected for a CRM write of a killed run.

The indexes are built once per entity pass, lazily, and each partner is handed out once.
The local key index (``scratch.KeyIndex``) holds each unlinked item's store rowid under a
hash of its key, 16 bytes an item, and moves to disk past a size: memory stays small
whatever the number of local items. It maps only each item's key fields; an item is mapped
whole when it is handed out, and its key checked then (two keys may share a hash). A
pulled batch's partners are looked up and read from the store at once (``prefetch``), not
one by one.
"""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from typing import Any

from ..crm import Cursor, Resource
from ..crm.jsonapi import id_key
from ..store.local import StoredItem
from . import mapping
from .config import Direction
from .context import EntityPass, RunContext, shifted
from .mapping import Canonical, MappingError
from .scratch import KeyIndex

INTENT_MARGIN = 5   # seconds before an intent's time still searched for its record


def effective_base(run: RunContext, ent: EntityPass, base: Canonical | None, crm: Canonical,
                   crm_id: str, item_id: str | None) -> Canonical | None:
    """The base, corrected for a CRM write of a killed run (see ``SyncState.put_write``):
    a field the CRM holds with exactly the value that run sent is our own write, so it
    counts as synced rather than as a CRM edit that would beat a newer local edit."""
    pending = run.state.writes_for(ent.entity, crm_id, f"item:{item_id}" if item_id else None)
    if not pending:
        return base
    effective = dict(base or {})
    for f, sent in pending.items():
        if crm.get(f) in sent:   # any of the values sent: several runs may have died
            effective[f] = crm.get(f)
    return effective if (effective or base is not None) else None


def in_flight(run: RunContext, ent: EntityPass, crm_id: str, item_id: str) -> bool:
    """Whether a killed run's CRM write for this pair is still recorded."""
    return bool(run.state.writes_for(ent.entity, crm_id, f"item:{item_id}"))


def own_uid(ent: EntityPass, res: Resource) -> str | None:
    """An event's uid: the id of the local item whose create made it, when this client
    created it (``apply.create_remote``)."""
    uid = res.attributes.get("uid") if ent.entity == "events" else None
    return uid if isinstance(uid, str) and uid else None


def sent_key_rows(ent: EntityPass) -> list[str] | None:
    """The key fields a create sends to the CRM, when some key field is not sent (else
    None: the key itself recognises the record a create made)."""
    sent = set(ent.names(create=True, to_local=False))
    rows = [r for r in ent.key_rows if r in sent]
    return None if rows == ent.key_rows else rows


def match_key(ent: EntityPass, canonical: Canonical, rows: list[str] | None = None) -> Any:
    key = mapping.record_key(canonical, ent.key_rows if rows is None else rows)
    if key is not None:
        return ("key", key)
    # No key to go by: only a record with the very same mapped values matches.
    return ("values", mapping.record_key(canonical, ent.names(create=True, to_local=False)))


# -- a local partner for a pulled record -------------------------------------------------------

def local_match(run: RunContext, ent: EntityPass, crm: Canonical, crm_id: str,
                uid: str | None = None, *, exact: Any = None) -> Any | None:
    """The unlinked local item that holds ``crm_id``; else the item whose create (its
    answer lost) sent the record's ``uid``; else the oldest unlinked local item (by
    created_at, id) whose key equals the record's; else None.

    ``exact``: the page worker's ``LazyResource.local_text``, the stored text of an item
    that maps to ``crm``'s values, with the values where its mapping differs: a partner
    holding that very text is handed out with those values as its mapping, neither decoded
    nor mapped. The same values as ``from_local`` gives (==; only the
    order of their keys may differ, which nothing reads)."""
    key_index(run, ent)
    assert ent.key_index is not None
    if not ent.key_index and not ent.crm_id_holders:
        return None  # no unlinked local item at all (a first sync into an empty store)
    holder_id = ent.crm_id_holders.pop(crm_id, None) if ent.crm_id_holders else None
    if holder_id is not None:
        holder = run.store.get(holder_id)
        if holder is not None and holder.crm_id == crm_id:
            return holder
    slots = ent.batch_slots.pop(crm_id, None)
    for slot in _slots(ent, crm, uid) if slots is None else slots:
        entries = (ent.key_index.lookup([slot]).get(slot, []) if slots is None
                   else ent.batch_found.get(slot, []))
        i = 0
        while i < len(entries):
            seq, rowid = entries[i]
            item = ent.batch_items.pop(rowid, None)   # read by ``prefetch``
            if item is None:
                item = run.store.get_many_by_rowid([rowid], lazy=True).get(rowid)
            local = None
            shortcut = same_key = False
            if item is not None and not item.crm_id and item.id not in ent.handled:
                if (exact is not None and type(item) is StoredItem
                        and item.text == exact[0]):
                    # What mapping its fields gives (``pages.local_texts``).
                    shortcut = True
                    local = dict(crm)
                    diff = exact[1]
                    if diff:
                        local.update(diff)
                    # Without create intents, the only slot looked under is the record's
                    # key, which is this item's unless the diff holds a key row.
                    same_key = not ent.own_creates and not (
                        diff and any(row in diff for row in ent.key_rows))
                else:
                    # One that does not map is never a partner (the index holds it by its
                    # key fields only).
                    with suppress(MappingError):
                        local = run.from_local(ent.entity, item.fields)
            if local is not None and not same_key and slot not in _local_slots(
                    ent, item.id, local, item.id in ent.own_creates):
                i += 1   # another key with the same hash: left for that key
                continue
            del entries[i]   # the list a batch's records with this slot share
            ent.key_index.take(seq)
            if local is not None:
                ent.handed_local[item.id] = local
                if exact is not None:
                    ent.texts_tried += 1
                    ent.texts_held += shortcut
                return item
    return None


def _slots(ent: EntityPass, crm: Canonical, uid: str | None,
           slot: str | None = None) -> list[str]:
    """The key index slots a CRM record's partner is looked for under, in order: the uid
    of a create whose answer was lost, the key, what such a create sent. ``slot``: the
    page worker's ``key_slot`` of ``crm`` for the pass's key rows ("": no key), which is
    all there is to look under when no item has a create intent."""
    if slot is not None and not ent.own_creates:
        return [slot] if slot else []
    key = mapping.record_key(crm, ent.key_rows)
    lookups: list[Any] = [] if key is None else [key]
    if ent.own_creates and uid is not None:
        lookups.insert(0, ("uid", uid))
    if ent.own_creates and (sent_rows := sent_key_rows(ent)) is not None:
        lookups.append(("sent", match_key(ent, crm, sent_rows)))
    return [_slot(k) for k in lookups]


def _local_slots(ent: EntityPass, item_id: str, local: Canonical, own: bool) -> list[str]:
    """The key index slots an unlinked local item is held under: its key; for an item
    with a create intent (``own``), its id as the uid its create sent and, when the
    create sent only some key fields, the key of those."""
    key = mapping.record_key(local, ent.key_rows)
    slots = [] if key is None else [_slot(key)]
    if own:
        slots.append(_slot(("uid", item_id)))
        if (sent_rows := sent_key_rows(ent)) is not None:
            # The record of a create whose answer was lost holds only what the create
            # sent: a key field it did not send cannot match (Sync Birthdays off, a
            # disabled row).
            slots.append(_slot(("sent", match_key(ent, local, sent_rows))))
    return slots


def prefetch(run: RunContext, ent: EntityPass, batch: list[Resource]) -> None:
    """Map a pulled batch's records that have no link (``ent.batch_canonical``), look up
    their key slots in the index at once (``ent.batch_found``) and read the local items
    found with one store query (``ent.batch_items``), for ``local_match`` to hand out
    instead of reading them one by one.

    Called inside the batch's transaction, whose write lock keeps other writers out: an
    item read here is as the store holds it when ``local_match`` hands it out, since the
    only writes to it before then would be this batch's own, and an item this batch
    writes is handled (never handed out again). Entries are taken from the index in
    ``local_match`` only, as before."""
    assert ent.batch_links is not None
    unlinked = [res for res in batch if res.id not in ent.batch_links
                and run.visible(ent, res) and mapping.skip_reason(ent.entity, res) is None]
    if not unlinked:
        return
    key_index(run, ent)
    assert ent.key_index is not None
    if not ent.key_index:
        return   # no unlinked local item: nothing to read (``local_match`` answers None)
    for res in unlinked:
        try:
            crm = mapping.from_crm_once(ent.entity, res)
        except MappingError:
            continue   # reported by the pull, which maps it again
        ent.batch_canonical[res.id] = crm
        ent.batch_slots[res.id] = _slots(ent, crm, own_uid(ent, res),
                                         getattr(res, "key_slot", None))
    # A key several local items share hands out its oldest first: read as many of a
    # slot's items as the batch has records looking under it (the rest, when met, are
    # read one by one).
    wanted = Counter(s for slots in ent.batch_slots.values() for s in slots)
    ent.batch_found = found = ent.key_index.lookup(wanted)
    rowids = [rowid for slot, entries in found.items() for _seq, rowid in entries[:wanted[slot]]]
    ent.batch_items = run.store.get_many_by_rowid(rowids, lazy=True)
    ent.handled.preload([item.id for item in ent.batch_items.values()])


def key_slot(canonical: Canonical, rows: Any) -> str:
    """The slot of a record's key for ``rows`` as ``_slots`` looks under it, "" when the
    key is empty (no slot): what the page worker answers for each record (``pages``)."""
    key = mapping.record_key(canonical, rows)
    return "" if key is None else _slot(key)


def _slot(key: tuple[Any, ...]) -> str:
    """A key as the local index holds it: its repr, one string (equal for equal keys,
    different for different ones; the parts are text, tuples, None and booleans)."""
    return repr(key)


def key_index(run: RunContext, ent: EntityPass) -> None:
    """Build the pass's local key index now, if it is not built yet."""
    if ent.key_index is None:
        _index_local_items(run, ent)


def _index_local_items(run: RunContext, ent: EntityPass) -> None:
    """Build ``ent.key_index`` and ``ent.crm_id_holders`` from the unlinked local items.
    Lazily, once per run: incremental runs that meet no new CRM record never scan them."""
    index = KeyIndex()
    holders: dict[str, str] = {}
    linked = run.state.linked_item_ids(ent.entity)
    intents = run.state.intents(ent.entity)
    # The key needs the key fields only: the store reads just those; the whole item is
    # mapped when it is handed out (``local_match`` passes over one that does not map, as
    # if it had not been indexed). An item with a create intent is read whole.
    sources = mapping.local_sources(ent.entity, ent.key_rows)
    for rowid, item_id, crm_id, fields in run.store.iter_some_fields(ent.entity, sources):
        if crm_id:
            if item_id not in linked:
                holders[crm_id] = item_id
            continue
        if item_id not in intents:
            # Its key alone (``_local_slots`` of an item without a create intent).
            try:
                key = run.local_key(ent.entity, fields, ent.key_rows)
            except MappingError:
                continue
            if key is not None:
                index.add(_slot(key), rowid)
            continue
        whole = run.store.get(item_id)
        if whole is None:
            continue
        try:
            local = run.from_local(ent.entity, whole.fields)
        except MappingError:
            continue
        ent.own_creates.add(item_id)
        for slot in _local_slots(ent, item_id, local, True):
            index.add(slot, rowid)
    ent.key_index, ent.crm_id_holders = index, holders


# -- a CRM partner for an unlinked local item --------------------------------------------------

def remote_match(run: RunContext, ent: EntityPass, local: Canonical, intents: dict[str, str],
                 *, own: str | None = None) -> Resource | None:
    """A CRM record to link instead of creating one: on a Local → CRM first sync, a
    record with the same key ("local values replace CRM"); after a killed run, the record
    its create made (same key, or the same values when the key is empty, among records
    changed since the oldest intent; ``own``: the id of an item with such an intent, so
    its event is the one carrying it as uid, and the key counts only the fields its
    create sent). Each record is handed out once."""
    if ent.remote_index is None:
        _index_remote_records(run, ent, intents)
    assert ent.remote_index is not None
    lookups = [match_key(ent, local)]
    if own:
        lookups.insert(0, ("uid", own))
    if own and (sent_rows := sent_key_rows(ent)) is not None:
        lookups.append(("sent", match_key(ent, local, sent_rows)))
    for k in lookups:
        found = ent.remote_index.get(k)
        if found:
            res = found.pop(0)
            for candidates in ent.remote_index.values():  # handed out once
                if res in candidates:
                    candidates.remove(res)
            return res
    return None


def _index_remote_records(run: RunContext, ent: EntityPass, intents: dict[str, str]) -> None:
    """Build ``ent.remote_index``: the unlinked CRM records by key (all of them on a Local
    → CRM first sync; else those changed since the oldest intent)."""
    if ent.first and ent.cfg.direction == Direction.LOCAL_TO_CRM:
        since = None
    else:
        since = Cursor(shifted(min(intents.values()), -INTENT_MARGIN), "")
    linked = run.state.linked_crm_ids(ent.entity)
    sent_rows = sent_key_rows(ent) if intents else None
    index: dict[Any, list[Resource]] = {}
    for res in run.crm.iter_changed(ent.crm_type, since, filters=ent.filters,
                                    include=ent.include, page_size=1000):
        if res.id in linked or not run.visible(ent, res):
            continue
        try:
            crm = mapping.from_crm(ent.entity, res)
        except MappingError:
            continue
        index.setdefault(match_key(ent, crm), []).append(res)
        if (uid := own_uid(ent, res)) in intents:
            index.setdefault(("uid", uid), []).append(res)
        if sent_rows is not None:
            index.setdefault(("sent", match_key(ent, crm, sent_rows)), []).append(res)
    for candidates in index.values():
        candidates.sort(key=lambda r: id_key(r.id))
    ent.remote_index = index
