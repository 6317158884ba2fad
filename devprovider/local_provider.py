"""``LocalProvider``: the provider's knobs, recordings, admin actions, keys, endpoint URLs and lifecycle.

This is the object tests hold. It owns the state every endpoint shares and wires the
endpoint objects (one module each) into a Starlette app; the endpoints read the knobs
and state from it on every request, so a knob changed between requests takes effect at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from .authorize import AuthorizeEndpoint
from .console import ConsoleEndpoints
from .end_session import EndSessionEndpoint
from .faults import DISCOVERY_FAULTS, JWKS_FAULTS, REFRESH_FAULTS, TOKEN_FAULTS
from .grants import Grants
from .logout import encode_logout_token, logout_claims, post_logout_token, send_backchannel_logouts
from .metadata import MetadataEndpoints
from .protocol import (
    AUTHORIZE_PATH,
    CONSOLE_PATH,
    DISCOVERY_PATH,
    END_CONSOLE_SESSION_PATH,
    END_SESSION_PATH,
    JWKS_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
)
from .records import ISSUED_SECRETS, _AccessGrant, _Code, _Login, _RefreshToken
from .revocation import RevocationEndpoint
from .server import DateHeader, ServerThread
from .sessions import ProviderSessions
from .token_endpoint import TokenEndpoint
from .tokens import issue_tokens
from .userinfo import UserinfoEndpoint
from .users import ProviderUser, generate_signing_key

_ISSUER_PATH_RE = re.compile(r"(/[A-Za-z0-9\-._~]+)*")


class LocalProvider:
    """An OpenID Connect provider on 127.0.0.1 with knobs for faults and token shapes.

    Knobs (see ``reset()`` for defaults), read on every request:

    - ``discovery_issuer``: advertise this ``issuer`` in discovery instead of the real one.
    - ``token_fault``: ``None``, ``"500"`` (HTML 500), ``"slow"`` (wait ``slow_seconds``
      then answer normally), ``"invalid_grant"`` (400 JSON) or ``"redirect"`` (307 to a
      cloud-metadata URL, as a hostile provider would answer to try SSRF).
    - ``discovery_fault``: ``None``, ``"500"`` or ``"slow"``.
    - ``jwks_fault``: the same for the JWKS endpoint (a provider whose keys cannot be fetched).
    - ``slow_seconds``: how long ``"slow"`` waits; ``stop()`` cuts the wait short.
    - ``authorize_error``: e.g. ``"access_denied"``: authorize redirects back with it, and
      with ``authorize_error_description`` (free text) when that is set.
    - ``send_iss``: add ``iss`` to authorization responses and advertise it (RFC 9207).
    - ``jwks_redirect_to``: the JWKS endpoint answers 302 to this URL instead of the keys.
    - ``id_token_claims_override``: merged into ID token claims; ``None`` values delete.
    - ``token_response_override``: merged into every token response (code and refresh).
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
    approves at once; otherwise the authorize page ("Choose an account") offers one card per
    user, a submit button ``name="user"`` (value = ``sub``, accessible name =
    ``preferred_username``, else ``email``, else ``sub``). ID tokens are only issued when the
    scope contains ``openid``; they carry ``at_hash`` like real providers'. The issuer's root
    is the sessions page for people (``console``): live sessions, each with a "Sign out" that
    ends it as ``end_provider_sessions()`` does, back-channel logout included.

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
    token_response_override: dict[str, Any]
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
        # Ended from the server thread (end-session) and from the test thread, hence its lock.
        self._sessions = ProviderSessions()
        # Grants and disabled users, behind the one lock that makes a refresh atomic.
        self._grants = Grants()
        self._server = ServerThread()
        self._token_fault: str | None = None
        self._discovery_fault: str | None = None
        self._jwks_fault: str | None = None
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
        self.jwks_fault = None
        self.slow_seconds = 5.0
        self.authorize_error = None
        self.authorize_error_description = None
        self.send_iss = False
        self.jwks_redirect_to = None
        self.id_token_claims_override = {}
        self.token_response_override = {}
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
        self._sessions.clear()
        self._grants.enable_all()

    @property
    def token_fault(self) -> str | None:
        """Fault injected at the token endpoint; validated so a typo fails in the test."""
        return self._token_fault

    @token_fault.setter
    def token_fault(self, value: str | None) -> None:
        if value is not None and value not in TOKEN_FAULTS:
            raise ValueError(f"token_fault must be None or one of {sorted(TOKEN_FAULTS)}")
        self._token_fault = value

    @property
    def discovery_fault(self) -> str | None:
        """Fault injected at the discovery endpoint; validated like ``token_fault``."""
        return self._discovery_fault

    @discovery_fault.setter
    def discovery_fault(self, value: str | None) -> None:
        if value is not None and value not in DISCOVERY_FAULTS:
            raise ValueError(f"discovery_fault must be None or one of {sorted(DISCOVERY_FAULTS)}")
        self._discovery_fault = value

    @property
    def jwks_fault(self) -> str | None:
        """Fault injected at the JWKS endpoint; validated like ``token_fault``."""
        return self._jwks_fault

    @jwks_fault.setter
    def jwks_fault(self, value: str | None) -> None:
        if value is not None and value not in JWKS_FAULTS:
            raise ValueError(f"jwks_fault must be None or one of {sorted(JWKS_FAULTS)}")
        self._jwks_fault = value

    @property
    def refresh_fault(self) -> str | None:
        """Fault injected into ``refresh_token`` grant requests only; validated."""
        return self._refresh_fault

    @refresh_fault.setter
    def refresh_fault(self, value: str | None) -> None:
        if value is not None and value not in REFRESH_FAULTS:
            raise ValueError(f"refresh_fault must be None or one of {sorted(REFRESH_FAULTS)}")
        self._refresh_fault = value

    # ---------------------------------------------------------- admin actions

    def revoke_grants(self, sub: str) -> int:
        """Revoke every grant of user ``sub`` (their refresh tokens then get
        ``invalid_grant``, their access tokens fail at userinfo, their unredeemed codes
        fail); returns how many grants were live."""
        self._check_sub(sub)
        return self._grants.revoke_all(sub)

    def disable_user(self, sub: str) -> None:
        """Disable the account, as a Keycloak admin can: refresh fails (``invalid_grant``),
        userinfo refuses its access tokens and sign-in stops at an error page."""
        self._check_sub(sub)
        self._grants.disable(sub)

    def enable_user(self, sub: str) -> None:
        """Undo ``disable_user()``; grants that were not revoked work again."""
        self._check_sub(sub)
        self._grants.enable(sub)

    def _check_sub(self, sub: str) -> None:
        if sub not in self.users:
            raise ValueError(f"no user with sub {sub!r} (admin actions take the sub, not the username)")

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
        if self._server.port is None:
            raise RuntimeError("LocalProvider is not started")
        return self._server.port

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
        return self.backchannel_base + DISCOVERY_PATH

    @property
    def authorization_endpoint(self) -> str:
        return self.issuer + AUTHORIZE_PATH

    @property
    def token_endpoint(self) -> str:
        return self.backchannel_base + TOKEN_PATH

    @property
    def userinfo_endpoint(self) -> str:
        return self.backchannel_base + USERINFO_PATH

    @property
    def jwks_uri(self) -> str:
        return self.backchannel_base + JWKS_PATH

    @property
    def end_session_endpoint(self) -> str:
        return self.issuer + END_SESSION_PATH

    @property
    def revocation_endpoint(self) -> str:
        return self.backchannel_base + REVOCATION_PATH

    def start(self, timeout: float = 10.0, port: int = 0) -> LocalProvider:
        """Bind ``port`` (0: a free one) on 127.0.0.1, serve in a daemon thread, return once
        accepting (see ``ServerThread.start``)."""
        self._server.start(self._build_app, timeout, port)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit, cut short any ``"slow"`` waits, and join the thread."""
        self._server.stop(timeout)

    def __enter__(self) -> LocalProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _now(self) -> float:
        """The provider's wall clock, skewed by ``date_offset_seconds``."""
        return time.time() + self.date_offset_seconds

    def _build_app(self) -> ASGIApp:
        p = self.issuer_path
        metadata = MetadataEndpoints(self)
        authorize = AuthorizeEndpoint(self)
        console = ConsoleEndpoints(self)
        routes = [
            Route(p + DISCOVERY_PATH, metadata.discovery, methods=["GET"]),
            Route(p + AUTHORIZE_PATH, authorize.get, methods=["GET"]),
            Route(p + AUTHORIZE_PATH, authorize.post, methods=["POST"]),
            Route(p + TOKEN_PATH, TokenEndpoint(self).handle, methods=["POST"]),
            Route(p + USERINFO_PATH, UserinfoEndpoint(self).handle, methods=["GET", "POST"]),
            Route(p + JWKS_PATH, metadata.jwks, methods=["GET"]),
            Route(p + END_SESSION_PATH, EndSessionEndpoint(self).handle, methods=["GET", "POST"]),
            Route(p + REVOCATION_PATH, RevocationEndpoint(self).handle, methods=["POST"]),
            Route(p + CONSOLE_PATH, console.page, methods=["GET"]),
            Route(p + END_CONSOLE_SESSION_PATH, console.end, methods=["POST"]),
        ]
        return DateHeader(Starlette(routes=routes), self._now)

    def _issue_tokens(self, login: _Login, keep: tuple[str, _RefreshToken] | None = None) -> dict[str, Any]:
        """Tokens for ``login``'s grant (see ``tokens.issue_tokens``). Both grants mint
        through this method, so a test may wrap it on the instance to record every response."""
        return issue_tokens(self, login, keep)

    # ------------------------------------------------------- provider sessions

    def sessions_of(self, sub: str) -> list[str]:
        """The ``sid`` of every live provider session of user ``sub``, oldest first."""
        return self._sessions.sids_of(sub)

    def end_provider_sessions(self, sub: str) -> list[str]:
        """End every provider session of ``sub``, as a Keycloak admin's "Sign out" does.

        When ``backchannel_logout_uri`` is set, one logout token per session is delivered
        before this returns (see ``backchannel_deliveries``). Call it from the test thread:
        it blocks while the app handles the logout tokens. Returns the ``sid`` values ended.
        """
        if self._server.is_server_thread():
            raise RuntimeError("end_provider_sessions() would block the provider's own event loop")
        ended = self._sessions.end(lambda session: session.sub == sub)
        send_backchannel_logouts(self, ended)
        return [session.sid for session in ended]

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
        claims = logout_claims(self.issuer, self.client_id, int(self._now()), sub, sid, claims_override)
        return encode_logout_token(claims, header_override, key, self._key)

    def send_logout_token(self, uri: str, token: str) -> tuple[int, str]:
        """POST ``token`` to ``uri`` as the provider's back channel does (for forged or
        replayed tokens); returns the app's status and body. Not recorded; a connection
        failure raises."""
        return post_logout_token(uri, token)
