"""The demo's "API call" page (``/api``) in real Chromium, against the real Keycloak's strict
refresh-token rotation: the realm file's *Revoke Refresh Token* with *Refresh Token Max Reuse* 0,
so a refresh token presented twice is refused and the grant with it.

The page calls Keycloak's userinfo endpoint with ``auth.access_token()``, which refreshes once
less than half of a short token's life is left (``auth.tokens``). For these tests the realm's
access tokens live seconds (``accessTokenLifespan`` through the admin REST API, restored after).
Refreshes are counted where they happen: Keycloak's own ``REFRESH_TOKEN`` and
``REFRESH_TOKEN_ERROR`` user events (stored only during these tests), beside the app's
``event=tokens_refreshed`` log lines. To tell a new answer of userinfo from the one already on the
page, alice's last name at Keycloak changes just before the click (userinfo reads the user as it
is now). Waits are for conditions; the only real-time waits are for a token's life to pass.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from auth.ui import ENDED_MESSAGES
from tests.browser.steps import wait_until_clock
from tests.keycloak.conftest import KeycloakApp
from tests.keycloak.steps import expect_signed_out_without_pages, login_view, sign_in, signed_in_panel
from tests.support.app_process import wait_until
from tests.support.keycloak_admin import KeycloakAdmin

#: the access tokens' life here: refreshed 5 s after they were issued, dead after 10 s
LIFETIME = 10
#: for the tabs test: opening three tabs must fit in the 10 s the first token is fresh
TABS_LIFETIME = 20
#: beyond the moment a token is due for a refresh, or dead (the app stored its expiry a little
#: after Keycloak issued it; the test's clock starts after both)
MARGIN = 1.0
REFRESHED = "REFRESH_TOKEN"
REFUSED = "REFRESH_TOKEN_ERROR"
#: Keycloak's event for a refresh of a disabled user's token (its ``details.reason``)
REFUSED_DISABLED = f"{REFUSED} (User disabled)"


# -- Keycloak set up for the test, and put back ------------------------------------------------


@pytest.fixture
def alice(keycloak_admin: KeycloakAdmin) -> Iterator[dict[str, Any]]:
    """alice's representation at Keycloak; afterwards enabled again, with her name back."""
    user = keycloak_admin.user("alice")
    yield user
    keycloak_admin.update_user(user["id"], enabled=True, lastName=user["lastName"])


@pytest.fixture
def token_lifespan(keycloak_admin: KeycloakAdmin) -> Iterator[Callable[[int], None]]:
    """Sets the realm's access-token lifespan (seconds) for tokens issued from now on."""
    before = keycloak_admin.realm_settings()["accessTokenLifespan"]
    yield lambda seconds: keycloak_admin.update_realm({"accessTokenLifespan": seconds})
    keycloak_admin.update_realm({"accessTokenLifespan": before})


@pytest.fixture
def refresh_events(keycloak_admin: KeycloakAdmin, alice: dict[str, Any]) -> Iterator[Callable[[], list[str]]]:
    """Keycloak stores the app's refresh events while the test runs (it stores neither by
    default); alice's, oldest first: ``REFRESH_TOKEN``, or ``REFRESH_TOKEN_ERROR (<reason>)``."""
    before = keycloak_admin.events_config()
    keycloak_admin.set_events_config({**before, "eventsEnabled": True, "enabledEventTypes": [REFRESHED, REFUSED]})
    keycloak_admin.clear_events()

    def events() -> list[str]:
        found = []
        for event in reversed(keycloak_admin.events(REFRESHED, REFUSED)):
            details = event.get("details", {})
            if alice["id"] in (event.get("userId"), details.get("refresh_token_sub")):
                found.append(event["type"] + (f" ({details.get('reason')})" if event["type"] == REFUSED else ""))
        return found

    yield events
    keycloak_admin.set_events_config(before)
    keycloak_admin.clear_events()


# -- what a person sees and does ---------------------------------------------------------------


def answer(page: Page) -> Locator:
    """The main area's JSON: userinfo's answer."""
    return page.get_by_test_id("stMain").get_by_test_id("stJson")


def expect_answer(page: Page, *texts: str) -> None:
    """Userinfo answered HTTP 200 (with ``texts``) and the page shows the token's remaining life."""
    expect(page.get_by_role("heading", name="API call")).to_be_visible()
    expect(page.get_by_text("HTTP 200", exact=True)).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Access token valid for another \d+ s$"))).to_be_visible()
    expect(answer(page)).to_contain_text('"preferred_username":"alice"')
    for text in texts:
        expect(answer(page)).to_contain_text(text)


def sign_in_to_api(page: Page, app: KeycloakApp) -> float:
    """Open ``/api`` signed out, sign in as alice at Keycloak's form, land on ``/api`` with an
    answer; the time (``time.monotonic()``) after which Keycloak had issued her tokens."""
    sign_in(page, app, "alice", path="/api")
    expect_answer(page)
    return time.monotonic()


def call_again(page: Page) -> None:
    page.get_by_test_id("stMain").get_by_role("button", name="Call again").click()


def click_together(buttons: list[Locator], after_ms: float = 500) -> None:
    """Click every button at the same moment: each tab's own timer fires at one wall-clock time
    (the tabs share this machine's clock), so the reruns reach the app together, not one after
    another as clicks sent from here one by one would."""
    at = time.time() * 1000 + after_ms
    for button in buttons:
        button.evaluate("(element, at) => setTimeout(() => element.click(), at - Date.now())", at)


def new_last_name(keycloak_admin: KeycloakAdmin, alice: dict[str, Any], value: str) -> str:
    """Change what userinfo answers, so the next answer on the page is told from the last."""
    keycloak_admin.update_user(alice["id"], lastName=value)
    return f'"family_name":"{value}"'


def refreshes_logged(app: KeycloakApp) -> int:
    return app.app.output().count("event=tokens_refreshed")


def expect_events(events: Callable[[], list[str]], expected: list[str]) -> None:
    """Keycloak stored exactly these refresh events (it writes each as it answers)."""
    wait_until(lambda: len(events()) >= len(expected), 5, f"Keycloak's events {expected}", interval=0.2)
    assert events() == expected


# -- tests -------------------------------------------------------------------------------------


def test_api_page_keeps_working_past_each_access_tokens_life_with_rotated_refresh_tokens(
    keycloak_app: KeycloakApp,
    keycloak_admin: KeycloakAdmin,
    token_lifespan: Callable[[int], None],
    refresh_events: Callable[[], list[str]],
    alice: dict[str, Any],
    page: Page,
) -> None:
    """Twice past a token's death: the second refresh presents the refresh token the first one
    returned (Keycloak refuses the spent one), so rotation is followed, not just survived."""
    token_lifespan(LIFETIME)
    logged = refreshes_logged(keycloak_app)
    issued = sign_in_to_api(page, keycloak_app)
    assert refresh_events() == []

    for round_ in (1, 2):
        # The last access token is dead now: Keycloak's userinfo would answer 401 to it.
        wait_until_clock(issued + LIFETIME + MARGIN, page)
        marker = new_last_name(keycloak_admin, alice, f"Admin-{round_}")
        call_again(page)
        expect_answer(page, marker)
        issued = time.monotonic()
        expect_events(refresh_events, [REFRESHED] * round_)

    lines = [line for line in keycloak_app.app.output().splitlines() if "event=tokens_refreshed" in line]
    assert len(lines) - logged == 2
    assert all("rotated=True claims_updated=True" in line for line in lines[-2:]), lines[-2:]
    # The refreshed ID token's name replaced the session's (README, "Identity follows").
    page.reload()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as Alice Admin-2", exact=True)).to_be_visible()
    assert refresh_events() == [REFRESHED] * 2


def test_three_tabs_at_once_cause_one_refresh(
    keycloak_app: KeycloakApp,
    keycloak_admin: KeycloakAdmin,
    token_lifespan: Callable[[int], None],
    refresh_events: Callable[[], list[str]],
    alice: dict[str, Any],
    context: BrowserContext,
    page: Page,
) -> None:
    token_lifespan(TABS_LIFETIME)
    logged = refreshes_logged(keycloak_app)
    issued = sign_in_to_api(page, keycloak_app)
    tabs = [page, context.new_page(), context.new_page()]
    for tab in tabs[1:]:
        tab.goto(keycloak_app.url + "/api")
        expect_answer(tab)
    assert refresh_events() == [], "a tab opened after its token was due for a refresh (too slow?)"

    wait_until_clock(issued + TABS_LIFETIME / 2 + MARGIN, page)
    marker = new_last_name(keycloak_admin, alice, "Admin-tabs")
    buttons = [tab.get_by_test_id("stMain").get_by_role("button", name="Call again") for tab in tabs]
    for button in buttons:
        expect(button).to_be_enabled()
    click_together(buttons)

    for tab in tabs:
        expect_answer(tab, marker)
        expect(tab.get_by_role("alert")).to_have_count(0)
    # One refresh at Keycloak, and no refresh token presented twice (that would be an error
    # event, and with reuse 0 the end of the grant).
    expect_events(refresh_events, [REFRESHED])
    assert refreshes_logged(keycloak_app) - logged == 1


def test_alice_disabled_at_keycloak_is_signed_out_at_the_next_refresh(
    keycloak_app: KeycloakApp,
    keycloak_admin: KeycloakAdmin,
    token_lifespan: Callable[[int], None],
    refresh_events: Callable[[], list[str]],
    alice: dict[str, Any],
    page: Page,
) -> None:
    token_lifespan(LIFETIME)
    issued = sign_in_to_api(page, keycloak_app)
    keycloak_admin.set_user_enabled(alice["id"], False)
    # Disabling a user ends none of her sessions at Keycloak (no back-channel logout): only the
    # refresh finds out. Her page stays as it is until then.
    assert len(keycloak_admin.user_sessions(alice["id"])) == 1

    wait_until_clock(issued + LIFETIME / 2 + MARGIN, page)
    expect(signed_in_panel(page)).to_be_visible()
    call_again(page)

    expect_signed_out_without_pages(page, ENDED_MESSAGES["refresh_failed"])
    expect(page.get_by_role("heading", name="API call")).to_have_count(0)
    expect_events(refresh_events, [REFUSED_DISABLED])
    log = keycloak_app.app.output()
    assert "event=token_refresh_refused provider=keycloak reason=refresh_failed" in log
    assert "event=session_ended reason=refresh_failed provider=keycloak" in log
    page.reload()
    expect(login_view(page)).to_be_visible()
    expect(signed_in_panel(page)).to_have_count(0)
