"""Whatever a client sends, the answer is a JSON:API document and never a 500 or a hang."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tray_client.devserver.testing import RunningServer

from .wsse import Api

TYPES = [
    "contacts", "tasks", "calendarevents", "leads", "opportunities", "cases", "contactaddresses",
    "users", "removals", "taskstatuses",
]
NAMES = [
    "page[number]", "page[size]", "sort", "include", "fields[contacts]", "filter[id]",
    "filter[updatedAt][gt]", "filter[owner]", "filter[x]", "filter[id][lte]", "fields[tasks]",
    "filter[calendar]", "filter[removedAt][gte]",
]
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
ATTRIBUTES = [
    "firstName", "lastName", "emails", "phones", "gender", "birthday", "subject", "dueDate",
    "title", "start", "end", "allDay", "name", "probability", "budgetAmountValue", "city",
    "primaryEmail",
]
RELATIONSHIPS = [
    "owner", "assignedTo", "status", "taskPriority", "calendar", "addresses", "types", "contact",
]
ref_like = st.fixed_dictionaries(
    {
        "data": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "type": st.sampled_from([*TYPES, "users", "taskstatuses"]),
                    "id": st.one_of(
                        text, st.sampled_from(["1", "2", "99999999999999999999", "²", "open"])
                    ),
                }
            ),
        )
    }
)
bodies = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {"type": st.sampled_from(TYPES)},
            optional={
                "id": st.one_of(text, st.integers()),
                "attributes": st.dictionaries(st.sampled_from(ATTRIBUTES), json_values, max_size=5),
                "relationships": st.dictionaries(
                    st.sampled_from(RELATIONSHIPS), ref_like, max_size=3
                ),
            },
        )
    },
    optional={"included": json_values},
)
server = RunningServer()
clients: list[Api] = []


def setup_module() -> None:
    server.start()
    server.admin.create("contacts", {"firstName": "Ann", "addresses": [{"city": "Oslo"}]})
    clients.append(Api(server.url, server.user, server.api_key))


def teardown_module() -> None:
    clients.pop().close()
    server.close()


def _check(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code != 204:
        document = response.json()
        assert ("data" in document) != ("errors" in document)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(TYPES), st.lists(st.tuples(st.sampled_from(NAMES), text), max_size=4))
def test_any_query_string(type_name, params):
    api = clients[0]
    _check(api.get(f"/{type_name}", params=params))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(TYPES), st.sampled_from(["POST", "PATCH"]), bodies)
def test_any_body(type_name, method, body):
    api = clients[0]
    path = f"/{type_name}" if method == "POST" else f"/{type_name}/1"
    _check(api.request(method, path, content=json.dumps(body).encode()))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=200), st.sampled_from(["/contacts", "/contacts/1", "/tasks"]))
def test_any_bytes(content, path):
    api = clients[0]
    _check(api.request("POST" if path != "/contacts/1" else "PATCH", path, content=content))


def test_deeply_nested_json_is_400():
    api = clients[0]
    response = api.post("/contacts", content=b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
