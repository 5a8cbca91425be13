"""The outbox: leads, opportunities and cases typed in locally, waiting to reach the CRM.

Nothing typed is ever lost: ``add`` commits the entry (its cleaned values and the JSON:API
payload made from them) before any network call. ``send_pending`` then sends queued entries
one by one, each state change committed on its own:

    queued ──► sending ──► sent (crm_id)
       ▲          │
       │          ├──► failed (the CRM's message, per-field errors)  ── update() ──► queued
       └──────────┘  offline / auth / rate-limited: back to queued, the run stops there

An entry caught in ``sending`` by a crash, or whose request timed out, may or may not exist in
the CRM. It is *not* resent blindly (that is how duplicates multiply, DESIGN §11): it becomes
``failed`` with a message asking to check the CRM, and the user resends (``update``) or drops.

The tables live in the store's database, created on first use with their own schema version
(``outbox_schema``), so the store itself knows nothing of them.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import (
    AuthError,
    CrmError,
    CrmTimeoutError,
    FieldError,
    OfflineError,
    RateLimitedError,
    StoreError,
    TlsError,
    TrayClientError,
    ValidationError,
)
from ..times import utc_text
from .forms import KINDS, RESOURCE_TYPES, FormDefinition, default_forms
from .payload import Payload, to_payload
from .validation import FieldProblem, validate

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STATES: tuple[str, ...] = ("queued", "sending", "sent", "failed")

# Oro's web UI routes (oroinc/crm: SalesBundle LeadController @Route("/lead") +
# "/view/{id}", OpportunityController @Route("/opportunity") + "/view/{id}", CaseBundle
# routing prefix "/case" + "/view/{id}"); the bundles add no further prefix.
WEB_PATHS: dict[str, str] = {
    "lead": "lead/view/{id}",
    "opportunity": "opportunity/view/{id}",
    "case": "case/view/{id}",
}

# An entry "sending" for longer than this was interrupted (requests time out well before).
STALE_SENDING_SECONDS = 600

UNCERTAIN_MESSAGE = ("The CRM did not answer in time, so the record may or may not have been "
                     "created. Check the CRM, then resend or drop this entry.")


class OutboxError(TrayClientError):
    """An outbox entry cannot be found or changed."""

    title = "Outbox"


class InvalidEntryError(OutboxError):
    """The values do not fit the form; ``problems`` name the fields."""

    title = "Please check the form"

    def __init__(self, message: str, problems: list[FieldProblem]) -> None:
        super().__init__(message)
        self.problems = list(problems)


class CreatingClient(Protocol):
    """What ``send_pending`` needs of a CrmClient."""

    def create(self, type: str, attributes: dict[str, Any],
               relationships: dict[str, Any] | None = None,
               included: list[Any] | None = None) -> Any: ...


@dataclass
class OutboxEntry:
    """One record waiting for, or already sent to, the CRM."""

    id: int
    kind: str
    values: dict[str, Any]
    state: str                      # one of STATES
    crm_id: str | None = None       # set once sent
    message: str | None = None      # why it failed or is still queued
    field_errors: dict[str, str] = field(default_factory=dict)  # CRM field -> the CRM's message
    attempts: int = 0
    created_at: str = ""
    updated_at: str = ""
    sent_at: str | None = None

    @property
    def title(self) -> str:
        """A short name for lists: the record's name or subject."""
        name = self.values.get("name") or self.values.get("subject")
        return str(name) if name else f"{self.kind} #{self.id}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "state": self.state, "crm_id": self.crm_id,
            "title": self.title, "message": self.message, "field_errors": dict(self.field_errors),
            "attempts": self.attempts, "values": dict(self.values),
            "created_at": self.created_at, "updated_at": self.updated_at, "sent_at": self.sent_at,
        }


def web_url(base_url: str, kind: str, crm_id: str) -> str:
    """The CRM web page of a created record, e.g. ``https://crm.example/lead/view/12``.

    ``base_url`` is the CRM URL as configured (with ``/admin`` for OroCommerce, where the
    back-office pages live under it too). Raises KeyError for an unknown kind.
    """
    return f"{base_url.rstrip('/')}/{WEB_PATHS[kind].format(id=crm_id)}"


# Oro errors that point at no member but concern one form field (OpportunityTest: "form
# constraint" without a source), and relationships a form field stands for.
FIELDS_OF_DETAILS: dict[str, str] = {"Either an account or a customer should be set.": "account"}
FIELD_ALIASES: dict[str, str] = {"customer": "account"}


def field_of(error: FieldError) -> str | None:
    """The form field a CRM error points at: ``/data/attributes/emails/0/email`` is
    ``emails`` (FieldError.field would say ``email``), ``/data/relationships/status/data``
    is ``status``, ``/data/relationships/customer/data`` the ``account`` field (it holds
    accounts and customers); Oro's "Either an account or a customer …" is ``account`` too."""
    name = error.field
    if error.pointer:
        parts = [part for part in error.pointer.split("/") if part]
        if len(parts) >= 3 and parts[0] == "data" and parts[1] in ("attributes", "relationships"):
            name = parts[2]
    if name is None:
        name = FIELDS_OF_DETAILS.get((error.detail or "").strip())
    return FIELD_ALIASES.get(name, name) if name else None


def _now() -> str:
    return utc_text()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL CHECK (kind IN ('lead', 'opportunity', 'case')),
    values_json   TEXT NOT NULL,
    payload_json  TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
    crm_id        TEXT,
    message       TEXT,
    errors_json   TEXT NOT NULL DEFAULT '{}',
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    sent_at       TEXT
);
CREATE INDEX IF NOT EXISTS outbox_entries_state ON outbox_entries (state, id);
"""


class Outbox:
    """Local queue of leads/opportunities/cases to create in the CRM.

    ``connection`` is the store's SQLite connection (``LocalStore.connection``); ``forms``
    the form definitions to validate against (``forms.load_forms(crm)``; the built-in ones
    when None — ``set_forms`` swaps them once the CRM's are known). Every use of the
    connection holds ``lock``: pass the lock of whoever shares the connection between threads
    (``Outbox.for_store`` passes ``LocalStore.lock``), so a write never lands inside another
    thread's open transaction. One Outbox may then serve the GUI thread and a worker.
    """

    def __init__(self, connection: sqlite3.Connection,
                 forms: Mapping[str, FormDefinition] | None = None, *,
                 lock: threading.RLock | None = None) -> None:
        self._conn = connection
        self._lock = lock if lock is not None else threading.RLock()
        self._forms: dict[str, FormDefinition] = dict(forms) if forms else default_forms()
        self._migrate()

    @classmethod
    def for_store(cls, store: Any, forms: Mapping[str, FormDefinition] | None = None
                  ) -> Outbox:
        """The outbox in a LocalStore's database, sharing its connection and its lock."""
        return cls(store.connection, forms, lock=getattr(store, "lock", None))

    # ----------------------------------------------------------------- schema / plumbing

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed unit of work (a savepoint when the caller has a transaction open)."""
        with self._lock:
            conn = self._conn
            try:
                if conn.in_transaction:
                    conn.execute("SAVEPOINT outbox")
                    try:
                        yield conn
                    except BaseException:
                        conn.execute("ROLLBACK TO outbox")
                        conn.execute("RELEASE outbox")
                        raise
                    conn.execute("RELEASE outbox")
                else:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield conn
                    except BaseException:
                        conn.rollback()
                        raise
                    conn.commit()
            except sqlite3.Error as exc:
                raise StoreError(f"The outbox cannot be written: {exc}") from exc

    def _migrate(self) -> None:
        try:
            with self._write() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS outbox_schema (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM outbox_schema").fetchone()
                version = row[0] if row else 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"The outbox was written by a newer version (schema {version}); "
                        "update the client.")
                if version < 1:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("DELETE FROM outbox_schema")
                    conn.execute("INSERT INTO outbox_schema (version) VALUES (?)",
                                 (SCHEMA_VERSION,))
        except sqlite3.Error as exc:
            raise StoreError(f"The outbox tables cannot be created: {exc}") from exc

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"The outbox cannot be read: {exc}") from exc

    _COLUMNS = ("id, kind, values_json, state, crm_id, message, errors_json, attempts, "
                "created_at, updated_at, sent_at")

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> OutboxEntry:
        (id_, kind, values_json, state, crm_id, message, errors_json, attempts, created_at,
         updated_at, sent_at) = row
        return OutboxEntry(id=int(id_), kind=kind, values=json.loads(values_json), state=state,
                           crm_id=crm_id, message=message, field_errors=json.loads(errors_json),
                           attempts=int(attempts), created_at=created_at,
                           updated_at=updated_at, sent_at=sent_at)

    # ----------------------------------------------------------------- forms

    @property
    def forms(self) -> dict[str, FormDefinition]:
        """The form definitions entries are validated against (kind -> form)."""
        return dict(self._forms)

    def set_forms(self, forms: Mapping[str, FormDefinition]) -> None:
        """Validate later entries against ``forms`` (e.g. the CRM's layouts once fetched)."""
        with self._lock:
            self._forms.update(forms)

    def check(self, kind: str, values: Mapping[str, Any]
              ) -> tuple[dict[str, Any], Payload, list[FieldProblem]]:
        """Validate without storing: (cleaned values, payload, problems). Never raises for
        bad values; raises InvalidEntryError for an unknown kind."""
        if kind not in KINDS:
            raise InvalidEntryError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.",
                                    [FieldProblem("kind", "Unknown kind.")])
        form = self._forms[kind]
        cleaned, problems = validate(form, values)
        return cleaned, to_payload(form, cleaned), problems

    def _checked(self, kind: str, values: Mapping[str, Any]) -> tuple[dict[str, Any], Payload]:
        cleaned, payload, problems = self.check(kind, values)
        if problems:
            summary = "; ".join(f"{p.field}: {p.message}" for p in problems)
            raise InvalidEntryError(f"The {kind} cannot be queued: {summary}", problems)
        return cleaned, payload

    # ----------------------------------------------------------------- CRUD

    def add(self, kind: str, values: Mapping[str, Any]) -> OutboxEntry:
        """Validate ``values`` (CRM field names) and queue a new entry; committed on return.

        Raises InvalidEntryError (with ``problems``) when the values do not fit the form,
        StoreError when the database cannot be written.
        """
        cleaned, payload = self._checked(kind, values)
        now = _now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO outbox_entries (kind, values_json, payload_json, state, "
                "created_at, updated_at) VALUES (?, ?, ?, 'queued', ?, ?)",
                (kind, json.dumps(cleaned), json.dumps(payload.as_dict()), now, now))
            entry_id = int(cursor.lastrowid or 0)
        return self._get_or_raise(entry_id)

    def get(self, entry_id: int) -> OutboxEntry | None:
        """The entry with this id, or None."""
        rows = self._read(f"SELECT {self._COLUMNS} FROM outbox_entries WHERE id = ?",
                          (int(entry_id),))
        return self._entry(rows[0]) if rows else None

    def _get_or_raise(self, entry_id: int) -> OutboxEntry:
        entry = self.get(entry_id)
        if entry is None:
            raise OutboxError(f"There is no outbox entry {entry_id}.")
        return entry

    def list(self, limit: int | None = 50, *, states: tuple[str, ...] | None = None
             ) -> list[OutboxEntry]:
        """Entries, newest first; at most ``limit`` (all when None); only ``states`` if given."""
        sql = f"SELECT {self._COLUMNS} FROM outbox_entries"
        params: list[Any] = []
        if states:
            sql += f" WHERE state IN ({', '.join('?' for _ in states)})"
            params.extend(states)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [self._entry(row) for row in self._read(sql, tuple(params))]

    def pending_count(self) -> int:
        """How many entries wait to be sent (queued)."""
        return int(self._read("SELECT COUNT(*) FROM outbox_entries WHERE state = 'queued'")[0][0])

    def update(self, entry_id: int, values: Mapping[str, Any]) -> OutboxEntry:
        """Replace the values of a queued or failed entry and queue it again (fix and resend).

        Raises OutboxError when the entry does not exist or was already sent (or is being
        sent), InvalidEntryError when the values do not fit the form.
        """
        entry = self._get_or_raise(entry_id)
        cleaned, payload = self._checked(entry.kind, values)
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE outbox_entries SET values_json = ?, payload_json = ?, state = 'queued', "
                "message = NULL, errors_json = '{}', updated_at = ? "
                "WHERE id = ? AND state IN ('queued', 'failed')",
                (json.dumps(cleaned), json.dumps(payload.as_dict()), _now(), entry.id)).rowcount
        if not changed:
            raise OutboxError(f"Outbox entry {entry.id} is {entry.state} and cannot be changed.")
        return self._get_or_raise(entry.id)

    def drop(self, entry_id: int) -> None:
        """Remove an entry (queued, failed or sent; one being sent right now is refused).

        Raises OutboxError when there is no such entry or it is being sent.
        """
        entry = self._get_or_raise(entry_id)
        with self._write() as conn:
            removed = conn.execute(
                "DELETE FROM outbox_entries WHERE id = ? AND state != 'sending'",
                (entry.id,)).rowcount
        if not removed:
            raise OutboxError(f"Outbox entry {entry.id} is being sent and cannot be dropped now.")

    # ----------------------------------------------------------------- sending

    def _set(self, entry_id: int, **columns: Any) -> None:
        columns["updated_at"] = _now()
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._write() as conn:
            conn.execute(f"UPDATE outbox_entries SET {assignments} WHERE id = ?",
                         (*columns.values(), entry_id))

    def recover_interrupted(self, older_than_seconds: int = STALE_SENDING_SECONDS) -> int:
        """Mark entries left ``sending`` for longer than any request can take (a crash, a
        killed process) as failed-uncertain; returns how many. Recent ones are left alone:
        another process may be sending them right now."""
        cutoff = utc_text(_dt.datetime.now(_dt.UTC) - _dt.timedelta(seconds=older_than_seconds))
        with self._write() as conn:
            return int(conn.execute(
                "UPDATE outbox_entries SET state = 'failed', message = ?, updated_at = ? "
                "WHERE state = 'sending' AND updated_at <= ?",
                (UNCERTAIN_MESSAGE, _now(), cutoff)).rowcount)

    def send_pending(self, crm: CreatingClient, *, ids: builtins.list[int] | None = None
                     ) -> builtins.list[OutboxEntry]:
        """Send queued entries (all, or those in ``ids``) oldest first; return them as they
        ended up.

        Per entry: created -> ``sent`` with ``crm_id``; a 400 -> ``failed`` with the CRM's
        message and ``field_errors`` from ``ValidationError.errors``; any other per-record
        error -> ``failed`` with its message; one failure never stops the others. Offline,
        sign-in, TLS and rate-limit errors concern every entry: the entry stays ``queued``
        with the reason as message and the run stops (the rest stay queued, untouched).
        A timeout may have created the record: ``failed`` with a check-the-CRM message.
        Raises only StoreError (the database cannot be written).
        """
        self.recover_interrupted()
        sql = (f"SELECT {self._COLUMNS}, payload_json FROM outbox_entries "
               "WHERE state = 'queued' ORDER BY id")
        rows = self._read(sql)
        wanted = {int(i) for i in ids} if ids is not None else None
        results: builtins.list[OutboxEntry] = []
        for row in rows:
            entry = self._entry(row[:-1])
            if wanted is not None and entry.id not in wanted:
                continue
            payload = json.loads(row[-1])
            claimed, stop = self._send_one(crm, entry, payload)
            if claimed:
                results.append(self._get_or_raise(entry.id))
            if stop:
                break
        return results

    def _send_one(self, crm: CreatingClient, entry: OutboxEntry, payload: dict[str, Any]
                  ) -> tuple[bool, bool]:
        """Send one entry, committing each state; returns (claimed, the run must stop)."""
        # Claimed and committed before the request: a concurrent sender (another process or
        # thread) skips it, and a crash mid-request is recognisable afterwards.
        with self._write() as conn:
            claimed = conn.execute(
                "UPDATE outbox_entries SET state = 'sending', attempts = attempts + 1, "
                "updated_at = ? WHERE id = ? AND state = 'queued'", (_now(), entry.id)).rowcount
        if not claimed:
            return False, False
        return True, self._request(crm, entry, payload)

    def _request(self, crm: CreatingClient, entry: OutboxEntry, payload: dict[str, Any]
                 ) -> bool:
        """The create request of a claimed entry and its outcome; True when the run stops."""
        try:
            resource = crm.create(payload["type"], payload["attributes"],
                                  payload.get("relationships") or None)
        except ValidationError as exc:
            errors: dict[str, str] = {}
            for error in exc.errors:
                name = field_of(error)
                if name:
                    errors.setdefault(name, error.detail or error.title)
            self._set(entry.id, state="failed", message=exc.message,
                      errors_json=json.dumps(errors))
            return False
        except CrmTimeoutError as exc:
            log.warning("Outbox entry %s: no answer in time (%s)", entry.id, exc.title)
            self._set(entry.id, state="failed", message=UNCERTAIN_MESSAGE)
            return True
        except (OfflineError, AuthError, TlsError, RateLimitedError) as exc:
            self._set(entry.id, state="queued", message=f"{exc.title}: {exc.message}")
            return True
        except CrmError as exc:
            self._set(entry.id, state="failed", message=f"{exc.title}: {exc.message}")
            return False
        except Exception as exc:  # a bug or an odd answer must not lose the entry or the run
            log.exception("Outbox entry %s could not be sent", entry.id)
            self._set(entry.id, state="failed", message=f"Unexpected error: {exc}")
            return False
        crm_id = str(getattr(resource, "id", "") or "")
        if not crm_id:
            self._set(entry.id, state="failed",
                      message="The CRM answered without a record id. " + UNCERTAIN_MESSAGE)
            return False
        self._set(entry.id, state="sent", crm_id=crm_id, message=None, errors_json="{}",
                  sent_at=_now())
        log.info("Outbox entry %s created as %s %s", entry.id, RESOURCE_TYPES[entry.kind], crm_id)
        return False
