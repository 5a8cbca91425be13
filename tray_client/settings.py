"""User settings: a typed object with defaults, kept as JSON under the config folder.

The API key and the OAuth client secret are *not* settings: they live in the OS keyring (see
``credentials``). Sync state
lives in the store's database. A settings file written by an older version is upgraded on
load; one that cannot be read is kept aside (``settings.json.broken``) and defaults are used.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .files import atomic_file

SCHEMA_VERSION = 2   # 2: sync rules per entity and the default country (issue 12)


class Direction(StrEnum):
    """Which side an entity's records come from: a sync rule's direction (the Outlook
    bundle's values, seed 000; docs/sync-rules.md)."""

    BOTH = "Both"
    CRM_TO_LOCAL = "OroCRMToOutlook"
    LOCAL_TO_CRM = "OutlookToOroCRM"


class ConflictPolicy(StrEnum):
    """Which side wins a field changed on both sides (the Outlook bundle's values)."""

    CRM_WINS = "OroCRMAlwaysWins"
    LOCAL_WINS = "OutlookAlwaysWins"


class RowDirection(StrEnum):
    """Which way one mapped field may flow: a mapping row's direction (DESIGN §5)."""

    ONCE = "once"                  # written when a record is created, never updated
    CRM_TO_LOCAL = "crm_to_local"
    LOCAL_TO_CRM = "local_to_crm"
    TWO_WAY = "two_way"


SYNC_TYPES = ("all", "selected")
MAPPING_DIRECTIONS = tuple(RowDirection)
UPDATE_CHECKS = ("startup", "daily", "never")
# API key (Oro ≤ 6.0) | OAuth application (client credentials) | Sign in with Oro (browser:
# authorization code + PKCE)
AUTH_KINDS = ("wsse", "oauth2", "oauth2_code")

# Sync rules (DESIGN §3, §6; seed 000): the Outlook bundle's vocabulary, so that a rule set on
# this computer and one read from a CRM's Outlook section mean the same.
RULE_ENTITIES = ("contacts", "tasks", "events")
RULE_DIRECTIONS = tuple(Direction)
RULE_POLICIES = tuple(ConflictPolicy)
RULE_KEYS = ("enabled", "direction", "conflict_resolution", "keys", "pull_interval",
             "push_interval")
DEFAULT_PULL_INTERVAL = 120   # seconds; the bundle's contacts_sync_interval_orocrm
DEFAULT_PUSH_INTERVAL = 30    # seconds; the bundle's contacts_sync_interval_outlook
MIN_RULE_INTERVAL = 5         # seconds: a typo must not make the client hammer the CRM
MAX_RULE_INTERVAL = 86400
# Key fields (CRM field names) that identify a record when it has no crm_id (DESIGN §5).
DEFAULT_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "contacts": ("lastName", "firstName", "birthday", "gender"),
    "tasks": ("subject", "taskPriority"),
    "events": ("title", "start", "end", "allDay"),
}


@dataclass
class MappingOverride:
    """A user's change to one default mapping row (see ``sync.mapping``)."""

    enabled: bool = True
    direction: str = RowDirection.TWO_WAY.value  # one of MAPPING_DIRECTIONS


@dataclass
class SyncRule:
    """How one entity syncs when the CRM has no Outlook section that says otherwise."""

    enabled: bool = True
    direction: str = Direction.BOTH.value                  # one of RULE_DIRECTIONS
    conflict_resolution: str = ConflictPolicy.CRM_WINS.value  # one of RULE_POLICIES
    keys: list[str] = field(default_factory=list)  # CRM field names; [] = the entity's default
    pull_interval: int = DEFAULT_PULL_INTERVAL   # seconds between pulls from the CRM
    push_interval: int = DEFAULT_PUSH_INTERVAL   # seconds between pushes of local changes


def default_sync_rules() -> dict[str, SyncRule]:
    """The seed's defaults for every entity (keys filled in, so they show as they are)."""
    return {entity: SyncRule(keys=list(DEFAULT_RULE_KEYS[entity])) for entity in RULE_ENTITIES}


def locale_country() -> str:
    """ISO 3166 alpha-2 code of this computer's locale (``de_DE.UTF-8`` -> ``DE``), or "".

    Reads LC_ALL / LC_MESSAGES / LANG like gettext does; ``C`` and ``POSIX`` have no country.
    """
    import locale

    candidates = [os.environ.get(name, "") for name in ("LC_ALL", "LC_MESSAGES", "LANG")]
    with contextlib.suppress(ValueError):
        candidates.append(locale.getlocale()[0] or "")
    for value in candidates:
        territory = value.split(".")[0].split("@")[0].partition("_")[2]
        if len(territory) == 2 and territory.isalpha():
            return territory.upper()
    return ""


@dataclass
class Settings:
    url: str = ""                       # CRM URL as the user typed it (``/admin`` for OroCommerce)
    user: str = ""                      # CRM username (My User page)
    auth: str = "wsse"                  # one of AUTH_KINDS
    client_id: str = ""                 # the OAuth application's Client ID (auth "oauth2*")
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
    # entity -> its sync rule; a CRM's Outlook section overrides what it sets (sync.rules)
    sync_rules: dict[str, SyncRule] = field(default_factory=default_sync_rules)
    # ISO 3166 alpha-2 code for local addresses without a country; "" = this computer's locale
    default_country: str = ""
    schema_version: int = SCHEMA_VERSION

    def rule(self, entity: str) -> SyncRule:
        """The sync rule of ``entity`` (the default one when the file named none)."""
        rule = self.sync_rules.get(entity)
        if rule is None:
            rule = self.sync_rules[entity] = default_sync_rules()[entity]
        return rule

    @property
    def effective_default_country(self) -> str:
        """The default country's code: the setting, else the locale's, else ""."""
        return self.default_country or locale_country()

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
                f"Authentication must be 'wsse' (API key), 'oauth2' (OAuth application) or "
                f"'oauth2_code' (Sign in with Oro), not {self.auth!r}.",
                title="Invalid authentication")
        if self.sync_type not in SYNC_TYPES:
            raise ConfigurationError(
                f"Sync type must be 'all' or 'selected', not {self.sync_type!r}.",
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
        for entity, rule in self.sync_rules.items():
            _validate_rule(entity, rule)
        if self.default_country and not (len(self.default_country) == 2
                                         and self.default_country.isascii()
                                         and self.default_country.isalpha()
                                         and self.default_country.isupper()):
            raise ConfigurationError(
                f"The default country must be a two-letter ISO 3166 code such as DE or US, "
                f"not {self.default_country!r}.", title="Invalid default country")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        data = _migrate(dict(data))
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items()
                  if k in known and k not in ("mapping", "sync_rules")}
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
        settings = cls(**values, mapping=mapping, sync_rules=_rules_from(data.get("sync_rules")))
        settings.schema_version = SCHEMA_VERSION
        return settings


def _validate_rule(entity: str, rule: SyncRule) -> None:
    """Raise ConfigurationError naming the rule's first invalid value."""
    where = f"Sync rule {entity}"
    if entity not in RULE_ENTITIES:
        raise ConfigurationError(f"{where}: unknown entity (known: {', '.join(RULE_ENTITIES)}).",
                                 title="Invalid sync rule")
    if rule.direction not in RULE_DIRECTIONS:
        raise ConfigurationError(f"{where}: direction must be one of "
                                 f"{', '.join(RULE_DIRECTIONS)}, not {rule.direction!r}.",
                                 title="Invalid sync rule")
    if rule.conflict_resolution not in RULE_POLICIES:
        raise ConfigurationError(f"{where}: conflict_resolution must be one of "
                                 f"{', '.join(RULE_POLICIES)}, not {rule.conflict_resolution!r}.",
                                 title="Invalid sync rule")
    if not all(isinstance(k, str) and k.strip() for k in rule.keys):
        raise ConfigurationError(f"{where}: keys must be CRM field names.",
                                 title="Invalid sync rule")
    for name in ("pull_interval", "push_interval"):
        value = getattr(rule, name)
        if not MIN_RULE_INTERVAL <= value <= MAX_RULE_INTERVAL:
            raise ConfigurationError(
                f"{where}: {name} must be from {MIN_RULE_INTERVAL} to {MAX_RULE_INTERVAL} "
                f"seconds, not {value}.", title="Invalid sync rule")


def _rules_from(raw: Any) -> dict[str, SyncRule]:
    """The file's ``sync_rules`` over the defaults; wrong types raise TypeError."""
    rules = default_sync_rules()
    if raw is None:
        return rules
    if not isinstance(raw, dict) or not all(isinstance(r, dict) for r in raw.values()):
        raise TypeError("sync_rules must be an object of objects")
    defaults = SyncRule()
    for entity, values in raw.items():
        rule = rules.get(entity) or SyncRule()
        for name, value in values.items():
            if name not in RULE_KEYS:
                continue
            expected = type(getattr(defaults, name))
            if type(value) is not expected:
                raise TypeError(f"sync_rules.{entity}.{name} must be {expected.__name__}, "
                                f"not {type(value).__name__}")
            setattr(rule, name, list(value) if name == "keys" else value)
        rules[entity] = rule
    return rules


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade an older file's dict to the current schema.

    1 -> 2: sync rules and the default country are new. Version 1 clients took every rule
    from the CRM's Outlook section, so the seed's defaults (what that section held unless an
    administrator changed it) are what such a user had; ``from_dict`` fills them in.
    """
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError("schema_version must be int")
    if version < 2:
        data.pop("sync_rules", None)
        data.pop("default_country", None)
    data["schema_version"] = SCHEMA_VERSION
    return data


def load_settings(path: Path) -> Settings:
    """Read settings from ``path``; defaults if it does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {path}: {exc.strerror}.",
                                 title="Settings unreadable") from exc
    try:
        # Not valid UTF-8 (a UnicodeDecodeError is a ValueError) is damage like any other.
        data = json.loads(raw.decode("utf-8"))
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
    with atomic_file(path, "w", encoding="utf-8") as out:
        json.dump(settings.to_dict(), out, indent=2, sort_keys=True)
        out.write("\n")
