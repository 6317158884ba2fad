"""The demo as ``scripts/run.sh`` starts it: ``python -m auth.dev app.py`` with nothing configured,
so the repository's development provider (devprovider) signs people in, in a real browser.

What a newcomer does first: the app's login page (no Streamlit "Deploy" button), the provider's
page with a card per demo account, signed in with roles for the admin page and an access token
for the API page, sign-out that comes straight back to "You have signed out.", signing in again
within the provider's session without its page, the keyboard instead of the mouse, and a
session signed out on the provider's sessions page reaching an open tab (back-channel logout).
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from auth.ui import ENDED_MESSAGES
from tests.browser.steps import session_cookie
from tests.packaging.outside_app import ServedApp, outside_environment
from tests.support.app_process import ROOT, free_port, streamlit_options

SIGN_IN_LINK = "Sign in with the development provider"
#: the app re-checks an open page's session every 5 s; a back-channel logout shows within that
BACKCHANNEL_MS = 15_000


@pytest.fixture(scope="module")
def demo() -> Iterator[ServedApp]:
    """The launcher in the repository, as scripts/run.sh runs it, with no settings at all
    (no developer .env) and the session store in a folder of its own."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="demo-store-") as store:
        env = outside_environment(
            {"AUTH_ENV_FILE": "", "AUTH_STORE": f"sqlite:///{Path(store) / 'sessions.db'}"}, keep_coverage=True
        )
        command = [sys.executable, "-m", "auth.dev", "app.py", *streamlit_options(port)]
        with ServedApp(command, cwd=ROOT, env=env, port=port) as app:
            yield app


def open_provider_page(page: Page, app: ServedApp) -> str:
    """From the app's login page to the provider's account cards; returns the provider's origin."""
    page.goto(app.url + "/")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    page.get_by_role("link", name=SIGN_IN_LINK).click()
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"


def test_the_login_page_has_no_deploy_button(demo: ServedApp, page: Page) -> None:
    page.goto(demo.url + "/")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=SIGN_IN_LINK)).to_be_visible()

    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)
    expect(page.get_by_test_id("stMainMenu")).to_have_count(0)


def test_a_newcomer_signs_in_as_alice_uses_the_demo_and_signs_out_at_once(demo: ServedApp, page: Page) -> None:
    origin = open_provider_page(page, demo)
    expect(page.get_by_text("Development only.")).to_be_visible()
    alice = page.get_by_role("button", name="alice", exact=True)
    bob = page.get_by_role("button", name="bob", exact=True)
    # Each card shows what the app will receive; its button (the username) is described by it.
    alice_card = page.get_by_role("listitem").filter(has=alice)
    for shown in ("Alice Admin", "alice@example.com", "admin", "admins"):
        expect(alice_card).to_contain_text(shown)
    expect(page.get_by_role("listitem").filter(has=bob)).to_contain_text("analysts")
    expect(alice).to_have_accessible_description(
        re.compile(r"^Alice Admin alice · alice@example\.com Roles ?: admin\b.* Groups ?: admins$")
    )

    alice.click()

    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()
    assert page.url == demo.url + "/"
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Admin").click()
    expect(page.get_by_text("Only administrators see this page.")).to_be_visible()
    # An access token from the provider, used against its userinfo endpoint.
    nav.get_by_role("link", name="API call").click()
    expect(page.get_by_text("answered HTTP 200")).to_be_visible()
    expect(page.get_by_test_id("stMain").get_by_test_id("stJson")).to_contain_text("alice@example.com")

    shown: list[str] = []
    page.on("framenavigated", lambda frame: shown.append(frame.url) if frame == page.main_frame else None)
    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()

    expect(page.get_by_text("You have signed out.")).to_be_visible()
    # Through the provider's end-session endpoint (a redirect), but no page of it on the way.
    assert shown and not [url for url in shown if url.startswith(origin)], shown
    assert session_cookie(page) is None
    # The provider's session ended too: the next sign-in shows the accounts again.
    page.get_by_role("link", name=SIGN_IN_LINK).click()
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()


def test_signing_in_again_within_the_provider_session_skips_its_page(demo: ServedApp, page: Page) -> None:
    origin = open_provider_page(page, demo)
    page.get_by_role("button", name="bob", exact=True).click()
    expect(page.get_by_role("heading", name="Hello Bob User")).to_be_visible()
    # The app's session is gone (a new browser session, say); the provider's is not.
    page.context.clear_cookies(name="streamlit_auth")
    page.goto(demo.url + "/")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()

    shown: list[str] = []
    page.on("framenavigated", lambda frame: shown.append(frame.url) if frame == page.main_frame else None)
    page.get_by_role("link", name=SIGN_IN_LINK).click()

    expect(page.get_by_role("heading", name="Hello Bob User")).to_be_visible()
    assert not [url for url in shown if url.startswith(origin)], shown


def test_the_keyboard_alone_signs_in(demo: ServedApp, page: Page) -> None:
    open_provider_page(page, demo)
    alice = page.get_by_role("button", name="alice", exact=True)

    page.keyboard.press("Tab")
    expect(alice).to_be_focused()
    # A visible focus ring (:focus-visible) around the whole card (the button's ::after covers
    # the card), not the browser's default or none.
    assert alice.evaluate("e => getComputedStyle(e, '::after').outlineStyle") == "solid"
    assert alice.evaluate("e => getComputedStyle(e, '::after').position") == "absolute"
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="bob", exact=True)).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()


def test_a_session_signed_out_at_the_provider_reaches_the_open_tab(
    demo: ServedApp, page: Page, context: BrowserContext
) -> None:
    origin = open_provider_page(page, demo)
    page.get_by_role("button", name="alice", exact=True).click()
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()

    sessions = context.new_page()
    sessions.goto(origin + "/")
    expect(sessions.get_by_role("heading", name="Sessions")).to_be_visible()
    # Other tests' sessions may be listed too; this browser's is marked.
    row = sessions.get_by_role("listitem").filter(has_text="This browser")
    expect(row).to_contain_text("Alice Admin")
    row.get_by_role("button", name="Sign out alice").click()
    expect(sessions.get_by_role("heading", name="Sessions")).to_be_visible()
    expect(sessions.get_by_role("listitem").filter(has_text="This browser")).to_have_count(0)

    # No click, no reload in the app's tab: the back channel ended its session.
    expect(page.get_by_text(ENDED_MESSAGES["backchannel"])).to_be_visible(timeout=BACKCHANNEL_MS)
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_have_count(0)


def test_the_sessions_page_refuses_a_sign_out_posted_from_another_site(demo: ServedApp, page: Page) -> None:
    origin = open_provider_page(page, demo)
    page.get_by_role("button", name="bob", exact=True).click()
    expect(page.get_by_role("heading", name="Hello Bob User")).to_be_visible()
    sessions = page.context.new_page()
    sessions.goto(origin + "/")
    sid = sessions.locator("input[name=sid]").first.get_attribute("value")
    assert sid

    # A page of the app's origin (another site to the provider) posting the form itself.
    forged = page.context.new_page()
    forged.goto(demo.url + "/_stcore/health")
    forged.set_content(
        f'<form method="post" action="{origin}/sessions/end"><input name="sid" value="{sid}">'
        '<button type="submit">Win a prize</button></form>'
    )
    forged.get_by_role("button", name="Win a prize").click()

    expect(forged.get_by_role("heading", name="Not signed out")).to_be_visible()
    sessions.reload()
    expect(sessions.locator(f'input[name=sid][value="{sid}"]')).to_have_count(1)
