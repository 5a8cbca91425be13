"""Realistic, deterministic demo data (``--demo N``), inserted in bulk.

The same N on the same day gives the same records: a seeded random generator, and times
anchored to today's midnight UTC (events spread over the past and coming weeks). Rows are
written with ``executemany`` in one transaction, so 100,000 contacts take seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterable
from typing import Any

from .database import Database
from .jsonapi import format_timestamp
from .schema import DEMO_ENUM_OPTIONS, ENUMS

SEED = 20261123
FEMALE = (
    "Anna", "Maria", "Emma", "Olivia", "Sophie", "Laura", "Julia", "Chloe", "Ines", "Hannah", "Mei",
    "Priya", "Zoe", "Clara", "Nora", "Elena",
)
MALE = (
    "James", "Lucas", "Noah", "Liam", "David", "Paul", "Marco", "Tom", "Ahmed", "Kenji", "Pierre",
    "Jonas", "Ivan", "Oscar", "Diego", "Ravi",
)
LAST = (
    "Smith", "Johnson", "Müller", "Garcia", "Martin", "Rossi", "Dubois", "Novak", "Kowalski",
    "Tanaka", "Silva", "Brown", "Schneider", "Larsen", "O'Brien", "Nguyen", "Fischer", "Moreau",
    "Petrov", "Jansen",
)
DOMAINS = (
    "example.com", "example.org", "acme.test", "globex.test", "initech.test", "umbrella.test",
)
COMPANIES = (
    "Acme Corp", "Globex", "Initech", "Umbrella Ltd", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Imports",
)
TITLES = (
    "Sales Manager", "CEO", "CTO", "Buyer", "Office Manager", "Engineer", "Accountant",
    "Head of Purchasing", None, None,
)
PREFIXES = ("Mr.", "Ms.", "Dr.", None, None, None, None, None)
SUFFIXES = ("Jr.", "Sr.", "PhD", None, None, None, None, None, None, None)
# city, postal code, region (ISO 3166-2, as Oro's regions), country (ISO 3166-1 alpha-2)
CITIES = (
    ("Berlin", "10115", "DE-BE", "DE"),
    ("Paris", "75001", "FR-IDF", "FR"),
    ("Boston", "02108", "US-MA", "US"),
    ("Austin", "73301", "US-TX", "US"),
    ("Milan", "20121", "IT-25", "IT"),
    ("Lyon", "69001", "FR-ARA", "FR"),
    ("Denver", "80202", "US-CO", "US"),
)
STREETS = (
    "Main Street", "Oak Avenue", "Hauptstraße", "Rue de la Paix", "Via Roma", "Market Street",
    "Elm Road",
)
TASK_VERBS = (
    "Call", "E-mail", "Send proposal to", "Follow up with", "Prepare demo for",
    "Review contract of", "Visit",
)
EVENT_TITLES = (
    "Weekly sales meeting", "Product demo", "Customer visit", "Quarterly review",
    "Lunch with partner", "Training", "Conference", "Team offsite", "Budget planning",
)
# A fresh Oro's lead source plus those Oro's own demo data adds.
LEAD_SOURCES = tuple(
    item_id for item_id, _ in ENUMS["leadsources"] + DEMO_ENUM_OPTIONS["leadsources"]
)
ACCOUNT_KINDS = (
    "Trading", "& Sons", "Logistics", "Consulting", "Manufacturing", "Retail", "Holding",
    "Partners",
)
CUSTOMER_UNITS = ("Retail", "Services", "EMEA", "Americas", "Online")
INSERT = (
    "INSERT INTO {table} (attributes, relationships, owner, assigned_to, calendar, created_at, "
    "updated_at) VALUES (?,?,?,?,?,?,?)"
)


_USERS = {uid: {"type": "users", "id": uid} for uid in ("1", "2")}


def _ref(type_name: str, item_id: str) -> dict[str, str]:
    return {"type": type_name, "id": item_id}


class _Clock:
    """Deterministic times relative to today's midnight UTC."""

    def __init__(self, rng: random.Random) -> None:
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.anchor = today
        self.rng = rng

    def stamps(self) -> tuple[str, str]:
        """(createdAt, updatedAt) within the last months, created first."""
        updated = self.anchor - dt.timedelta(seconds=self.rng.randrange(1, 90 * 86400))
        created = updated - dt.timedelta(seconds=self.rng.randrange(0, 180 * 86400))
        return format_timestamp(created), format_timestamp(updated)


def _owner(rng: random.Random) -> tuple[str, str | None]:
    """(owner, assignedTo): mostly user 1; a fifth user 2, some of those assigned to user 1."""
    if rng.random() < 0.8:
        return "1", ("2" if rng.random() < 0.05 else None)
    return "2", ("1" if rng.random() < 0.3 else None)


def _contacts(
    rng: random.Random, clock: _Clock, n: int, domains: dict[int, str]
) -> Iterable[tuple[tuple[Any, ...], list[tuple[dict[str, Any], list[str], str, str]]]]:
    for i in range(n):
        female = rng.random() < 0.5
        first = rng.choice(FEMALE if female else MALE)
        last = rng.choice(LAST)
        login = f"{first}.{last}".lower().replace("'", "").replace("ü", "ue")
        domain = rng.choice(DOMAINS)
        # Someone working for an account writes from its domain (the side panel finds the
        # account of an e-mail's sender by the address).
        emails = [{"email": f"{login}{i}@{domains.get(i, domain)}"}]
        for _ in range(rng.choice((0, 0, 1, 2))):
            emails.append({"email": f"{login[0]}{i}.{len(emails)}@{rng.choice(DOMAINS)}"})
        phones = [
            {"phone": f"+1-555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"}
            for _ in range(rng.choice((1, 1, 2, 3)))
        ]
        attributes: dict[str, Any] = {
            "firstName": first,
            "lastName": last,
            "emails": emails,
            "phones": phones,
            "primaryEmail": emails[0]["email"],
            "primaryPhone": phones[0]["phone"],
        }
        if rng.random() < 0.9:
            attributes["gender"] = "female" if female else "male"
        if rng.random() < 0.7:
            birthday = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 50 * 365))
            attributes["birthday"] = birthday.isoformat()
        for key, choices in (
            ("namePrefix", PREFIXES),
            ("nameSuffix", SUFFIXES),
            ("jobTitle", TITLES),
        ):
            value = rng.choice(choices)
            if value:
                attributes[key] = value
        if rng.random() < 0.2:
            attributes["middleName"] = rng.choice(FEMALE if female else MALE)
        if rng.random() < 0.3:
            attributes["description"] = (
                f"Met at {rng.choice(EVENT_TITLES).lower()}; works with {rng.choice(COMPANIES)}."
            )
        if rng.random() < 0.2:
            attributes["fax"] = f"+1-555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
        owner, assigned = _owner(rng)
        rels: dict[str, Any] = {
            "owner": _USERS[owner],
            "assignedTo": _USERS[assigned] if assigned else None,
        }
        created, updated = clock.stamps()
        addresses: list[tuple[dict[str, Any], list[str], str, str]] = []
        for types in rng.choice(
            (
                [],
                [["billing"]],
                [["billing"], ["shipping"]],
                [[]],
                [["billing", "shipping"]],
                [["shipping"], []],
            )
        ):
            city, postal, region, country = rng.choice(CITIES)
            address = {
                "street": f"{rng.randrange(1, 300)} {rng.choice(STREETS)}",
                "city": city,
                "postalCode": postal,
                "primary": not addresses,
            }
            addresses.append((address, types, region, country))
        row = (json.dumps(attributes), json.dumps(rels), owner, assigned, None, created, updated)
        yield row, addresses


def _insert_contacts(
    db: Database, rng: random.Random, clock: _Clock, n: int, domains: dict[int, str] | None = None
) -> int:
    """Insert n contacts (the i-th writing from ``domains[i]`` when given); returns the first id."""
    with db.write() as conn:
        start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0] + 1
        rows, address_rows = [], []
        for offset, (row, addresses) in enumerate(_contacts(rng, clock, n, domains or {})):
            rows.append((start + offset, *row))
            contact_id = str(start + offset)
            for address, types, region, country in addresses:
                rels = {
                    "owner": _ref("contacts", contact_id),
                    "types": [_ref("addresstypes", t) for t in types],
                    "country": _ref("countries", country),
                    "region": _ref("regions", region),
                }
                address_rows.append(
                    (json.dumps(address), json.dumps(rels), contact_id, None, None, row[5], row[6])
                )
        conn.executemany(
            "INSERT INTO contacts (id, attributes, relationships, owner, assigned_to, calendar, "
            "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.executemany(INSERT.format(table="contactaddresses"), address_rows)
    return start


def bulk_contacts(db: Database, n: int) -> None:
    """n plain contacts owned by user 1, stamped now (one transaction; for scale tests)."""
    now = db.now()
    rels = json.dumps({"owner": _USERS["1"], "assignedTo": None})
    with db.write() as conn:
        start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM contacts").fetchone()[0] + 1
        conn.executemany(
            INSERT.format(table="contacts"),
            (
                (
                    json.dumps(
                        {
                            "firstName": "Bulk",
                            "lastName": f"Contact {i}",
                            "emails": [{"email": f"bulk{i}@example.com"}],
                            "primaryEmail": f"bulk{i}@example.com",
                        }
                    ),
                    rels,
                    "1",
                    None,
                    None,
                    now,
                    now,
                )
                for i in range(start, start + n)
            ),
        )


def load_demo(db: Database, n: int) -> bool:
    """N contacts, N tasks, N calendar events, and N/10 (at least 3) leads, opportunities, cases.

    Does nothing and returns False when the database already holds contacts, so restarting
    with the same ``--db`` and ``--demo`` does not double the data.
    """
    with db.read() as conn:
        if conn.execute("SELECT 1 FROM contacts LIMIT 1").fetchone() is not None:
            return False
    rng = random.Random(SEED + n)
    clock = _Clock(rng)
    # Accounts draw from their own generator, so the contacts stay what they were.
    account_rng = random.Random(SEED + n + 1)
    with db.read() as conn:
        account_start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM accounts").fetchone()[0] + 1
    accounts = _plan_accounts(account_rng, n, account_start)
    domains = {offset: accounts.domains[account] for offset, account in accounts.member_of.items()}
    contact_start = _insert_contacts(db, rng, clock, n, domains)
    _insert_accounts(db, account_rng, clock, accounts, contact_start)
    db.add_enum_options("leadsources", list(DEMO_ENUM_OPTIONS["leadsources"]))
    some = min(n, max(3, n // 10))
    with db.write() as conn:
        calendars = {
            str(owner): str(cid)
            for cid, owner in conn.execute("SELECT id, owner FROM calendars ORDER BY id DESC")
        }
        contact_ids = [
            str(r[0]) for r in conn.execute("SELECT id FROM contacts ORDER BY id LIMIT 1000")
        ]
        conn.executemany(INSERT.format(table="tasks"), _tasks(rng, clock, n))
        conn.executemany(INSERT.format(table="calendarevents"), _events(rng, clock, n, calendars))
        conn.executemany(INSERT.format(table="leads"), _leads(rng, clock, some))
        conn.executemany(
            INSERT.format(table="opportunities"), _opportunities(rng, clock, some, accounts)
        )
        conn.executemany(
            INSERT.format(table="cases"), _cases(rng, clock, some, contact_ids, accounts)
        )
    return True


class _Accounts:
    """The demo's accounts: ids, names, e-mail domains, members and business customers."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.names: list[str] = []
        self.domains: dict[str, str] = {}  # account id -> the domain its people write from
        self.member_of: dict[int, str] = {}  # contact offset -> account id
        self.contacts: dict[str, list[str]] = {}  # account id -> contact ids
        self.customers: dict[str, list[str]] = {}  # account id -> b2bcustomer ids


def _account_names(rng: random.Random, count: int) -> list[str]:
    names = list(COMPANIES[:count])
    seen = set(names)
    while len(names) < count:
        name = f"{rng.choice(LAST)} {rng.choice(ACCOUNT_KINDS)}"
        if name in seen:
            name = f"{name} {len(names)}"
        seen.add(name)
        names.append(name)
    return names


def _plan_accounts(rng: random.Random, n: int, start: int) -> _Accounts:
    """About one account per ten contacts (at least 3); four in five contacts work for one."""
    result = _Accounts()
    count = max(3, n // 10)
    result.ids = [str(start + i) for i in range(count)]
    for offset in range(n):
        if rng.random() < 0.8:
            result.member_of[offset] = rng.choice(result.ids)
    result.names = _account_names(rng, count)
    for account_id, name in zip(result.ids, result.names, strict=True):
        slug = "".join(
            ch for ch in name.lower().replace("ü", "ue") if ch.isascii() and ch.isalnum()
        )
        result.domains[account_id] = f"{slug}.test"
    return result


def _insert_accounts(
    db: Database, rng: random.Random, clock: _Clock, plan: _Accounts, contact_start: int
) -> None:
    """Write the planned accounts and their contacts (the first one the default contact);
    a third of the accounts get a business customer."""
    links = [
        (int(account), contact_start + offset) for offset, account in sorted(plan.member_of.items())
    ]
    for account, contact_id in links:
        plan.contacts.setdefault(str(account), []).append(str(contact_id))
    rows, customer_rows = [], []
    for account_id, name in zip(plan.ids, plan.names, strict=True):
        owner, _ = _owner(rng)
        members = plan.contacts.get(account_id, [])
        rels = {
            "owner": _USERS[owner],
            "defaultContact": _ref("contacts", members[0]) if members else None,
        }
        created, updated = clock.stamps()
        rows.append(
            (
                int(account_id),
                json.dumps({"name": name}),
                json.dumps(rels),
                owner,
                None,
                None,
                created,
                updated,
            )
        )
        if rng.random() < 1 / 3:
            customer = {"name": f"{name} {rng.choice(CUSTOMER_UNITS)}"}
            customer_rows.append(
                (
                    json.dumps(customer),
                    json.dumps({"owner": _USERS[owner], "account": _ref("accounts", account_id)}),
                    owner,
                    None,
                    None,
                    created,
                    updated,
                    account_id,
                )
            )
    with db.write() as conn:
        conn.executemany(
            "INSERT INTO accounts (id, attributes, relationships, owner, assigned_to, calendar, "
            "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO account_contacts (account_id, contact_id) VALUES (?,?)", links
        )
        for *row, account_id in customer_rows:
            cursor = conn.execute(INSERT.format(table="b2bcustomers"), row)
            plan.customers.setdefault(account_id, []).append(str(cursor.lastrowid))


def _tasks(rng: random.Random, clock: _Clock, n: int) -> Iterable[tuple[Any, ...]]:
    priorities = [p for p, _ in ENUMS["taskpriorities"]]
    statuses = [s for s, _ in ENUMS["taskstatuses"]]
    for i in range(n):
        due = clock.anchor + dt.timedelta(days=rng.randrange(-30, 60), hours=rng.randrange(8, 18))
        attributes = {
            "subject": f"{rng.choice(TASK_VERBS)} {rng.choice(FEMALE + MALE)} {rng.choice(LAST)} "
            f"({rng.choice(COMPANIES)})"
        }
        if rng.random() < 0.9:
            attributes["dueDate"] = format_timestamp(due)
        if rng.random() < 0.4:
            attributes["description"] = "Discuss pricing and next steps."
        owner, _ = _owner(rng)
        # Cycle through every status and priority so each one is present even for small N.
        rels = {
            "taskPriority": _ref("taskpriorities", priorities[i % 3]),
            "status": _ref("taskstatuses", statuses[(i // 3) % 3]),
            "owner": _USERS[owner],
        }
        created, updated = clock.stamps()
        yield (json.dumps(attributes), json.dumps(rels), owner, None, None, created, updated)


def _events(
    rng: random.Random, clock: _Clock, n: int, calendars: dict[str, str]
) -> Iterable[tuple[Any, ...]]:
    for i in range(n):
        day = clock.anchor + dt.timedelta(days=rng.randrange(-28, 42))
        all_day = i % 7 == 3  # one in seven events lasts whole days
        if all_day:
            start, end = day, day + dt.timedelta(days=rng.choice((1, 1, 2, 3)))
        else:
            start = day + dt.timedelta(
                hours=rng.randrange(7, 18), minutes=rng.choice((0, 15, 30, 45))
            )
            end = start + dt.timedelta(minutes=rng.choice((30, 45, 60, 90, 120)))
        attributes = {
            "title": rng.choice(EVENT_TITLES),
            "start": format_timestamp(start),
            "end": format_timestamp(end),
            "allDay": all_day,
        }
        if rng.random() < 0.3:
            attributes["description"] = f"With {rng.choice(COMPANIES)}."
        owner = "1" if rng.random() < 0.8 else "2"
        calendar = calendars[owner]
        created, updated = clock.stamps()
        yield (
            json.dumps(attributes),
            json.dumps({"calendar": _ref("calendars", calendar)}),
            None,
            None,
            calendar,
            created,
            updated,
        )


def _leads(rng: random.Random, clock: _Clock, n: int) -> Iterable[tuple[Any, ...]]:
    statuses = [s for s, _ in ENUMS["leadstatuses"]]
    for i in range(n):
        first, last, company = rng.choice(FEMALE + MALE), rng.choice(LAST), rng.choice(COMPANIES)
        attributes = {
            "name": f"{company}: {first} {last}",
            "firstName": first,
            "lastName": last,
            "companyName": company,
            "emails": [
                {
                    "email": f"{first}.{last}{i}@lead.test".lower()
                    .replace("'", "")
                    .replace("ü", "ue")
                }
            ],
        }
        owner, _ = _owner(rng)
        rels = {
            "status": _ref("leadstatuses", statuses[i % 3]),
            "source": _ref("leadsources", rng.choice(LEAD_SOURCES)),
            "owner": _USERS[owner],
        }
        created, updated = clock.stamps()
        yield (json.dumps(attributes), json.dumps(rels), owner, None, None, created, updated)


def _opportunities(
    rng: random.Random, clock: _Clock, n: int, accounts: _Accounts
) -> Iterable[tuple[Any, ...]]:
    statuses = [s for s, _ in ENUMS["opportunitystatuses"]]
    for i in range(n):
        attributes = {
            "name": f"{rng.choice(COMPANIES)} – "
            f"{rng.choice(('renewal', 'expansion', 'new licences', 'pilot'))}",
            "closeDate": (
                clock.anchor.date() + dt.timedelta(days=rng.randrange(-10, 120))
            ).isoformat(),
            "probability": rng.choice((0.1, 0.25, 0.5, 0.75, 0.9)),
            "budgetAmountValue": f"{rng.randrange(1, 500) * 100}.0000",
            "budgetAmountCurrency": "USD",
        }
        owner, _ = _owner(rng)
        # Oro requires an account or a customer; the contact works for that account.
        account = rng.choice(accounts.ids)
        customers = accounts.customers.get(account, [])
        members = accounts.contacts.get(account, [])
        rels = {
            "status": _ref("opportunitystatuses", statuses[i % len(statuses)]),
            "account": _ref("accounts", account),
            "customer": _ref("b2bcustomers", rng.choice(customers))
            if customers and rng.random() < 0.5
            else None,
            "contact": _ref("contacts", rng.choice(members)) if members else None,
            "owner": _USERS[owner],
        }
        created, updated = clock.stamps()
        yield (json.dumps(attributes), json.dumps(rels), owner, None, None, created, updated)


def _cases(
    rng: random.Random, clock: _Clock, n: int, contact_ids: list[str], accounts: _Accounts
) -> Iterable[tuple[Any, ...]]:
    statuses = [s for s, _ in ENUMS["casestatuses"]]
    for i in range(n):
        attributes = {
            "subject": rng.choice(
                (
                    "Cannot log in", "Invoice is wrong", "Delivery late", "Feature request",
                    "Broken part",
                )
            ),
            "description": "Reported by the customer.",
        }
        owner, _ = _owner(rng)
        rels = {
            "source": _ref("casesources", rng.choice(("email", "phone", "web", "other"))),
            "status": _ref("casestatuses", statuses[i % 4]),
            "priority": _ref("casepriorities", ("low", "normal", "high")[i % 3]),
            "relatedContact": _ref("contacts", rng.choice(contact_ids)) if contact_ids else None,
            "relatedAccount": _ref("accounts", rng.choice(accounts.ids))
            if rng.random() < 0.5
            else None,
            "owner": _USERS[owner],
        }
        created, updated = clock.stamps()
        yield (json.dumps(attributes), json.dumps(rels), owner, None, None, created, updated)
