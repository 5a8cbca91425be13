"""Random creates, edits and deletes on both sides, interleaved with syncs (some with a
failing CRM write), checking after every clean sync that:

- the sides agree as the direction says;
- links are one-to-one (no duplicates on either side);
- a second sync writes nothing;
- no local edit is lost, except as a recorded conflict (or with its item, into the trash).

Like vdirsyncer's tests/unit/sync/test_sync.py, against the real reference server.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.conftest import TEST_API_KEY, TEST_USER
from tests.rig import Rig
from tests.sync.helpers import assert_quiet, base_value
from tray_client.crm import CrmClient
from tray_client.devserver.testing import RunningServer
from tray_client.settings import Settings
from tray_client.store import LocalStore
from tray_client.sync import mapping
from tray_client.sync.config import BOTH, CRM_TO_LOCAL, CRM_WINS, LOCAL_TO_CRM, LOCAL_WINS

C = ["contacts"]
NAMES = st.sampled_from(["Ann", "Bo", "Cy"])
VALUES = st.sampled_from(["x", "y", "z", ""])
FIELDS = st.sampled_from([("job_title", "jobTitle"), ("notes", "description"),
                          ("middle_name", "middleName")])

_server: RunningServer | None = None


def shared_server() -> RunningServer:
    """One reference server for all examples (each example starts from an empty CRM)."""
    global _server
    if _server is None:
        tmp = Path(tempfile.mkdtemp(prefix="sync-sm-"))
        _server = RunningServer(db_path=tmp / "crm.db", user=TEST_USER,
                                api_key=TEST_API_KEY).start()
    return _server


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.server = shared_server()
        for crm_id in self.server.admin.ids("contacts"):
            self.server.admin.delete("contacts", crm_id)
        self.server.admin.clear_faults()
        self.tmp = Path(tempfile.mkdtemp(prefix="sync-sm-store-"))
        self.rig = Rig(self.server, LocalStore(self.tmp / "local.db"),
                       CrmClient(self.server.url, TEST_USER, TEST_API_KEY), Settings())
        self.direction = BOTH
        self.local_edits: dict[tuple[str, str], str | None] = {}
        self.crm_edited: set[str] = set()
        self.local_edited: set[str] = set()
        self.synced = False

    def teardown(self) -> None:
        self.rig.crm.close()
        self.rig.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @initialize(direction=st.sampled_from([BOTH, BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM]),
                policy=st.sampled_from([CRM_WINS, LOCAL_WINS]))
    def configure(self, direction: str, policy: str) -> None:
        self.direction = direction
        self.rig.direction("contacts", direction)
        self.rig.policy("contacts", policy)

    # -- changes on either side ----------------------------------------------------------------

    @rule(first=NAMES, last=NAMES, value=VALUES)
    def create_crm(self, first: str, last: str, value: str) -> None:
        self.server.admin.create("contacts", {"firstName": first, "lastName": last,
                                              "jobTitle": value or None})

    @rule(first=NAMES, last=NAMES, value=VALUES)
    def create_local(self, first: str, last: str, value: str) -> None:
        self.rig.store.add("contacts", {"first_name": first, "last_name": last,
                                        "job_title": value})

    @rule(pick=st.integers(0, 50), f=FIELDS, value=VALUES)
    def edit_crm(self, pick: int, f: tuple[str, str], value: str) -> None:
        ids = self.server.admin.ids("contacts")
        if ids:
            crm_id = ids[pick % len(ids)]
            self.server.admin.update("contacts", crm_id, {f[1]: value or None})
            self.crm_edited.add(crm_id)

    @rule(pick=st.integers(0, 50), f=FIELDS, value=VALUES)
    def edit_local(self, pick: int, f: tuple[str, str], value: str) -> None:
        items = self.rig.store.list("contacts")
        if items:
            item = items[pick % len(items)]
            if self.rig.store.update(item.id, {f[0]: value}).rev == item.rev:
                return   # the field already held that value: nothing was edited
            self.local_edited.add(item.id)
            if item.crm_id:
                if base_value(self.rig.store, item.id, f[0]) == (value or None):
                    # Back to the base: no change since the last sync, nothing to protect.
                    self.local_edits.pop((item.id, f[0]), None)
                else:
                    self.local_edits[(item.id, f[0])] = value or None

    @rule(pick=st.integers(0, 50))
    def delete_crm(self, pick: int) -> None:
        ids = self.server.admin.ids("contacts")
        if ids:
            self.server.admin.delete("contacts", ids[pick % len(ids)])

    @rule(pick=st.integers(0, 50))
    def delete_local(self, pick: int) -> None:
        items = self.rig.store.list("contacts")
        if items:
            item = items[pick % len(items)]
            self.rig.store.delete(item.id)
            for key in [k for k in self.local_edits if k[0] == item.id]:
                del self.local_edits[key]

    @rule(method=st.sampled_from(["POST", "PATCH"]))
    def flaky_sync(self, method: str) -> None:
        # One CRM write is rejected: that record is reported and retried next time.
        self.server.admin.inject_fault("/api/contacts", status=400, times=1, method=method)
        result = self.rig.sync(entities=C, force_delete=True)
        self.server.admin.clear_faults()
        assert result.outcome in ("ok", "partial"), result.message
        self.synced = True
        self.check_no_lost_edit(result)   # conflicts decided here are recorded here
        self.forget_delivered_edits()

    # -- the sync and its invariants -------------------------------------------------------------

    @rule()
    def sync(self) -> None:
        result = self.rig.sync(entities=C, force_delete=True)
        assert result.outcome == "ok", (result.message, result.errors)
        self.synced = True
        self.check_agreement()
        self.check_no_lost_edit(result)
        assert_quiet(self.rig, C)
        self.forget_delivered_edits()

    def forget_delivered_edits(self) -> None:
        """A local edit both sides hold after a sync was delivered (or met an equal CRM
        value): a later CRM edit of that field may overwrite it without a conflict, as the
        local side did not change since."""
        in_crm = set(self.server.admin.ids("contacts"))
        for (item_id, field), value in list(self.local_edits.items()):
            item = self.rig.store.get(item_id)
            if item is not None and item.crm_id in in_crm and item.fields.get(field) == value \
                    and self.canonical_crm(item.crm_id).get(field) == value:
                del self.local_edits[(item_id, field)]

    def canonical_crm(self, crm_id: str) -> dict:
        return mapping.from_crm("contacts", self.rig.crm.get("contacts", crm_id,
                                                             include=("addresses",)))

    def same(self, item, crm_id: str) -> bool:
        active = [r.name for r in mapping.effective_rows("contacts", self.rig.settings)
                  if r.enabled]
        local = mapping.from_local("contacts", item.fields)
        crm = self.canonical_crm(crm_id)
        return all(local[n] == crm[n] for n in active)

    def check_agreement(self) -> None:
        items = self.rig.store.list("contacts")
        crm_ids = set(self.server.admin.ids("contacts"))
        linked = [i.crm_id for i in items if i.crm_id]
        assert len(linked) == len(set(linked)), "two local items linked to one CRM record"
        by_crm = {i.crm_id: i for i in items if i.crm_id}
        if self.direction in (BOTH, CRM_TO_LOCAL):
            # Every CRM record is present locally, exactly once.
            assert crm_ids <= set(by_crm), crm_ids - set(by_crm)
        if self.direction in (BOTH, LOCAL_TO_CRM):
            # Every local item is in the CRM.
            assert all(i.crm_id in crm_ids for i in items), "a local item is not in the CRM"
        for crm_id, item in by_crm.items():
            if crm_id not in crm_ids:
                assert self.direction == CRM_TO_LOCAL   # "stays locally, unchanged"
                continue
            if self.direction == BOTH \
                    or (self.direction == CRM_TO_LOCAL and item.id not in self.local_edited) \
                    or (self.direction == LOCAL_TO_CRM and crm_id not in self.crm_edited):
                assert self.same(item, crm_id), (item.fields, self.canonical_crm(crm_id))

    def check_no_lost_edit(self, result) -> None:
        trashed = {e.item.id for e in self.rig.store.trash_list()}
        conflicts = {(c.item_id, c.field, c.local_value) for c in result.conflicts}
        for (item_id, field), value in list(self.local_edits.items()):
            item = self.rig.store.get(item_id)
            if item is None:
                assert item_id in trashed, "a locally edited item vanished without the trash"
                del self.local_edits[(item_id, field)]
            elif item.fields.get(field) != value:
                assert (item_id, field, value) in conflicts, (
                    f"local edit {field}={value!r} lost without a recorded conflict")
                del self.local_edits[(item_id, field)]

    @invariant()
    def links_are_one_to_one(self) -> None:
        if not self.synced:
            return
        rows = self.rig.store.connection.execute(
            "SELECT count(*), count(DISTINCT item_id), count(DISTINCT crm_id) FROM sync_links"
            " WHERE entity='contacts'").fetchone()
        assert rows[0] == rows[1] == rows[2]


# About 15 s. No shrinking: the shared server's ids and clock differ between replays, which
# makes shrinking slow and flaky; the failing steps are printed as generated.
SyncMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.mark.slow
class TestSyncStateMachine(SyncMachine.TestCase):  # type: ignore[name-defined]
    pass


@pytest.mark.parametrize("direction", [CRM_TO_LOCAL, BOTH])
def test_local_edit_back_to_the_base_is_no_edit(direction):
    """A job title edited locally and back to empty (the base) is unchanged since the last
    sync: the CRM's later value replaces it with no conflict, and that is no lost edit (as
    the events machine found for notes)."""
    machine = SyncMachine()
    try:
        machine.configure(direction=direction, policy=LOCAL_WINS)
        machine.create_crm(first="Ann", last="Bo", value="")
        machine.sync()
        machine.edit_local(pick=0, f=("job_title", "jobTitle"), value="x")
        machine.edit_local(pick=0, f=("job_title", "jobTitle"), value="")
        machine.edit_crm(pick=0, f=("job_title", "jobTitle"), value="y")
        machine.sync()   # before the fix: "local edit job_title=None lost"
        [item] = machine.rig.store.list("contacts")
        assert item.fields.get("job_title") == "y"
    finally:
        machine.teardown()


def teardown_module() -> None:
    global _server
    if _server is not None:
        _server.close()
        _server = None
