"""Sessions that really end, in a real browser: logout that reaches copies of the cookie,
other tabs, the provider and other app processes; idle and absolute timeouts; "Stay signed
in"; back-channel logout; and a session store that goes away and comes back.

Every app here signs in through a ``LocalProvider`` (which keeps provider sessions, has an
end-session endpoint and sends back-channel logouts). Waits are for conditions; the only
real-time waits are where time itself must pass (idle and maximum-age expiry).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from auth.ui import ENDED_MESSAGES
from devprovider import LocalProvider, ProviderUser
from tests.browser.steps import session_cookie, wait_until_clock
from tests.support.app_process import AppProcess, local_app
from tests.support.redis_server import RedisServer

CLIENT_ID = "session-browser-tests"
CLIENT_SECRET = "session-browser-secret"
LABEL = "Local provider"
PROVIDER_FORM_TITLE = "Choose an account"
SIGNED_OUT = "You have signed out."
UNAVAILABLE_TITLE = "Sign-in is temporarily unavailable"
# The app's pages as the sidebar lists them while signed in.
PAGE_LINKS = ("Home", "Your profile")

# One app with short timeouts for the expiry tests: the page re-checks every second
# (timeout / 20, at least 1 s), and "Stay signed in" shows in the last 5 s (half of 10 s).
IDLE_SECONDS = 10
MAX_AGE_SECONDS = 24
# "within 10 s without any user action" (the promise for revocation reaching a tab).
REVOCATION_MS = 10_000


# -- provider and apps --------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_provider() -> Iterator[LocalProvider]:
    users = [
        ProviderUser(
            sub="alice",
            claims={
                "email": "alice@example.com",
                "email_verified": True,
                "name": "Alice Admin",
                "preferred_username": "alice",
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
    ]
    with LocalProvider(users=users, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture
def provider(local_provider: LocalProvider) -> Iterator[LocalProvider]:
    """The module's provider with default knobs, no provider sessions and no recordings."""
    local_provider.reset()
    yield local_provider
    local_provider.reset()


def started_app(provider: LocalProvider, **overrides: str) -> AppProcess:
    return local_app(provider, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, label=LABEL, **overrides)


@pytest.fixture(scope="module")
def store_app(local_provider: LocalProvider) -> Iterator[AppProcess]:
    """The default store (SQLite, a file of this process's own) and default timeouts."""
    with started_app(local_provider) as process:
        yield process


@pytest.fixture(scope="module")
def short_app(local_provider: LocalProvider) -> Iterator[AppProcess]:
    with started_app(
        local_provider, AUTH_SESSION_TIMEOUT=f"{IDLE_SECONDS}s", AUTH_SESSION_MAX_AGE=f"{MAX_AGE_SECONDS}s"
    ) as process:
        yield process


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(local_provider: LocalProvider, shared_redis: RedisServer) -> Iterator[tuple[AppProcess, AppProcess]]:
    """Two app processes on different ports, one Redis, one cookie secret."""
    cookie_secret = secrets.token_urlsafe(32)
    first = started_app(local_provider, AUTH_STORE=shared_redis.url, AUTH_COOKIE_SECRET=cookie_secret)
    second = started_app(local_provider, AUTH_STORE=shared_redis.url, AUTH_COOKIE_SECRET=cookie_secret)
    with first, second:
        yield first, second


@pytest.fixture
def other_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A second browser (its own cookie jar), e.g. someone holding a copied cookie."""
    context = chromium.new_context()
    context.set_default_timeout(20_000)
    yield context
    context.close()


# -- what a person sees and does ------------------------------------------------------------


def login_view(page: Page):
    """The app's login page (not the provider's "Choose an account")."""
    return page.get_by_role("heading", name="Sign in", exact=True)


def greeting(page: Page, name: str = "Alice Admin"):
    return page.get_by_role("heading", name=f"Hello {name}")


def sign_in(page: Page, user: str = "alice", name: str = "Alice Admin") -> None:
    """From the app's login page, through the provider's form, back to the app signed in."""
    expect(login_view(page)).to_be_visible()
    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    expect(page.get_by_role("heading", name=PROVIDER_FORM_TITLE)).to_be_visible()
    page.get_by_role("button", name=user, exact=True).click()
    expect(greeting(page, name)).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {name}")).to_be_visible()


def log_out(page: Page) -> None:
    """ "Log out" in the account panel; back on the app's login page."""
    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
    expect(login_view(page)).to_be_visible()
    expect(page.get_by_text(SIGNED_OUT)).to_be_visible()


def expect_signed_out_without_pages(page: Page, *, timeout: float = REVOCATION_MS) -> None:
    """The login view, and a sidebar that no longer offers the app's pages."""
    expect(login_view(page)).to_be_visible(timeout=timeout)
    expect(greeting(page)).to_have_count(0)
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    for name in PAGE_LINKS:
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)


def expect_still_signed_in(page: Page) -> None:
    expect(greeting(page)).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as Alice Admin")).to_be_visible()
    expect(login_view(page)).to_have_count(0)


# -- logout ---------------------------------------------------------------------------------


def test_copied_cookie_is_refused_after_logout(
    store_app: AppProcess, provider: LocalProvider, page: Page, other_context: BrowserContext
) -> None:
    page.goto(store_app.url + "/")
    sign_in(page)
    cookie = session_cookie(page)
    assert cookie is not None

    copy = other_context.new_page()
    other_context.add_cookies([cookie])
    copy.goto(store_app.url + "/")
    expect(greeting(copy)).to_be_visible()

    log_out(page)
    assert session_cookie(page) is None

    # The copy still holds the cookie, signature intact: only the store says it is over.
    assert session_cookie(copy) is not None
    copy.reload()
    expect_signed_out_without_pages(copy)


def test_logout_at_the_provider_then_sign_in_shows_the_provider_form_again(
    store_app: AppProcess, provider: LocalProvider, page: Page
) -> None:
    provider.sso = True
    page.goto(store_app.url + "/")
    sign_in(page)
    assert provider.sessions_of("alice"), "signing in opened a provider session"

    log_out(page)

    assert provider.sessions_of("alice") == []
    assert len(provider.end_session_requests) == 1
    request = provider.end_session_requests[0]
    assert request.get("id_token_hint")
    assert request.get("client_id") == CLIENT_ID
    assert request.get("post_logout_redirect_uri") == f"http://localhost:{store_app.port}/"
    assert request.get("state")

    page.get_by_role("link", name=f"Sign in with {LABEL}").click()
    expect(page.get_by_role("heading", name=PROVIDER_FORM_TITLE)).to_be_visible()
    assert provider.sso_approvals == 0
    page.get_by_role("button", name="bob", exact=True).click()
    expect(greeting(page, "Bob User")).to_be_visible()


def test_second_tab_switches_to_login_view_after_logout_in_the_first(
    store_app: AppProcess, provider: LocalProvider, context: BrowserContext, page: Page
) -> None:
    page.goto(store_app.url + "/")
    sign_in(page)
    second = context.new_page()
    second.goto(store_app.url + "/profile")
    expect(second.get_by_role("heading", name="Your profile")).to_be_visible()
    nav = second.get_by_test_id("stSidebarNav")
    for name in PAGE_LINKS:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()

    log_out(page)

    # No reload, no click in the second tab: its own timer notices.
    expect_signed_out_without_pages(second)
    expect(second.get_by_role("heading", name="Your profile")).to_have_count(0)
    expect(second.get_by_text(ENDED_MESSAGES["logout"])).to_be_visible()


def test_rerun_in_another_tab_right_after_logout_is_refused(
    store_app: AppProcess, provider: LocalProvider, context: BrowserContext, page: Page
) -> None:
    page.goto(store_app.url + "/")
    sign_in(page)
    second = context.new_page()
    second.goto(store_app.url + "/")
    expect(greeting(second)).to_be_visible()

    log_out(page)
    # Before its timer comes round (every 5 s here), the other tab's user clicks.
    second.get_by_role("button", name="Click me").click()

    expect_signed_out_without_pages(second)
    expect(second.get_by_text("Button clicked.")).to_have_count(0)


def test_sign_out_everywhere_ends_the_sessions_of_other_browsers(
    store_app: AppProcess, provider: LocalProvider, page: Page, other_context: BrowserContext
) -> None:
    page.goto(store_app.url + "/")
    sign_in(page)
    elsewhere = other_context.new_page()
    elsewhere.goto(store_app.url + "/")
    sign_in(elsewhere)
    assert session_cookie(elsewhere) != session_cookie(page)

    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out everywhere").click()
    expect(login_view(page)).to_be_visible()
    expect(page.get_by_text(SIGNED_OUT)).to_be_visible()

    expect_signed_out_without_pages(elsewhere)
    expect(elsewhere.get_by_text(ENDED_MESSAGES["logout_everywhere"])).to_be_visible()


def test_backchannel_logout_ends_a_live_tab(store_app: AppProcess, provider: LocalProvider, page: Page) -> None:
    provider.backchannel_logout_uri = f"http://127.0.0.1:{store_app.port}/auth/backchannel-logout"
    page.goto(store_app.url + "/")
    sign_in(page)

    ended = provider.end_provider_sessions("alice")

    assert len(ended) == 1
    assert [delivery["status"] for delivery in provider.backchannel_deliveries] == [200], (
        provider.backchannel_deliveries
    )
    assert provider.backchannel_deliveries[0]["claims"]["sid"] == ended[0]
    expect_signed_out_without_pages(page)
    expect(page.get_by_text(ENDED_MESSAGES["backchannel"])).to_be_visible()
    page.reload()
    expect(login_view(page)).to_be_visible()


# -- timeouts -------------------------------------------------------------------------------


def test_idle_page_expires_without_any_interaction(short_app: AppProcess, provider: LocalProvider, page: Page) -> None:
    page.goto(short_app.url + "/")
    sign_in(page)
    signed_in = time.monotonic()

    # Nothing happens in the page: only its own timer re-checks the session.
    expect(page.get_by_text(ENDED_MESSAGES["idle"])).to_be_visible(timeout=(IDLE_SECONDS + 10) * 1000)
    elapsed = time.monotonic() - signed_in
    # The last activity was the page load just before the greeting showed.
    assert elapsed >= IDLE_SECONDS - 3, f"ended after {elapsed:.1f} s, before the idle timeout"
    expect_signed_out_without_pages(page, timeout=5_000)


def test_activity_keeps_the_session_past_idle_timeout_but_not_past_max_age(
    short_app: AppProcess, provider: LocalProvider, page: Page
) -> None:
    page.goto(short_app.url + "/")
    sign_in(page)
    signed_in = time.monotonic()
    click_me = page.get_by_role("button", name="Click me")
    seen_past_idle_timeout = False

    # Click every ~2 s (well inside the idle timeout) until the session ends by itself.
    while time.monotonic() - signed_in < MAX_AGE_SECONDS + 15:
        if not seen_past_idle_timeout and time.monotonic() - signed_in > IDLE_SECONDS + 3:
            expect_still_signed_in(page)
            seen_past_idle_timeout = True
        try:
            click_me.click(timeout=1_500)
        except PlaywrightTimeoutError:
            pass  # the page is switching to the login view
        try:
            expect(login_view(page)).to_be_visible(timeout=2_000)  # paces the clicks
            break
        except AssertionError:
            continue
    elapsed = time.monotonic() - signed_in

    assert seen_past_idle_timeout, f"signed out after {elapsed:.1f} s, before the idle timeout had passed"
    expect(login_view(page)).to_be_visible(timeout=1_000)
    expect(page.get_by_text(ENDED_MESSAGES["max_age"])).to_be_visible()
    # The session started at the callback, a moment before the greeting showed.
    assert elapsed >= MAX_AGE_SECONDS - 3, f"ended after {elapsed:.1f} s, before the maximum age"
    expect_signed_out_without_pages(page, timeout=5_000)


def test_stay_signed_in_postpones_the_idle_timeout(short_app: AppProcess, provider: LocalProvider, page: Page) -> None:
    page.goto(short_app.url + "/")
    sign_in(page)
    panel = page.get_by_test_id("stSidebar")
    stay = panel.get_by_role("button", name="Stay signed in")
    expect(stay).to_have_count(0)

    # Offered in the last half of a 10 s idle timeout, with no interaction at all.
    expect(stay).to_be_visible(timeout=(IDLE_SECONDS + 5) * 1000)
    seen = time.monotonic()
    # At most half the idle timeout was left when the timer drew the button.
    original_deadline = seen + IDLE_SECONDS / 2
    stay.click()
    expect(stay).to_have_count(0, timeout=5_000)

    wait_until_clock(original_deadline + 3, page)
    expect_still_signed_in(page)
    expect(page.get_by_text(ENDED_MESSAGES["idle"])).to_have_count(0)


# -- several app processes, and the store going away --------------------------------------------


def test_logout_on_one_replica_reaches_a_tab_of_the_other(
    replicas: tuple[AppProcess, AppProcess], provider: LocalProvider, context: BrowserContext, page: Page
) -> None:
    first, second = replicas
    page.goto(first.url + "/")
    sign_in(page)

    # Cookies for localhost are shared across ports: the other replica accepts the session.
    other = context.new_page()
    other.goto(second.url + "/")
    expect(greeting(other)).to_be_visible()
    other.get_by_role("button", name="Click me").click()
    expect(other.get_by_text("Button clicked.")).to_be_visible()

    log_out(other)

    expect_signed_out_without_pages(page)
    expect(page.get_by_text(ENDED_MESSAGES["logout"])).to_be_visible()


def test_store_outage_shows_a_notice_and_recovers_by_itself(
    provider: LocalProvider, page: Page, request: pytest.FixtureRequest
) -> None:
    redis_server = RedisServer().start()
    request.addfinalizer(lambda: redis_server.__exit__(None, None, None))
    # A 60 s idle timeout: the page re-checks every 3 s.
    with started_app(provider, AUTH_STORE=redis_server.url, AUTH_SESSION_TIMEOUT="60s") as app:
        page.goto(app.url + "/")
        sign_in(page)

        redis_server.stop()

        expect(page.get_by_role("heading", name=UNAVAILABLE_TITLE)).to_be_visible(timeout=REVOCATION_MS)
        expect(greeting(page)).to_have_count(0)
        expect(login_view(page)).to_have_count(0)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_text("Traceback")).to_have_count(0)

        # The same port, an empty server (no persistence): the session is gone.
        restarted = RedisServer(port=redis_server.port).start()
        request.addfinalizer(lambda: restarted.__exit__(None, None, None))

        expect(login_view(page)).to_be_visible(timeout=REVOCATION_MS)
        expect(page.get_by_role("heading", name=UNAVAILABLE_TITLE)).to_have_count(0)
        expect_signed_out_without_pages(page, timeout=5_000)
        log = app.output()
    assert "Traceback" not in log
    assert "event=session_store_unavailable" in log


def test_the_page_coming_back_after_an_outage_is_not_activity(
    provider: LocalProvider, page: Page, request: pytest.FixtureRequest
) -> None:
    """Every open, unattended tab reruns when the store answers again; that rerun must not
    give the session a new idle period, or each store blip would keep every tab alive."""
    redis_server = RedisServer().start()
    request.addfinalizer(lambda: redis_server.__exit__(None, None, None))
    # A 60 s idle timeout: the page re-checks every 3 s; activity is written at most every 5 s.
    with started_app(provider, AUTH_STORE=redis_server.url, AUTH_SESSION_TIMEOUT="60s") as app:
        page.goto(app.url + "/")
        sign_in(page)
        with redis_server.client() as client:
            (key,) = [key for key in client.keys("*session:*")]

            def last_active() -> float:
                return float(client.hget(key, "last_active_at") or 0)

            before = last_active()
            # An outage that loses nothing: every other client of this Redis waits 7 s, so the
            # app's reads time out (1 s) until then.
            client.execute_command("CLIENT", "PAUSE", "7000", "ALL")
            expect(page.get_by_role("heading", name=UNAVAILABLE_TITLE)).to_be_visible(timeout=REVOCATION_MS)
            expect(greeting(page)).to_be_visible(timeout=REVOCATION_MS)  # back by itself
            # Activity would be written within moments of that rerun (from a background thread);
            # allow well over that, and the page's next timed re-check.
            wait_until_clock(time.monotonic() + 4, page)
            expect(greeting(page)).to_be_visible()
            assert last_active() == before
