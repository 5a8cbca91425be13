"""Update check: compare this client's version with what the CRM administrator publishes.

The CRM's configuration (``GET /api/configuration/outlook``, see ``crm.CrmClient.configuration``)
carries three keys, prefix already stripped:

    addin_latest_version         newest client version the administrator offers ("1.4.0")
    addin_latest_version_url     where to download it (http/https only; anything else is dropped)
    addin_min_supported_version  oldest client version the server still accepts

Versions are compared as PEP 440 versions (``packaging.version``), so "1.10" > "1.9" and
"2.0rc1" < "2.0". A value the server sends that is not a version is ignored (and logged):
an administrator's typo must neither lock every user out nor nag them.

* :func:`check_for_update` returns an :class:`UpdateStatus` (``current``, ``newer_available``
  or ``unsupported``); it never raises for what the server sends.
* :func:`ensure_supported` raises :class:`UnsupportedClientError` when this client is below
  the minimum; the sync calls it before touching any data.
* :class:`UpdateOffers` remembers, in a small JSON file, which version the user was already
  told about, so a given newer version is offered once, and when the last check ran, so a
  "daily" check runs at most once a day. The app keeps that file at
  ``AppPaths.data_dir / STATE_FILE_NAME``.

Typical use at start (and daily): ``offers = UpdateOffers(paths.data_dir / STATE_FILE_NAME)``;
if ``offers.check_due(settings.update_check)``: ``status = check_for_update(__version__,
client.server_configuration())``, ``offers.record_check()``, and show ``status.message`` when
``offers.claim(status)``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from packaging.version import InvalidVersion, Version

from .errors import ConfigurationError, SyncError
from .files import atomic_file

log = logging.getLogger(__name__)

LATEST_KEY = "addin_latest_version"
URL_KEY = "addin_latest_version_url"
MINIMUM_KEY = "addin_min_supported_version"

STATE_FILE_NAME = "updates.json"

UpdateKind = Literal["current", "newer_available", "unsupported"]

DAILY = timedelta(days=1)


class UnsupportedClientError(SyncError):
    """This client is older than the CRM's ``addin_min_supported_version``: no sync.

    ``current``, ``min_supported`` and ``url`` (may be None) say what is needed and where
    to get it; the message says the same in words.
    """

    title = "Update required"

    def __init__(self, message: str, *, current: str, min_supported: str,
                 url: str | None) -> None:
        super().__init__(message)
        self.current = current
        self.min_supported = min_supported
        self.url = url


@dataclass(frozen=True)
class UpdateStatus:
    """The outcome of an update check.

    ``kind``: ``"unsupported"`` (below the minimum: sync refused), ``"newer_available"``
    (``latest`` is newer than this client), or ``"current"`` (nothing to do, also when the
    server publishes nothing usable). ``latest``/``min_supported`` are the server's strings
    when they parsed as versions, else None; ``url`` is the download page when it is an
    http(s) URL, else None; ``message`` is one or two sentences for the user.
    """

    kind: UpdateKind
    current: str
    latest: str | None
    url: str | None
    min_supported: str | None
    message: str


def parse_version(value: Any) -> Version | None:
    """Return ``value`` as a PEP 440 version, or None when it is empty or not a version.

    Accepts strings (surrounding blanks and a leading ``v`` are fine) and numbers, since a
    configuration option typed as a number arrives as one (``2.1``).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return Version(value.strip())
    except InvalidVersion:
        return None


def _server_version(configuration: Mapping[str, Any], key: str) -> Version | None:
    raw = configuration.get(key)
    version = parse_version(raw)
    if version is None and raw not in (None, ""):
        # Logged, not raised: see the module docstring.
        log.warning("Ignoring the CRM's %s: %r is not a version", key, raw)
    return version


def _download_url(configuration: Mapping[str, Any]) -> str | None:
    raw = configuration.get(URL_KEY)
    if not isinstance(raw, str) or not raw.strip():
        return None
    url = raw.strip()
    parts = urlsplit(url)
    # The URL is shown as a link the user clicks: only web links, never file: or javascript:.
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        log.warning("Ignoring the CRM's %s: %r is not an http(s) URL", URL_KEY, raw)
        return None
    return url


def _current_version(current_version: str) -> Version:
    version = parse_version(current_version)
    if version is None:
        # Our own version string is a build defect, not something the server did.
        raise ConfigurationError(f"This client's version {current_version!r} is not a valid "
                                 "version number.", title="Invalid client version")
    return version


def _where(url: str | None) -> str:
    return f"Download it from {url}" if url else "Ask your CRM administrator for it"


def check_for_update(current_version: str, configuration: Mapping[str, Any]) -> UpdateStatus:
    """Compare ``current_version`` with the CRM's published versions.

    ``configuration`` is the dict of ``CrmClient.configuration()`` (prefix-less keys).
    Returns ``unsupported`` when the client is below ``addin_min_supported_version``, else
    ``newer_available`` when ``addin_latest_version`` is newer, else ``current``. Missing
    or malformed server values count as "not published". Raises ConfigurationError only
    when ``current_version`` itself is not a version.
    """
    current = _current_version(current_version)
    latest = _server_version(configuration, LATEST_KEY)
    minimum = _server_version(configuration, MINIMUM_KEY)
    url = _download_url(configuration)
    latest_text = str(latest) if latest is not None else None
    minimum_text = str(minimum) if minimum is not None else None

    if minimum is not None and current < minimum:
        # Point at the newest version when one is published: no use installing the minimum.
        target = latest if latest is not None and latest > minimum else minimum
        message = (f"This CRM needs CRM Tray Client {minimum} or newer; this is {current}. "
                   f"{_where(url)} and install version {target}. Sync is stopped until then.")
        kind: UpdateKind = "unsupported"
    elif latest is not None and latest > current:
        message = (f"CRM Tray Client {latest} is available (this is {current}). "
                   f"{_where(url)}.")
        kind = "newer_available"
    else:
        message = f"CRM Tray Client {current} is up to date."
        kind = "current"
    return UpdateStatus(kind=kind, current=str(current), latest=latest_text, url=url,
                        min_supported=minimum_text, message=message)


def ensure_supported(current_version: str, configuration: Mapping[str, Any]) -> UpdateStatus:
    """Raise UnsupportedClientError when ``current_version`` is below the CRM's minimum.

    Returns the :class:`UpdateStatus` otherwise, so a caller that syncs can also learn
    about a newer version without a second look at the configuration.
    """
    status = check_for_update(current_version, configuration)
    if status.kind == "unsupported":
        assert status.min_supported is not None
        raise UnsupportedClientError(status.message, current=status.current,
                                     min_supported=status.min_supported, url=status.url)
    return status


class UpdateOffers:
    """What the user was already told about, kept in ``state_file`` (JSON, owner-only).

    ``should_offer(status)`` is true for a ``newer_available`` status whose version is
    newer than any version offered before; ``mark_offered`` records it. ``claim`` does both,
    so a caller shows the offer exactly when ``claim`` returns True. A damaged state file
    is treated as empty (the worst case is one repeated offer) and rewritten on next save.
    """

    def __init__(self, state_file: str | os.PathLike[str]) -> None:
        self.state_file = Path(state_file)

    # -- the file -------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("Update state %s unreadable (%s); starting afresh", self.state_file, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, Any]) -> None:
        with atomic_file(self.state_file, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")

    # -- offers ---------------------------------------------------------------------------

    @property
    def last_offered(self) -> str | None:
        """The newest version already offered, or None."""
        value = self._load().get("offered_version")
        return value if isinstance(value, str) and parse_version(value) is not None else None

    def should_offer(self, status: UpdateStatus) -> bool:
        """True when ``status`` announces a version newer than every one offered so far."""
        if status.kind != "newer_available" or status.latest is None:
            return False
        latest = parse_version(status.latest)
        offered = parse_version(self.last_offered)
        return latest is not None and (offered is None or latest > offered)

    def mark_offered(self, version: str) -> None:
        """Record that ``version`` was offered (an older version never replaces a newer)."""
        parsed = parse_version(version)
        if parsed is None:
            raise ValueError(f"not a version: {version!r}")
        data = self._load()
        offered = parse_version(data.get("offered_version"))
        if offered is None or parsed > offered:
            data["offered_version"] = str(parsed)
            self._save(data)

    def claim(self, status: UpdateStatus) -> bool:
        """Return True (and record the offer) when ``status`` should be shown now."""
        if not self.should_offer(status):
            return False
        assert status.latest is not None
        self.mark_offered(status.latest)
        return True

    # -- when to check --------------------------------------------------------------------

    def check_due(self, policy: str, now: datetime | None = None) -> bool:
        """Whether an update check should run now under ``Settings.update_check``.

        ``"never"``: never; ``"startup"``: always (the caller asks once, at start);
        ``"daily"``: when no check was recorded in the last 24 hours (or the recorded time
        lies in the future, i.e. the clock was wrong).
        """
        if policy == "never":
            return False
        if policy == "startup":
            return True
        if policy != "daily":
            raise ConfigurationError(f"Update check must be startup, daily or never, not "
                                     f"{policy!r}.", title="Invalid update check")
        now = now or datetime.now(UTC)
        raw = self._load().get("checked_at")
        try:
            last = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            last = None
        if last is None or last.tzinfo is None:
            return True
        return not (now - DAILY < last <= now)

    def record_check(self, now: datetime | None = None) -> None:
        """Remember that a check ran at ``now`` (UTC by default)."""
        data = self._load()
        data["checked_at"] = (now or datetime.now(UTC)).isoformat()
        self._save(data)


__all__ = [
    "STATE_FILE_NAME", "UnsupportedClientError", "UpdateKind", "UpdateOffers", "UpdateStatus",
    "check_for_update", "ensure_supported", "parse_version",
]
