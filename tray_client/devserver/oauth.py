"""OAuth 2.0 as Oro's OAuth2ServerBundle answers it: ``POST /oauth2-token``, the authorization
endpoint ``/oauth2-token/authorize`` and bearer tokens.

The OAuth applications of one user: one made on the user's page in Oro's back office (client
credentials grant, confidential) and, optionally, a public one an administrator made for the
authorization-code grant with PKCE and a loopback redirect URI. The token endpoint follows
``league/oauth2-server`` 8.5 as Oro 6.1 uses it
(``AbstractGrant::getClientCredentials``/``validateClient``, ``ClientCredentialsGrant``,
``OAuthServerException``, ``BearerTokenResponse``) with Oro's ``ClientRepository`` (an inactive
application is an unknown one): every failure to authenticate the application is the same
``invalid_client``. API requests with a bad, expired or revoked token, or whose application was
deactivated, get Oro's ``OAuth2Authenticator`` answer: 401, empty body, no ``WWW-Authenticate``.

Departure: Oro's access tokens are RS256 JWTs; these are opaque random strings (a client must
treat them as opaque anyway).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


@dataclass
class Application:
    """An OAuth application as Oro keeps it (``OAuth2ServerBundle/Entity/Client.php``).

    ``secret`` None: a public application (no secret; PKCE required). Loopback redirect URIs
    (``http://127.0.0.1/…``) match whatever port a request carries.
    """

    client_id: str
    secret: str | None = field(default=None, repr=False)
    grants: tuple[str, ...] = ("client_credentials",)
    redirect_uris: tuple[str, ...] = ()
    active: bool = True

    @property
    def confidential(self) -> bool:
        return self.secret is not None

    def supports(self, grant: str) -> bool:
        """ClientRepository::isGrantSupported."""
        if grant == "refresh_token" and ("password" in self.grants
                                         or "authorization_code" in self.grants):
            return True
        return grant in self.grants

    def redirect_matches(self, uri: str) -> bool:
        """RedirectUriValidator: exact, except that a loopback URI's port is ignored."""
        parts = urlsplit(uri)
        for registered in self.redirect_uris:
            if uri == registered:
                return True
            if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1"):
                mine = urlsplit(registered)
                if (mine.scheme, mine.hostname, mine.path, mine.query) == (
                        parts.scheme, parts.hostname, parts.path, parts.query):
                    return True
        return False


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    expires: float
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    access_token: str
    expires: float
    revoked: bool = False


class _Refused(Exception):
    def __init__(self, answer: TokenAnswer) -> None:
        super().__init__(answer.body.get("error"))
        self.answer = answer


def _invalid_request(parameter: str, hint: str | None = None) -> _Refused:
    return _Refused(_error(400, "invalid_request", _INVALID_REQUEST,
                           hint or f"Check the `{parameter}` parameter"))


def _invalid_client(authorization: str | None) -> _Refused:
    challenge = None
    if authorization:
        scheme = "Bearer" if authorization.startswith("Bearer") else "Basic"
        challenge = {"WWW-Authenticate": f'{scheme} realm="OAuth"'}
    return _Refused(_error(401, "invalid_client", "Client authentication failed",
                           headers=challenge))


def _invalid_refresh_token(hint: str) -> _Refused:
    return _Refused(_error(401, "invalid_request", "The refresh token is invalid.", hint))


_INVALID_GRANT = ("The provided authorization grant (e.g., authorization code, resource owner "
                  "credentials) or refresh token is invalid, expired, revoked, does not match "
                  "the redirection URI used in the authorization request, or was issued to "
                  "another client.")
_PKCE_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CODE_LIFETIME = 600                   # auth_code_lifetime
REFRESH_LIFETIME = 30 * 24 * 3600     # refresh_token_lifetime


class OAuthServer:
    """The token endpoint and bearer checks for the OAuth applications of one user: the
    client-credentials one (made on the user's page) and, optionally, a public
    authorization-code one (made by an administrator, PKCE)."""

    def __init__(self, client_id: str, client_secret: str, username: Callable[[], str], *,
                 lifetime: int = DEFAULT_LIFETIME, clock: Callable[[], float] = time.time,
                 browser_app: Application | None = None,
                 api_enabled: Callable[[], bool] = lambda: True) -> None:
        self.client_id = client_id
        self.apps = {client_id: Application(client_id, client_secret)}
        if browser_app is not None:
            self.apps[browser_app.client_id] = browser_app
        self._username = username
        self._api_enabled = api_enabled   # Oro's web_api feature: off, no application is
        self.lifetime = lifetime
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}   # token -> (client id, expires at)
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._lock = threading.Lock()
        self.issued = 0                                   # tokens issued (tests count renewals)

    def __repr__(self) -> str:  # never the secret
        return f"OAuthServer(apps={sorted(self.apps)!r}, lifetime={self.lifetime})"

    @property
    def active(self) -> bool:
        return self.apps[self.client_id].active

    @active.setter
    def active(self, value: bool) -> None:
        self.apps[self.client_id].active = value

    def _app(self, client_id: Any) -> Application | None:
        """ClientRepository::getClientEntity: an inactive application is an unknown one, and
        so is every back-office application while the API is off (``isClientEnabled``)."""
        app = self.apps.get(client_id) if isinstance(client_id, str) else None
        return app if app is not None and app.active and self._api_enabled() else None

    # -- POST /oauth2-token -------------------------------------------------------------------

    def token(self, params: Mapping[str, Any], authorization: str | None) -> TokenAnswer:
        """Answer a token request as Oro's ``AuthorizationTokenController::tokenAction``."""
        grant = params.get("grant_type")
        if grant not in ("client_credentials", "password", "refresh_token", "authorization_code"):
            # AuthorizationServer: no enabled grant can respond.
            return _error(400, "unsupported_grant_type", "The authorization grant type is not "
                          "supported by the authorization server.",
                          "Check that all required parameters have been provided")
        try:
            return self._grant(str(grant), params, authorization)
        except _Refused as refused:
            return refused.answer

    def _grant(
        self, grant: str, params: Mapping[str, Any], authorization: str | None
    ) -> TokenAnswer:
        basic_user, basic_secret = _basic_credentials(authorization)
        client_id = params.get("client_id", basic_user)
        if client_id is None:
            raise _invalid_request("client_id")
        secret = params.get("client_secret", basic_secret)
        if secret is not None and not isinstance(secret, str):
            raise _invalid_request("client_secret")
        app = self._app(client_id)
        if app is None or (grant == "client_credentials" and not app.confidential):
            raise _invalid_client(authorization)

        def validate_client() -> None:
            # ClientRepository::validateClient: grant allowed, secret right (confidential).
            if not app.supports(grant) or (app.confidential and not hmac.compare_digest(
                    str(secret or "").encode(), str(app.secret).encode())):
                raise _invalid_client(authorization)

        if grant == "authorization_code":
            if app.confidential:
                validate_client()
            return self._from_code(app, params)
        validate_client()
        if grant == "refresh_token":
            return self._from_refresh_token(app, params)
        if grant != "client_credentials":
            raise _invalid_client(authorization)   # password: no application here has it
        return self._issue(app.client_id, refresh=False)

    def _from_code(self, app: Application, params: Mapping[str, Any]) -> TokenAnswer:
        """league AuthCodeGrant::respondToAccessTokenRequest (8.5)."""
        code_text = params.get("code")
        if not isinstance(code_text, str):
            raise _invalid_request("code")
        now = self._clock()
        with self._lock:
            code = self._codes.get(code_text)
        if code is None:
            raise _invalid_request("code", "Cannot decrypt the authorization code")
        if now > code.expires:
            raise _invalid_request("code", "Authorization code has expired")
        if code.used:
            raise _invalid_request("code", "Authorization code has been revoked")
        if code.client_id != app.client_id:
            raise _invalid_request("code", "Authorization code was not issued to this client")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            raise _invalid_request("redirect_uri")
        if redirect_uri != code.redirect_uri:
            raise _invalid_request("redirect_uri", "Invalid redirect URI")
        verifier = params.get("code_verifier")
        if verifier is None:
            raise _invalid_request("code_verifier")
        if not isinstance(verifier, str) or not _PKCE_RE.match(verifier):
            raise _invalid_request("code_verifier",
                                   "Code Verifier must follow the specifications of RFC-7636.")
        if not hmac.compare_digest(s256(verifier), code.challenge):
            raise _Refused(_error(400, "invalid_grant", _INVALID_GRANT,
                                  "Failed to verify `code_verifier`."))
        code.used = True
        return self._issue(app.client_id, refresh=True)

    def _from_refresh_token(self, app: Application, params: Mapping[str, Any]) -> TokenAnswer:
        """league RefreshTokenGrant (8.5): the old access and refresh tokens are revoked."""
        text = params.get("refresh_token")
        if not isinstance(text, str):
            raise _invalid_request("refresh_token")
        with self._lock:
            old = self._refresh.get(text)
        if old is None:
            raise _invalid_refresh_token("Cannot decrypt the refresh token")
        if old.client_id != app.client_id:
            raise _invalid_refresh_token("Token is not linked to client")
        if self._clock() > old.expires:
            raise _invalid_refresh_token("Token has expired")
        if old.revoked:
            raise _invalid_refresh_token("Token has been revoked")
        with self._lock:
            old.revoked = True
            self._tokens.pop(old.access_token, None)
        return self._issue(app.client_id, refresh=True)

    def _issue(self, client_id: str, *, refresh: bool) -> TokenAnswer:
        now = self._clock()
        token = secrets.token_urlsafe(32)
        expires = int(now) + self.lifetime
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": expires - int(now),
                                "access_token": token}
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (client_id, expires)
            self.issued += 1
            if refresh:
                refresh_token = secrets.token_urlsafe(48)
                self._refresh[refresh_token] = _Refresh(client_id, token, now + REFRESH_LIFETIME)
                body["refresh_token"] = refresh_token
        return TokenAnswer(200, body, {"pragma": "no-cache", "cache-control": "no-store",
                                       "Content-Type": "application/json; charset=UTF-8"})

    # -- GET/POST /oauth2-token/authorize --------------------------------------------------------

    def check_authorization(self, query: Mapping[str, str]) -> TokenAnswer | None:
        """league AuthCodeGrant::validateAuthorizationRequest: None when the request is good,
        else the error answer (shown in the browser; the redirect URI is not trusted yet)."""
        client_id = query.get("client_id")
        if client_id is None:
            return _invalid_request("client_id").answer
        app = self._app(client_id)
        if app is None or not app.supports("authorization_code"):
            return _invalid_client(None).answer
        if query.get("response_type") != "code":
            return _error(400, "unsupported_response_type", "The authorization server does "
                          "not support obtaining an authorization code using this method.")
        redirect_uri = query.get("redirect_uri")
        if redirect_uri is None or not app.redirect_matches(redirect_uri):
            return _invalid_client(None).answer
        challenge = query.get("code_challenge")
        if challenge is None:
            if not app.confidential:
                return _invalid_request("code_challenge", "Code challenge must be provided "
                                        "for public clients").answer
            return None
        if query.get("code_challenge_method", "plain") != "S256":
            # Oro allows "plain" only for applications marked so; none is here.
            return _invalid_request("code_challenge_method", "Code challenge method must be "
                                    "one of `S256`").answer
        if not _PKCE_RE.match(challenge):
            return _invalid_request("code_challenge", "Code challenge must follow the "
                                    "specifications of RFC-7636.").answer
        return None

    def grant_code(self, query: Mapping[str, str]) -> str:
        """The signed-in user allowed the request (already checked): the redirect with a code."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(query["client_id"], query["redirect_uri"],
                                      query.get("code_challenge", ""),
                                      self._clock() + CODE_LIFETIME)
        return _with_query(query["redirect_uri"], code=code, state=query.get("state"))

    @staticmethod
    def deny(query: Mapping[str, str]) -> str:
        """The user declined: league's access_denied, sent back to the redirect URI."""
        return _with_query(query["redirect_uri"], error="access_denied",
                           error_description="The resource owner or authorization server "
                           "denied the request.", hint="The user denied the request",
                           message="The resource owner or authorization server denied the "
                           "request.", state=query.get("state"))

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
        if self._app(client_id) is None:
            raise Unauthorized("The OAuth client is not active.", challenge=None)
        return self._username()

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working now (tests: a token that expired
        early)."""
        with self._lock:
            self._tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token issued so far is revoked (tests: a sign-in to repeat)."""
        with self._lock:
            for refresh in self._refresh.values():
                refresh.revoked = True


def s256(verifier: str) -> str:
    """The S256 code challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _with_query(uri: str, **values: str | None) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in values.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


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
