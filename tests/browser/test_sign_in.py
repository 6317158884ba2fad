"""The whole sign-in story in a real browser, as a user lives it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import SHORT_TIMEOUT_SECONDS
from tests.browser.steps import session_cookie, sign_in_with_mock
from tests.support.app_process import AppProcess


def test_sign_in_reload_and_log_out(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/")
    expect(page.get_by_text("Choose how you want to sign in to continue.")).to_be_visible()

    sign_in_with_mock(page, "alice")

    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()
    assert page.url == app.url + "/"
    cookie = session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Signed in as Alice Admin")).to_be_visible()
    expect(sidebar.get_by_text("Session ends in")).to_be_visible()

    page.reload()
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()

    # Widget interaction reruns the script, which re-validates the cookie.
    page.get_by_role("button", name="Click me").click()
    expect(page.get_by_text("Button clicked.")).to_be_visible()

    sidebar.get_by_role("button", name="Log out").click()
    # oidc-provider-mock's end-session endpoint asks before it sends the browser back.
    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    assert "state=" not in page.url  # the sign-out state is removed from the address bar
    assert session_cookie(page) is None
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_deep_link_survives_sign_in(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/profile")
    expect(page.get_by_text("After signing in you will return to /profile")).to_be_visible()

    sign_in_with_mock(page, "bob")

    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    assert page.url == app.url + "/profile"
    expect(page.get_by_text('"bob@example.com"')).to_be_visible()


def test_idle_page_shows_login_after_expiry_without_user_action(short_session_app: AppProcess, page: Page) -> None:
    page.goto(short_session_app.url + "/")
    sign_in_with_mock(page, "alice")
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()

    # No clicks, no reload: the page's own timer notices the expiry.
    expect(page.get_by_text("Your session ended because there was no activity for a while.")).to_be_visible(
        timeout=(SHORT_TIMEOUT_SECONDS + 30) * 1000
    )
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_have_count(0)


def test_tampered_cookie_means_signed_out(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/")
    sign_in_with_mock(page, "alice")
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()

    cookie = session_cookie(page)
    assert cookie is not None
    value = cookie["value"]
    tampered = value[:10] + ("A" if value[10] != "A" else "B") + value[11:]
    page.context.add_cookies([{**cookie, "value": tampered}])
    page.reload()

    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_have_count(0)


def test_garbage_and_oversized_cookies_mean_signed_out(app: AppProcess, page: Page) -> None:
    page.context.add_cookies([{"name": "streamlit_auth", "value": "x" * 3900, "url": app.url + "/"}])
    page.goto(app.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Traceback")).to_have_count(0)
