"""Who may see what, in the browser: providers listed, admin page rules, refused accounts."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from auth.ui import WORD_JOINER
from tests.browser.conftest import HOSTILE_NAME
from tests.browser.steps import session_cookie, sign_in_with_mock
from tests.support.app_process import AppProcess


def test_login_page_lists_every_configured_provider(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/")
    links = page.get_by_role("link", name="Sign in with")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_have_text("Sign in with Mock provider")
    expect(links.nth(1)).to_have_text("Sign in with Other provider")
    assert links.nth(1).get_attribute("href") == "/auth/login?provider=other&next=%2F"


def test_admin_sees_the_admin_page(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/")
    sign_in_with_mock(page, "alice")
    expect(page.get_by_role("heading", name="Hello Alice Admin")).to_be_visible()

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Admin").click()

    expect(page.get_by_role("heading", name="Admin")).to_be_visible()
    expect(page.get_by_text("Only administrators see this page. Welcome, Alice Admin.")).to_be_visible()
    assert page.url == app.url + "/admin"


def test_non_admin_does_not_see_the_admin_page_and_is_refused_by_url(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/")
    sign_in_with_mock(page, "bob")
    expect(page.get_by_role("heading", name="Hello Bob User")).to_be_visible()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Your profile")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)

    page.goto(app.url + "/admin")

    expect(page.get_by_text("You do not have access to this page. It needs the role admin.")).to_be_visible()
    expect(page.get_by_text("Only administrators see this page.")).to_have_count(0)


def test_account_of_a_disallowed_domain_is_refused_without_a_cookie(app: AppProcess, page: Page) -> None:
    page.goto(app.url + "/")
    page.get_by_role("link", name="Sign in with Other provider").click()
    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    page.get_by_role("button", name="carol@other.example").click()

    expect(page.get_by_role("heading", name="Your account is not allowed here")).to_be_visible()
    expect(page.get_by_text("Signed in at the provider as carol@other.example.")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in with a different account")).to_be_visible()
    assert session_cookie(page) is None

    page.get_by_role("link", name="Back to the app").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_claims_are_shown_as_plain_text_never_as_markdown(app: AppProcess, page: Page) -> None:
    """A provider-supplied name renders literally: no image request, link, colour or maths."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(app.url + "/")
    page.get_by_role("link", name="Sign in with Other provider").click()
    page.get_by_role("button", name="mallory@example.com").click()

    heading = page.get_by_role("heading", level=1).filter(has_text="Hello")
    expect(heading).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Signed in as")).to_be_visible()
    # The text as a person reads it (escape_markdown adds invisible word joiners to URLs).
    assert heading.inner_text().replace(WORD_JOINER, "") == f"Hello {HOSTILE_NAME}"
    panel = sidebar.get_by_text("Signed in as").inner_text().replace(WORD_JOINER, "")
    assert panel == f"Signed in as {HOSTILE_NAME}"
    expect(sidebar.get_by_text("mallory@").first).to_be_visible()
    main = page.get_by_test_id("stMain")
    for root in (main, sidebar):
        expect(root.locator("img")).to_have_count(0)
        outside = f"a[href^='http']:not([href^='{app.url}']), a[href^='mailto:']"
        expect(root.locator(outside)).to_have_count(0)
        expect(root.locator(".katex")).to_have_count(0)
        expect(root.locator("b:text-is('tag'), strong:text-is('bold')")).to_have_count(0)
    assert not any("tracker.invalid" in url for url in requested)
