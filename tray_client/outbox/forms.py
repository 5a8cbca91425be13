"""Form definitions for the side panel's create forms (leads, opportunities, cases).

A form says which CRM fields the user fills in, in which order, which are required and, for
enum fields, which choices exist. It comes from the CRM's ``create_*_dialog_layout``
configuration options (docs/protocol.md, *Configuration*) with built-in defaults when the
server gives none, and its enum choices from the enum resources (``leadstatuses`` …) with
built-in defaults when offline.

Decisions (the server's layout is trusted for order, labels and *extra* required marks, but):

- a field the CRM itself requires (lead ``name``; opportunity ``name``/``status`` and an
  account or customer; case ``subject``/``source``/``status``/``priority``) is always
  required, and added to the form when a layout leaves it out (after the previous required
  field), because a form that cannot produce a valid record only fills the outbox with
  failures;
- the opportunity's account-or-customer is one field, ``account``, of type ``customer``: its
  value is a record reference ``{"type": "accounts" | "b2bcustomers", "id", "label"}``, sent
  as the ``account`` or the ``customer`` relationship (docs/protocol.md, *Opportunities*);
- layout entries that are malformed, or relationships to other records (``relatedContact``
  …, which would need a picker of their own), are skipped; a case made from an e-mail still
  links its sender's contact, but through its own slot (``CONTACT_LINKS``), not a field;
- an unusable layout (not an object, no usable field) falls back to the built-in one;
- a required enum whose list marks no default (Oro's case enums have no ``default`` flag)
  gets a preset: ``CHOICE_PRESETS`` when the list has it, else its first value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from ..errors import CrmError, OfflineError

log = logging.getLogger(__name__)

Kind = Literal["lead", "opportunity", "case"]
KINDS: tuple[str, ...] = ("lead", "opportunity", "case")

# kind -> JSON:API resource type
RESOURCE_TYPES: dict[str, str] = {"lead": "leads", "opportunity": "opportunities", "case": "cases"}

# kind -> the relationship that links the record to the contact who sent its e-mail (Oro's
# CaseBundle api.yml: cases.relatedContact, type contacts). Kept in an entry's values under
# this name, beside the form's fields, and sent as that relationship.
CONTACT_LINKS: dict[str, str] = {"case": "relatedContact"}

# kind -> the configuration key (without Oro's prefix) holding its layout
LAYOUT_KEYS: dict[str, str] = {kind: f"create_{kind}_dialog_layout" for kind in KINDS}

FIELD_TYPES: tuple[str, ...] = (
    "string", "text", "email", "phone", "date", "integer", "percent", "money", "enum",
    "customer",
)

# What the CRM refuses to create without (DESIGN §3 / docs/protocol.md "Resources"):
# Oro's SalesBundle opportunity.md ("Either account or customer"), CaseBundle validation.yml.
CRM_REQUIRED: dict[str, tuple[str, ...]] = {
    "lead": ("name",),
    "opportunity": ("name", "status", "account"),
    "case": ("subject", "source", "status", "priority"),
}

# The record types a ``customer`` field may hold: Oro's accounts and its business customers
# (the opportunity's customer association, SalesBundle api.yml / app.yml).
CUSTOMER_TYPES: tuple[str, ...] = ("accounts", "b2bcustomers")

# Presets of required enums whose CRM list marks no default (first one present wins).
CHOICE_PRESETS: dict[str, tuple[str, ...]] = {
    "casestatuses": ("open",),
    "casepriorities": ("normal",),
    "casesources": ("other",),
    "taskpriorities": ("normal",),
}


@dataclass(frozen=True)
class EnumChoice:
    """One value of an enum resource: ``id`` goes on the wire, ``label`` is shown."""

    id: str
    label: str
    default: bool = False


@dataclass(frozen=True)
class FormField:
    """One field of a create form.

    ``name`` is the CRM attribute or relationship name; ``kind`` says which of the two it is;
    ``type`` is one of ``FIELD_TYPES``; enum fields name their enum resource in ``enum`` and
    carry its ``choices`` (empty when unknown: any id is then accepted).
    """

    name: str
    label: str
    kind: Literal["attribute", "relationship"] = "attribute"
    type: str = "string"
    required: bool = False
    enum: str | None = None
    choices: tuple[EnumChoice, ...] = ()

    @property
    def default_choice(self) -> EnumChoice | None:
        """The enum's default choice, if the enum marks one."""
        for choice in self.choices:
            if choice.default:
                return choice
        return None


@dataclass(frozen=True)
class FormDefinition:
    """The create form of one kind: its fields in display order."""

    kind: str
    resource_type: str
    title: str
    fields: tuple[FormField, ...] = field(default_factory=tuple)

    def field(self, name: str) -> FormField | None:
        """The field called ``name``, or None."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        return None

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


def _f(name: str, label: str, type_: str = "string", *, required: bool = False,
       enum: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name, "label": label, "type": type_, "required": required,
        "kind": "relationship" if enum else "attribute",
    }
    if enum:
        entry["enum"] = enum
    return entry


# Built-in layouts, in the same JSON shape the server sends; used when it sends none. They
# show the fields Oro's own create forms show, in the same order.
DEFAULT_LAYOUTS: dict[str, dict[str, Any]] = {
    "lead": {"fields": [
        _f("name", "Lead name", required=True),
        _f("firstName", "First name"),
        _f("lastName", "Last name"),
        _f("jobTitle", "Job title"),
        _f("companyName", "Company name"),
        _f("emails", "E-mail", "email"),
        _f("phones", "Phone", "phone"),
        _f("status", "Status", "enum", enum="leadstatuses"),
        _f("source", "Source", "enum", enum="leadsources"),
        _f("notes", "Notes", "text"),
    ]},
    "opportunity": {"fields": [
        _f("name", "Opportunity name", required=True),
        {"name": "account", "label": "Account or customer", "type": "customer",
         "kind": "relationship", "required": True},
        _f("status", "Status", "enum", required=True, enum="opportunitystatuses"),
        _f("closeDate", "Expected close date", "date"),
        _f("probability", "Probability (%)", "percent"),
        _f("budgetAmountValue", "Budget amount", "money"),
        _f("budgetAmountCurrency", "Budget currency"),
        _f("customerNeed", "Customer need", "text"),
        _f("proposedSolution", "Proposed solution", "text"),
        _f("notes", "Additional comments", "text"),
    ]},
    "case": {"fields": [
        _f("subject", "Subject", required=True),
        _f("description", "Description", "text"),
        _f("status", "Status", "enum", required=True, enum="casestatuses"),
        _f("priority", "Priority", "enum", required=True, enum="casepriorities"),
        _f("source", "Source", "enum", required=True, enum="casesources"),
        _f("resolution", "Resolution", "text"),
    ]},
}

TITLES: dict[str, str] = {"lead": "Create Lead", "opportunity": "Create Opportunity",
                          "case": "Create Case"}


def _choices(*pairs: str, default: str | None = None) -> list[EnumChoice]:
    return [EnumChoice(pairs[i], pairs[i + 1], pairs[i] == default)
            for i in range(0, len(pairs), 2)]


# Built-in enum values, used while the CRM is unreachable: only ids a FRESH Oro install has
# (an id Oro lacks is refused with 400 when the entry is sent), in Oro's display order, the
# enum options' defaults marked (docs/protocol.md "Enum resources"; SalesBundle
# OroSalesBundleInstaller + LoadLeadSourceData, CaseBundle Load{Status,Priority,Source}Data).
DEFAULT_ENUMS: dict[str, list[EnumChoice]] = {
    "leadstatuses": _choices("new", "New", "qualified", "Qualified", "canceled", "Disqualified",
                             default="new"),
    "leadsources": _choices("demand_generation", "Demand Generation",
                            default="demand_generation"),
    "opportunitystatuses": _choices(
        "in_progress", "Open", "identification_alignment", "Identification & Alignment",
        "needs_analysis", "Needs Analysis", "solution_development", "Solution Development",
        "negotiation", "Negotiation", "won", "Closed Won", "lost", "Closed Lost",
        default="in_progress"),
    "casestatuses": _choices("open", "Open", "in_progress", "In Progress", "resolved",
                             "Resolved", "closed", "Closed"),
    "casepriorities": _choices("low", "Low", "normal", "Normal", "high", "High"),
    # No order in Oro (CaseSource has none): shown in the API's id order, as when online.
    "casesources": _choices("email", "Email", "other", "Other", "phone", "Phone", "web", "Web"),
}


def with_preset(enum: str, choices: Iterable[EnumChoice]) -> tuple[EnumChoice, ...]:
    """``choices`` with a default marked: the CRM's own, else the preset of ``enum``
    (``CHOICE_PRESETS``), else the first choice. Empty stays empty."""
    listed = tuple(choices)
    if not listed or any(c.default for c in listed):
        return listed
    ids = [c.id for c in listed]
    chosen = next((p for p in CHOICE_PRESETS.get(enum, ()) if p in ids), ids[0])
    return tuple(replace(c, default=c.id == chosen) for c in listed)


class EnumSource(Protocol):
    """What ``load_forms`` needs of a CrmClient."""

    def configuration(self) -> dict[str, Any]: ...
    def enum_values(self, type: str) -> list[Any]: ...


def _parse_field(raw: Any) -> FormField | None:
    """One layout entry as a FormField, or None when it cannot be used."""
    if not isinstance(raw, Mapping):
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    type_ = raw.get("type", "string")
    if type_ not in FIELD_TYPES:
        return None
    declared = raw.get("kind") or ("relationship" if type_ in ("enum", "customer") else "attribute")
    enum = raw.get("enum")
    kind: Literal["attribute", "relationship"] = "attribute"
    if type_ == "enum":
        if not isinstance(enum, str) or not enum:
            return None
        kind = "relationship"  # enums are relationships to enum resources in Oro's API
    elif type_ == "customer":
        kind = "relationship"  # an account or a business customer, chosen with a picker
    elif declared != "attribute":
        return None  # relationships to other records (contact …) need a picker: skipped
    label = raw.get("label")
    return FormField(
        name=name.strip(),
        label=label if isinstance(label, str) and label.strip() else name.strip(),
        kind=kind,
        type=type_,
        required=bool(raw.get("required", False)),
        enum=enum if type_ == "enum" else None,
    )


def parse_layout(kind: str, layout: Any,
                 enums: Mapping[str, Iterable[EnumChoice]] | None = None) -> FormDefinition:
    """Build the form of ``kind`` from a server layout (a JSON object, or its JSON text).

    Falls back to the built-in layout when ``layout`` is None or unusable. Enum choices come
    from ``enums`` (enum resource -> choices), else from ``DEFAULT_ENUMS``. Raises KeyError
    only for an unknown ``kind``.
    """
    default_layout = DEFAULT_LAYOUTS[kind]
    if isinstance(layout, (str, bytes)):
        try:
            layout = json.loads(layout)
        except ValueError:
            log.warning("The CRM's %s layout is not JSON; using the built-in one", kind)
            layout = None
    raw_fields = layout.get("fields") if isinstance(layout, Mapping) else None
    parsed: list[FormField] = []
    seen: set[str] = set()
    if isinstance(raw_fields, list):
        for raw in raw_fields:
            form_field = _parse_field(raw)
            if form_field is not None and form_field.name not in seen:
                parsed.append(form_field)
                seen.add(form_field.name)
    if not parsed:
        if layout is not None:
            log.warning("The CRM's %s layout has no usable field; using the built-in one", kind)
        parsed = [f for f in (_parse_field(raw) for raw in default_layout["fields"]) if f]
        seen = {f.name for f in parsed}
    builtin = {f.name: f for f in (_parse_field(raw) for raw in default_layout["fields"]) if f}
    # Missing required fields go right after the previous required one (else to the front),
    # so that they show near the top of the form, not under the fold.
    anchor = -1
    for name in CRM_REQUIRED[kind]:
        if name in seen:
            anchor = next(i for i, f in enumerate(parsed) if f.name == name)
        else:
            anchor += 1
            parsed.insert(anchor, builtin[name])
    enum_table: Mapping[str, Iterable[EnumChoice]] = enums if enums is not None else {}
    final: list[FormField] = []
    for form_field in parsed:
        if form_field.name in CRM_REQUIRED[kind]:
            form_field = replace(form_field, required=True)
        if form_field.enum:
            choices = enum_table.get(form_field.enum)
            if choices is None:
                choices = DEFAULT_ENUMS.get(form_field.enum, [])
            if form_field.required:
                choices = with_preset(form_field.enum, choices)
            form_field = replace(form_field, choices=tuple(choices))
        final.append(form_field)
    return FormDefinition(kind=kind, resource_type=RESOURCE_TYPES[kind], title=TITLES[kind],
                          fields=tuple(final))


def default_forms() -> dict[str, FormDefinition]:
    """The built-in forms with the built-in enum choices (what an offline client shows)."""
    return {kind: parse_layout(kind, None) for kind in KINDS}


def forms_from(configuration: Mapping[str, Any] | None,
               enums: Mapping[str, Iterable[EnumChoice]] | None = None
               ) -> dict[str, FormDefinition]:
    """The three forms from a configuration dict (``CrmClient.configuration()``) and enums."""
    config = configuration or {}
    return {kind: parse_layout(kind, config.get(LAYOUT_KEYS[kind]), enums) for kind in KINDS}


def enum_types(forms: Mapping[str, FormDefinition] | None = None) -> list[str]:
    """The enum resources the forms use (the built-in ones when ``forms`` is None)."""
    chosen = forms if forms is not None else default_forms()
    names: list[str] = []
    for form in chosen.values():
        for form_field in form.fields:
            if form_field.enum and form_field.enum not in names:
                names.append(form_field.enum)
    return names


def _as_choice(value: Any) -> EnumChoice | None:
    """An EnumValue(id, label, default) from the CRM client as an EnumChoice."""
    value_id = getattr(value, "id", None)
    if value_id is None:
        return None
    label = getattr(value, "label", None) or str(value_id)
    return EnumChoice(str(value_id), str(label), bool(getattr(value, "default", False)))


def load_forms(crm: EnumSource) -> dict[str, FormDefinition]:
    """Fetch the layouts and enum lists from the CRM and build the three forms.

    Never raises a CrmError: whatever cannot be fetched (offline, 403, server error) is
    replaced by the built-in defaults, piece by piece, so the side panel always has a form.
    """
    return fetch_forms(crm)[0]


def fetch_forms(crm: EnumSource) -> tuple[dict[str, FormDefinition], OfflineError | None]:
    """Like ``load_forms``, also returning the OfflineError when the CRM was unreachable
    (so a caller can skip sending instead of waiting for the same timeout again)."""
    try:
        configuration: Mapping[str, Any] | None = crm.configuration()
    except OfflineError as exc:
        # Every further call would wait for the same timeout: go with the defaults now.
        log.info("CRM unreachable, using the built-in create forms: %s", exc.title)
        return default_forms(), exc
    except CrmError as exc:
        log.info("Using the built-in create forms: %s", exc)
        configuration = None
    layouts_only = forms_from(configuration, {})
    enums: dict[str, list[EnumChoice]] = {}
    for enum_type in enum_types(layouts_only):
        try:
            values = crm.enum_values(enum_type)
        except OfflineError as exc:
            log.info("CRM unreachable, using the built-in enum lists: %s", exc.title)
            return forms_from(configuration, enums), exc
        except CrmError as exc:
            log.info("Using the built-in %s: %s", enum_type, exc)
            continue
        choices = [c for c in (_as_choice(v) for v in values) if c is not None]
        if choices:
            enums[enum_type] = choices
    return forms_from(configuration, enums), None
