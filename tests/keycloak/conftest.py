"""One real Keycloak for the whole test run (tests/support/keycloak.py), and the real app against it.

Keycloak starts when the first test that needs it runs and stops at the end of the run;
every test here shares it. Tests that change Keycloak (sessions, a disabled user, realm
settings) undo what they changed, so the order of the tests does not matter.

The imported realm names one app port (``KeycloakServer.app_port``): its redirect, post-logout
and back-channel URLs. So every module starts its own app on that port (``keycloak_app`` and the
like are module-scoped), one module after another; none changes the client's URLs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from auth.identity import User
from auth.stores.base import SessionRecord
from scripts.keycloak_realm import load_realm
from tests.support.app_process import AppProcess
from tests.support.cookies import app_session_cookie, app_sqlite_store
from tests.support.keycloak import START_DEADLINE, KeycloakServer
from tests.support.keycloak_admin import KeycloakAdmin
from tests.support.keycloak_login import browser_session

#: pytest's per-test limit (pyproject.toml) is 120 s; the test that first needs Keycloak waits
#: for it to start as well. Only tests using the ``keycloak`` fixture get the longer limit.
KEYCLOAK_TEST_TIMEOUT = int(START_DEADLINE) + 120
#: the app's default AUTH_COOKIE_NAME
COOKIE_NAME = "streamlit_auth"
#: Playwright's default wait in these tests: Keycloak's pages and the app share two cores
BROWSER_TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "keycloak" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(KEYCLOAK_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def keycloak() -> Iterator[KeycloakServer]:
    server = KeycloakServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def keycloak_admin(keycloak: KeycloakServer) -> KeycloakAdmin:
    return keycloak.admin()


@pytest.fixture(autouse=True)
def _no_keycloak_session_left(keycloak_admin: KeycloakAdmin) -> Iterator[None]:
    """Every test here starts without a Keycloak session of the demo users: the server is shared."""
    yield
    for user in load_realm()["users"]:
        keycloak_admin.logout_user(keycloak_admin.user(user["username"])["id"])


@dataclass
class KeycloakApp:
    """The demo app (``streamlit run app.py``) signing in against the real Keycloak."""

    app: AppProcess
    keycloak: KeycloakServer
    cookie_secret: str

    @property
    def url(self) -> str:
        return self.app.url

    @property
    def issuer(self) -> str:
        return self.keycloak.issuer

    def user(self, browser: requests.Session) -> User | None:
        """The user the browser's session cookie names, as the app's pages would see it."""
        return self.user_of(browser.cookies.get(COOKIE_NAME))

    def user_of(self, cookie_value: str | None) -> User | None:
        """The user a session cookie's value names (its signature is salted with the app id)."""
        return app_session_cookie(self.cookie_secret, public_url=self.url).verify(cookie_value)

    def record(self, session_id: str | None) -> SessionRecord:
        """The app's own row of its SQLite session store for ``session_id``."""
        assert session_id is not None
        store = app_sqlite_store(self.app.store_path, public_url=self.url, cookie_name=COOKIE_NAME)
        try:
            found = store.get(session_id)
        finally:
            store.close()
        assert found is not None
        return found


@pytest.fixture(scope="module")
def keycloak_app(keycloak: KeycloakServer) -> Iterator[KeycloakApp]:
    """The app on the port the imported realm names, with ``scripts/keycloak-app.env``'s settings."""
    cookie_secret = secrets.token_urlsafe(32)
    with AppProcess(keycloak.app_environment(cookie_secret), port=keycloak.app_port) as app:
        yield KeycloakApp(app=app, keycloak=keycloak, cookie_secret=cookie_secret)


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    """A cookie-keeping HTTP client standing in for one browser."""
    with browser_session() as session:
        yield session


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile: no cookie of the app's or of Keycloak's from another test."""
    context = chromium.new_context()
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
