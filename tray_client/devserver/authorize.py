"""``/oauth2-token/authorize``: the back-office sign-in page of the authorization-code grant.

Real Oro sends the browser to its login form (``/oauth2-token/login``) and then shows an
*Authorize* page (Grant / Cancel; ``OAuth2ServerBundle/Controller/AuthorizeClientController.php``).
Departure: here one page does both — user name, password, *Allow* or *Deny* — which is what
a browser sees end to end. Allowing redirects to the application's redirect URI with
``code`` and ``state``; denying, with league's ``access_denied``.
"""

from __future__ import annotations

import hmac
import html
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .oauth import OAuthServer, parse_token_request

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in - Oro (reference server)</title></head>
<body>
<h1>Sign in</h1>
<p>The application <b>{client}</b> asks to use the CRM on your behalf.</p>
{problem}
<form method="post">
<label>Username <input name="_username" value="{username}" autofocus></label><br>
<label>Password <input name="_password" type="password"></label><br>
<button name="decision" value="allow" type="submit">Allow</button>
<button name="decision" value="deny" type="submit">Deny</button>
</form>
</body></html>
"""


def authorize_endpoint(oauth: OAuthServer, username: Callable[[], str],
                       password: Callable[[], str]) -> Callable[[Request], object]:
    """The Starlette handler for GET (the page) and POST (the decision)."""

    async def authorize(request: Request) -> Response:
        query = dict(request.query_params)
        problem = oauth.check_authorization(query)
        if problem is not None:
            return Response(problem.content(), status_code=problem.status, headers=problem.headers)
        if request.method == "GET":
            return _page(query, "", "")
        form = parse_token_request(request.headers.get("content-type", ""), await request.body())
        if form.get("decision") == "deny":
            return RedirectResponse(oauth.deny(query), status_code=302)
        given_user = str(form.get("_username") or "")
        given_password = str(form.get("_password") or "")
        if given_user != username() or not hmac.compare_digest(given_password.encode(),
                                                               password().encode()):
            return _page(query, given_user, "Invalid user name or password.")
        return RedirectResponse(oauth.grant_code(query), status_code=302)

    return authorize


def _page(query: dict[str, str], username: str, problem: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(
        client=html.escape(query.get("client_id", "")), username=html.escape(username),
        problem=f'<p role="alert">{html.escape(problem)}</p>' if problem else ""))
