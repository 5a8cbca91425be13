"""User settings: a typed object with defaults, kept as JSON under the config folder.

The API key and the OAuth client secret are *not* settings: they live in the OS keyring (see
``credentials``). Sync state
lives in the store's database. A settings file written by an older version is upgraded on
load; one that cannot be read is kept aside (``settings.json.broken``) and defaults are used.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

SCHEMA_VERSION = 1

SYNC_TYPES = ("all", "selected")
MAPPING_DIRECTIONS = ("once", "crm_to_local", "local_to_crm", "two_way")
UPDATE_CHECKS = ("startup", "daily", "never")
AUTH_KINDS = ("wsse", "oauth2")   # API key (Oro ≤ 6.0) | OAuth application (client credentials)


@dataclass
class MappingOverride:
    """A user's change to one default mapping row (see ``sync.mapping``)."""

    enabled: bool = True
    direction: str = "two_way"  # one of MAPPING_DIRECTIONS


@dataclass
class Settings:
    url: str = ""                       # CRM URL as the user typed it (``/admin`` for OroCommerce)
    user: str = ""                      # CRM username (My User page)
    auth: str = "wsse"                  # "wsse": API key; "oauth2": OAuth application
    client_id: str = ""                 # the OAuth application's Client ID (auth "oauth2")
    ignore_self_signed_cert: bool = False  # accept a self-signed cert, pinning the first seen
    pinned_cert_sha256: str = ""        # fingerprint pinned by ignore_self_signed_cert
    disable_sync: bool = False          # no automatic sync; Sync Now still works
    sync_type: str = "all"              # "all" records, or "selected" (mine / flagged)
    show_alerts: bool = True            # tray notifications
    sync_birthdays: bool = False        # contacts' birthdays sync only when on
    start_at_login: bool = False        # XDG autostart entry
    update_check: str = "startup"       # when to compare with addin_latest_version
    report_retention_days: int = 90     # how long run reports are kept
    # entity -> mapping row name -> override; rows not named keep the seed's defaults
    mapping: dict[str, dict[str, MappingOverride]] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def configured(self) -> bool:
        """True once URL and user are set (the API key is checked separately)."""
        return bool(self.url.strip() and self.user.strip())

    def validate(self) -> None:
        """Raise ConfigurationError naming the first invalid value."""
        if self.url and not (self.url.startswith("http://") or self.url.startswith("https://")):
            raise ConfigurationError(
                f"The CRM URL must start with https:// (or http://), not {self.url!r}.",
                title="Invalid CRM URL")
        if self.auth not in AUTH_KINDS:
            raise ConfigurationError(
                f"Authentication must be 'wsse' (API key) or 'oauth2' (OAuth application), not "
                f"{self.auth!r}.", title="Invalid authentication")
        if self.sync_type not in SYNC_TYPES:
            raise ConfigurationError(f"Sync type must be 'all' or 'selected', not {self.sync_type!r}.",
                                     title="Invalid sync type")
        if self.update_check not in UPDATE_CHECKS:
            raise ConfigurationError(f"Update check must be one of {', '.join(UPDATE_CHECKS)}.",
                                     title="Invalid update check")
        for entity, rows in self.mapping.items():
            for name, row in rows.items():
                if row.direction not in MAPPING_DIRECTIONS:
                    raise ConfigurationError(
                        f"Mapping {entity}.{name}: direction must be one of "
                        f"{', '.join(MAPPING_DIRECTIONS)}.", title="Invalid field mapping")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        data = _migrate(dict(data))
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k != "mapping"}
        defaults = cls()
        for name, value in values.items():
            # A hand-edited or damaged file must not smuggle a wrong type in (a string
            # "false" is true); bool is checked exactly because it is a subclass of int.
            expected = type(getattr(defaults, name))
            if type(value) is not expected:
                raise TypeError(f"{name} must be {expected.__name__}, not "
                                f"{type(value).__name__}")
        if not isinstance(data.get("mapping") or {}, dict) or not all(
                isinstance(rows, dict) and all(isinstance(row, dict) for row in rows.values())
                for rows in (data.get("mapping") or {}).values() if rows):
            raise TypeError("mapping must be an object of objects")
        mapping = {
            entity: {name: MappingOverride(**{k: v for k, v in row.items()
                                              if k in ("enabled", "direction")})
                     for name, row in (rows or {}).items()}
            for entity, rows in (data.get("mapping") or {}).items()
        }
        settings = cls(**values, mapping=mapping)
        settings.schema_version = SCHEMA_VERSION
        return settings


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade an older file's dict to the current schema (version 1 is the first)."""
    data.setdefault("schema_version", SCHEMA_VERSION)
    return data


def load_settings(path: Path) -> Settings:
    """Read settings from ``path``; defaults if it does not exist."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {path}: {exc.strerror}.",
                                 title="Settings unreadable") from exc
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        settings = Settings.from_dict(data)
        settings.validate()
        return settings
    except (ValueError, TypeError, ConfigurationError) as exc:
        # Keep the damaged file for the user rather than overwrite it later.
        reason = exc.message if isinstance(exc, ConfigurationError) else str(exc)
        broken = path.with_name(path.name + ".broken")
        try:
            os.replace(path, broken)
        except OSError as move_exc:
            raise ConfigurationError(
                f"The settings file {path} is damaged ({reason}) and could not be moved aside "
                f"({move_exc.strerror}).", title="Settings unreadable") from exc
        raise ConfigurationError(
            f"The settings file was damaged ({reason}); it was moved to {broken} and defaults "
            "are in use.", title="Settings reset") from exc


def save_settings(settings: Settings, path: Path) -> None:
    """Validate and write atomically (temp file + rename), owner-only."""
    settings.validate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(settings.to_dict(), fh, indent=2, sort_keys=True)
            fh.write("\n")
            # On disk before the rename, so a crash leaves the old file or the new, never
            # an empty one.
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
