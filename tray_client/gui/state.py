"""The tray's states and how a sync's outcome or error maps to one of them.

Pure Python (no Qt) so the table can be read and tested on its own.
"""

from __future__ import annotations

import enum
from typing import Any

from ..errors import (
    AuthError,
    ConfigurationError,
    CredentialsError,
    IncompatibleServerError,
    OfflineError,
    SyncBusyError,
    TlsError,
)
from ..sync import Outcome


class TrayState(enum.Enum):
    """What the tray icon shows. The value is the icon's file stem in resources/icons."""

    IDLE = "idle"            # last sync fine (or none yet and nothing wrong)
    SYNCING = "syncing"      # a sync is running
    PAUSED = "paused"        # Disable Sync is on, or the user paused automatic sync
    OFFLINE = "offline"      # the CRM could not be reached; retrying later
    ATTENTION = "attention"  # the last run finished but some records failed or it was guarded
    ERROR = "error"          # cannot sync at all: auth, TLS, configuration, server too old


# SyncResult.outcome -> state after the run (DESIGN §8).
OUTCOME_STATES: dict[str, TrayState] = {
    Outcome.OK: TrayState.IDLE,
    Outcome.CANCELLED: TrayState.ATTENTION,  # stopped by the user: not up to date until next run
    Outcome.PARTIAL: TrayState.ATTENTION,    # some records failed: they are in the report
    Outcome.GUARDED: TrayState.ATTENTION,    # the deletion guard wants a decision
    Outcome.OFFLINE: TrayState.OFFLINE,
    Outcome.FAILED: TrayState.ERROR,
}


def state_for_outcome(outcome: str) -> TrayState:
    """The state a finished run with ``outcome`` leaves the tray in (unknown → ERROR)."""
    return OUTCOME_STATES.get(outcome, TrayState.ERROR)


def state_for_error(exc: BaseException) -> TrayState | None:
    """The state an error raised by ``Client.sync`` leaves the tray in.

    Returns None for SyncBusyError: another process is syncing, nothing is wrong.
    """
    if isinstance(exc, SyncBusyError):
        return None
    if isinstance(exc, OfflineError):
        return TrayState.OFFLINE
    if isinstance(exc, (AuthError, TlsError, ConfigurationError, CredentialsError,
                        IncompatibleServerError)):
        return TrayState.ERROR
    return TrayState.ERROR


def is_failure(outcome_or_error: Any) -> bool:
    """True when a run's outcome (str) or raised error means "syncing does not work"."""
    if isinstance(outcome_or_error, BaseException):
        return not isinstance(outcome_or_error, SyncBusyError)
    return outcome_or_error in (Outcome.OFFLINE, Outcome.FAILED)
