"""What the provider publishes about itself: the discovery document and the JWKS.

Apps read these before any sign-in, and tests bend them (a wrong ``issuer``, fields added
or removed, a JWKS redirect) to impersonate other providers or hostile ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .faults import apply_fault

if TYPE_CHECKING:
    from .local_provider import LocalProvider

_CLAIMS_SUPPORTED = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "given_name",
    "family_name",
    "picture",
    "hd",
    "groups",
]


class MetadataEndpoints:
    """Discovery and JWKS of one provider, reading its knobs per request."""

    def __init__(self, provider: LocalProvider) -> None:
        self._provider = provider

    async def discovery(self, request: Request) -> Response:
        provider = self._provider
        provider.discovery_hits += 1
        faulted = await apply_fault(provider.discovery_fault, provider.slow_seconds, provider._server)
        if faulted is not None:
            return faulted
        doc: dict[str, Any] = {
            "issuer": provider.discovery_issuer if provider.discovery_issuer is not None else provider.issuer,
            "authorization_endpoint": provider.authorization_endpoint,
            "token_endpoint": provider.token_endpoint,
            "userinfo_endpoint": provider.userinfo_endpoint,
            "jwks_uri": provider.jwks_uri,
            "end_session_endpoint": provider.end_session_endpoint,
            "revocation_endpoint": provider.revocation_endpoint,
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email", "roles", "offline_access"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "claims_supported": list(_CLAIMS_SUPPORTED),
        }
        if provider.send_iss:
            doc["authorization_response_iss_parameter_supported"] = True
        for name, value in provider.advertise.items():
            if value is None:
                doc.pop(name, None)
            else:
                doc[name] = value
        return JSONResponse(doc)

    async def jwks(self, request: Request) -> Response:
        provider = self._provider
        provider.jwks_hits += 1
        faulted = await apply_fault(provider.jwks_fault, provider.slow_seconds, provider._server)
        if faulted is not None:
            return faulted
        if provider.jwks_redirect_to is not None:
            return RedirectResponse(provider.jwks_redirect_to, status_code=302)
        return JSONResponse(provider.jwks())
