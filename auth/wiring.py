"""``Auth``: the one object an app creates; it wires the parts together (only here).

Created once per process in the app's launcher (``app.py``), which hands
``auth.routes`` to ``st.App`` and lets page scripts import the same
instance. Protocol logic lives in the modules it composes; the Streamlit
calls live in ``auth.ui``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.routing import Route
from streamlit.navigation.page import StreamlitPage

from . import ui
from .access import AccessPolicy
from .address import PublicAddress, streamlit_port
from .config import Settings, load_settings, read_environment
from .errors import AccessDenied, ConfigurationError, RefreshRefused
from .events import log_event
from .identity import SessionStatus, User
from .login import LoginFlow
from .oidc import ProviderClient
from .routes import AuthRoutes
from .session_cookie import SessionCookie
from .sessions import Sessions
from .stores.base import SessionStore, StoreUnavailable
from .stores.factory import open_store
from .tokens import DEFAULT_MIN_VALIDITY, AccessToken, AccessTokens
from .transaction import TransactionCookies

logger = logging.getLogger("auth")
_FROM_AUTH_ENV_FILE = object()  # from_environment's default: AUTH_ENV_FILE, else ./.env


class Auth:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        port: Callable[[], int] | None = None,
        store: SessionStore | None = None,
    ) -> None:
        """``port`` reports the port Streamlit serves on, for an app without
        AUTH_PUBLIC_URL (``from_environment`` passes Streamlit's). ``store`` replaces
        the one ``AUTH_STORE`` names (tests share one between apps). ``monotonic`` times
        what protects providers and the log from floods: remembered provider failures,
        the JWKS throttle, the back-channel route's limit and its counted log lines."""
        self.settings = settings
        self.address = PublicAddress(settings, port=port)
        self.store = store if store is not None else open_store(settings.store, app_id=settings.app_id)
        access = AccessPolicy(settings.access)
        self.sessions = Sessions(
            SessionCookie(
                settings.cookie_secrets,
                name=settings.cookie_name,
                timeout=settings.session_lifetime,
                clock=clock,
                accepted_issuers={p.name: p.accepted_issuers for p in settings.providers},
                app_id=settings.app_id,
            ),
            self.store,
            secrets=settings.cookie_secrets,
            idle_timeout=settings.session_timeout,
            max_age=settings.session_lifetime,
            clock=clock,
            admit=functools.partial(_admit, access, settings),
        )
        self.transactions = TransactionCookies(
            settings.cookie_secrets,
            cookie_prefix=settings.cookie_name,
            path=f"{settings.base_path}/auth",
            clock=clock,
        )
        self.clients = {
            p.name: ProviderClient(
                p,
                redirect_uri=functools.partial(self.address.redirect_uri, p.name),
                timeout=settings.http_timeout,
                clock=clock,
                monotonic=monotonic,
                insecure_hosts=settings.insecure_provider_hosts,
            )
            for p in settings.providers
        }
        self.flow = LoginFlow(
            clients=self.clients,
            sessions=self.sessions,
            transactions=self.transactions,
            access=access,
            base_path=settings.base_path,
        )
        self.http = AuthRoutes(self.flow, settings, address=self.address, monotonic=monotonic)
        self.tokens = AccessTokens(self.sessions, self.flow, http_timeout=settings.http_timeout, clock=clock)
        self.page_rules = ui.PageRules()
        logout_url = f"{settings.base_path}/auth/logout"
        self.ui = ui.SignInUi(
            check_session=self._check_session,
            now=clock,
            cookie_name=settings.cookie_name,
            base_path=settings.base_path,
            session_timeout=settings.session_timeout,
            providers=tuple(ui.ProviderButton(p.name, p.label, p.icon) for p in settings.providers),
            login_href=self.http.login_href,
            logout_url=logout_url,
            stay_signed_in=self._stay_signed_in if self.sessions.stateful else None,
            confirms_sign_out=self.sessions.confirms_sign_out,
            logout_everywhere_url=f"{logout_url}?everywhere=1" if self.sessions.stateful else None,
            routes_served=lambda: self.http.served,
            shape=ui.AppShape(),
        )

    def _check_session(self, value: str | None, activity: bool) -> SessionStatus:
        return self.sessions.check(value, activity=activity)

    def _stay_signed_in(self, value: str | None) -> SessionStatus:
        return self.sessions.check(value, force_touch=True)

    @classmethod
    def from_environment(
        cls,
        *,
        dotenv_path: str | Path | None | object = _FROM_AUTH_ENV_FILE,
        environ: Mapping[str, str] | None = None,
        base_path: str | None = None,
    ) -> Auth:
        """Settings from the environment over a settings file; raises ``ConfigurationError``.

        The file is ``AUTH_ENV_FILE`` (empty for none), else ``.env`` in the
        working directory, unless ``dotenv_path`` names one. ``base_path`` and the
        port default to Streamlit's ``server.baseUrlPath`` and ``server.port``, so
        routes, cookies and the default public URL follow wherever Streamlit serves.
        """
        if dotenv_path is _FROM_AUTH_ENV_FILE:
            dotenv_path = os.environ.get("AUTH_ENV_FILE", ".env") or None
        env = dict(environ) if environ is not None else read_environment(dotenv_path)  # type: ignore[arg-type]
        from streamlit import config as streamlit_config

        if base_path is None:
            base_path = streamlit_config.get_option("server.baseUrlPath") or ""
        settings = load_settings(env, base_path=base_path, port=streamlit_port())
        configure_logging(settings.log_level)
        for warning in settings.warnings:
            log_event("configuration_warning", level=logging.WARNING, detail=warning)
        if not settings.public_url_explicit:
            log_event(
                "public_url_default",
                level=logging.WARNING,
                url=settings.public_url,
                detail="AUTH_PUBLIC_URL is not set: sign-in works only at this URL; register "
                + ", ".join(settings.redirect_uri(p.name) for p in settings.providers),
            )
        auth = cls(settings, port=streamlit_port)
        log_event("session_store", backend=settings.store.describe())
        try:
            auth.sessions.ping()  # creates the SQLite file now: an unwritable path shows at start-up
        except StoreUnavailable as error:
            log_event(
                "session_store_unavailable",
                level=logging.WARNING,
                operation="startup",
                backend=error.backend,
                failure=error.failure,
                detail="sign-in answers 'temporarily unavailable' until the store answers",
            )
        return auth

    @classmethod
    def from_environment_or_exit(cls, **kwargs: object) -> Auth:
        """For launchers: print the configuration problems and stop, without a traceback."""
        try:
            return cls.from_environment(**kwargs)  # type: ignore[arg-type]
        except ConfigurationError as error:
            print(error, file=sys.stderr)
            raise SystemExit(2) from None

    @property
    def routes(self) -> list[Route]:
        """The ``/auth/*`` routes for ``st.App(..., routes=auth.routes)``."""
        return self.http.routes()

    # -- the Streamlit-facing API (see auth.ui) ---------------------------------

    def current_user(self, *, activity: bool = False) -> User | None:
        """The signed-in user of this rerun, or None. Never shows anything.

        Not activity by default: an ``st.fragment(run_every=…)`` that asks who is signed
        in must not keep an unattended session alive. Pass ``activity=True`` where the
        call answers something the user did (a page that uses only ``current_user``).
        """
        return ui.current_user(self.ui, activity=activity)

    def require_login(self, *, show_account: bool = True, activity: bool = True) -> User:
        """The signed-in user; otherwise shows the login page and stops the script.

        Counts as activity (postpones the idle timeout) unless ``activity=False``: pass
        that from code that runs on a timer rather than because the user did something.
        """
        return ui.require_login(self.ui, show_account=show_account, activity=activity)

    def require_role(self, *roles: str, activity: bool = True) -> User:
        """The signed-in user if they have any of ``roles``; otherwise a refusal and stop."""
        return ui.require_access(self.ui, roles=roles, activity=activity)

    def require_group(self, *groups: str, activity: bool = True) -> User:
        return ui.require_access(self.ui, groups=groups, activity=activity)

    def restrict(self, page: StreamlitPage, *, roles: Sequence[str] = (), groups: Sequence[str] = ()) -> StreamlitPage:
        """Mark an ``st.Page`` as visible only to users with any of ``roles`` / ``groups``
        (both, when both are given); returns the page, for ``navigation``."""
        return self.page_rules.restrict(page, ui.PageRule(roles=tuple(roles), groups=tuple(groups)))

    def navigation(
        self,
        pages: ui.NavigationPages,
        *,
        position: ui.NavigationPosition = "sidebar",
        expanded: bool | int = False,
    ) -> StreamlitPage:
        """``st.navigation`` for the signed-in user, taking what it takes: a list of pages
        (``st.Page`` objects, or the files and functions ``st.Page`` is given) or a dict of
        section labels to lists, ``position`` (``"sidebar"``, ``"top"``, ``"hidden"``) and
        ``expanded``. Pages the user may not open (``restrict``) are hidden from the menu,
        sections left empty with them, and such a page opened by URL answers with a refusal.
        Signed out, every page shows the login view and the menu is hidden."""
        return ui.navigation(self.ui, self.page_rules, pages, position=position, expanded=expanded)

    def pages_folder(self, home: str | Path, folder: str) -> list[StreamlitPage]:
        """The pages of an app that had a ``pages/`` folder, for ``navigation``: ``home``
        first (the default page: what the entry script showed), then ``folder``'s files in
        the order Streamlit's own menu showed them. Rename the folder first (Streamlit
        serves the files of any folder named ``pages`` on their own): with
        ``auth.navigation(auth.pages_folder("home.py", "app_pages")).run()`` as the entry
        script, every page is behind sign-in."""
        if Path(folder).name == "pages":
            raise ValueError(
                "rename the pages folder (e.g. to app_pages): Streamlit serves the files of a folder "
                "named pages on their own, without sign-in"
            )
        return ui.folder_pages(home, folder)

    def access_token(self, *, min_validity: float = DEFAULT_MIN_VALIDITY) -> AccessToken:
        """An access token for calling APIs as the signed-in user, with at least
        ``min_validity`` seconds left (refreshed first when needed, once for all tabs and
        replicas). Raises a ``TokenError`` (``NoTokens``, ``RefreshUnavailable``, …) whose
        ``user_message`` a page can show. When the provider refuses the refresh, the
        session ends and the page reruns into the login page, which says why."""
        try:
            return self.tokens.get(ui.session_cookie(self.ui), min_validity=min_validity)
        except RefreshRefused:
            ui.rerun_app()
            raise

    def provider_metadata(self, provider: str) -> Mapping[str, Any]:
        """The provider's discovery document (cached), e.g. its ``userinfo_endpoint``."""
        client = self.clients.get(provider)
        if client is None:
            raise KeyError(f"no provider {provider!r}")
        return dict(client.metadata())

    def login_url(self, provider: str, next_path: str | None = None) -> str:
        return self.http.login_href(provider, next_path or f"{self.settings.base_path}/")

    @property
    def logout_url(self) -> str:
        return self.ui.logout_url


def _admit(access: AccessPolicy, settings: Settings, user: User) -> None:
    """The access rules for a session's identity on every check (``AccessDenied`` if refused)."""
    provider = settings.provider(user.provider)
    if provider is None:
        raise AccessDenied(f"provider {user.provider} is no longer configured")
    access.check(user, provider)


class _FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes sign-in lines to stderr only while the root logger has no handler.

    Streamlit configures only its own loggers, so without this our lines
    would be dropped; but once the app configures logging (before or after
    us), its handlers receive them by propagation and this one keeps quiet,
    so nothing is swallowed and nothing is written twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def configure_logging(level: str = "INFO") -> None:
    """Set the ``auth`` logger's level and make sure its lines are seen somewhere."""
    auth_logger = logging.getLogger("auth")
    if not any(isinstance(handler, _FallbackHandler) for handler in auth_logger.handlers):
        handler = _FallbackHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s auth: %(message)s"))
        auth_logger.addHandler(handler)
    auth_logger.setLevel(logging.getLevelNamesMapping().get(level.upper(), logging.INFO))
