"""Real headless Chromium through Keycloak's own pages, against the real app: sign-in at its login
form, the roles and groups it sends, logout at Keycloak (RP-Initiated Logout 1.0), and Keycloak's
own back-channel logout reaching an open tab.

Nothing here stands in for Keycloak: the browser types into its form, follows its redirects and
uses its account console; the admin REST API only does what an administrator would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Response, expect

from auth.identity import User
from auth.ui import ENDED_MESSAGES
from tests.keycloak.conftest import COOKIE_NAME, KeycloakApp
from tests.keycloak.steps import (
    KEYCLOAK_LABEL,
    SIGNED_OUT,
    display_name,
    expect_keycloak_form,
    expect_signed_out_without_pages,
    login_view,
    password_field,
    sign_in,
    signed_in_panel,
    type_into_keycloak,
)
from tests.support.app_process import ROOT
from tests.support.keycloak_admin import KeycloakAdmin

README = (ROOT / "README.md").read_text(encoding="utf-8")
REFUSAL = "You do not have access to this page. It needs the role admin."


@dataclass(frozen=True)
class ReadmeUser:
    roles: frozenset[str]
    groups: tuple[str, ...]


def readme_users() -> dict[str, ReadmeUser]:
    """The README's table of development users ("Keycloak in Docker"): ``user.roles`` and
    ``user.groups`` as it promises them, e.g. ``| alice | ... | admin, user; `admins` (...) |``."""
    section = README.split("### Keycloak in Docker", 1)[1].split("\n### ", 1)[0]
    users = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not re.fullmatch(r"`[a-z]+-dev-password`", cells[1]):
            continue
        roles, groups = cells[3].split(";", 1)
        users[cells[0]] = ReadmeUser(
            frozenset(role.strip() for role in roles.split(",")),
            tuple(re.findall(r"`([^`]+)`", groups.split(" (", 1)[0])),
        )
    assert set(users) == {"alice", "bob", "carol"}, users
    return users


def shown_list(text: str, key: str) -> list[str]:
    """A list of strings as ``st.json`` shows it: ``"roles":[ 0:"admin" 1:"user" ]``."""
    match = re.search(rf'"{key}":\[((?:\s*\d+:"[^"]*")*)\s*\]', text)
    assert match is not None, f"no list {key!r} in {text!r}"
    return re.findall(r'\d+:"([^"]*)"', match.group(1))


# -- sign-in ---------------------------------------------------------------------------------


def test_alice_signs_in_at_keycloaks_form_with_the_roles_and_groups_the_readme_lists(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, context: BrowserContext, page: Page
) -> None:
    sign_in(page, keycloak_app, "alice")
    expect(page.get_by_role("heading", name=f"Hello {display_name('alice')}")).to_be_visible()

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Your profile").click()
    profile = page.get_by_test_id("stMain").get_by_test_id("stJson")
    expect(profile).to_contain_text('"groups":[')
    shown = profile.inner_text()
    promised = readme_users()["alice"]
    assert set(shown_list(shown, "roles")) == promised.roles
    assert tuple(shown_list(shown, "groups")) == promised.groups
    assert f'"sub":"{keycloak_admin.user("alice")["id"]}"' in shown
    assert f'"issuer":"{keycloak_app.issuer}"' in shown

    # The session cookie names the same user (the claims the page reads come from the store).
    cookie = next(c["value"] for c in context.cookies() if c["name"] == COOKIE_NAME)
    user = keycloak_app.user_of(cookie)
    assert user is not None and set(user.roles) == promised.roles and user.groups == promised.groups

    # demo/main.py restricts the Admin page to the role admin: alice has it.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Admin").click()
    expect(page.get_by_text(f"Only administrators see this page. Welcome, {display_name('alice')}.")).to_be_visible()


def test_bob_is_refused_the_admin_page_and_sees_why(keycloak_app: KeycloakApp, page: Page) -> None:
    sign_in(page, keycloak_app, "bob")
    expect(page.get_by_role("heading", name=f"Hello {display_name('bob')}")).to_be_visible()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Your profile")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)

    page.goto(keycloak_app.url + "/admin")

    expect(page.get_by_text(REFUSAL)).to_be_visible()
    expect(page.get_by_text("Only administrators see this page.")).to_have_count(0)
    assert "admin" not in readme_users()["bob"].roles


# -- logout at Keycloak (RP-Initiated Logout 1.0) ------------------------------------------------


def test_log_out_ends_keycloaks_session_without_a_confirmation_page(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, page: Page
) -> None:
    alice = keycloak_admin.user("alice")["id"]
    sign_in(page, keycloak_app, "alice")
    assert len(keycloak_admin.user_sessions(alice)) == 1
    documents: list[Response] = []
    page.on("response", lambda r: documents.append(r) if r.request.resource_type == "document" else None)

    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()

    expect(login_view(page)).to_be_visible()
    expect(page.get_by_text(SIGNED_OUT)).to_be_visible()
    # The browser went through Keycloak's end-session endpoint, which redirected at once: with
    # a valid id_token_hint it asks for no confirmation ("Do you want to log out?").
    end_session = f"{keycloak_app.issuer}/protocol/openid-connect/logout?"
    at_keycloak = [r for r in documents if r.url.startswith(keycloak_app.issuer)]
    assert [r.url.startswith(end_session) for r in at_keycloak] == [True], [r.url for r in documents]
    assert at_keycloak[0].status == 302
    params = parse_qs(urlsplit(at_keycloak[0].url).query)
    assert set(params) == {"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}
    assert params["client_id"] == ["streamlit-app"]
    assert params["post_logout_redirect_uri"] == [keycloak_app.url + "/"]
    assert at_keycloak[0].headers["location"].startswith(keycloak_app.url + "/?state=")
    assert keycloak_admin.user_sessions(alice) == []

    # Keycloak's session is over: signing in again asks for a password, and anyone may sign in.
    page.get_by_role("link", name=f"Sign in with {KEYCLOAK_LABEL}").click()
    expect_keycloak_form(page, keycloak_app)
    type_into_keycloak(page, "bob")
    expect(signed_in_panel(page, "bob")).to_be_visible()


# -- Keycloak ends the session: back-channel logout to an open tab --------------------------------


@pytest.fixture
def alice_signed_in(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, context: BrowserContext, page: Page
) -> User:
    """alice signed in on the app's home page, in the one Keycloak session she has."""
    sign_in(page, keycloak_app, "alice")
    (session,) = keycloak_admin.user_sessions(keycloak_admin.user("alice")["id"])
    user = keycloak_app.user_of(next(c["value"] for c in context.cookies() if c["name"] == COOKIE_NAME))
    assert user is not None and user.sid == session["id"]
    return user


def test_logout_by_keycloaks_admin_reaches_alices_open_tab(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, alice_signed_in: User, page: Page
) -> None:
    keycloak_admin.logout_user(keycloak_admin.user("alice")["id"])

    expect_signed_out_without_pages(page, ENDED_MESSAGES["backchannel"])
    assert keycloak_app.record(alice_signed_in.session_id).end_reason == "backchannel"


def test_signing_out_at_keycloaks_account_console_reaches_alices_open_tab(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, alice_signed_in: User, context: BrowserContext, page: Page
) -> None:
    """Her own sign-out at Keycloak, in another tab of the same browser: Keycloak's account
    console (signed in by Keycloak's session cookie) and its user menu's "Sign out"."""
    account = context.new_page()
    account.goto(f"{keycloak_app.issuer}/account")
    account.get_by_role("button", name=display_name("alice")).click()
    account.get_by_role("menuitem", name="Sign out").click()

    expect_signed_out_without_pages(page, ENDED_MESSAGES["backchannel"])
    assert keycloak_app.record(alice_signed_in.session_id).end_reason == "backchannel"
    assert keycloak_admin.user_sessions(keycloak_admin.user("alice")["id"]) == []
    # The account console lost its session too: Keycloak asks for a password again.
    expect(password_field(account)).to_be_visible()
