"""The old Enterprise Outlook bundle's configuration section, served only when asked for.

Real Oro 5.x/6.x has no ``configuration/outlook`` section: the EE-only ``oro/outlook``
package that provided it was removed in 4.1 (ORO-API.md §3). The reference server answers
404 for it, as Oro does, until an administrator value is stored (``--setting KEY=VALUE`` or
the admin handle's ``set_setting``); it then serves the section as that bundle did, in the
bundle's own key names and shapes:

- ``contacts_keys`` and ``contacts_mapping`` are arrays of ``{"OroCRM": …, "Outlook": …}``;
- the dialog layouts are XAML strings (a JSON text stored by a test is served as is);
- there is no ``tasks_*`` / ``calendar_events_*`` direction, conflict policy or keys;
- ``addin_*`` options appear only when set (the bundle sent them only when an add-in
  installer was deployed).
"""

from __future__ import annotations

import json
from typing import Any

PREFIX = "oro_crm_pro_outlook."
DIRECTIONS = ("Both", "OroCRMToOutlook", "OutlookToOroCRM")
RESOLUTIONS = ("OroCRMAlwaysWins", "OutlookAlwaysWins")

# Outlook's names for the CRM fields the bundle's defaults pair up (Outlook ContactItem).
OUTLOOK_NAMES = {
    "firstName": "FirstName", "middleName": "MiddleName", "lastName": "LastName",
    "nameSuffix": "Suffix", "namePrefix": "Title", "birthday": "Birthday", "gender": "Gender",
    "jobTitle": "JobTitle", "description": "Body", "fax": "BusinessFaxNumber",
    "emails": "Email1Address", "primaryPhone": "BusinessTelephoneNumber",
}


def pair(crm_field: str) -> dict[str, str]:
    """One ``{"OroCRM": …, "Outlook": …}`` object of ``contacts_keys``/``contacts_mapping``."""
    outlook = OUTLOOK_NAMES.get(crm_field, crm_field[:1].upper() + crm_field[1:])
    return {"OroCRM": crm_field, "Outlook": outlook}


def _xaml(*fields: str) -> str:
    """A dialog layout as the bundle stored it: a XAML form (the client cannot render it)."""
    rows = "".join(f'<TextBox Name="{name}" />' for name in fields)
    return ('<StackPanel xmlns="http://schemas.microsoft.com/winfx/2006/xaml/presentation">'
            f"{rows}</StackPanel>")


ARRAY_OF_PAIRS = "array"
XAML = "string"

# key -> (dataType, default); None = only served when set.
OPTIONS: dict[str, tuple[str, Any]] = {
    "orocrm_version": ("string", "6.0.0"),
    "contacts_enabled": ("boolean", True),
    "contacts_sync_direction": ("string", "Both"),
    "contacts_conflict_resolution": ("string", "OroCRMAlwaysWins"),
    "contacts_sync_interval_orocrm": ("integer", 120),
    "contacts_sync_interval_outlook": ("integer", 30),
    "contacts_keys": (
        ARRAY_OF_PAIRS,
        [pair(f) for f in ("lastName", "firstName", "birthday", "gender")],
    ),
    "contacts_mapping": (
        ARRAY_OF_PAIRS,
        [
            pair(f)
            for f in (
                "namePrefix", "firstName", "middleName", "lastName", "nameSuffix", "gender",
                "birthday", "description", "jobTitle", "fax", "emails", "primaryPhone",
            )
        ],
    ),
    "tasks_enabled": ("boolean", True),
    "calendar_events_enabled": ("boolean", True),
    "side_bar_panel_layout": (XAML, _xaml("createLead", "createOpportunity", "createCase")),
    "create_lead_dialog_layout": (
        XAML,
        _xaml("name", "firstName", "lastName", "emails", "phones", "companyName"),
    ),
    "create_opportunity_dialog_layout": (
        XAML,
        _xaml("name", "status", "closeDate", "probability", "budgetAmount"),
    ),
    "create_case_dialog_layout": (
        XAML,
        _xaml("subject", "description", "source", "status", "priority"),
    ),
    "addin_latest_version": ("string", None),
    "addin_latest_version_url": ("string", None),
    "addin_latest_version_doc_url": ("string", None),
    "addin_min_supported_version": ("string", None),
}


def option_key(key: str) -> str:
    """A key without Oro's prefix; ValueError when the old bundle had no such option."""
    short = key.removeprefix(PREFIX)
    if short not in OPTIONS:
        raise ValueError(f"unknown configuration key {key!r}; the Outlook bundle had: "
                         f"{', '.join(OPTIONS)}")
    return short


def coerce_option(key: str, value: Any) -> Any:
    """Check a value for an option; text (from ``--setting``) is converted to its type.

    Booleans take true/false/1/0/yes/no/on/off; integers digits; ``contacts_keys`` and
    ``contacts_mapping`` a JSON array of ``{"OroCRM", "Outlook"}`` objects, or CRM field names
    (a comma list or a JSON array of strings) that get their Outlook names; layouts any text
    (a dict is stored as its JSON text). Directions and conflict resolutions must be one of
    their choices. Raises ValueError with a message naming the key.
    """
    short = option_key(key)
    data_type = OPTIONS[short][0]
    if data_type == XAML and short.endswith("_layout") and isinstance(value, dict):
        value = json.dumps(value)
    if isinstance(value, str) and data_type != "string":
        value = _parse_text(short, data_type, value)
    if data_type == ARRAY_OF_PAIRS and isinstance(value, list):
        value = [pair(v.strip()) if isinstance(v, str) else v for v in value]
        if not all(isinstance(v, dict) and isinstance(v.get("OroCRM"), str) and v["OroCRM"]
                   for v in value):
            raise ValueError(f'{short} takes [{{"OroCRM": field, "Outlook": field}}, …]')
    expected = {"boolean": bool, "integer": int, "string": str, "array": list}[data_type]
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
    if not text.lstrip().startswith("["):
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


def configuration_document(overrides: dict[str, Any], *, include_options: bool) -> dict[str, Any]:
    """The ``GET /api/configuration/outlook`` document for these stored values.

    As Oro's JSON:API answers a configuration section: the options are relationships only,
    and arrive in ``included`` only when asked with ``include=options``
    (``ConfigBundle/Resources/config/services_api.yml``: ``ExpandConfigurationOptions`` is
    not registered for JSON:API).
    """
    options = []
    for key, (data_type, default) in OPTIONS.items():
        value = overrides.get(key, default)
        if value is None:
            continue
        options.append({"type": "configurationoptions", "id": PREFIX + key,
                        "attributes": {"scope": "app", "dataType": data_type, "value": value,
                                       "createdAt": None, "updatedAt": None}})
    document: dict[str, Any] = {
        "data": {
            "type": "configuration",
            "id": "outlook",
            "relationships": {
                "options": {"data": [{"type": o["type"], "id": o["id"]} for o in options]}
            },
        },
    }
    if include_options:
        document["included"] = options
    return document
