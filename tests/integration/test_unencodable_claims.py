"""Claims that are not text: a provider's JSON may carry a lone surrogate (``"\\udc80"``).

Python decodes such an escape into a string no cookie, store or log can encode
as UTF-8. The ID token is signed, so this is the provider's own (broken)
output, not an attacker's; it must not cost the user their sign-in. The
routes run in-process against a real ``LocalProvider`` (the escape travels in
a real signed ID token); the callback used to answer 500 when such a value
reached the session cookie, and now signs in without it, saying once which
claims were dropped. A refresh that brings such claims keeps the session the
same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from starlette.applications import Starlette
from starlette.testclient import TestClient

from auth import Auth
from auth.stores.sqlite import SqliteStore
from devprovider import LocalProvider, ProviderUser
from tests.support.clock import Clock
from tests.support.inprocess import PUBLIC_URL, build_auth, client_for, path_and_query

BROKEN = "\udc80"
ALICE = ProviderUser(
    sub="alice",
    claims={
        "email": "alice@example.com",
        "email_verified": True,
        "name": f"Alice{BROKEN}Admin",
        "preferred_username": f"ali{BROKEN}ce",
        "picture": f"https://img.example/alice{BROKEN}.png",
        "roles": ["admin", f"root{BROKEN}role"],
        "groups": [f"hidden{BROKEN}group", "staff"],
    },
)
CAROL = ProviderUser(sub="carol", claims={"email": "carol@example.com", "name": "Carol", "roles": ["viewer"]})
NEAR_EXPIRY = 250  # the provider's access tokens live 300 s: 50 s left is under the 60 s margin


@pytest.fixture(scope="module")
def _idp() -> Iterator[LocalProvider]:
    with LocalProvider(users=[ALICE, CAROL]) as provider:
        yield provider


@pytest.fixture
def idp(_idp: LocalProvider) -> Iterator[LocalProvider]:
    yield _idp
    _idp.reset()
    _idp.users["carol"].claims["roles"] = ["viewer"]


@pytest.mark.parametrize("store", ["memory://", "none"])
def test_claims_that_are_not_text_are_dropped_and_the_sign_in_completes(
    idp: LocalProvider, store: str, caplog: pytest.LogCaptureFixture
) -> None:
    auth: Auth = build_auth({"local": idp}, AUTH_STORE=store, AUTH_REQUIRED_ROLES="admin")
    # A server error must show as the answer it would be, not as an exception in the test.
    client = TestClient(
        Starlette(routes=auth.routes), base_url=PUBLIC_URL, follow_redirects=False, raise_server_exceptions=False
    )
    login = client.get("/auth/login", params={"provider": "local", "next": "/"})
    approved = requests.get(login.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text

    with caplog.at_level(logging.INFO, logger="auth"):
        callback = client.get(path_and_query(approved.headers["location"]))

    assert callback.status_code == 302, callback.text
    assert callback.headers["location"] == "/"
    user = auth.sessions.check(client.cookies.get(auth.settings.cookie_name), activity=False).user
    assert user is not None
    assert (user.sub, user.email, user.name) == ("alice", "alice@example.com", "alice@example.com")
    assert (user.preferred_username, user.picture) == (None, None)
    assert (user.roles, user.groups) == (("admin",), ("staff",))
    lines = [record.getMessage() for record in caplog.records]
    dropped = [line for line in lines if line.startswith("event=claims_dropped ")]
    assert dropped == [
        "event=claims_dropped provider=local sub=alice claims=groups,name,picture,preferred_username,roles"
    ]
    assert not any(word in line for line in lines for word in ("root", "hidden", "\\udc80", BROKEN))


def test_a_refresh_that_brings_claims_that_are_not_text_keeps_the_session(
    idp: LocalProvider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(time.time())  # the real time, moved forward by hand (the provider's tokens follow it)
    auth = Auth(build_auth({"local": idp}).settings, clock=clock, store=SqliteStore(tmp_path / "sessions.db"))
    client = client_for(auth)
    login = client.get("/auth/login", params={"provider": "local", "next": "/"})
    approved = requests.get(login.headers["location"] + "&login_hint=carol", allow_redirects=False, timeout=10)
    assert client.get(path_and_query(approved.headers["location"])).status_code == 302
    value = client.cookies.get(auth.settings.cookie_name)
    idp.users["carol"].claims["roles"] = ["viewer", f"admin{BROKEN}"]
    clock.now += NEAR_EXPIRY
    idp.date_offset_seconds = clock.now - time.time()

    with caplog.at_level(logging.INFO, logger="auth"):
        auth.tokens.get(value)

    assert [request["outcome"] for request in idp.refresh_requests] == ["issued"]
    user = auth.sessions.check(value, activity=False).user
    assert user is not None and user.roles == ("viewer",)
    lines = [record.getMessage() for record in caplog.records]
    assert [line for line in lines if line.startswith("event=claims_dropped ")] == [
        "event=claims_dropped provider=local sub=carol claims=roles"
    ]
