"""Which tray notifications a finished (or failed) sync produces. Pure Python: no Qt.

``AlertPolicy`` remembers whether syncing currently works, so "syncing stopped working" is
said once when it breaks (and "works again" once when it recovers), not at every interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import SyncBusyError, TrayClientError

ENTITY_LABELS = {"contacts": "Contacts", "tasks": "Tasks", "events": "Events"}


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

    def for_result(self, result: Any) -> list[Alert]:
        """Alerts for a finished run (its SyncResult)."""
        alerts: list[Alert] = []
        outcome = getattr(result, "outcome", "failed")
        message = getattr(result, "message", "") or ""
        if outcome in ("offline", "failed"):
            return self._broken(Alert("Syncing stopped working",
                                      message or "The last sync could not finish.",
                                      "critical" if outcome == "failed" else "warning"))
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
        errors = list(getattr(result, "errors", []) or [])
        if errors:
            first = errors[0]
            detail = getattr(first, "message", None) or str(first)
            alerts.append(Alert(
                f"{len(errors)} record{'s' if len(errors) != 1 else ''} failed",
                f"{detail} They will be retried at the next sync; see the Sync Report.",
                "warning"))
        if outcome == "guarded":
            alerts.append(Alert("Sync stopped before deleting",
                                message or "The run would delete too many items.", "warning"))
        return alerts if self.enabled else []

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
