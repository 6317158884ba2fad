"""Logout that really logs out, and back-channel logout: the routes in-process, the provider real.

Every provider call is real HTTP to a ``LocalProvider`` on 127.0.0.1 (end-session,
revocation, JWKS); the app's routes run in Starlette's ``TestClient`` with a memory
store, so a test can look at the session record. The real app (``streamlit run``,
SQLite) is covered in ``test_sessions_real_app.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import requests
from starlette.testclient import TestClient

from auth import Auth
from auth.sessions import PING_REUSE_SECONDS
from devprovider import LocalProvider, ProviderUser
from tests.support.flaky_store import FlakyStore
from tests.support.http_flow import SIGN_OUT_BUTTON
from tests.support.inprocess import PUBLIC_URL, build_auth, client_for, path_and_query, query, sign_out

COOKIE = "streamlit_auth"
BACKCHANNEL = "/auth/backchannel-logout"


@pytest.fixture(scope="module")
def _idp() -> Iterator[LocalProvider]:
    users = [ProviderUser(sub="alice", claims={"email": "a@example.com"}), ProviderUser(sub="bob", claims={})]
    with LocalProvider(users=users, post_logout_redirect_uris=[f"{PUBLIC_URL}/"]) as provider:
        yield provider


@pytest.fixture
def idp(_idp: LocalProvider) -> Iterator[LocalProvider]:
    yield _idp
    _idp.reset()


def down_store() -> FlakyStore:
    """A store that fails as Redis going away would, while ``down`` is set."""
    return FlakyStore(backend="redis 127.0.0.1:6379/0", failure="connection refused")


def sign_in(client: TestClient, user: str = "alice") -> str:
    """The whole code flow; the session cookie's value (the client keeps it too)."""
    login = client.get("/auth/login", params={"provider": "local", "next": "/"})
    assert login.status_code == 302, login.text
    approved = requests.get(login.headers["location"] + f"&login_hint={user}", allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    callback = client.get(path_and_query(approved.headers["location"]))
    assert callback.status_code == 302, callback.text
    value = client.cookies.get(COOKIE)
    assert value
    return value


def live(auth: Auth, value: str) -> bool:
    return auth.sessions.check(value, activity=False).user is not None


@pytest.fixture
def auth(idp: LocalProvider) -> Auth:
    return build_auth({"local": idp})


@pytest.fixture
def client(auth: Auth) -> TestClient:
    return client_for(auth)


def test_logout_ends_the_session_then_signs_out_at_the_provider_and_comes_back(
    auth: Auth, client: TestClient, idp: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    value = sign_in(client)
    with caplog.at_level(logging.INFO, logger="auth"):
        response = sign_out(client)
    assert response.status_code == 303
    assert not live(auth, value)
    assert auth.sessions.check(value).ended == "logout"
    assert f"{COOKIE}=" in response.headers["set-cookie"] and "Max-Age=0" in response.headers["set-cookie"]
    location = response.headers["location"]
    assert location.startswith(idp.end_session_endpoint + "?")
    params = query(location)
    assert params["client_id"] == idp.client_id
    assert params["post_logout_redirect_uri"] == f"{PUBLIC_URL}/"
    assert params["id_token_hint"].count(".") == 2
    assert auth.sessions.confirms_sign_out(params["state"])
    lines = [r.getMessage() for r in caplog.records]
    assert any("event=session_ended reason=logout provider=local sub=alice sessions=1" in line for line in lines)
    assert not any(params["id_token_hint"] in line for line in lines)

    # The real provider accepts the hint and sends the browser back to the app's root with the state.
    back = requests.get(location, allow_redirects=False, timeout=10)
    assert back.status_code in (302, 303), back.text
    assert back.headers["location"].startswith(f"{PUBLIC_URL}/?")
    assert query(back.headers["location"])["state"] == params["state"]
    assert idp.end_session_requests[-1]["id_token_hint"] == params["id_token_hint"]


def test_a_same_origin_post_without_fetch_metadata_signs_out(auth: Auth, client: TestClient) -> None:
    """A browser that sends no Fetch Metadata still sends ``Origin`` with a form POST."""
    value = sign_in(client)
    response = client.post("/auth/logout", headers={"Origin": PUBLIC_URL})
    assert response.status_code == 303
    assert not live(auth, value)


def test_local_logout_mode_stays_in_the_app(idp: LocalProvider) -> None:
    auth = build_auth({"local": idp}, AUTH_LOCAL_LOGOUT="local")
    client = client_for(auth)
    value = sign_in(client)
    response = sign_out(client)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/?state=")
    assert auth.sessions.confirms_sign_out(query(response.headers["location"])["state"])
    assert not live(auth, value)
    assert idp.end_session_requests == [] and idp.revocation_requests == []


def test_provider_without_end_session_gets_its_tokens_revoked(idp: LocalProvider, auth: Auth) -> None:
    idp.advertise = {"end_session_endpoint": None}
    client = client_for(auth)
    sign_in(client)
    response = sign_out(client)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/?state=")
    kinds = [(r["token_type_hint"], r["kind"], r["known"]) for r in idp.revocation_requests]
    assert kinds == [("refresh_token", "refresh_token", True), ("access_token", "access_token", True)]


def test_logout_without_a_session_still_lands_on_the_signed_out_page(client: TestClient, idp: LocalProvider) -> None:
    response = sign_out(client)
    assert response.status_code == 303 and response.headers["location"].startswith("/?state=")
    assert idp.end_session_requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_logout_from_another_site_asks_first(auth: Auth, client: TestClient, headers: dict[str, str]) -> None:
    value = sign_in(client)
    for method in (client.get, client.post):
        response = method("/auth/logout", headers=headers)
        assert response.status_code == 200
        assert "Another site asked to sign you out" in response.text
        assert '<form method="post" action="/auth/logout"' in response.text
        assert "set-cookie" not in response.headers
        assert live(auth, value)
    # The page's own button posts from the app's origin: that signs out.
    confirmed = client.post("/auth/logout", headers={"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"})
    assert confirmed.status_code == 303 and not live(auth, value)


@pytest.mark.parametrize(
    ("what", "headers"),
    [
        # ![](/auth/logout?everywhere=1) in markdown the app renders (user content, LLM output)
        (
            "an image of the page",
            {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"},
        ),
        ("a same-origin fetch", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}),
        ("a frame", {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}),
        (
            "a navigation nobody clicked",
            {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
        ),
        (
            "a typed address",
            {
                "Sec-Fetch-Site": "none",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "document",
                "Sec-Fetch-User": "?1",
            },
        ),
        ("a browser without Fetch Metadata", {}),
    ],
)
def test_a_get_that_is_not_the_users_own_click_asks_first(
    auth: Auth, client: TestClient, what: str, headers: dict[str, str]
) -> None:
    value = sign_in(client)
    for everywhere in (False, True):
        response = client.get("/auth/logout", params={"everywhere": "1"} if everywhere else None, headers=headers)
        assert response.status_code == 200, what
        assert "<h1>Sign out?</h1>" in response.text and "Another site" not in response.text
        action = "/auth/logout?everywhere=1" if everywhere else "/auth/logout"
        assert f'<form method="post" action="{action}"' in response.text
        assert "set-cookie" not in response.headers
        assert live(auth, value), what


def test_head_never_signs_out(auth: Auth, client: TestClient) -> None:
    """Starlette serves HEAD on a GET route; a HEAD must stay safe even with a click's headers."""
    value = sign_in(client)
    response = client.head("/auth/logout", headers=SIGN_OUT_BUTTON)
    assert response.status_code == 200 and "set-cookie" not in response.headers
    assert live(auth, value)


def test_a_click_on_a_link_of_the_app_signs_out(auth: Auth, client: TestClient) -> None:
    """``auth.logout_url`` as a link in an app's page: a same-origin, user-activated navigation."""
    value = sign_in(client)
    response = client.get("/auth/logout", headers=SIGN_OUT_BUTTON)
    assert response.status_code == 303 and not live(auth, value)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "none"},
        {"Origin": "http://localhost:8502"},
        # the app's host and port, but not its origin as a browser writes it: a plain-http page
        # of an https app, a path, upper case
        {"Origin": "https://localhost:8501"},
        {"Origin": "http://localhost:8501/"},
        {"Origin": "HTTP://LOCALHOST:8501"},
    ],
)
def test_a_post_must_come_from_the_apps_own_origin(auth: Auth, client: TestClient, headers: dict[str, str]) -> None:
    value = sign_in(client)
    response = client.post("/auth/logout", headers=headers)
    assert response.status_code == 200 and "<h1>Sign out?</h1>" in response.text
    assert live(auth, value)


def test_an_ended_sessions_cookie_cannot_sign_out_everywhere(
    auth: Auth, idp: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """A copy of a cookie whose session has since ended (here: logged out) must not end the
    user's sessions on other devices; it only loses its cookie in the browser that sent it."""
    laptop, phone = client_for(auth), client_for(auth)
    copy = sign_in(laptop)
    phone_value = sign_in(phone)
    assert sign_out(laptop).status_code == 303
    attacker = client_for(auth, address="203.0.113.9")
    attacker.cookies.set(COOKIE, copy)
    with caplog.at_level(logging.INFO, logger="auth"):
        response = sign_out(attacker, everywhere=True)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/?state=")  # not to the provider: nothing ended
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert live(auth, phone_value)
    assert any("event=logout_ignored" in r.getMessage() for r in caplog.records)
    assert not any("logout_everywhere" in r.getMessage() for r in caplog.records)


def test_sign_out_everywhere_ends_every_session_of_that_user_only(auth: Auth, idp: LocalProvider) -> None:
    first, second, bob = client_for(auth), client_for(auth), client_for(auth)
    values = [sign_in(first), sign_in(second)]
    bob_value = sign_in(bob, "bob")
    response = sign_out(first, everywhere=True)
    assert response.status_code == 303
    assert [auth.sessions.check(v).ended for v in values] == ["logout_everywhere", "logout_everywhere"]
    assert live(auth, bob_value)


def test_store_outage_gives_readable_503_pages_and_one_log_line_each(
    idp: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    store = down_store()
    auth = Auth(build_auth({"local": idp}).settings, store=store)
    client = client_for(auth)
    value = sign_in(client)
    login = client.get("/auth/login", params={"provider": "local", "next": "/"})
    approved = requests.get(login.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    store.down = True
    auth.sessions._answered_at = -PING_REUSE_SECONDS  # the sign-in's successful ping is no longer recent
    with caplog.at_level(logging.INFO, logger="auth"):
        for response in (
            client.get("/auth/login", params={"provider": "local", "next": "/"}),
            client.get(path_and_query(approved.headers["location"])),
        ):
            assert response.status_code == 503
            assert "Sign-in is temporarily unavailable" in response.text
            assert response.headers["retry-after"] == "30"
            assert "Traceback" not in response.text
        logout = sign_out(client)
        assert logout.status_code == 503
        assert "Sign-out did not complete" in logout.text and "still signed in" in logout.text
        assert "set-cookie" not in logout.headers  # the cookie stays, so "Try again" can still end it
    faults = [r.getMessage() for r in caplog.records if "session_store_unavailable" in r.getMessage()]
    assert len(faults) == 1  # the same fault repeated is counted, not logged three times
    assert "connection refused" in faults[0]
    store.down = False
    assert live(auth, value)
    assert sign_out(client).status_code == 303
    assert not live(auth, value)


# -- back-channel logout -------------------------------------------------------------


def post_token(client: TestClient, token: str) -> requests.Response:
    return client.post(BACKCHANNEL, data={"logout_token": token})  # type: ignore[return-value]


def session_sid(auth: Auth, value: str) -> str:
    user = auth.sessions.check(value, activity=False).user
    assert user is not None and user.sid is not None
    return user.sid


def test_backchannel_logout_by_sid_ends_that_session_and_refuses_a_replay(
    auth: Auth, client: TestClient, idp: LocalProvider
) -> None:
    value = sign_in(client)
    other = sign_in(client_for(auth))
    token = idp.logout_token(sub="alice", sid=session_sid(auth, value))
    response = post_token(client_for(auth), token)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    assert auth.sessions.check(value).ended == "backchannel"
    assert live(auth, other)
    replay = post_token(client_for(auth), token)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_request" and "already used" in replay.json()["error_description"]


def test_backchannel_logout_by_sub_ends_every_session_of_the_user(
    auth: Auth, client: TestClient, idp: LocalProvider
) -> None:
    values = [sign_in(client), sign_in(client_for(auth))]
    assert post_token(client, idp.logout_token(sub="alice")).status_code == 200
    assert [auth.sessions.check(v).ended for v in values] == ["backchannel", "backchannel"]


@pytest.mark.parametrize(
    ("claims", "header"),
    [
        ({"nonce": "n"}, None),
        ({"events": {"http://schemas.openid.net/event/other": {}}}, None),
        ({"aud": "someone-else"}, None),
        ({"iss": "https://other.example"}, None),
        ({"jti": None}, None),
        ({"iat": 1_000_000}, None),
        (None, {"alg": "none"}),
        (None, {"typ": "at+jwt"}),
    ],
)
def test_invalid_logout_tokens_are_400_json_and_end_nothing(
    auth: Auth, client: TestClient, idp: LocalProvider, claims: dict[str, object] | None, header: dict[str, str] | None
) -> None:
    value = sign_in(client)
    token = idp.logout_token(sub="alice", claims_override=claims, header_override=header)
    response = post_token(client, token)
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "invalid_request"
    assert live(auth, value)


def test_logout_token_signed_by_another_key_is_refused(auth: Auth, client: TestClient, idp: LocalProvider) -> None:
    from devprovider import generate_signing_key

    value = sign_in(client)
    response = post_token(client, idp.logout_token(sub="alice", key=generate_signing_key("stranger")))
    assert response.status_code == 400 and live(auth, value)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"logout_token=",
        b"logout_token=a&logout_token=b",
        b"other=1",
        b"logout_token=" + b"x" * 70_000,
        b"\xff\xfe",
    ],
)
def test_malformed_backchannel_requests_are_400_never_5xx(client: TestClient, body: bytes) -> None:
    response = client.post(BACKCHANNEL, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert json.loads(response.text)["error"] == "invalid_request"


def test_backchannel_logout_while_the_store_is_down_is_400_and_can_be_retried(idp: LocalProvider) -> None:
    store = down_store()
    auth = Auth(build_auth({"local": idp}).settings, store=store)
    client = client_for(auth)
    value = sign_in(client)
    token = idp.logout_token(sub="alice")
    store.down = True
    response = post_token(client, token)
    assert response.status_code == 400 and response.json()["error"] == "temporarily_unavailable"
    store.down = False
    assert post_token(client, token).status_code == 200  # the jti was not spent by the failed attempt
    assert not live(auth, value)


def test_backchannel_route_accepts_only_post(client: TestClient) -> None:
    assert client.get(BACKCHANNEL).status_code == 405


def test_made_up_key_ids_cost_the_provider_at_most_one_key_fetch(
    auth: Auth, client: TestClient, idp: LocalProvider
) -> None:
    """Anyone can POST a logout token; a new ``kid`` each time must not become a JWKS request each."""
    from devprovider import generate_signing_key

    sign_in(client)  # the app has the provider's keys now
    hits = idp.jwks_hits
    for index in range(5):
        token = idp.logout_token(sub="alice", key=generate_signing_key(f"made-up-{index}"))
        assert post_token(client, token).status_code == 400
    assert idp.jwks_hits - hits <= 1


def test_backchannel_logout_without_a_store_says_it_cannot(idp: LocalProvider) -> None:
    auth = build_auth({"local": idp}, AUTH_STORE="none")
    client = client_for(auth)
    sign_in(client)
    response = post_token(client, idp.logout_token(sub="alice"))
    assert response.status_code == 400
    assert "needs a session store" in response.json()["error_description"]


def test_a_store_failure_after_the_jti_was_claimed_does_not_spend_it(idp: LocalProvider) -> None:
    store = down_store()
    auth = Auth(build_auth({"local": idp}).settings, store=store)
    client = client_for(auth)
    value = sign_in(client)
    token = idp.logout_token(sub="alice", sid=session_sid(auth, value))
    store.failing = {"end_by_provider_sid": "connection reset"}  # after the jti was claimed
    assert post_token(client, token).json()["error"] == "temporarily_unavailable"
    store.failing = {}
    assert post_token(client, token).status_code == 200
    assert auth.sessions.check(value).ended == "backchannel"


def test_a_recent_successful_ping_stands_for_a_burst_of_sign_ins(idp: LocalProvider) -> None:
    """A SQLite ping takes the write lock: fifty sign-ins at once must not queue on it."""
    store = down_store()
    client = client_for(Auth(build_auth({"local": idp}).settings, store=store))
    for _ in range(10):
        assert client.get("/auth/login", params={"provider": "local", "next": "/"}).status_code == 302
    assert store.calls["ping"] == 1
