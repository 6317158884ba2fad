"""``offline_access`` against the real Keycloak: the scope the README offers for refresh tokens
that outlive Keycloak's session (``AUTH_KEYCLOAK_SCOPES=openid email profile offline_access``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests

from auth.identity import User
from tests.support.app_process import AppProcess
from tests.support.cookies import app_session_cookie
from tests.support.keycloak import KeycloakServer
from tests.support.keycloak_admin import KeycloakAdmin
from tests.support.keycloak_login import sign_in

SCOPES = "openid email profile offline_access"


@pytest.fixture(scope="module")
def cookie_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def offline_app(keycloak: KeycloakServer, cookie_secret: str) -> Iterator[AppProcess]:
    env = keycloak.app_environment(cookie_secret, AUTH_KEYCLOAK_SCOPES=SCOPES)
    with AppProcess(env, port=keycloak.app_port) as app:
        yield app


@pytest.fixture
def alice_id(keycloak_admin: KeycloakAdmin) -> Iterator[str]:
    """alice's id; afterwards her sessions end and her offline grant is revoked (it survives logout)."""
    user_id = str(keycloak_admin.user("alice")["id"])
    yield user_id
    keycloak_admin.logout_user(user_id)
    keycloak_admin.revoke_offline_access(user_id)


def test_offline_access_signs_alice_in_with_an_offline_session_at_keycloak(
    offline_app: AppProcess,
    keycloak_admin: KeycloakAdmin,
    alice_id: str,
    browser: requests.Session,
    cookie_secret: str,
) -> None:
    result = sign_in(browser, offline_app.url, "alice")

    assert result.response.status_code == 302, result.response.text[:500]
    cookies = app_session_cookie(cookie_secret, public_url=offline_app.url)
    user: User | None = cookies.verify(browser.cookies.get("streamlit_auth"))
    assert user is not None and user.preferred_username == "alice"
    (offline,) = keycloak_admin.offline_sessions(alice_id)
    assert offline["id"] == user.sid
