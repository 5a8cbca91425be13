"""Collections: paging with one-second ties, filters, sort, sparse fields, total count."""

from __future__ import annotations

from .wsse import error_of


def _contacts(devserver, stamps_and_names):
    ids = []
    for stamp, name in stamps_and_names:
        devserver.admin.freeze_time(stamp)
        ids.append(devserver.admin.create("contacts", {"lastName": name}))
    devserver.admin.freeze_time(None)
    return ids


def test_default_page_size_is_ten_and_next_link_only_while_more(api, devserver):
    devserver.admin.bulk_contacts(25)
    first = api.get("/contacts").json()
    assert len(first["data"]) == 10 and "next" in first["links"]
    assert [c["id"] for c in first["data"]] == [str(i) for i in range(1, 11)]
    third = api.get("/contacts", params={"page[number]": "3"}).json()
    assert len(third["data"]) == 5 and "next" not in third["links"]
    exact = api.get("/contacts", params={"page[size]": "25"}).json()
    assert len(exact["data"]) == 25 and "next" not in exact["links"]
    beyond = api.get("/contacts", params={"page[number]": "9"}).json()
    assert beyond["data"] == [] and "next" not in beyond["links"]


def test_paging_2500_records_with_updated_at_ties_sees_each_once(api, devserver):
    # Three timestamps for 2,500 records: pages cut through runs of equal updatedAt.
    for index, stamp in enumerate(
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:01Z", "2026-03-01T10:00:00Z")
    ):
        devserver.admin.freeze_time(stamp)
        devserver.admin.bulk_contacts(1000 if index < 2 else 500)
    devserver.admin.freeze_time(None)
    items = api.all_pages(
        "/contacts",
        {"sort": "updatedAt,id", "page[size]": "333", "fields[contacts]": "id,updatedAt"},
    )
    ids = [item["id"] for item in items]
    assert len(ids) == 2500 and len(set(ids)) == 2500
    keys = [(item["attributes"]["updatedAt"], int(item["id"])) for item in items]
    assert keys == sorted(keys)
    # Sort by updatedAt alone still pages deterministically (id breaks ties).
    plain = api.all_pages(
        "/contacts", {"sort": "updatedAt", "page[size]": "700", "fields[contacts]": "id"}
    )
    assert [p["id"] for p in plain] == ids


def test_page_size_limits(api):
    assert api.get("/contacts", params={"page[size]": "1000"}).status_code == 200
    for bad in ("1001", "0", "-1", "ten", ""):
        assert error_of(api.get("/contacts", params={"page[size]": bad}), 400)["source"] == {
            "parameter": "page[size]"
        }
    assert error_of(api.get("/contacts", params={"page[number]": "0"}), 400)["source"] == {
        "parameter": "page[number]"
    }


def test_sort_multi_key_descending_and_numeric_ids(api, devserver):
    ids = _contacts(
        devserver,
        [("2026-01-01T00:00:00Z", name) for name in ("b", "a", "c", "a")]
        + [("2026-01-01T00:00:00Z", f"n{i}") for i in range(8)],
    )
    by_id_desc = [
        c["id"]
        for c in api.get("/contacts", params={"sort": "-id", "page[size]": "100"}).json()["data"]
    ]
    assert by_id_desc == sorted(ids, key=int, reverse=True)  # "12" before "9": numeric
    data = api.get("/contacts", params={"sort": "lastName,-id", "page[size]": "4"}).json()["data"]
    assert [(c["attributes"]["lastName"], c["id"]) for c in data] == [
        ("a", ids[3]),
        ("a", ids[1]),
        ("b", ids[0]),
        ("c", ids[2]),
    ]
    assert error_of(api.get("/contacts", params={"sort": "shoeSize"}), 400)["source"] == {
        "parameter": "sort"
    }
    assert error_of(api.get("/contacts", params={"sort": "owner"}), 400)["source"] == {
        "parameter": "sort"
    }


def test_filter_updated_at_operators(api, devserver):
    ids = _contacts(
        devserver,
        [
            ("2026-05-01T00:00:00Z", "a"),
            ("2026-05-01T00:00:01Z", "b"),
            ("2026-05-01T00:00:02Z", "c"),
        ],
    )

    def listed(op, value):
        data = api.get(
            "/contacts", params={f"filter[updatedAt][{op}]": value, "sort": "id"}
        ).json()["data"]
        return [c["id"] for c in data]

    assert listed("gt", "2026-05-01T00:00:01Z") == [ids[2]]
    assert listed("gte", "2026-05-01T00:00:01Z") == ids[1:]
    assert listed("lt", "2026-05-01T00:00:01Z") == [ids[0]]
    assert listed("lte", "2026-05-01T02:00:01+02:00") == ids[:2]  # offsets are understood
    both = api.get(
        "/contacts",
        params={
            "filter[updatedAt][gte]": "2026-05-01T00:00:01Z",
            "filter[updatedAt][lt]": "2026-05-01T00:00:02Z",
        },
    )
    assert [c["id"] for c in both.json()["data"]] == [ids[1]]
    assert error_of(api.get("/contacts", params={"filter[updatedAt][gt]": "last tuesday"}), 400)[
        "source"
    ] == {"parameter": "filter[updatedAt][gt]"}
    assert (
        error_of(
            api.get("/contacts", params={"filter[updatedAt][near]": "2026-05-01T00:00:00Z"}), 400
        )["source"]["parameter"]
        == "filter[updatedAt][near]"
    )


def test_filter_id_list_owner_assigned_to_calendar_username(api, devserver):
    admin = devserver.admin
    mine = admin.create("contacts", {"lastName": "mine"})
    theirs = admin.create("contacts", {"lastName": "theirs"}, {"owner": "2"})
    assigned = admin.create("contacts", {"lastName": "assigned"}, {"owner": "2", "assignedTo": "1"})

    def ids(params):
        return sorted(
            (c["id"] for c in api.get("/contacts", params=params).json()["data"]), key=int
        )

    assert ids({"filter[id]": f"{mine},{assigned}"}) == [mine, assigned]
    assert ids({"filter[owner]": "1"}) == [mine]
    assert ids({"filter[owner]": "2"}) == [theirs, assigned]
    assert ids({"filter[assignedTo]": "1"}) == [assigned]
    assert ids({"filter[id][neq]": mine}) == [theirs, assigned]
    assert ids({"filter[id][gt]": mine}) == [theirs, assigned]
    assert error_of(api.get("/contacts", params={"filter[id]": "1,x"}), 400)["source"] == {
        "parameter": "filter[id]"
    }
    assert error_of(api.get("/contacts", params={"filter[calendar]": "1"}), 400)["source"] == {
        "parameter": "filter[calendar]"
    }
    assert error_of(api.get("/contacts", params={"filter[username]": "admin"}), 400)

    calendars = {
        c["relationships"]["owner"]["data"]["id"]: c["id"]
        for c in api.get("/calendars").json()["data"]
    }
    event = {"title": "E", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"}
    own_event = admin.create("calendarevents", event)
    other_event = admin.create("calendarevents", event, {"calendar": calendars["2"]})
    own = api.get("/calendarevents", params={"filter[calendar]": calendars["1"]}).json()["data"]
    assert [e["id"] for e in own] == [own_event]
    assert [
        e["id"]
        for e in api.get("/calendarevents", params={"filter[calendar]": calendars["2"]}).json()[
            "data"
        ]
    ] == [other_event]

    assert [
        u["id"]
        for u in api.get("/users", params={"filter[username]": "mary.miller"}).json()["data"]
    ] == ["2"]
    assert api.get("/users", params={"filter[username]": "nobody"}).json()["data"] == []


def test_tasks_filter_by_owner(api, devserver):
    mine = devserver.admin.create(
        "tasks", {"subject": "mine"}, {"status": "open", "taskPriority": "normal"}
    )
    devserver.admin.create("tasks", {"subject": "theirs"},
                           {"owner": "2", "status": "open", "taskPriority": "normal"})
    assert [t["id"] for t in api.get("/tasks", params={"filter[owner]": "1"}).json()["data"]] == [
        mine
    ]


def test_sparse_fieldsets(api, devserver):
    devserver.admin.create(
        "contacts", {"firstName": "Ann", "lastName": "Lee", "addresses": [{"city": "Oslo"}]}
    )
    ids_only = api.get("/contacts", params={"fields[contacts]": "id"}).json()["data"]
    assert ids_only == [{"type": "contacts", "id": "1"}]
    some = api.get("/contacts", params={"fields[contacts]": "lastName,owner"}).json()["data"][0]
    assert some["attributes"] == {"lastName": "Lee"}
    assert set(some["relationships"]) == {"owner"}
    assert error_of(api.get("/contacts", params={"fields[contacts]": "shoeSize"}), 400)[
        "source"
    ] == {"parameter": "fields[contacts]"}
    assert error_of(api.get("/contacts", params={"fields[tasks]": "id"}), 400)


def test_total_count_header(api, devserver):
    devserver.admin.bulk_contacts(42)
    response = api.get("/contacts", params={"page[size]": "5"}, headers={"X-Include": "totalCount"})
    assert response.headers["X-Include-Total-Count"] == "42"
    filtered = api.get(
        "/contacts", params={"filter[id]": "1,2,3"}, headers={"X-Include": "totalCount"}
    )
    assert filtered.headers["X-Include-Total-Count"] == "3"
    assert "X-Include-Total-Count" not in api.get("/contacts").headers


def test_include_addresses_is_batched_per_page_and_complete(api, devserver):
    for i in range(30):
        devserver.admin.create(
            "contacts",
            {
                "lastName": f"c{i}",
                "addresses": [{"city": f"city{i}", "types": ["billing"]}, {"city": f"other{i}"}],
            },
        )
    items, included = [], []
    response = api.get("/contacts", params={"include": "addresses", "page[size]": "7"})
    while True:
        document = response.json()
        items += document["data"]
        included += document["included"]
        if "next" not in document["links"]:
            break
        response = api.get(document["links"]["next"])
    linked = {a["id"] for c in items for a in c["relationships"]["addresses"]["data"]}
    assert len(items) == 30 and len(included) == 60 and linked == {a["id"] for a in included}
    assert error_of(api.get("/contacts", params={"include": "owner"}), 400)["source"] == {
        "parameter": "include"
    }
    assert error_of(api.get("/tasks", params={"include": "addresses"}), 400)


def test_unknown_parameter_is_400(api):
    assert error_of(api.get("/contacts", params={"limit": "5"}), 400)["source"] == {
        "parameter": "limit"
    }
    assert error_of(api.get("/contacts", params={"filter[shoeSize]": "5"}), 400)["source"] == {
        "parameter": "filter[shoeSize]"
    }
