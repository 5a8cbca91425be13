"""*Sign in with Oro…*: the authorization-code grant with PKCE in the system browser (RFC 8252).

``authorize_in_browser`` listens on a loopback port (``http://127.0.0.1:PORT/callback``, a
redirect URI Oro matches whatever the port), opens the browser at Oro's
``/oauth2-token/authorize`` with an S256 code challenge and a random ``state`` (Authlib builds
both and the URL), waits for the browser to come back, checks ``state`` and returns the code
with its verifier. ``OAuth2AuthorizationCode`` (``auth.py``) turns it into tokens. No secret is
typed anywhere: the user signs in on Oro's own page.
"""

from __future__ import annotations

import logging
import threading
import time
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ..errors import AuthError, TrayClientError
from .auth import AuthorizationCode

log = logging.getLogger(__name__)

AUTHORIZE_PATH = "/oauth2-token/authorize"
CALLBACK_PATH = "/callback"
SIGN_IN_TIMEOUT = 300.0

_DONE_PAGE = ("<!doctype html><meta charset='utf-8'><title>CRM Tray Client</title>"
              "<p>{text}</p><p>You can close this tab.</p>")


class SignInCancelled(TrayClientError):
    title = "Sign-in cancelled"


def authorize_in_browser(base_url: str, client_id: str, *,
                         open_browser: Callable[[str], object] = webbrowser.open,
                         timeout: float = SIGN_IN_TIMEOUT,
                         cancel: threading.Event | None = None) -> AuthorizationCode:
    """Run the browser part of the sign-in; the code the browser brought back.

    ``open_browser(url)`` shows the page (the CLI also prints the URL). Raises AuthError when
    Oro refused or the user declined, SignInCancelled when ``cancel`` was set or nothing came
    back within ``timeout`` seconds.
    """
    verifier = generate_token(64)            # 64 unreserved characters (RFC 7636 §4.1)
    state = generate_token(32)
    answer: dict[str, str] = {}
    arrived = threading.Event()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != CALLBACK_PATH or arrived.is_set():
                self.send_error(404)
                return
            answer.update({k: v[0] for k, v in parse_qs(parts.query).items()})
            text = ("You are signed in to the CRM Tray Client." if "code" in answer
                    else "The sign-in did not complete; see the CRM Tray Client.")
            body = _DONE_PAGE.format(text=text).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            arrived.set()

        def log_message(self, format: str, *args: object) -> None:
            pass   # the query holds the code: never logged

    server = ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="oauth-callback", daemon=True)
    thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}{CALLBACK_PATH}"
        url = prepare_grant_uri(base_url.rstrip("/") + AUTHORIZE_PATH, client_id, "code",
                                redirect_uri=redirect_uri, state=state,
                                code_challenge=create_s256_code_challenge(verifier),
                                code_challenge_method="S256")
        log.info("Opening the browser to sign in to %s", base_url)
        open_browser(url)
        deadline = time.monotonic() + timeout
        while not arrived.wait(0.1):
            if cancel is not None and cancel.is_set():
                raise SignInCancelled("The sign-in was cancelled.")
            if time.monotonic() > deadline:
                raise SignInCancelled(f"Nothing came back from the browser within "
                                      f"{timeout:.0f} seconds; the sign-in was given up.")
    finally:
        server.shutdown()
        server.server_close()
    return _code_from(answer, state, verifier, redirect_uri)


def _code_from(answer: dict[str, str], state: str, verifier: str,
               redirect_uri: str) -> AuthorizationCode:
    if answer.get("state") != state:
        raise AuthError("The browser came back with an answer to another sign-in (its state "
                        "does not match); nothing was signed in. Try again.")
    error = answer.get("error")
    if error == "access_denied":
        raise AuthError("The sign-in was declined on the CRM's page.",
                        title="Sign-in declined")
    if error or not answer.get("code"):
        said = answer.get("error_description") or answer.get("hint") or "no code"
        raise AuthError(f"The CRM refused the sign-in ({error or 'no code'}: {said}).")
    return AuthorizationCode(answer["code"], verifier, redirect_uri)
