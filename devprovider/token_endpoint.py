"""The token endpoint: authorization-code redemption with PKCE, and refresh with rotation and reuse detection.

The grant checks are the subtle part of the provider (single-use codes, atomic
check-spend-issue of rotating refresh tokens, the refresh recordings), so they get a
module of their own; minting the tokens is left to ``tokens``.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .client_auth import authenticate_client
from .faults import apply_fault, apply_refresh_fault
from .records import _Login, _OAuthError
from .responses import client_error_response

if TYPE_CHECKING:
    from .local_provider import LocalProvider

# RFC 7636 section 4.1: 43-128 characters from the unreserved set.
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


class TokenEndpoint:
    """``POST`` token requests of one provider, reading its knobs and state per request.

    Tokens are minted through ``provider._issue_tokens`` (looked up on every call), so a
    test that wraps that method on the instance sees every token response.
    """

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    async def handle(self, request: Request) -> Response:
        provider = self._provider
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        form = dict(pairs)
        authorization = request.headers.get("authorization", "")
        basic = authorization[:6].lower() == "basic "
        auth_method = "client_secret_basic" if basic else ("client_secret_post" if "client_secret" in form else "none")
        provider.token_requests.append({"form": form, "auth_method": auth_method})
        refreshing = form.get("grant_type") == "refresh_token"

        faulted = await apply_fault(provider.token_fault, provider.slow_seconds, provider._server)
        if faulted is None and refreshing:
            faulted = await apply_refresh_fault(
                provider.refresh_fault, provider.slow_seconds, provider._server, request
            )
        if faulted is not None:
            if refreshing:
                self._record_refresh("fault", form)
            return faulted
        try:
            if len(form) != len(pairs):
                raise _OAuthError("invalid_request", "A parameter was repeated")
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise _OAuthError("invalid_request", "Body must be application/x-www-form-urlencoded")
            client_id = authenticate_client(
                authorization if basic else None, form, provider.client_id, provider.client_secret
            )
        except _OAuthError as err:
            if refreshing:
                self._record_refresh("rejected", form)
            return client_error_response(err, basic)
        try:
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                body = provider._issue_tokens(self._redeem_code(client_id, form))
            elif grant_type == "refresh_token":
                body = self._refresh(client_id, form)
            else:
                raise _OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        except _OAuthError as err:
            return client_error_response(err, basic)
        body.update(provider.token_response_override)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _record_refresh(self, outcome: str, form: dict[str, str]) -> None:
        """Record a refresh request that never reached the grant checks."""
        token = self._provider._refresh_tokens.get(form.get("refresh_token", ""))
        grant = token.login.grant if token is not None else None
        self._provider.refresh_requests.append({"outcome": outcome, "grant": grant, "at": time.monotonic()})

    def _redeem_code(self, client_id: str, form: dict[str, str]) -> _Login:
        """Check an authorization code (RFC 6749 §4.1.3) and its PKCE verifier (RFC 7636 §4.6).

        A code is spent by its first presentation, successful or not, so replay always fails.
        """
        provider = self._provider
        code = provider._codes.get(form.get("code", ""))
        if code is None:
            raise _OAuthError("invalid_grant", "Unknown authorization code")
        if code.used:
            raise _OAuthError("invalid_grant", "Authorization code already used")
        code.used = True
        if time.monotonic() - code.issued > provider.code_lifetime:
            raise _OAuthError("invalid_grant", "Authorization code expired")
        if code.login.client_id != client_id:
            raise _OAuthError("invalid_grant", "Authorization code was issued to another client")
        with provider._grants.lock:
            if not provider._grants.usable(code.login.grant, code.login.sub, provider.users):
                raise _OAuthError("invalid_grant", "Grant revoked or account disabled")
        if form.get("redirect_uri") != code.redirect_uri:
            raise _OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER_RE.fullmatch(verifier):
            raise _OAuthError("invalid_grant", "Missing or malformed code_verifier")
        if not hmac.compare_digest(create_s256_code_challenge(verifier), code.code_challenge):
            raise _OAuthError("invalid_grant", "PKCE verification failed")
        return code.login

    def _refresh(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        """The refresh_token grant (RFC 6749 §6) with rotation and reuse detection.

        Synchronous and under the grants lock from the first look at the token to its
        spending and the new tokens' issue: concurrent refreshes with one token cannot both
        win, and ``revoke_grants()`` cannot slip in between.
        """
        provider = self._provider
        grants = provider._grants
        presented = form.get("refresh_token", "")
        body: dict[str, Any] | None = None
        with grants.lock:
            token = provider._refresh_tokens.get(presented)
            grant = grants.get(token.login.grant) if token is not None else None
            lifetime = provider.refresh_token_lifetime
            if token is None or grant is None or token.login.client_id != client_id:
                outcome, problem = "unknown", "Invalid refresh token"
            elif token.spent:
                grant.revoked = True
                outcome, problem = "reused", "Refresh token reuse detected; the grant is revoked"
            elif grant.revoked:
                outcome, problem = "revoked", "Refresh token revoked"
            elif lifetime is not None and provider._now() - token.issued > lifetime:
                outcome, problem = "expired", "Refresh token expired"
            elif not grants.usable(grant.id, grant.sub, provider.users):
                outcome, problem = "disabled", "Account disabled or removed"
            else:
                rotate = provider.rotate_refresh_tokens
                token.spent = rotate
                body = provider._issue_tokens(token.login, None if rotate else (presented, token))
                outcome, problem = "issued", ""
            provider.refresh_requests.append(
                {"outcome": outcome, "grant": grant.id if grant is not None else None, "at": time.monotonic()}
            )
        if body is None:
            raise _OAuthError("invalid_grant", problem)
        return body
