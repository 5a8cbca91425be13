"""Form definitions, validation and the JSON:API mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tray_client.errors import ForbiddenError, OfflineError
from tray_client.outbox import (
    DEFAULT_ENUMS,
    EnumChoice,
    default_forms,
    forms_from,
    load_forms,
    parse_layout,
    to_payload,
    validate,
)


def test_default_forms_follow_the_builtin_layouts():
    forms = default_forms()
    lead = forms["lead"]
    assert lead.resource_type == "leads"
    assert lead.field_names[:3] == ["name", "firstName", "lastName"]
    assert lead.field("name").required and not lead.field("notes").required
    status = lead.field("status")
    assert status.kind == "relationship" and status.enum == "leadstatuses"
    assert [c.id for c in status.choices] == ["new", "qualified", "canceled"]
    assert status.default_choice.id == "new"
    opportunity = forms["opportunity"]
    assert opportunity.field("status").required and opportunity.field("name").required
    assert forms["case"].field("priority").default_choice.id == "normal"


def test_server_layout_sets_fields_order_labels_and_required():
    layout = {"fields": [
        {"name": "notes", "label": "What they want", "kind": "attribute", "type": "text",
         "required": True},
        {"name": "source", "kind": "relationship", "type": "enum", "enum": "leadsources"},
        {"name": "owner", "kind": "relationship", "type": "string"},   # record picker: skipped
        {"name": "bogus", "type": "colour"},                           # unknown type: skipped
        "not an object",
        {"name": "notes", "type": "text"},                             # duplicate: skipped
    ]}
    form = parse_layout("lead", json.dumps(layout))  # layouts may come as JSON text too
    # name is required by the CRM, so it is added (at the front) although the layout left it out.
    assert form.field_names == ["name", "notes", "source"]
    assert form.field("notes").label == "What they want" and form.field("notes").required
    assert form.field("source").label == "source"
    assert form.field("name").required


@pytest.mark.parametrize("layout", [None, "not json", {"fields": []}, {"fields": "x"}, [1, 2]])
def test_unusable_layout_falls_back_to_the_builtin_one(layout):
    assert parse_layout("case", layout).field_names == default_forms()["case"].field_names


def test_crm_required_fields_cannot_be_made_optional():
    form = parse_layout("opportunity", {"fields": [
        {"name": "name", "type": "string", "required": False},
        {"name": "status", "type": "enum", "enum": "opportunitystatuses", "required": False}]})
    assert form.field("name").required and form.field("status").required


def test_forms_from_configuration_and_enums():
    enums = {"casepriorities": [EnumChoice("p1", "Urgent"), EnumChoice("p2", "Later", True)]}
    forms = forms_from({"create_case_dialog_layout": {"fields": [
        {"name": "subject", "type": "string", "required": True},
        {"name": "priority", "type": "enum", "enum": "casepriorities"}]}}, enums)
    # Oro requires source and status too: added after the subject although the layout left them out.
    assert forms["case"].field_names == ["subject", "source", "status", "priority"]
    assert [c.id for c in forms["case"].field("priority").choices] == ["p1", "p2"]
    assert forms["case"].field("priority").default_choice.id == "p2"
    # Other kinds keep the built-in layout and enums.
    assert forms["lead"].field("status").choices == tuple(DEFAULT_ENUMS["leadstatuses"])


@dataclass
class _EnumValue:
    id: str
    label: str
    default: bool = False


class _Crm:
    def __init__(self, config=None, config_error=None, enum_error=None):
        self.config, self.config_error, self.enum_error = config, config_error, enum_error
        self.enum_calls: list[str] = []

    def configuration(self):
        if self.config_error:
            raise self.config_error
        return self.config or {}

    def enum_values(self, type):
        self.enum_calls.append(type)
        if self.enum_error:
            raise self.enum_error
        return [_EnumValue(f"{type}-1", "One"), _EnumValue(f"{type}-2", "Two", True)]


def test_load_forms_uses_the_crm_enums():
    crm = _Crm()
    forms = load_forms(crm)
    assert [c.id for c in forms["lead"].field("status").choices] == ["leadstatuses-1",
                                                                      "leadstatuses-2"]
    assert forms["lead"].field("status").default_choice.id == "leadstatuses-2"
    assert set(crm.enum_calls) == {"leadstatuses", "leadsources", "opportunitystatuses",
                                   "casestatuses", "casepriorities", "casesources"}


def test_load_forms_offline_gives_builtin_forms_without_more_calls():
    crm = _Crm(config_error=OfflineError("refused"))
    assert load_forms(crm) == default_forms()
    assert crm.enum_calls == []


def test_load_forms_keeps_builtin_enums_when_enum_lists_are_forbidden():
    crm = _Crm(config={"create_lead_dialog_layout": {"fields": [
        {"name": "name", "type": "string"},
        {"name": "status", "type": "enum", "enum": "leadstatuses"}]}},
        enum_error=ForbiddenError("no"))
    forms = load_forms(crm)
    assert forms["lead"].field_names == ["name", "status"]
    assert forms["lead"].field("status").choices == tuple(DEFAULT_ENUMS["leadstatuses"])


# -- validation ----------------------------------------------------------------------------


ACME = {"type": "accounts", "id": "3", "label": "Acme"}


def _problems(kind, values):
    return {p.field: p.message for p in validate(default_forms()[kind], values)[1]}


def test_required_fields_and_unknown_names():
    problems = _problems("lead", {"name": "  ", "nmae": "typo"})
    assert problems["name"] == "Lead name is required."
    assert "Not a field of this form" in problems["nmae"]


def test_required_enum_takes_the_default_choice():
    cleaned, problems = validate(default_forms()["opportunity"], {"name": "Deal", "account": ACME})
    assert problems == [] and cleaned["status"] == "in_progress"


@pytest.mark.parametrize("kind, field, value", [
    ("lead", "status", "archived"),
    ("lead", "emails", "not-an-address"),
    ("lead", "emails", "a@x.org, b@"),
    ("lead", "phones", "call me"),
    ("lead", "name", "two\nlines"),
    ("lead", "name", "x" * 256),
    ("lead", "name", "Ann\x1b[31m"),
    ("lead", "notes", "fine\nbut a NUL\x00"),
    ("lead", "notes", "n" * 65536),
    ("opportunity", "closeDate", "2026-02-30"),
    ("opportunity", "closeDate", "30.01.2026"),
    ("opportunity", "probability", "150"),
    ("opportunity", "probability", "high"),
    ("opportunity", "budgetAmountValue", "-5"),
    ("opportunity", "budgetAmountValue", "12.345"),
    ("opportunity", "budgetAmountValue", "lots"),
    ("case", "priority", "urgent"),
])
def test_bad_values_are_flagged_at_their_field(kind, field, value):
    base = {
        "lead": {"name": "L"},
        "opportunity": {"name": "O", "account": "3"},
        "case": {"subject": "C"},
    }[kind]
    problems = _problems(kind, {**base, field: value})
    assert list(problems) == [field]


def test_values_are_cleaned():
    cleaned, problems = validate(default_forms()["opportunity"], {
        "name": "  Big deal ", "closeDate": "2026-12-31", "probability": "35%",
        "budgetAmountValue": "1500.5", "notes": "", "status": "won", "account": ACME})
    assert problems == []
    assert cleaned == {"name": "Big deal", "account": ACME, "status": "won",
                       "closeDate": "2026-12-31", "probability": 35,
                       "budgetAmountValue": "1500.50"}
    cleaned, _ = validate(default_forms()["lead"], {
        "name": "L", "emails": "a@x.org; A@X.org, b@y.org", "phones": ["+1 555 0100"]})
    assert cleaned["emails"] == ["a@x.org", "b@y.org"]  # duplicates dropped
    assert cleaned["phones"] == ["+1 555 0100"]


def test_payload_maps_attributes_relationships_and_collections():
    forms = default_forms()
    cleaned, _ = validate(forms["lead"], {"name": "L", "emails": "a@x.org,b@y.org",
                                          "phones": "+49 30 1234", "status": "qualified"})
    payload = to_payload(forms["lead"], cleaned)
    assert payload.resource_type == "leads"
    assert payload.attributes == {"name": "L", "emails": [{"email": "a@x.org"},
                                                          {"email": "b@y.org"}],
                                  "phones": [{"phone": "+49 30 1234"}]}
    assert payload.relationships == {"status": {"data": {"type": "leadstatuses",
                                                         "id": "qualified"}}}
    cleaned, _ = validate(forms["opportunity"], {"name": "O", "probability": "35", "account": "7"})
    payload = to_payload(forms["opportunity"], cleaned)
    assert payload.attributes["probability"] == pytest.approx(0.35)  # Oro keeps fractions
    assert payload.relationships["status"]["data"] == {"type": "opportunitystatuses",
                                                       "id": "in_progress"}
    assert payload.relationships["account"]["data"] == {"type": "accounts", "id": "7"}
    assert "customer" not in payload.relationships


# -- what Oro requires: an account or a customer; case enums -------------------------------


def test_an_opportunity_needs_an_account_or_a_customer():
    form = default_forms()["opportunity"]
    field = form.field("account")
    assert field.required and field.type == "customer" and field.kind == "relationship"
    assert _problems("opportunity", {"name": "O"}) == {
        "account": "Account or customer is required."
    }
    # A server layout without it still gets it (Oro refuses the record otherwise).
    layout = parse_layout("opportunity", {"fields": [{"name": "name", "type": "string"}]})
    assert layout.field_names == ["name", "status", "account"] and layout.field("account").required
    layout = parse_layout("opportunity", {"fields": [
        {"name": "name", "type": "string"}, {"name": "closeDate", "type": "date"},
        {"name": "status", "type": "enum", "enum": "opportunitystatuses"},
        {"name": "notes", "type": "text"}]})
    assert layout.field_names == ["name", "closeDate", "status", "account", "notes"]


@pytest.mark.parametrize("given, expected", [
    ({"account": ACME}, ("account", {"type": "accounts", "id": "3"})),
    ({"account": "3"}, ("account", {"type": "accounts", "id": "3"})),
    ({"account": "b2bcustomers:9"}, ("customer", {"type": "b2bcustomers", "id": "9"})),
    ({"customer": "9"}, ("customer", {"type": "b2bcustomers", "id": "9"})),  # Oro's name
    ({"account": {"type": "b2bcustomers", "id": "9", "label": "Acme Retail"}},
     ("customer", {"type": "b2bcustomers", "id": "9"})),
])
def test_the_account_field_is_sent_as_account_or_customer(given, expected):
    form = default_forms()["opportunity"]
    cleaned, problems = validate(form, {"name": "O", **given})
    assert problems == []
    relationships = to_payload(form, cleaned).relationships
    name, data = expected
    assert relationships[name] == {"data": data}
    other = ({"account", "customer"} - {name}).pop()
    assert other not in relationships


@pytest.mark.parametrize("value", ["Acme Corp", "contacts:3", {"type": "users", "id": "1"}])
def test_an_account_must_be_a_record_reference(value):
    assert list(_problems("opportunity", {"name": "O", "account": value})) == ["account"]


def test_case_enums_are_required_and_preset():
    form = default_forms()["case"]
    assert all(form.field(name).required for name in ("source", "status", "priority"))
    presets = {
        name: form.field(name).default_choice.id for name in ("source", "status", "priority")
    }
    assert presets == {"source": "other", "status": "open", "priority": "normal"}
    cleaned, problems = validate(form, {"subject": "Printer"})
    assert problems == [] and {k: cleaned[k] for k in presets} == presets
    # Oro's case lists mark no default: the preset is taken when present, else the first.
    enums = {"casestatuses": [EnumChoice("new", "New"), EnumChoice("open", "Open")],
             "casepriorities": [EnumChoice("p1", "Urgent"), EnumChoice("p2", "Later")]}
    form = forms_from({}, enums)["case"]
    assert form.field("status").default_choice.id == "open"
    assert form.field("priority").default_choice.id == "p1"


def test_builtin_lists_hold_only_ids_a_fresh_oro_has():
    fresh = {
        "leadstatuses": ["new", "qualified", "canceled"],
        "leadsources": ["demand_generation"],
        "opportunitystatuses": ["in_progress", "identification_alignment", "needs_analysis",
                                "solution_development", "negotiation", "won", "lost"],
        "casestatuses": ["open", "in_progress", "resolved", "closed"],
        "casepriorities": ["low", "normal", "high"],
        "casesources": ["email", "other", "phone", "web"],
    }
    assert {enum: [c.id for c in choices] for enum, choices in DEFAULT_ENUMS.items()} == fresh
    assert [c.id for c in DEFAULT_ENUMS["leadsources"] if c.default] == ["demand_generation"]
