"""Leads, opportunities, cases, accounts and enums answered as real Oro 6.0 answers them.

Each rule comes from Oro's sources (docs/protocol.md names the file): opportunities need an
account or a customer, cases need source/status/priority with no defaults, enum lists have
Oro's two shapes, a fresh install has one lead source, accounts are listed and searched.
"""

from __future__ import annotations

from tray_client.devserver.testing import RunningServer

from .wsse import Api, error_of, ref

CASE_ENUMS = {"source": ref("casesources", "email"), "status": ref("casestatuses", "open"),
              "priority": ref("casepriorities", "normal")}


def _rel(resource: dict, name: str) -> dict | None:
    return resource["relationships"][name]["data"]


def test_an_opportunity_without_account_or_customer_is_refused_with_oros_body(api):
    response = api.post(
        "/opportunities",
        json={
            "data": {
                "type": "opportunities",
                "attributes": {"name": "Deal"},
                "relationships": {"status": ref("opportunitystatuses", "lost")},
            }
        },
    )
    assert response.status_code == 400
    # OpportunityTest::testTryToCreateWithoutAccountAndCustomer: no source pointer.
    assert response.json() == {
        "errors": [
            {
                "status": "400",
                "title": "form constraint",
                "detail": "Either an account or a customer should be set.",
            }
        ]
    }


def test_a_customer_brings_its_account_and_must_agree_with_a_given_one(api, devserver):
    acme = devserver.admin.create("accounts", {"name": "Acme"})
    globex = devserver.admin.create("accounts", {"name": "Globex"})
    retail = devserver.admin.create("b2bcustomers", {"name": "Acme Retail"}, {"account": acme})
    status = ref("opportunitystatuses", "in_progress")
    created = api.create(
        "opportunities",
        {"name": "By customer"},
        {"status": status, "customer": ref("b2bcustomers", retail)},
    )["data"]
    assert _rel(created, "account") == {"type": "accounts", "id": acme}
    assert _rel(created, "customer") == {"type": "b2bcustomers", "id": retail}

    body = {
        "data": {
            "type": "opportunities",
            "attributes": {"name": "Mixed"},
            "relationships": {
                "status": status,
                "account": ref("accounts", globex),
                "customer": ref("b2bcustomers", retail),
            },
        }
    }
    error = error_of(api.post("/opportunities", json=body), 400)
    assert (error["title"], error["detail"]) == (
        "form constraint",
        "The customer should be a part of the specified account.",
    )
    assert error["source"] == {"pointer": "/data/relationships/customer/data"}

    # An account given alone replaces the customer (OpportunityTest::testUpdateAccount).
    patched = api.patch(
        f"/opportunities/{created['id']}",
        json={
            "data": {
                "type": "opportunities",
                "id": created["id"],
                "relationships": {"account": ref("accounts", globex)},
            }
        },
    )
    assert _rel(patched.json()["data"], "account") == {"type": "accounts", "id": globex}
    assert _rel(patched.json()["data"], "customer") is None
    # Clearing the account leaves neither: refused.
    cleared = api.patch(
        f"/opportunities/{created['id']}",
        json={
            "data": {
                "type": "opportunities",
                "id": created["id"],
                "relationships": {"account": {"data": None}},
            }
        },
    )
    assert error_of(cleared, 400)["detail"] == "Either an account or a customer should be set."


def test_a_customer_must_be_a_business_customer(api, devserver):
    acme = devserver.admin.create("accounts", {"name": "Acme"})
    body = {
        "data": {
            "type": "opportunities",
            "attributes": {"name": "Deal"},
            "relationships": {
                "status": ref("opportunitystatuses", "won"),
                "customer": ref("contacts", "1"),
            },
        }
    }
    error = error_of(api.post("/opportunities", json=body), 400)
    assert error["source"]["pointer"] == "/data/relationships/customer/data/type"
    body["data"]["relationships"]["customer"] = ref("b2bcustomers", "99")
    assert (
        error_of(api.post("/opportunities", json=body), 400)["source"]["pointer"]
        == "/data/relationships/customer/data"
    )
    assert acme


def test_a_case_needs_source_status_and_priority_and_gets_no_defaults(api):
    for missing in ("source", "status", "priority"):
        relationships = {k: v for k, v in CASE_ENUMS.items() if k != missing}
        response = api.post(
            "/cases",
            json={
                "data": {
                    "type": "cases",
                    "attributes": {"subject": "Printer"},
                    "relationships": relationships,
                }
            },
        )
        assert response.json() == {
            "errors": [
                {
                    "status": "400",
                    "title": "not blank constraint",
                    "detail": "This value should not be blank.",
                    "source": {"pointer": f"/data/relationships/{missing}/data"},
                }
            ]
        }
    case = api.create("cases", {"subject": "Printer"}, CASE_ENUMS)["data"]
    assert {k: _rel(case, k)["id"] for k in CASE_ENUMS} == {
        "source": "email",
        "status": "open",
        "priority": "normal",
    }


def test_a_fresh_install_has_one_lead_source_and_refuses_others(api):
    sources = api.get("/leadsources").json()["data"]
    assert sources == [
        {
            "type": "leadsources",
            "id": "demand_generation",
            "attributes": {"name": "Demand Generation", "priority": 1, "default": True},
        }
    ]
    body = {
        "data": {
            "type": "leads",
            "attributes": {"name": "L"},
            "relationships": {"source": ref("leadsources", "website")},
        }
    }
    error = error_of(api.post("/leads", json=body), 400)
    assert error["source"]["pointer"] == "/data/relationships/source/data/id"
    assert api.create("leads", {"name": "L"}, {"source": ref("leadsources", "demand_generation")})[
        "data"
    ]["id"]


def test_accounts_are_listed_filtered_by_name_and_searched(api, devserver):
    for name in ("Acme Corp", "Acme Retail", "Globex", "Initech"):
        devserver.admin.create("accounts", {"name": name})
    names = [
        a["attributes"]["name"]
        for a in api.get("/accounts", params={"sort": "name"}).json()["data"]
    ]
    assert names == ["Acme Corp", "Acme Retail", "Globex", "Initech"]
    exact = api.get("/accounts", params={"filter[name]": "Globex"}).json()["data"]
    assert [a["attributes"]["name"] for a in exact] == ["Globex"]
    found = api.get("/accounts", params={"filter[searchText]": "acme", "page[size]": "10"}).json()[
        "data"
    ]
    assert sorted(a["attributes"]["name"] for a in found) == ["Acme Corp", "Acme Retail"]
    # filter[name] is a plain string filter in Oro: no "contains" operator on it.
    error_of(api.get("/accounts", params={"filter[name][contains]": "Acme"}), 400)
    error_of(api.get("/accounts", params={"filter[searchText]": " "}), 400)


def test_contacts_and_accounts_are_linked_both_ways_and_contacts_found_by_email(api, devserver):
    ann = devserver.admin.create(
        "contacts",
        {"firstName": "Ann", "emails": [{"email": "ann@acme.test"}, {"email": "a.lee@home.test"}]},
    )
    bob = devserver.admin.create(
        "contacts", {"firstName": "Bob", "emails": [{"email": "bob@globex.test"}]}
    )
    acme = api.create(
        "accounts", {"name": "Acme"}, {"contacts": {"data": [{"type": "contacts", "id": ann}]}}
    )["data"]
    assert _rel(acme, "contacts") == [{"type": "contacts", "id": ann}]
    contact = api.get(f"/contacts/{ann}").json()["data"]
    assert _rel(contact, "accounts") == [{"type": "accounts", "id": acme["id"]}]
    globex = devserver.admin.create("accounts", {"name": "Globex"})
    api.patch(
        f"/contacts/{bob}",
        json={
            "data": {
                "type": "contacts",
                "id": bob,
                "relationships": {"accounts": {"data": [{"type": "accounts", "id": globex}]}},
            }
        },
    )
    assert _rel(api.get(f"/accounts/{globex}").json()["data"], "contacts") == [
        {"type": "contacts", "id": bob}
    ]

    found = api.get(
        "/contacts",
        params={"filter[emails]": "a.lee@home.test,ANN@acme.test", "fields[contacts]": "accounts"},
    ).json()["data"]
    assert [(c["id"], _rel(c, "accounts")) for c in found] == [
        (ann, [{"type": "accounts", "id": acme["id"]}])
    ]
    assert api.get("/contacts", params={"filter[emails]": "nobody@x.test"}).json()["data"] == []
    api.delete(f"/accounts/{acme['id']}")
    assert _rel(api.get(f"/contacts/{ann}").json()["data"], "accounts") == []


def test_demo_data_follows_the_rules(tmp_path):
    with RunningServer(db_path=tmp_path / "demo.db", demo=40) as server:
        api = Api(server.url, server.user, server.api_key)
        opportunities = api.all_pages("/opportunities", {"page[size]": "100"})
        cases = api.all_pages("/cases", {"page[size]": "100"})
        accounts = api.all_pages("/accounts", {"page[size]": "100"})
        contacts = api.all_pages("/contacts", {"page[size]": "100"})
        customers = api.all_pages("/b2bcustomers", {"page[size]": "100"})
        sources = {s["id"] for s in api.get("/leadsources").json()["data"]}
        leads = api.all_pages("/leads", {"page[size]": "100"})
        api.close()
    assert sources == {
        "demand_generation", "website", "direct_mail", "affiliate", "email_marketing", "outbound",
        "partner",
    }
    assert {_rel(lead, "source")["id"] for lead in leads} <= sources
    assert len(accounts) >= 3 and all(a["attributes"]["name"] for a in accounts)
    assert all(_rel(o, "account") for o in opportunities)
    owner_of = {c["id"]: _rel(c, "account")["id"] for c in customers}
    for opportunity in opportunities:
        customer = _rel(opportunity, "customer")
        if customer:
            assert owner_of[customer["id"]] == _rel(opportunity, "account")["id"]
    linked = [c for c in contacts if _rel(c, "accounts")]
    assert len(contacts) * 0.6 < len(linked) < len(contacts)
    assert all(_rel(c, k) for c in cases for k in ("source", "status", "priority"))
    members = {a["id"]: {m["id"] for m in _rel(a, "contacts")} for a in accounts}
    for account in accounts:
        default = _rel(account, "defaultContact")
        assert default is None or default["id"] in members[account["id"]]
    # People working for an account write from its domain (one per account).
    email_of = {c["id"]: c["attributes"]["primaryEmail"] for c in contacts}
    domains = {a: {email_of[m].split("@")[1] for m in ids} for a, ids in members.items() if ids}
    assert all(len(d) == 1 for d in domains.values())
    assert len({d.pop() for d in domains.values()}) == len(domains)
