"""One entity's sync rule as the engine uses it, and the names of the rule's values.

The values are the Outlook bundle's (seed 000; ``docs/sync-rules.md``): the direction says
which side a record comes from, the conflict policy which side wins a field changed on both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import Settings
from .rules import effective_rule

# Server configuration values (Oro's names).
BOTH = "Both"
CRM_TO_LOCAL = "OroCRMToOutlook"
LOCAL_TO_CRM = "OutlookToOroCRM"
DIRECTIONS = (BOTH, CRM_TO_LOCAL, LOCAL_TO_CRM)
CRM_WINS = "OroCRMAlwaysWins"
LOCAL_WINS = "OutlookAlwaysWins"


@dataclass(frozen=True)
class EntityConfig:
    """One entity's sync rule as the engine uses it (``rules.effective_rule``)."""

    entity: str
    enabled: bool
    direction: str
    policy: str
    keys: tuple[str, ...]

    @property
    def pulls(self) -> bool:
        return self.direction in (BOTH, CRM_TO_LOCAL)

    @property
    def pushes(self) -> bool:
        return self.direction in (BOTH, LOCAL_TO_CRM)


def entity_config(config: dict[str, Any] | None, entity: str,
                  settings: Settings | None = None) -> EntityConfig:
    """One entity's rule: ``settings.sync_rules`` (defaults when None) with the CRM's Outlook
    section (``config``; {} or None when it has none) on top (DESIGN §3, ``sync.rules``).

    Raises ConfigurationError for a direction or conflict policy the client does not know
    (syncing on a guess could delete the wrong side's data).
    """
    rule = effective_rule(settings or Settings(), config, entity)
    return EntityConfig(entity, rule.enabled, rule.direction, rule.conflict_resolution,
                        rule.keys)
