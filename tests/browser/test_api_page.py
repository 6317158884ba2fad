"""The demo's "API call" page (``/api``) in a real browser, against a provider whose access
tokens live a few seconds and whose refresh tokens rotate (a spent one revokes the grant).

The page calls ``auth.access_token()`` and then the provider's userinfo endpoint. An access
token counts as fresh while more than min(60 s, half its lifetime) is left, so with a 12 s
token a refresh is due 6 s after it was issued. Waits are for conditions; the only real-time
waits are for a token's life to pass. To tell a "Call again" apart from the answer already on
the page, the provider's userinfo answer gets a new claim (``nickname``) just before the click.

Every token, code and secret the provider or the app handed out during the module is kept, and
the last test looks for them (and for tracebacks) in the app's whole output.
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from auth.errors import RefreshUnavailable
from auth.ui import ENDED_MESSAGES
from devprovider import LocalProvider, ProviderUser
from tests.support.app_process import AppProcess

CLIENT_ID = "api-page-browser-tests"
CLIENT_SECRET = "api-page-browser-secret-" + secrets.token_urlsafe(16)
COOKIE_SECRET = secrets.token_urlsafe(32)
LABEL = "Local provider"
PROVIDER_FORM_TITLE = "Choose an account"
NAME = "Alice Admin"

#: the access tokens' lifetime: fresh for 6 s, then refreshed on the next call
LIFETIME = 12
#: for the tabs test: opening three tabs must fit in the 10 s the first token is fresh
TABS_LIFETIME = 20
#: beyond the moment a refresh becomes due (the app stored the expiry a little after the
#: provider issued the token, and authlib may round it down)
DUE_MARGIN = 1.0


# -- what the provider issued ---------------------------------------------------------------


@dataclass
class Issued:
    """Every token response body the provider sent, in order, plus codes and cookies seen."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    cookies: set[str] = field(default_factory=set)

    def record(self, body: dict[str, Any]) -> None:
        self.bodies.append(body)

    def snapshot(self, provider: LocalProvider) -> None:
        """What the provider keeps: its issued access and refresh tokens and its codes."""
        self.access.update(provider._access_tokens)
        self.refresh.update(provider._refresh_tokens)
        self.codes.update(provider._codes)

    def newest(self) -> dict[str, Any]:
        assert self.bodies, "the provider issued no tokens"
        return self.bodies[-1]

    def secrets(self) -> dict[str, set[str]]:
        """Every value that must never leave the server, by kind."""
        return {
            "access token": self.access | {b["access_token"] for b in self.bodies},
            "refresh token": self.refresh | {b["refresh_token"] for b in self.bodies if b.get("refresh_token")},
            "ID token": {b["id_token"] for b in self.bodies if b.get("id_token")},
            "authorization code": self.codes,
            "session cookie": self.cookies,
        }


@pytest.fixture(scope="module")
def issued() -> Issued:
    return Issued()


@pytest.fixture(scope="module")
def local_provider(issued: Issued) -> Iterator[LocalProvider]:
    users = [
        ProviderUser(
            sub="alice",
            claims={"email": "alice@example.com", "email_verified": True, "name": NAME, "preferred_username": "alice"},
        ),
    ]
    with LocalProvider(users=users, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        # Record each token response (the ID tokens are kept nowhere else at the provider).
        issue = provider._issue_tokens

        def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
            body = issue(*args, **kwargs)
            issued.record(dict(body))
            return body

        provider._issue_tokens = recording  # type: ignore[method-assign]
        yield provider
        issued.snapshot(provider)


@pytest.fixture
def provider(local_provider: LocalProvider, issued: Issued) -> Iterator[LocalProvider]:
    """The module's provider with short-lived access tokens, no faults and no recordings."""
    claims = copy.deepcopy(local_provider.users["alice"].claims)
    local_provider.reset()
    local_provider.access_token_lifetime = LIFETIME
    yield local_provider
    issued.snapshot(local_provider)
    local_provider.reset()
    local_provider.users["alice"].claims = claims


@pytest.fixture(scope="module")
def api_app(local_provider: LocalProvider) -> Iterator[AppProcess]:
    """The demo app with the default store (SQLite, a file of its own) and default timeouts."""
    process = AppProcess({})
    process.env = {
        "AUTH_PROVIDERS": "local",
        "AUTH_LOCAL_ISSUER": local_provider.issuer,
        "AUTH_LOCAL_CLIENT_ID": CLIENT_ID,
        "AUTH_LOCAL_CLIENT_SECRET": CLIENT_SECRET,
        "AUTH_LOCAL_LABEL": LABEL,
        "AUTH_COOKIE_SECRET": COOKIE_SECRET,
        "AUTH_PUBLIC_URL": f"http://localhost:{process.port}",
        # Every line the package can write, debug ones too, goes through the final log scan.
        "AUTH_LOG_LEVEL": "DEBUG",
    }
    with process:
        yield process


# -- what a person sees and does ------------------------------------------------------------


def login_view(page: Page) -> Locator:
    """The app's login page (not the provider's "Choose an account")."""
    return page.get_by_role("heading", name="Sign in", exact=True)


def signed_in_panel(page: Page) -> Locator:
    return page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {NAME}")


def answer(page: Page) -> Locator:
    """The main area's JSON: the userinfo answer, expanded."""
    return page.get_by_test_id("stMain").get_by_test_id("stJson")


def expect_answer(page: Page, *texts: str) -> None:
    """The page called userinfo and shows HTTP 200, the JSON with ``texts`` and the token's
    remaining life."""
    expect(page.get_by_role("heading", name="API call")).to_be_visible()
    expect(page.get_by_text("HTTP 200", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Access token valid for another \d+ s$"))).to_be_visible()
    expect(answer(page)).to_contain_text('"sub":"alice"')
    for text in texts:
        expect(answer(page)).to_contain_text(text)


def sign_in_to_api(page: Page, app: AppProcess, issued: Issued) -> None:
    """Open ``/api`` signed out, sign in as alice at the provider, land back on ``/api``."""
    page.goto(app.url + "/api")
    expect(login_view(page)).to_be_visible()
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    expect(page.get_by_role("heading", name=PROVIDER_FORM_TITLE)).to_be_visible()
    page.get_by_role("button", name="alice", exact=True).click()
    expect(signed_in_panel(page)).to_be_visible()
    expect_answer(page)
    issued.cookies.update(cookie["value"] for cookie in page.context.cookies())


def call_again(page: Page) -> None:
    page.get_by_test_id("stMain").get_by_role("button", name="Call again").click()


def new_claim(provider: LocalProvider, value: str) -> str:
    """Change what userinfo answers, so the next answer on the page is told from the last."""
    provider.users["alice"].claims["nickname"] = value
    return f'"nickname":"{value}"'


def wait_until(moment: float, page: Page) -> None:
    """Let real time pass (a token's life must go by); not a synchronisation wait."""
    remaining = moment - time.monotonic()
    if remaining > 0:
        page.wait_for_timeout(remaining * 1000)


def expires(provider: LocalProvider, access_token: str) -> float:
    """When the provider stops accepting this access token (``time.monotonic()``)."""
    return provider._access_tokens[access_token].expires


def refresh_due(provider: LocalProvider, access_token: str, lifetime: int) -> float:
    """When the app will refresh this token: half its life is gone (plus a margin)."""
    return expires(provider, access_token) - lifetime / 2 + DUE_MARGIN


#: a secret counts as logged when it, or any of its slices this long (taken every half
#: slice, so any 48 characters of it in a row are caught), is in the log: log values are cut
#: at 500 characters, and a JWT's parts could be logged apart
SLICE = 32


def appears(secret: str, log: str) -> bool:
    if secret in log:
        return True
    return any(secret[start : start + SLICE] in log for start in range(0, len(secret) - SLICE + 1, SLICE // 2))


def outcomes(provider: LocalProvider) -> list[str]:
    return [request["outcome"] for request in provider.refresh_requests]


def expect_no_token_in_page(page: Page, issued: Issued) -> None:
    html = page.content()
    text = page.locator("body").inner_text()
    cookies = " ".join(cookie["value"] for cookie in page.context.cookies())
    for kind, values in issued.secrets().items():
        if kind in ("authorization code", "session cookie"):
            continue
        for value in values:
            assert value not in html, f"{kind} found in the page's HTML"
            assert value not in text, f"{kind} found in the page's text"
            assert value not in cookies, f"{kind} found in a cookie"


# -- tests ----------------------------------------------------------------------------------


def test_api_page_keeps_working_past_the_access_tokens_lifetime(
    api_app: AppProcess, provider: LocalProvider, issued: Issued, page: Page
) -> None:
    sign_in_to_api(page, api_app, issued)
    first = issued.newest()["access_token"]
    assert provider.refresh_requests == []
    expect_no_token_in_page(page, issued)

    # The provider's first access token is now dead: userinfo would refuse it.
    wait_until(expires(provider, first) + 0.5, page)
    marker = new_claim(provider, "after-expiry")
    call_again(page)

    expect_answer(page, marker)
    assert outcomes(provider) == ["issued"]
    assert issued.newest()["access_token"] != first
    issued.snapshot(provider)
    expect_no_token_in_page(page, issued)


def test_several_tabs_at_expiry_cause_one_refresh(
    api_app: AppProcess, provider: LocalProvider, issued: Issued, context: BrowserContext, page: Page
) -> None:
    provider.access_token_lifetime = TABS_LIFETIME
    sign_in_to_api(page, api_app, issued)
    first = issued.newest()["access_token"]
    tabs = [page, context.new_page(), context.new_page()]
    for tab in tabs[1:]:
        tab.goto(api_app.url + "/api")
        expect_answer(tab)
    assert provider.refresh_requests == [], "a tab opened after its token needed a refresh (too slow?)"

    wait_until(refresh_due(provider, first, TABS_LIFETIME), page)
    marker = new_claim(provider, "three-tabs")
    buttons = [tab.get_by_test_id("stMain").get_by_role("button", name="Call again") for tab in tabs]
    for button in buttons:
        expect(button).to_be_enabled()
    for button in buttons:
        button.click()

    for tab in tabs:
        expect_answer(tab, marker)
        expect(tab.get_by_role("alert")).to_have_count(0)
    assert outcomes(provider) == ["issued"]


def test_revoked_grant_signs_the_user_out_with_the_message(
    api_app: AppProcess, provider: LocalProvider, issued: Issued, page: Page
) -> None:
    sign_in_to_api(page, api_app, issued)
    first = issued.newest()["access_token"]
    assert provider.revoke_grants("alice") >= 1

    wait_until(refresh_due(provider, first, LIFETIME), page)
    call_again(page)

    expect(login_view(page)).to_be_visible()
    expect(page.get_by_text(ENDED_MESSAGES["refresh_failed"])).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    expect(page.get_by_role("heading", name="API call")).to_have_count(0)
    assert outcomes(provider) == ["revoked"]
    page.reload()
    expect(login_view(page)).to_be_visible()


def test_provider_down_during_refresh_shows_the_error_and_keeps_the_session(
    api_app: AppProcess, provider: LocalProvider, issued: Issued, page: Page
) -> None:
    sign_in_to_api(page, api_app, issued)
    first = issued.newest()["access_token"]
    provider.refresh_fault = "500"

    wait_until(refresh_due(provider, first, LIFETIME), page)
    call_again(page)

    expect(page.get_by_text(RefreshUnavailable.user_message, exact=True)).to_be_visible()
    expect(page.get_by_text("HTTP 200", exact=True)).to_have_count(0)
    expect(signed_in_panel(page)).to_be_visible()
    expect(login_view(page)).to_have_count(0)
    faults = outcomes(provider)
    assert faults and set(faults) == {"fault"}, faults

    # The provider is back. The demo page offers no "Call again" after an error, so the
    # person tries again by reloading the page.
    provider.refresh_fault = None
    marker = new_claim(provider, "provider-back")
    page.reload()

    expect_answer(page, marker)
    expect(page.get_by_text(RefreshUnavailable.user_message, exact=True)).to_have_count(0)
    expect(signed_in_panel(page)).to_be_visible()
    assert outcomes(provider) == [*faults, "issued"]


def test_no_token_code_or_secret_and_no_traceback_in_the_apps_output(
    api_app: AppProcess, provider: LocalProvider, issued: Issued, page: Page
) -> None:
    """Runs last: the app's whole output over the module (plus a sign-in of its own, so the
    scan has something to look for when this test runs alone)."""
    sign_in_to_api(page, api_app, issued)
    issued.snapshot(provider)
    log = api_app.output()

    found = issued.secrets()
    assert found["access token"] and found["refresh token"] and found["ID token"] and found["authorization code"]
    found["client secret"] = {CLIENT_SECRET}
    found["cookie secret"] = {COOKIE_SECRET}
    leaks = [
        f"{kind} #{index}"
        for kind, values in found.items()
        for index, value in enumerate(values)
        if appears(value, log)
    ]
    assert leaks == [], f"in the app's output: {leaks}"
    assert "Traceback" not in log
    assert "event=login_started" in log and "event=login " in log, "the app's log lines were not captured"
