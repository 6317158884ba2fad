"""What a person does in the browser, as reusable steps."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect


def sign_in_with_mock(page: Page, user: str = "alice") -> None:
    """From the app's login page: the provider button, the provider's form, back to the app."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("link", name="Sign in with Mock provider").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.get_by_role("button", name=user, exact=True).click()


def session_cookie(page: Page, name: str = "streamlit_auth") -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == name), None)


def wait_until_clock(moment: float, page: Page) -> None:
    """Let real time pass until ``moment`` (``time.monotonic``): an idle timeout or a token's
    life must go by. Not a synchronisation wait: what happens next is awaited by condition."""
    remaining = moment - time.monotonic()
    if remaining > 0:
        page.wait_for_timeout(remaining * 1000)
