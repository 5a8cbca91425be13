"""One entity's sync rule as the engine uses it, and the names of the rule's values.

The values are the Outlook bundle's (docs/sync-rules.md, "Vocabulary"): the direction says
which side a record comes from, the conflict policy which side wins a field changed on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import ConflictPolicy, Direction, RowDirection, Settings
from .rules import effective_rule

__all__ = ["BOTH", "CRM_TO_LOCAL", "CRM_WINS", "LOCAL_TO_CRM", "LOCAL_WINS", "ConflictPolicy",
           "Direction", "EntityConfig", "RowDirection", "entity_config"]

# Short names of the members, for callers that set rules (the tests do, a lot).
BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM = Direction.BOTH, Direction.CRM_TO_LOCAL, Direction.LOCAL_TO_CRM
CRM_WINS, LOCAL_WINS = ConflictPolicy.CRM_WINS, ConflictPolicy.LOCAL_WINS


@dataclass(frozen=True)
class EntityConfig:
    """One entity's sync rule as the engine uses it (``rules.effective_rule``)."""

    entity: str
    enabled: bool
    direction: Direction
    policy: ConflictPolicy
    keys: tuple[str, ...]

    @property
    def pulls(self) -> bool:
        return self.direction in (Direction.BOTH, Direction.CRM_TO_LOCAL)

    @property
    def pushes(self) -> bool:
        return self.direction in (Direction.BOTH, Direction.LOCAL_TO_CRM)


def entity_config(config: dict[str, Any] | None, entity: str,
                  settings: Settings | None = None) -> EntityConfig:
    """One entity's rule: ``settings.sync_rules`` (defaults when None) with the CRM's Outlook
    section (``config``; {} or None when it has none) on top (``sync.rules``; docs/sync-rules.md,
    "Where the rules come from").

    Raises ConfigurationError for a direction or conflict policy the client does not know
    (syncing on a guess could delete the wrong side's data).
    """
    rule = effective_rule(settings or Settings(), config, entity)
    return EntityConfig(entity, rule.enabled, Direction(rule.direction),
                        ConflictPolicy(rule.conflict_resolution), rule.keys)
