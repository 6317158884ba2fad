"""What a person sees and does in the browser against the real Keycloak: its own login form
(the ``keycloak.v2`` theme of Keycloak 26) and the app's pages around it."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from scripts.keycloak_realm import load_realm
from tests.keycloak.conftest import KeycloakApp
from tests.support.keycloak_login import demo_password

#: the app's login button for the Keycloak preset ("Sign in with <label>")
KEYCLOAK_LABEL = "Keycloak"
#: the heading of Keycloak's login page
KEYCLOAK_FORM_HEADING = "Sign in to your account"
SIGNED_OUT = "You have signed out."
#: "within 10 s without any user action": open pages re-check their session every 5 s
REVOCATION_MS = 10_000


def display_name(username: str) -> str:
    """The name Keycloak gives a demo user (``name``: first and last name of the realm file)."""
    user = next(user for user in load_realm()["users"] if user["username"] == username)
    return f"{user['firstName']} {user['lastName']}"


def login_view(page: Page) -> Locator:
    """The app's login page (not Keycloak's "Sign in to your account")."""
    return page.get_by_role("heading", name="Sign in", exact=True)


def signed_in_panel(page: Page, username: str = "alice") -> Locator:
    return page.get_by_test_id("stSidebar").get_by_text(f"Signed in as {display_name(username)}")


def password_field(page: Page) -> Locator:
    return page.get_by_label("Password", exact=True)


def expect_keycloak_form(page: Page, app: KeycloakApp) -> None:
    """Keycloak's own login page of the app's realm, asking for a password."""
    expect(page.get_by_role("heading", name=KEYCLOAK_FORM_HEADING)).to_be_visible()
    expect(password_field(page)).to_be_visible()
    assert page.url.startswith(f"{app.issuer}/protocol/openid-connect/auth?"), page.url


def type_into_keycloak(page: Page, username: str) -> None:
    """Fill in Keycloak's form with the realm file's password for ``username`` and submit it."""
    page.get_by_label("Username or email").fill(username)
    password_field(page).fill(demo_password(username))
    page.get_by_role("button", name="Sign In").click()


def sign_in(page: Page, app: KeycloakApp, username: str = "alice", path: str = "/") -> None:
    """From the app's login page at ``path``, through Keycloak's form, back to the app signed in."""
    page.goto(app.url + path)
    expect(login_view(page)).to_be_visible()
    page.get_by_role("link", name=f"Sign in with {KEYCLOAK_LABEL}").click()
    expect_keycloak_form(page, app)
    type_into_keycloak(page, username)
    expect(signed_in_panel(page, username)).to_be_visible()
    assert page.url == app.url + path, page.url


def expect_signed_out_without_pages(page: Page, message: str, *, timeout: float = REVOCATION_MS) -> None:
    """The login view with ``message`` (the reason), and a sidebar without the app's pages."""
    expect(login_view(page)).to_be_visible(timeout=timeout)
    expect(page.get_by_text(message)).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
