"""Which tray notifications a finished (or failed) sync produces. Pure Python: no Qt.

``AlertPolicy`` remembers whether syncing currently works, so "syncing stopped working" is
said once when it breaks (and "works again" once when it recovers), not at every interval.
It also remembers which records are failing (``problems``): a record's failure is announced
once, by its name, when it first fails; it stands until a run that covers its direction
goes by without it (a push-only run says nothing about a record that failed to pull).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import SyncBusyError, TrayClientError
from ..sync import Flow, Outcome

ENTITY_LABELS = {"contacts": "Contacts", "tasks": "Tasks", "events": "Events"}
ENTITY_NOUNS = {"contacts": "contact", "tasks": "task", "events": "event"}
# Which run phases look at a direction (a record error's ``direction``).
PHASES_COVERING = {Flow.CRM_TO_LOCAL: ("both", "pull"), Flow.LOCAL_TO_CRM: ("both", "push")}


@dataclass(frozen=True)
class Alert:
    title: str
    message: str
    level: str = "info"   # info | warning | critical


def describe_counts(counts: dict[str, Any]) -> str:
    """'Contacts: 3 created here, 1 updated in the CRM. Tasks: …' — only non-zero counts."""
    parts: list[str] = []
    for entity, sides in (counts or {}).items():
        bits: list[str] = []
        for side, where in (("local", "here"), ("crm", "in the CRM")):
            for action in ("created", "updated", "deleted"):
                n = int(((sides or {}).get(side) or {}).get(action, 0) or 0)
                if n:
                    bits.append(f"{n} {action} {where}")
        if bits:
            parts.append(f"{ENTITY_LABELS.get(entity, entity.title())}: {', '.join(bits)}")
    return ". ".join(parts) + ("." if parts else "")


def problem_key(error: Any) -> tuple[str, ...]:
    """What identifies one failing record across runs (its message may change)."""
    entity = getattr(error, "entity", None)
    if entity is None:
        return ("", str(error))
    return (entity, str(getattr(error, "item_id", None) or ""),
            str(getattr(error, "crm_id", None) or ""), getattr(error, "direction", ""))


def describe_record(error: Any) -> str:
    """'contact “Ann Lee”' (or 'contact 12' without a name) for a RecordError."""
    entity = getattr(error, "entity", "")
    if not entity:
        return "a record"
    noun = ENTITY_NOUNS.get(entity, entity.rstrip("s"))
    name = getattr(error, "name", "") or ""
    if name:
        return f"{noun} “{name}”"
    ident = getattr(error, "crm_id", None) or getattr(error, "item_id", None)
    return f"{noun} {ident}" if ident else noun


def _error_message(error: Any) -> str:
    return str(getattr(error, "message", None) or error)


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def error_text(exc: BaseException) -> tuple[str, str]:
    """(title, message) of any exception; the project's errors carry both."""
    if isinstance(exc, TrayClientError):
        return exc.title, exc.message
    return "Unexpected error", f"{type(exc).__name__}: {exc}"


class AlertPolicy:
    """Turns sync results into alerts. ``enabled`` mirrors the Show Alerts setting."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.failing = False
        self.problems: dict[tuple[str, ...], Any] = {}   # standing record errors, oldest first

    def _track(self, result: Any, phase: str) -> list[Any]:
        """Update ``problems`` from a finished run; returns the errors that are new."""
        errors = list(getattr(result, "errors", []) or [])
        current = {problem_key(e): e for e in errors}
        if getattr(result, "outcome", "") in (Outcome.OK, Outcome.PARTIAL):
            # A finished run that looked at a direction and did not fail a record there
            # means the record is fine now.
            for key, error in list(self.problems.items()):
                covering = PHASES_COVERING.get(getattr(error, "direction", ""), ("both",))
                if phase in covering and key not in current:
                    del self.problems[key]
        new = [e for k, e in current.items() if k not in self.problems]
        self.problems.update(current)
        return new

    def for_result(self, result: Any, phase: str = "both") -> list[Alert]:
        """Alerts for a finished run (its SyncResult) of ``phase`` (both, pull, push)."""
        alerts: list[Alert] = []
        outcome = getattr(result, "outcome", Outcome.FAILED)
        message = getattr(result, "message", "") or ""
        if outcome in (Outcome.OFFLINE, Outcome.FAILED):
            self._track(result, phase)
            return self._broken(Alert("Syncing stopped working",
                                      message or "The last sync could not finish.",
                                      "critical" if outcome == Outcome.FAILED else "warning"))
        if outcome == Outcome.CANCELLED:
            return []   # the user stopped it: nothing to announce
        if self.failing:
            self.failing = False
            alerts.append(Alert("Syncing works again", "The CRM can be reached again."))
        changes = describe_counts(getattr(result, "counts", {}) or {})
        if changes:
            alerts.append(Alert("Sync brought changes", changes))
        conflicts = list(getattr(result, "conflicts", []) or [])
        if conflicts:
            alerts.append(Alert(
                f"{len(conflicts)} conflict{'s' if len(conflicts) != 1 else ''} decided",
                "Records changed on both sides were decided by the conflict resolution "
                "setting; the other values are kept in the Sync Report.", "warning"))
        new = self._track(result, phase)
        if new:
            alerts.append(self._failed_records(new))
        if outcome == Outcome.GUARDED:
            alerts.append(Alert("Sync stopped before deleting",
                                message or "The run would delete too many items.", "warning"))
        return alerts if self.enabled else []

    @staticmethod
    def _failed_records(new: list[Any]) -> Alert:
        """One alert naming the records that newly failed (the first three by name)."""
        if len(new) == 1:
            error = new[0]
            return Alert(f"Could not sync {describe_record(error)}",
                         f"{_sentence(_error_message(error))} It is retried at every sync; "
                         "see the Sync Report.", "warning")
        named = "; ".join(f"{describe_record(e)}: {_error_message(e).rstrip('.')}"
                          for e in new[:3])
        more = f"; and {len(new) - 3} more" if len(new) > 3 else ""
        return Alert(f"{len(new)} records could not be synced",
                     f"{_sentence(named[:1].upper() + named[1:] + more)} They are retried at "
                     "every sync; see the Sync Report.", "warning")

    def for_error(self, exc: BaseException) -> list[Alert]:
        """Alerts for a sync that raised (the error's title and message)."""
        if isinstance(exc, SyncBusyError):
            return []
        title, message = error_text(exc)
        return self._broken(Alert(f"Syncing stopped working: {title}", message, "critical"))

    def _broken(self, alert: Alert) -> list[Alert]:
        already = self.failing
        self.failing = True
        if already or not self.enabled:
            return []
        return [alert]
