"""The userinfo endpoint: the user's current claims for a live access token.

It is where revoked grants, disabled users and expired access tokens become visible to
an app holding only an access token, so its checks are kept next to nothing else.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .responses import AsciiJSONResponse

if TYPE_CHECKING:
    from .local_provider import LocalProvider


class UserinfoEndpoint:
    """``GET``/``POST`` userinfo of one provider, reading its state per request."""

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    async def handle(self, request: Request) -> Response:
        provider = self._provider
        provider.userinfo_hits += 1
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        grant = provider._access_tokens.get(token)
        user = provider.users.get(grant.sub) if grant is not None else None
        with provider._grants.lock:
            usable = grant is not None and provider._grants.usable(grant.grant, grant.sub, provider.users)
        if grant is None or user is None or not usable or time.monotonic() > grant.expires:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Missing, unknown or expired access token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        hidden = {"realm_access", "resource_access"} if not provider.roles_in_id_token else set()
        claims = {k: v for k, v in user.claims.items() if k not in hidden}
        return AsciiJSONResponse({**claims, "sub": user.sub})
