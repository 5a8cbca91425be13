"""The project's error tree. Every error a user can see has a short ``title`` and a helpful
``message``; library errors (httpx, sqlite3, keyring) are converted where the library is called.

    TrayClientError                 base: title + message
    ├── ConfigurationError          settings missing or invalid (no URL, no user, bad value)
    ├── CredentialsError            no API key / client secret / sign-in, or no working keyring
    ├── StoreError                  a local item or value is refused (bad field, no such id)
    │   ├── LocalDatabaseError      the local database cannot be opened, read or written
    │   │                           (damaged, not a database, too new, busy)
    │   └── SyncBusyError           another sync holds this store's lock
    ├── InterchangeError            a vCard/iCalendar file cannot be read or written
    ├── CrmError                    anything from talking to the CRM
    │   ├── OfflineError            name not resolved, refused, dropped: retry later
    │   │   └── CrmTimeoutError     no answer in time
    │   ├── TlsError                certificate not trusted, or pinned certificate changed
    │   ├── AuthError               401 or a refused token: wrong key/secret, the other kind
    │   │                           of sign-in wanted, sign in again (crm/auth.py subclasses)
    │   ├── ForbiddenError          403
    │   ├── NotFoundError           404
    │   ├── ConflictError           409
    │   ├── ValidationError         400: carries ``errors`` with field pointers
    │   ├── RateLimitedError        429 / 503 that kept coming after the retries
    │   ├── ServerError             5xx after the retries, or a body that is not JSON:API
    │   └── IncompatibleServerError the server cannot serve this client: not an Oro
    │                               back-office API (crm.WrongUrlError), Oro's API switched
    │                               off (crm.ApiDisabledError), a request it does not support
    └── SyncError                   a run cannot go on
        └── DeletionGuardError      the run would delete too much; needs confirmation

Per-record failures are never raised out of a sync: they become rows in the run's report.
"""

from __future__ import annotations

from dataclasses import dataclass


class TrayClientError(Exception):
    """Base of every error the project raises on purpose."""

    title: str = "Error"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return f"{self.title}: {self.message}"


class ConfigurationError(TrayClientError):
    title = "Configuration problem"


class CredentialsError(TrayClientError):
    title = "Sign-in secret unavailable"


class StoreError(TrayClientError):
    title = "Local store problem"


class LocalDatabaseError(StoreError):
    title = "Local database problem"


class SyncBusyError(StoreError):
    title = "A sync is already running"


class InterchangeError(TrayClientError):
    title = "Cannot import or export"


class CrmError(TrayClientError):
    title = "CRM error"

    def __init__(
        self, message: str, *, title: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, title=title)
        self.status = status


class OfflineError(CrmError):
    title = "CRM unreachable"


class CrmTimeoutError(OfflineError):
    title = "CRM not answering"


class TlsError(CrmError):
    title = "Secure connection failed"


class AuthError(CrmError):
    title = "Sign-in rejected"


class ForbiddenError(CrmError):
    title = "Access denied"


class NotFoundError(CrmError):
    title = "Not found"


class ConflictError(CrmError):
    title = "Conflict"


@dataclass(frozen=True)
class FieldError:
    """One JSON:API error object: ``pointer`` is e.g. ``/data/attributes/name``."""

    title: str
    detail: str
    pointer: str | None = None
    parameter: str | None = None

    @property
    def field(self) -> str | None:
        """The attribute or relationship name the error points at, if any."""
        if self.pointer:
            return self.pointer.rstrip("/").rsplit("/", 1)[-1]
        return self.parameter


class ValidationError(CrmError):
    title = "The CRM rejected the data"

    def __init__(self, message: str, *, errors: list[FieldError] | None = None,
                 title: str | None = None, status: int | None = 400) -> None:
        super().__init__(message, title=title, status=status)
        self.errors: list[FieldError] = list(errors or [])


class RateLimitedError(CrmError):
    title = "CRM busy"


class ServerError(CrmError):
    title = "CRM server error"


class IncompatibleServerError(CrmError):
    title = "Server not supported"


class SyncError(TrayClientError):
    title = "Sync stopped"


class DeletionGuardError(SyncError):
    title = "Too many deletions"

    def __init__(self, message: str, *, entity: str, would_delete: int, linked: int) -> None:
        super().__init__(message)
        self.entity = entity
        self.would_delete = would_delete
        self.linked = linked


def error_text(exc: BaseException) -> str:
    """One line for any error: "title: message" for ours, the library's text (or the
    exception's name when it has none) for the rest."""
    return str(exc) or type(exc).__name__


__all__ = [name for name in dir() if name.endswith("Error")] + ["FieldError", "error_text"]
