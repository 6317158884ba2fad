"""The HTTP side: ``/auth/login``, ``/auth/callback``, ``/auth/logout`` as Starlette routes.

Thin on purpose: each handler reads the request, calls ``LoginFlow`` in a
worker thread (it blocks on the provider), and turns the outcome into a
redirect with cookies or into a readable page. Every ``LoginError`` becomes
a response in ``_failure``; nothing else decides statuses.
"""

from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .config import Settings
from .errors import AccessDenied, LoginError, UnknownProvider
from .events import log_event
from .login import LoginFlow
from .pages import SECURITY_HEADERS, page
from .redirects import app_root, safe_next_path
from .transaction import TRANSACTION_MAX_AGE, LoginTransaction

logger = logging.getLogger("auth")

MAX_PARAM_LENGTH = 4096


class AuthRoutes:
    def __init__(self, flow: LoginFlow, settings: Settings) -> None:
        self.flow = flow
        self.settings = settings
        self.prefix = f"{settings.base_path}/auth"

    def routes(self) -> list[Route]:
        return [
            Route(f"{self.prefix}/login", self.login, methods=["GET"], name="auth_login"),
            Route(f"{self.prefix}/callback", self.callback, methods=["GET"], name="auth_callback"),
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
        if provider not in self.flow.clients:
            return self._unknown_provider(provider)
        switch = request.query_params.get("switch") == "1"
        try:
            start = await run_in_threadpool(self.flow.begin, provider, next_path, switch_account=switch)
        except LoginError as error:
            return self._failure(error, provider=provider, next_path=next_path)
        log_event("login_started", level=logging.DEBUG, provider=provider)
        response = RedirectResponse(start.authorization_url, status_code=302, headers=SECURITY_HEADERS)
        response.set_cookie(
            start.cookie_name,
            start.cookie_value,
            max_age=TRANSACTION_MAX_AGE,
            path=f"{self.prefix}/callback",
            secure=self.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return response

    async def callback(self, request: Request) -> Response:
        started = time.perf_counter()
        params = {key: value[:MAX_PARAM_LENGTH] for key, value in request.query_params.items()}
        transaction: LoginTransaction | None = None
        try:
            transaction = self.flow.open_transaction(params, request.cookies)
            result = await run_in_threadpool(self.flow.complete, transaction, params)
        except LoginError as error:
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
            provider=identity["provider"],
            sub=identity["sub"],
            email=identity.get("email"),
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

    # -- failures ---------------------------------------------------------------

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
        if isinstance(error, AccessDenied) and provider:
            return page(
                "Your account is not allowed here",
                error.user_message,
                status=error.status,
                links=[
                    ("Sign in with a different account", self.login_href(provider, next_path, switch_account=True)),
                    ("Back to the app", app_root(self.settings.base_path)),
                ],
                details=[f"Signed in at the provider as {error.account}."] if error.account else [],
                reference=reference,
            )
        retry = self.login_href(provider, next_path) if provider else app_root(self.settings.base_path)
        return page(
            "Sign-in did not complete",
            error.user_message,
            status=error.status,
            links=[("Try again", retry), ("Back to the app", app_root(self.settings.base_path))],
            reference=reference,
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

    def _forget_transactions(
        self, response: Response, request: Request, transaction: LoginTransaction | None
    ) -> None:
        """Delete the used (or unusable) transaction cookie so a retry starts clean."""
        names = {self.flow.transactions.cookie_name(transaction.state)} if transaction else set()
        state = request.query_params.get("state")
        if state:
            names.add(self.flow.transactions.cookie_name(state))
        for name in names:
            if name in request.cookies:
                response.delete_cookie(
                    name,
                    path=f"{self.prefix}/callback",
                    secure=self.settings.cookie_secure,
                    httponly=True,
                    samesite="lax",
                )
