"""Google and Keycloak presets and the access rules, against providers issuing their token shapes.

One app with three providers: ``google`` (a local provider issuing Google-shaped tokens with
``hd``), ``keycloak`` (Keycloak-shaped: issuer ``/realms/demo``, roles in ``realm_access`` /
``resource_access``, a public host for the browser and a back channel for the app) and the
access rule ``AUTH_ALLOWED_DOMAINS=example.com,corp.example``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from auth.identity import User
from devprovider import LocalProvider, ProviderUser, google_users, keycloak_users
from tests.support.app_process import AppProcess
from tests.support.cookies import app_session_cookie
from tests.support.http_flow import query, start_login

GOOGLE_CLIENT = "google-client.apps.googleusercontent.example"
KEYCLOAK_CLIENT = "streamlit-app"
SECRET = "preset-secret"


@dataclass
class Presets:
    app: AppProcess
    google: LocalProvider
    keycloak: LocalProvider
    cookie_secret: str

    def user(self, browser: requests.Session) -> User | None:
        sessions = app_session_cookie(self.cookie_secret, public_url=self.app.url, timeout=600)
        return sessions.verify(browser.cookies.get("streamlit_auth"))


@pytest.fixture(scope="module")
def presets() -> Iterator[Presets]:
    keycloak_people = keycloak_users(KEYCLOAK_CLIENT) + [
        ProviderUser(
            sub="c0ffee00-0000-4000-8000-000000000003",
            claims={
                "email": "carol@other.example",
                "email_verified": True,
                "name": "Carol Other",
                "preferred_username": "carol",
                "realm_access": {"roles": ["user"]},
            },
        ),
        ProviderUser(
            sub="c0ffee00-0000-4000-8000-000000000004",
            claims={
                "email": "dave@example.com",
                "email_verified": False,
                "name": "Dave Unverified",
                "preferred_username": "dave",
            },
        ),
    ]
    with (
        LocalProvider(users=google_users(), client_id=GOOGLE_CLIENT, client_secret=SECRET) as google,
        LocalProvider(
            users=keycloak_people,
            client_id=KEYCLOAK_CLIENT,
            client_secret=SECRET,
            issuer_path="/realms/demo",
            frontend_host="localhost",
        ) as keycloak,
    ):
        cookie_secret = secrets.token_urlsafe(32)
        app = AppProcess({})
        app.env = {
            "AUTH_PROVIDERS": "google,keycloak",
            "AUTH_GOOGLE_ISSUER": google.issuer,  # Google's own issuer is the default
            "AUTH_GOOGLE_CLIENT_ID": GOOGLE_CLIENT,
            "AUTH_GOOGLE_CLIENT_SECRET": SECRET,
            "AUTH_GOOGLE_HOSTED_DOMAIN": "corp.example",
            "AUTH_KEYCLOAK_URL": f"http://localhost:{keycloak.port}",
            "AUTH_KEYCLOAK_REALM": "demo",
            "AUTH_KEYCLOAK_DISCOVERY_URL": keycloak.discovery_url,  # the back channel, 127.0.0.1
            "AUTH_KEYCLOAK_CLIENT_ID": KEYCLOAK_CLIENT,
            "AUTH_KEYCLOAK_CLIENT_SECRET": SECRET,
            "AUTH_ALLOWED_DOMAINS": "example.com,corp.example",
            "AUTH_COOKIE_SECRET": cookie_secret,
            "AUTH_PUBLIC_URL": f"http://localhost:{app.port}",
        }
        with app:
            yield Presets(app=app, google=google, keycloak=keycloak, cookie_secret=cookie_secret)


@pytest.fixture(autouse=True)
def _reset(presets: Presets) -> Iterator[None]:
    yield
    presets.google.reset()
    presets.keycloak.reset()


def sign_in(browser: requests.Session, presets: Presets, provider: str, user: str) -> requests.Response:
    login = start_login(browser, presets.app.url, provider, "/")
    assert login.status_code == 302, login.text
    approved = browser.get(login.headers["location"] + f"&login_hint={user}", allow_redirects=False)
    assert approved.status_code == 302, approved.text
    return browser.get(approved.headers["location"], allow_redirects=False)


# -- Google ---------------------------------------------------------------------------


def test_google_sends_hosted_domain_hint_and_select_account(presets: Presets, browser: requests.Session) -> None:
    response = start_login(browser, presets.app.url, "google", "/")
    params = query(response.headers["location"])
    assert params["hd"] == "corp.example"
    assert params["prompt"] == "select_account"


def test_google_workspace_user_of_the_hosted_domain_signs_in(presets: Presets, browser: requests.Session) -> None:
    response = sign_in(browser, presets, "google", "ann@corp.example")

    assert response.status_code == 302, response.text
    user = presets.user(browser)
    assert user is not None
    assert (user.provider, user.sub, user.email) == ("google", "108234567890123456789", "ann@corp.example")
    assert user.picture == "https://lh3.googleusercontent.example/a/ann=s96-c"


def test_google_account_outside_the_hosted_domain_is_refused_without_a_session(
    presets: Presets, browser: requests.Session
) -> None:
    """The hd hint is only a UI hint: the ID token's hd claim is what is enforced."""
    response = sign_in(browser, presets, "google", "gus@gmail.example")

    assert response.status_code == 403
    assert "Your account is not allowed here" in response.text
    assert "Signed in at the provider as gus@gmail.example." in response.text
    assert "sign in with an account of corp.example" in response.text
    assert "/auth/login?provider=google&amp;next=%2F&amp;switch=1" in response.text
    assert "streamlit_auth" not in browser.cookies
    assert "event=login_failed reason=access_denied provider=google status=403" in presets.app.output()


def test_switch_account_asks_google_to_show_the_account_chooser(presets: Presets, browser: requests.Session) -> None:
    response = browser.get(f"{presets.app.url}/auth/login?provider=google&next=%2F&switch=1", allow_redirects=False)
    assert query(response.headers["location"])["prompt"] == "select_account"


# -- Keycloak -------------------------------------------------------------------------


def test_keycloak_issuer_from_url_and_realm_with_a_separate_back_channel(
    presets: Presets, browser: requests.Session
) -> None:
    login = start_login(browser, presets.app.url, "keycloak", "/")
    # The browser is sent to the public host; the app fetched discovery on 127.0.0.1.
    assert login.headers["location"].startswith(f"http://localhost:{presets.keycloak.port}/realms/demo/")
    assert presets.keycloak.discovery_hits >= 1

    response = sign_in(browser, presets, "keycloak", "alice")

    assert response.status_code == 302, response.text
    user = presets.user(browser)
    assert user is not None
    assert user.issuer == f"http://localhost:{presets.keycloak.port}/realms/demo"
    assert user.sub == "5c1f7a2e-9a43-4f0e-8d6b-2f9a1c3e7b10" and user.preferred_username == "alice"


def test_keycloak_roles_and_groups_from_the_id_token(presets: Presets, browser: requests.Session) -> None:
    response = sign_in(browser, presets, "keycloak", "alice")

    assert response.status_code == 302
    user = presets.user(browser)
    assert user is not None
    assert set(user.roles) == {"admin", "user", "editor"}  # realm roles + this client's roles
    assert user.groups == ("admins",)
    assert presets.keycloak.userinfo_hits == 0  # nothing was missing from the ID token


def test_keycloak_default_roles_only_in_the_access_token_are_still_found(
    presets: Presets, browser: requests.Session
) -> None:
    presets.keycloak.roles_in_id_token = False  # Keycloak's default mappers
    response = sign_in(browser, presets, "keycloak", "bob")

    assert response.status_code == 302
    user = presets.user(browser)
    assert user is not None
    assert set(user.roles) == {"user", "viewer"}
    assert user.groups == ("analysts",)  # from userinfo
    assert presets.keycloak.userinfo_hits == 1


def test_switch_account_asks_keycloak_for_a_fresh_login(presets: Presets, browser: requests.Session) -> None:
    response = browser.get(f"{presets.app.url}/auth/login?provider=keycloak&switch=1", allow_redirects=False)
    assert query(response.headers["location"])["prompt"] == "login"


# -- access rules -----------------------------------------------------------------------


def test_user_of_a_disallowed_domain_gets_the_refusal_page_and_no_cookie(
    presets: Presets, browser: requests.Session
) -> None:
    response = sign_in(browser, presets, "keycloak", "carol")

    assert response.status_code == 403
    assert "Your account is not allowed here" in response.text
    assert "Signed in at the provider as carol@other.example." in response.text
    assert "Sign in with a different account" in response.text
    assert not any(c.name == "streamlit_auth" for c in browser.cookies)
    assert 'detail="email domain other.example not allowed"' in presets.app.output()


def test_unverified_email_of_an_allowed_domain_is_refused(presets: Presets, browser: requests.Session) -> None:
    response = sign_in(browser, presets, "keycloak", "dave")

    assert response.status_code == 403
    assert "it has no verified email address" in response.text
    assert "streamlit_auth" not in browser.cookies
