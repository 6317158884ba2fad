"""Every page we render passes axe-core (issue 15): no violation of WCAG 2.0, 2.1 and 2.2
level A and AA, nor of axe's best practices (``tests.support.axe``).

Each page is checked as a person reaches it, once what it shows is on screen and Streamlit
has drawn all of it (``settled``): the app's login view (plain, returning to a page, after
sign-out, after a session ended), the account panel (and its "Stay signed in"), both also in
the dark theme, the refusal view, the "temporarily unavailable" notice, the "not set up"
error, the demo's pages, our HTML pages (sign-in errors, an account refused, "Sign out?",
"Sign-out did not complete"; at rest, hovered and focused), and the development provider's
pages (its sign-in page, sessions page and one-message pages). Nothing of Streamlit's own
chrome (menu, sidebar, toolbar) needed leaving out; only the values of ``st.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from auth.ui import ENDED_MESSAGES
from devprovider import LocalProvider, ProviderUser
from tests.support.app_process import ROOT, AppProcess, local_app
from tests.support.axe import assert_no_violations
from tests.support.redis_server import RedisServer

CLIENT_ID = "accessibility-tests"
CLIENT_SECRET = "accessibility-secret"
LABEL = "Local provider"
#: the idle timeout of the app that shows "Stay signed in" (in its last half) and then ends
SHORT_IDLE_SECONDS = 8
#: The values in Streamlit's JSON viewer (``st.json``, the demo's profile and API pages): its
#: light theme is react-json-view's fixed "rjv-default" palette, which no Streamlit theme
#: option reaches; booleans are #2aa198 on white (3.2:1), and other scalars are no better.
#: Streamlit's to fix, so they are left out there; the viewer's keys, brackets and
#: everything else on those pages are checked.
STREAMLIT_JSON_VALUES = '[data-testid="stJson"] .variable-value'


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    """Accounts with and without roles and groups, and one outside the allowed domain."""
    users = [
        ProviderUser(
            sub="alice",
            claims={
                "email": "alice@example.com",
                "email_verified": True,
                "name": "Alice Admin",
                "preferred_username": "alice",
                "roles": ["admin"],
                "groups": ["admins"],
            },
        ),
        ProviderUser(
            sub="bob",
            claims={
                "email": "bob@example.com",
                "email_verified": True,
                "name": "Bob User",
                "preferred_username": "bob",
            },
        ),
        ProviderUser(
            sub="carol",
            claims={"email": "carol@other.example", "email_verified": True, "name": "Carol Other"},
        ),
    ]
    with LocalProvider(users=users, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as started:
        yield started


@pytest.fixture
def fresh_provider(provider: LocalProvider) -> Iterator[LocalProvider]:
    """The module's provider with its sessions remembered (its sessions page lists them)."""
    provider.reset()
    provider.sso = True
    yield provider
    provider.reset()


def started_app(provider: LocalProvider, script: Path | None = None, **overrides: str) -> AppProcess:
    """The demo app (or ``script``) signing in at ``provider``; example.com accounts only."""
    return local_app(
        provider,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        label=LABEL,
        script=script,
        **{"AUTH_ALLOWED_DOMAINS": "example.com", **overrides},
    )


@pytest.fixture(scope="module")
def app(provider: LocalProvider) -> Iterator[AppProcess]:
    with started_app(provider) as process:
        yield process


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    """Our pages allow no script at all (Content-Security-Policy): axe is injected past it."""
    context = chromium.new_context(bypass_csp=True)
    context.set_default_timeout(20_000)
    yield context
    context.close()


# -- reaching the pages ------------------------------------------------------------------------


#: Streamlit's placeholders, drawn while an element's code loads (widgets load lazily)
SKELETONS = '[data-testid^="stSkeleton"], [data-testid="stAppSkeleton"]'


def settled(page: Page) -> None:
    """Streamlit has finished this run (no element is still drawn as stale, i.e. faded) and
    every element is drawn (no placeholder left), so axe sees the page a person sees."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(page.locator(SKELETONS)).to_have_count(0)


def login_view(page: Page) -> Locator:
    return page.get_by_role("heading", name="Sign in", exact=True)


def sign_in(page: Page, user: str = "alice", name: str = "Alice Admin") -> None:
    expect(login_view(page)).to_be_visible()
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    page.get_by_role("button", name=user, exact=True).click()
    expect(page.get_by_role("heading", name=f"Hello {name}")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("Session ends in")).to_be_visible()


# -- the app's own views (Streamlit) -------------------------------------------------------------


def test_the_login_view(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(app.url + "/")
    expect(login_view(page)).to_be_visible()
    expect(page.get_by_role("link", name=f"Sign in with {LABEL}")).to_be_visible()
    settled(page)
    assert_no_violations(page, "the login view")


def test_the_login_view_returning_to_a_page(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(app.url + "/profile")
    expect(page.get_by_text("After signing in you will return to /profile")).to_be_visible()
    settled(page)
    assert_no_violations(page, "the login view with the page to return to")


def test_the_account_panel(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(app.url + "/")
    sign_in(page)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("alice@")).to_be_visible()  # a word joiner after the @ (escape_markdown)
    expect(sidebar.get_by_role("button", name="Sign out everywhere")).to_be_visible()
    settled(page)
    assert_no_violations(page, "the signed-in page with the account panel")


def test_the_refusal_view(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(app.url + "/")
    sign_in(page, "bob", "Bob User")
    page.goto(app.url + "/admin")
    expect(page.get_by_text("You do not have access to this page. It needs the role admin.")).to_be_visible()
    settled(page)
    assert_no_violations(page, "the refusal view")


def test_the_signed_out_view(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(app.url + "/")
    sign_in(page)
    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    settled(page)
    assert_no_violations(page, "the signed-out view")


def test_the_demo_pages(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    """The demo's other pages, as an administrator sees them."""
    page.goto(app.url + "/")
    sign_in(page)
    nav = page.get_by_test_id("stSidebarNav")
    main = page.get_by_test_id("stMain")
    for link, shown in (
        ("Your profile", main.get_by_test_id("stJson")),
        ("API call", page.get_by_text("answered HTTP 200")),
        ("Admin", page.get_by_text("Only administrators see this page.")),
    ):
        nav.get_by_role("link", name=link).click()
        expect(shown).to_be_visible()
        settled(page)
        assert_no_violations(page, f"the demo's page {link!r}", exclude=(STREAMLIT_JSON_VALUES,))


def test_the_login_view_and_the_account_panel_in_the_dark_theme(
    app: AppProcess, fresh_provider: LocalProvider, chromium: Browser
) -> None:
    """Streamlit follows the system's dark mode: the small print must not be a fixed colour."""
    dark = chromium.new_context(bypass_csp=True, color_scheme="dark")
    dark.set_default_timeout(20_000)
    try:
        page = dark.new_page()
        page.goto(app.url + "/profile")
        expect(page.get_by_text("After signing in you will return to /profile")).to_be_visible()
        settled(page)
        assert_no_violations(page, "the login view in the dark theme")
        page.get_by_role("link", name=f"Sign in with {LABEL}").click()
        page.get_by_role("button", name="alice", exact=True).click()
        expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
        expect(page.get_by_test_id("stSidebar").get_by_text("Session ends in")).to_be_visible()
        settled(page)
        assert_no_violations(page, "the account panel in the dark theme")
    finally:
        dark.close()


def test_stay_signed_in_and_the_ended_session(fresh_provider: LocalProvider, page: Page) -> None:
    """The panel offering "Stay signed in" near the idle timeout, then the login view
    saying why the session ended."""
    with started_app(fresh_provider, AUTH_SESSION_TIMEOUT=f"{SHORT_IDLE_SECONDS}s") as short:
        page.goto(short.url + "/")
        sign_in(page)
        stay = page.get_by_test_id("stSidebar").get_by_role("button", name="Stay signed in")
        expect(stay).to_be_visible(timeout=(SHORT_IDLE_SECONDS + 5) * 1000)
        settled(page)
        assert_no_violations(page, 'the account panel offering "Stay signed in"')

        expect(page.get_by_text(ENDED_MESSAGES["idle"])).to_be_visible(timeout=(SHORT_IDLE_SECONDS + 10) * 1000)
        settled(page)
        assert_no_violations(page, "the login view after the session ended")


def test_the_store_outage_notice_and_the_failed_sign_out(
    fresh_provider: LocalProvider, context: BrowserContext, page: Page, request: pytest.FixtureRequest
) -> None:
    """With the session store down: the notice in place of the page, and the page a sign-out
    gets ("Sign-out did not complete", 503) when its "Sign out?" confirmation is posted."""
    redis_server = RedisServer().start()
    request.addfinalizer(lambda: redis_server.__exit__(None, None, None))
    with started_app(fresh_provider, AUTH_STORE=redis_server.url, AUTH_SESSION_TIMEOUT="60s") as outage:
        page.goto(outage.url + "/")
        sign_in(page)
        confirm = context.new_page()
        confirm.goto(outage.url + "/auth/logout")  # typed in the address bar: asked to confirm
        expect(confirm.get_by_role("heading", name="Sign out?")).to_be_visible()

        redis_server.stop()

        expect(page.get_by_role("heading", name="Sign-in is temporarily unavailable")).to_be_visible()
        settled(page)
        assert_no_violations(page, "the store outage notice")
        confirm.get_by_role("button", name="Sign out").click()
        expect(confirm.get_by_role("heading", name="Sign-out did not complete")).to_be_visible()
        assert_no_violations(confirm, "the failed sign-out page")


def test_the_not_set_up_error(provider: LocalProvider, page: Page) -> None:
    """The page script started without the launcher (see test_existing_apps)."""
    with started_app(provider, ROOT / "tests" / "apps" / "sections" / "main.py") as direct:
        page.goto(direct.url + "/")
        expect(page.get_by_role("heading", name="Sign-in is not set up")).to_be_visible()
        expect(page.get_by_text("This message is for the app's developer")).to_be_visible()
        settled(page)
        assert_no_violations(page, "the sign-in is not set up error")


# -- our HTML pages (auth.html_pages) --------------------------------------------------------------


def test_the_sign_in_error_page(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/auth/callback/local?" + urlencode({"state": "x", "code": "y"}))
    expect(page.get_by_role("heading", name="Sign-in did not complete")).to_be_visible()
    try_again = page.get_by_role("link", name="Try again")
    expect(try_again).to_be_visible()
    assert_no_violations(page, "the sign-in error page")

    try_again.hover()
    assert_no_violations(page, "the sign-in error page, its first button under the pointer")
    page.mouse.move(0, 0)
    page.keyboard.press("Tab")
    expect(try_again).to_be_focused()
    assert_no_violations(page, "the sign-in error page, its first button focused from the keyboard")


def test_the_unknown_provider_page(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/auth/login?provider=nope")
    expect(page.get_by_role("heading", name="Unknown sign-in provider")).to_be_visible()
    assert_no_violations(page, "the unknown provider page")


def test_the_account_refused_page(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(app.url + "/")
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    page.get_by_role("button", name="carol@other.example").click()
    expect(page.get_by_role("heading", name="Your account is not allowed here")).to_be_visible()
    expect(page.get_by_text("Reference for your administrator")).to_be_visible()
    assert_no_violations(page, "the account refused page")


def test_the_sign_out_confirmation_page(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(app.url + "/")
    sign_in(page)
    page.goto(app.url + "/auth/logout?everywhere=1")
    expect(page.get_by_role("heading", name="Sign out?")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out everywhere")).to_be_visible()
    assert_no_violations(page, "the sign-out confirmation page")


# -- the development provider's pages (devprovider) -----------------------------------------------


def test_the_provider_sign_in_page(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    """Account cards with roles, groups and none, "Signed in here" on the account this browser
    is signed in as (the app's "sign in with a different account" asks to choose again), and
    a card under the pointer."""
    page.goto(app.url + "/")
    sign_in(page)
    page.context.clear_cookies(name="streamlit_auth")
    page.goto(app.url + "/auth/login?" + urlencode({"provider": "local", "next": "/", "switch": "1"}))
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    expect(page.get_by_text("Signed in here")).to_be_visible()
    assert_no_violations(page, "the development provider's sign-in page")

    page.get_by_role("button", name="bob", exact=True).hover()
    assert_no_violations(page, "the development provider's sign-in page, a card under the pointer")


def test_the_provider_sessions_page(app: AppProcess, fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(fresh_provider.issuer + "/")
    expect(page.get_by_text("No one is signed in at this provider.")).to_be_visible()
    assert_no_violations(page, "the development provider's empty sessions page")

    page.goto(app.url + "/")
    sign_in(page)
    page.goto(fresh_provider.issuer + "/")
    row = page.get_by_role("listitem").filter(has_text="This browser")
    expect(row).to_contain_text("Alice Admin")
    assert_no_violations(page, "the development provider's sessions page")
    row.get_by_role("button", name="Sign out alice").hover()
    assert_no_violations(page, "the development provider's sessions page, a button under the pointer")


def test_the_provider_message_pages(fresh_provider: LocalProvider, page: Page) -> None:
    page.goto(f"{fresh_provider.authorization_endpoint}?client_id=unknown")
    expect(page.get_by_role("heading", name="Unknown client")).to_be_visible()
    assert_no_violations(page, "the development provider's error page")

    page.goto(fresh_provider.end_session_endpoint)
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    assert_no_violations(page, "the development provider's signed-out page")
