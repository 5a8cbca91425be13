"""The local item store: contacts, tasks and events in SQLite, with a trash and vCard /
iCalendar import and export. Public surface (see docs/architecture.md, "tray_client.store"):

    LocalStore, Item, TrashEntry, ImportResult, ImportProblem, ENTITIES,
    normalize_fields, merge_fields, parse_assignments, apply_assignments, display_name

Errors: StoreError (database, validation), InterchangeError (import/export files).
"""

from .fields import (
    ADDRESS_FIELDS,
    ADDRESS_PARTS,
    ENTITIES,
    FIELD_KINDS,
    GENDERS,
    PRIORITIES,
    STATUSES,
    apply_assignments,
    display_name,
    merge_fields,
    normalize_fields,
    parse_assignments,
)
from .local import LocalStore
from .model import TRASH_REASONS, ImportProblem, ImportResult, Item, TrashEntry
from .schema import SCHEMA_VERSION

__all__ = [
    "ADDRESS_FIELDS",
    "ADDRESS_PARTS",
    "ENTITIES",
    "FIELD_KINDS",
    "GENDERS",
    "PRIORITIES",
    "SCHEMA_VERSION",
    "STATUSES",
    "TRASH_REASONS",
    "ImportProblem",
    "ImportResult",
    "Item",
    "LocalStore",
    "TrashEntry",
    "apply_assignments",
    "display_name",
    "merge_fields",
    "normalize_fields",
    "parse_assignments",
]
