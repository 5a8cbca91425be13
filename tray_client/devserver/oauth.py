"""OAuth 2.0 as Oro's OAuth2ServerBundle answers it: ``POST /oauth2-token`` and bearer tokens.

One OAuth application (made on a user's page in Oro's back office: client credentials grant,
confidential, owned by that user). The token endpoint follows ``league/oauth2-server`` 8.5 as
Oro 6.1 uses it (``AbstractGrant::getClientCredentials``/``validateClient``,
``ClientCredentialsGrant``, ``OAuthServerException``, ``BearerTokenResponse``) with Oro's
``ClientRepository`` (an inactive application is an unknown one): every failure to
authenticate the application is the same ``invalid_client``. API requests with a bad, expired
or revoked token, or whose application was deactivated, get Oro's ``OAuth2Authenticator``
answer: 401, empty body, no ``WWW-Authenticate``.

Departure: Oro's access tokens are RS256 JWTs; these are opaque random strings (a client must
treat them as opaque anyway).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .auth import Unauthorized

DEFAULT_LIFETIME = 3600          # oro_oauth2_server.authorization_server.access_token_lifetime
_BEARER_RE = re.compile(r"^(?:\s+)?Bearer\s+(\S+)")   # OAuth2Authenticator::supports

_INVALID_REQUEST = ("The request is missing a required parameter, includes an invalid parameter "
                    "value, includes a parameter more than once, or is otherwise malformed.")


@dataclass
class TokenAnswer:
    """What the token endpoint answers: status, JSON body, headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        # PHP's json_encode: no spaces, slashes escaped.
        return json.dumps(self.body, separators=(",", ":")).replace("/", "\\/").encode()


def _error(status: int, error: str, description: str, hint: str | None = None,
           headers: dict[str, str] | None = None) -> TokenAnswer:
    # OAuthServerException::getPayload: error, error_description, [hint], then the deprecated
    # "message" (a copy of error_description); Content-type exactly "application/json".
    body: dict[str, Any] = {"error": error, "error_description": description}
    if hint is not None:
        body["hint"] = hint
    body["message"] = description
    return TokenAnswer(status, body, {"Content-Type": "application/json", **(headers or {})})


def parse_token_request(content_type: str, body: bytes) -> dict[str, Any]:
    """The token request's parameters: a form (RFC 6749) or a JSON object (Oro's docs)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


class OAuthServer:
    """The token endpoint and bearer checks for one OAuth application owned by one user."""

    def __init__(self, client_id: str, client_secret: str, username: Callable[[], str], *,
                 lifetime: int = DEFAULT_LIFETIME, clock: Callable[[], float] = time.time) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self._username = username
        self.lifetime = lifetime
        self.active = True
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}   # token -> (client id, expires at)
        self._lock = threading.Lock()
        self.issued = 0                                   # tokens issued (tests count renewals)

    def __repr__(self) -> str:  # never the secret
        return f"OAuthServer(client_id={self.client_id!r}, lifetime={self.lifetime})"

    # -- POST /oauth2-token -------------------------------------------------------------------

    def token(self, params: Mapping[str, Any], authorization: str | None) -> TokenAnswer:
        """Answer a token request as Oro's ``AuthorizationTokenController::tokenAction``."""
        grant = params.get("grant_type")
        if grant not in ("client_credentials", "password", "refresh_token", "authorization_code"):
            # AuthorizationServer: no enabled grant can respond.
            return _error(400, "unsupported_grant_type", "The authorization grant type is not "
                          "supported by the authorization server.",
                          "Check that all required parameters have been provided")
        basic_user, basic_secret = _basic_credentials(authorization)
        client_id = params.get("client_id", basic_user)
        if client_id is None:
            return _error(400, "invalid_request", _INVALID_REQUEST, "Check the `client_id` parameter")
        secret = params.get("client_secret", basic_secret)
        if secret is not None and not isinstance(secret, str):
            return _error(400, "invalid_request", _INVALID_REQUEST,
                          "Check the `client_secret` parameter")
        if (client_id != self.client_id or not self.active or grant != "client_credentials"
                or not hmac.compare_digest(str(secret or "").encode(), self._secret.encode())):
            # ClientRepository: unknown, inactive, grant not allowed or wrong secret alike.
            challenge = None
            if authorization:
                scheme = "Bearer" if authorization.startswith("Bearer") else "Basic"
                challenge = {"WWW-Authenticate": f'{scheme} realm="OAuth"'}
            return _error(401, "invalid_client", "Client authentication failed", headers=challenge)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        expires = int(now) + self.lifetime
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (client_id, expires)
            self.issued += 1
        return TokenAnswer(200, {"token_type": "Bearer", "expires_in": expires - int(now),
                                 "access_token": token},
                           {"pragma": "no-cache", "cache-control": "no-store",
                            "Content-Type": "application/json; charset=UTF-8"})

    # -- API requests ---------------------------------------------------------------------------

    @staticmethod
    def wants(authorization: str | None) -> bool:
        """True when the request carries a bearer token (OAuth2Authenticator::supports)."""
        return bool(authorization and _BEARER_RE.match(authorization))

    def authenticate(self, authorization: str) -> str:
        """The username a valid bearer token acts for; Unauthorized (no challenge) otherwise."""
        match = _BEARER_RE.match(authorization)
        token = match.group(1) if match else ""
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None:
            raise Unauthorized("The resource server rejected the request.", challenge=None)
        client_id, expires = entry
        if self._clock() >= expires:
            raise Unauthorized("The resource server rejected the request (token expired).",
                               challenge=None)
        if client_id != self.client_id or not self.active:
            raise Unauthorized("The OAuth client is not active.", challenge=None)
        return self._username()

    def expire_tokens(self) -> None:
        """Every token issued so far stops working now (tests: a token that expired early)."""
        with self._lock:
            self._tokens.clear()


def _basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    """AbstractGrant::getBasicAuthCredentials."""
    if not authorization or not authorization.startswith("Basic "):
        return None, None
    try:
        decoded = base64.b64decode(authorization[6:], validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    if ":" not in decoded:
        return None, None
    user, _, secret = decoded.partition(":")
    return user, secret
