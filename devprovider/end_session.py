"""RP-Initiated Logout 1.0 at the end-session endpoint: checking the request, ending the session, telling the app.

The checks (``id_token_hint``, ``client_id``, registered ``post_logout_redirect_uri``)
follow Keycloak's, and problems are shown as a page, never redirected (§3); the
back-channel delivery itself is ``logout``'s.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import Response

from .logout import send_backchannel_logouts
from .protocol import PROVIDER_SESSION_COOKIE
from .responses import html_page, redirect

if TYPE_CHECKING:
    from .local_provider import LocalProvider


class EndSessionEndpoint:
    """``GET``/``POST`` end-session of one provider, reading its knobs and state per request."""

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    async def handle(self, request: Request) -> Response:
        """RP-Initiated Logout 1.0: check the request, end the provider session, tell the
        app over the back channel, then send the browser back (or show "Signed out").

        The session ended is the one the hint's ``sid`` names, else the one the browser's
        ``lp_session`` cookie names; the cookie is cleared either way. Problems are shown as
        a 400 page, never redirected, as §3 requires for an unverified
        ``post_logout_redirect_uri``.
        """
        provider = self._provider
        if request.method == "POST":
            params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        else:
            params = dict(request.query_params)
        provider.end_session_requests.append(params)
        hint_claims: dict[str, Any] | None = None
        if params.get("id_token_hint"):
            checked = self._check_id_token_hint(params["id_token_hint"])
            if isinstance(checked, Response):
                return checked
            hint_claims = checked
        client_id = params.get("client_id")
        if client_id is not None and client_id != provider.client_id:
            return html_page("Unknown client", f"client_id {client_id!r} is not registered.", status=400)
        target = params.get("post_logout_redirect_uri")
        if target:
            problem = self._check_post_logout_redirect_uri(target)
            if problem is None and hint_claims is None and client_id is None:
                problem = "post_logout_redirect_uri requires id_token_hint or client_id."
            if problem is not None:
                return html_page("Invalid request", problem, status=400)

        hint_sid = hint_claims.get("sid") if hint_claims is not None else None
        if isinstance(hint_sid, str):
            ended = provider._sessions.end(lambda session: session.sid == hint_sid)
        else:
            cookie = request.cookies.get(PROVIDER_SESSION_COOKIE)
            ended = provider._sessions.end(lambda session: session.id == cookie)
        # Blocking POSTs go to a worker thread: the app may call back into this provider
        # (JWKS) while it handles the logout token, and this loop must be free to answer.
        await asyncio.to_thread(send_backchannel_logouts, provider, ended)

        if target:
            response: Response = redirect(target, state=params.get("state"))
        else:
            response = html_page("Signed out", "Your session at this provider has ended.")
        response.delete_cookie(PROVIDER_SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    def _check_id_token_hint(self, hint: str) -> dict[str, Any] | Response:
        """The hint's claims, if it is an ID token this provider issued to the client.

        Signature against the published keys (so a token signed before ``rotate_keys()``
        no longer counts) and audience only: an expired hint is fine (§2), it is usually
        presented long after the ID token's short life.
        """
        try:
            published = KeySet.import_key_set(self._provider.jwks())  # type: ignore[arg-type]
            claims = jwt.decode(hint, published, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return html_page("Invalid request", "id_token_hint is not an ID token signed by this provider.", status=400)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._provider.client_id not in audiences:
            return html_page("Invalid request", "id_token_hint was not issued to this client.", status=400)
        return claims

    def _check_post_logout_redirect_uri(self, target: str) -> str | None:
        """Why ``target`` may not be redirected to, or ``None`` when it may."""
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https"):
            return "post_logout_redirect_uri must be http(s)."
        if not parts.netloc or parts.fragment:
            return "post_logout_redirect_uri must be an absolute URL without a fragment."
        registered = self._provider.post_logout_redirect_uris
        if registered is not None and target not in registered:
            return "post_logout_redirect_uri is not registered."
        return None
