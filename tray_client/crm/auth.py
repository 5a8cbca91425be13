"""How CrmClient signs in: httpx authentication layers, so every request is signed alike.

The kinds Oro offers (docs/protocol.md, "Authentication"):

- ``WsseAuth`` — the API key (Oro ≤ 6.0). Oro refuses a ``Created`` that is in the future by
  even one second, so ``Created`` comes from the *server's* clock: the offset is learned from
  the ``Date`` header of every answer. A 401 to a token whose ``Created`` was ahead of that
  answer's ``Date`` is a "future token": it is signed again with the new offset and sent once
  more.
- ``OAuth2ClientCredentials`` — an OAuth application's client id and secret (Oro 6.1+, and
  earlier versions with OAuth). ``POST {URL}/oauth2-token`` with the client-credentials grant
  gives a bearer token; it is kept in memory only (a ``TokenStore`` shared by every CrmClient of
  the process, so the sync's read-ahead thread and the GUI's workers use one token and renew it
  once), renewed shortly before it expires and once on a 401.
- ``OAuth2AuthorizationCode`` — *Sign in with Oro*: the authorization-code grant with PKCE of
  a public application; the code comes from the browser (``signin.py``), renewals use the
  refresh token, which Oro rotates (the newest is handed to ``on_refresh_token``).

All are ``httpx.Auth`` flows installed on CrmClient's httpx client, so any request made
through it (JSON:API or Oro's older REST API) is signed. Authlib builds the token request and
reads the token (``prepare_token_request``, ``ClientAuth``, ``OAuth2Token``). Its httpx
integration (``OAuth2Client``) is not used: Authlib 1.9 deprecated it for the ``httpx2`` fork
(its classes would come from whichever of the two is installed), it keeps the token per httpx
client, its synchronous client renews without a lock, never retries a 401 and raises when no
token was fetched yet (docs/architecture.md).

Refusals become AuthError subclasses whose messages say what to do; a secret never appears
in them, nor in a log line.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749 import OAuth2Token
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from .. import __version__
from ..errors import AuthError, ServerError
from .wsse import WsseSigner

log = logging.getLogger(__name__)

WSSE, OAUTH2 = "wsse", "oauth2"     # as Settings.auth names them
TOKEN_PATH = "/oauth2-token"
MAX_LEEWAY = 60.0      # renew this long before expiry (at most a tenth of the token's lifetime)

_OAUTH_HELP = ("Make one in Oro on your My User page, OAuth Applications, Add, and copy its "
               "Client ID and Client Secret (shown once).")


# -- errors -----------------------------------------------------------------------------------

class WrongAuthKindError(AuthError):
    """The CRM wants the other kind of authentication; ``wanted`` says which."""

    title = "Other sign-in needed"

    def __init__(self, message: str, *, wanted: str, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.wanted = wanted


class WsseRefusedError(AuthError):
    """A WSSE 401 answered by the WSSE firewall: the key (or user) is wrong."""

    title = "Wrong user or API key"
    wanted = WSSE


class OAuthRefusedError(AuthError):
    """The token endpoint did not give a token to this application."""

    title = "OAuth application not accepted"


def _server_time(response: httpx.Response) -> float | None:
    value = response.headers.get("Date")
    if not value:
        return None
    moment = http_date(value)
    return None if moment is None else moment.timestamp()


@lru_cache(maxsize=16)
def http_date(value: str) -> datetime | None:
    """An HTTP ``Date`` header's moment, or None when it is not one. Cached: every answer
    carries one, and a second's answers carry the same (two parses an answer: the WSSE
    clock and the client's server time)."""
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def refusal(response: httpx.Response, user: str) -> AuthError:
    """The AuthError for a 401 from the API, by the kind the request used and the challenge.

    Oro's 401s have empty bodies; the ``WWW-Authenticate`` header says which firewall answered:
    ``WSSE …`` (Oro ≤ 6.0: the API takes API keys), ``Basic`` (Oro 6.1's ApiEntryPoint: no
    WSSE at all), none (the OAuth authenticator refused a bearer token).
    """
    challenge = response.headers.get("WWW-Authenticate", "")
    sent_bearer = response.request.headers.get("Authorization", "").startswith("Bearer")
    if challenge.lower().startswith("basic") and "realm" in challenge.lower():
        # Oro's own entry point says just "Basic": a realm is a web server's password prompt.
        return AuthError(
            f"A web server in front of the CRM asks for a password of its own ({challenge}) "
            "before the CRM is reached; the client cannot give it. Ask the administrator to "
            "let the CRM's /api and /oauth2-token addresses through.", status=401)
    if not sent_bearer:
        if challenge.upper().startswith("WSSE"):
            return WsseRefusedError(
                f"The CRM did not accept user {user!r} with this API key. Check the user name "
                "and the key (My User page in the CRM: API Key, Generate); a key generated "
                "again replaces the old one.", status=401)
        return WrongAuthKindError(
            "This CRM does not accept API keys: it signs in with OAuth 2.0 only (Oro 6.1 and "
            "later). In Settings choose Authentication: OAuth application. " + _OAUTH_HELP,
            wanted=OAUTH2, status=401)
    if challenge.upper().startswith("WSSE"):
        return WrongAuthKindError(
            "This CRM does not accept OAuth tokens here; it wants an API key (WSSE). In "
            "Settings choose Authentication: API key, and generate the key on your My User "
            "page in the CRM.", wanted=WSSE, status=401)
    return AuthError(
        "The CRM refused the OAuth access token it had just issued: the application's user may "
        "be disabled or not a member of the organization, or the application was deactivated. "
        "Ask the CRM administrator to check the OAuth application.", status=401)


# -- WSSE -------------------------------------------------------------------------------------

class ServerClock:
    """The server's clock, as an offset from ours learned from ``Date`` headers.

    ``Date`` is whole seconds and was stamped before the answer reached us, so ``Date - our
    time at arrival`` never overestimates the server's clock: a ``Created`` taken from it is
    never in the server's future. The latest answer wins (clocks get adjusted). Before any
    answer, ``Created`` is taken ``UNKNOWN_MARGIN`` seconds in the past (Oro accepts a token
    for an hour): a clock up to a minute ahead then never meets a refusal at all — each
    refusal is a failed login in Oro's security log.
    """

    UNKNOWN_MARGIN = 60.0

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self.offset = -self.UNKNOWN_MARGIN
        self.known = False

    def learn(self, response: httpx.Response) -> float | None:
        """Take the offset from this answer; returns the server time it showed (or None)."""
        server = _server_time(response)
        if server is None:
            return None
        self.offset = server - self._now()
        self.known = True
        return server

    def created(self) -> str:
        """A WSSE ``Created`` (whole seconds, UTC) on the server's clock."""
        moment = math.floor(self._now() + self.offset)
        return datetime.fromtimestamp(moment, UTC).isoformat()


class WsseAuth(httpx.Auth):
    """Signs every request with a fresh WSSE token stamped on the server's clock."""

    def __init__(self, user: str, api_key: str, clock: ServerClock | None = None) -> None:
        self._signer = WsseSigner(user, api_key)
        self.clock = clock or ServerClock()

    def __repr__(self) -> str:  # never the key
        return f"WsseAuth(user={self._signer.user!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        created = self.clock.created()
        request.headers.update(self._signer.headers(created=created))
        response = yield request
        server = self.clock.learn(response)
        if response.status_code == 401 and server is not None and _from_future(created, server):
            # Oro: "Future token detected." Sign again on the clock just learned, once.
            log.info("The CRM's clock is behind this computer's by %.0f s; signing again",
                     -self.clock.offset)
            request.headers.update(self._signer.headers(created=self.clock.created()))
            response = yield request
            self.clock.learn(response)


def _from_future(created: str, server: float) -> bool:
    """True when Oro would call a token with this ``Created`` one from the future, at ``server``
    (whole seconds compared, as PHP's strtotime does)."""
    stamp = datetime.fromisoformat(created).timestamp()
    return math.floor(stamp) > math.floor(server)


# -- OAuth 2.0 --------------------------------------------------------------------------------

class TokenStore:
    """The access token of one OAuth application on one CRM, in memory, shared by threads.

    ``lock`` is held while a token is fetched, so concurrent requests wait for one renewal
    instead of each fetching their own.
    """

    def __init__(self, refresh_token: str | None = None) -> None:
        self.lock = threading.Lock()
        self.token: OAuth2Token | None = None
        self.leeway = 0.0
        self.fetched = 0          # tokens fetched so far (a refusal after one means "revoked")
        # Authorization code: the current refresh token (rotated at every renewal, so it is
        # shared here rather than held by each client).
        self.refresh_token = refresh_token

    def __repr__(self) -> str:  # never the token
        return f"TokenStore(fetched={self.fetched}, has_token={self.token is not None})"

    def current(self) -> OAuth2Token | None:
        """The token, unless missing or due for renewal."""
        token = self.token
        if token is None or token.is_expired(leeway=self.leeway):
            return None
        return token


class _BearerAuth(httpx.Auth):
    """Bearer tokens from ``POST {URL}/oauth2-token``, renewed before expiry and on a 401;
    subclasses say how a token is asked for (``_token_request``) and what a refusal means
    (``_refused``)."""

    requires_response_body = True   # the token answer is read inside the flow

    def __init__(self, base_url: str, client_id: str, store: TokenStore | None) -> None:
        self.token_url = base_url.rstrip("/") + TOKEN_PATH
        self.client_id = client_id
        self.store = store or TokenStore()

    def __repr__(self) -> str:  # never a secret or a token
        return f"{type(self).__name__}(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def _form_request(self, body: str, client_auth: ClientAuth) -> httpx.Request:
        url, headers, body = client_auth.prepare(
            "POST", self.token_url,
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
             "User-Agent": f"tray-client/{__version__}"}, body)
        return httpx.Request("POST", url, headers=headers, content=body.encode())

    def _token_request(self) -> httpx.Request:
        raise NotImplementedError

    def _refused(self, error: str | None, status: int, expired: bool) -> AuthError | None:
        """The error for a refusal this kind explains itself; None: the generic one."""
        return None

    def _accepted(self, token: OAuth2Token) -> None:
        """A token was issued (hook)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.store.current()
        if token is None:   # none yet, or due for renewal
            token = yield from self._renew(self.store.token)
        response = yield self._signed(request, token)
        if response.status_code == 401:
            # Expired early, revoked, or the server restarted: one new token, one more try.
            log.info("The CRM refused the access token (HTTP 401); fetching a new one")
            token = yield from self._renew(token)
            yield self._signed(request, token)

    @staticmethod
    def _signed(request: httpx.Request, token: OAuth2Token) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token['access_token']}"
        return request

    def _renew(self, stale: OAuth2Token | None
               ) -> Generator[httpx.Request, httpx.Response, OAuth2Token]:
        with self.store.lock:
            token = self.store.current()
            if token is not None and token is not stale:
                return token          # another request renewed it while this one waited
            expired = stale is not None and stale.is_expired(leeway=0)
            response = yield self._token_request()
            token = self._accept(response, expired)
            self._accepted(token)
            self.store.token = token
            self.store.leeway = min(MAX_LEEWAY, 0.1 * float(token.get("expires_in") or 0))
            self.store.fetched += 1
            log.info("Got an OAuth access token for application %s (valid %s s)",
                     self.client_id, token.get("expires_in", "?"))
            return token

    def _accept(self, response: httpx.Response, expired: bool) -> OAuth2Token:
        where = f"POST {httpx.URL(self.token_url).path}"
        status = response.status_code
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = None
        if (status == 200 and isinstance(body, dict) and body.get("access_token")
                and str(body.get("token_type", "Bearer")).lower() == "bearer"):
            return OAuth2Token.from_dict(body)
        error = body.get("error") if isinstance(body, dict) else None
        before = ("The access token expired and the CRM refused a new one. " if expired
                  else "")
        own = self._refused(error, status, expired)
        if own is not None:
            raise own
        if error == "invalid_client":
            if self.store.fetched:
                raise OAuthRefusedError(
                    f"{before}The CRM no longer accepts OAuth application {self.client_id!r} "
                    "(it did before): the application was deactivated or deleted, its secret "
                    "was generated again, or its user was disabled. Check the application on "
                    "your My User page in the CRM.", status=status)
            raise OAuthRefusedError(
                f"{before}The CRM did not accept OAuth application {self.client_id!r}: the "
                "Client ID or Client Secret is wrong, or the application is deactivated (Oro "
                "gives the same answer for each). Check both in Settings against the "
                "application on your My User page in the CRM; if the secret is lost, create "
                "a new application. Oro answers so too while its API is off (System › "
                "Configuration › General Setup › Application Settings).", status=status)
        if status == 404:
            raise WrongAuthKindError(
                f"The CRM has no OAuth 2.0 token endpoint ({where} answered 404): it does not "
                "offer OAuth applications. In Settings choose Authentication: API key (Oro "
                "6.0 and earlier), or check the CRM URL.", wanted=WSSE, status=status)
        if status >= 500:
            raise ServerError(f"The CRM failed to issue an access token (HTTP {status}, "
                              f"{where}); the client will try again later.", status=status)
        if 300 <= status < 400:
            raise OAuthRefusedError(
                f"The CRM's token endpoint redirects ({where} → "
                f"{response.headers.get('Location', 'elsewhere')}): check the CRM URL.",
                status=status)
        said = ""
        if isinstance(body, dict) and error:
            said = f" The server said: {error}: {body.get('error_description') or ''}"
            if body.get("hint"):
                said += f" ({body['hint']})"
        raise OAuthRefusedError(f"{before}The CRM did not issue an access token ({where}, "
                                f"HTTP {status}).{said.rstrip()}", status=status)


class OAuth2ClientCredentials(_BearerAuth):
    """The client-credentials grant: an OAuth application's id and secret."""

    def __init__(self, base_url: str, client_id: str, client_secret: str,
                 store: TokenStore | None = None) -> None:
        super().__init__(base_url, client_id, store)
        self._client_auth = ClientAuth(client_id, client_secret, "client_secret_post")

    def _token_request(self) -> httpx.Request:
        # The secret goes in the form body (client_secret_post), as Oro's documentation shows.
        return self._form_request(prepare_token_request("client_credentials"), self._client_auth)


@dataclass(frozen=True)
class AuthorizationCode:
    """What the browser brought back: the code, and the PKCE verifier and redirect URI of the
    request that asked for it."""

    code: str = field(repr=False)
    verifier: str = field(repr=False)
    redirect_uri: str


class SignInNeededError(AuthError):
    """The authorization-code sign-in is missing, expired or revoked: sign in again."""

    title = "Sign in with Oro again"


SIGN_IN_AGAIN = ("Sign in again: Settings › Connection › Sign in with Oro…, or `tray-client "
                 "sign-in`.")


class OAuth2AuthorizationCode(_BearerAuth):
    """The authorization-code grant of a public application (PKCE): the first token comes for
    the code the browser brought back, later ones for the refresh token, which Oro rotates at
    every renewal (``on_refresh_token`` keeps the new one, in the keyring)."""

    def __init__(self, base_url: str, client_id: str, store: TokenStore, *,
                 on_refresh_token: Callable[[str], None],
                 code: AuthorizationCode | None = None,
                 latest_refresh_token: Callable[[], str | None] | None = None) -> None:
        super().__init__(base_url, client_id, store)
        self._client_auth = ClientAuth(client_id, None, "none")
        self._on_refresh_token = on_refresh_token
        self._code = code
        # Where another process of the app (its sync process, the CLI) keeps the refresh
        # token it renewed: the rotation made this store's copy useless.
        self._latest_refresh_token = latest_refresh_token

    def _token_request(self) -> httpx.Request:
        if self._code is not None:
            body = prepare_token_request(
                "authorization_code", code=self._code.code, client_id=self.client_id,
                redirect_uri=self._code.redirect_uri, code_verifier=self._code.verifier)
        elif self._refresh_token():
            body = prepare_token_request("refresh_token", refresh_token=self.store.refresh_token,
                                         client_id=self.client_id)
        else:
            raise SignInNeededError("This computer is not signed in to the CRM yet. "
                                    + SIGN_IN_AGAIN)
        return self._form_request(body, self._client_auth)

    def _refresh_token(self) -> str | None:
        """The refresh token to renew with: the latest one kept (another process may have
        renewed since this one did), else this store's."""
        latest = self._latest_refresh_token() if self._latest_refresh_token else None
        if latest:
            self.store.refresh_token = latest
        return self.store.refresh_token

    def _accepted(self, token: OAuth2Token) -> None:
        self._code = None
        refresh_token = token.get("refresh_token")
        if refresh_token:
            self.store.refresh_token = refresh_token
            self._on_refresh_token(refresh_token)

    def _refused(self, error: str | None, status: int, expired: bool) -> AuthError | None:
        if self._code is not None and error in ("invalid_request", "invalid_grant"):
            return SignInNeededError("The CRM did not accept the sign-in the browser brought "
                                     "back (it expired or was used already). " + SIGN_IN_AGAIN,
                                     status=status)
        if error in ("invalid_request", "invalid_grant", "invalid_client"):
            return SignInNeededError(
                "The CRM no longer accepts this computer's sign-in: it was revoked, it went "
                "unused for 30 days, or the OAuth application was deactivated. "
                + SIGN_IN_AGAIN, status=status)
        return None
