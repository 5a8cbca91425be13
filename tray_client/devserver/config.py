"""The Outlook configuration section (DESIGN §3): keys, defaults, types and dialog layouts.

Values an administrator sets (``--setting KEY=VALUE``, or the admin handle) are kept in the
database and override the defaults here.
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "oro_crm_pro_outlook."
DIRECTIONS = ("Both", "OroCRMToOutlook", "OutlookToOroCRM")
RESOLUTIONS = ("OroCRMAlwaysWins", "OutlookAlwaysWins")


def _field(name: str, label: str, type_: str, *, required: bool = False, enum: str | None = None) -> dict[str, Any]:
    """One form field of a dialog layout."""
    item: dict[str, Any] = {"name": name, "label": label, "kind": "relationship" if enum else "attribute", "type": type_, "required": required}
    if enum:
        item["enum"] = enum
    return item


# The fields of Oro's own create forms, in their order (Oro ships XAML; we ship JSON).
LEAD_LAYOUT = {
    "fields": [
        _field("name", "Lead name", "string", required=True),
        _field("status", "Status", "enum", enum="leadstatuses"),
        _field("firstName", "First name", "string"),
        _field("lastName", "Last name", "string"),
        _field("jobTitle", "Job title", "string"),
        _field("emails", "Emails", "email"),
        _field("phones", "Phones", "phone"),
        _field("companyName", "Company name", "string"),
        _field("source", "Source", "enum", enum="leadsources"),
        _field("notes", "Notes", "text"),
    ]
}
OPPORTUNITY_LAYOUT = {
    "fields": [
        _field("name", "Opportunity name", "string", required=True),
        _field("status", "Status", "enum", required=True, enum="opportunitystatuses"),
        _field("closeDate", "Expected close date", "date"),
        _field("probability", "Probability", "percent"),
        _field("budgetAmountValue", "Budget amount", "money"),
        _field("customerNeed", "Customer need", "text"),
        _field("proposedSolution", "Proposed solution", "text"),
        _field("notes", "Additional comments", "text"),
    ]
}
CASE_LAYOUT = {
    "fields": [
        _field("subject", "Subject", "string", required=True),
        _field("description", "Description", "text"),
        _field("resolution", "Resolution", "text"),
        _field("source", "Source", "enum", enum="casesources"),
        _field("status", "Status", "enum", enum="casestatuses"),
        _field("priority", "Priority", "enum", enum="casepriorities"),
    ]
}

# key -> (dataType, default). Keys are Oro's names; the + ones of DESIGN §3 are ours.
OPTIONS: dict[str, tuple[str, Any]] = {
    "contacts_enabled": ("boolean", True),
    "contacts_sync_direction": ("string", "Both"),
    "contacts_conflict_resolution": ("string", "OroCRMAlwaysWins"),
    "contacts_sync_interval_orocrm": ("integer", 120),
    "contacts_sync_interval_outlook": ("integer", 30),
    "contacts_keys": ("array", ["lastName", "firstName", "birthday", "gender"]),
    "tasks_enabled": ("boolean", True),
    "tasks_sync_direction": ("string", "Both"),
    "tasks_conflict_resolution": ("string", "OroCRMAlwaysWins"),
    "tasks_keys": ("array", ["subject", "taskPriority"]),
    "calendar_events_enabled": ("boolean", True),
    "calendar_events_sync_direction": ("string", "Both"),
    "calendar_events_conflict_resolution": ("string", "OroCRMAlwaysWins"),
    "calendar_events_keys": ("array", ["title", "start", "end", "allDay"]),
    "create_lead_dialog_layout": ("object", LEAD_LAYOUT),
    "create_opportunity_dialog_layout": ("object", OPPORTUNITY_LAYOUT),
    "create_case_dialog_layout": ("object", CASE_LAYOUT),
    "addin_latest_version": ("string", "0.1.0"),
    "addin_latest_version_url": ("string", "https://github.com/crm-tray-client/tray-client/releases/latest"),
    "addin_min_supported_version": ("string", "0.1.0"),
}


def option_key(key: str) -> str:
    """A key without Oro's prefix; ValueError when it is not an option."""
    short = key.removeprefix(PREFIX)
    if short not in OPTIONS:
        raise ValueError(f"unknown configuration key {key!r}; known: {', '.join(OPTIONS)}")
    return short


def coerce_option(key: str, value: Any) -> Any:
    """Check a value for an option; text (from ``--setting``) is converted to its type.

    Booleans take true/false/1/0/yes/no/on/off; integers digits; arrays a JSON array or a
    comma list; objects JSON. Directions and conflict resolutions must be one of their
    choices. Raises ValueError with a message naming the key.
    """
    short = option_key(key)
    data_type = OPTIONS[short][0]
    if isinstance(value, str) and data_type != "string":
        value = _parse_text(short, data_type, value)
    expected = {"boolean": bool, "integer": int, "string": str, "array": list, "object": dict}[data_type]
    if not isinstance(value, expected) or (data_type == "integer" and isinstance(value, bool)):
        raise ValueError(f"{short} takes a {data_type}")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValueError(f"{short} must not be negative")
    if short.endswith("_sync_direction") and value not in DIRECTIONS:
        raise ValueError(f"{short} must be one of {', '.join(DIRECTIONS)}")
    if short.endswith("_conflict_resolution") and value not in RESOLUTIONS:
        raise ValueError(f"{short} must be one of {', '.join(RESOLUTIONS)}")
    return value


def _parse_text(key: str, data_type: str, text: str) -> Any:
    if data_type == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{key} takes true or false")
    if data_type == "integer":
        if not (text.strip().isascii() and text.strip().isdigit()):
            raise ValueError(f"{key} takes a whole number of seconds")
        return int(text)
    if data_type == "array" and not text.lstrip().startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{key} takes JSON: {exc}") from None


def parse_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line -> (short key, typed value). ValueError if bad."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    short = option_key(key.strip())
    return short, coerce_option(short, value)


def configuration_document(overrides: dict[str, Any]) -> dict[str, Any]:
    """The ``GET /api/configuration/outlook`` document for these stored overrides."""
    options = []
    for key, (data_type, default) in OPTIONS.items():
        value = overrides.get(key, default)
        options.append({"type": "configurationoptions", "id": PREFIX + key, "attributes": {"dataType": data_type, "value": value}})
    return {
        "data": {
            "type": "configuration",
            "id": "outlook",
            "relationships": {"options": {"data": [{"type": o["type"], "id": o["id"]} for o in options]}},
        },
        "included": options,
    }
