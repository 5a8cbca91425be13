"""Fault injection: error statuses with Retry-After, delays, dropped connections."""

from __future__ import annotations

import time

import httpx
import pytest

from .wsse import error_of, ref

TASK = {"data": {"type": "tasks", "attributes": {"subject": "S"}, "relationships": {
    "status": ref("taskstatuses", "open"), "taskPriority": ref("taskpriorities", "normal")}}}


def test_status_fault_hits_given_times_then_clears(api, devserver):
    devserver.admin.inject_fault("/api/contacts", status=503, retry_after=7, times=2)
    first = api.get("/contacts")
    assert error_of(first, 503)["title"] == "injected fault"
    assert first.headers["Retry-After"] == "7"
    assert first.headers["X-Server-Version"] == "5.1.0" and "Date" in first.headers
    error_of(api.get("/contacts"), 503)
    assert api.get("/contacts").status_code == 200


def test_fault_matches_prefix_and_method(api, devserver):
    devserver.admin.inject_fault("/api/tasks", status=429, method="POST", times=None)
    assert api.get("/tasks").status_code == 200
    assert api.get("/contacts").status_code == 200
    error_of(api.post("/tasks", json=TASK), 429)
    error_of(api.post("/tasks", json=TASK), 429)
    devserver.admin.clear_faults()
    assert api.post("/tasks", json=TASK).status_code == 201
    assert devserver.admin.count("tasks") == 1  # faulted requests never reached the data


def test_delay_fault_answers_late(api, devserver):
    devserver.admin.inject_fault("/api/users", kind="delay", delay=0.5)
    started = time.monotonic()
    assert api.get("/users").status_code == 200
    assert time.monotonic() - started >= 0.5
    with_timeout = httpx.Client(base_url=devserver.url, timeout=0.2)
    devserver.admin.inject_fault("/api/users", kind="delay", delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        with_timeout.get("/api/users")
    with_timeout.close()


def test_drop_fault_closes_the_connection_without_an_answer(api, devserver):
    devserver.admin.inject_fault("/api/contacts", kind="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/contacts")
    assert api.get("/contacts").status_code == 200


def test_bad_fault_arguments_are_refused(devserver):
    with pytest.raises(ValueError):
        devserver.admin.inject_fault("/api", kind="explode")
    with pytest.raises(ValueError):
        devserver.admin.inject_fault("/api", times=0)


def test_server_stops_and_restarts_on_the_same_url_with_its_data(api, devserver):
    contact = devserver.admin.create("contacts", {"firstName": "Kept"})
    url = devserver.url
    devserver.stop()
    with pytest.raises(httpx.ConnectError):
        api.get("/contacts")
    devserver.start()
    assert devserver.url == url
    assert api.get(f"/contacts/{contact}").json()["data"]["attributes"]["firstName"] == "Kept"
