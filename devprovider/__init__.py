"""A small but real OpenID Connect provider for tests and development, served over HTTP on 127.0.0.1.

DEVELOPMENT AND TESTS ONLY: anyone who reaches it signs in as any of its users, without a
password. It lives beside ``auth/`` in the repository and is not part of the wheel. The suite
starts it in-process (``LocalProvider``); ``python -m auth.dev`` (``scripts/run.sh``) runs it
as ``python -m devprovider`` with the demo users, a styled sign-in page and a sessions page,
so the demo and the tests exercise one implementation.

Why this exists: the off-the-shelf mock provider only produces "happy path" tokens of one
shape. The login layer must also cope with Keycloak-shaped tokens (roles in
``realm_access``/``resource_access``, sometimes only in the access token), Google-shaped
tokens (``hd``), provider faults (HTTP 500, slowness, ``invalid_grant``), key rotation,
issuer mismatch and provider clock skew. This provider produces all of those on demand.
It also keeps provider sessions (optionally remembered by a browser cookie, like Keycloak
SSO) and ends them the ways real providers do: RP-Initiated Logout 1.0 at the end-session
endpoint, Back-Channel Logout 1.0 to the app, RFC 7009 token revocation (Google's way).

It is a genuine HTTP server (Starlette app under uvicorn, in a daemon thread) so the product
is exercised through its real HTTP client code, not through monkeypatching::

    with LocalProvider(users=keycloak_users("app"), client_id="app", client_secret="s3cret",
                       issuer_path="/realms/demo") as provider:
        provider.token_fault = "500"          # knobs may be changed between requests
        ...
        provider.reset()                      # knobs back to defaults, recordings cleared

Knobs are plain attributes read on every request; the server thread only reads them, the
test thread only writes them, so no locking is needed beyond what the GIL gives. Provider
sessions and grants are the exception: both threads end them, so they sit behind locks.

The package, one concern a module (``local_provider`` wires them together)::

    users           ProviderUser, stock Keycloak/Google users, signing keys
    records         the state records (codes, grants, tokens, sessions), ISSUED_SECRETS
    protocol        endpoint paths, the SSO cookie name, the logout event
    responses       error pages, redirects, OAuth error JSON
    layout          the look of every page: stylesheet, "Development only" mark, message page
    pages           the sign-in page (a card per account) and the sessions page
    console         the sessions page's endpoints: list sessions, sign one out (back-channel)
    faults          the fault knobs' values and answers
    server          uvicorn in a daemon thread, the skewed Date header
    sessions        provider sessions (behind their lock)
    grants          grants and disabled users (behind the refresh lock)
    tokens          minting access, refresh and ID tokens
    client_auth     client authentication for token and revocation
    metadata        discovery and JWKS endpoints
    authorize       authorization endpoint, sign-in form, SSO, codes
    token_endpoint  code redemption and refresh (rotation, reuse detection)
    userinfo        userinfo endpoint
    revocation      RFC 7009 revocation endpoint
    end_session     RP-Initiated Logout endpoint
    logout          logout tokens and back-channel delivery
    local_provider  LocalProvider: knobs, recordings, admin actions, keys, lifecycle
    __main__        ``python -m devprovider``: the development server (CLI, signals)

Endpoint objects hold the provider and read its knobs and state on every request, as its
methods once did; the underscore attributes they reach (``_codes``, ``_grants``, ...) are
private to this package (tests read ``_codes``, ``_access_tokens``, ``_refresh_tokens`` and
wrap ``_issue_tokens``, so those stay on ``LocalProvider``).
"""

from __future__ import annotations

from .faults import METADATA_URL as METADATA_URL
from .local_provider import LocalProvider
from .protocol import BACKCHANNEL_LOGOUT_EVENT, PROVIDER_SESSION_COOKIE
from .records import ISSUED_SECRETS as ISSUED_SECRETS
from .tokens import ROLE_CLAIMS as ROLE_CLAIMS
from .users import ProviderUser, generate_signing_key, google_users, keycloak_users

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "PROVIDER_SESSION_COOKIE",
    "LocalProvider",
    "ProviderUser",
    "generate_signing_key",
    "google_users",
    "keycloak_users",
]
