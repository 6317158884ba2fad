"""Back-Channel Logout 1.0 from the provider's side: building logout tokens and POSTing them to the app.

Tests both receive the provider's genuine logout tokens (sessions ended at the provider)
and forge bad ones (wrong claims, foreign keys, ``alg=none``), so one builder serves both,
next to the blocking HTTP delivery that records each outcome.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import TYPE_CHECKING, Any

import requests
from joserfc import jws
from joserfc.jwk import RSAKey

from .protocol import BACKCHANNEL_LOGOUT_EVENT
from .records import _ProviderSession

if TYPE_CHECKING:
    from .local_provider import LocalProvider

_LOGOUT_TOKEN_LIFETIME = 120
# Back-Channel Logout 1.0 §2.5 leaves the timeout to the OP; long enough for a slow app
# under test, short enough that a hung one fails the test instead of the whole run.
_BACKCHANNEL_TIMEOUT = 10.0


def logout_claims(
    issuer: str, client_id: str, now: int, sub: str | None, sid: str | None, override: dict[str, Any] | None
) -> dict[str, Any]:
    """A logout token's claims (§2.4) issued at ``now``; ``override`` merged last, ``None``
    values (``sub``/``sid`` included) left out."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + _LOGOUT_TOKEN_LIFETIME,
        "jti": str(uuid.uuid4()),
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        "sub": sub,
        "sid": sid,
    }
    claims.update(override or {})
    return {k: v for k, v in claims.items() if v is not None}


def encode_logout_token(
    claims: dict[str, Any], header_override: dict[str, Any] | None, key: RSAKey | None, current: RSAKey
) -> str:
    """Sign ``claims`` with ``key`` (else the provider's ``current`` key, whose ``kid`` is
    also used when ``key`` has none); ``{"alg": "none"}`` in ``header_override`` leaves it unsigned."""
    signer = key if key is not None else current
    header: dict[str, Any] = {
        "alg": "RS256",
        "kid": signer.kid if signer.kid is not None else current.kid,
        "typ": "logout+jwt",
    }
    header.update(header_override or {})
    header = {k: v for k, v in header.items() if v is not None}
    payload = json.dumps(claims, separators=(",", ":")).encode("utf-8")
    if header.get("alg") == "none":
        return f"{_b64url(json.dumps(header, separators=(',', ':')).encode('utf-8'))}.{_b64url(payload)}."
    # jws rather than jwt.encode, which would put back a deleted "typ".
    return jws.serialize_compact(header, payload, signer, algorithms=[str(header.get("alg"))])


def post_logout_token(uri: str, token: str) -> tuple[int, str]:
    """POST ``token`` to ``uri`` as the back channel does; the app's status and body."""
    with _backchannel_http() as http:
        response = http.post(uri, data={"logout_token": token}, timeout=_BACKCHANNEL_TIMEOUT, allow_redirects=False)
    return response.status_code, response.text


def send_backchannel_logouts(provider: LocalProvider, ended: list[_ProviderSession]) -> None:
    """Tell the app at ``provider.backchannel_logout_uri`` about each ended session (§2.5),
    one POST each, recording the outcome in ``provider.backchannel_deliveries``; blocking,
    so event-loop callers run it in a worker thread."""
    uri = provider.backchannel_logout_uri
    if uri is None or not ended:
        return
    with _backchannel_http() as http:
        for session in ended:
            claims = logout_claims(
                provider.issuer, provider.client_id, int(provider._now()), session.sub, session.sid, None
            )
            token = encode_logout_token(claims, None, None, provider._key)
            try:
                response = http.post(
                    uri, data={"logout_token": token}, timeout=_BACKCHANNEL_TIMEOUT, allow_redirects=False
                )
            except requests.RequestException as error:
                # Only the exception type: its text may quote the request.
                provider.backchannel_deliveries.append({"status": None, "body": type(error).__name__, "claims": claims})
            else:
                provider.backchannel_deliveries.append(
                    {"status": response.status_code, "body": response.text, "claims": claims}
                )


def _backchannel_http() -> requests.Session:
    """An HTTP client for the provider's own calls to the app: no proxies from the
    environment, so a logout token goes straight to the 127.0.0.1 app."""
    session = requests.Session()
    session.trust_env = False
    return session


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
