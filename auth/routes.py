"""The HTTP side: ``/auth/login``, ``/auth/callback/<provider>``, ``/auth/logout`` and
``/auth/backchannel-logout`` as Starlette routes.

Thin on purpose: each handler reads the request, calls ``LoginFlow`` under the
provider-call capacity (it blocks on the provider), and turns the outcome into
a redirect with cookies or into a readable page. Every ``LoginError`` becomes
a response in ``_failure``; nothing else decides statuses.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from .address import PublicAddress, normalize_host
from .config import Settings
from .errors import (
    REGISTRATION_ERRORS,
    AccessDenied,
    LoginError,
    LoginTransactionMissing,
    LogoutTokenReplayed,
    ProviderBusy,
    ProviderRejected,
    SessionStoreDown,
    TooManyAttempts,
    UnknownProvider,
)
from .events import CountedEvent, log_event
from .html_pages import SECURITY_HEADERS, page
from .login import LoginFlow
from .logout_token import InvalidLogoutToken, LogoutTokenValidator
from .redirects import app_root, safe_next_path
from .sessions import EndedSession
from .stores.base import StoreUnavailable
from .throttle import AddressRateLimit, ProviderCapacity
from .transaction import TRANSACTION_MAX_AGE, LoginTransaction

MAX_PARAM_LENGTH = 4096
# A logout token is a JWT of a few hundred bytes; anything much larger is not one.
MAX_LOGOUT_REQUEST_BYTES = 64 * 1024
# Back-channel logout validates under a capacity of its own, never sign-in's: anyone can POST
# there, and validation may wait on a provider (discovery, JWKS). Small, because with the keys
# cached a validation is one signature check and a few comparisons; only fetches take long,
# and those are remembered when they fail and throttled for this route (``ProviderClient.key_set``).
BACKCHANNEL_CONCURRENCY = 4
BACKCHANNEL_QUEUE = 16
# Refused back-channel requests per client address and minute; beyond them 429 until the
# budget refills. Only refusals count, so a provider whose tokens are good is never limited,
# however many sessions it ends at once. AUTH_RATE_LIMIT=off lifts this limit too.
BACKCHANNEL_REFUSALS_PER_MINUTE = 30
BACKCHANNEL_RATE_LIMITED = "too many refused logout requests from this address"
# Added to the redirect to the canonical host, so that a proxy that rewrites Host
# cannot make /auth/login redirect to itself forever.
CANONICAL_MARK = "canonical"


class AuthRoutes:
    def __init__(
        self,
        flow: LoginFlow,
        settings: Settings,
        *,
        address: PublicAddress | None = None,
        capacity: ProviderCapacity | None = None,
        rate_limit: AddressRateLimit | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``monotonic`` times the back-channel route's limit and its counted log lines."""
        self.flow = flow
        self.settings = settings
        self.address = address or PublicAddress(settings)
        self.capacity = capacity or ProviderCapacity(settings.provider_concurrency, max_wait=settings.http_timeout)
        self.rate_limit = rate_limit or AddressRateLimit(settings.rate_limit_per_minute)
        self.prefix = f"{settings.base_path}/auth"
        self._served = False
        self.logout_tokens = LogoutTokenValidator(flow.clients, clock=flow.sessions.now)
        self.backchannel_capacity = ProviderCapacity(
            BACKCHANNEL_CONCURRENCY, BACKCHANNEL_QUEUE, max_wait=settings.http_timeout
        )
        self.backchannel_rate_limit = AddressRateLimit(
            BACKCHANNEL_REFUSALS_PER_MINUTE if settings.rate_limit_per_minute > 0 else 0, clock=monotonic
        )
        self.backchannel_refusals = CountedEvent("backchannel_logout_refused", level=logging.WARNING, clock=monotonic)

    @property
    def served(self) -> bool:
        """Has a request of this process gone through a router holding these routes?

        Streamlit starts a page's script only after the page and its WebSocket were
        requested, and a router asks its routes in order whether they match each request:
        ours come first in ``st.App(..., routes=auth.routes)``. So by the first rerun this is
        True wherever the routes are mounted, and stays False where they are not (the app's
        page script started with ``streamlit run`` instead of the ``st.App`` launcher),
        without any request of its own.
        """
        return self._served

    def _mark_served(self) -> None:
        self._served = True

    def routes(self) -> list[Route]:
        return [
            _ObservedRoute(f"{self.prefix}/login", self.login, self._mark_served, methods=["GET"], name="auth_login"),
            Route(f"{self.prefix}/callback/{{provider}}", self.callback, methods=["GET"], name="auth_callback"),
            # The shared callback of earlier releases: served only while one provider is
            # configured (with several it would re-open the mix-up attack).
            Route(f"{self.prefix}/callback", self.callback, methods=["GET"], name="auth_callback_shared"),
            Route(f"{self.prefix}/logout", self.logout, methods=["GET", "POST"], name="auth_logout"),
            Route(
                f"{self.prefix}/backchannel-logout",
                self.backchannel_logout,
                methods=["POST"],
                name="auth_backchannel_logout",
            ),
        ]

    def login_href(self, provider: str, next_path: str, *, switch_account: bool = False) -> str:
        query = {"provider": provider, "next": next_path}
        if switch_account:
            query["switch"] = "1"
        return f"{self.prefix}/login?{urlencode(query)}"

    # -- handlers -------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        provider = request.query_params.get("provider")
        next_path = safe_next_path(request.query_params.get("next"), self.settings.base_path)
        known = provider if provider in self.flow.clients else None
        if not self.address.is_canonical_host(request.headers.get("host")):
            if request.query_params.get(CANONICAL_MARK) != "1":
                return self._to_canonical_host(request)
            log_event(
                "login_host_mismatch",
                level=logging.WARNING,
                host=request.headers.get("host"),
                expected=self.address.host(),
                detail="a proxy may rewrite Host; set AUTH_PUBLIC_URL",
            )
        try:
            self.rate_limit.check(client_address(request))
        except TooManyAttempts as error:
            return self._failure(error, provider=known, next_path=next_path)
        if provider is None or known is None:
            return self._unknown_provider(provider)
        switch = request.query_params.get("switch") == "1"
        try:
            await self._check_store()
            if self.flow.clients[provider].has_fresh_metadata():
                # Nothing to fetch: no thread, and no slot a burst of sign-ins would compete for.
                start = self.flow.begin(provider, next_path, switch_account=switch)
            else:
                start = await self.capacity.run(self.flow.begin, provider, next_path, switch_account=switch)
        except LoginError as error:
            return self._failure(error, provider=provider, next_path=next_path)
        log_event("login_started", level=logging.DEBUG, provider=provider)
        response = RedirectResponse(start.authorization_url, status_code=302, headers=SECURITY_HEADERS)
        for name in self.flow.transactions.surplus(request.cookies):
            self._delete_transaction_cookie(response, name)
        response.set_cookie(
            start.cookie_name,
            start.cookie_value,
            max_age=TRANSACTION_MAX_AGE,
            path=self.flow.transactions.path,
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return response

    async def callback(self, request: Request) -> Response:
        started = time.perf_counter()
        provider = request.path_params.get("provider")
        if provider is None and len(self.flow.clients) == 1:
            provider = next(iter(self.flow.clients))
        if provider not in self.flow.clients:
            return self._unknown_callback(provider)
        params = {key: value[:MAX_PARAM_LENGTH] for key, value in request.query_params.items()}
        transaction: LoginTransaction | None = None
        try:
            self.rate_limit.check(client_address(request))
            transaction = self.flow.open_transaction(params, request.cookies, callback_provider=provider)
            result = await self.capacity.run(self.flow.complete, transaction, params)
        except LoginError as error:
            if isinstance(error, LoginTransactionMissing) and not self.address.is_canonical_host(
                request.headers.get("host")
            ):
                error = self._other_host(error)
            response = self._failure(
                error,
                provider=transaction.provider if transaction else None,
                next_path=transaction.next_path if transaction else None,
                started=started,
            )
            self._forget_transactions(response, request, transaction)
            return response
        identity = result.identity
        log_event(
            "login",
            provider=identity.provider,
            sub=identity.sub,
            email=identity.email,
            dropped_claims=",".join(result.dropped_claims),
            ms=round((time.perf_counter() - started) * 1000),
        )
        response = RedirectResponse(result.next_path, status_code=302, headers=SECURITY_HEADERS)
        response.set_cookie(
            self.settings.cookie_name,
            result.session_cookie,
            max_age=self.flow.sessions.cookie_max_age,
            path=self.settings.cookie_path,
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
        self._forget_transactions(response, request, transaction)
        return response

    async def logout(self, request: Request) -> Response:
        """End the session in the store first (a copied cookie is useless from then on),
        delete the cookie, then sign out at the provider when it allows and wants that.

        Signing out changes state, so it happens on a same-origin POST (the account
        panel's buttons), or on a GET that is verifiably the user's own click on a
        link of this app (Fetch Metadata: a same-origin, user-activated top-level
        navigation). Anything else gets the "Sign out?" page with a button: an image
        or link in content the app renders (``![](/auth/logout?everywhere=1)``), a
        page of another site, or a browser that does not say where a request came from
        must not sign anyone out silently.
        """
        everywhere = request.query_params.get("everywhere") == "1"
        if not self._sign_out_confirmed(request):
            return self._confirm_logout(everywhere, from_other_site=self._cross_site(request))
        sessions = self.flow.sessions
        try:
            ended = await run_in_threadpool(
                sessions.end, request.cookies.get(self.settings.cookie_name), everywhere=everywhere
            )
        except StoreUnavailable as error:
            sessions.report_fault(error, "end")
            return self._sign_out_failed(everywhere)
        state = sessions.sign_out_state()
        target = f"{app_root(self.settings.base_path)}?{urlencode({'state': state})}"
        if ended is not None:
            target = await self._provider_sign_out(ended, state) or target
        response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(
            self.settings.cookie_name,
            path=self.settings.cookie_path,
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return response

    async def _provider_sign_out(self, ended: EndedSession, state: str) -> str | None:
        """The provider's end-session URL to send the browser to, or None after revoking the
        tokens where the provider has no end-session endpoint (Google) or nothing to do."""
        client = self.flow.clients.get(ended.provider)
        if client is None or client.settings.logout != "provider":
            return None
        tokens = ended.tokens

        def sign_out() -> tuple[str | None, str]:
            url = client.end_session_url(
                post_logout_redirect_uri=self.address.post_logout_redirect_uri(),
                state=state,
                id_token_hint=tokens.id_token if tokens else None,
            )
            if url is not None:
                return url, "end_session"
            if tokens is None or not client.can_revoke():
                return None, "none"
            for token, hint in ((tokens.refresh_token, "refresh_token"), (tokens.access_token, "access_token")):
                if token:
                    client.revoke_token(token, hint)
            return None, "revocation"

        try:
            if client.has_fresh_metadata() and (tokens is None or client.metadata().get("end_session_endpoint")):
                url, method = sign_out()  # no HTTP: discovery is cached and nothing is revoked
            else:
                url, method = await self.capacity.run(sign_out)
        except LoginError as error:
            log_event("provider_logout_failed", level=logging.WARNING, provider=ended.provider, detail=error.detail)
            return None
        log_event("provider_logout", provider=ended.provider, method=method)
        return url

    def _sign_out_confirmed(self, request: Request) -> bool:
        """Does this request show that the user of this app asked to sign out?

        POST: from a page of this origin (``Sec-Fetch-Site: same-origin``; where a
        browser sends no Fetch Metadata, an ``Origin`` of this app). GET: only a
        user-activated top-level navigation from this origin (``Sec-Fetch-Site:
        same-origin``, ``Sec-Fetch-Mode: navigate``, ``Sec-Fetch-Dest: document``,
        ``Sec-Fetch-User: ?1``; Fetch Metadata Request Headers, W3C). A GET without
        those headers (older browsers, a typed address) is asked to confirm: the
        stricter answer, and one click for the few it affects.
        """
        headers = request.headers
        site = headers.get("sec-fetch-site", "").lower()
        if request.method == "POST":
            if site:
                return site == "same-origin"
            origin = headers.get("origin")
            return origin is not None and self._own_origin(request, origin)
        return (
            request.method == "GET"  # not HEAD, which Starlette serves here too: it must stay safe
            and site == "same-origin"
            and headers.get("sec-fetch-mode", "").lower() == "navigate"
            and headers.get("sec-fetch-dest", "").lower() == "document"
            and headers.get("sec-fetch-user") == "?1"
        )

    def _cross_site(self, request: Request) -> bool:
        """Started by a page of another site (Fetch Metadata, else Origin)?"""
        if request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return True
        origin = request.headers.get("origin")
        return origin is not None and not self._own_origin(request, origin)

    def _own_origin(self, request: Request, origin: str) -> bool:
        """``Origin`` is this app's: scheme, host and port exactly as a browser serializes
        them (RFC 6454 §6.2), equal to the public URL's origin or to the origin this request
        was made to. ``null`` (a sandboxed frame, a data: page), another scheme, a path or
        anything a browser would not send is not."""
        if not _SERIALIZED_ORIGIN.fullmatch(origin):
            return False
        scheme = request.url.scheme
        own = {
            _serialized_origin(self.address.origin()),
            _serialized_origin(f"{scheme}://{normalize_host(request.headers.get('host') or '', scheme)}"),
        }
        return origin in own

    def _confirm_logout(self, everywhere: bool, *, from_other_site: bool) -> Response:
        log_event("logout_confirmation_shown", level=logging.DEBUG, other_site=from_other_site or None)
        action = f"{self.prefix}/logout" + ("?everywhere=1" if everywhere else "")
        label = "Sign out everywhere" if everywhere else "Sign out"
        if from_other_site:
            message = "Another site asked to sign you out of this app. Sign out only if you meant to."
        elif everywhere:
            message = "Do you want to sign out of this app on every device and browser?"
        else:
            message = "Do you want to sign out of this app?"
        return page(
            "Sign out?",
            message,
            status=200,
            forms=[(label, action)],
            links=[("Stay signed in", app_root(self.settings.base_path))],
        )

    def _sign_out_failed(self, everywhere: bool) -> Response:
        action = f"{self.prefix}/logout" + ("?everywhere=1" if everywhere else "")
        return page(
            "Sign-out did not complete",
            "Signing out is temporarily unavailable, so you are still signed in. Please try again in a minute.",
            status=503,
            forms=[("Try again", action)],
            links=[("Back to the app", app_root(self.settings.base_path))],
            headers={"Retry-After": str(SessionStoreDown.retry_after)},
        )

    async def backchannel_logout(self, request: Request) -> Response:
        """OpenID Connect Back-Channel Logout 1.0 §2.5–2.8: the provider ends sessions
        server to server. 200 when done; 400 with a JSON ``error`` for anything else,
        never a 5xx (the spec's answer for a failed logout is 400), except 429 with
        ``Retry-After`` for an address past its budget of refusals.

        Anyone can POST here, so the route guards what a flood could take: validation runs
        under its own small capacity (``backchannel_capacity``), never sign-in's; refusals
        are charged to the client address (``backchannel_rate_limit``), and identical ones
        are logged once with a count (``backchannel_refusals``)."""
        if not self.flow.sessions.stateful:
            # Without a store there is no session to end: saying "done" would mislead the provider.
            return self._backchannel_refused(
                "invalid_request", "back-channel logout needs a session store, and AUTH_STORE is none"
            )
        address = client_address(request)
        try:
            self.backchannel_rate_limit.admit(address)
        except TooManyAttempts as error:
            return self._backchannel_refused(
                "temporarily_unavailable",
                BACKCHANNEL_RATE_LIMITED,
                status=429,
                headers={"Retry-After": str(error.retry_after)},
            )
        try:
            token = await _logout_token_of(request)
            logout = await self.backchannel_capacity.run(self.logout_tokens.validate, token)
            count = await run_in_threadpool(
                self.flow.sessions.end_for_provider,
                logout.provider,
                sub=logout.sub,
                sid=logout.sid,
                jti=logout.jti,
                until=logout.replay_until,
            )
        except (InvalidLogoutToken, LogoutTokenReplayed) as error:
            self.backchannel_rate_limit.charge(address)  # the sender's doing: it counts against them
            return self._backchannel_refused("invalid_request", str(error))
        except LoginError as error:  # busy: the provider may retry
            return self._backchannel_refused("temporarily_unavailable", error.user_message)
        except StoreUnavailable as error:
            self.flow.sessions.report_fault(error, "end")
            return self._backchannel_refused("temporarily_unavailable", "session store unavailable")
        log_event("backchannel_logout", level=logging.DEBUG, provider=logout.provider, sessions=count)
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    def _backchannel_refused(
        self, error: str, description: str, *, status: int = 400, headers: dict[str, str] | None = None
    ) -> Response:
        self.backchannel_refusals.log(error=error, detail=description)
        return JSONResponse(
            {"error": error, "error_description": description},
            status_code=status,
            headers={"Cache-Control": "no-store", **(headers or {})},
        )

    async def _check_store(self) -> None:
        """Refuse to start a sign-in the store could not record (503 page, not a lost sign-in)."""
        if not self.flow.sessions.stateful:
            return
        try:
            await run_in_threadpool(self.flow.sessions.ping_recently)
        except StoreUnavailable as error:
            self.flow.sessions.report_fault(error, "ping")
            raise SessionStoreDown(f"session store: {error.failure}") from None

    # -- redirects and failures ---------------------------------------------------

    def _to_canonical_host(self, request: Request) -> Response:
        """Sign-in sets cookies for the host it runs on, and the provider returns to
        AUTH_PUBLIC_URL's host: start there, or the callback finds no transaction."""
        query = [(key, value) for key, value in request.query_params.multi_items() if key != CANONICAL_MARK]
        query.append((CANONICAL_MARK, "1"))
        target = f"{self.address.origin()}{request.url.path}?{urlencode(query)}"
        return RedirectResponse(target, status_code=302, headers=SECURITY_HEADERS)

    def _other_host(self, error: LoginError) -> LoginError:
        origin = self.address.url()
        return LoginTransactionMissing(
            f"{error.detail}; request host is not {self.address.host()}",
            user_message=(
                f"{error.user_message} This app's address is {origin}: if you opened it at another "
                f"address (such as 127.0.0.1 instead of localhost), open {origin} and sign in there."
            ),
        )

    def _failure(
        self,
        error: LoginError,
        *,
        provider: str | None,
        next_path: str | None,
        started: float | None = None,
    ) -> Response:
        reference = secrets.token_hex(4)
        log_event(
            "login_failed",
            level=logging.WARNING,
            reason=error.reason,
            provider=provider,
            status=error.status,
            detail=error.detail,
            ref=reference,
            ms=round((time.perf_counter() - started) * 1000) if started else None,
        )
        next_path = next_path or app_root(self.settings.base_path)
        root = app_root(self.settings.base_path)
        if isinstance(error, AccessDenied) and provider:
            return page(
                "Your account is not allowed here",
                error.user_message,
                status=error.status,
                links=[
                    ("Sign in with a different account", self.login_href(provider, next_path, switch_account=True)),
                    ("Back to the app", root),
                ],
                details=[f"Signed in at the provider as {error.account}."] if error.account else [],
                reference=reference,
            )
        details = []
        if isinstance(error, ProviderRejected) and error.error in REGISTRATION_ERRORS and provider:
            label = self.flow.clients[provider].settings.label
            details.append(
                f"For administrators: the redirect URI registered at {label} must be exactly "
                f"{self.address.redirect_uri(provider)}"
            )
        headers = {}
        if isinstance(error, (ProviderBusy, TooManyAttempts, SessionStoreDown)):
            headers["Retry-After"] = str(error.retry_after)
        retry = self.login_href(provider, next_path) if provider else root
        return page(
            "Sign-in did not complete",
            error.user_message,
            status=error.status,
            links=[("Try again", retry), ("Back to the app", root)],
            details=details,
            reference=reference,
            headers=headers,
        )

    def _unknown_provider(self, provider: str | None) -> Response:
        error = UnknownProvider(f"unknown provider {provider!r}")
        log_event("login_failed", level=logging.WARNING, reason=error.reason, status=400)
        root = app_root(self.settings.base_path)
        links = [
            (f"Sign in with {client.settings.label}", self.login_href(name, root))
            for name, client in self.flow.clients.items()
        ]
        return page(
            "Unknown sign-in provider",
            "That sign-in provider is not configured for this app. Choose one of these:",
            status=400,
            links=links,
            details=["Valid providers: " + ", ".join(self.flow.clients)],
        )

    def _unknown_callback(self, provider: str | None) -> Response:
        """A callback address that no configured provider uses; names the ones that exist."""
        log_event("login_failed", level=logging.WARNING, reason="unknown_callback", status=404)
        uris = [
            f"{client.settings.label}: {self.address.redirect_uri(name)}" for name, client in self.flow.clients.items()
        ]
        message = (
            "This sign-in response arrived at an address that no sign-in provider of this app uses, "
            "so nobody was signed in."
        )
        if provider is None:
            message = (
                "This app has several sign-in providers and each has its own callback address, "
                "so this shared address is not used. Nobody was signed in."
            )
        return page(
            "Sign-in did not complete",
            message,
            status=404,
            links=[("Back to the app", app_root(self.settings.base_path))],
            details=["For administrators, the redirect URIs to register:", *uris],
        )

    def _forget_transactions(self, response: Response, request: Request, transaction: LoginTransaction | None) -> None:
        """Delete the used (or unusable) transaction cookie so a retry starts clean."""
        names = {self.flow.transactions.cookie_name(transaction.state)} if transaction else set()
        state = request.query_params.get("state")
        if state:
            names.add(self.flow.transactions.cookie_name(state))
        for name in names:
            if name in request.cookies and self.flow.transactions.is_own_name(name):
                self._delete_transaction_cookie(response, name)

    def _delete_transaction_cookie(self, response: Response, name: str) -> None:
        response.delete_cookie(
            name,
            path=self.flow.transactions.path,
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )


# What a browser sends as ``Origin`` for an http(s) page: lower-case scheme and host, and the
# port only when it is not the scheme's default (RFC 6454 §6.2). No path, no userinfo, no spaces.
_SERIALIZED_ORIGIN = re.compile(r"https?://(?:[a-z0-9.\-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def _serialized_origin(url: str) -> str:
    """``url``'s origin as a browser would send it: lower case, no default port."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{normalize_host(parts.netloc, parts.scheme.lower())}"


class _ObservedRoute(Route):
    """A ``Route`` that calls ``seen`` whenever a router asks it whether it matches a request
    (see ``AuthRoutes.served``): one attribute write per request, on the first route only."""

    def __init__(self, path: str, endpoint: Callable[..., Any], seen: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._seen = seen

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        self._seen()
        return super().matches(scope)


def client_address(request: Request) -> str:
    """The client's address as the server sees it (uvicorn applies X-Forwarded-For
    only from trusted proxies: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"


async def _logout_token_of(request: Request) -> str:
    """§2.5: the one ``logout_token`` of a form-encoded body; ``InvalidLogoutToken`` otherwise."""
    body = await _read_limited(request, MAX_LOGOUT_REQUEST_BYTES)
    if body is None:
        raise InvalidLogoutToken("request body too large")
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    tokens = [value for key, value in pairs if key == "logout_token"]
    if len(tokens) != 1 or not tokens[0]:
        raise InvalidLogoutToken("exactly one logout_token is required")
    return tokens[0]


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it grows past ``limit`` (never read further)."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)
