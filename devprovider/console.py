"""The provider's page for people: who is signed in here, and "Sign out" for each session.

Ending a session here is what an administrator does at a real provider (Keycloak's "Sign
out" of a user session): the session ends and the app hears of it through Back-Channel
Logout 1.0, so a demo can show an open tab of the app following a logout it did not start.
The "Sign out" post is accepted only from this provider's own page (``Origin`` or Fetch
Metadata), so another site cannot end sessions through a visitor's browser.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .layout import message_page
from .logout import send_backchannel_logouts
from .pages import Account, SessionRow, sessions_page
from .protocol import CONSOLE_PATH, END_CONSOLE_SESSION_PATH, PROVIDER_SESSION_COOKIE

if TYPE_CHECKING:
    from .local_provider import LocalProvider


class ConsoleEndpoints:
    """``GET`` the sessions page and ``POST`` a session's end, reading the provider's state per request."""

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    async def page(self, request: Request) -> Response:
        provider = self._provider
        cookie = request.cookies.get(PROVIDER_SESSION_COOKIE, "")
        rows = [
            SessionRow(
                sid=session.sid,
                account=Account.of(provider.users[session.sub]),
                signed_in_at=time.strftime("%H:%M:%S", time.localtime(session.auth_time)),
                this_browser=session.id == cookie,
            )
            for session in provider._sessions.all()
            if session.sub in provider.users
        ]
        about = [
            ("Issuer", provider.issuer),
            ("Discovery", provider.discovery_url),
            ("Client ID", provider.client_id),
            ("Back-channel logout", provider.backchannel_logout_uri or "not set"),
        ]
        return sessions_page(rows, provider.issuer_path + END_CONSOLE_SESSION_PATH, about)

    async def end(self, request: Request) -> Response:
        """End the session the form names and tell the app, then back to the sessions page
        (303, so a reload does not post again)."""
        provider = self._provider
        if not self._from_own_page(request):
            return message_page("Not signed out", "Sessions are signed out from this provider's own page.", status=403)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        sid = form.get("sid", "")
        ended = provider._sessions.end(lambda session: session.sid == sid)
        # Blocking POSTs to the app go to a worker thread: the app fetches this provider's
        # JWKS while it checks the logout token, and this loop must be free to answer.
        await asyncio.to_thread(send_backchannel_logouts, provider, ended)
        return RedirectResponse(provider.issuer_path + CONSOLE_PATH, status_code=303)

    def _from_own_page(self, request: Request) -> bool:
        """Chromium and Firefox say ``Sec-Fetch-Site: same-origin``; any browser sends
        ``Origin`` with a form post, which must then be one of this provider's origins."""
        if request.headers.get("sec-fetch-site") == "same-origin":
            return True
        own = {_origin(self._provider.issuer), _origin(self._provider.backchannel_base)}
        return request.headers.get("origin") in own


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
