"""Real headless Chromium (Debian's, driven by Playwright) against the real app and provider.

The browser itself (``chromium``) is the run's one, from tests/support/chromium_fixtures.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from devprovider import LocalProvider, ProviderUser
from tests.support.app_process import AppProcess, MockProviderProcess

SHORT_TIMEOUT_SECONDS = 8


@pytest.fixture(scope="session")
def mock_provider() -> Iterator[MockProviderProcess]:
    with MockProviderProcess() as provider:
        yield provider


# A display name chosen by whoever controls the account at the provider: markdown that
# would load a tracking image, colour text, render maths and bold if shown as markdown.
HOSTILE_NAME = (
    "![x](https://tracker.invalid/p.png) :red[Mallory] **bold** $x^2$ <b>tag</b> [link](https://evil.invalid)"
)


@pytest.fixture(scope="session")
def other_provider() -> Iterator[LocalProvider]:
    """A second provider: carol@other.example is outside AUTH_ALLOWED_DOMAINS, and
    mallory@example.com has a display name full of markdown."""
    users = [
        ProviderUser(
            sub="carol", claims={"email": "carol@other.example", "email_verified": True, "name": "Carol Other"}
        ),
        ProviderUser(
            sub="mallory",
            claims={
                "email": "mallory@example.com",
                "email_verified": True,
                "name": HOSTILE_NAME,
                "picture": "/etc/passwd",
            },
        ),
    ]
    with LocalProvider(users=users, client_id="browser-tests", client_secret="other-secret") as provider:
        yield provider


def app_environment(app: AppProcess, provider: MockProviderProcess, **overrides: str) -> dict[str, str]:
    return {
        "AUTH_PROVIDERS": "mock",
        "AUTH_MOCK_ISSUER": provider.issuer,
        "AUTH_MOCK_CLIENT_ID": "browser-tests",
        "AUTH_MOCK_CLIENT_SECRET": "browser-secret",
        "AUTH_MOCK_LABEL": "Mock provider",
        "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
        "AUTH_PUBLIC_URL": f"http://localhost:{app.port}",
        **overrides,
    }


@pytest.fixture(scope="session")
def app(mock_provider: MockProviderProcess, other_provider: LocalProvider) -> Iterator[AppProcess]:
    """Two providers; only example.com accounts are allowed in."""
    process = AppProcess({})
    process.env = app_environment(
        process,
        mock_provider,
        AUTH_PROVIDERS="mock,other",
        AUTH_OTHER_ISSUER=other_provider.issuer,
        AUTH_OTHER_CLIENT_ID="browser-tests",
        AUTH_OTHER_CLIENT_SECRET="other-secret",
        AUTH_OTHER_LABEL="Other provider",
        AUTH_ALLOWED_DOMAINS="example.com",
    )
    with process:
        yield process


@pytest.fixture(scope="session")
def short_session_app(mock_provider: MockProviderProcess) -> Iterator[AppProcess]:
    """Sessions last a few seconds, to watch expiry happen."""
    process = AppProcess({})
    process.env = app_environment(process, mock_provider, AUTH_SESSION_TIMEOUT=f"{SHORT_TIMEOUT_SECONDS}s")
    with process:
        yield process


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    context = chromium.new_context()
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
