"""Minting tokens: access, refresh and ID tokens for a sign-in, shaped by the provider's knobs.

Both grants (authorization code and refresh) end here, so the token shapes (Keycloak role
claims, ``at_hash``, skewed ``iat``/``exp``, overrides, foreign signing keys) are decided
in one place.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from .records import ISSUED_SECRETS, _AccessGrant, _Login, _OAuthError, _RefreshToken
from .responses import AsciiJSON
from .users import ProviderUser

if TYPE_CHECKING:
    from .local_provider import LocalProvider

#: Claims Keycloak uses for authorisation data; see ``LocalProvider.roles_in_id_token``.
ROLE_CLAIMS: tuple[str, ...] = ("realm_access", "resource_access", "groups")


def issue_tokens(
    provider: LocalProvider, login: _Login, keep: tuple[str, _RefreshToken] | None = None
) -> dict[str, Any]:
    """Tokens for ``login``'s grant; a new refresh token unless ``keep`` names the
    presented one (a refresh without rotation). Issued tokens are remembered in the
    provider's ``_access_tokens`` and ``_refresh_tokens``."""
    user = provider.users.get(login.sub)
    if user is None:
        raise _OAuthError("invalid_grant", "Account removed")
    key = provider._key  # read once so the kid and signature always agree
    clock = provider._now()
    now = int(clock)
    access_claims: dict[str, Any] = {
        "iss": provider.issuer,
        "sub": user.sub,
        "aud": "account",
        "azp": login.client_id,
        "typ": "Bearer",
        "exp": now + provider.access_token_lifetime,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": login.sid,
        "scope": login.scope,
    }
    access_claims.update({k: v for k, v in user.claims.items() if k in ROLE_CLAIMS})
    access_token = jwt.encode(
        {"alg": "RS256", "kid": key.kid}, access_claims, key, algorithms=["RS256"], encoder_cls=AsciiJSON
    )
    provider._access_tokens[access_token] = _AccessGrant(
        sub=user.sub, grant=login.grant, expires=time.monotonic() + provider.access_token_lifetime
    )

    if keep is None:
        refresh_token = secrets.token_urlsafe(32)
        record = _RefreshToken(login=replace(login, nonce=None), issued=clock)
        provider._refresh_tokens[refresh_token] = record
    else:
        refresh_token, record = keep
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": provider.access_token_lifetime,
        "refresh_token": refresh_token,
        "scope": login.scope,
    }
    if provider.refresh_token_lifetime is not None:
        body["refresh_expires_in"] = max(0, int(record.issued + provider.refresh_token_lifetime - clock))
    if "openid" in login.scope.split():
        body["id_token"] = id_token(provider, login, user, access_token, now, key)
    ISSUED_SECRETS.update(value for name, value in body.items() if name.endswith("_token"))
    return body


def id_token(
    provider: LocalProvider, login: _Login, user: ProviderUser, access_token: str, now: int, key: RSAKey
) -> str:
    """The ID token of a token response, with the provider's claim knobs applied."""
    hidden = set(ROLE_CLAIMS) if not provider.roles_in_id_token else set()
    claims: dict[str, Any] = {k: v for k, v in user.claims.items() if k not in hidden}
    claims.update(
        {
            "iss": provider.issuer,
            "sub": user.sub,
            "aud": login.client_id,
            "azp": login.client_id,
            "exp": now + provider.id_token_lifetime,
            "iat": now,
            "auth_time": int(login.auth_time),
            "sid": login.sid,
            "at_hash": _half_hash(access_token),
        }
    )
    if login.nonce is not None:
        claims["nonce"] = login.nonce
    claims.update(provider.id_token_claims_override)
    claims = {k: v for k, v in claims.items() if v is not None}
    signer = provider.sign_with if provider.sign_with is not None else key
    kid = signer.kid if signer.kid is not None else key.kid
    return jwt.encode(
        {"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, signer, algorithms=["RS256"], encoder_cls=AsciiJSON
    )


def _half_hash(value: str) -> str:
    """``at_hash`` for RS256 (OIDC Core §3.1.3.6): left half of SHA-256, base64url."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")
