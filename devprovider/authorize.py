"""The authorization endpoint: request checks, the sign-in form, SSO through provider sessions, and codes.

Everything a browser does at the provider before the app's callback lives here: which
requests are refused and how (page or ``error=`` redirect), who gets approved, which
provider session a sign-in joins, and the code that approval yields.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from .pages import sign_in_page
from .protocol import AUTHORIZE_PATH, CONSOLE_PATH, PROVIDER_SESSION_COOKIE
from .records import ISSUED_SECRETS, _AuthorizeRequest, _Code, _Login, _ProviderSession
from .responses import html_page, redirect
from .users import ProviderUser

if TYPE_CHECKING:
    from .local_provider import LocalProvider


class AuthorizeEndpoint:
    """``GET``/``POST`` authorize of one provider, reading its knobs and state per request."""

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    async def get(self, request: Request) -> Response:
        provider = self._provider
        pairs = list(request.query_params.multi_items())
        params = dict(pairs)
        provider.authorize_requests.append(params)
        if len(params) != len(pairs):
            return html_page("Invalid request", "A parameter was repeated.", status=400)
        checked = self._check(params)
        if isinstance(checked, Response):
            return checked
        if provider.authorize_error is not None:
            return self._error_redirect(checked, provider.authorize_error)
        prompts = set(params.get("prompt", "").split())
        user = self._find_user(params.get("login_hint"))
        live = self._browser_session(request)
        if live is not None and not prompts & {"login", "select_account"} and (user is None or user.sub == live.sub):
            # SSO: the browser is already signed in here, so no form (OIDC Core §3.1.2.3).
            provider.sso_approvals += 1
            return self._approve(checked, provider.users[live.sub], request, live)
        if user is not None:
            return self._approve(checked, user, request)
        if "none" in prompts:
            return redirect(
                checked.redirect_uri,
                error="login_required",
                error_description="No login_hint for prompt=none",
                state=checked.state,
            )
        return sign_in_page(
            params,
            provider.users.values(),
            provider.issuer_path + AUTHORIZE_PATH,
            signed_in_sub=live.sub if live is not None else None,
            console=provider.issuer_path + CONSOLE_PATH,
        )

    async def post(self, request: Request) -> Response:
        provider = self._provider
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            return html_page("Invalid request", "A parameter was repeated.", status=400)
        sub = params.pop("user", "")
        checked = self._check(params)
        if isinstance(checked, Response):
            return checked
        if provider.authorize_error is not None:
            return self._error_redirect(checked, provider.authorize_error)
        user = provider.users.get(sub)
        if user is None:
            return html_page("Unknown user", f"No user {sub!r} at this provider.", status=400)
        return self._approve(checked, user, request)

    def _check(self, params: dict[str, str]) -> _AuthorizeRequest | Response:
        """Validate an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).

        Client and redirect URI problems are shown to the user (never redirected, to avoid
        an open redirector); everything else goes back to the client as ``error=``.
        """
        provider = self._provider
        client_id = params.get("client_id", "")
        if client_id != provider.client_id:
            return html_page("Unknown client", f"client_id {client_id!r} is not registered.", status=400)
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            return html_page("Invalid request", "redirect_uri is required.", status=400)
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            return html_page("Invalid request", "redirect_uri must be an absolute http(s) URL.", status=400)
        if provider.redirect_uris is not None and redirect_uri not in provider.redirect_uris:
            return html_page("Invalid request", "redirect_uri is not registered.", status=400)
        state = params.get("state")
        if params.get("response_type") != "code":
            return redirect(
                redirect_uri,
                error="unsupported_response_type",
                error_description="Only response_type=code is supported",
                state=state,
            )
        challenge = params.get("code_challenge", "")
        if not challenge or params.get("code_challenge_method") != "S256":
            return redirect(
                redirect_uri,
                error="invalid_request",
                error_description="PKCE with code_challenge_method=S256 is required",
                state=state,
            )
        return _AuthorizeRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            scope=params.get("scope") or "openid",
            nonce=params.get("nonce"),
            code_challenge=challenge,
        )

    def _error_redirect(self, req: _AuthorizeRequest, error: str) -> Response:
        provider = self._provider
        description = provider.authorize_error_description or f"Simulated {error} by LocalProvider"
        return redirect(
            req.redirect_uri,
            error=error,
            error_description=description,
            state=req.state,
            iss=provider.issuer if provider.send_iss else None,
        )

    def _find_user(self, hint: str | None) -> ProviderUser | None:
        """Match ``login_hint`` on ``sub``, then ``preferred_username`` or ``email``."""
        users = self._provider.users
        if not hint:
            return None
        if hint in users:
            return users[hint]
        for user in users.values():
            if hint in (user.claims.get("preferred_username"), user.claims.get("email")):
                return user
        return None

    def _approve(
        self, req: _AuthorizeRequest, user: ProviderUser, request: Request, live: _ProviderSession | None = None
    ) -> Response:
        """Issue a code bound to the ``live`` session (SSO), else to a fresh sign-in's
        session (its ``sid`` and ``auth_time`` go into tokens), and open the grant it starts.
        A disabled account gets Keycloak's error page, and no session or grant."""
        provider = self._provider
        grant = provider._grants.open(user.sub)
        if grant is None:
            return html_page("Account is disabled", "Account is disabled, contact your administrator.", 400)
        session = live if live is not None else self._session_for_sign_in(request, user)
        code = secrets.token_urlsafe(32)
        ISSUED_SECRETS.add(code)
        login = _Login(
            sub=user.sub,
            client_id=req.client_id,
            scope=req.scope,
            nonce=req.nonce,
            sid=session.sid,
            auth_time=session.auth_time,
            grant=grant.id,
        )
        provider._codes[code] = _Code(
            login=login, redirect_uri=req.redirect_uri, code_challenge=req.code_challenge, issued=time.monotonic()
        )
        response = redirect(
            req.redirect_uri, code=code, state=req.state, iss=provider.issuer if provider.send_iss else None
        )
        if provider.sso:
            response.set_cookie(PROVIDER_SESSION_COOKIE, session.id, path="/", httponly=True, samesite="lax")
        return response

    def _browser_session(self, request: Request) -> _ProviderSession | None:
        """The live provider session this browser's cookie names, if ``sso`` is on.

        A session whose user has since been removed from ``users`` counts as ended.
        """
        provider = self._provider
        if not provider.sso:
            return None
        return provider._sessions.live(request.cookies.get(PROVIDER_SESSION_COOKIE, ""), provider.users)

    def _session_for_sign_in(self, request: Request, user: ProviderUser) -> _ProviderSession:
        """The session a fresh authentication of ``user`` belongs to.

        Re-authenticating the user of the browser's live session renews that session (new
        ``auth_time``, same ``sid``), as Keycloak does; anyone else gets a new session. A
        session replaced in the browser stays live: only logout ends sessions.
        """
        live = self._browser_session(request)
        if live is not None and live.sub == user.sub:
            live.auth_time = self._provider._now()
            return live
        return self._provider._sessions.open(user.sub, self._provider._now())
