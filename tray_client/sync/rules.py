"""Sync rules: this computer's settings, overridden by a CRM's Outlook section where it has one.

Real Oro 5.x/6.x has no ``configuration/outlook`` section (the Enterprise Outlook bundle that
served it was removed in 4.1; ORO-API.md §3), so each entity's enabled flag, direction,
conflict resolution, keys and intervals are client settings (``Settings.sync_rules``). A
server that does have the section (the old bundle, or the reference server started with
``--setting``) sets what it holds, and those values are *locked*: the Settings dialog shows
them as set by the CRM administrator, and ``configure --rule`` still stores the local value,
which takes effect when the section no longer sets it.

The section's shapes are the old bundle's (``CrmClient.configuration()`` returns its options
without the ``oro_crm_pro_outlook.`` prefix): ``{p}_enabled``, ``{p}_sync_direction``
(``Both|OroCRMToOutlook|OutlookToOroCRM``), ``{p}_conflict_resolution``
(``OroCRMAlwaysWins|OutlookAlwaysWins``), ``{p}_keys`` as ``[{"OroCRM": "lastName",
"Outlook": "LastName"}, …]`` (plain names and comma lists are understood too), and
``{p}_sync_interval_orocrm`` / ``{p}_sync_interval_outlook`` in seconds, where ``p`` is
``contacts``, ``tasks`` or ``calendar_events``. The bundle has intervals for contacts only,
and the add-in ran every sync on them ("the intervals defined in your Oro instance", seed
001): so ``contacts_sync_interval_*`` sets the intervals of every entity whose own keys the
section lacks.

The engine keeps the section's rule options of its last run (``SECTION_META`` in
``sync_meta``), so that ``status`` and the Settings dialog show the locks offline too.

Public surface: ``EffectiveRule``, ``effective_rule``, ``effective_rules``,
``scheduler_intervals``, ``DueEntities``, ``parse_rule_assignment``, ``apply_rule``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..settings import (
    DEFAULT_RULE_KEYS,
    MAX_RULE_INTERVAL,
    MIN_RULE_INTERVAL,
    RULE_DIRECTIONS,
    RULE_ENTITIES,
    RULE_KEYS,
    RULE_POLICIES,
    Settings,
    SyncRule,
)

log = logging.getLogger(__name__)

# Entity -> the prefix of its options in the Outlook section.
SECTION_PREFIX = {"contacts": "contacts", "tasks": "tasks", "events": "calendar_events"}
# sync_meta key of the section's rule options as the last run read them (JSON).
SECTION_META = "outlook_section_rules"
_RULE_OPTIONS = ("_enabled", "_sync_direction", "_conflict_resolution", "_keys",
                 "_sync_interval_orocrm", "_sync_interval_outlook")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class EffectiveRule:
    """One entity's rule as a run uses it; ``locked`` names what the CRM's section set."""

    entity: str
    enabled: bool
    direction: str
    conflict_resolution: str
    keys: tuple[str, ...]
    pull_interval: int
    push_interval: int
    locked: frozenset[str] = frozenset()

    @property
    def from_crm(self) -> bool:
        """True when the CRM's Outlook section set any part of this rule."""
        return bool(self.locked)


def section_values(config: Mapping[str, Any], entity: str) -> dict[str, Any]:
    """What the CRM's Outlook section sets for ``entity``, as rule values (keys of RULE_KEYS).

    Options the section lacks, or holds as ``null``, are left out. A direction or conflict
    resolution the client does not know raises ConfigurationError (syncing on a guess could
    delete the wrong side's data); an unusable interval or key list is ignored with a warning.
    """
    prefix = SECTION_PREFIX[entity]
    values: dict[str, Any] = {}
    enabled = config.get(f"{prefix}_enabled")
    if enabled is not None:
        values["enabled"] = _boolean(enabled, f"{prefix}_enabled")
    for key, option, choices, title in (
            ("direction", "sync_direction", RULE_DIRECTIONS, "Unknown sync direction"),
            ("conflict_resolution", "conflict_resolution", RULE_POLICIES,
             "Unknown conflict resolution")):
        value = config.get(f"{prefix}_{option}")
        if value in (None, ""):
            continue
        if value not in choices:
            raise ConfigurationError(
                f"The CRM sets {prefix}_{option} to {value!r}; expected one of "
                f"{', '.join(choices)}.", title=title)
        values[key] = value
    keys = section_keys(config.get(f"{prefix}_keys"))
    if keys:
        values["keys"] = keys
    for name, suffix in (("pull_interval", "orocrm"), ("push_interval", "outlook")):
        own = _interval(config.get(f"{prefix}_sync_interval_{suffix}"),
                        f"{prefix}_sync_interval_{suffix}")
        shared = _interval(config.get(f"contacts_sync_interval_{suffix}"),
                           f"contacts_sync_interval_{suffix}")
        if own is not None or shared is not None:
            values[name] = own if own is not None else shared
    return values


def section_subset(config: Mapping[str, Any]) -> dict[str, Any]:
    """The options of ``config`` that sync rules read (layouts and versions left out)."""
    return {name: value for name, value in config.items()
            if any(name == prefix + option for prefix in SECTION_PREFIX.values()
                   for option in _RULE_OPTIONS)}


def section_keys(raw: Any) -> list[str]:
    """CRM field names from the section's ``{p}_keys``: the bundle's list of
    ``{"OroCRM": …, "Outlook": …}`` pairs, a list of names, or a comma list. [] when unusable.
    """
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = raw.replace(";", ",").split(",")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        log.warning("Ignoring the CRM's key list %r (not a list)", raw)
        return []
    keys: list[str] = []
    for item in raw:
        if isinstance(item, Mapping):
            item = item.get("OroCRM")
        if isinstance(item, str) and item.strip():
            if item.strip() not in keys:
                keys.append(item.strip())
        elif item is not None:
            log.warning("Ignoring the CRM's key %r", item)
    return keys


def effective_rule(settings: Settings, config: Mapping[str, Any] | None,
                   entity: str) -> EffectiveRule:
    """``entity``'s rule: the settings' values with the CRM section's on top.

    ``config`` is what ``CrmClient.configuration()`` returned ({} when the CRM has no
    section; None when it was not read). Raises ConfigurationError as ``section_values``.
    """
    own: SyncRule = settings.rule(entity)
    values: dict[str, Any] = {
        "enabled": own.enabled, "direction": own.direction,
        "conflict_resolution": own.conflict_resolution,
        "keys": list(own.keys) or list(DEFAULT_RULE_KEYS[entity]),
        "pull_interval": own.pull_interval, "push_interval": own.push_interval}
    server = section_values(config or {}, entity)
    values.update(server)
    return EffectiveRule(entity=entity, enabled=values["enabled"], direction=values["direction"],
                         conflict_resolution=values["conflict_resolution"],
                         keys=tuple(values["keys"]), pull_interval=values["pull_interval"],
                         push_interval=values["push_interval"], locked=frozenset(server))


def effective_rules(settings: Settings, config: Mapping[str, Any] | None
                    ) -> dict[str, EffectiveRule]:
    """``effective_rule`` of every entity, in RULE_ENTITIES order."""
    return {entity: effective_rule(settings, config, entity) for entity in RULE_ENTITIES}


def scheduler_intervals(rules: Mapping[str, EffectiveRule]) -> tuple[int, int]:
    """(pull, push) seconds for the scheduler's two jobs: the shortest of the enabled
    entities (``DueEntities`` then picks which entities each firing syncs)."""
    enabled = [r for r in rules.values() if r.enabled] or list(rules.values())
    if not enabled:
        from ..settings import DEFAULT_PULL_INTERVAL, DEFAULT_PUSH_INTERVAL

        return DEFAULT_PULL_INTERVAL, DEFAULT_PUSH_INTERVAL
    return (min(r.pull_interval for r in enabled), min(r.push_interval for r in enabled))


class DueEntities:
    """Which entities an interval job syncs, when their intervals differ.

    The scheduler's pull (push) job fires every shortest pull (push) interval; ``take(phase)``
    returns the enabled entities whose own interval has passed since they last synced in that
    phase (less half a firing, for timer jitter) and marks them synced now. A full sync
    (``mark_all``) counts for both phases.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._rules: dict[str, EffectiveRule] = {}
        self._last: dict[tuple[str, str], float] = {}

    def set_rules(self, rules: Mapping[str, EffectiveRule]) -> None:
        now = self._clock()
        self._rules = dict(rules)
        for entity in rules:
            for phase in ("pull", "push"):
                self._last.setdefault((entity, phase), now)

    def take(self, phase: str) -> list[str]:
        """Entities due in ``phase`` ("pull" or "push"), in RULE_ENTITIES order."""
        if not self._rules:
            return list(RULE_ENTITIES)
        now = self._clock()
        tick = scheduler_intervals(self._rules)[0 if phase == "pull" else 1]
        due = []
        for entity, rule in self._rules.items():
            if not rule.enabled:
                continue
            interval = rule.pull_interval if phase == "pull" else rule.push_interval
            if now - self._last.get((entity, phase), now) >= interval - tick / 2:
                due.append(entity)
                self._last[(entity, phase)] = now
        return due

    def mark_all(self) -> None:
        now = self._clock()
        for entity in self._rules:
            for phase in ("pull", "push"):
                self._last[(entity, phase)] = now


# -- `configure --rule ENTITY.KEY=VALUE` ------------------------------------------------------

def parse_rule_assignment(text: str) -> tuple[str, str, Any]:
    """``ENTITY.KEY=VALUE`` -> (entity, key, typed value); ConfigurationError when bad.

    KEY: enabled (true/false), direction, conflict_resolution, keys (comma list of CRM field
    names; empty = the default), pull_interval, push_interval (seconds).
    """
    target, sep, value = text.partition("=")
    entity, dot, key = target.strip().partition(".")
    if not sep or not dot:
        raise _rule_error(f"{text!r}: expected ENTITY.KEY=VALUE")
    if entity not in RULE_ENTITIES:
        raise _rule_error(f"{target.strip()}: the entity is one of {', '.join(RULE_ENTITIES)}")
    if key not in RULE_KEYS:
        raise _rule_error(f"{target.strip()}: the key is one of {', '.join(RULE_KEYS)}")
    return entity, key, rule_value(entity, key, value.strip())


def rule_value(entity: str, key: str, value: Any) -> Any:
    """A rule value checked and typed (text from the command line is converted)."""
    if key == "enabled":
        return _boolean(value, f"{entity}.enabled", strict=True)
    if key == "direction":
        return _choice(value, RULE_DIRECTIONS, f"{entity}.direction")
    if key == "conflict_resolution":
        return _choice(value, RULE_POLICIES, f"{entity}.conflict_resolution")
    if key == "keys":
        names = section_keys(value) if isinstance(value, str) else list(value)
        known = key_field_names(entity)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise _rule_error(f"{entity}.keys: unknown CRM field(s) {', '.join(unknown)}; "
                              f"known: {', '.join(known)}")
        return names or list(DEFAULT_RULE_KEYS[entity])
    if key in ("pull_interval", "push_interval"):
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()):
            raise _rule_error(f"{entity}.{key} takes a whole number of seconds, not {value!r}")
        seconds = int(text)
        if not MIN_RULE_INTERVAL <= seconds <= MAX_RULE_INTERVAL:
            raise _rule_error(f"{entity}.{key} must be from {MIN_RULE_INTERVAL} to "
                              f"{MAX_RULE_INTERVAL} seconds")
        return seconds
    raise _rule_error(f"{entity}.{key}: the key is one of {', '.join(RULE_KEYS)}")


def key_field_names(entity: str) -> list[str]:
    """The CRM field names a key of ``entity`` may use (those of its mapping rows)."""
    from .mapping import ROWS

    names: list[str] = []
    for row in ROWS[entity]:
        if row.crm_field not in names:
            names.append(row.crm_field)
    return names


def apply_rule(settings: Settings, entity: str, key: str, value: Any) -> None:
    """Set one rule value in ``settings`` (checked by ``rule_value`` first)."""
    setattr(settings.rule(entity), key, value)


def _boolean(value: Any, name: str, *, strict: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE or (not strict and text == ""):
        return False
    if strict:
        raise _rule_error(f"{name} takes true or false, not {value!r}")
    log.warning("Reading the CRM's %s %r as false", name, value)
    return False


def _choice(value: Any, choices: Iterable[str], name: str) -> str:
    choices = tuple(choices)
    for choice in choices:
        if str(value).strip().casefold() == choice.casefold():
            return choice
    raise _rule_error(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _interval(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        seconds = int(float(value))
    except (TypeError, ValueError):
        log.warning("Ignoring the CRM's %s %r (not a number of seconds)", name, value)
        return None
    if isinstance(value, bool) or seconds <= 0:
        log.warning("Ignoring the CRM's %s %r", name, value)
        return None
    # A tiny value from a server must not make the client hammer it.
    return max(MIN_RULE_INTERVAL, min(MAX_RULE_INTERVAL, seconds))


def _rule_error(message: str) -> ConfigurationError:
    return ConfigurationError(f"Sync rule {message}.", title="Invalid sync rule")
