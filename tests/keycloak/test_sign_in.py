"""Sign-in through Keycloak's own login form, against the real app (``streamlit run app.py``),
and Keycloak ending that session with its own back-channel logout.

Driven over HTTP with ``requests`` as a browser would: the app's /auth/login, Keycloak's login
page and its form, then the app's callback. The users, their roles and groups are the realm
file's (README, "Keycloak in Docker").
"""

from __future__ import annotations

import requests

from auth.access import admits
from auth.identity import User
from tests.keycloak.conftest import KeycloakApp
from tests.support.app_process import wait_until
from tests.support.http_flow import query
from tests.support.keycloak_admin import KeycloakAdmin
from tests.support.keycloak_login import browser_session, demo_password, login_form, sign_in


def signed_in(keycloak_app: KeycloakApp, browser: requests.Session, username: str) -> User:
    result = sign_in(browser, keycloak_app.url, username)
    assert result.response.status_code == 302, result.response.text[:500]
    assert result.response.headers["location"] == "/"
    user = keycloak_app.user(browser)
    assert user is not None
    return user


def test_alice_signs_in_with_her_realm_roles_client_roles_and_group(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, browser: requests.Session
) -> None:
    user = signed_in(keycloak_app, browser, "alice")

    account = keycloak_admin.user("alice")
    assert (user.provider, user.issuer, user.sub) == ("keycloak", keycloak_app.keycloak.issuer, account["id"])
    assert (user.name, user.preferred_username) == ("Alice Admin", "alice")
    assert (user.email, user.email_verified) == ("alice@example.com", True)
    # README: realm roles (realm_access.roles) and this client's roles (resource_access.streamlit-app.roles)
    assert sorted(user.roles) == ["admin", "editor", "offline_access", "user"]
    assert user.groups == ("admins",)
    assert admits(user, roles=["admin"])  # demo/main.py's rule for the Admin page
    # The session id the app keeps for logout is Keycloak's own session.
    (session,) = keycloak_admin.user_sessions(account["id"])
    assert user.sid == session["id"]
    assert "streamlit-app" in session["clients"].values()


def test_bob_signs_in_without_the_admin_role(keycloak_app: KeycloakApp, browser: requests.Session) -> None:
    user = signed_in(keycloak_app, browser, "bob")

    assert (user.name, user.email) == ("Bob Analyst", "bob@example.com")
    assert sorted(user.roles) == ["offline_access", "user", "viewer"]
    assert user.groups == ("analysts",)
    assert not user.has_role("admin")
    assert not admits(user, roles=["admin"])  # demo/main.py's rule: the Admin page refuses him


def test_carol_has_a_realm_role_and_no_group(keycloak_app: KeycloakApp, browser: requests.Session) -> None:
    user = signed_in(keycloak_app, browser, "carol")

    assert (user.email, sorted(user.roles), user.groups) == ("carol@other.example", ["offline_access", "user"], ())


def test_a_user_disabled_at_keycloak_is_stopped_at_its_login_form(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, browser: requests.Session
) -> None:
    bob = keycloak_admin.user("bob")["id"]
    keycloak_admin.set_user_enabled(bob, False)
    try:
        login = browser.get(f"{keycloak_app.url}/auth/login?provider=keycloak", allow_redirects=False, timeout=10)
        action, fields = login_form(browser.get(login.headers["location"], timeout=10))
        refused = browser.post(
            action, data={**fields, "username": "bob", "password": demo_password("bob")}, allow_redirects=False
        )
        assert keycloak_admin.user("bob")["enabled"] is False
    finally:
        keycloak_admin.set_user_enabled(bob, True)

    assert refused.status_code == 200 and "location" not in refused.headers  # no way back to the app
    assert "Account is disabled, contact your administrator." in refused.text
    assert keycloak_app.user(browser) is None
    with browser_session() as other:
        assert signed_in(keycloak_app, other, "bob").preferred_username == "bob"  # enabled again


def test_keycloak_returns_iss_and_its_session_to_the_callback(
    keycloak_app: KeycloakApp, browser: requests.Session
) -> None:
    """RFC 9207 ``iss`` as Keycloak sends it, on the callback URL the realm registers."""
    result = sign_in(browser, keycloak_app.url, "alice")

    assert result.callback_url.startswith(f"{keycloak_app.url}/auth/callback/keycloak?")
    params = query(result.callback_url)
    assert params["iss"] == keycloak_app.keycloak.issuer
    assert {"code", "state", "session_state"} <= set(params)
    assert result.response.status_code == 302
    user = keycloak_app.user(browser)
    assert user is not None and user.sid == params["session_state"]


def test_the_app_logs_the_sign_in_without_codes_or_tokens(keycloak_app: KeycloakApp, browser: requests.Session) -> None:
    result = sign_in(browser, keycloak_app.url, "bob")
    user = keycloak_app.user(browser)
    assert user is not None

    output = keycloak_app.app.output()
    assert f"event=login provider=keycloak sub={user.sub}" in output
    assert query(result.callback_url)["code"] not in output


# -- Keycloak ends the session -----------------------------------------------------------


def test_logout_by_keycloaks_admin_ends_the_app_session_through_back_channel_logout(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, browser: requests.Session
) -> None:
    """Admin REST API "logout user": Keycloak POSTs a logout token (with ``sid``, as the realm
    requires) to the back-channel URL the realm holds, and the app ends that session."""
    user = signed_in(keycloak_app, browser, "alice")
    assert keycloak_app.record(user.session_id).ended_at is None

    keycloak_admin.logout_user(keycloak_admin.user("alice")["id"])

    wait_until(lambda: keycloak_app.record(user.session_id).end_reason == "backchannel", 10, "the back-channel logout")
    assert (
        f"event=session_ended reason=backchannel provider=keycloak sub={user.sub} sessions=1 by_sid=True"
        in keycloak_app.app.output()
    )


def test_admin_logout_of_a_user_with_two_sessions_reaches_only_one_of_them(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, browser: requests.Session
) -> None:
    """What Keycloak 26.4.7 does (README, "Sessions and logout"): "logout user" ends every
    session of the user at Keycloak but sends the client a single logout token, carrying one
    session's ``sid`` (keycloak/keycloak#22914 and #32124). A ``sid`` asks the app to end that
    session only (Back-Channel Logout 1.0 §2.4), so the other one stays until its next refresh,
    its idle timeout or its own sign-out. A Keycloak that sends one token per session, or one
    without ``sid``, fails this test: then the README's note goes."""
    alice = keycloak_admin.user("alice")["id"]
    with browser_session() as other:
        users = [signed_in(keycloak_app, browser, "alice"), signed_in(keycloak_app, other, "alice")]
    assert users[0].sid != users[1].sid
    logged = keycloak_app.app.output().count("event=session_ended reason=backchannel")

    keycloak_admin.logout_user(alice)

    assert keycloak_admin.user_sessions(alice) == []
    wait_until(
        lambda: any(keycloak_app.record(user.session_id).ended_at for user in users), 10, "the back-channel logout"
    )
    reasons = sorted(str(keycloak_app.record(user.session_id).end_reason) for user in users)
    assert reasons == ["None", "backchannel"]
    assert keycloak_app.app.output().count("event=session_ended reason=backchannel") == logged + 1


def test_signing_out_each_keycloak_session_reaches_every_app_session(
    keycloak_app: KeycloakApp, keycloak_admin: KeycloakAdmin, browser: requests.Session
) -> None:
    """The administrator's way around it: sign out each session (admin console: a session's
    "Sign out"; REST: ``DELETE /sessions/{id}``), and Keycloak sends a logout token for each."""
    alice = keycloak_admin.user("alice")["id"]
    with browser_session() as other:
        users = [signed_in(keycloak_app, browser, "alice"), signed_in(keycloak_app, other, "alice")]

    for session in keycloak_admin.user_sessions(alice):
        keycloak_admin.delete_session(session["id"])

    wait_until(
        lambda: all(keycloak_app.record(user.session_id).end_reason == "backchannel" for user in users),
        10,
        "a back-channel logout for each session",
    )
