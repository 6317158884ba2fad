"""One real app process (``streamlit run app.py``) signed in against two real providers:
the independent ``oidc-provider-mock`` (as ``mock``) and our fault-injecting local
provider (as ``local``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from auth.session_cookie import SessionCookie
from devprovider import LocalProvider, ProviderUser
from tests.support.app_process import AppProcess, MockProviderProcess
from tests.support.cookies import app_session_cookie

COOKIE_NAME = "it_session"
LOCAL_CLIENT_ID = "it-app"
LOCAL_CLIENT_SECRET = "it-secret+with/special:chars"
MOCK_CLIENT_SECRET = "mock-secret"


@dataclass
class Stack:
    app: AppProcess
    mock: MockProviderProcess
    local: LocalProvider
    cookie_secret: str

    def sessions(self, timeout: float = 600) -> SessionCookie:
        return app_session_cookie(self.cookie_secret, public_url=self.app.url, cookie_name=COOKIE_NAME, timeout=timeout)


def local_env(provider: LocalProvider) -> dict[str, str]:
    """The settings of the ``local`` provider, as every app of these tests registers it."""
    return {
        "AUTH_LOCAL_ISSUER": provider.issuer,
        "AUTH_LOCAL_CLIENT_ID": LOCAL_CLIENT_ID,
        "AUTH_LOCAL_CLIENT_SECRET": LOCAL_CLIENT_SECRET,
    }


@pytest.fixture(scope="session")
def mock_provider() -> Iterator[MockProviderProcess]:
    with MockProviderProcess() as provider:
        yield provider


@pytest.fixture(scope="session")
def local_provider() -> Iterator[LocalProvider]:
    users = [
        ProviderUser(
            sub="alice",
            claims={
                "email": "Alice@Example.com",
                "email_verified": True,
                "name": "Alice Admin",
                "preferred_username": "alice",
                "roles": ["admin"],
                "phone_number": "+1 555 0100",
            },
        ),
        ProviderUser(sub="bob", claims={"email": "bob@example.com", "email_verified": True, "name": "Bob User"}),
    ]
    with LocalProvider(users=users, client_id=LOCAL_CLIENT_ID, client_secret=LOCAL_CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture(scope="session")
def stack(mock_provider: MockProviderProcess, local_provider: LocalProvider) -> Iterator[Stack]:
    cookie_secret = secrets.token_urlsafe(32)
    app = AppProcess({})
    app.env = {
        "AUTH_PROVIDERS": "mock,local",
        "AUTH_MOCK_ISSUER": mock_provider.issuer,
        "AUTH_MOCK_CLIENT_ID": "mock-client",
        "AUTH_MOCK_CLIENT_SECRET": MOCK_CLIENT_SECRET,
        "AUTH_MOCK_LABEL": "Mock provider",
        **local_env(local_provider),
        "AUTH_COOKIE_SECRET": cookie_secret,
        "AUTH_COOKIE_NAME": COOKIE_NAME,
        "AUTH_PUBLIC_URL": f"http://localhost:{app.port}",
        "AUTH_HTTP_TIMEOUT": "2s",
    }
    with app:
        yield Stack(app=app, mock=mock_provider, local=local_provider, cookie_secret=cookie_secret)


@pytest.fixture(autouse=True)
def _reset_local_provider(local_provider: LocalProvider) -> Iterator[None]:
    yield
    local_provider.reset()


@pytest.fixture
def browser() -> Iterator[requests.Session]:
    """A cookie-keeping HTTP client standing in for one browser."""
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def _alice_provider() -> Iterator[LocalProvider]:
    with LocalProvider(users=[ProviderUser(sub="alice", claims={"email": "a@example.com"})]) as provider:
        yield provider


@pytest.fixture
def provider(_alice_provider: LocalProvider) -> Iterator[LocalProvider]:
    """A provider with one user, alice, shared by a module's tests; knobs reset after each test."""
    yield _alice_provider
    _alice_provider.reset()
