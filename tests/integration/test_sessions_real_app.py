"""Server-side sessions in the real app (``streamlit run app.py``): SQLite by default, Redis,
back-channel logout from a real provider, and what a store outage looks like from outside."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import requests

from auth.stores.base import SessionRecord
from devprovider import LocalProvider
from tests.integration.conftest import COOKIE_NAME, Stack, local_env
from tests.support.app_process import AppProcess, wait_until
from tests.support.cookies import app_session_cookie, app_sqlite_store
from tests.support.http_flow import callback_from_local, sign_out, start_login
from tests.support.redis_server import RedisServer


def session_id(cookie_secret: str, value: str | None, app_url: str) -> str:
    user = app_session_cookie(cookie_secret, public_url=app_url, cookie_name=COOKIE_NAME).verify(value)
    assert user is not None and user.session_id is not None
    return user.session_id


def signed_in(stack: Stack, browser: requests.Session) -> str:
    response = browser.get(callback_from_local(browser, stack.app.url), allow_redirects=False)
    assert response.status_code == 302, response.text
    return session_id(stack.cookie_secret, browser.cookies.get(COOKIE_NAME), stack.app.url)


def record(stack: Stack, sid: str) -> SessionRecord:
    store = app_sqlite_store(stack.app.store_path, public_url=stack.app.url, cookie_name=COOKIE_NAME)
    try:
        found = store.get(sid)
    finally:
        store.close()
    assert found is not None
    return found


def test_sign_in_writes_a_record_with_sealed_tokens_and_logout_ends_it(stack: Stack, browser: requests.Session) -> None:
    sid = signed_in(stack, browser)
    live = record(stack, sid)
    assert live.ended_at is None and live.provider == "local" and live.sub == "alice"
    assert live.provider_sid  # the local provider's sid, for back-channel logout
    assert live.claims["roles"] == ["admin"]
    assert live.tokens is not None and b"eyJ" not in live.tokens  # encrypted, not a raw JWT

    assert sign_out(browser, stack.app.url).status_code == 303
    ended = record(stack, sid)
    assert ended.end_reason == "logout" and ended.tokens is None


def test_backchannel_logout_from_the_provider_ends_the_session(
    stack: Stack, browser: requests.Session, local_provider: LocalProvider
) -> None:
    local_provider.backchannel_logout_uri = f"{stack.app.url}/auth/backchannel-logout"
    sid = signed_in(stack, browser)
    assert local_provider.end_provider_sessions("alice")
    assert [d["status"] for d in local_provider.backchannel_deliveries] == [200]
    assert record(stack, sid).end_reason == "backchannel"
    assert "event=session_ended reason=backchannel provider=local sub=alice sessions=1" in stack.app.output()


def test_locked_sqlite_store_answers_503_and_recovers(stack: Stack, browser: requests.Session) -> None:
    signed_in(stack, browser)  # makes sure the file and schema exist
    lock = sqlite3.connect(stack.app.store_path, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # holds the write lock, as a stuck writer would
        # The last successful ping stands for PING_REUSE_SECONDS; then the store is asked again.
        wait_until(lambda: start_login(browser, stack.app.url, "local").status_code == 503, 10, "a 503")
        response = start_login(browser, stack.app.url, "local")
        assert response.status_code == 503
        assert "Sign-in is temporarily unavailable" in response.text
        assert response.headers["Retry-After"] == "30"
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    output = stack.app.output()
    assert "event=session_store_unavailable operation=ping backend=" in output
    assert "database is locked by another connection (waited 200 ms)" in output
    assert "Traceback" not in output
    assert start_login(browser, stack.app.url, "local").status_code == 302


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_redis_outage_answers_503_then_recovers(
    redis_server: RedisServer, local_provider: LocalProvider, browser: requests.Session
) -> None:
    import secrets

    cookie_secret = secrets.token_urlsafe(32)
    app = AppProcess({})
    app.env = {
        "AUTH_PROVIDERS": "local",
        **local_env(local_provider),
        "AUTH_COOKIE_SECRET": cookie_secret,
        "AUTH_COOKIE_NAME": COOKIE_NAME,
        "AUTH_PUBLIC_URL": f"http://localhost:{app.port}",
        "AUTH_STORE": redis_server.url,
    }
    with app:
        callback = callback_from_local(browser, app.url)
        assert browser.get(callback, allow_redirects=False).status_code == 302
        sid = session_id(cookie_secret, browser.cookies.get(COOKIE_NAME), app.url)
        with redis_server.client() as client:
            assert client.exists(*[key for key in client.keys("*") if sid.encode() in key]) >= 1

        redis_server.stop()
        try:
            wait_until(lambda: start_login(browser, app.url, "local").status_code == 503, 10, "a 503")
            login = start_login(browser, app.url, "local")
            assert login.status_code == 503 and "Sign-in is temporarily unavailable" in login.text
            logout = sign_out(browser, app.url)
            assert logout.status_code == 503 and "you are still signed in" in logout.text
            assert "event=session_store_unavailable" in app.output()
            assert "Traceback" not in app.output()
        finally:
            with RedisServer(port=redis_server.port):
                wait_until(
                    lambda: start_login(browser, app.url, "local").status_code == 302, 10, "sign-in to work again"
                )
