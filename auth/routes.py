"""The HTTP side: ``/auth/login``, ``/auth/callback/<provider>``, ``/auth/logout`` as Starlette routes.

Thin on purpose: each handler reads the request, calls ``LoginFlow`` under the
provider-call capacity (it blocks on the provider), and turns the outcome into
a redirect with cookies or into a readable page. Every ``LoginError`` becomes
a response in ``_failure``; nothing else decides statuses.
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .address import PublicAddress
from .config import Settings
from .errors import (
    REGISTRATION_ERRORS,
    AccessDenied,
    LoginError,
    LoginTransactionMissing,
    ProviderBusy,
    ProviderRejected,
    TooManyAttempts,
    UnknownProvider,
)
from .events import log_event
from .html_pages import SECURITY_HEADERS, page
from .login import LoginFlow
from .redirects import app_root, safe_next_path
from .throttle import AddressRateLimit, ProviderCapacity
from .transaction import TRANSACTION_MAX_AGE, LoginTransaction

MAX_PARAM_LENGTH = 4096
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
    ) -> None:
        self.flow = flow
        self.settings = settings
        self.address = address or PublicAddress(settings)
        self.capacity = capacity or ProviderCapacity(settings.provider_concurrency, max_wait=settings.http_timeout)
        self.rate_limit = rate_limit or AddressRateLimit(settings.rate_limit_per_minute)
        self.prefix = f"{settings.base_path}/auth"

    def routes(self) -> list[Route]:
        return [
            Route(f"{self.prefix}/login", self.login, methods=["GET"], name="auth_login"),
            Route(f"{self.prefix}/callback/{{provider}}", self.callback, methods=["GET"], name="auth_callback"),
            # The shared callback of earlier releases: served only while one provider is
            # configured (with several it would re-open the mix-up attack).
            Route(f"{self.prefix}/callback", self.callback, methods=["GET"], name="auth_callback_shared"),
            Route(f"{self.prefix}/logout", self.logout, methods=["GET"], name="auth_logout"),
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
            max_age=int(self.settings.session_timeout),
            path=self.settings.cookie_path,
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
        self._forget_transactions(response, request, transaction)
        return response

    async def logout(self, request: Request) -> Response:
        user = self.flow.sessions.verify(request.cookies.get(self.settings.cookie_name))
        if user is not None:
            log_event("logout", provider=user.provider, sub=user.sub)
        response = RedirectResponse(app_root(self.settings.base_path), status_code=302, headers=SECURITY_HEADERS)
        response.delete_cookie(
            self.settings.cookie_name,
            path=self.settings.cookie_path,
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return response

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
        if isinstance(error, (ProviderBusy, TooManyAttempts)):
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


def client_address(request: Request) -> str:
    """The client's address as the server sees it (uvicorn applies X-Forwarded-For
    only from trusted proxies: FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "unknown"
