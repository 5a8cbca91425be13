"""OAuth 2.0 as Oro's OAuth2ServerBundle answers it (bodies from its functional tests,
``oauth2-server@6.1.0:…/Tests/Functional/ClientCredentialsOAuthServerTest.php``)."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tray_client.devserver.testing import RunningServer

from .wsse import wsse_headers

INVALID_CLIENT = {"error": "invalid_client", "error_description": "Client authentication failed",
                  "message": "Client authentication failed"}


def token(server, **form: str) -> httpx.Response:
    body = {"grant_type": "client_credentials", "client_id": server.client_id,
            "client_secret": server.client_secret, **form}
    return httpx.post(
        f"{server.url}/oauth2-token", data={k: v for k, v in body.items() if v is not None}
    )


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}", "Accept": "application/vnd.api+json"}


def test_client_credentials_give_a_bearer_token_that_opens_the_api(oauth_server):
    response = token(oauth_server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == ["token_type", "expires_in", "access_token"]
    assert body["token_type"] == "Bearer" and 3599 <= body["expires_in"] <= 3600
    api = httpx.get(f"{oauth_server.url}/api/users", headers=bearer(body["access_token"]))
    assert api.status_code == 200


def test_credentials_by_basic_authorization_and_json_body_work_too(oauth_server):
    basic = base64.b64encode(
        f"{oauth_server.client_id}:{oauth_server.client_secret}".encode()
    ).decode()
    response = httpx.post(
        f"{oauth_server.url}/oauth2-token",
        content=b"grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 200
    response = httpx.post(f"{oauth_server.url}/oauth2-token", json={
        "grant_type": "client_credentials", "client_id": oauth_server.client_id,
        "client_secret": oauth_server.client_secret})
    assert response.status_code == 200


@pytest.mark.parametrize("form", [{"client_secret": "wrong"}, {"client_id": "someone-else"},
                                  {"client_id": "", "client_secret": ""}])
def test_wrong_id_or_secret_is_invalid_client(oauth_server, form):
    response = token(oauth_server, **form)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == INVALID_CLIENT
    assert oauth_server.client_secret not in response.text
    assert "WWW-Authenticate" not in response.headers


def test_wrong_secret_by_basic_authorization_gets_the_basic_challenge(oauth_server):
    basic = base64.b64encode(f"{oauth_server.client_id}:wrong".encode()).decode()
    response = httpx.post(
        f"{oauth_server.url}/oauth2-token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="OAuth"'


def test_missing_client_id_and_unknown_grant_are_400(oauth_server):
    response = token(oauth_server, client_id=None, client_secret=None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["hint"] == "Check the `client_id` parameter"
    response = token(oauth_server, grant_type="magic")
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert token(oauth_server, grant_type="password").json() == INVALID_CLIENT


def test_deactivated_application_gets_no_token_and_its_tokens_stop_working(oauth_server):
    access = token(oauth_server).json()["access_token"]
    oauth_server.admin.set_oauth_client_active(False)
    api = httpx.get(f"{oauth_server.url}/api/users", headers=bearer(access))
    assert api.status_code == 401 and api.content == b"" and "WWW-Authenticate" not in api.headers
    assert token(oauth_server).json() == INVALID_CLIENT
    oauth_server.admin.set_oauth_client_active(True)
    assert httpx.get(f"{oauth_server.url}/api/users", headers=bearer(access)).status_code == 200


def test_a_token_expires_after_its_lifetime(tmp_path):
    with RunningServer(db_path=tmp_path / "crm.db", auth="oauth2", token_lifetime=1) as server:
        body = token(server).json()
        assert body["expires_in"] == 1
        time.sleep(1.1)
        api = httpx.get(f"{server.url}/api/users", headers=bearer(body["access_token"]))
        assert api.status_code == 401 and api.content == b""


def test_oauth_only_server_refuses_wsse_with_the_basic_challenge(oauth_server):
    response = httpx.get(f"{oauth_server.url}/api/users",
                         headers=wsse_headers(oauth_server.user, oauth_server.api_key))
    assert response.status_code == 401 and response.content == b""
    assert response.headers["WWW-Authenticate"] == "Basic"   # Oro 6.1 ApiEntryPoint


def test_both_kinds_work_on_the_default_server(devserver):
    assert httpx.get(f"{devserver.url}/api/users",
                     headers=wsse_headers(devserver.user, devserver.api_key)).status_code == 200
    access = token(devserver).json()["access_token"]
    assert httpx.get(f"{devserver.url}/api/users", headers=bearer(access)).status_code == 200
    wrong = httpx.get(f"{devserver.url}/api/users", headers=bearer("nonsense"))
    assert wrong.status_code == 401 and "WWW-Authenticate" not in wrong.headers


def test_wsse_only_server_has_no_token_endpoint(tmp_path):
    with RunningServer(db_path=tmp_path / "crm.db", auth="wsse") as server:
        assert token(server).status_code == 404
        response = httpx.get(f"{server.url}/api/users", headers=bearer("anything"))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("WSSE")


def test_with_the_api_off_no_application_gets_a_token():
    """ClientRepository::isClientEnabled: the web_api feature off disables every back-office
    application (oauth2-server@6.1.0:…/Security/ApiFeatureChecker.php)."""
    from tray_client.devserver.oauth import OAuthServer

    api_on = [True]
    server = OAuthServer("app", "secret", lambda: "admin", api_enabled=lambda: api_on[0])
    form = {"grant_type": "client_credentials", "client_id": "app", "client_secret": "secret"}
    assert server.token(form, None).status == 200
    api_on[0] = False
    answer = server.token(form, None)
    assert (answer.status, answer.body) == (401, INVALID_CLIENT)
