"""What the reference server serves: resource types, their attributes, relationships and enums.

One table of declarations drives validation, storage, filtering and serialisation, so the
server's behaviour and ``docs/protocol.md`` are written down in one place each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Attribute kinds understood by :mod:`tray_client.devserver.validation`.
STRING = "string"  # short text, at most 255 characters (Oro's string columns)
TEXT = "text"  # long text
DATE = "date"  # YYYY-MM-DD
DATETIME = "datetime"  # ISO-8601 in, YYYY-MM-DDTHH:MM:SSZ out
BOOLEAN = "boolean"
PERCENT = "percent"  # a number from 0 to 1 (Oro keeps percents as fractions)
MONEY = "money"  # a decimal number, sent as a string like Oro does ("1500.0000")
CURRENCY = "currency"  # ISO 4217 code
EMAILS = "emails"  # [{"email": "..."}]
PHONES = "phones"  # [{"phone": "..."}]
GENDER = "gender"  # "male" | "female" | null
READONLY_TIMESTAMP = "timestamp"  # createdAt / updatedAt: set by the server


@dataclass(frozen=True)
class Attribute:
    """One attribute of a resource type."""

    name: str
    kind: str = STRING
    required: bool = False


@dataclass(frozen=True)
class Relationship:
    """One relationship. ``target`` None accepts any type in ``targets`` (opportunity customers).

    ``default`` is an enum id, or ``"@user"`` (the authenticated user), or ``"@calendar"``
    (the authenticated user's default calendar). ``column`` names the indexed column that
    mirrors a to-one relationship so that it can be filtered on.
    """

    name: str
    target: str | None
    many: bool = False
    required: bool = False
    default: str | None = None
    column: str | None = None
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResourceType:
    """A stored, routable resource type."""

    name: str
    attributes: tuple[Attribute, ...]
    relationships: tuple[Relationship, ...] = ()
    writable: bool = True
    # Contacts: at least one of these must hold a value (Oro's contact validation).
    required_one_of: tuple[str, ...] = ()
    extra_filters: tuple[str, ...] = ()  # attribute filters besides id/createdAt/updatedAt
    # Oro's ``filter[searchText]`` (SearchBundle AddSearchTextFilter): entities in the search
    # index; the reference server matches a part of these attributes, case-insensitively.
    search_fields: tuple[str, ...] = ()
    attribute_names: frozenset[str] = field(init=False)
    relationship_map: dict[str, Relationship] = field(init=False, compare=False)
    attribute_map: dict[str, Attribute] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attribute_names", frozenset(a.name for a in self.attributes))
        object.__setattr__(self, "attribute_map", {a.name: a for a in self.attributes})
        object.__setattr__(self, "relationship_map", {r.name: r for r in self.relationships})

    @property
    def filter_columns(self) -> dict[str, str]:
        """Relationship filters (``filter[owner]`` …) and the column each one reads."""
        return {r.name: r.column for r in self.relationships if r.column}


TIMESTAMPS = (
    Attribute("createdAt", READONLY_TIMESTAMP),
    Attribute("updatedAt", READONLY_TIMESTAMP),
)
OWNER = Relationship("owner", "users", default="@user", column="owner")

RESOURCE_TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "contacts",
            (
                Attribute("namePrefix"),
                Attribute("firstName"),
                Attribute("middleName"),
                Attribute("lastName"),
                Attribute("nameSuffix"),
                Attribute("gender", GENDER),
                Attribute("birthday", DATE),
                Attribute("description", TEXT),
                Attribute("jobTitle"),
                Attribute("fax"),
                Attribute("emails", EMAILS),
                Attribute("phones", PHONES),
                Attribute("primaryEmail"),
                Attribute("primaryPhone"),
                *TIMESTAMPS,
            ),
            (
                OWNER,
                Relationship("assignedTo", "users", column="assigned_to"),
                # Derived from contactaddresses.owner; written through `included`.
                Relationship("addresses", "contactaddresses", many=True),
                # Oro's account <-> contact many-to-many (orocrm_account_to_contact), kept
                # in the account_contacts table and served on both sides.
                Relationship("accounts", "accounts", many=True),
            ),
            required_one_of=("firstName", "lastName", "emails", "phones"),
            extra_filters=("emails",),
            search_fields=("firstName", "lastName"),
        ),
        ResourceType(
            # Oro's ContactAddress (crm ContactBundle api.yml, get_contact_address.yml):
            # country and region are relationships, a free-text region is customRegion.
            "contactaddresses",
            (
                Attribute("label"),
                Attribute("street"),
                Attribute("street2"),
                Attribute("city"),
                Attribute("postalCode"),
                Attribute("organization"),
                Attribute("namePrefix"),
                Attribute("firstName"),
                Attribute("middleName"),
                Attribute("lastName"),
                Attribute("nameSuffix"),
                Attribute("customRegion"),
                Attribute("primary", BOOLEAN),
                *TIMESTAMPS,
            ),
            (
                Relationship("owner", "contacts", required=True, column="owner"),
                Relationship("types", "addresstypes", many=True),
                Relationship("country", "countries", required=True),
                Relationship("region", "regions"),
            ),
        ),
        ResourceType(
            "tasks",
            (
                Attribute("subject", required=True),
                Attribute("description", TEXT),
                Attribute("dueDate", DATETIME),
                *TIMESTAMPS,
            ),
            (
                # Required, no defaults (TaskBundle validation.yml NotBlank on status and
                # taskPriority; doc/api/task.md "required on create").
                Relationship("taskPriority", "taskpriorities", required=True),
                Relationship("status", "taskstatuses", required=True),
                OWNER,
            ),
        ),
        ResourceType(
            "calendarevents",
            (
                Attribute("title", required=True),
                Attribute("description", TEXT),
                Attribute("start", DATETIME, required=True),
                Attribute("end", DATETIME, required=True),
                Attribute("allDay", BOOLEAN),
                *TIMESTAMPS,
            ),
            (Relationship("calendar", "calendars", default="@calendar", column="calendar"),),
        ),
        ResourceType(
            "calendars",
            (Attribute("name"),),
            (Relationship("owner", "users", column="owner"),),
            writable=False,
        ),
        ResourceType(
            "users",
            (
                Attribute("username"),
                Attribute("firstName"),
                Attribute("lastName"),
                Attribute("email"),
            ),
            writable=False,
            extra_filters=("username",),
        ),
        ResourceType(
            "leads",
            (
                Attribute("name", required=True),
                Attribute("firstName"),
                Attribute("lastName"),
                Attribute("jobTitle"),
                Attribute("companyName"),
                Attribute("emails", EMAILS),
                Attribute("phones", PHONES),
                Attribute("notes", TEXT),
                *TIMESTAMPS,
            ),
            (
                Relationship("status", "leadstatuses", default="new"),
                Relationship("source", "leadsources"),
                OWNER,
            ),
        ),
        ResourceType(
            "accounts",
            (Attribute("name", required=True), *TIMESTAMPS),
            (
                OWNER,
                Relationship("contacts", "contacts", many=True),
                Relationship("defaultContact", "contacts"),
            ),
            extra_filters=("name",),  # indexed in Oro (account_name_idx): eq/neq only
            search_fields=("name",),
        ),
        ResourceType(
            "b2bcustomers",
            (Attribute("name", required=True), *TIMESTAMPS),
            (OWNER, Relationship("account", "accounts")),
            search_fields=("name",),
        ),
        ResourceType(
            "opportunities",
            (
                Attribute("name", required=True),
                Attribute("closeDate", DATE),
                Attribute("probability", PERCENT),
                Attribute("budgetAmountValue", MONEY),
                Attribute("budgetAmountCurrency", CURRENCY),
                Attribute("customerNeed", TEXT),
                Attribute("proposedSolution", TEXT),
                Attribute("notes", TEXT),
                *TIMESTAMPS,
            ),
            (
                Relationship("status", "opportunitystatuses", required=True),
                # Either an account or a customer (Oro's customer association; see records.py).
                Relationship("account", "accounts"),
                Relationship("customer", None, targets=("b2bcustomers",)),
                Relationship("contact", "contacts"),
                OWNER,
            ),
        ),
        ResourceType(
            "cases",
            (
                Attribute("subject", required=True),
                Attribute("description", TEXT),
                Attribute("resolution", TEXT),
                *TIMESTAMPS,
            ),
            (
                # Required, no defaults (CaseBundle validation.yml NotBlank; CaseEntity sets none).
                Relationship("source", "casesources", required=True),
                Relationship("status", "casestatuses", required=True),
                Relationship("priority", "casepriorities", required=True),
                Relationship("relatedContact", "contacts"),
                Relationship("relatedAccount", "accounts"),
                OWNER,
            ),
        ),
    )
}

# Types whose documents can carry a float (a percent attribute): their answers are written
# by the standard library's json (jsonapi.encode_document), the others' by msgspec.
FLOAT_TYPES: frozenset[str] = frozenset(
    t.name for t in RESOURCE_TYPES.values() if any(a.kind == PERCENT for a in t.attributes)
)

# Enum resources: id -> label, in display order, as a FRESH Oro install has them
# (docs/protocol.md "Enum resources"). Two kinds, served in Oro's two shapes:
# - enum options (extend enums): attributes ``name``, ``priority``, ``default``; kept in the
#   database (table enum_options), so values can be added (the demo adds Oro's demo lead
#   sources);
# - dictionary entities: attributes ``label`` and, where the entity has one, ``order``;
#   no ``default`` (CaseBundle Load{Status,Priority,Source}Data, TaskBundle priorities).
ENUMS: dict[str, tuple[tuple[str, str], ...]] = {
    "taskpriorities": (("low", "Low"), ("normal", "Normal"), ("high", "High")),
    "taskstatuses": (("open", "Open"), ("in_progress", "In Progress"), ("closed", "Closed")),
    "leadstatuses": (("new", "New"), ("qualified", "Qualified"), ("canceled", "Disqualified")),
    # SalesBundle Migrations/Data/ORM/LoadLeadSourceData.php: only this one, the default.
    "leadsources": (("demand_generation", "Demand Generation"),),
    "opportunitystatuses": (
        ("in_progress", "Open"),
        ("identification_alignment", "Identification & Alignment"),
        ("needs_analysis", "Needs Analysis"),
        ("solution_development", "Solution Development"),
        ("negotiation", "Negotiation"),
        ("won", "Closed Won"),
        ("lost", "Closed Lost"),
    ),
    "casestatuses": (
        ("open", "Open"),
        ("in_progress", "In Progress"),
        ("resolved", "Resolved"),
        ("closed", "Closed"),
    ),
    "casepriorities": (("low", "Low"), ("normal", "Normal"), ("high", "High")),
    # CaseBundle LoadSourceData.php order (the entity has no ``order`` column).
    "casesources": (("phone", "Phone"), ("email", "Email"), ("web", "Web"), ("other", "Other")),
    "addresstypes": (("billing", "Billing"), ("shipping", "Shipping")),
}

# Enum options and their default value (marked ``default: true``; None: no default).
ENUM_DEFAULTS: dict[str, str | None] = {
    "taskstatuses": "open",
    "leadstatuses": "new",
    "leadsources": "demand_generation",
    "opportunitystatuses": "in_progress",
}
ENUM_OPTION_TYPES: frozenset[str] = frozenset(ENUM_DEFAULTS)
# Dictionaries with an ``order`` attribute (the others have only ``label``).
ORDERED_DICTIONARIES: frozenset[str] = frozenset(
    {"taskpriorities", "casestatuses", "casepriorities"}
)

# Oro's demo data adds these lead sources, each with priority 1, 2, … like its fixture
# (DemoDataBundle Migrations/Data/Demo/ORM/LoadLeadSourceData.php; ids from the names).
DEMO_ENUM_OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "leadsources": (
        ("website", "Website"),
        ("direct_mail", "Direct Mail"),
        ("affiliate", "Affiliate"),
        ("email_marketing", "Email Marketing"),
        ("outbound", "Outbound"),
        ("partner", "Partner"),
    ),
}

# The removals feed is a stored, read-only pseudo-resource (see docs/protocol.md).
REMOVALS = "removals"
SERVER_VERSION = "5.1.0"
