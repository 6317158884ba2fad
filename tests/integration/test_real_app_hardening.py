"""The real app (``streamlit run app.py``) with a stalled provider and without AUTH_PUBLIC_URL."""

from __future__ import annotations

import itertools
import re
import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from devprovider import LocalProvider
from tests.support.app_process import AppProcess, wait_until
from tests.support.http_flow import query

STALLED_CALLBACKS = 60


def app_env(provider: LocalProvider, **extra: str) -> dict[str, str]:
    return {
        "AUTH_PROVIDERS": "local",
        "AUTH_LOCAL_ISSUER": provider.issuer,
        "AUTH_LOCAL_CLIENT_ID": provider.client_id,
        "AUTH_LOCAL_CLIENT_SECRET": provider.client_secret,
        "AUTH_COOKIE_SECRET": secrets.token_urlsafe(32),
        "AUTH_RATE_LIMIT": "off",
        **extra,
    }


def test_pages_and_static_files_are_served_while_the_provider_stalls(provider: LocalProvider) -> None:
    """60 callbacks wait on a stalled token endpoint; the app's own page and a static file
    must still be answered before any stalled callback returns (they used to queue behind
    them in the thread pool Streamlit shares)."""
    app = AppProcess({})
    app.env = app_env(provider, AUTH_PUBLIC_URL=f"http://localhost:{app.port}", AUTH_HTTP_TIMEOUT="4s")
    with app:
        index = requests.get(f"http://127.0.0.1:{app.port}/", timeout=10)
        asset = re.search(r'(?:src|href)="\.?(/?static/[^"]+)"', index.text)
        assert asset is not None, "no static asset in the app's page"
        asset_url = f"http://127.0.0.1:{app.port}/{asset.group(1).lstrip('/')}"
        callbacks = []
        for _ in range(STALLED_CALLBACKS):
            with requests.Session() as browser:
                start = browser.get(
                    f"{app.url}/auth/login", params={"provider": "local"}, allow_redirects=False, timeout=10
                )
                back = browser.get(start.headers["location"] + "&login_hint=alice", allow_redirects=False, timeout=10)
                callbacks.append((back.headers["location"], dict(browser.cookies)))
        provider.token_fault, provider.slow_seconds = "slow", 8.0
        order = itertools.count()
        finished: list[tuple[int, int]] = []
        lock = threading.Lock()

        def complete(callback: tuple[str, dict[str, str]]) -> None:
            url, cookies = callback
            response = requests.get(
                url.replace("localhost", "127.0.0.1"),
                cookies=cookies,
                headers={"Host": f"localhost:{app.port}"},
                allow_redirects=False,
                timeout=30,
            )
            with lock:
                finished.append((next(order), response.status_code))

        try:
            with ThreadPoolExecutor(max_workers=STALLED_CALLBACKS) as pool:
                futures = [pool.submit(complete, callback) for callback in callbacks]
                wait_until(lambda: len(provider.token_requests) >= 16, 20, "16 stalled token requests")
                page = requests.get(f"http://127.0.0.1:{app.port}/", timeout=10)
                with lock:
                    page_done = next(order)
                static = requests.get(asset_url, timeout=10)
                health = requests.get(f"http://127.0.0.1:{app.port}/_stcore/health", timeout=10)
                with lock:
                    static_done = next(order)
                for future in futures:
                    future.result()
        finally:
            provider.reset()
        assert "Traceback" not in app.output()

    assert page.status_code == static.status_code == health.status_code == 200
    stalled = [index for index, status in finished if status == 504]
    assert stalled, f"expected timed-out callbacks, got {sorted(s for _, s in finished)}"
    assert page_done < min(stalled) and static_done < min(stalled)
    # 16 run and time out (504); the rest wait at most one HTTP timeout for a slot and are then
    # told "busy" (503) or run and time out too: none hangs, none signs in.
    assert {status for _, status in finished} <= {503, 504}


def test_default_public_url_follows_the_port_streamlit_serves_on(provider: LocalProvider) -> None:
    """`streamlit run app.py --server.port P` without AUTH_PUBLIC_URL signs in at port P,
    and the start-up log names the redirect URI to register."""
    with AppProcess(app_env(provider)) as app:
        start = requests.get(f"{app.url}/auth/login", params={"provider": "local"}, allow_redirects=False, timeout=10)
        assert query(start.headers["location"])["redirect_uri"] == f"http://localhost:{app.port}/auth/callback/local"
        assert (
            f'event=public_url_default url=http://localhost:{app.port} detail="AUTH_PUBLIC_URL is not set'
            in app.output()
        )
        assert f"register http://localhost:{app.port}/auth/callback/local" in app.output()


def test_default_public_url_follows_streamlits_move_to_the_next_free_port(provider: LocalProvider) -> None:
    with socket.socket() as blocker:
        try:
            blocker.bind(("127.0.0.1", 8501))
            blocker.listen()
        except OSError:
            pass  # something else holds 8501: Streamlit moves on all the same
        with AppProcess(app_env(provider), pin_port=False) as app:
            assert app.port != 8501
            start = requests.get(
                f"{app.url}/auth/login", params={"provider": "local"}, allow_redirects=False, timeout=10
            )
            assert (
                query(start.headers["location"])["redirect_uri"] == f"http://localhost:{app.port}/auth/callback/local"
            )
            # Named in the start-up warning, or (if the port moved after it) in a later one.
            assert (
                f"register http://localhost:{app.port}/auth/callback/local" in app.output()
                or f"event=public_url_changed url=http://localhost:{app.port}" in app.output()
            )
