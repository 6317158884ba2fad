"""The host the user opened, cookie prefixes, and transaction cookies that do not pile up.
In-process routes, real provider over HTTP."""

from __future__ import annotations

import logging

import pytest
import requests

from auth.transaction import MAX_OPEN_TRANSACTIONS
from devprovider import LocalProvider
from tests.support.inprocess import build_auth, client_for, path_and_query, query, session_cookies


def test_login_on_another_host_first_moves_to_the_public_host(provider: LocalProvider) -> None:
    """Opened at 127.0.0.1 while AUTH_PUBLIC_URL says localhost: the transaction cookie must be
    set on localhost, where the provider will send the browser back."""
    auth = build_auth({"local": provider})
    browser = client_for(auth, base_url="http://127.0.0.1:8501")
    response = browser.get("/auth/login", params={"provider": "local", "next": "/profile?tab=2"})

    assert response.status_code == 302
    assert response.headers["location"] == (
        "http://localhost:8501/auth/login?provider=local&next=%2Fprofile%3Ftab%3D2&canonical=1"
    )
    assert "set-cookie" not in response.headers

    at_public = client_for(auth).get(path_and_query(response.headers["location"]))
    assert at_public.status_code == 302
    assert at_public.headers["location"].startswith(provider.authorization_endpoint)
    assert query(at_public.headers["location"])["redirect_uri"] == "http://localhost:8501/auth/callback/local"


def test_the_whole_sign_in_works_when_started_at_another_host(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider})
    elsewhere, public = client_for(auth, base_url="http://127.0.0.1:8501"), client_for(auth)
    moved = elsewhere.get("/auth/login", params={"provider": "local", "next": "/"})
    start = public.get(path_and_query(moved.headers["location"]))
    back = requests.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    done = public.get(path_and_query(back.headers["location"]))

    assert done.status_code == 302
    assert session_cookies(done.headers.get_list("set-cookie"), auth.settings.cookie_name)


def test_host_rewriting_proxy_cannot_cause_a_redirect_loop(
    provider: LocalProvider, caplog: pytest.LogCaptureFixture
) -> None:
    auth = build_auth({"local": provider})
    browser = client_for(auth, base_url="http://app-internal:8501")
    with caplog.at_level(logging.WARNING, logger="auth"):
        response = browser.get("/auth/login", params={"provider": "local", "canonical": "1"})

    assert response.status_code == 302
    assert response.headers["location"].startswith(provider.authorization_endpoint)
    assert "event=login_host_mismatch host=app-internal:8501 expected=localhost:8501" in caplog.text


def test_default_ports_are_the_same_host(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider}, AUTH_PUBLIC_URL="https://apps.example.com")
    response = client_for(auth, base_url="https://apps.example.com:443").get(
        "/auth/login", params={"provider": "local"}
    )
    assert response.headers["location"].startswith(provider.authorization_endpoint)


def test_expired_link_page_names_the_public_address_when_the_host_differs(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider})
    response = client_for(auth, base_url="http://127.0.0.1:8501").get(
        "/auth/callback/local", params={"code": "c", "state": "s" * 43}
    )
    assert response.status_code == 400
    assert "open http://localhost:8501 and sign in there" in response.text
    same_host = client_for(auth).get("/auth/callback/local", params={"code": "c", "state": "s" * 43})
    assert "open http://localhost:8501" not in same_host.text


def test_https_root_deployment_uses_host_prefixed_cookies(provider: LocalProvider) -> None:
    """__Host- cookies are Secure, host-only and Path=/: a sibling subdomain cannot plant them."""
    auth = build_auth({"local": provider}, AUTH_PUBLIC_URL="https://apps.example.com")
    assert auth.settings.cookie_name == "__Host-streamlit_auth"
    browser = client_for(auth, base_url="https://apps.example.com")
    start = browser.get("/auth/login", params={"provider": "local"})
    (tx_header,) = start.headers.get_list("set-cookie")
    assert tx_header.startswith("__Host-streamlit_auth_tx_")
    assert "Path=/;" in tx_header and "Secure" in tx_header and "Domain" not in tx_header

    back = requests.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    done = browser.get(path_and_query(back.headers["location"]))
    (session_header,) = session_cookies(done.headers.get_list("set-cookie"), "__Host-streamlit_auth")
    assert "Path=/;" in session_header and "Secure" in session_header and "Domain" not in session_header


@pytest.mark.parametrize(
    ("public_url", "cookie"),
    [("http://localhost:8501", "streamlit_auth"), ("https://apps.example.com/app", "streamlit_auth")],
)
def test_no_host_prefix_without_https_at_the_root(provider: LocalProvider, public_url: str, cookie: str) -> None:
    from auth import Auth, load_settings

    env = {
        "AUTH_PROVIDERS": "local",
        "AUTH_LOCAL_ISSUER": provider.issuer,
        "AUTH_LOCAL_CLIENT_ID": "app",
        "AUTH_LOCAL_CLIENT_SECRET": "s",
        "AUTH_COOKIE_SECRET": "x" * 32,
        "AUTH_PUBLIC_URL": public_url,
    }
    settings = load_settings(env, base_path="/app" if public_url.endswith("/app") else "")
    assert Auth(settings).settings.cookie_name == cookie


def test_old_transaction_cookies_are_deleted_so_they_never_pile_up(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider})
    browser = client_for(auth)
    for attempt in range(8):
        browser.get("/auth/login", params={"provider": "local"})
        open_now = [name for name in browser.cookies if name.startswith("streamlit_auth_tx_")]
        assert len(open_now) == min(attempt + 1, MAX_OPEN_TRANSACTIONS)


def test_the_newest_sign_ins_survive_pruning(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider})
    browser = client_for(auth)
    starts = [browser.get("/auth/login", params={"provider": "local"}) for _ in range(5)]
    back = requests.get(starts[-1].headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    assert browser.get(path_and_query(back.headers["location"])).status_code == 302


def test_very_long_non_ascii_next_falls_back_to_the_root_and_sign_in_still_works(provider: LocalProvider) -> None:
    """2,041 CJK characters were an 18 KB percent-encoded path: a cookie the browser drops."""
    auth = build_auth({"local": provider})
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "local", "next": "/" + "中" * 2041})
    (tx_header,) = start.headers.get_list("set-cookie")
    assert len(tx_header) < 4096
    back = requests.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    done = browser.get(path_and_query(back.headers["location"]))
    assert done.status_code == 302 and done.headers["location"] == "/"


def test_non_ascii_next_is_kept_percent_encoded(provider: LocalProvider) -> None:
    auth = build_auth({"local": provider})
    browser = client_for(auth)
    start = browser.get("/auth/login", params={"provider": "local", "next": "/データ?q=é"})
    back = requests.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
    done = browser.get(path_and_query(back.headers["location"]))
    assert done.headers["location"] == "/%E3%83%87%E3%83%BC%E3%82%BF?q=%C3%A9"
