"""RFC 7009 token revocation: how an app signs out where there is no end-session endpoint (Google).

Revoking a refresh token revokes its whole grant (§2.1), so this endpoint reaches into
the grants as well as the token records; it is kept apart from the token endpoint,
whose grant checks it must not disturb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from .client_auth import authenticate_client
from .records import _OAuthError
from .responses import client_error_response

if TYPE_CHECKING:
    from .local_provider import LocalProvider


class RevocationEndpoint:
    """``POST`` revocation of one provider, reading its state per request."""

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    async def handle(self, request: Request) -> Response:
        """RFC 7009 token revocation: how an app signs out where there is no end-session
        endpoint (Google). Any token the client presents is forgotten at once."""
        provider = self._provider
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        form = dict(pairs)
        authorization = request.headers.get("authorization", "")
        basic = authorization[:6].lower() == "basic "
        token = form.get("token", "")
        kind = self._token_kind(token)
        provider.revocation_requests.append(
            {"token_type_hint": form.get("token_type_hint"), "known": kind is not None, "kind": kind}
        )
        try:
            if len(form) != len(pairs):
                raise _OAuthError("invalid_request", "A parameter was repeated")
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise _OAuthError("invalid_request", "Body must be application/x-www-form-urlencoded")
            # §2.1: client first
            authenticate_client(authorization if basic else None, form, provider.client_id, provider.client_secret)
            if not token:
                raise _OAuthError("invalid_request", "token is required")
        except _OAuthError as err:
            return client_error_response(err, basic)
        if kind == "access_token":
            provider._access_tokens.pop(token, None)
        elif kind == "refresh_token":
            # §2.1: revoking a refresh token also invalidates the grant's access tokens.
            revoked = provider._refresh_tokens.pop(token, None)
            if revoked is not None:
                provider._grants.revoke(revoked.login.grant)
        # §2.2: 200 whether or not the token was known, so clients cannot probe for tokens.
        return Response(status_code=200, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _token_kind(self, token: str) -> str | None:
        """Which of our tokens ``token`` is; RFC 7009 §2.1 lets a server ignore
        ``token_type_hint`` and search every type, as this one does."""
        if token in self._provider._access_tokens:
            return "access_token"
        if token in self._provider._refresh_tokens:
            return "refresh_token"
        return None
