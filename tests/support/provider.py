"""A small but real OpenID Connect provider for tests, served over HTTP on 127.0.0.1.

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
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import html
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import requests
import uvicorn
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "PROVIDER_SESSION_COOKIE",
    "LocalProvider",
    "ProviderUser",
    "generate_signing_key",
    "google_users",
    "keycloak_users",
]

#: Claims Keycloak uses for authorisation data; see ``LocalProvider.roles_in_id_token``.
ROLE_CLAIMS: tuple[str, ...] = ("realm_access", "resource_access", "groups")

_AUTHORIZE_PATH = "/protocol/openid-connect/auth"
_TOKEN_PATH = "/protocol/openid-connect/token"
_USERINFO_PATH = "/protocol/openid-connect/userinfo"
_JWKS_PATH = "/protocol/openid-connect/certs"
_END_SESSION_PATH = "/protocol/openid-connect/logout"
_DISCOVERY_PATH = "/.well-known/openid-configuration"
# Google-style short path (https://oauth2.googleapis.com/revoke), under the issuer path.
_REVOCATION_PATH = "/revoke"

#: The browser cookie naming a provider session (the provider's SSO cookie).
PROVIDER_SESSION_COOKIE = "lp_session"
#: The ``events`` member that makes a JWT a logout token (Back-Channel Logout 1.0 §2.4).
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_LOGOUT_TOKEN_LIFETIME = 120
# Back-Channel Logout 1.0 §2.5 leaves the timeout to the OP; long enough for a slow app
# under test, short enough that a hung one fails the test instead of the whole run.
_BACKCHANNEL_TIMEOUT = 10.0

_TOKEN_FAULTS = frozenset({"500", "slow", "invalid_grant", "redirect"})
_REFRESH_FAULTS = frozenset({"500", "slow", "invalid_grant"})
# Where the "redirect" fault and ``jwks_redirect_to`` point by default: cloud metadata (SSRF).
METADATA_URL = "http://169.254.169.254/latest/meta-data/"
_DISCOVERY_FAULTS = frozenset({"500", "slow"})
# RFC 7636 section 4.1: 43-128 characters from the unreserved set.
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_ISSUER_PATH_RE = re.compile(r"(/[A-Za-z0-9\-._~]+)*")


#: every code, token and client secret any LocalProvider of this test run has handed out, for
#: the log scan of tests/conftest.py (none of them may ever appear in a log line)
ISSUED_SECRETS: set[str] = set()


@dataclass
class ProviderUser:
    """An account at the provider: ``sub`` plus the claims released about it.

    ``claims`` go verbatim into the ID token, userinfo and (for role claims) the access
    token, so their shape decides whether tokens look like Keycloak's or Google's.
    """

    sub: str
    claims: dict[str, Any] = field(default_factory=dict)


def generate_signing_key(kid: str | None = None) -> RSAKey:
    """Make a fresh RS256 key; tests also use it to build a key for ``sign_with``."""
    return RSAKey.generate_key(2048, parameters={"kid": kid or f"k-{secrets.token_hex(4)}"})


def keycloak_users(client_id: str) -> list[ProviderUser]:
    """Alice (admin) and Bob (user) as a Keycloak realm would describe them.

    Keycloak subjects are UUIDs, not usernames, so products must not confuse ``sub`` with
    ``preferred_username``; ``login_hint="alice"`` still works (matched on the username).
    """
    return [
        ProviderUser(
            sub="5c1f7a2e-9a43-4f0e-8d6b-2f9a1c3e7b10",
            claims={
                "email": "alice@example.com",
                "email_verified": True,
                "name": "Alice Admin",
                "preferred_username": "alice",
                "given_name": "Alice",
                "family_name": "Admin",
                "realm_access": {"roles": ["admin", "user"]},
                "resource_access": {client_id: {"roles": ["editor"]}},
                "groups": ["admins"],
            },
        ),
        ProviderUser(
            sub="b7d2c9e4-1f60-4a8b-9c35-6e0d4a2f8c71",
            claims={
                "email": "bob@example.com",
                "email_verified": True,
                "name": "Bob User",
                "preferred_username": "bob",
                "given_name": "Bob",
                "family_name": "User",
                "realm_access": {"roles": ["user"]},
                "resource_access": {client_id: {"roles": ["viewer"]}},
                "groups": ["analysts"],
            },
        ),
    ]


def google_users() -> list[ProviderUser]:
    """A Workspace user (has ``hd``) and a consumer account (no ``hd``), as Google issues them.

    Google subjects are long numeric strings; ``login_hint`` may be the e-mail address.
    """
    return [
        ProviderUser(
            sub="108234567890123456789",
            claims={
                "email": "ann@corp.example",
                "email_verified": True,
                "hd": "corp.example",
                "name": "Ann Corp",
                "given_name": "Ann",
                "family_name": "Corp",
                "picture": "https://lh3.googleusercontent.example/a/ann=s96-c",
            },
        ),
        ProviderUser(
            sub="117654321098765432109",
            claims={
                "email": "gus@gmail.example",
                "email_verified": True,
                "name": "Gus Gmail",
                "given_name": "Gus",
                "family_name": "Gmail",
                "picture": "https://lh3.googleusercontent.example/a/gus=s96-c",
            },
        ),
    ]


@dataclass
class _Login:
    """What a completed sign-in grants; shared by authorization codes and refresh tokens.

    ``grant`` names the grant (one per approval) that every token issued from this sign-in
    belongs to, through any number of refreshes; revoking it kills them all.
    """

    sub: str
    client_id: str
    scope: str
    nonce: str | None
    sid: str
    auth_time: float
    grant: str


@dataclass
class _Grant:
    """An authorization grant: one approval and every code and token descending from it."""

    id: str
    sub: str
    revoked: bool = False


@dataclass
class _RefreshToken:
    login: _Login  # without nonce: a refreshed ID token carries none (OIDC Core §12.2)
    issued: float  # provider clock (skewed), so date_offset_seconds ages refresh tokens
    spent: bool = False


@dataclass
class _ProviderSession:
    """A signed-in user at the provider (Keycloak's "user session").

    ``id`` is the opaque value of the browser's ``lp_session`` cookie; ``sid`` is the public
    session id that ID tokens and logout tokens carry (OIDC Front/Back-Channel Logout).
    """

    id: str
    sub: str
    sid: str
    auth_time: float  # provider clock (skewed), when the user last authenticated


@dataclass
class _Code:
    login: _Login
    redirect_uri: str
    code_challenge: str
    issued: float  # time.monotonic(); code lifetime is provider-internal, so not skewed
    used: bool = False


@dataclass
class _AccessGrant:
    sub: str
    grant: str
    expires: float  # time.monotonic()


@dataclass
class _AuthorizeRequest:
    client_id: str
    redirect_uri: str
    state: str | None
    scope: str
    nonce: str | None
    code_challenge: str


class _OAuthError(Exception):
    """An RFC 6749 error for the token endpoint; turned into a JSON response."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class _DateHeader:
    """ASGI middleware setting ``Date`` from the provider's (possibly skewed) clock.

    uvicorn's own ``date`` header is switched off (``date_header=False``); this one is
    shifted by ``date_offset_seconds`` so clients see a provider whose clock is off.
    """

    def __init__(self, app: ASGIApp, provider: LocalProvider) -> None:
        self._app = app
        self._provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = formatdate(self._provider._now(), usegmt=True).encode("latin-1")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self._app(scope, receive, send_with_date)


class _Server(uvicorn.Server):
    """uvicorn server that signals a ``threading.Event`` once it is accepting connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()


class LocalProvider:
    """An OpenID Connect provider on 127.0.0.1 with knobs for faults and token shapes.

    Knobs (see ``reset()`` for defaults), read on every request:

    - ``discovery_issuer``: advertise this ``issuer`` in discovery instead of the real one.
    - ``token_fault``: ``None``, ``"500"`` (HTML 500), ``"slow"`` (wait ``slow_seconds``
      then answer normally), ``"invalid_grant"`` (400 JSON) or ``"redirect"`` (307 to a
      cloud-metadata URL, as a hostile provider would answer to try SSRF).
    - ``discovery_fault``: ``None``, ``"500"`` or ``"slow"``.
    - ``slow_seconds``: how long ``"slow"`` waits; ``stop()`` cuts the wait short.
    - ``authorize_error``: e.g. ``"access_denied"``: authorize redirects back with it, and
      with ``authorize_error_description`` (free text) when that is set.
    - ``send_iss``: add ``iss`` to authorization responses and advertise it (RFC 9207).
    - ``jwks_redirect_to``: the JWKS endpoint answers 302 to this URL instead of the keys.
    - ``id_token_claims_override``: merged into ID token claims; ``None`` values delete.
    - ``sign_with``: sign ID tokens with this key (not in JWKS). The header ``kid`` is the
      key's own ``kid`` if it has one, else the current key's ``kid`` (a pure bad signature).
    - ``date_offset_seconds``: provider clock skew: shifts the ``Date`` header and the
      ``iat``/``exp``/``auth_time`` of issued tokens.
    - ``id_token_lifetime`` / ``access_token_lifetime`` (seconds), ``code_lifetime``.
    - ``roles_in_id_token``: when ``False`` (Keycloak's default), ``realm_access``,
      ``resource_access`` and ``groups`` appear only in the access token; userinfo keeps
      ``groups`` but not the role claims.
    - ``advertise``: extra/overriding discovery fields; a ``None`` value removes the field
      (``{"end_session_endpoint": None}`` makes the provider look like Google).
    - ``sso``: remember sign-ins in the browser (``lp_session`` cookie), so a later
      authorize request is approved at once, like Keycloak SSO (see "Sessions" below).
    - ``backchannel_logout_uri``: the app's Back-Channel Logout 1.0 endpoint; when set,
      every provider session that ends is reported there with a ``logout_token``.
    - ``rotate_refresh_tokens`` (default ``True``): see "Refresh" below.
    - ``refresh_fault``: like ``token_fault`` but only for ``refresh_token`` grant requests:
      ``None``, ``"500"``, ``"invalid_grant"`` or ``"slow"``. ``"slow"`` waits
      ``slow_seconds`` and then answers normally, but a client that hangs up first (its
      timeout) ends the wait and the refresh is dropped unprocessed, so the client may retry
      with the same refresh token; ``stop()`` drops it too. ``token_fault`` still applies to
      every token request first (its ``"slow"`` processes the request after the wait
      whether or not anyone is still listening: a lost response).
    - ``refresh_token_lifetime`` (seconds, default ``None`` = never expire): a refresh
      token older than this is refused (``invalid_grant``). Age is measured on the
      provider clock, so raising ``date_offset_seconds`` ages refresh tokens at once.

    Refresh: every approval opens a grant; the code, and every access, ID and refresh
    token descending from it (through any number of refreshes) belong to that grant. With
    ``rotate_refresh_tokens`` each refresh returns a new refresh token and spends the one
    presented, atomically (the check and the spend have no ``await`` between them, so of
    concurrent refreshes with one token exactly one wins). Presenting a spent refresh token
    is reuse: the whole grant is revoked (panva's oidc-provider; Keycloak with "Revoke
    Refresh Token") and the answer is ``invalid_grant``. Without rotation the presented
    token is returned again and keeps working. A refresh returns a new access token
    (``access_token_lifetime``), ``expires_in``, the refresh token (``refresh_expires_in``
    too when ``refresh_token_lifetime`` is set) and, when the scope has ``openid``, a new ID
    token with the same ``iss``, ``sub``, ``aud``, ``sid`` and original ``auth_time``, fresh
    ``iat``/``exp``, no ``nonce`` (OIDC Core §12.2) and the user's *current* claims, so a
    test can edit ``users[sub].claims`` and see the change after a refresh. A revoked
    grant's access tokens stop working at userinfo; its codes can no longer be redeemed.

    Admin actions (call them from the test thread): ``revoke_grants(sub)`` revokes every
    grant of a user and returns how many were live; ``disable_user(sub)`` makes the user's
    refreshes fail with ``invalid_grant``, their access tokens fail at userinfo and their
    sign-in stop at an "Account is disabled" page (Keycloak's disabled account);
    ``enable_user(sub)`` undoes that (grants are not revoked by disabling). An unknown
    ``sub`` raises ``ValueError``.

    Recordings: ``authorize_requests`` (query of each GET authorize), ``token_requests``
    (``{"form": ..., "auth_method": ...}``), ``end_session_requests`` (parameters as
    received), ``discovery_hits``, ``jwks_hits``, ``userinfo_hits``, ``sso_approvals``
    (approvals through an existing provider session), ``backchannel_deliveries``
    (``{"status": int | None, "body": str, "claims": dict}``; status ``None`` when the POST
    failed), ``revocation_requests`` (``{"token_type_hint": ..., "known": bool, "kind":
    "access_token" | "refresh_token" | None}`` for every request, the token itself never)
    and ``refresh_requests``: one ``{"outcome": ..., "grant": <grant id or None>, "at":
    time.monotonic()}`` per ``refresh_token`` grant request (never the token), appended
    when the outcome is decided, with outcome ``"issued"``, ``"reused"`` (a spent token:
    the grant is now revoked), ``"revoked"`` (its grant was revoked), ``"expired"``
    (``refresh_token_lifetime``), ``"disabled"`` (user disabled or gone), ``"unknown"`` (not
    a refresh token of this client, or revoked through the revocation endpoint),
    ``"rejected"`` (bad client authentication or malformed request) or ``"fault"`` (a
    ``token_fault`` or ``refresh_fault`` answered instead). ``token_requests`` still
    records every token request, refreshes included.

    Sign-in: ``login_hint`` naming a user (its ``sub``, ``preferred_username`` or ``email``)
    approves at once; otherwise the authorize page offers one button per user (value =
    ``sub``, label = ``preferred_username``, else ``email``, else ``sub``). ID tokens are only
    issued when the scope contains ``openid``; they carry ``at_hash`` like real providers'.

    Sessions: every approval opens a provider session (its ``sid`` goes into the tokens) or,
    when the browser's live session is the same user's, renews it. With ``sso`` the browser
    gets an HttpOnly ``lp_session`` cookie for it, and a GET authorize with a live cookie is
    approved as that user without the form unless ``prompt`` has ``login`` or
    ``select_account`` (a ``login_hint`` naming someone else also starts a fresh sign-in);
    ``prompt=none`` is then approved too. Sessions end only at the end-session endpoint,
    through ``end_provider_sessions()`` (an admin's "sign out") and at ``reset()`` (quietly);
    ending one does not revoke tokens already issued (``revoke_grants()`` does).

    Logout: the end-session endpoint checks its parameters like Keycloak (RP-Initiated
    Logout 1.0 §2-3; ``post_logout_redirect_uris`` is the registered list, ``None`` allows any
    absolute http(s) URL), and ``revocation_endpoint`` implements RFC 7009 for the client
    (revoking a refresh token revokes its whole grant, §2.1, as Keycloak and Google do).

    Single client (``client_id``/``client_secret``). ``redirect_uris=None`` accepts any
    absolute http(s) redirect URI; pass a list to enforce exact registration.
    """

    # Knobs (declared for type checkers; values set in reset()).
    discovery_issuer: str | None
    authorize_error: str | None
    authorize_error_description: str | None
    send_iss: bool
    jwks_redirect_to: str | None
    id_token_claims_override: dict[str, Any]
    sign_with: RSAKey | None
    date_offset_seconds: float
    slow_seconds: float
    id_token_lifetime: int
    access_token_lifetime: int
    code_lifetime: float
    roles_in_id_token: bool
    advertise: dict[str, Any]
    sso: bool
    backchannel_logout_uri: str | None
    rotate_refresh_tokens: bool
    refresh_token_lifetime: float | None
    # Recordings.
    authorize_requests: list[dict[str, str]]
    token_requests: list[dict[str, Any]]
    end_session_requests: list[dict[str, str]]
    discovery_hits: int
    jwks_hits: int
    userinfo_hits: int
    sso_approvals: int
    backchannel_deliveries: list[dict[str, Any]]
    revocation_requests: list[dict[str, Any]]
    refresh_requests: list[dict[str, Any]]

    def __init__(
        self,
        users: Iterable[ProviderUser],
        client_id: str = "app",
        client_secret: str = "s3cret",
        issuer_path: str = "",
        redirect_uris: Sequence[str] | None = None,
        frontend_host: str | None = None,
        post_logout_redirect_uris: Sequence[str] | None = None,
    ) -> None:
        """``frontend_host`` splits the provider like Keycloak behind KC_HOSTNAME with a
        dynamic back channel: the issuer and browser endpoints use that host name (e.g.
        ``localhost``), while discovery, token, userinfo, JWKS and revocation are on 127.0.0.1.

        ``post_logout_redirect_uris`` are the client's registered sign-out landing pages
        (exact match, as Keycloak's "Valid post logout redirect URIs"); ``None`` accepts any
        absolute http(s) URL."""
        if not _ISSUER_PATH_RE.fullmatch(issuer_path):
            raise ValueError(f"issuer_path must be '' or like '/realms/demo', got {issuer_path!r}")
        self.users: dict[str, ProviderUser] = {user.sub: user for user in users}
        self.client_id = client_id
        self.client_secret = client_secret
        ISSUED_SECRETS.add(client_secret)
        self.issuer_path = issuer_path
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.frontend_host = frontend_host
        self.post_logout_redirect_uris = (
            list(post_logout_redirect_uris) if post_logout_redirect_uris is not None else None
        )

        self._key: RSAKey = generate_signing_key()
        self._codes: dict[str, _Code] = {}
        self._access_tokens: dict[str, _AccessGrant] = {}
        self._refresh_tokens: dict[str, _RefreshToken] = {}
        # Ended from the server thread (end-session) and from the test thread, hence the lock.
        self._sessions: dict[str, _ProviderSession] = {}
        self._sessions_lock = threading.Lock()
        # Grants are opened and refreshed on the server thread and revoked from both; users
        # are disabled from the test thread. One lock makes a refresh's check-spend-issue
        # atomic against all of that.
        self._grants: dict[str, _Grant] = {}
        self._disabled: set[str] = set()
        self._grants_lock = threading.Lock()

        self._port: int | None = None
        self._sock: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._token_fault: str | None = None
        self._discovery_fault: str | None = None
        self._refresh_fault: str | None = None
        self.reset()

    # ------------------------------------------------------------------ knobs

    def reset(self) -> None:
        """Put every knob back to its default and clear recordings (keeps users and keys).

        Provider sessions are forgotten without back-channel logout, so one test's sign-ins
        can neither approve nor log out another test's browser. Disabled users are enabled
        again (their claims are left as they are). Grants and tokens are kept as they are:
        live ones stay live (and are counted by ``revoke_grants()``), revoked ones revoked.
        """
        self.discovery_issuer = None
        self.token_fault = None
        self.discovery_fault = None
        self.slow_seconds = 5.0
        self.authorize_error = None
        self.authorize_error_description = None
        self.send_iss = False
        self.jwks_redirect_to = None
        self.id_token_claims_override = {}
        self.sign_with = None
        self.date_offset_seconds = 0.0
        self.id_token_lifetime = 300
        self.access_token_lifetime = 300
        self.code_lifetime = 60.0
        self.roles_in_id_token = True
        self.advertise = {}
        self.sso = False
        self.backchannel_logout_uri = None
        self.rotate_refresh_tokens = True
        self.refresh_fault = None
        self.refresh_token_lifetime = None
        self.authorize_requests = []
        self.token_requests = []
        self.end_session_requests = []
        self.discovery_hits = 0
        self.jwks_hits = 0
        self.userinfo_hits = 0
        self.sso_approvals = 0
        self.backchannel_deliveries = []
        self.revocation_requests = []
        self.refresh_requests = []
        with self._sessions_lock:
            self._sessions.clear()
        with self._grants_lock:
            self._disabled.clear()

    @property
    def token_fault(self) -> str | None:
        """Fault injected at the token endpoint; validated so a typo fails in the test."""
        return self._token_fault

    @token_fault.setter
    def token_fault(self, value: str | None) -> None:
        if value is not None and value not in _TOKEN_FAULTS:
            raise ValueError(f"token_fault must be None or one of {sorted(_TOKEN_FAULTS)}")
        self._token_fault = value

    @property
    def discovery_fault(self) -> str | None:
        """Fault injected at the discovery endpoint; validated like ``token_fault``."""
        return self._discovery_fault

    @discovery_fault.setter
    def discovery_fault(self, value: str | None) -> None:
        if value is not None and value not in _DISCOVERY_FAULTS:
            raise ValueError(f"discovery_fault must be None or one of {sorted(_DISCOVERY_FAULTS)}")
        self._discovery_fault = value

    @property
    def refresh_fault(self) -> str | None:
        """Fault injected into ``refresh_token`` grant requests only; validated."""
        return self._refresh_fault

    @refresh_fault.setter
    def refresh_fault(self, value: str | None) -> None:
        if value is not None and value not in _REFRESH_FAULTS:
            raise ValueError(f"refresh_fault must be None or one of {sorted(_REFRESH_FAULTS)}")
        self._refresh_fault = value

    # ---------------------------------------------------------- admin actions

    def revoke_grants(self, sub: str) -> int:
        """Revoke every grant of user ``sub`` (their refresh tokens then get
        ``invalid_grant``, their access tokens fail at userinfo, their unredeemed codes
        fail); returns how many grants were live."""
        self._check_sub(sub)
        with self._grants_lock:
            live = [grant for grant in self._grants.values() if grant.sub == sub and not grant.revoked]
            for grant in live:
                grant.revoked = True
        return len(live)

    def disable_user(self, sub: str) -> None:
        """Disable the account, as a Keycloak admin can: refresh fails (``invalid_grant``),
        userinfo refuses its access tokens and sign-in stops at an error page."""
        self._check_sub(sub)
        with self._grants_lock:
            self._disabled.add(sub)

    def enable_user(self, sub: str) -> None:
        """Undo ``disable_user()``; grants that were not revoked work again."""
        self._check_sub(sub)
        with self._grants_lock:
            self._disabled.discard(sub)

    def _check_sub(self, sub: str) -> None:
        if sub not in self.users:
            raise ValueError(f"no user with sub {sub!r} (admin actions take the sub, not the username)")

    def _usable(self, grant_id: str, sub: str) -> bool:
        """Whether tokens of this grant still work: grant live, user present and enabled."""
        grant = self._grants.get(grant_id)
        return grant is not None and not grant.revoked and sub in self.users and sub not in self._disabled

    def rotate_keys(self) -> str:
        """Replace the signing key with a new one (new ``kid``); returns the new ``kid``.

        The old key leaves the JWKS at once, as after an abrupt rotation, so tokens signed
        earlier no longer verify against a freshly fetched JWKS.
        """
        old_kid = self._key.kid
        new_key = generate_signing_key()
        while new_key.kid == old_kid:
            new_key = generate_signing_key()
        self._key = new_key
        return self.current_kid

    @property
    def signing_key(self) -> RSAKey:
        """The current private signing key (the one published in JWKS)."""
        return self._key

    @property
    def current_kid(self) -> str:
        kid = self._key.kid
        if kid is None:
            raise RuntimeError("signing key has no kid")
        return kid

    def jwks(self) -> dict[str, Any]:
        """The public JWK set, exactly as served at ``jwks_uri``."""
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "use": "sig", "alg": "RS256"}]}

    # -------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("LocalProvider is not started")
        return self._port

    @property
    def issuer(self) -> str:
        """The real issuer, e.g. ``http://127.0.0.1:53211/realms/demo``."""
        return f"http://{self.frontend_host or '127.0.0.1'}:{self.port}{self.issuer_path}"

    @property
    def backchannel_base(self) -> str:
        """Where the app reaches the provider: always 127.0.0.1."""
        return f"http://127.0.0.1:{self.port}{self.issuer_path}"

    @property
    def discovery_url(self) -> str:
        return self.backchannel_base + _DISCOVERY_PATH

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + _AUTHORIZE_PATH

    @property
    def token_endpoint(self) -> str:
        return self.backchannel_base + _TOKEN_PATH

    @property
    def userinfo_endpoint(self) -> str:
        return self.backchannel_base + _USERINFO_PATH

    @property
    def jwks_uri(self) -> str:
        return self.backchannel_base + _JWKS_PATH

    @property
    def end_session_endpoint(self) -> str:
        return self.issuer + _END_SESSION_PATH

    @property
    def revocation_endpoint(self) -> str:
        return self.backchannel_base + _REVOCATION_PATH

    def start(self, timeout: float = 10.0) -> LocalProvider:
        """Bind a free port on 127.0.0.1, serve in a daemon thread, return once accepting.

        The socket is bound here (port 0) rather than by uvicorn so the port is known
        before the thread starts and there is no pick-a-port-then-bind race.
        """
        if self._thread is not None:
            raise RuntimeError("LocalProvider can only be started once")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._build_app(),
            log_level="warning",
            log_config=None,  # do not reconfigure the test run's logging
            access_log=False,
            lifespan="off",
            date_header=False,
        )
        self._server = _Server(config, self._ready)
        self._thread = threading.Thread(target=self._run, name=f"LocalProvider:{self._port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or not self._server.started:
            self.stop()
            raise RuntimeError(f"LocalProvider did not start: {self._startup_error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, cut short any ``"slow"`` waits, and join the thread."""
        server, thread, loop, stopping = self._server, self._thread, self._loop, self._stopping
        if server is not None:
            server.should_exit = True
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # loop closed in between: nothing left to interrupt
                pass
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError("LocalProvider thread did not stop")
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> LocalProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._startup_error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._server is None or self._sock is None:
            raise RuntimeError("server not configured")
        await self._server.serve(sockets=[self._sock])

    async def _interruptible_wait(self, seconds: float) -> None:
        """Wait for ``seconds`` or until ``stop()``, whichever comes first."""
        if self._stopping is None:
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def _now(self) -> float:
        """The provider's wall clock, skewed by ``date_offset_seconds``."""
        return time.time() + self.date_offset_seconds

    # -------------------------------------------------------------------- app

    def _build_app(self) -> ASGIApp:
        p = self.issuer_path
        routes = [
            Route(p + _DISCOVERY_PATH, self._discovery, methods=["GET"]),
            Route(p + _AUTHORIZE_PATH, self._authorize_get, methods=["GET"]),
            Route(p + _AUTHORIZE_PATH, self._authorize_post, methods=["POST"]),
            Route(p + _TOKEN_PATH, self._token, methods=["POST"]),
            Route(p + _USERINFO_PATH, self._userinfo, methods=["GET", "POST"]),
            Route(p + _JWKS_PATH, self._jwks, methods=["GET"]),
            Route(p + _END_SESSION_PATH, self._end_session, methods=["GET", "POST"]),
            Route(p + _REVOCATION_PATH, self._revoke, methods=["POST"]),
        ]
        return _DateHeader(Starlette(routes=routes), self)

    async def _fault(self, fault: str | None) -> Response | None:
        """Apply a fault knob: a response to send instead, or ``None`` to carry on."""
        if fault == "500":
            body = "<html><body><h1>500 Internal Server Error</h1><p>Simulated fault.</p></body></html>"
            return HTMLResponse(body, status_code=500)
        if fault == "slow":
            await self._interruptible_wait(self.slow_seconds)
        elif fault == "invalid_grant":
            return _oauth_error_response(_OAuthError("invalid_grant", "Simulated invalid_grant fault"))
        elif fault == "redirect":
            return RedirectResponse(METADATA_URL, status_code=307)
        return None

    # -------------------------------------------------------------- discovery

    async def _discovery(self, request: Request) -> Response:
        self.discovery_hits += 1
        faulted = await self._fault(self.discovery_fault)
        if faulted is not None:
            return faulted
        doc: dict[str, Any] = {
            "issuer": self.discovery_issuer if self.discovery_issuer is not None else self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "userinfo_endpoint": self.userinfo_endpoint,
            "jwks_uri": self.jwks_uri,
            "end_session_endpoint": self.end_session_endpoint,
            "revocation_endpoint": self.revocation_endpoint,
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
            "claims_supported": [
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
            ],
        }
        if self.send_iss:
            doc["authorization_response_iss_parameter_supported"] = True
        for name, value in self.advertise.items():
            if value is None:
                doc.pop(name, None)
            else:
                doc[name] = value
        return JSONResponse(doc)

    async def _jwks(self, request: Request) -> Response:
        self.jwks_hits += 1
        if self.jwks_redirect_to is not None:
            return RedirectResponse(self.jwks_redirect_to, status_code=302)
        return JSONResponse(self.jwks())

    # -------------------------------------------------------------- authorize

    async def _authorize_get(self, request: Request) -> Response:
        pairs = list(request.query_params.multi_items())
        params = dict(pairs)
        self.authorize_requests.append(params)
        if len(params) != len(pairs):
            return _html_page("Invalid request", "A parameter was repeated.", status=400)
        checked = self._check_authorize(params)
        if isinstance(checked, Response):
            return checked
        if self.authorize_error is not None:
            return self._authorize_error_redirect(checked, self.authorize_error)
        prompts = set(params.get("prompt", "").split())
        user = self._find_user(params.get("login_hint"))
        live = self._browser_session(request)
        if live is not None and not prompts & {"login", "select_account"} and (user is None or user.sub == live.sub):
            # SSO: the browser is already signed in here, so no form (OIDC Core §3.1.2.3).
            self.sso_approvals += 1
            return self._approve(checked, self.users[live.sub], request, live)
        if user is not None:
            return self._approve(checked, user, request)
        if "none" in prompts:
            return _redirect(
                checked.redirect_uri,
                error="login_required",
                error_description="No login_hint for prompt=none",
                state=checked.state,
            )
        return self._login_page(params)

    async def _authorize_post(self, request: Request) -> Response:
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            return _html_page("Invalid request", "A parameter was repeated.", status=400)
        sub = params.pop("user", "")
        checked = self._check_authorize(params)
        if isinstance(checked, Response):
            return checked
        if self.authorize_error is not None:
            return self._authorize_error_redirect(checked, self.authorize_error)
        user = self.users.get(sub)
        if user is None:
            return _html_page("Unknown user", f"No user {sub!r} at this provider.", status=400)
        return self._approve(checked, user, request)

    def _check_authorize(self, params: dict[str, str]) -> _AuthorizeRequest | Response:
        """Validate an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3).

        Client and redirect URI problems are shown to the user (never redirected, to avoid
        an open redirector); everything else goes back to the client as ``error=``.
        """
        client_id = params.get("client_id", "")
        if client_id != self.client_id:
            return _html_page("Unknown client", f"client_id {client_id!r} is not registered.", status=400)
        redirect_uri = params.get("redirect_uri", "")
        if not redirect_uri:
            return _html_page("Invalid request", "redirect_uri is required.", status=400)
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            return _html_page("Invalid request", "redirect_uri must be an absolute http(s) URL.", status=400)
        if self.redirect_uris is not None and redirect_uri not in self.redirect_uris:
            return _html_page("Invalid request", "redirect_uri is not registered.", status=400)
        state = params.get("state")
        if params.get("response_type") != "code":
            return _redirect(
                redirect_uri,
                error="unsupported_response_type",
                error_description="Only response_type=code is supported",
                state=state,
            )
        challenge = params.get("code_challenge", "")
        if not challenge or params.get("code_challenge_method") != "S256":
            return _redirect(
                redirect_uri,
                error="invalid_request",
                error_description="PKCE with code_challenge_method=S256 is required",
                state=state,
            )
        return _AuthorizeRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            scope=params.get("scope") or "openid",
            nonce=params.get("nonce"),
            code_challenge=challenge,
        )

    def _authorize_error_redirect(self, req: _AuthorizeRequest, error: str) -> Response:
        description = self.authorize_error_description or f"Simulated {error} by LocalProvider"
        return _redirect(
            req.redirect_uri,
            error=error,
            error_description=description,
            state=req.state,
            iss=self.issuer if self.send_iss else None,
        )

    def _find_user(self, hint: str | None) -> ProviderUser | None:
        """Match ``login_hint`` on ``sub``, then ``preferred_username`` or ``email``."""
        if not hint:
            return None
        if hint in self.users:
            return self.users[hint]
        for user in self.users.values():
            if hint in (user.claims.get("preferred_username"), user.claims.get("email")):
                return user
        return None

    def _approve(
        self, req: _AuthorizeRequest, user: ProviderUser, request: Request, live: _ProviderSession | None = None
    ) -> Response:
        """Issue a code bound to the ``live`` session (SSO), else to a fresh sign-in's
        session (its ``sid`` and ``auth_time`` go into tokens), and open the grant it starts.
        A disabled account gets Keycloak's error page, and no session or grant."""
        grant = _Grant(id=str(uuid.uuid4()), sub=user.sub)
        with self._grants_lock:
            if user.sub in self._disabled:
                return _html_page("Account is disabled", "Account is disabled, contact your administrator.", 400)
            self._grants[grant.id] = grant
        session = live if live is not None else self._session_for_sign_in(request, user)
        code = secrets.token_urlsafe(32)
        ISSUED_SECRETS.add(code)
        login = _Login(
            sub=user.sub,
            client_id=req.client_id,
            scope=req.scope,
            nonce=req.nonce,
            sid=session.sid,
            auth_time=session.auth_time,
            grant=grant.id,
        )
        self._codes[code] = _Code(
            login=login, redirect_uri=req.redirect_uri, code_challenge=req.code_challenge, issued=time.monotonic()
        )
        response = _redirect(req.redirect_uri, code=code, state=req.state, iss=self.issuer if self.send_iss else None)
        if self.sso:
            response.set_cookie(PROVIDER_SESSION_COOKIE, session.id, path="/", httponly=True, samesite="lax")
        return response

    # ------------------------------------------------------- provider sessions

    def _browser_session(self, request: Request) -> _ProviderSession | None:
        """The live provider session this browser's cookie names, if ``sso`` is on.

        A session whose user has since been removed from ``users`` counts as ended.
        """
        if not self.sso:
            return None
        with self._sessions_lock:
            session = self._sessions.get(request.cookies.get(PROVIDER_SESSION_COOKIE, ""))
        return session if session is not None and session.sub in self.users else None

    def _session_for_sign_in(self, request: Request, user: ProviderUser) -> _ProviderSession:
        """The session a fresh authentication of ``user`` belongs to.

        Re-authenticating the user of the browser's live session renews that session (new
        ``auth_time``, same ``sid``), as Keycloak does; anyone else gets a new session. A
        session replaced in the browser stays live: only logout ends sessions.
        """
        live = self._browser_session(request)
        if live is not None and live.sub == user.sub:
            live.auth_time = self._now()
            return live
        session = _ProviderSession(
            id=secrets.token_urlsafe(32), sub=user.sub, sid=str(uuid.uuid4()), auth_time=self._now()
        )
        with self._sessions_lock:
            self._sessions[session.id] = session
        return session

    def sessions_of(self, sub: str) -> list[str]:
        """The ``sid`` of every live provider session of user ``sub``, oldest first."""
        with self._sessions_lock:
            return [session.sid for session in self._sessions.values() if session.sub == sub]

    def end_provider_sessions(self, sub: str) -> list[str]:
        """End every provider session of ``sub``, as a Keycloak admin's "Sign out" does.

        When ``backchannel_logout_uri`` is set, one logout token per session is delivered
        before this returns (see ``backchannel_deliveries``). Call it from the test thread:
        it blocks while the app handles the logout tokens. Returns the ``sid`` values ended.
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("end_provider_sessions() would block the provider's own event loop")
        ended = self._end_sessions(lambda session: session.sub == sub)
        self._send_backchannel_logouts(ended)
        return [session.sid for session in ended]

    def _end_sessions(self, doomed: Callable[[_ProviderSession], bool]) -> list[_ProviderSession]:
        with self._sessions_lock:
            ended = [session for session in self._sessions.values() if doomed(session)]
            for session in ended:
                del self._sessions[session.id]
        return ended

    def _login_page(self, params: dict[str, str]) -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        buttons = "".join(
            f'<button type="submit" name="user" value="{html.escape(u.sub)}">{html.escape(_label(u))}</button>'
            for u in self.users.values()
        )
        action = html.escape(self.issuer_path + _AUTHORIZE_PATH)
        body = f'<form method="post" action="{action}">{hidden}{buttons}</form>'
        return _html_page("Sign in to Local Provider", body, raw=True)

    # ------------------------------------------------------------------ token

    async def _token(self, request: Request) -> Response:
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        form = dict(pairs)
        authorization = request.headers.get("authorization", "")
        basic = authorization[:6].lower() == "basic "
        auth_method = "client_secret_basic" if basic else ("client_secret_post" if "client_secret" in form else "none")
        self.token_requests.append({"form": form, "auth_method": auth_method})
        refreshing = form.get("grant_type") == "refresh_token"

        faulted = await self._fault(self.token_fault)
        if faulted is None and refreshing:
            faulted = await self._refresh_faulted(request)
        if faulted is not None:
            if refreshing:
                self._record_refresh("fault", form)
            return faulted
        try:
            if len(form) != len(pairs):
                raise _OAuthError("invalid_request", "A parameter was repeated")
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise _OAuthError("invalid_request", "Body must be application/x-www-form-urlencoded")
            client_id = self._authenticate_client(authorization if basic else None, form)
        except _OAuthError as err:
            if refreshing:
                self._record_refresh("rejected", form)
            return _client_error_response(err, basic)
        try:
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                body = self._issue_tokens(self._redeem_code(client_id, form))
            elif grant_type == "refresh_token":
                body = self._refresh(client_id, form)
            else:
                raise _OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        except _OAuthError as err:
            return _client_error_response(err, basic)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def _refresh_faulted(self, request: Request) -> Response | None:
        """Apply ``refresh_fault``: a response to send instead, or ``None`` to carry on.

        ``"slow"`` drops the refresh (a 503 nobody reads) when the client hangs up or the
        provider stops during the wait, so an abandoned refresh never spends its token.
        """
        fault = self.refresh_fault
        if fault != "slow":
            return await self._fault(fault)
        if self._stopping is None:
            return None
        stopping = asyncio.ensure_future(self._stopping.wait())
        hung_up = asyncio.ensure_future(_client_hung_up(request))
        try:
            done, _ = await asyncio.wait(
                {stopping, hung_up}, timeout=self.slow_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
            hung_up.cancel()
        for task in done:
            task.exception()  # retrieved, so a failed receive is not logged as unhandled
        if done:
            return _html_page("Service Unavailable", "Refresh dropped: the client hung up.", status=503)
        return None

    def _record_refresh(self, outcome: str, form: dict[str, str]) -> None:
        """Record a refresh request that never reached the grant checks."""
        token = self._refresh_tokens.get(form.get("refresh_token", ""))
        grant = token.login.grant if token is not None else None
        self.refresh_requests.append({"outcome": outcome, "grant": grant, "at": time.monotonic()})

    def _authenticate_client(self, basic_header: str | None, form: dict[str, str]) -> str:
        """Client authentication per RFC 6749 §2.3.1 (Basic with form-urlencoded parts, or post)."""
        if basic_header is not None:
            if "client_secret" in form:
                raise _OAuthError("invalid_request", "Use only one client authentication method")
            try:
                decoded = base64.b64decode(basic_header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise _OAuthError("invalid_client", "Malformed Basic credentials", 401) from None
            raw_id, colon, raw_secret = decoded.partition(":")
            if not colon:
                raise _OAuthError("invalid_client", "Malformed Basic credentials", 401)
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if "client_id" in form and form["client_id"] != client_id:
                raise _OAuthError("invalid_client", "client_id in body differs from Basic credentials", 401)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if secret is None:
            raise _OAuthError("invalid_client", "Client authentication is required", 401)
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(secret.encode(), self.client_secret.encode())
        if not (id_ok and secret_ok):
            raise _OAuthError("invalid_client", "Invalid client credentials", 401)
        return client_id

    def _redeem_code(self, client_id: str, form: dict[str, str]) -> _Login:
        """Check an authorization code (RFC 6749 §4.1.3) and its PKCE verifier (RFC 7636 §4.6).

        A code is spent by its first presentation, successful or not, so replay always fails.
        """
        code = self._codes.get(form.get("code", ""))
        if code is None:
            raise _OAuthError("invalid_grant", "Unknown authorization code")
        if code.used:
            raise _OAuthError("invalid_grant", "Authorization code already used")
        code.used = True
        if time.monotonic() - code.issued > self.code_lifetime:
            raise _OAuthError("invalid_grant", "Authorization code expired")
        if code.login.client_id != client_id:
            raise _OAuthError("invalid_grant", "Authorization code was issued to another client")
        with self._grants_lock:
            if not self._usable(code.login.grant, code.login.sub):
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
        presented = form.get("refresh_token", "")
        body: dict[str, Any] | None = None
        with self._grants_lock:
            token = self._refresh_tokens.get(presented)
            grant = self._grants.get(token.login.grant) if token is not None else None
            lifetime = self.refresh_token_lifetime
            if token is None or grant is None or token.login.client_id != client_id:
                outcome, problem = "unknown", "Invalid refresh token"
            elif token.spent:
                grant.revoked = True
                outcome, problem = "reused", "Refresh token reuse detected; the grant is revoked"
            elif grant.revoked:
                outcome, problem = "revoked", "Refresh token revoked"
            elif lifetime is not None and self._now() - token.issued > lifetime:
                outcome, problem = "expired", "Refresh token expired"
            elif not self._usable(grant.id, grant.sub):
                outcome, problem = "disabled", "Account disabled or removed"
            else:
                rotate = self.rotate_refresh_tokens
                token.spent = rotate
                body = self._issue_tokens(token.login, None if rotate else (presented, token))
                outcome, problem = "issued", ""
            self.refresh_requests.append(
                {"outcome": outcome, "grant": grant.id if grant is not None else None, "at": time.monotonic()}
            )
        if body is None:
            raise _OAuthError("invalid_grant", problem)
        return body

    def _issue_tokens(self, login: _Login, keep: tuple[str, _RefreshToken] | None = None) -> dict[str, Any]:
        """Tokens for ``login``'s grant; a new refresh token unless ``keep`` names the
        presented one (a refresh without rotation)."""
        user = self.users.get(login.sub)
        if user is None:
            raise _OAuthError("invalid_grant", "Account removed")
        key = self._key  # read once so the kid and signature always agree
        clock = self._now()
        now = int(clock)
        access_claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub,
            "aud": "account",
            "azp": login.client_id,
            "typ": "Bearer",
            "exp": now + self.access_token_lifetime,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "sid": login.sid,
            "scope": login.scope,
        }
        access_claims.update({k: v for k, v in user.claims.items() if k in ROLE_CLAIMS})
        access_token = jwt.encode({"alg": "RS256", "kid": key.kid}, access_claims, key, algorithms=["RS256"])
        self._access_tokens[access_token] = _AccessGrant(
            sub=user.sub, grant=login.grant, expires=time.monotonic() + self.access_token_lifetime
        )

        if keep is None:
            refresh_token = secrets.token_urlsafe(32)
            record = _RefreshToken(login=replace(login, nonce=None), issued=clock)
            self._refresh_tokens[refresh_token] = record
        else:
            refresh_token, record = keep
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "refresh_token": refresh_token,
            "scope": login.scope,
        }
        if self.refresh_token_lifetime is not None:
            body["refresh_expires_in"] = max(0, int(record.issued + self.refresh_token_lifetime - clock))
        if "openid" in login.scope.split():
            body["id_token"] = self._id_token(login, user, access_token, now, key)
        ISSUED_SECRETS.update(value for name, value in body.items() if name.endswith("_token"))
        return body

    def _id_token(self, login: _Login, user: ProviderUser, access_token: str, now: int, key: RSAKey) -> str:
        hidden = set(ROLE_CLAIMS) if not self.roles_in_id_token else set()
        claims: dict[str, Any] = {k: v for k, v in user.claims.items() if k not in hidden}
        claims.update(
            {
                "iss": self.issuer,
                "sub": user.sub,
                "aud": login.client_id,
                "azp": login.client_id,
                "exp": now + self.id_token_lifetime,
                "iat": now,
                "auth_time": int(login.auth_time),
                "sid": login.sid,
                "at_hash": _half_hash(access_token),
            }
        )
        if login.nonce is not None:
            claims["nonce"] = login.nonce
        claims.update(self.id_token_claims_override)
        claims = {k: v for k, v in claims.items() if v is not None}
        signer = self.sign_with if self.sign_with is not None else key
        kid = signer.kid if signer.kid is not None else key.kid
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "JWT"}, claims, signer, algorithms=["RS256"])

    # --------------------------------------------------------------- userinfo

    async def _userinfo(self, request: Request) -> Response:
        self.userinfo_hits += 1
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        grant = self._access_tokens.get(token)
        user = self.users.get(grant.sub) if grant is not None else None
        with self._grants_lock:
            usable = grant is not None and self._usable(grant.grant, grant.sub)
        if grant is None or user is None or not usable or time.monotonic() > grant.expires:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Missing, unknown or expired access token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        hidden = {"realm_access", "resource_access"} if not self.roles_in_id_token else set()
        claims = {k: v for k, v in user.claims.items() if k not in hidden}
        return JSONResponse({**claims, "sub": user.sub})

    # ------------------------------------------------------------- revocation

    async def _revoke(self, request: Request) -> Response:
        """RFC 7009 token revocation: how an app signs out where there is no end-session
        endpoint (Google). Any token the client presents is forgotten at once."""
        pairs = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        form = dict(pairs)
        authorization = request.headers.get("authorization", "")
        basic = authorization[:6].lower() == "basic "
        token = form.get("token", "")
        kind = self._token_kind(token)
        self.revocation_requests.append(
            {"token_type_hint": form.get("token_type_hint"), "known": kind is not None, "kind": kind}
        )
        try:
            if len(form) != len(pairs):
                raise _OAuthError("invalid_request", "A parameter was repeated")
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise _OAuthError("invalid_request", "Body must be application/x-www-form-urlencoded")
            self._authenticate_client(authorization if basic else None, form)  # §2.1: client first
            if not token:
                raise _OAuthError("invalid_request", "token is required")
        except _OAuthError as err:
            return _client_error_response(err, basic)
        if kind == "access_token":
            self._access_tokens.pop(token, None)
        elif kind == "refresh_token":
            # §2.1: revoking a refresh token also invalidates the grant's access tokens.
            revoked = self._refresh_tokens.pop(token, None)
            if revoked is not None:
                with self._grants_lock:
                    grant = self._grants.get(revoked.login.grant)
                    if grant is not None:
                        grant.revoked = True
        # §2.2: 200 whether or not the token was known, so clients cannot probe for tokens.
        return Response(status_code=200, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _token_kind(self, token: str) -> str | None:
        """Which of our tokens ``token`` is; RFC 7009 §2.1 lets a server ignore
        ``token_type_hint`` and search every type, as this one does."""
        if token in self._access_tokens:
            return "access_token"
        if token in self._refresh_tokens:
            return "refresh_token"
        return None

    # ------------------------------------------------------------ end session

    async def _end_session(self, request: Request) -> Response:
        """RP-Initiated Logout 1.0: check the request, end the provider session, tell the
        app over the back channel, then send the browser back (or show "Signed out").

        The session ended is the one the hint's ``sid`` names, else the one the browser's
        ``lp_session`` cookie names; the cookie is cleared either way. Problems are shown as
        a 400 page, never redirected, as §3 requires for an unverified
        ``post_logout_redirect_uri``.
        """
        if request.method == "POST":
            params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        else:
            params = dict(request.query_params)
        self.end_session_requests.append(params)
        hint_claims: dict[str, Any] | None = None
        if params.get("id_token_hint"):
            checked = self._check_id_token_hint(params["id_token_hint"])
            if isinstance(checked, Response):
                return checked
            hint_claims = checked
        client_id = params.get("client_id")
        if client_id is not None and client_id != self.client_id:
            return _html_page("Unknown client", f"client_id {client_id!r} is not registered.", status=400)
        target = params.get("post_logout_redirect_uri")
        if target:
            problem = self._check_post_logout_redirect_uri(target)
            if problem is None and hint_claims is None and client_id is None:
                problem = "post_logout_redirect_uri requires id_token_hint or client_id."
            if problem is not None:
                return _html_page("Invalid request", problem, status=400)

        hint_sid = hint_claims.get("sid") if hint_claims is not None else None
        if isinstance(hint_sid, str):
            ended = self._end_sessions(lambda session: session.sid == hint_sid)
        else:
            cookie = request.cookies.get(PROVIDER_SESSION_COOKIE)
            ended = self._end_sessions(lambda session: session.id == cookie)
        # Blocking POSTs go to a worker thread: the app may call back into this provider
        # (JWKS) while it handles the logout token, and this loop must be free to answer.
        await asyncio.to_thread(self._send_backchannel_logouts, ended)

        if target:
            response: Response = _redirect(target, state=params.get("state"))
        else:
            response = _html_page("Signed out", "You are signed out of Local Provider.")
        response.delete_cookie(PROVIDER_SESSION_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    def _check_id_token_hint(self, hint: str) -> dict[str, Any] | Response:
        """The hint's claims, if it is an ID token this provider issued to the client.

        Signature against the published keys (so a token signed before ``rotate_keys()``
        no longer counts) and audience only: an expired hint is fine (§2), it is usually
        presented long after the ID token's short life.
        """
        try:
            claims = jwt.decode(hint, KeySet.import_key_set(self.jwks()), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return _html_page(
                "Invalid request", "id_token_hint is not an ID token signed by this provider.", status=400
            )
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            return _html_page("Invalid request", "id_token_hint was not issued to this client.", status=400)
        return claims

    def _check_post_logout_redirect_uri(self, target: str) -> str | None:
        """Why ``target`` may not be redirected to, or ``None`` when it may."""
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https"):
            return "post_logout_redirect_uri must be http(s)."
        if not parts.netloc or parts.fragment:
            return "post_logout_redirect_uri must be an absolute URL without a fragment."
        if self.post_logout_redirect_uris is not None and target not in self.post_logout_redirect_uris:
            return "post_logout_redirect_uri is not registered."
        return None

    # -------------------------------------------------------- back-channel

    def logout_token(
        self,
        *,
        sub: str | None = None,
        sid: str | None = None,
        claims_override: dict[str, Any] | None = None,
        header_override: dict[str, Any] | None = None,
        key: RSAKey | None = None,
    ) -> str:
        """A Back-Channel Logout 1.0 §2.4 logout token, as the provider would send it.

        ``sub``/``sid`` set to ``None`` are left out (the spec needs at least one, so leaving
        both out makes an invalid token). ``claims_override`` and ``header_override`` are
        merged last, ``None`` deleting a member, to forge tokens an app must refuse; a
        ``header_override`` of ``{"alg": "none"}`` yields an unsigned token. ``key`` signs
        instead of the current key; its ``kid`` is used when it has one.
        """
        return self._encode_logout_token(self._logout_claims(sub, sid, claims_override), header_override, key)

    def send_logout_token(self, uri: str, token: str) -> tuple[int, str]:
        """POST ``token`` to ``uri`` as the provider's back channel does (for forged or
        replayed tokens); returns the app's status and body. Not recorded; a connection
        failure raises."""
        with _backchannel_http() as http:
            response = http.post(uri, data={"logout_token": token}, timeout=_BACKCHANNEL_TIMEOUT, allow_redirects=False)
        return response.status_code, response.text

    def _logout_claims(self, sub: str | None, sid: str | None, override: dict[str, Any] | None) -> dict[str, Any]:
        now = int(self._now())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + _LOGOUT_TOKEN_LIFETIME,
            "jti": str(uuid.uuid4()),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
            "sub": sub,
            "sid": sid,
        }
        claims.update(override or {})
        return {k: v for k, v in claims.items() if v is not None}

    def _encode_logout_token(
        self, claims: dict[str, Any], header_override: dict[str, Any] | None, key: RSAKey | None
    ) -> str:
        current = self._key  # read once so the kid and signature always agree
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

    def _send_backchannel_logouts(self, ended: list[_ProviderSession]) -> None:
        """Tell the app about each ended session (§2.5), one POST each, recording the
        outcome; blocking, so event-loop callers run it in a worker thread."""
        uri = self.backchannel_logout_uri
        if uri is None or not ended:
            return
        with _backchannel_http() as http:
            for session in ended:
                claims = self._logout_claims(session.sub, session.sid, None)
                token = self._encode_logout_token(claims, None, None)
                try:
                    response = http.post(
                        uri, data={"logout_token": token}, timeout=_BACKCHANNEL_TIMEOUT, allow_redirects=False
                    )
                except requests.RequestException as error:
                    # Only the exception type: its text may quote the request.
                    self.backchannel_deliveries.append({"status": None, "body": type(error).__name__, "claims": claims})
                else:
                    self.backchannel_deliveries.append(
                        {"status": response.status_code, "body": response.text, "claims": claims}
                    )


async def _client_hung_up(request: Request) -> bool:
    """Return once the client has closed the connection (the body was already read, so
    the next ASGI message is ``http.disconnect``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    return True


def _label(user: ProviderUser) -> str:
    """Button text on the login page: the name a person would recognise (else the ``sub``)."""
    return str(user.claims.get("preferred_username") or user.claims.get("email") or user.sub)


def _half_hash(value: str) -> str:
    """``at_hash`` for RS256 (OIDC Core §3.1.3.6): left half of SHA-256, base64url."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _redirect(uri: str, **params: str | None) -> RedirectResponse:
    """302 to ``uri`` with ``params`` added to any query it already has (None values dropped)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return RedirectResponse(parts._replace(query=urlencode(query)).geturl(), status_code=302)


def _oauth_error_response(err: _OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": err.error, "error_description": err.description},
        status_code=err.status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _client_error_response(err: _OAuthError, basic: bool) -> JSONResponse:
    """An error from an endpoint with client authentication (token, revocation): a 401
    answer to Basic credentials carries the challenge (RFC 6749 §5.2)."""
    response = _oauth_error_response(err)
    if err.status == 401 and basic:
        response.headers["WWW-Authenticate"] = 'Basic realm="LocalProvider"'
    return response


def _backchannel_http() -> requests.Session:
    """An HTTP client for the provider's own calls to the app: no proxies from the
    environment, so a logout token goes straight to the 127.0.0.1 app."""
    session = requests.Session()
    session.trust_env = False
    return session


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _html_page(title: str, body: str, status: int = 200, raw: bool = False) -> HTMLResponse:
    content = body if raw else f"<p>{html.escape(body)}</p>"
    return HTMLResponse(
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{content}</body></html>",
        status_code=status,
    )
