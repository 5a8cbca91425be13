"""Retries, backoff, error conversion and secrecy, with httpx.MockTransport (no network)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC

import httpx
import pytest

from tray_client.crm import CrmClient, NotJsonApiError
from tray_client.crm.client import filter_params, normalise_base_url
from tray_client.crm.retry import RetryPolicy, retry_after_seconds
from tray_client.errors import (
    AuthError,
    ConfigurationError,
    ConflictError,
    CrmError,
    ForbiddenError,
    IncompatibleServerError,
    NotFoundError,
    OfflineError,
    RateLimitedError,
    ServerError,
    ValidationError,
)

KEY = "very-secret-api-key-42"
JSONAPI = {"Content-Type": "application/vnd.api+json"}
ONE = {"data": {"type": "tasks", "id": "1", "attributes": {"subject": "s"}}}


def make(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object
         ) -> tuple[CrmClient, list[float]]:
    sleeps: list[float] = []
    crm = CrmClient("https://crm.test/", "admin", KEY, transport=httpx.MockTransport(handler),
                    sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]
    return crm, sleeps


def answer(status: int, body: object = ONE, headers: dict[str, str] | None = None
           ) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(),
                          headers={**JSONAPI, **(headers or {})})


def sequence(*responses: httpx.Response | Exception) -> tuple[
        Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item
    return handler, seen


@pytest.mark.parametrize("typed,expected", [
    ("https://crm.example.com", "https://crm.example.com"),
    ("https://crm.example.com/", "https://crm.example.com"),
    ("crm.example.com", "https://crm.example.com"),
    ("https://shop.example.com/admin/", "https://shop.example.com/admin"),
    ("https://shop.example.com/admin/api/", "https://shop.example.com/admin"),
    ("  HTTP://crm.example.com:8080//  ", "http://crm.example.com:8080"),
])
def test_base_url_is_normalised(typed: str, expected: str) -> None:
    assert normalise_base_url(typed) == expected


@pytest.mark.parametrize("bad", ["", "ftp://x", "https://", "http://a b"])
def test_bad_urls_are_configuration_errors(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        normalise_base_url(bad)


def test_requests_carry_media_type_and_fresh_wsse_and_reach_api_path() -> None:
    handler, seen = sequence(answer(200))
    crm, _ = make(handler)
    crm.get("tasks", "1")
    crm.create("tasks", {"subject": "x"})
    get, post = seen
    assert str(get.url) == "https://crm.test/api/tasks/1"
    assert get.headers["Accept"] == "application/vnd.api+json"
    assert "Content-Type" not in get.headers
    assert post.headers["Content-Type"] == "application/vnd.api+json"
    assert json.loads(post.content) == {"data": {"type": "tasks", "attributes": {"subject": "x"}}}
    assert get.headers["Authorization"] == 'WSSE profile="UsernameToken"'
    assert get.headers["X-WSSE"] != post.headers["X-WSSE"]  # fresh nonce each request
    assert KEY not in get.headers["X-WSSE"]


def test_filters_become_jsonapi_parameters() -> None:
    assert filter_params({"owner": 1, "updatedAt[gt]": "T", "id": ["1", "2"],
                          "filter[calendar]": "3", "flag": True}) == {
        "filter[owner]": "1", "filter[updatedAt][gt]": "T", "filter[id]": "1,2",
        "filter[calendar]": "3", "filter[flag]": "true"}


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_idempotent_requests_are_retried_on_server_trouble(status: int) -> None:
    handler, seen = sequence(answer(status, {"errors": []}), answer(status, {"errors": []}),
                             answer(200))
    crm, sleeps = make(handler)
    assert crm.get("tasks", "1").id == "1"
    assert len(seen) == 3 and len(sleeps) == 2
    assert seen[0].headers["X-WSSE"] != seen[1].headers["X-WSSE"]  # new nonce per attempt


def test_backoff_grows_exponentially_with_jitter() -> None:
    handler, _ = sequence(answer(500, {"errors": []}))
    crm, sleeps = make(handler, retries=4, backoff_base=1.0)
    with pytest.raises(ServerError):
        crm.get("tasks", "1")
    assert len(sleeps) == 4
    for attempt, delay in enumerate(sleeps):
        assert 2 ** attempt / 2 <= delay <= 2 ** attempt


def test_retry_after_is_honoured_and_capped() -> None:
    handler, _ = sequence(answer(429, {"errors": []}, {"Retry-After": "7"}),
                          answer(503, {"errors": []}, {"Retry-After": "3600"}), answer(200))
    crm, sleeps = make(handler, max_retry_after=20.0)
    crm.get("tasks", "1")
    assert sleeps[0] >= 7 and sleeps[0] < 8
    assert sleeps[1] == 20.0


def test_rate_limit_that_persists_is_reported() -> None:
    handler, seen = sequence(answer(429, {"errors": []}, {"Retry-After": "1"}))
    crm, _ = make(handler, retries=2)
    with pytest.raises(RateLimitedError):
        crm.get("tasks", "1")
    assert len(seen) == 3


def test_post_is_never_repeated_after_it_was_sent() -> None:
    handler, seen = sequence(answer(500, {"errors": []}), answer(201))
    crm, _ = make(handler)
    with pytest.raises(ServerError):
        crm.create("tasks", {"subject": "x"})
    assert len(seen) == 1
    handler, seen = sequence(httpx.ReadError("connection reset"), answer(201))
    crm, _ = make(handler)
    with pytest.raises(OfflineError):
        crm.create("tasks", {"subject": "x"})
    assert len(seen) == 1


def test_post_is_repeated_when_the_connection_never_opened() -> None:
    handler, seen = sequence(httpx.ConnectError("connection refused"), answer(201))
    crm, _ = make(handler)
    assert crm.create("tasks", {"subject": "x"}).id == "1"
    assert len(seen) == 2


@pytest.mark.parametrize("method", ["get", "delete", "update"])
def test_dropped_connections_and_timeouts_are_retried_for_idempotent_calls(method: str) -> None:
    handler, seen = sequence(httpx.RemoteProtocolError("Server disconnected"),
                             httpx.ReadTimeout("slow"), answer(200))
    crm, _ = make(handler)
    if method == "get":
        crm.get("tasks", "1")
    elif method == "delete":
        crm.delete("tasks", "1")
    else:
        crm.update("tasks", "1", {"subject": "y"})
    assert len(seen) == 3


@pytest.mark.parametrize("status,error", [
    (400, ValidationError), (401, AuthError), (403, ForbiddenError), (404, NotFoundError),
    (409, ConflictError)])
def test_client_errors_are_not_retried_and_map_to_the_tree(status: int, error: type) -> None:
    handler, seen = sequence(answer(status, {"errors": [
        {"status": str(status), "title": "t", "detail": "d"}]}))
    crm, sleeps = make(handler)
    with pytest.raises(error) as info:
        crm.get("tasks", "1")
    assert len(seen) == 1 and sleeps == []
    assert info.value.status == status
    assert info.value.title and info.value.message


def test_validation_error_carries_the_fields() -> None:
    handler, _ = sequence(answer(400, {"errors": [
        {"status": "400", "title": "not blank constraint",
         "detail": "This value should not be blank.",
         "source": {"pointer": "/data/attributes/name"}},
        {"status": "400", "title": "value constraint", "detail": "Bad size.",
         "source": {"parameter": "page[size]"}}]}))
    crm, _ = make(handler)
    with pytest.raises(ValidationError) as info:
        crm.create("leads", {})
    assert [e.field for e in info.value.errors] == ["name", "page[size]"]
    assert "name: This value should not be blank." in info.value.message


@pytest.mark.parametrize("response", [
    httpx.Response(200, content=b"<html><body>Login</body></html>",
                   headers={"Content-Type": "text/html"}),
    httpx.Response(200, content=b'{"hello": 1}', headers={"Content-Type": "application/json"}),
])
def test_a_body_that_is_not_jsonapi_is_a_server_error(response: httpx.Response) -> None:
    handler, _ = sequence(response)
    crm, _ = make(handler)
    with pytest.raises(NotJsonApiError) as info:
        crm.get("tasks", "1")
    assert isinstance(info.value, ServerError)
    assert "/admin" in info.value.message


def test_server_time_comes_from_the_date_header() -> None:
    handler, _ = sequence(answer(200, headers={"Date": "Mon, 23 Nov 2026 10:00:05 GMT"}))
    crm, _ = make(handler)
    crm.get("tasks", "1")
    assert crm.server_time() == "2026-11-23T10:00:05Z"


def test_a_date_header_is_parsed_once_for_its_second() -> None:
    # Every answer carries a Date, read twice (the WSSE clock, the client's server time);
    # the answers of one second carry the same text, parsed once.
    from tray_client.crm.auth import http_date

    http_date.cache_clear()
    handler, _ = sequence(*[answer(200, headers={"Date": "Mon, 23 Nov 2026 10:00:06 GMT"})
                            for _ in range(3)])
    crm, _ = make(handler)
    for _ in range(3):
        crm.get("tasks", "1")
    assert crm.server_time() == "2026-11-23T10:00:06Z"
    assert http_date.cache_info().misses == 1 and http_date.cache_info().hits >= 2
    assert http_date("not a date") is None


def test_the_key_never_appears_in_logs_errors_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    failures = [answer(401, {"errors": [{"status": "401", "title": "Unauthorized"}]}),
                answer(500, {"errors": []}), httpx.ConnectError("refused"),
                httpx.ReadTimeout("slow"), answer(400, {"errors": []})]
    texts = []
    for failure in failures:
        handler, _ = sequence(failure)
        crm, _ = make(handler)
        texts.append(repr(crm))
        try:
            crm.get("tasks", "1")
        except CrmError as exc:  # its text must not hold the key
            texts += [str(exc), repr(exc), getattr(exc, "message", "")]
        texts.append(repr(crm.check_connection()))
    assert all(KEY not in text for text in texts)
    assert caplog.records  # the retries were logged...
    assert KEY not in caplog.text  # ...without the key


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("5") == 5.0
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
    from datetime import datetime
    now = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Mon, 23 Nov 2026 10:00:30 GMT", now) == 30.0
    assert RetryPolicy(base=1.0, cap=4.0).backoff(10) <= 4.0


def test_a_server_without_removals_feed_is_reported_as_incompatible() -> None:
    handler, seen = sequence(answer(404, {"errors": [{"status": "404", "title": "not found"}]}))
    crm, _ = make(handler)
    with pytest.raises(IncompatibleServerError) as info:
        list(crm.iter_removals("contacts", "2026-01-01T00:00:00Z"))
    assert info.value.title == "No removals feed"
    assert seen[0].url.params["filter[removedAt][gte]"] == "2026-01-01T00:00:00Z"
    assert seen[0].url.params["filter[entityType]"] == "contacts"


def test_enum_values_accept_oro_label_shape_and_order() -> None:
    handler, seen = sequence(answer(200, {"data": [
        {"type": "taskpriorities", "id": "high", "attributes": {"label": "High", "order": 3}},
        {"type": "taskpriorities", "id": "low", "attributes": {"label": "Low", "order": 1}},
        {"type": "taskpriorities", "id": "normal",
         "attributes": {"label": "Normal", "order": 2, "default": True}}]}))
    crm, _ = make(handler)
    values = crm.enum_values("taskpriorities")
    assert [(v.id, v.label, v.default) for v in values] == [
        ("low", "Low", False), ("normal", "Normal", True), ("high", "High", False)]
    assert "sort" not in seen[0].url.params


def test_configuration_strips_prefix_and_decodes_layout_strings() -> None:
    layout = {"fields": [{"name": "name", "kind": "attribute", "type": "string",
                          "required": True}]}
    option = "oro_crm_pro_outlook.{}".format
    handler, _ = sequence(answer(200, {
        "data": {"type": "configuration", "id": "outlook", "relationships": {"options": {
            "data": [{"type": "configurationoptions", "id": option(k)}
                     for k in ("contacts_enabled", "create_lead_dialog_layout",
                               "contacts_sync_interval_orocrm")]}}},
        "included": [
            {"type": "configurationoptions", "id": option("contacts_enabled"),
             "attributes": {"dataType": "boolean", "value": False}},
            {"type": "configurationoptions", "id": option("create_lead_dialog_layout"),
             "attributes": {"dataType": "string", "value": json.dumps(layout)}},
            {"type": "configurationoptions", "id": option("contacts_sync_interval_orocrm"),
             "attributes": {"dataType": "integer", "value": 300}}]}))
    crm, _ = make(handler)
    assert crm.configuration() == {"contacts_enabled": False, "create_lead_dialog_layout": layout,
                                   "contacts_sync_interval_orocrm": 300}


def test_configuration_missing_means_too_old() -> None:
    handler, _ = sequence(answer(404, {"errors": [{"status": "404", "title": "not found"}]}))
    crm, _ = make(handler)
    with pytest.raises(IncompatibleServerError):
        crm.configuration()


def test_the_crm_package_imports_no_qt() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tray_client.crm; assert not any(m.startswith('PySide6') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_verifying_tls_context_is_built_once_per_process(monkeypatch) -> None:
    # Loading the CA bundle takes ~90 ms, and every sync makes a new CrmClient.
    import certifi

    from tray_client.crm import client as module

    built: list[object] = []
    create = httpx.create_ssl_context

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(args)
        return create(*args, **kwargs)

    monkeypatch.setattr(module.httpx, "create_ssl_context", counting)
    module._verifying_context.cache_clear()
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    try:
        for _ in range(3):
            CrmClient("https://crm.example.org", "ann", "key").close()
        assert len(built) == 1
        CrmClient("https://crm.example.org", "ann", "key", verify=False).close()
        assert len(built) == 1
        # Another CA bundle named in the environment is another context.
        monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
        CrmClient("https://crm.example.org", "ann", "key").close()
        assert len(built) == 2
    finally:
        module._verifying_context.cache_clear()
