"""Misbehaviour on demand: the fault knobs' allowed values and the answers they produce.

Discovery, JWKS, token and refresh requests share the same faults (HTML 500, slowness,
``invalid_grant``, a hostile redirect), so they are applied here rather than in each endpoint.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .records import _OAuthError
from .responses import html_page, oauth_error_response
from .server import ServerThread

TOKEN_FAULTS = frozenset({"500", "slow", "invalid_grant", "redirect"})
REFRESH_FAULTS = frozenset({"500", "slow", "invalid_grant"})
# Where the "redirect" fault and ``jwks_redirect_to`` point by default: cloud metadata (SSRF).
METADATA_URL = "http://169.254.169.254/latest/meta-data/"
DISCOVERY_FAULTS = frozenset({"500", "slow"})
JWKS_FAULTS = frozenset({"500", "slow"})


async def apply_fault(fault: str | None, slow_seconds: float, server: ServerThread) -> Response | None:
    """Apply a fault knob: a response to send instead, or ``None`` to carry on."""
    if fault == "500":
        body = "<html><body><h1>500 Internal Server Error</h1><p>Simulated fault.</p></body></html>"
        return HTMLResponse(body, status_code=500)
    if fault == "slow":
        await server.interruptible_wait(slow_seconds)
    elif fault == "invalid_grant":
        return oauth_error_response(_OAuthError("invalid_grant", "Simulated invalid_grant fault"))
    elif fault == "redirect":
        return RedirectResponse(METADATA_URL, status_code=307)
    return None


async def apply_refresh_fault(
    fault: str | None, slow_seconds: float, server: ServerThread, request: Request
) -> Response | None:
    """Apply ``refresh_fault``: a response to send instead, or ``None`` to carry on.

    ``"slow"`` drops the refresh (a 503 nobody reads) when the client hangs up or the
    provider stops during the wait, so an abandoned refresh never spends its token.
    """
    if fault != "slow":
        return await apply_fault(fault, slow_seconds, server)
    if server.stopping is None:
        return None
    stopping = asyncio.ensure_future(server.stopping.wait())
    hung_up = asyncio.ensure_future(_client_hung_up(request))
    try:
        done, _ = await asyncio.wait({stopping, hung_up}, timeout=slow_seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        hung_up.cancel()
    for task in done:
        task.exception()  # retrieved, so a failed receive is not logged as unhandled
    if done:
        return html_page("Service Unavailable", "Refresh dropped: the client hung up.", status=503)
    return None


async def _client_hung_up(request: Request) -> bool:
    """Return once the client has closed the connection (the body was already read, so
    the next ASGI message is ``http.disconnect``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    return True
