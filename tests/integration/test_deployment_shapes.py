"""The app behind a base path and an https public URL; a provider that is down or lies."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import requests

from auth.throttle import FAILED_FETCH_MEMORY
from devprovider import LocalProvider, ProviderUser
from tests.support.app_process import AppProcess, free_port, wait_until
from tests.support.cookies import app_session_cookie
from tests.support.http_flow import callback_from_local, same_origin_callback, start_login

CLIENT_ID = "shapes-app"
CLIENT_SECRET = "shapes-secret"


def behind_the_proxy(browser: requests.Session, url: str, app: AppProcess) -> requests.Response:
    """Request the https ``url`` from the app directly, as the TLS-terminating proxy would.

    The cookies are Secure (the public URL is https), so a client speaking plain http
    to the app keeps them back; the proxy would forward them, and so does this.
    """
    cookie_header = "; ".join(f"{cookie.name}={cookie.value}" for cookie in browser.cookies)
    return requests.get(
        same_origin_callback(url, app.url), headers={"Cookie": cookie_header}, allow_redirects=False, timeout=10
    )


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    users = [ProviderUser(sub="alice", claims={"email": "alice@example.com", "email_verified": True})]
    with LocalProvider(users=users, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture(scope="module")
def flaky() -> Iterator[LocalProvider]:
    """A second provider whose discovery misbehaves (the app only caches good documents)."""
    users = [ProviderUser(sub="carol", claims={"email": "carol@example.com"})]
    with LocalProvider(users=users, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as provider:
        yield provider


@pytest.fixture(scope="module")
def based_app(provider: LocalProvider, flaky: LocalProvider) -> Iterator[tuple[AppProcess, str]]:
    """Served under /tools/data, publicly at https:// (TLS terminated by a proxy)."""
    cookie_secret = secrets.token_urlsafe(32)
    port = free_port()
    env = {
        "AUTH_PROVIDERS": "local,down,flaky",
        "AUTH_FLAKY_ISSUER": flaky.issuer,
        "AUTH_FLAKY_CLIENT_ID": CLIENT_ID,
        "AUTH_FLAKY_CLIENT_SECRET": CLIENT_SECRET,
        "AUTH_LOCAL_ISSUER": provider.issuer,
        "AUTH_LOCAL_CLIENT_ID": CLIENT_ID,
        "AUTH_LOCAL_CLIENT_SECRET": CLIENT_SECRET,
        "AUTH_DOWN_ISSUER": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "AUTH_DOWN_CLIENT_ID": "x",
        "AUTH_DOWN_CLIENT_SECRET": "y",
        "AUTH_COOKIE_SECRET": cookie_secret,
        "AUTH_PUBLIC_URL": f"https://localhost:{port}/tools/data",
        "AUTH_SESSION_TIMEOUT": "8h",
    }
    with AppProcess(env, port=port, base_path="/tools/data") as app:
        yield app, cookie_secret


@pytest.fixture(autouse=True)
def _reset(provider: LocalProvider) -> Iterator[None]:
    yield
    provider.reset()


def test_routes_and_cookies_follow_the_base_path(based_app: tuple[AppProcess, str]) -> None:
    app, cookie_secret = based_app
    with requests.Session() as browser:
        callback = callback_from_local(browser, app.url, next_path="/tools/data/profile")
        assert callback.startswith(f"https://localhost:{app.port}/tools/data/auth/callback/local?")
        response = behind_the_proxy(browser, callback, app)

    assert response.status_code == 302, response.text
    assert response.headers["location"] == "/tools/data/profile"
    header = next(h for h in response.raw.headers.getlist("set-cookie") if h.startswith("streamlit_auth="))
    assert "Path=/tools/data" in header
    assert "Secure" in header  # AUTH_PUBLIC_URL is https
    assert "Max-Age=28800" in header
    value = header.split(";")[0].split("=", 1)[1]
    reader = app_session_cookie(cookie_secret, public_url=f"https://localhost:{app.port}", base_path="/tools/data")
    user = reader.verify(value)
    assert user is not None and user.sub == "alice"


def test_next_outside_the_base_path_falls_back_to_the_app_root(based_app: tuple[AppProcess, str]) -> None:
    app, _ = based_app
    with requests.Session() as browser:
        callback = callback_from_local(browser, app.url, next_path="/other-app/")
        response = behind_the_proxy(browser, callback, app)
    assert response.headers["location"] == "/tools/data/"


def test_routes_are_not_served_outside_the_base_path(based_app: tuple[AppProcess, str]) -> None:
    app, _ = based_app
    response = requests.get(f"http://127.0.0.1:{app.port}/auth/login?provider=local", allow_redirects=False, timeout=10)
    assert response.status_code == 404


def test_provider_down_gives_502_page_with_retry(based_app: tuple[AppProcess, str]) -> None:
    app, _ = based_app
    with requests.Session() as browser:
        response = start_login(browser, app.url, "down", "/tools/data/")

    assert response.status_code == 502
    assert "not responding correctly" in response.text
    assert "/tools/data/auth/login?provider=down" in response.text
    assert "reason=provider_unavailable provider=down" in app.output()


def test_discovery_issuer_mismatch_and_5xx_are_reported_then_recover(
    based_app: tuple[AppProcess, str], flaky: LocalProvider
) -> None:
    """Each failure is remembered for ``FAILED_FETCH_MEMORY`` seconds (sign-ins meanwhile fail
    at once, without asking the provider), so the steps below poll until the app asks again."""
    app, _ = based_app
    asked = flaky.discovery_hits
    answers: list[requests.Response] = []

    def attempt(browser: requests.Session, status: int) -> bool:
        answers.append(start_login(browser, app.url, "flaky", "/tools/data/"))
        return answers[-1].status_code == status and flaky.discovery_hits > asked

    flaky.discovery_issuer = "https://impostor.example"
    with requests.Session() as browser:
        mismatch = start_login(browser, app.url, "flaky", "/tools/data/")
        asked = flaky.discovery_hits
        flaky.discovery_issuer = None
        flaky.discovery_fault = "500"
        remembered = start_login(browser, app.url, "flaky", "/tools/data/")
        wait_until(lambda: attempt(browser, 502), 30, "the discovery document asked for again", interval=0.5)
        server_error = answers[-1]
        asked = flaky.discovery_hits
        flaky.discovery_fault = None
        wait_until(lambda: attempt(browser, 302), 30, "sign-in to work again", interval=0.5)
        recovered = answers[-1]

    assert mismatch.status_code == 502
    assert "not set up the way this app expects" in mismatch.text
    assert "reason=provider_misconfigured provider=flaky" in app.output()
    assert "does not equal the configured issuer" in app.output()
    assert remembered.status_code == 502 and "not set up the way this app expects" in remembered.text
    assert f"(failed within the last {FAILED_FETCH_MEMORY:g} s; not asked again yet)" in app.output()
    assert server_error.status_code == 502
    assert "discovery document answered HTTP 500" in app.output()
    assert recovered.status_code == 302
    assert recovered.headers["location"].startswith(flaky.authorization_endpoint)
    assert "Traceback" not in app.output()


def test_login_transaction_cookie_is_secure_and_scoped_to_the_auth_routes(based_app: tuple[AppProcess, str]) -> None:
    app, _ = based_app
    with requests.Session() as browser:
        response = start_login(browser, app.url, "local", "/tools/data/")
    header = next(h for h in response.raw.headers.getlist("set-cookie") if h.startswith("streamlit_auth_tx_"))
    assert "Secure" in header and "HttpOnly" in header
    assert "Path=/tools/data/auth;" in header
